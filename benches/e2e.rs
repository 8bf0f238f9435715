//! End to end against a private `redis-server` (operations/s): one task's round trips, many
//! tasks sharing one multiplexed connection, and explicit pipelines.
//!
//! The server is started on a free loopback port and stopped when the bench ends; without
//! `redis-server` on `PATH` the bench stops at once and says how to install it. The ratios
//! against other clients come from the peer comparison crate (`benches/peers`), not from here:
//! this bench is for before/after comparisons of our own changes.

// `criterion_group!` generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redis_manager::prelude::*;
use redis_manager::test_util::RedisServer;
use redis_manager::{Client, Pipeline};
use tokio::runtime::Runtime;

const VALUE: [u8; 100] = [b'v'; 100];

fn e2e(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let client = rt
        .block_on(Client::connect(
            server.config().build().expect("the server's config"),
        ))
        .expect("connect to the private redis-server");
    rt.block_on(client.set("bench:key", &VALUE[..]))
        .expect("SET");

    let mut group = c.benchmark_group("e2e");
    group.throughput(Throughput::Elements(1));
    group.bench_function("GET_100B_1_task", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let v = client.get("bench:key").await.expect("GET");
                    assert_eq!(v.map(|v| v.len()), Some(VALUE.len()));
                }
                start.elapsed()
            })
        })
    });

    for tasks in [8u64, 64] {
        group.bench_function(format!("SET_GET_100B_{tasks}_tasks"), |b| {
            b.iter_custom(|n| concurrent(&rt, &client, tasks, n))
        });
    }

    group.throughput(Throughput::Elements(100));
    group.bench_function("pipeline_100_GET_100B", |b| {
        let mut pipe = Pipeline::new();
        for _ in 0..100 {
            pipe.add_args(&[&"GET", &"bench:key"]);
        }
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let replies = pipe.execute(&client).await.expect("pipeline");
                    assert_eq!(replies.len(), 100);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(server);
}

/// `n` operations (half SETs, half GETs) spread over `tasks` tasks on the one connection.
fn concurrent(rt: &Runtime, client: &Client, tasks: u64, n: u64) -> Duration {
    rt.block_on(async {
        let per_task = n.div_ceil(tasks).div_ceil(2).max(1);
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let client = client.clone();
                tokio::spawn(async move {
                    let key = format!("bench:task:{t}");
                    for _ in 0..per_task {
                        client.set(&key, &VALUE[..]).await.expect("SET");
                        let v = client.get(&key).await.expect("GET");
                        assert_eq!(v.map(|v| v.len()), Some(VALUE.len()));
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a bench task");
        }
        // Scale to `n` operations: each task did `2 * per_task`, which may exceed n / tasks.
        start
            .elapsed()
            .mul_f64(n as f64 / (2 * per_task * tasks) as f64)
    })
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = e2e
}
criterion_main!(benches);
