//! The low-level `Subscriber` against real, private servers: channels, patterns and shard
//! channels under both protocols, resubscription after `CLIENT KILL` and after a server
//! restart, and a flood into a slow consumer (bounded buffer, counted drops, nobody blocked).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_manager::cmd::{Message, MessageKind, PubSubEvent, Subscriber};
use redis_manager::prelude::*;
use redis_manager::{Client, Config, ConfigBuilder, Pipeline, Protocol, cmd};
use support::RedisServer;

fn config(server: &RedisServer) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .response_timeout(Some(Duration::from_secs(2)))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(200))
}

/// The next event, within a bound that proves "no hang".
async fn next_event(sub: &mut Subscriber) -> PubSubEvent {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("no event within 5 s")
        .expect("subscriber closed")
        .expect("subscriber error")
}

async fn next_message(sub: &mut Subscriber) -> Message {
    match next_event(sub).await {
        PubSubEvent::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Waits for `Reconnected`, tolerating failed attempts while the server is still coming up.
async fn until_reconnected(sub: &mut Subscriber) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sub.next()).await {
            Err(_) => panic!("no Reconnected within 10 s"),
            Ok(None) => panic!("subscriber closed"),
            Ok(Some(Ok(PubSubEvent::Reconnected))) => return,
            Ok(Some(Ok(other))) => panic!("expected Reconnected first, got {other:?}"),
            // A reconnect attempt that failed: the next call tries again after a backoff.
            Ok(Some(Err(_))) => {}
        }
    }
}

#[tokio::test]
async fn channels_patterns_and_shard_channels_under_both_protocols() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let client = Client::connect(config(&server).protocol(protocol))
            .await
            .unwrap();
        let mut sub = client.subscriber().await.unwrap();
        sub.subscribe(&["news"]).await.unwrap();
        sub.psubscribe(&["alerts:*"]).await.unwrap();
        sub.ssubscribe(&["orders"]).await.unwrap();

        assert_eq!(client.publish("news", "n1").await.unwrap(), 1);
        let m = next_message(&mut sub).await;
        assert_eq!(
            (m.kind, &m.channel[..], &m.payload[..], m.pattern),
            (MessageKind::Channel, &b"news"[..], &b"n1"[..], None)
        );

        assert_eq!(client.publish("alerts:disk", "a1").await.unwrap(), 1);
        let m = next_message(&mut sub).await;
        assert_eq!(m.kind, MessageKind::Pattern);
        assert_eq!(m.channel_str(), "alerts:disk");
        assert_eq!(m.pattern, Some(Bytes::from_static(b"alerts:*")));
        assert_eq!(m.payload_str().unwrap(), "a1");

        assert_eq!(client.spublish("orders", "o1").await.unwrap(), 1);
        let m = next_message(&mut sub).await;
        assert_eq!(m.kind, MessageKind::Shard);
        assert_eq!(
            (&m.channel[..], &m.payload[..]),
            (&b"orders"[..], &b"o1"[..])
        );

        // Binary payloads come through untouched; JSON decodes.
        client.publish("news", &b"\x00\xff\r\n"[..]).await.unwrap();
        assert_eq!(&next_message(&mut sub).await.payload[..], b"\x00\xff\r\n");
        client.publish("news", r#"{"n": 5}"#).await.unwrap();
        let v: serde_json::Value = next_message(&mut sub).await.json().unwrap();
        assert_eq!(v["n"], 5);

        // Unsubscribing stops delivery of that kind only.
        sub.unsubscribe(&["news"]).await.unwrap();
        sub.punsubscribe(&["alerts:*"]).await.unwrap();
        assert_eq!(client.publish("news", "gone").await.unwrap(), 0);
        assert_eq!(client.publish("alerts:x", "gone").await.unwrap(), 0);
        client.spublish("orders", "o2").await.unwrap();
        assert_eq!(&next_message(&mut sub).await.payload[..], b"o2");
        sub.sunsubscribe(&["orders"]).await.unwrap();
        assert_eq!(client.spublish("orders", "gone").await.unwrap(), 0);

        sub.close();
        assert!(sub.next().await.is_none(), "closed subscribers end");
    }
}

#[tokio::test]
async fn client_kill_is_followed_by_reconnected_and_every_subscription_restored() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server)).await.unwrap();
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["c1", "c2"]).await.unwrap();
    sub.psubscribe(&["p:*"]).await.unwrap();
    sub.ssubscribe(&["s1"]).await.unwrap();

    assert_eq!(server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]), "1");
    until_reconnected(&mut sub).await;
    // Confirmed before Reconnected was reported: every publish now reaches it.
    assert_eq!(client.publish("c1", "1").await.unwrap(), 1);
    assert_eq!(client.publish("c2", "2").await.unwrap(), 1);
    assert_eq!(client.publish("p:x", "3").await.unwrap(), 1);
    assert_eq!(client.spublish("s1", "4").await.unwrap(), 1);
    let mut payloads = Vec::new();
    for _ in 0..4 {
        payloads.push(next_message(&mut sub).await.payload);
    }
    assert_eq!(
        payloads,
        ["1", "2", "3", "4"].map(|s| Bytes::from_static(s.as_bytes()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_followed_by_reconnected_then_messages_flow() {
    let mut server = RedisServer::start();
    let client = Client::connect(config(&server)).await.unwrap();
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["r"]).await.unwrap();
    assert_eq!(client.publish("r", "before").await.unwrap(), 1);
    assert_eq!(&next_message(&mut sub).await.payload[..], b"before");

    server.kill();
    // Reading while the server is down: failed attempts, no hang, no panic.
    let down = tokio::time::timeout(Duration::from_millis(500), sub.next()).await;
    if let Ok(Some(Ok(e))) = &down {
        panic!("nothing to report while down, got {e:?}");
    }
    server.restart();
    until_reconnected(&mut sub).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.publish("r", "after").await {
            Ok(1) => break,
            _ if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("publisher did not recover: {other:?}"),
        }
    }
    assert_eq!(&next_message(&mut sub).await.payload[..], b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_into_a_slow_consumer_is_bounded_counted_and_blocks_nobody() {
    const CAPACITY: usize = 16;
    const SENT: usize = 5_000;
    let server = RedisServer::start();
    let publisher = Client::connect(config(&server)).await.unwrap();
    let other = Client::connect(config(&server)).await.unwrap();
    let mut sub = publisher.subscriber_with_capacity(CAPACITY).await.unwrap();
    sub.subscribe(&["flood"]).await.unwrap();

    // The consumer reads nothing while 5000 messages are published in pipelines of 500.
    let started = Instant::now();
    for batch in 0..SENT / 500 {
        let mut p = Pipeline::new();
        for i in 0..500 {
            p.add(
                cmd("PUBLISH")
                    .arg("flood")
                    .arg(format!("{:05}", batch * 500 + i)),
            );
        }
        let receivers: Vec<i64> = p.query(&publisher).await.unwrap();
        assert!(receivers.iter().all(|&n| n == 1));
        // Others are served meanwhile.
        tokio::time::timeout(Duration::from_secs(2), other.ping())
            .await
            .expect("another client is not blocked by the flood")
            .unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "publishing never waits for the consumer"
    );
    // Let the last messages reach the subscriber's connection.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // First the loss is reported, then the buffered messages, oldest first.
    let dropped = match next_event(&mut sub).await {
        PubSubEvent::Lagged { dropped } => dropped,
        other => panic!("expected Lagged first, got {other:?}"),
    };
    let mut received = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        match event.unwrap() {
            PubSubEvent::Message(m) => received.push(m.payload),
            PubSubEvent::Lagged { dropped: more } => {
                panic!("no more drops after the flood, got {more}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        received.len() <= CAPACITY,
        "memory bounded: {} buffered with capacity {CAPACITY}",
        received.len()
    );
    assert!(!received.is_empty());
    assert_eq!(
        dropped as usize + received.len(),
        SENT,
        "every message is accounted for"
    );
    assert_eq!(sub.dropped(), dropped);
    // The oldest are kept (new ones are dropped when full), in order.
    assert!(received.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(&received[0][..], b"00000");

    // Once drained, delivery is normal again.
    publisher.publish("flood", "fresh").await.unwrap();
    assert_eq!(&next_message(&mut sub).await.payload[..], b"fresh");
}

/// Subscription confirmations arrive as pushes, outside any request's response timeout: a
/// frozen server must still not hold `subscribe` forever, and the subscription asked for must
/// be in place once the server answers again.
#[tokio::test]
async fn subscribe_to_a_frozen_server_times_out_then_recovers() {
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(300);
    let client = Client::connect(config(&server).response_timeout(Some(timeout)))
        .await
        .unwrap();
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["before"]).await.unwrap();
    server.pause();
    let started = Instant::now();
    let frozen = tokio::time::timeout(Duration::from_secs(5), sub.subscribe(&["during"]))
        .await
        .expect("subscribe to a frozen server hung");
    assert!(
        matches!(frozen, Err(redis_manager::Error::Timeout { after, sent: true }) if after == timeout),
        "{frozen:?}"
    );
    assert!(started.elapsed() >= timeout);
    server.resume();
    until_reconnected(&mut sub).await;
    assert_eq!(client.publish("before", "1").await.unwrap(), 1);
    assert_eq!(client.publish("during", "2").await.unwrap(), 1);
    assert_eq!(&next_message(&mut sub).await.payload[..], b"1");
    assert_eq!(&next_message(&mut sub).await.payload[..], b"2");
}

/// A client pinging after 200 ms of silence and waiting 300 ms for answers, its subscriber on
/// channel `c`, and then the server frozen with SIGSTOP.
async fn subscribed_then_frozen(server: &mut RedisServer) -> (Client, Subscriber) {
    let client = Client::connect(
        config(server)
            .response_timeout(Some(Duration::from_millis(300)))
            .subscriber_ping_interval(Some(Duration::from_millis(200))),
    )
    .await
    .unwrap();
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["c"]).await.unwrap();
    server.pause();
    (client, sub)
}

/// A subscriber only reads: without a health check a connection that stopped answering would
/// go unnoticed for as long as the kernel's keepalive takes. An idle subscriber pings, and
/// reconnects when the `PING` goes unanswered.
#[tokio::test]
async fn an_idle_subscriber_notices_a_frozen_server_and_resubscribes() {
    let mut server = RedisServer::start();
    let (client, mut sub) = subscribed_then_frozen(&mut server).await;
    // PING after 200 ms of silence, no PONG within 300 ms: the subscriber reconnects, and
    // that attempt fails (within the 2 s connect timeout) while the server is frozen.
    let noticed = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("the subscriber did not notice the frozen server");
    assert!(matches!(noticed, Some(Err(_))), "{noticed:?}");
    server.resume();
    until_reconnected(&mut sub).await;
    assert_eq!(client.publish("c", "after").await.unwrap(), 1);
    assert_eq!(&next_message(&mut sub).await.payload[..], b"after");
}

/// The answer to a health-check `PING` can arrive while a `subscribe` waits for its
/// confirmation; it still counts, and the connection is kept. (It used to be dropped there, and
/// the check then took the connection for dead.)
#[tokio::test]
async fn a_pong_read_by_a_subscribe_still_counts() {
    let mut server = RedisServer::start();
    let client = Client::connect(
        config(&server)
            .response_timeout(Some(Duration::from_secs(1)))
            .subscriber_ping_interval(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap();
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["c"]).await.unwrap();
    // Frozen, so that the PING sent after 100 ms of silence stays unanswered until the
    // SUBSCRIBE below is waiting.
    server.pause();
    let waited = tokio::time::timeout(Duration::from_millis(250), sub.next()).await;
    assert!(waited.is_err(), "{waited:?}");
    let resume = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.resume();
    };
    let (subscribed, ()) = tokio::join!(sub.subscribe(&["d"]), resume);
    subscribed.unwrap();
    // The PONG came before the confirmation: no reconnect follows.
    let idle = tokio::time::timeout(Duration::from_millis(1800), sub.next()).await;
    assert!(idle.is_err(), "{idle:?}");
    assert_eq!(client.publish("d", "x").await.unwrap(), 1);
    assert_eq!(&next_message(&mut sub).await.payload[..], b"x");
}

/// The health check's `PING`s and `PONG`s stay inside the subscriber: an idle, healthy
/// connection reports nothing and is kept.
#[tokio::test]
async fn health_pings_are_invisible_on_a_healthy_connection() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let client = Client::connect(
            config(&server)
                .protocol(protocol)
                .subscriber_ping_interval(Some(Duration::from_millis(50))),
        )
        .await
        .unwrap();
        let mut sub = client.subscriber().await.unwrap();
        sub.subscribe(&["quiet"]).await.unwrap();
        let idle = tokio::time::timeout(Duration::from_millis(700), sub.next()).await;
        assert!(idle.is_err(), "{protocol:?}: {idle:?}");
        let pings: i64 = server
            .cli(&["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            pings >= 5,
            "{protocol:?}: only {pings} PINGs reached the server"
        );
        assert_eq!(client.publish("quiet", "x").await.unwrap(), 1);
        assert_eq!(&next_message(&mut sub).await.payload[..], b"x");
        server.cli(&["CONFIG", "RESETSTAT"]);
    }
}

/// The health check's clock runs across `next()` calls: a consumer that polls with short
/// timeouts (a `select!` with a tick, a `timeout` in a loop) still has its connection checked.
#[tokio::test]
async fn health_checks_run_although_next_is_cancelled_again_and_again() {
    let mut server = RedisServer::start();
    let (client, mut sub) = subscribed_then_frozen(&mut server).await;
    // Each call gives up after 50 ms, well before the 200 ms ping interval.
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        if let Ok(event) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
            assert!(matches!(event, Some(Err(_))), "{event:?}");
        }
    }
    server.resume();
    // The unanswered PING gave the connection up: the subscriber reconnects.
    until_reconnected(&mut sub).await;
    assert_eq!(client.publish("c", "back").await.unwrap(), 1);
    assert_eq!(&next_message(&mut sub).await.payload[..], b"back");
}
