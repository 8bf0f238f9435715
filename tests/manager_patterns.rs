//! The seed document's examples, translated, against real private servers: basic operations,
//! numbers, hashes, JSON, caching (`get_or_set_json`), sessions (`SessionManager`), error
//! handling and the best-practice helpers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis_manager::{Config, ConfigBuilder, RedisManager, SessionManager, SetOptions, cmd};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::RedisServer;

fn config(server: &RedisServer) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .response_timeout(Some(Duration::from_secs(2)))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(200))
}

async fn ready(server: &RedisServer) -> RedisManager {
    let m = RedisManager::new(config(server));
    assert!(m.initialize().await);
    m
}

fn disabled() -> RedisManager {
    RedisManager::new(Config::builder().enabled(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_basic_operation_examples() {
    let server = RedisServer::start();
    let redis = ready(&server).await;

    // get: `value = await redis_manager.get("user:123:name")`
    assert_eq!(redis.get("user:123:name").await, None);
    assert!(redis.set("user:123:name", "John Doe").await);
    assert_eq!(
        redis.get("user:123:name").await.as_deref(),
        Some("John Doe")
    );

    // set, with expiry and conditions.
    assert!(redis.set("session:abc123", "user_data").await);
    assert!(
        redis
            .set_with("temp:token", "xyz789", SetOptions::default().ex(3600))
            .await
    );
    assert!((3590..=3600).contains(&redis.ttl("temp:token").await));
    let nx = SetOptions::default().nx();
    assert!(redis.set_with("unique:id", "123", nx).await);
    assert!(!redis.set_with("unique:id", "456", nx).await);
    let xx = SetOptions::default().xx();
    assert!(!redis.set_with("existing:key", "new_value", xx).await);
    assert!(redis.set("existing:key", "old_value").await);
    assert!(redis.set_with("existing:key", "new_value", xx).await);
    assert_eq!(
        redis.get("existing:key").await.as_deref(),
        Some("new_value")
    );

    // delete: one, then several ("Deleted 3 keys").
    assert!(redis.set("temp:data", "x").await);
    assert_eq!(redis.delete("temp:data").await, 1);
    for k in ["key1", "key2", "key3"] {
        assert!(redis.set(k, "v").await);
    }
    assert_eq!(redis.delete(["key1", "key2", "key3"]).await, 3);

    // exists, then get.
    assert!(redis.set("user:123", "data").await);
    if redis.exists("user:123").await {
        assert_eq!(redis.get("user:123").await.as_deref(), Some("data"));
    } else {
        panic!("user:123 exists");
    }

    // expire, and the three ttl branches.
    assert!(redis.expire("session:abc123", 300).await);
    let ttl = redis.ttl("session:abc123").await;
    assert!(ttl > 0 && ttl <= 300, "Session expires in {ttl} seconds");
    assert_eq!(redis.ttl("user:123").await, -1, "Session never expires");
    assert_eq!(
        redis.ttl("no:such:session").await,
        -2,
        "Session doesn't exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_numeric_and_hash_examples() {
    let server = RedisServer::start();
    let redis = ready(&server).await;

    assert_eq!(redis.incr("page:views", 1).await, Some(1));
    assert_eq!(redis.incr("api:calls", 5).await, Some(5));
    // The seed's counter-based rate limit: the 101st request is over the limit.
    let mut over = false;
    for _ in 0..101 {
        let current = redis.incr("rate_limit:user:123", 1).await.unwrap();
        over = current > 100;
    }
    assert!(over);

    assert_eq!(redis.hset("user:123", "name", "John Doe").await, 1);
    let added = redis
        .hset_mapping(
            "user:123",
            [
                ("email", "john@example.com"),
                ("age", "30"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(added, 3);
    assert_eq!(
        redis.hget("user:123", "name").await.as_deref(),
        Some("John Doe")
    );
    assert_eq!(
        redis.hget("user:123", "email").await.as_deref(),
        Some("john@example.com")
    );
    assert_eq!(redis.hget("user:123", "age").await.as_deref(), Some("30"));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Preferences {
    theme: String,
    notifications: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserProfile {
    id: u64,
    name: String,
    preferences: Preferences,
    tags: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_json_examples_untyped_and_typed() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let user_data = json!({
        "id": 123,
        "name": "John Doe",
        "preferences": {"theme": "dark", "notifications": true},
        "tags": ["admin", "developer"]
    });
    let hour = SetOptions::default().ex(3600);
    assert!(redis.set_json("user:123:profile", &user_data, hour).await);
    let back: Value = redis.get_json("user:123:profile").await.unwrap();
    assert_eq!(back["name"], "John Doe");
    assert_eq!(back["preferences"]["theme"], "dark");
    assert!((3590..=3600).contains(&redis.ttl("user:123:profile").await));

    // The same document as a Rust type.
    let typed: UserProfile = redis.get_json("user:123:profile").await.unwrap();
    assert_eq!(typed.preferences.theme, "dark");
    assert_eq!(typed.tags, ["admin", "developer"]);
    assert!(redis.set_json("user:124:profile", &typed, hour).await);
    assert_eq!(
        redis.get_json::<UserProfile>("user:124:profile").await,
        Some(typed)
    );

    // Best practice 1: JSON methods rather than manual serialization; both store the same.
    assert!(
        redis
            .set_json(
                "user:125",
                &json!({"name": "John", "age": 30}),
                SetOptions::default()
            )
            .await
    );
    let manual = serde_json::to_string(&json!({"name": "John", "age": 30})).unwrap();
    assert_eq!(redis.get("user:125").await, Some(manual));
}

/// The seed's `get_user_with_cache`, on the library's cache-aside.
async fn get_user_with_cache(
    redis: &RedisManager,
    db: &FakeDb,
    user_id: &str,
) -> Result<Option<Value>, String> {
    redis
        .get_or_set_json(
            &format!("user:{user_id}"),
            Duration::from_secs(3600),
            || db.get_user(user_id),
        )
        .await
}

#[derive(Default)]
struct FakeDb {
    calls: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

impl FakeDb {
    async fn get_user(&self, user_id: &str) -> Result<Option<Value>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        if self.failing.load(Ordering::SeqCst) {
            return Err("database unavailable".into());
        }
        Ok((user_id != "nobody").then(|| json!({"id": user_id, "name": "John"})))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_caching_example_loads_once_then_hits_the_cache() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let db = FakeDb::default();

    let first = get_user_with_cache(&redis, &db, "123").await.unwrap();
    assert_eq!(first.as_ref().unwrap()["name"], "John");
    assert_eq!(db.calls.load(Ordering::SeqCst), 1);
    assert!((3590..=3600).contains(&redis.ttl("user:123").await));

    let second = get_user_with_cache(&redis, &db, "123").await.unwrap();
    assert_eq!(second, first);
    assert_eq!(db.calls.load(Ordering::SeqCst), 1, "served from the cache");

    // A missing user is cached too (the seed re-queried the database for it every time).
    assert_eq!(get_user_with_cache(&redis, &db, "nobody").await, Ok(None));
    assert_eq!(get_user_with_cache(&redis, &db, "nobody").await, Ok(None));
    assert_eq!(db.calls.load(Ordering::SeqCst), 2);

    // Falsy values are hits (the seed's `if cached_user:` treated them as misses).
    let zero = || async { Ok::<i64, ()>(0) };
    assert_eq!(
        redis
            .get_or_set_json("count", Duration::from_secs(60), zero)
            .await,
        Ok(0)
    );
    let must_not_load = || async { Err::<i64, ()>(()) };
    assert_eq!(
        redis
            .get_or_set_json("count", Duration::from_secs(60), must_not_load)
            .await,
        Ok(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cache_misses_call_the_loader_once() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let db = Arc::new(FakeDb::default());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (redis, db) = (redis.clone(), db.clone());
        tasks.push(tokio::spawn(async move {
            get_user_with_cache(&redis, &db, "hot").await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().unwrap()["id"], "hot");
    }
    assert_eq!(db.calls.load(Ordering::SeqCst), 1, "no stampede");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_errors_are_returned_and_not_cached() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let db = FakeDb::default();
    db.failing.store(true, Ordering::SeqCst);
    assert_eq!(
        get_user_with_cache(&redis, &db, "123").await,
        Err("database unavailable".to_owned())
    );
    assert!(!redis.exists("user:123").await);
    db.failing.store(false, Ordering::SeqCst);
    assert!(
        get_user_with_cache(&redis, &db, "123")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(db.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_with_redis_down_just_calls_the_loader() {
    let mut server = RedisServer::start();
    let redis = ready(&server).await;
    server.kill();
    let db = FakeDb::default();
    for _ in 0..3 {
        let user = get_user_with_cache(&redis, &db, "123").await.unwrap();
        assert_eq!(user.unwrap()["name"], "John");
    }
    assert_eq!(db.calls.load(Ordering::SeqCst), 3);
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_session_example() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let sessions = SessionManager::new(&redis);

    let before = now();
    let id = sessions
        .create_session("user-123", json!({"role": "admin", "theme": "dark"}))
        .await
        .expect("stored");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    let session = sessions.get_session(&id).await.unwrap();
    assert_eq!(session["user_id"], "user-123");
    assert_eq!(session["role"], "admin");
    assert_eq!(session["theme"], "dark");
    let created_at = session["created_at"].as_f64().unwrap();
    assert!(created_at >= before - 1.0 && created_at <= now() + 1.0);

    // Stored under session:{id} for 24 hours.
    let ttl = redis.ttl(&format!("session:{id}")).await;
    assert!((86_390..=86_400).contains(&ttl), "{ttl}");

    assert!(sessions.delete_session(&id).await);
    assert!(!sessions.delete_session(&id).await);
    assert_eq!(sessions.get_session(&id).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_data_cannot_spoof_user_id_and_ids_are_unique() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let sessions = SessionManager::new(&redis);
    let id = sessions
        .create_session("real", json!({"user_id": "spoofed", "created_at": 0}))
        .await
        .unwrap();
    let s = sessions.get_session(&id).await.unwrap();
    assert_eq!(s["user_id"], "real");
    assert!(s["created_at"].as_f64().unwrap() > 1.0);

    let plain = sessions.create_session("u", Value::Null).await.unwrap();
    let s = sessions.get_session(&plain).await.unwrap();
    assert_eq!(s.as_object().unwrap().len(), 2);
    let scalar = sessions.create_session("u", json!(7)).await.unwrap();
    assert_eq!(sessions.get_session(&scalar).await.unwrap()["data"], 7);

    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        ids.insert(sessions.create_session("u", json!({})).await.unwrap());
    }
    assert_eq!(ids.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_can_be_refreshed() {
    let server = RedisServer::start();
    let redis = ready(&server).await;
    let short = SessionManager::new(&redis).with_ttl(Duration::from_millis(300));
    assert_eq!(short.ttl(), Duration::from_millis(300));

    let expiring = short.create_session("u1", json!({})).await.unwrap();
    let refreshed = short.create_session("u2", json!({})).await.unwrap();
    assert!(
        short
            .refresh_session(&refreshed, Duration::from_secs(60))
            .await
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(short.get_session(&expiring).await, None, "expired");
    assert!(
        !short
            .refresh_session(&expiring, Duration::from_secs(60))
            .await
    );
    assert_eq!(
        short.get_session(&refreshed).await.unwrap()["user_id"],
        "u2"
    );
    let ttl = redis.ttl(&format!("session:{refreshed}")).await;
    assert!((50..=60).contains(&ttl), "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_report_failure_when_redis_is_unavailable() {
    let sessions = SessionManager::new(&disabled());
    assert_eq!(sessions.create_session("u", json!({})).await, None);
    assert_eq!(sessions.get_session("abc").await, None);
    assert!(!sessions.delete_session("abc").await);
    assert!(
        !sessions
            .refresh_session("abc", Duration::from_secs(1))
            .await
    );

    let mut server = RedisServer::start();
    let redis = ready(&server).await;
    let sessions = SessionManager::new(&redis);
    let id = sessions.create_session("u", json!({})).await.unwrap();
    server.kill();
    assert_eq!(sessions.get_session(&id).await, None);
    assert_eq!(sessions.create_session("u", json!({})).await, None);
    // The global form exists and, never initialized here, stores nothing.
    let _global = SessionManager::global();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_error_handling_examples() {
    // "All operations return sensible defaults on error."
    let redis = disabled();
    assert_eq!(redis.get("nonexistent_key").await, None);
    assert!(!redis.set("key", "value").await);
    assert_eq!(redis.delete_one("key").await, 0);

    // "Check if Redis is available before critical operations."
    let mut fallback_store = std::collections::HashMap::new();
    if redis.is_enabled() {
        redis.set("important_data", "data").await;
    } else {
        fallback_store.insert("important_data", "data");
    }
    assert_eq!(fallback_store.get("important_data"), Some(&"data"));

    // And with a server: is_enabled() guides the same choice.
    let server = RedisServer::start();
    let redis = ready(&server).await;
    assert!(redis.is_enabled());
    assert!(redis.set("important_data", "data").await);
}

/// The seed's best practice 4: `robust_cache_get` / `robust_cache_set`.
async fn robust_cache_get(redis: &RedisManager, key: &str) -> Option<Value> {
    if redis.is_enabled() {
        return redis.get_json(key).await;
    }
    None
}

async fn robust_cache_set(redis: &RedisManager, key: &str, value: &Value, ex: Option<u64>) -> bool {
    if redis.is_enabled() {
        let options = match ex {
            Some(seconds) => SetOptions::default().ex(seconds),
            None => SetOptions::default(),
        };
        return redis.set_json(key, value, options).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_best_practice_helpers() {
    let mut server = RedisServer::start();
    let redis = ready(&server).await;
    let value = json!({"result": [1, 2, 3]});
    assert!(robust_cache_set(&redis, "cache:expensive_query", &value, Some(3600)).await);
    assert_eq!(
        robust_cache_get(&redis, "cache:expensive_query").await,
        Some(value.clone())
    );
    let client = redis.get_client().unwrap();
    let ttl: i64 = client
        .query(cmd("TTL").arg("cache:expensive_query"))
        .await
        .unwrap();
    assert!(ttl > 3500);

    server.kill();
    assert_eq!(
        robust_cache_get(&redis, "cache:expensive_query").await,
        None
    );
    assert!(!robust_cache_set(&redis, "cache:expensive_query", &value, None).await);
}
