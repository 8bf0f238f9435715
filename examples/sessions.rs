//! The seed's "Session Management" pattern, as the library's `SessionManager`.
//!
//! ```text
//! cargo run --example sessions
//! ```
//!
//! Needs no setup: see `examples/common/mod.rs` for how it finds (or starts) a Redis.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use redis_manager::{RedisManager, SessionManager};
use serde_json::json;

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

/// Create, read, refresh, expire and delete sessions.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- sessions");
    // The seed's static methods use the global manager: `SessionManager::global()`.
    let sessions = SessionManager::new(redis);
    let Some(id) = sessions
        .create_session("user-123", json!({"role": "admin", "theme": "dark"}))
        .await
    else {
        println!("create_session -> None: Redis is unavailable, so no session was stored");
        return;
    };
    println!("created session {id} (expires in 24 h)");
    if let Some(session) = sessions.get_session(&id).await {
        println!("session data: {session}");
    }
    let refreshed = sessions
        .refresh_session(&id, Duration::from_secs(7200))
        .await;
    println!("refresh to 2 h -> {refreshed}");
    println!("delete -> {}", sessions.delete_session(&id).await);
    println!("get after delete -> {:?}", sessions.get_session(&id).await);

    let short = SessionManager::new(redis).with_ttl(Duration::from_millis(200));
    if let Some(id) = short.create_session("user-9", json!({})).await {
        tokio::time::sleep(Duration::from_millis(400)).await;
        println!(
            "a 200 ms session, 400 ms later -> {:?}",
            short.get_session(&id).await
        );
    }
}
