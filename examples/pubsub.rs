//! The seed's "Pub/Sub Messaging" section: JSON notifications published and handled by an
//! async function, which keeps going after a handler error or a message that is not JSON.
//!
//! ```text
//! cargo run --example pubsub
//! ```
//!
//! Without Redis, `publish` returns 0 (the manager's fallback) and `subscribe` reports that
//! Redis is unavailable.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use redis_manager::RedisManager;
use redis_manager::manager::PubSubManager;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    // Handler and decode errors are logged through `tracing`: print them.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

/// The section, also run by `examples/tour.rs`.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- pub/sub messaging");
    let pubsub = PubSubManager::new(redis);
    let channel = format!("notifications:{}", std::process::id());

    // The seed's `handle_notification`, returning an error for one kind of message to show
    // that the subscription goes on (the error is logged through `tracing`).
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let handle_notification = move |channel: String, data: Value| {
        let done = done_tx.clone();
        async move {
            if data["type"] == "bad" {
                return Err(format!("cannot handle {}", data["type"]));
            }
            println!("Received notification on {channel}: {data}");
            let _ = done.send(());
            Ok(())
        }
    };
    let subscription = match pubsub.subscribe(&[&channel], handle_notification).await {
        Ok(s) => s,
        Err(e) => {
            println!(
                "subscribe failed ({e}); publish returns {}",
                pubsub.publish(&channel, &json!({})).await
            );
            return;
        }
    };

    let unix_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    for message in [
        json!({"type": "user_login", "user_id": 123, "timestamp": unix_time}),
        json!({"type": "bad"}),
        json!({"type": "user_logout", "user_id": 123, "timestamp": unix_time}),
    ] {
        let receivers = pubsub.publish(&channel, &message).await;
        println!("published {} to {receivers} subscriber(s)", message["type"]);
    }
    for _ in 0..2 {
        if tokio::time::timeout(Duration::from_secs(5), done_rx.recv())
            .await
            .is_err()
        {
            println!("a notification did not arrive within 5 s");
        }
    }
    subscription.stop().await;
    println!(
        "stopped; subscribers left on the channel: {}",
        pubsub.publish(&channel, &json!({"type": "late"})).await
    );
}
