//! The seed's "Error Handling" section: every operation returns a sensible default when
//! Redis is disabled, unreachable or refuses a command, and `is_enabled()` says which.
//!
//! ```text
//! cargo run --example error_handling
//! ```
//!
//! Needs no setup: see `examples/common/mod.rs` for how it finds (or starts) a Redis.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis_manager::{Config, RedisManager};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

/// Defaults when disabled, when unreachable, and on a refused command.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- error handling");
    // ENABLE_REDIS=false (what Config::from_env gives by default): no I/O at all.
    let disabled = RedisManager::new(Config::builder().enabled(false));
    println!("disabled: initialize() -> {}", disabled.initialize().await);
    show_defaults(&disabled).await;

    // A server that is not there: initialize fails, operations return defaults at once,
    // and a background task keeps probing (the Python original gave up for good).
    let nowhere = RedisManager::new(
        Config::builder()
            .host("127.0.0.1")
            .port(1)
            .connect_timeout(Duration::from_secs(1)),
    );
    println!(
        "unreachable: initialize() -> {}",
        nowhere.initialize().await
    );
    let start = Instant::now();
    show_defaults(&nowhere).await;
    println!("  (those took {:?}: no timeout per call)", start.elapsed());
    nowhere.disconnect().await;

    // "Check if Redis is available before critical operations."
    let mut local_store = HashMap::new();
    if redis.is_enabled() {
        redis.set("important_data", "data").await;
        println!("important_data stored in Redis");
    } else {
        local_store.insert("important_data", "data");
        println!("Redis unavailable: important_data stored locally");
    }

    // A refused command (HGET on a string) is logged and returns the default; it says
    // nothing about Redis being down, so the manager stays enabled.
    if redis.is_enabled() {
        redis.set("plain:string", "v").await;
        let field = redis.hget("plain:string", "field").await;
        println!(
            "hget on a string -> {field:?}; still enabled: {}",
            redis.is_enabled()
        );
    }
}

async fn show_defaults(redis: &RedisManager) {
    let value = redis.get("nonexistent_key").await;
    let success = redis.set("key", "value").await;
    let count = redis.delete_one("key").await;
    let ttl = redis.ttl("key").await;
    println!(
        "  get -> {value:?}, set -> {success}, delete -> {count}, ttl -> {ttl}, is_enabled -> {}",
        redis.is_enabled()
    );
}
