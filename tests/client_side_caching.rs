//! Client-side caching against real servers: what another client writes is never served
//! stale once its invalidation is in, including when it races a read in flight; a lost
//! tracking connection, a restart or a `FLUSHALL` empty the cache; memory stays within
//! budget. Waits are on the cache's statistics, never on sleeps.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use redis_manager::config::{Admission, CacheConfig, Protocol, TrackingMode};
use redis_manager::prelude::*;
use redis_manager::{CacheStats, Client, Pipeline, RedisManager};
use support::RedisServer;

async fn cached(server: &RedisServer, cache: CacheConfig) -> Client {
    Client::connect(server.config().cache(cache))
        .await
        .expect("connect")
}

fn stats(client: &Client) -> CacheStats {
    client.cache_stats().expect("caching is on")
}

/// Waits (polling, 10 s at most) until the cache's statistics satisfy `done`.
async fn wait_stats(client: &Client, what: &str, done: impl Fn(&CacheStats) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(client);
        if done(&s) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still waiting, {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn text(v: Option<Bytes>) -> Option<String> {
    v.map(|b| String::from_utf8(b.to_vec()).unwrap())
}

#[tokio::test]
async fn a_write_by_another_client_is_never_served_stale_after_its_invalidation() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    let other = server.client().await;
    for round in 0..50 {
        let value = format!("v{round}");
        assert_eq!(text(client.get("k").await.unwrap()).is_some(), round > 0);
        // Now cached: served without a round trip.
        let before = stats(&client);
        client.get("k").await.unwrap();
        assert_eq!(stats(&client).hits, before.hits + 1, "round {round}");
        other.set("k", value.as_str()).await.unwrap();
        wait_stats(&client, "the invalidation", |s| {
            s.invalidations > before.invalidations
        })
        .await;
        assert_eq!(text(client.get("k").await.unwrap()), Some(value));
    }
    // Every cached command, each invalidated by a write of its key.
    other.hset("h", "f", "1").await.unwrap();
    other.rpush("l", &["a"]).await.unwrap();
    other.sadd("s", &["a"]).await.unwrap();
    other.zadd("z", &[(1.0, "a")]).await.unwrap();
    for _ in 0..2 {
        assert_eq!(text(client.hget("h", "f").await.unwrap()).unwrap(), "1");
        assert_eq!(client.hgetall("h").await.unwrap().len(), 1);
        assert_eq!(client.lrange("l", 0, -1).await.unwrap().len(), 1);
        assert_eq!(client.smembers("s").await.unwrap().len(), 1);
        assert_eq!(client.zscore("z", "a").await.unwrap(), Some(1.0));
        assert!(client.exists("h").await.unwrap());
    }
    let before = stats(&client);
    other.hset("h", "f", "2").await.unwrap();
    other.rpush("l", &["b"]).await.unwrap();
    other.sadd("s", &["b"]).await.unwrap();
    other.zadd("z", &[(2.0, "a")]).await.unwrap();
    other.del(&["h"]).await.unwrap();
    // One invalidation per key: the server stops tracking a key once it has invalidated it
    // (until it is read again), so `DEL h` after `HSET h` sends nothing more.
    wait_stats(&client, "four invalidations", |s| {
        s.invalidations >= before.invalidations + 4
    })
    .await;
    assert_eq!(client.hget("h", "f").await.unwrap(), None);
    assert_eq!(client.lrange("l", 0, -1).await.unwrap().len(), 2);
    assert_eq!(client.smembers("s").await.unwrap().len(), 2);
    assert_eq!(client.zscore("z", "a").await.unwrap(), Some(2.0));
    assert!(!client.exists("h").await.unwrap());
}

#[tokio::test]
async fn this_clients_own_write_is_seen_at_once() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    for round in 0..100 {
        client.get("k").await.unwrap();
        client.get("k").await.unwrap();
        client.set("k", round).await.unwrap();
        assert_eq!(
            text(client.get("k").await.unwrap()),
            Some(round.to_string())
        );
    }
    // In a pipeline, and by FLUSHDB.
    client.get("k").await.unwrap();
    let mut pipe = Pipeline::new();
    pipe.set("k", "piped");
    pipe.execute(&client).await.unwrap();
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "piped");
    client.mget(&["k", "j"]).await.unwrap();
    client.flushdb().await.unwrap();
    assert_eq!(client.mget(&["k", "j"]).await.unwrap(), vec![None, None]);

    // On an exclusive connection, in a transaction, and in a MULTI sent command by command.
    client.get("k").await.unwrap();
    let mut conn = client.exclusive().await.unwrap();
    conn.set("k", "exclusive").await.unwrap();
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "exclusive");
    let mut tx = client.watch(&["k"]).await.unwrap();
    tx.exec(&[redis_manager::cmd("SET").key("k").arg("watched")])
        .await
        .unwrap();
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "watched");
    conn.query::<()>(redis_manager::cmd("MULTI")).await.unwrap();
    let _queued = conn.set("k", "queued").await;
    // Queued, not run: a read now may cache the old value...
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "watched");
    conn.query::<redis_manager::Frame>(redis_manager::cmd("EXEC"))
        .await
        .unwrap();
    // ...which EXEC drops at once.
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "queued");
}

/// The in-flight race, made deterministic: the read's request is queued (its lookup has
/// recorded the key's state), its reply has arrived, then another client writes and the
/// invalidation is handled, all before the reader's future is polled and stores the reply.
/// The reply is the value from before the write, correctly for that read, but it must not
/// be cached: without the guard, the next read would return it forever.
#[tokio::test]
async fn a_reply_raced_by_an_invalidation_is_never_cached() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    let other = server.client().await;
    other.set("k", "0").await.unwrap();
    for round in 1..=200 {
        let old = (round - 1).to_string();
        let new = round.to_string();
        let read = client.get("k");
        // Same connection, in order: once PING is answered, GET's reply has been routed.
        client.ping().await.unwrap();
        let before = stats(&client);
        other.set("k", new.as_str()).await.unwrap();
        wait_stats(&client, "the invalidation", |s| {
            s.invalidations > before.invalidations
        })
        .await;
        assert_eq!(text(read.await.unwrap()), Some(old), "round {round}");
        assert_eq!(
            text(client.get("k").await.unwrap()),
            Some(new),
            "round {round}: the raced reply was cached"
        );
    }
}

/// Writers bump per-key counters on their own connections while cached readers read the
/// same hot keys: each reader's view of each key never goes back, and every reader sees
/// the last values soon after the writers stop. `CACHE_STRESS_MS` scales the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_cached_readers_see_monotonic_values_that_converge() {
    let millis: u64 = std::env::var("CACHE_STRESS_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    const KEYS: usize = 8;
    let server = RedisServer::start();
    let readers: Vec<Client> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            v.push(cached(&server, CacheConfig::default()).await);
        }
        v
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let client = server.client().await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                client.incr(format!("c{}", i % KEYS)).await.unwrap();
                i += 1;
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let mut tasks = Vec::new();
    for (r, client) in readers.iter().enumerate() {
        for t in 0..4 {
            let client = client.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = [0i64; KEYS];
                let mut i = r + t;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % KEYS;
                    let v: i64 = text(client.get(format!("c{k}")).await.unwrap())
                        .map_or(0, |s| s.parse().unwrap());
                    assert!(v >= seen[k], "c{k} went back from {} to {v}", seen[k]);
                    seen[k] = v;
                    i += 1;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(millis)).await;
    stop.store(true, Ordering::Relaxed);
    for t in writers.into_iter().chain(tasks) {
        t.await.unwrap();
    }
    let plain = server.client().await;
    let mut last = HashMap::new();
    for k in 0..KEYS {
        last.insert(k, text(plain.get(format!("c{k}")).await.unwrap()));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for client in &readers {
        for k in 0..KEYS {
            loop {
                let v = text(client.get(format!("c{k}")).await.unwrap());
                if v == last[&k] {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "c{k}: {v:?}, last written {:?}",
                    last[&k]
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert!(stats(client).hits > 0, "{:?}", stats(client));
    }
}

/// The id of the connection with `flag` in its `CLIENT LIST` flags.
fn connection_flagged(server: &RedisServer, flag: char) -> String {
    let list = server.cli(&["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| {
            l.split(' ')
                .any(|f| f.starts_with("flags=") && f[6..].contains(flag))
        })
        .unwrap_or_else(|| panic!("no connection flagged {flag} in {list}"));
    line.split(' ').next().unwrap()[3..].to_owned()
}

/// The id of the connection with tracking on (`t` in its flags).
fn tracking_connection(server: &RedisServer) -> String {
    connection_flagged(server, 't')
}

#[tokio::test]
async fn a_killed_tracking_connection_drops_the_cache_and_tracking_resumes_on_reconnect() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    client.set("k", "v1").await.unwrap();
    client.get("k").await.unwrap();
    client.get("k").await.unwrap();
    assert_eq!(stats(&client).entries, 1);
    let id = tracking_connection(&server);
    server.cli(&["CLIENT", "KILL", "ID", &id]);
    // No invalidation can reach the client for this write: its connection is gone.
    server.cli(&["SET", "k", "v2"]);
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    assert_eq!(stats(&client).entries, 0);
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "v2");
    // The new connection tracks again.
    client.get("k").await.unwrap();
    let before = stats(&client);
    assert_ne!(tracking_connection(&server), id);
    server.cli(&["SET", "k", "v3"]);
    wait_stats(&client, "the invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "v3");
}

#[tokio::test]
async fn a_server_restart_drops_the_cache() {
    let mut server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    client.set("k", "v1").await.unwrap();
    client.get("k").await.unwrap();
    server.kill();
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    server.restart();
    // Nothing is saved: the key is gone after the restart.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let value = loop {
        match client.get("k").await {
            Ok(v) => break v,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(value, None);
}

#[tokio::test]
async fn flushall_by_another_client_empties_the_cache() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default()).await;
    client.set("a", "1").await.unwrap();
    client.set("b", "2").await.unwrap();
    client.mget(&["a", "b"]).await.unwrap();
    client.get("a").await.unwrap();
    assert_eq!(stats(&client).entries, 3);
    server.cli(&["FLUSHALL"]);
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    assert_eq!(stats(&client).entries, 0);
    assert_eq!(client.mget(&["a", "b"]).await.unwrap(), vec![None, None]);
    assert_eq!(client.get("a").await.unwrap(), None);
}

#[tokio::test]
async fn memory_stays_within_the_budget_and_larger_values_are_never_stored() {
    let server = RedisServer::start();
    let budget = 64 * 1024;
    let client = cached(&server, CacheConfig::new(budget)).await;
    client.set("big", vec![b'x'; budget + 1]).await.unwrap();
    for _ in 0..3 {
        assert_eq!(client.get("big").await.unwrap().unwrap().len(), budget + 1);
    }
    assert_eq!(stats(&client).hits, 0);
    assert_eq!(stats(&client).entries, 0);
    let value = vec![b'y'; 1000];
    for i in 0..300 {
        client.set(format!("k{i}"), value.as_slice()).await.unwrap();
        client.get(format!("k{i}")).await.unwrap();
        assert!(
            stats(&client).bytes as usize <= budget,
            "{:?}",
            stats(&client)
        );
    }
    let s = stats(&client);
    assert!(s.evictions > 0 && s.entries > 0, "{s:?}");
}

/// The id of the connection subscribed to the invalidation channel (`P` in its flags).
fn redirect_connection(server: &RedisServer) -> String {
    connection_flagged(server, 'P')
}

#[tokio::test]
async fn over_resp2_invalidations_come_through_a_redirect_connection() {
    let server = RedisServer::start();
    let client = Client::connect(
        server
            .config()
            .protocol(Protocol::Resp2)
            .cache(CacheConfig::default()),
    )
    .await
    .unwrap();
    let other = server.client().await;
    for round in 0..20 {
        assert_eq!(client.get("k").await.unwrap().is_some(), round > 0);
        let before = stats(&client);
        client.get("k").await.unwrap();
        assert_eq!(stats(&client).hits, before.hits + 1);
        other.set("k", round).await.unwrap();
        wait_stats(&client, "the invalidation", |s| {
            s.invalidations > before.invalidations
        })
        .await;
        assert_eq!(
            text(client.get("k").await.unwrap()),
            Some(round.to_string())
        );
    }
    // The invalidation connection killed: nothing can be trusted any more. The cache is
    // emptied and the tracked connection closed; the next read reconnects both.
    client.get("k").await.unwrap();
    let id = redirect_connection(&server);
    server.cli(&["CLIENT", "KILL", "ID", &id]);
    server.cli(&["SET", "k", "after"]);
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    let value = until_ok("the reconnect", async || client.get("k").await).await;
    assert_eq!(text(value).unwrap(), "after");
    client.get("k").await.unwrap();
    let before = stats(&client);
    assert_ne!(redirect_connection(&server), id);
    other.set("k", "later").await.unwrap();
    wait_stats(&client, "the invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "later");
    // A null invalidation over RESP2 too.
    client.get("k").await.unwrap();
    let before = stats(&client);
    server.cli(&["FLUSHALL"]);
    wait_stats(&client, "the flush", |s| s.flushes > before.flushes).await;
    assert_eq!(client.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn a_user_not_allowed_to_track_gets_fresh_reads_from_the_server() {
    let server = RedisServer::start();
    server.cli(&[
        "ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-client",
    ]);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let client = Client::connect(
            server
                .config()
                .username("app")
                .password("pw")
                .protocol(protocol)
                .cache(CacheConfig::default()),
        )
        .await
        .unwrap();
        let other = server.client().await;
        for i in 0..10 {
            other.set("k", i).await.unwrap();
            assert_eq!(text(client.get("k").await.unwrap()), Some(i.to_string()));
        }
        assert_eq!(stats(&client).hits, 0, "{protocol:?}");
    }
}

#[tokio::test]
async fn the_managers_reads_are_served_from_the_cache() {
    let server = RedisServer::start();
    let redis = RedisManager::new(server.config().cache(CacheConfig::default()));
    assert!(redis.initialize().await);
    assert!(redis.set("k", "v").await);
    assert!(redis.set("j", r#"{"a":1}"#).await);
    for _ in 0..3 {
        assert_eq!(redis.get("k").await.as_deref(), Some("v"));
        assert!(redis.exists("k").await);
        assert_eq!(
            redis.get_json::<serde_json::Value>("j").await,
            Some(serde_json::json!({"a": 1}))
        );
    }
    let s = redis.cache_stats().unwrap();
    assert_eq!((s.hits, s.misses), (6, 3), "{s:?}");
    assert!(redis.set("k", "w").await);
    assert_eq!(redis.get("k").await.as_deref(), Some("w"));
}

#[tokio::test]
async fn broadcast_mode_caches_only_its_prefixes_and_hears_every_change_under_them() {
    let server = RedisServer::start();
    let mode = TrackingMode::broadcast(["user:", "conf:"]);
    let client = cached(&server, CacheConfig::default().mode(mode)).await;
    let other = server.client().await;
    other.set("user:1", "a").await.unwrap();
    other.set("misc", "m").await.unwrap();
    for _ in 0..3 {
        client.get("user:1").await.unwrap();
        client.get("misc").await.unwrap();
    }
    let s = stats(&client);
    assert_eq!((s.hits, s.entries), (2, 1), "{s:?}");
    for round in 0..20 {
        let before = stats(&client);
        other.set("user:1", round).await.unwrap();
        // Announced though never read by this client.
        other.set("conf:x", round).await.unwrap();
        wait_stats(&client, "two invalidations", |s| {
            s.invalidations >= before.invalidations + 2
        })
        .await;
        assert_eq!(
            text(client.get("user:1").await.unwrap()),
            Some(round.to_string())
        );
        client.get("user:1").await.unwrap();
    }
    let overlapping = CacheConfig::default().mode(TrackingMode::broadcast(["a", "ab"]));
    let err = server.config().cache(overlapping).build().unwrap_err();
    assert_eq!(err.variable(), "cache_mode");
}

#[tokio::test]
async fn opt_in_mode_tracks_the_reads_it_caches() {
    let server = RedisServer::start();
    let client = cached(&server, CacheConfig::default().mode(TrackingMode::OptIn)).await;
    let other = server.client().await;
    for round in 0..20 {
        assert_eq!(client.get("k").await.unwrap().is_some(), round > 0);
        let before = stats(&client);
        client.get("k").await.unwrap();
        assert_eq!(stats(&client).hits, before.hits + 1);
        other.set("k", round).await.unwrap();
        wait_stats(&client, "the invalidation", |s| {
            s.invalidations > before.invalidations
        })
        .await;
        assert_eq!(
            text(client.get("k").await.unwrap()),
            Some(round.to_string())
        );
    }
}

/// The keys in the server's tracking table (`INFO stats`).
fn tracked_keys(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "stats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("tracking_total_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no tracking_total_keys in INFO stats: {info}"))
}

#[tokio::test]
async fn frequent_admission_with_opt_in_leaves_keys_read_once_untracked() {
    let server = RedisServer::start();
    let config = CacheConfig::default()
        .mode(TrackingMode::OptIn)
        .admission(Admission::Frequent);
    let client = cached(&server, config).await;
    let other = server.client().await;
    other.set("once", "1").await.unwrap();
    other.set("often", "2").await.unwrap();
    // First reads: sent without `CLIENT CACHING yes`, neither stored nor tracked.
    assert_eq!(text(client.get("once").await.unwrap()), Some("1".into()));
    assert_eq!(text(client.get("often").await.unwrap()), Some("2".into()));
    assert_eq!(tracked_keys(&server), 0);
    assert_eq!(stats(&client).refused, 2);
    assert_eq!(client.stats().cache_refused, 2);
    // The second read of a key is stored, and the server tracks it.
    assert_eq!(text(client.get("often").await.unwrap()), Some("2".into()));
    assert_eq!(tracked_keys(&server), 1);
    let before = stats(&client);
    assert_eq!(text(client.get("often").await.unwrap()), Some("2".into()));
    assert_eq!(stats(&client).hits, before.hits + 1);
    // A change still reaches the stored key at once.
    other.set("often", "3").await.unwrap();
    wait_stats(&client, "the invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    assert_eq!(text(client.get("often").await.unwrap()), Some("3".into()));
    // The untracked key's change is read from the server.
    other.set("once", "4").await.unwrap();
    assert_eq!(text(client.get("once").await.unwrap()), Some("4".into()));
}

/// Waits, polling the client, until `read` stops failing (a failover or a reconnect).
async fn until_ok<T>(what: &str, read: impl AsyncFn() -> redis_manager::Result<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        match read().await {
            Ok(v) => return v,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "{what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_each_node_tracks_its_keys_and_a_moved_slot_empties_the_cache() {
    cluster_tracking(CacheConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_opt_in_tracking_reads_on_each_master_and_survives_a_moved_slot() {
    let config = CacheConfig::default().mode(TrackingMode::OptIn);
    cluster_tracking(config).await;
}

/// Each master tracks the keys read from it; a moved slot empties the cache, and its key is
/// tracked by its new owner.
async fn cluster_tracking(cache: CacheConfig) {
    let mut cluster = tokio::task::spawn_blocking(|| support::RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config().cache(cache))
        .await
        .unwrap();
    let other = Client::connect(cluster.config()).await.unwrap();
    // Keys on every master.
    let keys: Vec<String> = (0..12).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        other.set(k.as_str(), "old").await.unwrap();
        client.get(k.as_str()).await.unwrap();
        client.get(k.as_str()).await.unwrap();
    }
    let before = stats(&client);
    assert_eq!(before.hits, keys.len() as u64);
    for k in &keys {
        other.set(k.as_str(), "new").await.unwrap();
    }
    wait_stats(&client, "an invalidation per key", |s| {
        s.invalidations >= before.invalidations + keys.len() as u64
    })
    .await;
    for k in &keys {
        assert_eq!(text(client.get(k.as_str()).await.unwrap()).unwrap(), "new");
    }

    // A slot moves to another master: its keys leave the old owner (which invalidates
    // them), and the first command that meets the move empties the cache.
    let key = "{moving}1";
    other.set(key, "before").await.unwrap();
    client.get(key).await.unwrap();
    let port = cluster.master_ports()[0];
    let slot: u16 = cluster
        .node_ref(port)
        .cli(&["CLUSTER", "KEYSLOT", key])
        .parse()
        .unwrap();
    let from = cluster.owner_of(slot);
    let to = *cluster.master_ports().iter().find(|p| **p != from).unwrap();
    let before = stats(&client);
    tokio::task::block_in_place(|| cluster.migrate_slot(slot, to, 10, || {}));
    wait_stats(&client, "the migrated key's invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    other.set(key, "after").await.unwrap();
    assert_eq!(text(client.get(key).await.unwrap()).unwrap(), "after");
    assert!(
        stats(&client).flushes > before.flushes,
        "{:?}",
        stats(&client)
    );
    // Tracked on the new owner now.
    client.get(key).await.unwrap();
    let before = stats(&client);
    other.set(key, "later").await.unwrap();
    wait_stats(&client, "the new owner's invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    assert_eq!(text(client.get(key).await.unwrap()).unwrap(), "later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_drops_the_cache_and_the_new_master_tracks() {
    let mut setup = tokio::task::block_in_place(support::SentinelSetup::start);
    let client = Client::connect(setup.config().cache(CacheConfig::default()))
        .await
        .unwrap();
    client.set("k", "v1").await.unwrap();
    client.get("k").await.unwrap();
    client.get("k").await.unwrap();
    assert_eq!(stats(&client).hits, 1);
    let acked: i64 = client
        .query(redis_manager::cmd("WAIT").arg(1).arg(5000))
        .await
        .unwrap();
    assert_eq!(acked, 1);
    setup.master.kill();
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    let value = until_ok("the failover", async || client.get("k").await).await;
    assert_eq!(text(value).unwrap(), "v1");
    client.get("k").await.unwrap();
    let before = stats(&client);
    setup.replica.cli(&["SET", "k", "v2"]);
    wait_stats(&client, "the new master's invalidation", |s| {
        s.invalidations > before.invalidations
    })
    .await;
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "v2");
}

#[tokio::test]
async fn a_frozen_server_costs_the_tracking_connection_and_the_cache() {
    let mut server = RedisServer::start();
    let client = Client::connect(
        server
            .config()
            .response_timeout(Some(Duration::from_millis(300)))
            .cache(CacheConfig::default()),
    )
    .await
    .unwrap();
    client.set("k", "v1").await.unwrap();
    client.get("k").await.unwrap();
    server.pause();
    // A frozen server changes nothing: the cached value is still right, and served.
    assert_eq!(text(client.get("k").await.unwrap()).unwrap(), "v1");
    // A read that must go to the server times out, and the connection with it: whatever
    // the server does after it wakes up, this connection will not hear of it.
    assert!(client.get("other").await.unwrap_err().is_timeout());
    wait_stats(&client, "the flush", |s| s.flushes >= 1).await;
    server.resume();
    server.cli(&["SET", "k", "v2"]);
    let value = until_ok("the reconnect", async || client.get("k").await).await;
    assert_eq!(text(value).unwrap(), "v2");
}

/// A task that reads a cached key in a loop answers from memory every time, yet it must still
/// yield now and then (tokio's budget), or on a one-thread runtime nothing else ever runs: here
/// the timer that stops it would never fire, and the test would hang (caught by the thread's
/// deadline).
#[test]
fn a_loop_of_cache_hits_does_not_starve_the_runtime() {
    let server = RedisServer::start();
    let (done, finished) = std::sync::mpsc::channel();
    let port = server.port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config = redis_manager::Config::builder()
                .host("127.0.0.1")
                .port(port)
                .cache(CacheConfig::default())
                .build()
                .unwrap();
            let client = Client::new(config).unwrap();
            client.set("hot", "v").await.unwrap();
            while stats(&client).entries == 0 {
                client.get("hot").await.unwrap();
            }
            let stop = Arc::new(AtomicBool::new(false));
            let reader = tokio::spawn({
                let (client, stop) = (client.clone(), stop.clone());
                async move {
                    while !stop.load(Ordering::Relaxed) {
                        client.get("hot").await.unwrap();
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.store(true, Ordering::Relaxed);
            reader.await.unwrap();
            assert!(stats(&client).hits > 0);
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the loop of cache hits never let the timer run");
}
