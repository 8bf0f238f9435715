//! Client-side caching's cost and gain, measured against this crate's own uncached reads in
//! the same run, A and B interleaved round by round:
//!
//! - one task reading one hot key: a cache hit against an uncached `GET`;
//! - 64 tasks reading 1,000 hot keys: the same;
//! - the miss path: reads of keys never read before (each a miss that is then stored)
//!   with the cache on, against the same reads with no cache, and both against a plain
//!   client whose connection has the server's tracking on, which splits the gap into the
//!   server's share and the cache's.
//!
//! ```text
//! cargo run --release --example cache_bench
//! ```
//!
//! Starts a private `redis-server` for the run. `CACHE_BENCH_ROUNDS` (default 21) sets the
//! number of rounds; each line gives the median ratio and its range over the rounds.
//! `CACHE_BENCH_MISSES_ONLY=1` runs the miss section alone. `CACHE_BENCH_MAX_BYTES` sets
//! the cache's budget (default 256 MiB: the miss section's entries all fit; a small one
//! keeps the cache's memory bounded and warm, evicting on every store).
//!
//! `CACHE_BENCH_PROFILE=cached|tracked|plain` (with `CACHE_BENCH_READS`, default 20,000)
//! runs only that side's misses, once, on a current-thread runtime, for a profiler: the
//! difference between two runs with different read counts, divided by the difference in
//! reads, is the cost per miss without the setup (`valgrind --tool=callgrind`,
//! `perf stat --no-inherit`). `CACHE_BENCH_TASKS` (default 1) splits the reads over that
//! many tasks, each on keys of its own; every key read holds a 100-byte value, written
//! beforehand by one server-side script (`CACHE_BENCH_PRELOAD` keys per task, default the
//! reads per task: give both runs of a pair the larger count, so that they differ in reads
//! only).
#![allow(clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use redis_manager::config::CacheConfig;
use redis_manager::prelude::*;
use redis_manager::{Client, Cmd, Config, Frame};

/// Reads per second of `reads` calls of `read` by `tasks` tasks, key `i` of each task's
/// sequence given by `key(task, i)`.
async fn rate(
    client: &Client,
    tasks: usize,
    reads: usize,
    key: impl Fn(usize, usize) -> String + Send + Sync + Clone + 'static,
) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let client = client.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..reads {
                std::hint::black_box(client.get(key(t, i)).await.unwrap());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (tasks * reads) as f64 / started.elapsed().as_secs_f64()
}

/// Runs `a` and `b` one after the other, `a` first in even rounds, `b` first in odd ones.
async fn pair(
    round: usize,
    a: impl std::future::Future<Output = f64>,
    b: impl std::future::Future<Output = f64>,
) -> (f64, f64) {
    if round.is_multiple_of(2) {
        let a = a.await;
        (a, b.await)
    } else {
        let b = b.await;
        (a.await, b)
    }
}

fn summary(name: &str, ratios: &mut [f64], a: &[f64], b: &[f64]) {
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{name}: ratio median {median:.2} (range {:.2}..{:.2}); {:.0} vs {:.0} reads/s",
        ratios[0],
        ratios[ratios.len() - 1],
        avg(a),
        avg(b)
    );
}

/// The cache's budget: `CACHE_BENCH_MAX_BYTES`, or 256 MiB.
fn max_bytes() -> usize {
    std::env::var("CACHE_BENCH_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 20)
}

/// `reads` misses (keys never read before) on one side only: see the module's note.
async fn profile(config: &Config, side: &str) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let reads = var("CACHE_BENCH_READS", 20_000);
    let tasks = var("CACHE_BENCH_TASKS", 1).max(1);
    let per_task = reads / tasks;
    let preload = var("CACHE_BENCH_PRELOAD", per_task).max(per_task);
    let builder = config.clone().into_builder();
    let client = match side {
        "cached" => Client::connect(builder.cache(CacheConfig::new(max_bytes()))).await,
        "tracked" | "plain" => Client::connect(builder).await,
        other => panic!("CACHE_BENCH_PROFILE: cached, tracked or plain, not {other:?}"),
    }
    .unwrap();
    if side == "tracked" {
        let _: Frame = client
            .query(Cmd::new("CLIENT").arg("TRACKING").arg("on"))
            .await
            .unwrap();
    }
    // One script writes every key: the client's cost of it does not grow with the reads.
    let script = "for t = 0, tonumber(ARGV[1]) - 1 do for i = 0, tonumber(ARGV[2]) - 1 do \
                  redis.call('SET', 'cold:' .. t .. ':' .. i, ARGV[3]) end end";
    let _: Frame = client
        .query(
            Cmd::new("EVAL")
                .arg(script)
                .arg(0)
                .arg(tasks)
                .arg(preload)
                .arg("x".repeat(100)),
        )
        .await
        .unwrap();
    let rate = rate(&client, tasks, per_task, |t, i| format!("cold:{t}:{i}")).await;
    println!(
        "{side}: {} misses over {tasks} tasks, {rate:.0} reads/s",
        per_task * tasks
    );
}

fn main() {
    // A profile runs on one thread, so that its counts do not depend on how work is split
    // between workers.
    let mut runtime = if std::env::var_os("CACHE_BENCH_PROFILE").is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().build().unwrap().block_on(run());
}

async fn run() {
    let rounds: usize = std::env::var("CACHE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21)
        .max(1);
    let Some((demo, _port)) = common::start_private_demo().await else {
        println!("redis-server is not on PATH: nothing to measure.");
        return;
    };
    let config: Config = demo.config.clone();
    if let Ok(side) = std::env::var("CACHE_BENCH_PROFILE") {
        profile(&config, &side).await;
        return;
    }
    let plain = Client::connect(config.clone()).await.unwrap();
    let cached = Client::connect(
        config
            .clone()
            .into_builder()
            .cache(CacheConfig::new(max_bytes())),
    )
    .await
    .unwrap();
    for i in 0..1000 {
        plain
            .set(format!("hot:{i}"), "x".repeat(100))
            .await
            .unwrap();
    }

    // Each section: `rounds` pairs of short blocks, the order alternating, so that the
    // machine's load drifting during the run touches both sides alike; the median of the
    // per-pair ratios is reported with its range.
    let hot = |_, _| "hot:0".to_owned();
    let spread = |t: usize, i: usize| format!("hot:{}", (t * 131 + i * 7) % 1000);
    let sections: [(&str, usize, usize, usize); 2] = [
        ("hit / uncached GET, 1 task, 1 key", 1, 200_000, 2_000),
        ("hit / uncached GET, 64 tasks, 1000 keys", 64, 5_000, 100),
    ];
    let only_misses = std::env::var_os("CACHE_BENCH_MISSES_ONLY").is_some();
    for (i, (name, tasks, hits, gets)) in sections.into_iter().enumerate() {
        if only_misses {
            break;
        }
        let (mut ratios, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (cached_rate, plain_rate) = if i == 0 {
                pair(
                    round,
                    rate(&cached, tasks, hits, hot),
                    rate(&plain, tasks, gets, hot),
                )
                .await
            } else {
                pair(
                    round,
                    rate(&cached, tasks, hits, spread),
                    rate(&plain, tasks, gets, spread),
                )
                .await
            };
            ratios.push(cached_rate / plain_rate);
            a.push(cached_rate);
            b.push(plain_rate);
        }
        summary(name, &mut ratios, &a, &b);
    }

    // The miss path: every key read once; the server answers, the reply is stored. A third
    // client caches nothing but has the server track its reads (`CLIENT TRACKING on` sent
    // on its own connection, which stays up: nothing here writes those keys, so no
    // invalidation ever comes): its client path is the plain one, so `tracked / none` is
    // the server's cost of remembering every key read, and `miss / tracked` the cache's
    // own. The three run in rotating order.
    let tracked = Client::connect(config.clone()).await.unwrap();
    let _: Frame = tracked
        .query(Cmd::new("CLIENT").arg("TRACKING").arg("on"))
        .await
        .unwrap();
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let reads = 2_000;
        let mut rates = [0.0; 3];
        for k in 0..3 {
            let side = (round + k) % 3;
            let client = [&cached, &tracked, &plain][side];
            let tag = ["c", "t", "p"][side];
            rates[side] = rate(client, 1, reads, move |_, i| {
                format!("cold:{round}:{tag}:{i}")
            })
            .await;
        }
        a.push(rates[0]);
        b.push(rates[1]);
        c.push(rates[2]);
    }
    let ratios = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(x, y)| x / y).collect::<Vec<_>>();
    summary(
        "miss with cache / no cache, 1 task",
        &mut ratios(&a, &c),
        &a,
        &c,
    );
    summary(
        "server tracking only / no cache, 1 task",
        &mut ratios(&b, &c),
        &b,
        &c,
    );
    summary(
        "miss with cache / server tracking only, 1 task",
        &mut ratios(&a, &b),
        &a,
        &b,
    );
    let stats = cached.cache_stats().unwrap_or_default();
    println!("cache: {stats}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
