//! The README's demo: a tour of every section of the seed document (`redis-manager-api.md`).
//!
//! ```text
//! cargo run --example tour
//! ```
//!
//! No setup: it uses the Redis the environment points to (`REDIS_URL`, or
//! `REDIS_HOST`/`REDIS_PORT`, or a cluster through `REDIS_CLUSTER_NODES`, or a master through
//! `REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`), and says which; if none answers (it says
//! so) and `redis-server` is on `PATH`, it starts a private one on a free port for the run and
//! stops it at the end; with neither, every section still runs and shows the graceful
//! fallback (operations returning their defaults).
//!
//! Each section is the `run` function of the example of the same name, so
//! `cargo run --example caching` (and so on) shows one section alone.
#![allow(clippy::print_stdout)]
// Each section file is also a standalone example and declares `mod common` for its own
// `main`, so the tour compiles that small helper once per section: harmless duplication.
#![allow(clippy::duplicate_mod)]

mod common;

// The sections. Their own `main` functions are unused here.
#[allow(dead_code)]
#[path = "basic_operations.rs"]
mod basic_operations;
#[allow(dead_code)]
#[path = "caching.rs"]
mod caching;
#[allow(dead_code)]
#[path = "error_handling.rs"]
mod error_handling;
#[allow(dead_code)]
#[path = "json.rs"]
mod json;
#[allow(dead_code)]
#[path = "locking.rs"]
mod locking;
#[allow(dead_code)]
#[path = "pubsub.rs"]
mod pubsub;
#[allow(dead_code)]
#[path = "sessions.rs"]
mod sessions;

use std::time::Duration;

use redis_manager::RedisManager;
use redis_manager::manager::RateLimiter;

#[tokio::main]
async fn main() {
    println!("redis-manager tour: the seed document, section by section\n");
    let demo = common::find_or_start().await;

    println!("\n-- connection management");
    let redis = demo.manager().await;
    println!("is_enabled() -> {}", redis.is_enabled());
    println!(
        "get_client() -> {}",
        if redis.get_client().is_some() {
            "Some(client)"
        } else {
            "None"
        }
    );
    if demo.source == common::Source::Fallback {
        println!("(no Redis: every section below shows the defaults the manager returns)");
    }

    println!();
    basic_operations::run(&redis).await;
    println!();
    json::run(&redis).await;
    println!();
    caching::run(&redis).await;
    println!();
    sessions::run(&redis).await;
    println!();
    rate_limiting(&redis).await;
    println!();
    locking::run(&redis).await;
    println!();
    pubsub::run(&redis).await;
    println!();
    error_handling::run(&redis).await;

    println!("\n-- shutdown");
    redis.disconnect().await;
    println!("disconnect() -> is_enabled() = {}", redis.is_enabled());
}

/// The seed's "Rate Limiting" section (`cargo run --example rate_limiting` shows more).
async fn rate_limiting(redis: &RedisManager) {
    println!("-- rate limiting");
    let limiter = RateLimiter::new(redis, 5, Duration::from_secs(2));
    let identifier = format!("tour:{}", std::process::id());
    let mut allowed = 0;
    let mut last = None;
    for _ in 0..8 {
        let decision = limiter.check_rate_limit(&identifier).await;
        allowed += usize::from(decision.allowed);
        last = Some(decision);
    }
    println!("8 requests against a limit of 5 per 2 s: {allowed} allowed");
    if let Some(d) = last {
        if d.fallback {
            println!("Redis unavailable: the limiter allowed them (the seed's behaviour)");
        } else {
            println!(
                "the 8th: allowed = {}, retry after {:?}",
                d.allowed, d.retry_after
            );
        }
    }
    redis.delete(&[RateLimiter::key(&identifier)]).await;
}
