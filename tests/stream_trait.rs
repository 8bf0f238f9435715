//! `Subscriber` and `ScanStream` as `futures_core::Stream` (`into_stream`) against a real,
//! private server: `futures-util` and `tokio-stream` combinators, `select!` cancelling
//! `stream.next()` without losing items, and getting the source back.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use redis_manager::cmd::PubSubEvent;
use redis_manager::prelude::*;
use redis_manager::{Pipeline, ScanOptions, cmd};
use support::RedisServer;

/// The payload of a message event, `None` for any other event.
fn payload(event: redis_manager::Result<PubSubEvent>) -> Option<Bytes> {
    match event.expect("subscriber error") {
        PubSubEvent::Message(m) => Some(m.payload),
        _ => None,
    }
}

#[tokio::test]
async fn scan_stream_works_with_futures_util_combinators() {
    let server = RedisServer::start();
    let client = server.client().await;
    let mut pipe = Pipeline::new();
    for i in 0..500 {
        pipe.add(cmd("SET").arg(format!("user:{i}")).arg(i));
        pipe.add(cmd("SET").arg(format!("other:{i}")).arg(i));
    }
    pipe.execute(&client).await.unwrap();

    // Small batches, so that the stream fetches many times while the combinators pull.
    let options = ScanOptions::default().pattern("user:*").count(20);
    let keys: BTreeSet<Bytes> = client
        .scan(options.clone())
        .into_stream()
        .map(|key| key.expect("scan error"))
        .collect()
        .await;
    let expected: BTreeSet<Bytes> = (0..500).map(|i| format!("user:{i}").into()).collect();
    assert_eq!(keys, expected);

    // take() stops early; the scan resumes through into_inner where the stream left off.
    let mut stream = client.scan(options).into_stream();
    let first: Vec<Bytes> = stream.by_ref().take(7).map(Result::unwrap).collect().await;
    assert_eq!(first.len(), 7);
    let rest = stream.into_inner().try_collect().await.unwrap();
    let all: BTreeSet<Bytes> = first.into_iter().chain(rest).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn scan_stream_errors_come_through_the_stream() {
    let server = RedisServer::start();
    let client = server.client().await;
    client
        .query::<()>(cmd("SET").arg("s").arg("v"))
        .await
        .unwrap();
    let items: Vec<_> = client
        .sscan("s", ScanOptions::default())
        .into_stream()
        .collect()
        .await;
    assert_eq!(items.len(), 1, "one error, then the end: {items:?}");
    let err = items.into_iter().next().unwrap().unwrap_err().to_string();
    assert!(err.contains("WRONGTYPE"), "{err}");
}

#[tokio::test]
async fn subscriber_stream_with_tokio_stream_and_select() {
    let server = RedisServer::start();
    let client = server.client().await;
    let mut a = client.subscriber().await.unwrap();
    a.subscribe(&["a"]).await.unwrap();
    let mut b = client.subscriber().await.unwrap();
    b.subscribe(&["b"]).await.unwrap();

    // tokio-stream's merge and timeout over two subscribers.
    let merged = tokio_stream::StreamExt::merge(a.into_stream(), b.into_stream());
    let mut merged = std::pin::pin!(tokio_stream::StreamExt::timeout(
        merged,
        Duration::from_secs(5)
    ));
    for i in 0..3 {
        client.publish("a", format!("a{i}")).await.unwrap();
        client.publish("b", format!("b{i}")).await.unwrap();
    }
    let mut got = BTreeSet::new();
    while got.len() < 6 {
        let event = merged
            .next()
            .await
            .expect("stream ended")
            .expect("timed out");
        got.extend(payload(event));
    }
    let want: BTreeSet<Bytes> = ["a0", "a1", "a2", "b0", "b1", "b2"]
        .into_iter()
        .map(Bytes::from)
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn select_cancelling_next_loses_nothing_and_the_subscriber_comes_back() {
    let server = RedisServer::start();
    let client = server.client().await;
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["c"]).await.unwrap();
    let mut stream = sub.into_stream();

    // Many select!s in which the timer wins, each dropping a stream.next() in progress.
    let mut ticks = 0;
    while ticks < 20 {
        tokio::select! {
            event = stream.next() => panic!("nothing was published yet: {event:?}"),
            () = tokio::time::sleep(Duration::from_millis(5)) => ticks += 1,
        }
    }
    client.publish("c", "one").await.unwrap();
    client.publish("c", "two").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        tokio::select! {
            event = stream.next() => got.extend(payload(event.expect("stream ended"))),
            () = tokio::time::sleep(Duration::from_secs(5)) => panic!("timed out after {got:?}"),
        }
    }
    assert_eq!(got, [Bytes::from("one"), Bytes::from("two")]);

    // get_mut reaches the subscriber between items: subscribe to one more channel.
    stream.get_mut().subscribe(&["d"]).await.unwrap();
    client.publish("d", "three").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("timed out")
        .expect("stream ended");
    assert_eq!(payload(event), Some(Bytes::from("three")));

    // The stream ends when the subscriber is closed.
    stream.get_mut().close();
    assert!(stream.next().await.is_none());
}
