//! `cache`: client-side caching, read-mostly traffic.
//!
//! Our client with its cache on (default `CacheConfig`) against redis-rs with its cache
//! (`cache-aio`: RESP3, default `CacheConfig`, every GET cached, 10,000 keys), and against
//! our client without a cache. The workloads of the cache's goal: one task reading one hot
//! key, and 64 tasks sharing 1,000 hot keys (100-byte values, written before the runs).
//! Every run has a fresh connection, so a cold cache: `measure` reads each key twice,
//! untimed, before the timed run of a client with a cache, so that it is measured on hits.
//!
//! A hit is hundreds of times faster than a round trip, so each client's runs are sized by
//! its own rate ([`Sizing::Own`]): with the same work for all, the uncached client's runs
//! took minutes and the scenario over seven. It runs three times `--reps` (15 by default,
//! about 80 s on a loaded machine).

use tokio::runtime::Runtime;

use crate::clients::{Kind, Op, Target};
use crate::measure::{Plan, Point, Sample, Sizing, compare_sized, each};
use crate::server::Server;
use crate::stats::{median, ratio_of, thousands};

/// The clients compared: ours with its cache first (the numerator of every ratio).
const KINDS: [Kind; 3] = [Kind::OursCached, Kind::RedisRsCached, Kind::Ours];

/// (tasks, hot keys shared by all tasks).
const WORKLOADS: [(usize, usize); 2] = [(1, 1), (64, 1_000)];

/// Runs the comparison and prints its table.
pub fn run(rt: &Runtime, server: &Server, plan: &Plan) {
    // Each client's runs are sized to `--secs` by its own rate, so a rep of the three is
    // short: three times the reps fit in under two minutes at default flags and give the
    // 64-task ratio, the noisiest on a loaded machine, a steadier median.
    let plan = &Plan {
        reps: plan.reps * 3,
        ..*plan
    };
    let target = Target::Single(server.port());
    let cpu = || server.cpu();
    eprintln!("cache: {} workloads", WORKLOADS.len());
    println!("## Client-side cache: read-mostly GETs\n");
    println!(
        "Hot keys read with GET (100-byte values) after an untimed pass that fills the caches; \
         each reply's length is checked. Ratios of throughput, median (min–max) of {} \
         interleaved reps.\n",
        plan.reps
    );
    println!(
        "| tasks | hot keys | ours cached ops/s | ours cached / redis-rs cache-aio | ours cached / ours uncached | ours cached client CPU µs/op | cache-aio client CPU µs/op |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (tasks, hot) in WORKLOADS {
        let point = Point {
            tasks,
            value_len: 100,
            pipeline: 1,
            op: Op::GetOnly,
            keys_per_task: hot,
            shared_keys: true,
        };
        let out = server.flushall().and_then(|()| {
            rt.block_on(compare_sized(
                &KINDS,
                &target,
                &point,
                plan,
                &cpu,
                Sizing::Own,
            ))
        });
        match out {
            Ok(s) => {
                // Ours cached over row `i`, per rep.
                let r = |i: usize| {
                    let v: Vec<f64> = s[0]
                        .iter()
                        .zip(&s[i])
                        .map(|(a, b)| a.ops_per_sec() / b.ops_per_sec())
                        .collect();
                    ratio_of(&v)
                };
                let row = format!(
                    "| {tasks} | {hot} | {} | {} | {} | {:.2} | {:.2} |",
                    thousands(median(&each(&s[0], Sample::ops_per_sec))),
                    r(1),
                    r(2),
                    median(&each(&s[0], Sample::cpu_us_per_op)),
                    median(&each(&s[1], Sample::cpu_us_per_op)),
                );
                eprintln!("  {row}");
                println!("{row}");
            }
            Err(e) => {
                eprintln!("  {tasks} tasks: {e}");
                println!("| {tasks} | {hot} | {e} | | | | |");
            }
        }
    }
    println!();
}
