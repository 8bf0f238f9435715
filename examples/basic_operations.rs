//! The seed's "Basic Operations", "Numeric Operations" and "Hash Operations" sections.
//!
//! ```text
//! cargo run --example basic_operations
//! ```
//!
//! Needs no setup: see `examples/common/mod.rs` for how it finds (or starts) a Redis.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use redis_manager::{RedisManager, SetOptions};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

/// Every example of the three sections, in order.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- basic operations");
    redis.set("user:123:name", "John Doe").await;
    if let Some(value) = redis.get("user:123:name").await {
        println!("User name: {value}");
    }

    // Simple set; with a 1 hour expiry; only if missing (NX); only if present (XX).
    redis.set("session:abc123", "user_data").await;
    redis
        .set_with("temp:token", "xyz789", SetOptions::default().ex(3600))
        .await;
    redis.delete_one("unique:id").await;
    let first = redis
        .set_with("unique:id", "123", SetOptions::default().nx())
        .await;
    let again = redis
        .set_with("unique:id", "456", SetOptions::default().nx())
        .await;
    println!("set unique:id with NX: first {first}, again {again}");
    let updated = redis
        .set_with("existing:key", "new_value", SetOptions::default().xx())
        .await;
    println!("set existing:key with XX (the key is missing): {updated}");

    // Values may be strings, integers or floats, like the seed's Union[str, int, float].
    redis.set("answer", 42).await;
    redis.set("ratio", 0.75).await;

    redis.set("temp:data", "x").await;
    let deleted = redis.delete("temp:data").await;
    println!("Deleted {deleted} key");
    for key in ["key1", "key2", "key3"] {
        redis.set(key, "v").await;
    }
    let deleted = redis.delete(["key1", "key2", "key3"]).await;
    println!("Deleted {deleted} keys");

    if redis.exists("user:123:name").await {
        let user_data = redis.get("user:123:name").await;
        println!("user:123:name exists: {user_data:?}");
    }

    redis.expire("session:abc123", 300).await;
    for key in ["session:abc123", "user:123:name", "session:missing"] {
        let ttl = redis.ttl(key).await;
        if ttl > 0 {
            println!("{key}: expires in {ttl} seconds");
        } else if ttl == -1 {
            println!("{key}: never expires");
        } else {
            println!("{key}: doesn't exist");
        }
    }

    println!("-- numeric operations");
    redis
        .delete(&["page:views", "api:calls", "rate_limit:user:123"])
        .await;
    let views = redis.incr("page:views", 1).await;
    println!("Page views: {views:?}");
    let calls = redis.incr("api:calls", 5).await;
    println!("API calls: {calls:?}");
    // The seed's counter check; see the rate limiting example for a real sliding window.
    match redis.incr("rate_limit:user:123", 1).await {
        Some(n) if n > 100 => println!("Rate limit exceeded"),
        Some(n) => println!("request {n} of 100 allowed"),
        None => println!("Redis unavailable: counter skipped"),
    }

    println!("-- hash operations");
    redis.hset("user:123", "name", "John Doe").await;
    redis
        .hset_mapping(
            "user:123",
            [
                ("email", "john@example.com"),
                ("age", "30"),
                ("status", "active"),
            ],
        )
        .await;
    if let Some(name) = redis.hget("user:123", "name").await {
        println!("User name: {name}");
    }
    let email = redis.hget("user:123", "email").await;
    let age = redis.hget("user:123", "age").await;
    println!("email {email:?}, age {age:?}");
}
