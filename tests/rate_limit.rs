//! `RateLimiter` against real, private servers: exact counting under concurrency, the sliding
//! window, denied requests not counted, the script cache, and the failure policy.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_manager::manager::{FailurePolicy, RateLimiter};
use redis_manager::{Client, Config, ConfigBuilder, RedisManager, cmd};
use support::RedisServer;

fn config(server: &RedisServer) -> ConfigBuilder {
    server.config()
}

async fn client(server: &RedisServer) -> Client {
    server.client().await
}

async fn zcard(client: &Client, identifier: &str) -> i64 {
    client
        .query(cmd("ZCARD").arg(RateLimiter::key(identifier)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_with_limit_ten_allow_exactly_ten() {
    let server = RedisServer::start();
    let c = client(&server).await;
    // Two limiters on separate clients, as two processes would have; they share the limit.
    let limiters = [
        RateLimiter::from_client(c.clone(), 10, Duration::from_secs(60)),
        RateLimiter::from_client(client(&server).await, 10, Duration::from_secs(60)),
    ];
    // Every task is released at once; the multiplexer batches them into a few writes, so the
    // server runs most checks within the same millisecond (where the seed's second-resolution
    // member collapsed them all into one).
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let limiter = limiters[i % 2].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                limiter.check_rate_limit("api:burst").await
            })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        let d = t.await.unwrap();
        assert!(!d.fallback, "{d:?}");
        if d.allowed {
            allowed += 1;
            assert!(d.retry_after.is_none());
        } else {
            assert_eq!(d.remaining, 0);
            let retry = d.retry_after.expect("a denied decision says when to retry");
            assert!(retry <= Duration::from_secs(60), "{retry:?}");
        }
    }
    assert_eq!(allowed, 10);
    assert_eq!(
        zcard(&c, "api:burst").await,
        10,
        "one member per counted request"
    );
}

#[tokio::test]
async fn remaining_counts_down_and_the_key_expires_with_the_window() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let limiter = RateLimiter::from_client(c.clone(), 3, Duration::from_secs(30));
    let remaining: Vec<u64> = [
        limiter.check_rate_limit("u").await,
        limiter.check_rate_limit("u").await,
        limiter.check_rate_limit("u").await,
    ]
    .iter()
    .map(|d| {
        assert!(d.allowed);
        d.remaining
    })
    .collect();
    assert_eq!(remaining, [2, 1, 0]);
    let pttl: i64 = c
        .query(cmd("PTTL").arg(RateLimiter::key("u")))
        .await
        .unwrap();
    assert!(pttl > 25_000 && pttl <= 30_000, "{pttl}");
    // Identifiers are independent.
    assert!(limiter.check_rate_limit("other").await.allowed);
}

#[tokio::test]
async fn the_window_slides_rather_than_resetting() {
    let server = RedisServer::start();
    let limiter = RateLimiter::from_client(client(&server).await, 3, Duration::from_millis(1000));
    let start = Instant::now();
    assert!(limiter.check_rate_limit("s").await.allowed);
    assert!(limiter.check_rate_limit("s").await.allowed);
    tokio::time::sleep_until((start + Duration::from_millis(500)).into()).await;
    assert!(limiter.check_rate_limit("s").await.allowed);
    let denied = limiter.check_rate_limit("s").await;
    assert!(!denied.allowed);
    // The oldest request leaves the window about 1 s after `start`.
    let retry = denied.retry_after.unwrap();
    assert!(retry <= Duration::from_millis(600), "{retry:?}");

    // After the first two left the window, two slots are free, but not three: the request
    // made at +500 ms still counts (a fixed window would have reset entirely).
    tokio::time::sleep_until((start + Duration::from_millis(1150)).into()).await;
    assert!(limiter.check_rate_limit("s").await.allowed);
    assert!(limiter.check_rate_limit("s").await.allowed);
    let d = limiter.check_rate_limit("s").await;
    assert!(!d.allowed, "the +500 ms request must still count: {d:?}");
}

#[tokio::test]
async fn denied_requests_are_not_counted() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let limiter = RateLimiter::from_client(c.clone(), 2, Duration::from_millis(600));
    let start = Instant::now();
    assert!(limiter.check_rate_limit("d").await.allowed);
    assert!(limiter.check_rate_limit("d").await.allowed);
    // Hammer the closed window until shortly before it reopens.
    let mut denied = 0;
    while start.elapsed() < Duration::from_millis(450) {
        assert!(!limiter.check_rate_limit("d").await.allowed);
        denied += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(denied > 10);
    assert_eq!(zcard(&c, "d").await, 2);
    // Had the denied requests been counted, the ones from just now would keep it closed.
    tokio::time::sleep_until((start + Duration::from_millis(700)).into()).await;
    assert!(limiter.check_rate_limit("d").await.allowed);
}

#[tokio::test]
async fn a_zero_limit_denies_everything_without_a_retry_time() {
    let server = RedisServer::start();
    let limiter = RateLimiter::from_client(client(&server).await, 0, Duration::from_secs(1));
    let d = limiter.check_rate_limit("z").await;
    assert!(!d.allowed && !d.fallback);
    assert_eq!(d.retry_after, None);
}

#[tokio::test]
async fn a_flushed_script_cache_is_reloaded() {
    let server = RedisServer::start();
    let limiter = RateLimiter::from_client(client(&server).await, 5, Duration::from_secs(10));
    assert!(!limiter.check_rate_limit("f").await.fallback);
    server.cli(&["SCRIPT", "FLUSH"]);
    let d = limiter.check_rate_limit("f").await;
    assert!(d.allowed && !d.fallback, "{d:?}");
    assert_eq!(d.remaining, 3);
}

#[tokio::test]
async fn with_redis_down_the_policy_decides_and_says_so() {
    let mut server = RedisServer::start();
    let c = client(&server).await;
    let open = RateLimiter::from_client(c.clone(), 1, Duration::from_secs(10));
    let closed = open.clone().fail_closed();
    assert!(open.check_rate_limit("p").await.allowed);
    assert!(!open.check_rate_limit("p").await.allowed);

    server.kill();
    let d = open.check_rate_limit("p").await;
    assert!(d.allowed && d.fallback, "fails open by default: {d:?}");
    let d = closed.check_rate_limit("p").await;
    assert!(!d.allowed && d.fallback, "fail_closed denies: {d:?}");
    assert_eq!(d.retry_after, None);
    let d = open
        .clone()
        .failure_policy(FailurePolicy::Deny)
        .check_rate_limit("p")
        .await;
    assert!(!d.allowed && d.fallback);

    // Back up (empty: nothing is saved), the limiter counts again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let d = loop {
        let d = closed.check_rate_limit("p").await;
        if !d.fallback || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(d.allowed && !d.fallback, "{d:?}");
}

#[tokio::test]
async fn through_a_manager_an_outage_falls_back_without_waiting() {
    let mut server = RedisServer::start();
    let m = RedisManager::new(config(&server));
    assert!(m.initialize().await);
    let limiter = RateLimiter::new(&m, 5, Duration::from_secs(10));
    let d = limiter.check_rate_limit("m").await;
    assert!(d.allowed && !d.fallback && d.remaining == 4);

    server.kill();
    // The first check meets the dead connection; the manager then knows Redis is down and
    // later checks return at once.
    assert!(limiter.check_rate_limit("m").await.fallback);
    assert!(!m.is_enabled());
    let closed = limiter.clone().fail_closed();
    let started = Instant::now();
    for _ in 0..100 {
        let d = closed.check_rate_limit("m").await;
        assert!(!d.allowed && d.fallback);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no connect attempt per check"
    );

    // A disabled manager never does I/O and follows the policy.
    let off = RedisManager::new(Config::builder().enabled(false));
    let d = RateLimiter::new(&off, 5, Duration::from_secs(1))
        .check_rate_limit("x")
        .await;
    assert!(d.allowed && d.fallback);
}
