//! The seed's "JSON Operations" section: any `Serialize` value in, any `DeserializeOwned`
//! type out.
//!
//! ```text
//! cargo run --example json
//! ```
//!
//! Needs no setup: see `examples/common/mod.rs` for how it finds (or starts) a Redis.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use redis_manager::{RedisManager, SetOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

#[derive(Debug, Serialize, Deserialize)]
struct Preferences {
    theme: String,
    notifications: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserProfile {
    id: u64,
    name: String,
    preferences: Preferences,
    tags: Vec<String>,
}

/// The section's examples, untyped (like the Python) and typed.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- JSON operations");
    let user_data = json!({
        "id": 123,
        "name": "John Doe",
        "preferences": {"theme": "dark", "notifications": true},
        "tags": ["admin", "developer"]
    });
    let one_hour = SetOptions::default().ex(3600);
    let stored = redis
        .set_json("user:123:profile", &user_data, one_hour)
        .await;
    println!("set_json(user:123:profile) -> {stored}");

    if let Some(user) = redis.get_json::<Value>("user:123:profile").await {
        println!("User: {}", user["name"]);
        println!("Theme: {}", user["preferences"]["theme"]);
    }

    // The Rust way: decode straight into a type. A value that does not fit is logged and
    // read as None, never a panic.
    if let Some(profile) = redis.get_json::<UserProfile>("user:123:profile").await {
        println!("Typed: {profile:?}");
    }
    redis.set("not:json", "plain text").await;
    let bad = redis.get_json::<UserProfile>("not:json").await;
    println!("get_json of a value that is not JSON -> {bad:?}");
}
