//! `PubSubManager` against real, private servers: JSON round trip, handlers that fail or
//! panic and payloads that do not decode (logged, later messages still handled), stopping,
//! and resubscription after the server kills the connection.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_manager::manager::PubSubManager;
use redis_manager::prelude::*;
use redis_manager::{Client, Config, ConfigBuilder, Error, RedisManager};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::RedisServer;
use tokio::sync::mpsc;

fn config(server: &RedisServer) -> ConfigBuilder {
    server.config()
}

async fn client(server: &RedisServer) -> Client {
    server.client().await
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no message within 5 s")
        .expect("handler gone")
}

/// Publishes until someone receives it (a subscription being restored), within 10 s.
async fn publish_until_received(pubsub: &PubSubManager, channel: &str, msg: &Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pubsub.publish(channel, msg).await == 0 {
        assert!(
            Instant::now() < deadline,
            "nobody resubscribed to {channel}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Notification {
    kind: String,
    user_id: u64,
    timestamp: f64,
    tags: Vec<String>,
}

#[tokio::test]
async fn typed_json_round_trips_through_a_manager() {
    let server = RedisServer::start();
    let m = RedisManager::new(config(&server));
    assert!(m.initialize().await);
    let pubsub = PubSubManager::new(&m);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = pubsub
        .subscribe(
            &["notifications", "alerts"],
            move |channel: String, n: Notification| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((channel, n));
                }
            },
        )
        .await
        .unwrap();
    let sent = Notification {
        kind: "user_login".into(),
        user_id: 123,
        timestamp: 1_700_000_000.25,
        tags: vec!["ünïcode".into(), "\"quoted\"".into()],
    };
    assert_eq!(pubsub.publish("notifications", &sent).await, 1);
    assert_eq!(
        recv(&mut rx).await,
        ("notifications".to_string(), sent.clone())
    );
    assert_eq!(pubsub.publish("alerts", &sent).await, 1);
    assert_eq!(recv(&mut rx).await.0, "alerts");
    assert_eq!(pubsub.publish("elsewhere", &sent).await, 0);
    sub.stop().await;
}

/// A `tracing` writer that keeps everything written, to search the log afterwards.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime: every task runs on this thread, where the log capture is set.
#[tokio::test]
async fn failing_and_panicking_handlers_and_bad_payloads_do_not_stop_the_subscription() {
    let log = Captured::default();
    let writer = log.clone();
    // A second registered dispatcher with the same filter, so that a call site first
    // reached on another test's thread is not cached as "never" for the whole process
    // (`tracing` asks only that thread's dispatcher while a single one is registered).
    let _anchor = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish(),
    );
    let _capture = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let server = RedisServer::start();
    let c = client(&server).await;
    let pubsub = PubSubManager::from_client(c.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = pubsub
        .subscribe(&["jobs"], move |_channel, data: Value| {
            let tx = tx.clone();
            async move {
                match data["action"].as_str() {
                    Some("fail") => return Err(format!("job {} failed", data["id"])),
                    Some("panic") => panic!("handler bug"),
                    _ => {}
                }
                let _ = tx.send(data["id"].as_i64());
                Ok(())
            }
        })
        .await
        .unwrap();
    pubsub.publish("jobs", &json!({"id": 1})).await;
    pubsub
        .publish("jobs", &json!({"id": 2, "action": "fail"}))
        .await;
    c.publish("jobs", "not json: secret-payload").await.unwrap();
    pubsub
        .publish("jobs", &json!({"id": 3, "action": "panic"}))
        .await;
    pubsub.publish("jobs", &json!({"id": 4})).await;
    pubsub.publish("jobs", &json!({"id": "five"})).await;
    assert_eq!(recv(&mut rx).await, Some(1));
    // 2 failed, the raw payload did not decode, 3 panicked: 4 is still handled, in order.
    assert_eq!(recv(&mut rx).await, Some(4));
    assert_eq!(recv(&mut rx).await, None);
    sub.stop().await;

    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("job 2 failed"), "handler error logged:\n{log}");
    assert!(log.contains("panicked"), "handler panic logged:\n{log}");
    assert!(
        log.contains("not valid JSON"),
        "decode error logged:\n{log}"
    );
    assert!(
        !log.contains("secret-payload"),
        "payloads are never logged:\n{log}"
    );
}

#[tokio::test]
async fn stop_unsubscribes_and_no_handler_runs_afterwards() {
    let server = RedisServer::start();
    let pubsub = PubSubManager::from_client(client(&server).await);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = pubsub
        .subscribe(&["s"], move |_c, v: Value| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
            }
        })
        .await
        .unwrap();
    assert_eq!(pubsub.publish("s", &1).await, 1);
    assert_eq!(recv(&mut rx).await, json!(1));
    assert!(!sub.is_finished());
    tokio::time::timeout(Duration::from_secs(5), sub.stop())
        .await
        .expect("stop returns");
    // Once stop returns the server has confirmed the unsubscribe: no subscriber is left.
    assert_eq!(
        pubsub.publish("s", &2).await,
        0,
        "still subscribed after stop"
    );
    // The handler (and with it the sender) is gone.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn dropping_the_subscription_stops_it() {
    let server = RedisServer::start();
    let pubsub = PubSubManager::from_client(client(&server).await);
    let sub = pubsub
        .subscribe(&["d"], |_c, _v: Value| async {})
        .await
        .unwrap();
    assert_eq!(pubsub.publish("d", &0).await, 1);
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pubsub.publish("d", &0).await != 0 {
        assert!(Instant::now() < deadline, "still subscribed after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_come_back_after_client_kill() {
    let server = RedisServer::start();
    let pubsub = PubSubManager::from_client(client(&server).await);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    let sub = pubsub
        .subscribe(&["k"], move |c, v: Value| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((c, v));
            }
        })
        .await
        .unwrap();
    let psub = pubsub
        .psubscribe(&["events:*"], move |c, v: Value| {
            let tx = tx2.clone();
            async move {
                let _ = tx.send((c, v));
            }
        })
        .await
        .unwrap();
    assert_eq!(pubsub.publish("k", &"before").await, 1);
    assert_eq!(recv(&mut rx).await.1, json!("before"));

    let killed = server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, "2");
    publish_until_received(&pubsub, "k", &json!("after")).await;
    publish_until_received(&pubsub, "events:login", &json!("pattern after")).await;
    // Messages published while nobody was subscribed are lost; these arrive.
    let mut got = Vec::new();
    while got.len() < 2 {
        let (c, v) = recv(&mut rx).await;
        got.push((c, v));
    }
    assert!(got.contains(&("k".into(), json!("after"))), "{got:?}");
    assert!(
        got.contains(&("events:login".into(), json!("pattern after"))),
        "{got:?}"
    );
    sub.stop().await;
    psub.stop().await;
}

#[tokio::test]
async fn without_redis_publish_returns_zero_and_subscribe_fails() {
    let off = RedisManager::new(Config::builder().enabled(false));
    let pubsub = PubSubManager::new(&off);
    assert_eq!(pubsub.publish("c", &json!({"a": 1})).await, 0);
    let e = pubsub
        .subscribe(&["c"], |_c, _v: Value| async {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Closed), "{e:?}");

    let mut server = RedisServer::start();
    let c = client(&server).await;
    server.kill();
    let pubsub = PubSubManager::from_client(c);
    let started = Instant::now();
    assert_eq!(pubsub.publish("c", &1).await, 0);
    assert!(
        pubsub
            .subscribe(&["c"], |_c, _v: Value| async {})
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A value that cannot be encoded as JSON: 0, nothing sent.
    let mut bad = std::collections::HashMap::new();
    bad.insert(vec![1u8], 1);
    assert_eq!(pubsub.publish("c", &bad).await, 0);
}

/// A subscription asked of a manager while Redis is down is not refused: it starts when Redis
/// comes back, says it started late, and delivers what is published from then on.
#[tokio::test]
async fn a_subscription_asked_for_while_redis_is_down_starts_when_it_returns() {
    let mut server = RedisServer::start();
    let m = RedisManager::new(
        config(&server).reconnect_delays(Duration::from_millis(20), Duration::from_millis(200)),
    );
    assert!(m.initialize().await);
    server.stop();
    let pubsub = PubSubManager::new(&m);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = pubsub
        .subscribe(&["late"], move |c, v: Value| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((c, v));
            }
        })
        .await
        .expect("a subscription asked for while Redis is down waits for it");
    let psub = pubsub
        .psubscribe(&["late:*"], |_c, _v: Value| async {})
        .await
        .expect("a pattern subscription waits too");
    assert!(!sub.is_started() && !sub.started_late());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sub.is_started(), "started while Redis was down");

    server.restart();
    publish_until_received(&pubsub, "late", &json!({"n": 1})).await;
    assert_eq!(recv(&mut rx).await, ("late".to_owned(), json!({"n": 1})));
    assert!(sub.is_started() && sub.started_late());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !psub.started_late() {
        assert!(
            Instant::now() < deadline,
            "the pattern subscription never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sub.stop().await;
    psub.stop().await;

    // Stopped while still pending: the task ends without subscribing.
    server.stop();
    let pending = pubsub
        .subscribe(&["never"], |_c, _v: Value| async {})
        .await
        .unwrap();
    pending.stop().await;
}
