//! Server-assisted client-side caching: hot reads served from memory, dropped as soon as the
//! server says their key changed.
//!
//! ```text
//! cargo run --example client_side_caching
//! ```
//!
//! Starts a private `redis-server` on a free loopback port for the run (it needs one it can
//! write to freely), and ends with one line of the cache's statistics:
//! `cache: hits=N misses=M invalidations=K evictions=E bytes=B`.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use redis_manager::config::CacheConfig;
use redis_manager::prelude::*;
use redis_manager::{CacheStats, Client, RedisManager};

#[tokio::main]
async fn main() -> redis_manager::Result<()> {
    let Some((demo, port)) = common::start_private_demo().await else {
        println!("redis-server is not on PATH: nothing to cache.");
        return Ok(());
    };
    println!("Started a private redis-server on 127.0.0.1:{port} for this run.");
    // Opt in: 16 MiB for cached replies, none older than a minute.
    let cache = CacheConfig::new(16 << 20).max_age(Duration::from_secs(60));
    let client = Client::connect(demo.config.clone().into_builder().cache(cache.clone())).await?;
    let other = Client::connect(demo.config.clone()).await?;

    client.set("profile:1", r#"{"name":"Ada"}"#).await?;
    let started = Instant::now();
    let first = client.get("profile:1").await?;
    let miss = started.elapsed();
    let started = Instant::now();
    let second = client.get("profile:1").await?;
    let hit = started.elapsed();
    assert_eq!(first, second);
    println!("first read (from the server): {miss:?}; second (from memory): {hit:?}");

    // Another client changes the key: the server tells this one, which drops its copy.
    let before = client.cache_stats().unwrap_or_default();
    other.set("profile:1", r#"{"name":"Grace"}"#).await?;
    while client.cache_stats().unwrap_or_default().invalidations == before.invalidations {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let now = client.get("profile:1").await?;
    println!(
        "after another client's write: {}",
        String::from_utf8_lossy(&now.unwrap_or_default())
    );

    // This client's own write is seen at once.
    client.set("profile:1", r#"{"name":"Edsger"}"#).await?;
    let mine = client.get("profile:1").await?;
    println!(
        "after this client's write:    {}",
        String::from_utf8_lossy(&mine.unwrap_or_default())
    );

    // The manager's reads use the same cache when its config turns caching on.
    let redis = RedisManager::new(demo.config.clone().into_builder().cache(cache));
    redis.initialize().await;
    for _ in 0..3 {
        let name = redis.get_json::<serde_json::Value>("profile:1").await;
        assert!(name.is_some());
    }
    let manager = redis.cache_stats().unwrap_or_default();
    println!("manager cache: {manager}");
    redis.disconnect().await;

    let stats: CacheStats = client.cache_stats().unwrap_or_default();
    println!("cache: {stats}");
    client.close();
    other.close();
    drop(demo);
    Ok(())
}
