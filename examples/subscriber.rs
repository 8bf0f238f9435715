//! The low-level subscriber: a dedicated connection that yields every message, says when it
//! reconnected (messages published meanwhile are lost) and when a slow consumer dropped
//! messages, and re-subscribes by itself after a reconnect.
//!
//! ```text
//! cargo run --example subscriber
//! ```
//!
//! It uses the Redis the environment points to (`REDIS_URL`, `REDIS_HOST`/`REDIS_PORT`,
//! `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`), or starts a private `redis-server` for the run
//! (see `examples/common`). The manager's `PubSubManager` (the `pubsub` example) is built
//! on this subscriber.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use redis_manager::cmd::{MessageKind, PubSubEvent};
use redis_manager::prelude::*;
use redis_manager::{Client, Result, cmd};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    if demo.source == common::Source::Fallback {
        println!("No Redis to subscribe to.");
        return;
    }
    let client = Client::connect(demo.config.clone())
        .await
        .expect("the server answered a moment ago");
    if let Err(e) = run(&client).await {
        println!("Error: {e}");
    }
}

async fn run(client: &Client) -> Result<()> {
    let mut subscriber = client.subscriber().await?;
    // Each call returns once the server confirmed the subscription.
    subscriber.subscribe(&["example:orders"]).await?;
    subscriber.psubscribe(&["example:audit:*"]).await?;

    // A publisher on the client's ordinary (shared) connection.
    let publisher = client.clone();
    let publishing = tokio::spawn(async move {
        for (channel, payload) in [
            ("example:orders", "order 1 placed"),
            ("example:audit:login", "user 7 logged in"),
            ("example:orders", "order 1 shipped"),
            ("example:ignored", "nobody listens here"),
        ] {
            let receivers = publisher.publish(channel, payload).await?;
            println!("PUBLISH {channel} -> {receivers} receiver(s)");
        }
        // Cut the subscriber's connection: it reconnects and re-subscribes by itself.
        let killed: i64 = publisher
            .query(cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))
            .await?;
        println!("CLIENT KILL TYPE pubsub -> {killed} connection(s) cut");
        // Publish until the re-subscribed connection receives again. (On a cluster, PUBLISH
        // counts the receivers of the node it reached only, and the KILL reached one node.)
        for n in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let receivers = publisher
                .publish("example:orders", format!("order {n} after the cut"))
                .await?;
            if receivers > 0 || killed == 0 {
                break;
            }
        }
        Ok::<_, redis_manager::Error>(())
    });

    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
        .await
        .ok()
        .flatten()
    {
        match event? {
            PubSubEvent::Message(m) => {
                let via = match m.kind {
                    MessageKind::Pattern => format!(
                        "pattern {}",
                        String::from_utf8_lossy(m.pattern.as_deref().unwrap_or_default())
                    ),
                    _ => "channel".to_owned(),
                };
                let payload = m.payload_str()?;
                println!("got {payload:?} on {} ({via})", m.channel_str());
                if payload.ends_with("after the cut") {
                    break;
                }
            }
            PubSubEvent::Reconnected => {
                println!("reconnected and re-subscribed: messages sent meanwhile are lost");
            }
            PubSubEvent::Lagged { dropped } => println!("fell behind: {dropped} dropped"),
            other => println!("{other:?}"),
        }
    }
    publishing.await.expect("the publisher did not panic")?;
    subscriber.unsubscribe_all().await?;
    println!(
        "unsubscribed; {} message(s) dropped in all",
        subscriber.dropped()
    );
    Ok(())
}
