//! `RedisManager` against real, private servers: every row of the operations table in the
//! enabled, disabled and Redis-stopped states; recovery; initialize/disconnect; logging.

mod support;

use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_manager::{Config, ConfigBuilder, RedisManager, SetOptions, cmd, redis_manager};
use serde_json::{Value, json};
use support::{FaultProxy, Mode, RedisServer, runtime};

fn config_for_port(port: u16) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(port)
        .response_timeout(Some(Duration::from_secs(2)))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(200))
}

fn config(server: &RedisServer) -> ConfigBuilder {
    config_for_port(server.port())
}

async fn ready(server: &RedisServer) -> RedisManager {
    let m = RedisManager::new(config(server));
    assert!(m.initialize().await, "initialize against a running server");
    assert!(m.is_enabled());
    m
}

/// Waits until `cond` holds, polling; false after `within`.
async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// A flat struct for `hset_struct` / `hgetall_struct`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Row {
    a: i64,
}

/// Runs every operation of the table on fresh keys and asserts each returned its default.
async fn assert_every_operation_returns_its_default(m: &RedisManager) {
    assert_eq!(m.get("t:get").await, None);
    assert!(!m.set("t:set", "v").await);
    assert!(!m.set_with("t:set", 1, SetOptions::default().ex(10)).await);
    assert!(!m.set_with("t:set", 1.5, SetOptions::default().nx()).await);
    assert_eq!(m.delete(&["t:a", "t:b"]).await, 0);
    assert_eq!(m.delete_one("t:a").await, 0);
    assert_eq!(m.delete("t:a").await, 0);
    assert!(!m.exists("t:a").await);
    assert!(!m.expire("t:a", 10).await);
    assert_eq!(m.ttl("t:a").await, -2);
    assert_eq!(m.incr("t:n", 1).await, None);
    assert_eq!(m.hset("t:h", "f", "v").await, 0);
    assert_eq!(m.hset_mapping("t:h", [("a", "1"), ("b", "2")]).await, 0);
    assert_eq!(m.hget("t:h", "f").await, None);
    assert_eq!(m.hset_struct("t:h", &Row { a: 1 }).await, 0);
    assert_eq!(m.hgetall_struct::<Row>("t:h").await, None);
    assert!(
        !m.set_json("t:j", &json!({"a": 1}), SetOptions::default())
            .await
    );
    assert_eq!(m.get_json::<Value>("t:j").await, None);
    assert!(m.get_client().is_none());
    assert!(!m.is_enabled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_works_when_enabled() {
    let server = RedisServer::start();
    let m = ready(&server).await;

    // get / set, with the seed's value types: str, int, float.
    assert_eq!(m.get("missing").await, None);
    assert!(m.set("s", "text").await);
    assert!(m.set("i", 42).await);
    assert!(m.set("f", 2.5).await);
    assert!(m.set("owned", String::from("owned")).await);
    assert_eq!(m.get("s").await.as_deref(), Some("text"));
    assert_eq!(m.get("i").await.as_deref(), Some("42"));
    assert_eq!(m.get("f").await.as_deref(), Some("2.5"));

    // set options: EX, PX, NX, XX, one expiry (the last set wins), and an expiry the server
    // refuses.
    assert!(m.set_with("ex", "v", SetOptions::default().ex(100)).await);
    assert!((1..=100).contains(&m.ttl("ex").await));
    assert!(
        m.set_with("px", "v", SetOptions::default().px(100_000))
            .await
    );
    assert!((1..=100).contains(&m.ttl("px").await));
    assert!(m.set_with("nx", "first", SetOptions::default().nx()).await);
    assert!(!m.set_with("nx", "second", SetOptions::default().nx()).await);
    assert_eq!(m.get("nx").await.as_deref(), Some("first"));
    assert!(
        !m.set_with("xx-missing", "v", SetOptions::default().xx())
            .await
    );
    assert!(!m.exists("xx-missing").await);
    assert!(m.set_with("nx", "third", SetOptions::default().xx()).await);
    assert_eq!(m.get("nx").await.as_deref(), Some("third"));
    let both = SetOptions::default().ex(1).px(200_000);
    assert!(m.set_with("both", "v", both).await, "the last expiry wins");
    assert!((101..=200).contains(&m.ttl("both").await));
    assert_eq!(m.delete_one("both").await, 1);
    let zero = SetOptions::default().ex(0);
    assert!(!m.set_with("bad", "v", zero).await, "EX 0 is refused");
    assert!(!m.exists("bad").await);
    assert!(
        m.is_enabled(),
        "a refused command does not mean Redis is down"
    );

    // delete: many, one, none.
    assert_eq!(m.delete(&["s", "i", "missing"]).await, 2);
    assert_eq!(m.delete(&[String::from("f")]).await, 1);
    assert_eq!(m.delete_one("owned").await, 1);
    assert_eq!(m.delete_one("owned").await, 0);
    assert_eq!(m.delete(Vec::<&str>::new()).await, 0);

    // exists / expire / ttl.
    assert!(m.exists("nx").await);
    assert!(!m.exists("s").await);
    assert_eq!(m.ttl("nx").await, -1);
    assert_eq!(m.ttl("s").await, -2);
    assert!(m.expire("nx", 300).await);
    assert!((1..=300).contains(&m.ttl("nx").await));
    assert!(!m.expire("s", 300).await);

    // incr.
    assert_eq!(m.incr("counter", 1).await, Some(1));
    assert_eq!(m.incr("counter", 5).await, Some(6));
    assert_eq!(m.incr("counter", -10).await, Some(-4));
    assert_eq!(m.incr("nx", 1).await, None, "not an integer");

    // hashes.
    assert_eq!(m.hset("h", "name", "John").await, 1);
    assert_eq!(m.hset("h", "name", "Jane").await, 0, "updated, not added");
    assert_eq!(m.hset("h", "age", 30).await, 1);
    let mapping = std::collections::BTreeMap::from([("email", "j@example.com"), ("age", "31")]);
    assert_eq!(m.hset_mapping("h", mapping).await, 1);
    assert_eq!(m.hset_mapping("h", Vec::<(&str, &str)>::new()).await, 0);
    assert_eq!(m.hget("h", "name").await.as_deref(), Some("Jane"));
    assert_eq!(m.hget("h", "age").await.as_deref(), Some("31"));
    assert_eq!(m.hget("h", "missing").await, None);
    assert_eq!(m.hget("missing", "name").await, None);
    assert_eq!(m.hset_struct("row", &Row { a: 7 }).await, 1);
    assert_eq!(m.hgetall_struct::<Row>("row").await, Some(Row { a: 7 }));
    assert_eq!(m.hgetall_struct::<Row>("missing").await, None);

    // JSON.
    let doc = json!({"id": 1, "tags": ["a"], "nested": {"ok": true}});
    assert!(m.set_json("j", &doc, SetOptions::default().ex(60)).await);
    assert_eq!(m.get_json::<Value>("j").await, Some(doc));
    assert!(!m.set_json("j", &1, SetOptions::default().nx()).await);
    assert!(m.set_json("j2", &vec![1u8, 2], SetOptions::default()).await);
    assert_eq!(m.get_json::<Vec<u8>>("j2").await, Some(vec![1, 2]));
    assert_eq!(m.get_json::<Value>("missing").await, None);

    // Errors that are about the command, not about Redis, keep the manager enabled.
    assert_eq!(m.hset("j", "f", "v").await, 0, "WRONGTYPE");
    assert_eq!(m.get("h").await, None, "WRONGTYPE");
    assert!(m.is_enabled());
}

/// The seed's `delete(*keys)`: one key or many, in every form `delete` takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_takes_one_key_or_many() {
    let server = RedisServer::start();
    let m = ready(&server).await;
    let fill = |keys: &'static [&'static str]| {
        let m = m.clone();
        async move {
            for k in keys {
                assert!(m.set(k, "v").await);
            }
        }
    };

    // One key: &str, String, &String; a second delete finds nothing.
    fill(&["a", "b", "c"]).await;
    assert_eq!(m.delete("a").await, 1);
    assert_eq!(m.delete("a").await, 0);
    assert_eq!(m.delete(String::from("b")).await, 1);
    let c = String::from("c");
    assert_eq!(m.delete(&c).await, 1);
    assert_eq!(m.delete_one("c").await, 0);

    // Many: an array by value and by reference, a slice, a Vec by value and by reference;
    // missing keys are not counted.
    fill(&["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"]).await;
    assert_eq!(m.delete(["k1", "k2", "missing"]).await, 2);
    assert_eq!(m.delete(&["k3"]).await, 1);
    let slice: &[&str] = &["k4", "k5"];
    assert_eq!(m.delete(slice).await, 2);
    assert_eq!(m.delete(vec![String::from("k6")]).await, 1);
    let owned = vec![String::from("k7"), String::from("k8")];
    assert_eq!(m.delete(&owned).await, 2);
    assert_eq!(m.delete(&owned).await, 0);
    assert!(!m.exists("k8").await);

    // None: 0, and no DEL is sent (the server would refuse one without keys).
    server.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(m.delete(Vec::<String>::new()).await, 0);
    assert_eq!(m.delete::<[&str; 0]>([]).await, 0);
    let stats = server.cli(&["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_del:"), "{stats}");
    assert!(m.is_enabled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_config_does_no_io_and_every_operation_returns_its_default() {
    // A listener that would see any connection attempt.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let m = RedisManager::new(config_for_port(port).enabled(false));
    assert!(!m.initialize().await);
    assert!(!m.initialize().await);
    assert_every_operation_returns_its_default(&m).await;
    let loaded: Result<i32, ()> = m
        .get_or_set_json("t:cache", Duration::from_secs(1), || async { Ok(5) })
        .await;
    assert_eq!(loaded, Ok(5), "cache-aside falls back to the loader");
    m.disconnect().await;
    assert_eq!(
        listener.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "a disabled manager never connects"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_never_initialized_returns_defaults() {
    let server = RedisServer::start();
    let m = RedisManager::new(config(&server));
    assert_every_operation_returns_its_default(&m).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_returns_its_default_without_waiting_when_the_server_is_killed() {
    let mut server = RedisServer::start();
    let m = ready(&server).await;
    assert!(m.set("k", "v").await);
    server.kill();

    // The first operation finds the connection gone and marks the manager unhealthy.
    assert_eq!(m.get("k").await, None);
    assert!(!m.is_enabled());
    assert_every_operation_returns_its_default(&m).await;

    // No connect timeout (2 s here) is paid per call: 100 calls together take far less than
    // one. This is a "does not hang" check with a generous bound, not a speed claim.
    let start = Instant::now();
    for i in 0..100 {
        assert_eq!(m.get(&format!("k{i}")).await, None);
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "100 operations took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_do_not_wait_on_a_partitioned_server_and_recover_when_it_heals() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    let m = RedisManager::new(
        config_for_port(proxy.port()).response_timeout(Some(Duration::from_millis(500))),
    );
    assert!(m.initialize().await);
    assert!(m.set("k", "v").await);

    proxy.set_mode(Mode::Blackhole);
    // One call pays the response timeout and marks the manager unhealthy...
    assert_eq!(m.get("k").await, None);
    assert!(!m.is_enabled());
    // ...the next ones pay nothing: 100 of them in less than a single timeout.
    let start = Instant::now();
    for _ in 0..100 {
        assert_eq!(m.get("k").await, None);
    }
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "100 operations took {:?}",
        start.elapsed()
    );

    proxy.set_mode(Mode::PassThrough);
    assert!(
        eventually(Duration::from_secs(15), || m.is_enabled()).await,
        "the manager came back after the partition healed"
    );
    assert_eq!(m.get("k").await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_recovers_after_the_server_restarts() {
    let mut server = RedisServer::start();
    let m = ready(&server).await;
    assert!(m.set("before", "1").await);

    server.kill();
    assert_eq!(m.get("before").await, None);
    assert!(!m.is_enabled());
    assert!(m.get_client().is_none());

    server.restart();
    assert!(
        eventually(Duration::from_secs(15), || m.is_enabled()).await,
        "is_enabled() turned true again after the restart"
    );
    // The restarted server has no data (nothing is saved), but operations work again.
    assert_eq!(m.get("before").await, None);
    assert!(m.set("after", "2").await);
    assert_eq!(m.get("after").await.as_deref(), Some("2"));
    assert!(m.get_client().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_initialize_recovers_by_itself_when_the_server_comes_up() {
    // Unlike the Python original, which stays disabled for good after a failed initialize.
    let mut server = RedisServer::start();
    server.kill();
    let m = RedisManager::new(config(&server));
    assert!(!m.initialize().await);
    assert!(!m.is_enabled());
    assert_eq!(m.get("k").await, None);

    server.restart();
    assert!(eventually(Duration::from_secs(15), || m.is_enabled()).await);
    assert!(m.set("k", "v").await);
    assert_eq!(m.get("k").await.as_deref(), Some("v"));
}

/// Connections the server sees, not counting the `redis-cli` asking.
fn client_connections(server: &RedisServer) -> usize {
    let list = server.cli(&["CLIENT", "LIST"]);
    list.lines().filter(|l| !l.trim().is_empty()).count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_twice_and_concurrently_leaks_no_connection() {
    let server = RedisServer::start();
    let m = RedisManager::new(config(&server));
    let results = futures_join_all((0..16).map(|_| {
        let m = m.clone();
        tokio::spawn(async move { m.initialize().await })
    }))
    .await;
    assert!(results.iter().all(|ok| *ok));
    assert!(m.initialize().await);
    assert!(m.initialize().await);
    assert!(m.set("k", "v").await);
    assert_eq!(client_connections(&server), 1, "one shared connection");

    m.disconnect().await;
    m.disconnect().await; // idempotent
    assert!(!m.is_enabled());
    assert!(m.get_client().is_none());
    assert_eq!(m.get("k").await, None);
    let closed = eventually(Duration::from_secs(5), || client_connections(&server) == 0).await;
    assert!(closed, "disconnect closed every connection");

    // And it can be initialized again.
    assert!(m.initialize().await);
    assert_eq!(m.get("k").await.as_deref(), Some("v"));
    assert_eq!(client_connections(&server), 1);
}

async fn futures_join_all(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> Vec<bool> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_client_gives_the_full_client_for_advanced_work() {
    let server = RedisServer::start();
    let m = ready(&server).await;
    let client = m.get_client().expect("enabled");
    let mut pipe = redis_manager::Pipeline::new();
    pipe.add(cmd("SET").arg("key1").arg("value1"))
        .add(cmd("SET").arg("key2").arg("value2"));
    pipe.execute(&client).await.unwrap();
    assert_eq!(m.get("key2").await.as_deref(), Some("value2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_data_reads_as_none_without_panicking() {
    let server = RedisServer::start();
    let m = ready(&server).await;
    let client = m.get_client().unwrap();
    let bytes: &[u8] = b"\xff\xfe\x00bin";
    client
        .query::<()>(cmd("SET").arg("bin").arg(bytes))
        .await
        .unwrap();
    client
        .query::<()>(cmd("HSET").arg("hbin").arg("f").arg(bytes))
        .await
        .unwrap();
    assert_eq!(m.get("bin").await, None);
    assert_eq!(m.hget("hbin", "f").await, None);
    assert_eq!(m.get_json::<Value>("bin").await, None);
    assert!(m.exists("bin").await);
    assert!(m.is_enabled(), "bad data is not an outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_json_of_a_value_that_is_not_json_or_not_the_type_is_none() {
    let server = RedisServer::start();
    let m = ready(&server).await;
    assert!(m.set("plain", "not json at all").await);
    assert_eq!(m.get_json::<Value>("plain").await, None);
    assert!(m.set_json("str", &"text", SetOptions::default()).await);
    assert_eq!(m.get_json::<u32>("str").await, None);
    assert_eq!(m.get_json::<String>("str").await.as_deref(), Some("text"));
    assert!(m.is_enabled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_manager_is_one_instance_and_idle_until_initialized() {
    // Read-only: tests never initialize the global manager or touch the environment.
    let a = redis_manager();
    let b = redis_manager();
    assert!(std::ptr::eq(a, b));
    if !a.config().is_enabled() {
        assert!(!a.is_enabled());
        assert!(a.get_client().is_none());
        assert_eq!(a.get("anything").await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_makes_initialize_return_false() {
    let m = RedisManager::new(Config::builder().host("127.0.0.1").port(0));
    assert!(!m.initialize().await);
    assert!(!m.is_enabled());
    assert_eq!(m.get("k").await, None);
}

/// A `tracing` subscriber that keeps every event as a line of text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn errors_are_logged_once_with_operation_and_key_but_never_a_value_or_the_password() {
    const PASSWORD: &str = "pw-hunter2-secret";
    const VALUE: &str = "value-that-must-not-be-logged";
    let mut server = RedisServer::with_args(&["--requirepass", PASSWORD]);
    let logs = Logs::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // `tracing` caches each call site's interest for the whole process. With one dispatcher
    // registered, a call site first reached by another test's thread (which has none) is
    // cached as "never" and this test's events are lost. A second registered dispatcher
    // makes the cache ask every registered one instead, so the capture always sees them.
    let _anchor = tracing::Dispatch::new(logs.clone());
    tracing::subscriber::with_default(logs.clone(), || {
        rt.block_on(async {
            let m = RedisManager::new(config(&server).password(PASSWORD));
            assert!(m.initialize().await);
            assert!(m.set("secret:key", VALUE).await);
            // A server error (WRONGTYPE) and a JSON decode error that would quote the value.
            assert_eq!(m.hget("secret:key", "f").await, None);
            assert_eq!(m.get_json::<u32>("json:key").await, None);
            assert!(m.set_json("json:key", &VALUE, SetOptions::default()).await);
            assert_eq!(m.get_json::<u32>("json:key").await, None);
            // Authentication failure.
            let wrong = RedisManager::new(config(&server).password("wrong-password-123"));
            assert!(!wrong.initialize().await);
            wrong.disconnect().await;
            // An outage.
            server.kill();
            assert_eq!(m.get("gone:key").await, None);
            assert_eq!(m.get("gone:key").await, None);
            m.disconnect().await;
        })
    });
    let text = logs.text();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("wrong-password-123"), "{text}");
    assert!(!text.contains(VALUE), "{text}");
    let wrongtype: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("op=\"hget\"") && l.contains("key=\"secret:key\""))
        .collect();
    assert_eq!(wrongtype.len(), 1, "logged once: {text}");
    assert!(wrongtype[0].contains("WRONGTYPE"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("op=\"get_json\"") && l.contains("key=\"json:key\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("op=\"get\"") && l.contains("key=\"gone:key\"")),
        "{text}"
    );
}

/// A manager kept in a `static` (as `redis_manager()` is) outlives the runtime it was
/// initialized on, as it does from one `#[tokio::test]` runtime to the next: the next runtime's
/// calls must reach Redis, neither hanging nor falling back to defaults.
#[test]
fn a_manager_keeps_working_from_the_next_runtime() {
    let server = RedisServer::start();
    let m = RedisManager::new(config(&server));
    let first = runtime();
    first.block_on(async {
        assert!(m.initialize().await);
        assert!(m.set("k", "v1").await);
    });
    drop(first);
    let second = runtime();
    second.block_on(async {
        let got = tokio::time::timeout(Duration::from_secs(10), m.get("k"))
            .await
            .expect("a call from the next runtime hung");
        assert_eq!(got.as_deref(), Some("v1"));
        assert!(m.is_enabled(), "fell back to defaults");
        assert!(m.set("k", "v2").await);
        assert_eq!(m.get("k").await.as_deref(), Some("v2"));
    });
}

/// `incr` means "add an amount", so it sends `INCRBY` (as `Client::incrby` does) for every
/// amount, 1 included; an overflow is a server error: `None`, nothing changed, still enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incr_sends_incrby_for_every_amount() {
    let server = RedisServer::start();
    let m = ready(&server).await;
    server.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(m.incr("n", 1).await, Some(1));
    assert_eq!(m.incr("n", 41).await, Some(42));
    assert_eq!(m.incr("n", -2).await, Some(40));
    let stats = server.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_incrby:calls=3,"), "{stats}");
    assert!(!stats.contains("cmdstat_incr:"), "{stats}");

    assert!(m.set("max", i64::MAX).await);
    assert_eq!(m.incr("max", 1).await, None, "overflow");
    assert_eq!(m.get("max").await, Some(i64::MAX.to_string()));
    assert!(m.is_enabled());
}
