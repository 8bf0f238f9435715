//! The seed's "Caching" pattern, as the library's cache-aside `get_or_set_json`: concurrent
//! misses load once, loader errors are not cached, and with Redis down it just loads.
//!
//! ```text
//! cargo run --example caching
//! ```
//!
//! Needs no setup: see `examples/common/mod.rs` for how it finds (or starts) a Redis.
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_manager::RedisManager;
use serde::{Deserialize, Serialize};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: String,
    name: String,
}

/// How often the "database" was queried.
static DB_QUERIES: AtomicUsize = AtomicUsize::new(0);

/// A slow database lookup.
async fn database_get_user(user_id: &str) -> Result<Option<User>, String> {
    DB_QUERIES.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(Some(User {
        id: user_id.to_owned(),
        name: "John Doe".to_owned(),
    }))
}

/// The seed's `get_user_with_cache`: cache for one hour.
async fn get_user_with_cache(redis: &RedisManager, user_id: &str) -> Result<Option<User>, String> {
    redis
        .get_or_set_json(
            &format!("user:{user_id}"),
            Duration::from_secs(3600),
            || database_get_user(user_id),
        )
        .await
}

/// Cold read, warm read, a stampede of concurrent misses, and a failing loader.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- caching");
    redis.delete(&["user:42", "user:hot"]).await;
    let start = Instant::now();
    let user = get_user_with_cache(redis, "42").await;
    println!("cold: {user:?} in {:?}", start.elapsed());
    let start = Instant::now();
    let user = get_user_with_cache(redis, "42").await;
    println!("warm: {user:?} in {:?}", start.elapsed());

    let before = DB_QUERIES.load(Ordering::SeqCst);
    let lookups = (0..20).map(|_| get_user_with_cache(redis, "hot"));
    let results = join_all(lookups).await;
    println!(
        "20 concurrent misses of user:hot -> {} results, {} database query",
        results.len(),
        DB_QUERIES.load(Ordering::SeqCst) - before
    );

    let failed: Result<User, String> = redis
        .get_or_set_json("user:broken", Duration::from_secs(60), || async {
            Err("database unavailable".to_owned())
        })
        .await;
    println!(
        "a failing loader -> {failed:?}; cached: {}",
        redis.exists("user:broken").await
    );
}

/// Runs futures concurrently on this task (no extra dependency for `join_all`).
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future completed"))
        .collect()
}
