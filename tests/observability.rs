//! Spans, events and counters against real servers: a recording layer captures every span
//! (name, fields, recorded values) and event of this test binary at TRACE level, and each
//! test picks out its own by its server's port. With the `metrics` feature, a debugging
//! recorder checks the metrics too.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis_manager::config::{Config, ConfigBuilder};
use redis_manager::prelude::*;
use redis_manager::{Client, Pipeline, cmd};
use support::{RedisCluster, RedisServer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// One captured span: its name and every field recorded on it, as text.
#[derive(Debug, Clone, Default)]
struct SpanRec {
    name: String,
    fields: HashMap<String, String>,
    /// Messages of the events recorded inside this span.
    events: Vec<String>,
}

impl SpanRec {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// One captured event: its message and fields, with the spans it happened in.
#[derive(Debug, Clone, Default)]
struct EventRec {
    fields: HashMap<String, String>,
}

#[derive(Default)]
struct Captured {
    /// Every span, in the order they were made.
    spans: Vec<SpanRec>,
    /// Where the span with a given id is in `spans` (ids are reused after a span closes:
    /// the newest wins).
    live: HashMap<u64, usize>,
    events: Vec<EventRec>,
}

impl Captured {
    fn span_mut(&mut self, id: &Id) -> Option<&mut SpanRec> {
        let i = *self.live.get(&id.into_u64())?;
        self.spans.get_mut(i)
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// The recording layer: every span and event, in the order they were made.
struct Recorder(Arc<Mutex<Captured>>);

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut rec = SpanRec {
            name: attrs.metadata().name().to_owned(),
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        let mut c = self.0.lock().unwrap();
        let i = c.spans.len();
        c.spans.push(rec);
        c.live.insert(id.into_u64(), i);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(rec) = self.0.lock().unwrap().span_mut(id) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut rec = EventRec::default();
        event.record(&mut Fields(&mut rec.fields));
        let message = rec.fields.get("message").cloned().unwrap_or_default();
        let mut c = self.0.lock().unwrap();
        if let Some(s) = ctx
            .event_span(event)
            .and_then(|span| c.span_mut(&span.id()))
        {
            s.events.push(message);
        }
        c.events.push(rec);
    }
}

fn captured() -> Arc<Mutex<Captured>> {
    static CAPTURED: OnceLock<Arc<Mutex<Captured>>> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let c = Arc::new(Mutex::new(Captured::default()));
            tracing_subscriber::registry()
                .with(Recorder(c.clone()))
                .try_init()
                .expect("no other subscriber in this test binary");
            c
        })
        .clone()
}

/// The captured spans named `otel_name` whose `server.port` is `port`.
fn spans(otel_name: &str, port: u16) -> Vec<SpanRec> {
    let c = captured();
    let c = c.lock().unwrap();
    let port = port.to_string();
    c.spans
        .iter()
        .filter(|s| s.get("otel.name") == Some(otel_name) && s.get("server.port") == Some(&port))
        .cloned()
        .collect()
}

fn config(server: &RedisServer) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .response_timeout(Some(Duration::from_secs(2)))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(100))
}

#[tokio::test]
async fn a_get_has_a_client_span_with_the_database_attributes() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server).db(3).trace_query_text(true)).unwrap();
    client.set("obs:k", "v").await.unwrap();
    let got = client.get("obs:k").await.unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));

    let get = spans("GET", server.port());
    assert_eq!(get.len(), 1, "{get:#?}");
    let s = &get[0];
    assert_eq!(s.name, "redis.command");
    for (field, want) in [
        ("otel.kind", "client"),
        ("db.system.name", "redis"),
        ("db.operation.name", "GET"),
        ("db.namespace", "3"),
        ("server.address", "127.0.0.1"),
        ("db.query.text", "GET ?"),
    ] {
        assert_eq!(s.get(field), Some(want), "{field} in {s:#?}");
    }
    assert_eq!(s.get("error.type"), None, "{s:#?}");
    let set = spans("SET", server.port());
    assert_eq!(set[0].get("db.query.text"), Some("SET ? ?"));
    assert!(client.stats().commands >= 2, "{:?}", client.stats());
}

#[tokio::test]
async fn without_opting_in_there_is_no_query_text() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server)).unwrap();
    client.get("obs:none").await.unwrap();
    let get = spans("GET", server.port());
    assert_eq!(get.len(), 1);
    assert_eq!(get[0].get("db.query.text"), None, "{get:#?}");
}

#[tokio::test]
async fn a_pipeline_is_one_span_with_its_batch_size() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server).trace_query_text(true)).unwrap();
    let mut pipe = Pipeline::new();
    pipe.set("obs:p1", 1).set("obs:p2", 2).get("obs:p1");
    let _ = pipe.execute(&client).await.unwrap();
    let mut tx = Pipeline::atomic();
    tx.incr("obs:p1").incr("obs:p2");
    let _ = tx.execute(&client).await.unwrap();

    let batch = spans("PIPELINE", server.port());
    assert_eq!(batch.len(), 1, "{batch:#?}");
    let b = &batch[0];
    assert_eq!(b.name, "redis.batch");
    assert_eq!(b.get("db.operation.batch.size"), Some("3"), "{b:#?}");
    assert_eq!(b.get("db.operation.name"), Some("PIPELINE"));
    assert_eq!(b.get("db.query.text"), Some("SET ? ?; SET ? ?; GET ?"));
    // One span for the batch, none per command.
    assert!(spans("SET", server.port()).is_empty());
    let multi = spans("MULTI", server.port());
    assert_eq!(multi.len(), 1, "{multi:#?}");
    assert_eq!(multi[0].get("db.operation.batch.size"), Some("2"));
}

#[tokio::test]
async fn a_failed_command_records_the_error_type_and_status_code() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server)).unwrap();
    client.set("obs:str", "x").await.unwrap();
    let err = client
        .query::<i64>(cmd("LPUSH").key("obs:str").arg("y"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    let s = &spans("LPUSH", server.port())[0];
    assert_eq!(s.get("error.type"), Some("WRONGTYPE"), "{s:#?}");
    assert_eq!(s.get("db.response.status_code"), Some("WRONGTYPE"));
    assert_eq!(s.get("otel.status_code"), Some("ERROR"));

    // A reply of the wrong shape is a conversion error, recorded as such.
    client.set("obs:n", "not a number").await.unwrap();
    let _ = client
        .query::<i64>(cmd("GET").key("obs:n"))
        .await
        .unwrap_err();
    let s = spans("GET", server.port()).pop().unwrap();
    assert_eq!(s.get("error.type"), Some("conversion"), "{s:#?}");
    assert_eq!(s.get("db.response.status_code"), None);
    let stats = client.stats();
    assert_eq!(stats.server_errors, 1, "{stats:?}");
}

#[tokio::test]
async fn a_reconnect_is_an_event_and_a_count() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server)).unwrap();
    client.ping().await.unwrap();
    assert_eq!(client.stats().connects, 1);
    // Another connection kills this client's.
    let killer = Client::new(config(&server)).unwrap();
    let killed: i64 = killer
        .query(
            cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .arg("SKIPME")
                .arg("yes"),
        )
        .await
        .unwrap();
    assert_eq!(killed, 1);
    // The first command after the kill may find the connection dead before or after it was
    // written; a few tries see it reconnect.
    let mut ok = false;
    for _ in 0..50 {
        if client.ping().await.is_ok() && client.stats().reconnects == 1 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "{:?}", client.stats());
    let endpoint = format!("127.0.0.1:{}", server.port());
    let c = captured();
    let c = c.lock().unwrap();
    assert!(
        c.events.iter().any(|e| {
            e.fields.get("message").map(String::as_str) == Some("reconnected")
                && e.fields.get("endpoint") == Some(&endpoint)
        }),
        "no reconnect event"
    );
    // The connects are spans of their own.
    let connects = c
        .spans
        .iter()
        .filter(|s| {
            s.name == "redis.connect" && s.get("server.port") == Some(&server.port().to_string())
        })
        .count();
    assert!(connects >= 2, "{connects}");
    // They name the address the connection reached.
    assert!(c.spans.iter().any(|s| s.name == "redis.connect"
        && s.get("server.port") == Some(&server.port().to_string())
        && s.get("network.peer.address") == Some("127.0.0.1")
        && s.get("network.peer.port") == Some(&server.port().to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_redirect_is_followed_inside_the_command_span() {
    captured();
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");
    client.set("{obs}:k", "v").await.unwrap();
    let any = cluster.master_ports()[0];
    let slot: u16 = cluster
        .node(any)
        .cli(&["CLUSTER", "KEYSLOT", "{obs}"])
        .parse()
        .unwrap();
    let from = cluster.owner_of(slot);
    let to = *cluster.master_ports().iter().find(|p| **p != from).unwrap();
    tokio::task::block_in_place(|| cluster.migrate_slot(slot, to, 10, || {}));

    let got = client.get("{obs}:k").await.unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));
    let stats = client.stats();
    assert!(stats.moved >= 1, "{stats:?}");
    assert!(stats.topology_refreshes >= 1, "{stats:?}");
    // The GET's span names the node that answered, and the redirect is an event in it.
    let get = spans("GET", to);
    assert_eq!(get.len(), 1, "{get:#?}");
    assert!(
        get[0].events.iter().any(|m| m.starts_with("MOVED")),
        "{get:#?}"
    );
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_count_operations_by_name_and_outcome() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        support::runtime().block_on(async {
            let client = Client::new(config(&server)).unwrap();
            client.set("obs:m", "x").await.unwrap();
            client.get("obs:m").await.unwrap();
            let _ = client
                .query::<i64>(cmd("LPUSH").key("obs:m").arg("y"))
                .await
                .unwrap_err();
        })
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, labels: &[(&str, &str)]| {
        snapshot.iter().find(|(key, ..)| {
            let k = key.key();
            k.name() == name
                && labels
                    .iter()
                    .all(|(l, v)| k.labels().any(|x| x.key() == *l && x.value() == *v))
        })
    };
    let get = find(
        "db.client.operation.duration",
        &[("db.operation.name", "GET"), ("db.system.name", "redis")],
    )
    .expect("a GET duration");
    assert!(matches!(&get.3, DebugValue::Histogram(v) if v.len() == 1));
    let failed = find(
        "db.client.operation.duration",
        &[("db.operation.name", "LPUSH"), ("error.type", "WRONGTYPE")],
    )
    .expect("a failed LPUSH duration");
    assert!(matches!(&failed.3, DebugValue::Histogram(v) if v.len() == 1));
    let connects = find("redis.client.connects", &[]).expect("connects");
    assert!(matches!(connects.3, DebugValue::Counter(1)));
    // The client was dropped: its connections left the count.
    let used = find(
        "db.client.connection.count",
        &[("db.client.connection.state", "used")],
    )
    .expect("connections in use");
    assert!(
        matches!(used.3, DebugValue::Gauge(g) if g.into_inner() == 0.0),
        "{used:?}"
    );
    let pending = find("redis.client.pending_requests", &[]).expect("pending");
    assert!(matches!(pending.3, DebugValue::Gauge(g) if g.into_inner() == 0.0));
}

/// The client-side cache's counts, in `Client::stats` and as `metrics` counters.
#[cfg(feature = "metrics")]
#[test]
fn cache_events_reach_the_stats_and_the_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use redis_manager::CacheConfig;

    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let stats = metrics::with_local_recorder(&recorder, || {
        support::runtime().block_on(async {
            let client = Client::new(config(&server).cache(CacheConfig::new(1 << 20))).unwrap();
            client.set("obs:c", "1").await.unwrap();
            assert_eq!(
                client.get("obs:c").await.unwrap().as_deref(),
                Some(&b"1"[..])
            );
            assert_eq!(
                client.get("obs:c").await.unwrap().as_deref(),
                Some(&b"1"[..])
            );
            // Another client's write: wait for its invalidation on the statistics.
            let other = Client::new(config(&server)).unwrap();
            other.set("obs:c", "2").await.unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while client.stats().cache_invalidations == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no invalidation arrived"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            client.stats()
        })
    });
    assert_eq!((stats.cache_hits, stats.cache_misses), (1, 1), "{stats:?}");
    assert!(stats.cache_invalidations >= 1, "{stats:?}");
    let snapshot = snapshotter.snapshot().into_vec();
    let count = |event: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                let k = key.key();
                k.name() == "redis.client.cache.events"
                    && k.labels().any(|l| l.key() == "event" && l.value() == event)
            })
            .map(|(.., v)| match v {
                DebugValue::Counter(n) => *n,
                other => panic!("{event}: {other:?}"),
            })
    };
    assert_eq!(count("hit"), Some(1));
    assert_eq!(count("miss"), Some(1));
    assert!(count("invalidation").is_some_and(|n| n >= 1));
}

#[tokio::test]
async fn connections_are_counted_by_state() {
    captured();
    let server = RedisServer::start();
    let client = Client::new(config(&server)).unwrap();
    client.ping().await.unwrap();
    let s = client.stats();
    assert_eq!((s.connections_idle, s.connections_used), (0, 1), "{s:?}");
    let mut conn = client.exclusive().await.unwrap();
    conn.query::<()>(cmd("PING")).await.unwrap();
    let s = client.stats();
    assert_eq!((s.connections_idle, s.connections_used), (0, 2), "{s:?}");
    drop(conn);
    let s = client.stats();
    assert_eq!((s.connections_idle, s.connections_used), (1, 1), "{s:?}");
    client.close();
    let s = client.stats();
    assert_eq!((s.connections_idle, s.connections_used), (0, 0), "{s:?}");
}
