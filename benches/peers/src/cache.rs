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
use crate::measure::{Plan, Point, Sample, Sizing, compare_sized, each, ratios};
use crate::server::Server;
use crate::stats::{median, ratio_of, thousands};

/// The clients compared: ours with its cache first (the numerator of every ratio).
const KINDS: [Kind; 3] = [Kind::OursCached, Kind::RedisRsCached, Kind::Ours];

/// (tasks, hot keys shared by all tasks).
const WORKLOADS: [(usize, usize); 2] = [(1, 1), (64, 1_000)];

/// One row of the miss table: its workload and the cached client that is measured.
struct MissRow {
    label: &'static str,
    tasks: usize,
    /// Keys per task (their own), or shared by all tasks when `cold` is false.
    keys: usize,
    /// Every read is of a key the connection has not read (see `Point::cold`); otherwise hot
    /// keys read over and over, missing because the cache is too small to keep them.
    cold: bool,
    /// Ours with its cache (default `CacheConfig`, or the small one).
    cached: Kind,
    /// The same in broadcast mode, if measured.
    bcast: Option<Kind>,
    /// The same with opt-in tracking and `Admission::Frequent`.
    frequent: Kind,
}

/// The rows: keys never read before (enough of them that no task reads one twice in a run
/// at the rates seen here), and hot keys through a cache that keeps almost none of them,
/// so that every read is a miss and every store evicts, with the server's tracking of
/// those keys already in place (its cheapest case).
const MISS_ROWS: [MissRow; 3] = [
    MissRow {
        label: "1 task, new keys",
        tasks: 1,
        keys: 100_000,
        cold: true,
        cached: Kind::OursCached,
        bcast: Some(Kind::OursCachedBcast),
        frequent: Kind::OursCachedFrequent,
    },
    MissRow {
        label: "64 tasks, new keys",
        tasks: 64,
        keys: 5_000,
        cold: true,
        cached: Kind::OursCached,
        bcast: Some(Kind::OursCachedBcast),
        frequent: Kind::OursCachedFrequent,
    },
    MissRow {
        label: "64 tasks, 1,000 hot keys, 1 KiB cache",
        tasks: 64,
        keys: 1_000,
        cold: false,
        cached: Kind::OursCachedSmall,
        bcast: None,
        frequent: Kind::OursCachedSmallFrequent,
    },
];

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
            cold: false,
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
                let r = |i: usize| ratio_of(&ratios(&s[0], &s[i], Sample::ops_per_sec));
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
    misses(rt, server, plan);
}

/// The miss path: every read is of a key the connection has not read, so the cache stores
/// each reply and serves none. Against the same reads without a cache, and split by a
/// client whose connection the server tracks but which caches nothing: `tracking only /
/// uncached` is the server's cost of remembering every key read, `cached / tracking only`
/// the cache's own.
pub fn misses(rt: &Runtime, server: &Server, plan: &Plan) {
    let target = Target::Single(server.port());
    let cpu = || server.cpu();
    println!("## Client-side cache: the miss path\n");
    println!(
        "GETs of 100-byte values where every read is a miss whose reply is then stored: \
         \"new keys\", each key read once per run (default `CacheConfig`, 64 MiB, which the \
         64-task runs fill and then evict from; the server adds every key to its tracking \
         table); \"hot keys\", a cache of 1 KiB that keeps almost none of them (every store \
         evicts; the server has tracked them since the first run). \"Opt-in, frequent\": the \
         same cache with `TrackingMode::OptIn` and `Admission::Frequent`, which stores (and \
         has the server track) a key only from its second read, and once full only a key \
         read more often than the one it would evict. \"Tracking only\": ours without a \
         cache but with `CLIENT TRACKING on`, the server's share. Ratios of throughput, \
         median (min–max) of {} interleaved reps.\n",
        plan.reps
    );
    println!(
        "| workload | ours cached ops/s | cached / uncached | cached, broadcast / uncached | cached, opt-in, frequent / uncached | tracking only / uncached | cached / tracking only | client CPU µs/op: cached, broadcast, opt-in frequent, uncached | server CPU µs/op: cached, broadcast, opt-in frequent, uncached |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &MISS_ROWS {
        let point = Point {
            tasks: row.tasks,
            value_len: 100,
            pipeline: 1,
            op: Op::GetOnly,
            keys_per_task: row.keys,
            shared_keys: !row.cold,
            cold: row.cold,
        };
        let kinds: Vec<Kind> = [row.cached]
            .into_iter()
            .chain(row.bcast)
            .chain([row.frequent, Kind::OursTracked, Kind::Ours])
            .collect();
        let out = server.flushall().and_then(|()| {
            rt.block_on(compare_sized(
                &kinds,
                &target,
                &point,
                plan,
                &cpu,
                Sizing::Shared,
            ))
        });
        let (plain, tracked, frequent) = (kinds.len() - 1, kinds.len() - 2, kinds.len() - 3);
        let bcast = row.bcast.map(|_| 1);
        match out {
            Ok(s) => {
                let r = |a: usize, b: usize| ratio_of(&ratios(&s[a], &s[b], Sample::ops_per_sec));
                let cpu = |i: usize| format!("{:.2}", median(&each(&s[i], Sample::cpu_us_per_op)));
                let srv = |i: usize| {
                    let v: Vec<f64> = s[i].iter().filter_map(Sample::server_us_per_op).collect();
                    if v.is_empty() {
                        "?".to_owned()
                    } else {
                        format!("{:.2}", median(&v))
                    }
                };
                let or_dash = |f: &dyn Fn(usize) -> String| bcast.map_or("—".to_owned(), f);
                let row = format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {}, {}, {}, {} | {}, {}, {}, {} |",
                    row.label,
                    thousands(median(&each(&s[0], Sample::ops_per_sec))),
                    r(0, plain),
                    or_dash(&|b| r(b, plain)),
                    r(frequent, plain),
                    r(tracked, plain),
                    r(0, tracked),
                    cpu(0),
                    or_dash(&cpu),
                    cpu(frequent),
                    cpu(plain),
                    srv(0),
                    or_dash(&srv),
                    srv(frequent),
                    srv(plain),
                );
                eprintln!("  {row}");
                println!("{row}");
            }
            Err(e) => {
                eprintln!("  {}, misses: {e}", row.label);
                println!("| {} | {e} | | | | | | | |", row.label);
            }
        }
    }
    println!();
}
