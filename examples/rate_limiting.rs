//! The seed's "Rate Limiting" section: a sliding window of 5 requests per 2 seconds.
//!
//! ```text
//! cargo run --example rate_limiting
//! ```
//!
//! Twelve concurrent requests arrive at once: exactly five are allowed (the seed's version
//! counted every request of one second as one, so it let all twelve through). Then the
//! example waits for the window to slide and is allowed again. Without Redis, the limiter
//! falls back to allowing (the seed's behaviour) and says so; `fail_closed()` denies instead.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use redis_manager::manager::RateLimiter;

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;

    let limiter = RateLimiter::new(&redis, 5, Duration::from_secs(2));
    let identifier = format!("demo:{}", std::process::id());

    let burst: Vec<_> = (0..12)
        .map(|_| {
            let limiter = limiter.clone();
            let identifier = identifier.clone();
            tokio::spawn(async move { limiter.check_rate_limit(&identifier).await })
        })
        .collect();
    let mut allowed = 0;
    for task in burst {
        let d = task.await.expect("the check task panicked");
        if d.allowed {
            allowed += 1;
        }
        if d.fallback {
            println!(
                "Redis unavailable: fallback decision, allowed = {}",
                d.allowed
            );
        }
    }
    println!("burst of 12 at once: {allowed} allowed (limit 5 per 2 s)");

    let d = limiter.check_rate_limit(&identifier).await;
    match d.retry_after {
        Some(wait) => {
            println!("denied; retry after {wait:?}");
            tokio::time::sleep(wait + Duration::from_millis(20)).await;
            let again = limiter.check_rate_limit(&identifier).await;
            println!(
                "after waiting: allowed = {}, remaining = {}",
                again.allowed, again.remaining
            );
        }
        None => println!("allowed = {}, fallback = {}", d.allowed, d.fallback),
    }

    let strict = limiter.clone().fail_closed();
    let d = strict.check_rate_limit("login:alice").await;
    println!(
        "fail-closed limiter: allowed = {}, fallback = {}",
        d.allowed, d.fallback
    );

    redis
        .delete(&[
            RateLimiter::key(&identifier),
            RateLimiter::key("login:alice"),
        ])
        .await;
    redis.disconnect().await;
}
