//! `cache`: client-side caching, read-mostly traffic.
//!
//! Where our client-side cache will be compared with redis-rs's `cache-aio` once it exists:
//! add a `Kind` for our client with its cache on (its connection set-up in `clients.rs`) and
//! put it first in `KINDS` below; the table then shows ours-with-cache against each row.
//! Until then the scenario measures the references alone: both clients without a cache, and
//! redis-rs with its cache (RESP3, default `CacheConfig`: every GET cached, 10,000 keys).
//!
//! Each task GETs its own preloaded keys in turn (100 keys of 100 bytes per task, written
//! before the runs): after the first pass every read is a hit for a cache.

use tokio::runtime::Runtime;

use crate::clients::{Kind, Op, Target};
use crate::measure::{Plan, Point, Sample, compare, each};
use crate::server::Server;
use crate::stats::{median, ratio_of, thousands};

/// The clients compared, the baseline first.
const KINDS: [Kind; 3] = [Kind::RedisRsCached, Kind::Ours, Kind::RedisRs];

/// Task counts measured: with 100 keys each, 64 tasks stay within redis-rs's default cache
/// size.
const TASKS: [usize; 3] = [1, 8, 64];

/// Runs the comparison and prints its table.
pub fn run(rt: &Runtime, server: &Server, plan: &Plan) {
    let target = Target::Single(server.port());
    let cpu = || server.cpu();
    eprintln!("cache: {} task counts", TASKS.len());
    println!("## Client-side cache: read-mostly GETs\n");
    println!(
        "Our client-side cache is not measured yet (it is not part of the client yet): the rows \
         are the references it will be compared with. Each task GETs its own 100 preloaded \
         100-byte keys in turn and checks the length. Medians of {} interleaved reps.\n",
        plan.reps
    );
    println!(
        "| tasks | redis-rs cache-aio ops/s | ours (no cache) / cache-aio ops/s | redis-rs (no cache) / cache-aio ops/s | cache-aio client CPU µs/op | ours (no cache) µs/op |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for tasks in TASKS {
        let point = Point {
            tasks,
            value_len: 100,
            pipeline: 1,
            op: Op::GetOnly,
            keys_per_task: 100,
        };
        let out = server
            .flushall()
            .and_then(|()| rt.block_on(compare(&KINDS, &target, &point, plan, &cpu)));
        match out {
            Ok(s) => {
                let r = |i: usize| {
                    let v: Vec<f64> = s[i]
                        .iter()
                        .zip(&s[0])
                        .map(|(a, b)| a.ops_per_sec() / b.ops_per_sec())
                        .collect();
                    ratio_of(&v)
                };
                let row = format!(
                    "| {tasks} | {} | {} | {} | {:.2} | {:.2} |",
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
                println!("| {tasks} | {e} | | | | |");
            }
        }
    }
    println!();
}
