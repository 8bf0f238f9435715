//! Streams with consumer groups: a producer appends jobs, two workers of one group share
//! them, one worker "crashes" before acknowledging, and the other takes its jobs over.
//!
//! ```text
//! cargo run --example streams
//! ```
//!
//! It uses the Redis the environment points to (`REDIS_URL`, `REDIS_HOST`/`REDIS_PORT`,
//! `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`), or starts a private `redis-server` for the run
//! (see `examples/common`). The keys it writes (`example:jobs`) are deleted at the end.
//!
//! The commands: `XGROUP CREATE ... MKSTREAM`, `XADD`, `XREADGROUP` (new entries with `>`,
//! a consumer's own pending ones with `0`), `XACK`, `XPENDING` (summary and per entry),
//! `XCLAIM` and `XAUTOCLAIM`.
#![allow(clippy::print_stdout)]

mod common;

use std::time::Duration;

use redis_manager::cmd::{StreamEntry, XAddOptions, XPendingOptions, XReadOptions};
use redis_manager::prelude::*;
use redis_manager::{Client, Result};

const STREAM: &str = "example:jobs";
const GROUP: &str = "workers";

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    if demo.source == common::Source::Fallback {
        println!("No Redis to show streams on.");
        return;
    }
    let client = Client::connect(demo.config.clone())
        .await
        .expect("the server answered a moment ago");
    if let Err(e) = run(&client).await {
        println!("Error: {e}");
    }
    let _ = client.del(&[STREAM]).await;
}

fn describe(entry: &StreamEntry) -> String {
    let job = entry
        .get("job")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    format!("{} ({job})", entry.id)
}

async fn run(client: &Client) -> Result<()> {
    client.del(&[STREAM]).await?;
    // The group reads from the start of the stream ("0"); MKSTREAM creates the empty stream.
    client.xgroup_create_mkstream(STREAM, GROUP, "0").await?;

    // The producer: entries capped near 10,000 (approximate trimming is cheap).
    for job in [
        "resize a.png",
        "resize b.png",
        "send mail",
        "bill account 7",
    ] {
        let id = client
            .xadd_with(
                STREAM,
                &[("job", job)],
                &XAddOptions::new().maxlen_approx(10_000),
            )
            .await?;
        println!("XADD {id}: {job}");
    }

    // Two workers read new entries (">"): each entry goes to one of them.
    let read = XReadOptions::new().count(2);
    let w1 = client
        .xreadgroup(GROUP, "w1", &[(STREAM, ">")], &read)
        .await?;
    let w2 = client
        .xreadgroup(GROUP, "w2", &[(STREAM, ">")], &read)
        .await?;
    let w1_entries: Vec<StreamEntry> = w1.into_iter().flat_map(|b| b.entries).collect();
    let w2_entries: Vec<StreamEntry> = w2.into_iter().flat_map(|b| b.entries).collect();
    for e in &w1_entries {
        println!("w1 got {}", describe(e));
    }
    for e in &w2_entries {
        println!("w2 got {}", describe(e));
    }

    // w1 finishes its jobs and acknowledges them; w2 "crashes" without acknowledging.
    let ids: Vec<&str> = w1_entries.iter().map(|e| e.id.as_str()).collect();
    let acked = client.xack(STREAM, GROUP, &ids).await?;
    println!("w1 XACK -> {acked} acknowledged");

    // What is delivered and not acknowledged, per consumer.
    let summary = client.xpending(STREAM, GROUP).await?;
    println!(
        "XPENDING: {} pending, per consumer {:?}",
        summary.count, summary.consumers
    );
    for p in client
        .xpending_range(STREAM, GROUP, &XPendingOptions::new(10))
        .await?
    {
        println!(
            "  {} held by {} for {:?}, delivered {} time(s)",
            p.id, p.consumer, p.idle, p.deliveries
        );
    }

    // A restarted w2 first re-reads its own pending entries (id "0" instead of ">").
    let mine = client
        .xreadgroup(GROUP, "w2", &[(STREAM, "0")], &XReadOptions::new())
        .await?;
    let count: usize = mine.iter().map(|b| b.entries.len()).sum();
    println!("w2 after a restart: {count} entries of its own still pending");

    // Or, if w2 never comes back, w1 takes over what has been idle long enough: XCLAIM
    // by id...
    tokio::time::sleep(Duration::from_millis(20)).await;
    let first = &w2_entries[..1.min(w2_entries.len())];
    let ids: Vec<&str> = first.iter().map(|e| e.id.as_str()).collect();
    if !ids.is_empty() {
        let claimed = client
            .xclaim(STREAM, GROUP, "w1", Duration::from_millis(10), &ids)
            .await?;
        for e in &claimed {
            println!("w1 XCLAIM {}", describe(e));
        }
    }
    // ... or XAUTOCLAIM, which scans the pending list page by page.
    let mut start = "0-0".to_string();
    loop {
        let page = client
            .xautoclaim(
                STREAM,
                GROUP,
                "w1",
                Duration::from_millis(10),
                &start,
                Some(10),
            )
            .await?;
        for e in &page.claimed {
            println!("w1 XAUTOCLAIM {}", describe(e));
        }
        if page.next == "0-0" {
            break;
        }
        start = page.next;
    }
    // w1 works through everything it now holds, and acknowledges it.
    let held = client
        .xreadgroup(GROUP, "w1", &[(STREAM, "0")], &XReadOptions::new())
        .await?;
    let ids: Vec<String> = held
        .into_iter()
        .flat_map(|b| b.entries)
        .map(|e| e.id)
        .collect();
    let acked = client.xack(STREAM, GROUP, &ids).await?;
    println!("w1 XACK -> {acked} acknowledged");
    let summary = client.xpending(STREAM, GROUP).await?;
    println!("XPENDING: {} pending", summary.count);
    Ok(())
}
