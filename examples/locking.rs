//! The seed's "Distributed Locking" section: only one worker at a time in the critical
//! section, with fencing tokens, a lease separate from the wait time, and release on every
//! exit path.
//!
//! ```text
//! cargo run --example locking
//! ```
//!
//! Four workers each add 1 to a counter twenty times with a read-then-write that would lose
//! updates without the lock; the total comes out exact. Then a guard outlives its lease and
//! its release says so without deleting the next holder's lock. Without Redis, acquire
//! reports that Redis is unavailable (never "acquired").
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::time::Duration;

use redis_manager::RedisManager;
use redis_manager::manager::{DistributedLock, LockError};

#[tokio::main]
async fn main() {
    let demo = common::find_or_start().await;
    let redis = demo.manager().await;
    run(&redis).await;
    redis.disconnect().await;
}

/// The section, also run by `examples/tour.rs`.
pub(crate) async fn run(redis: &RedisManager) {
    println!("-- distributed locking");
    let counter = format!("demo:locked-counter:{}", std::process::id());
    let name = format!("demo:resource:{}", std::process::id());

    // The seed's `async with DistributedLock("resource:123", timeout=30)`, with the lease and
    // the wait time given separately.
    let lock = DistributedLock::new(redis, &name)
        .lease(Duration::from_secs(30))
        .wait(Duration::from_secs(5));

    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (lock, redis, counter) = (lock.clone(), redis.clone(), counter.clone());
            tokio::spawn(async move {
                let mut highest_fence = 0;
                for _ in 0..20 {
                    let r = lock
                        .with_lock(|fence| {
                            let (redis, counter) = (redis.clone(), counter.clone());
                            async move {
                                let n: i64 = redis
                                    .get(&counter)
                                    .await
                                    .and_then(|v| v.parse().ok())
                                    .unwrap_or(0);
                                redis.set(&counter, n + 1).await;
                                fence
                            }
                        })
                        .await;
                    match r {
                        Ok(fence) => highest_fence = highest_fence.max(fence),
                        Err(e) => return Err(e),
                    }
                }
                Ok(highest_fence)
            })
        })
        .collect();
    for w in workers {
        match w.await.expect("worker panicked") {
            Ok(fence) => println!("worker done; its last fencing token: {fence}"),
            Err(LockError::Unavailable(_)) => {
                println!("Redis unavailable: the lock was not acquired (and nothing ran)");
                break;
            }
            Err(e) => println!("worker gave up: {e}"),
        }
    }
    println!(
        "counter = {:?} (80 when every update ran under the lock)",
        redis.get(&counter).await
    );

    // A lease that runs out: the late release deletes nothing and says so.
    let short = lock.clone().lease(Duration::from_millis(100));
    if let Ok(guard) = short.acquire().await {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let next = lock.acquire().await;
        match guard.release().await {
            Ok(held) => println!("late release: was still held = {held}"),
            Err(e) => println!("late release failed: {e}"),
        }
        if let Ok(next) = next {
            println!(
                "the next holder (fencing token {}) keeps its lock: released = {:?}",
                next.fencing_token(),
                next.release().await
            );
        }
    }

    redis
        .delete(&[counter, format!("{{lock:{name}}}:fence")])
        .await;
}
