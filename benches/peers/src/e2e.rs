//! `e2e` and `sweep`: our client against redis-rs's multiplexed connection (and fred, in
//! `e2e`) on one private server, plus `redis-benchmark` as the reference of what the server
//! gives 64 unpipelined connections.

use std::process::Command;

use tokio::runtime::Runtime;

use crate::clients::{Kind, Op, Target};
use crate::measure::{Plan, Point, Sample, compare, each, in_flight_bytes, ratios};
use crate::server::Server;
use crate::stats::{median, ratio_cell, ratio_of, size, thousands};

/// Pipelined or not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Each task sends one command and awaits it.
    Plain,
    /// Each task sends pipelines of `Options::pipeline` commands.
    Pipelined,
}

impl Mode {
    fn label(self, pipeline: usize) -> String {
        match self {
            Mode::Plain => "plain".into(),
            Mode::Pipelined => format!("pipelines of {pipeline}"),
        }
    }
}

/// Options of the end-to-end scenarios.
#[derive(Clone, Debug)]
pub struct Options {
    /// Reps and run length.
    pub plan: Plan,
    /// Task counts (sweep).
    pub tasks: Vec<usize>,
    /// Value sizes in bytes (sweep).
    pub sizes: Vec<usize>,
    /// Plain and/or pipelined (sweep).
    pub modes: Vec<Mode>,
    /// Commands per pipeline.
    pub pipeline: usize,
    /// Points with more value bytes than this in flight at once are skipped: memory.
    pub max_in_flight: usize,
}

/// Keys per task: at most 256, and few enough that the values they hold fit in the
/// in-flight budget on the server too.
fn keys_per_task(tasks: usize, value_len: usize, budget: usize) -> usize {
    (budget / (tasks * value_len).max(1)).clamp(1, 256)
}

/// The results of one point, per client; `Err` when it failed or was skipped.
type Outcome = Result<Vec<Vec<Sample>>, String>;

fn run_point(rt: &Runtime, server: &Server, kinds: &[Kind], point: &Point, plan: &Plan) -> Outcome {
    server.flushall()?;
    let target = Target::Single(server.port());
    let cpu = || server.cpu();
    rt.block_on(compare(kinds, &target, point, plan, &cpu))
}

fn describe(p: &Point) -> String {
    let mode = if p.pipeline > 1 {
        format!("pipelines of {}", p.pipeline)
    } else {
        "plain".into()
    };
    let tasks = if p.tasks == 1 { "task" } else { "tasks" };
    format!("{} {tasks}, {}, {mode}", p.tasks, size(p.value_len))
}

/// A progress line on stderr: the point and its two ratios.
fn progress(p: &Point, out: &Outcome, kinds: &[Kind]) {
    match out {
        Ok(s) => {
            let mut line = format!(
                "  {}: ours {} ops/s",
                describe(p),
                thousands(median(&each(&s[0], Sample::ops_per_sec)))
            );
            for (i, k) in kinds.iter().enumerate().skip(1) {
                line.push_str(&format!(
                    "; ours/{} ops/s {}, CPU/op {}",
                    k.label(),
                    ratio_cell(
                        &each(&s[0], Sample::ops_per_sec),
                        &each(&s[i], Sample::ops_per_sec)
                    ),
                    ratio_cell(
                        &each(&s[0], Sample::cpu_us_per_op),
                        &each(&s[i], Sample::cpu_us_per_op)
                    )
                ));
            }
            eprintln!("{line}");
        }
        Err(e) => eprintln!("  {}: {e}", describe(p)),
    }
}

/// `sweep`: every (mode, value size, task count) point, ours against redis-rs.
pub fn sweep(rt: &Runtime, server: &Server, o: &Options) {
    let kinds = [Kind::Ours, Kind::RedisRs];
    let mut results: Vec<(Mode, usize, usize, Outcome)> = Vec::new();
    eprintln!(
        "sweep: {} modes × {} sizes × {} task counts, {} reps of ~{:.2} s per client",
        o.modes.len(),
        o.sizes.len(),
        o.tasks.len(),
        o.plan.reps,
        o.plan.secs
    );
    for &mode in &o.modes {
        for &len in &o.sizes {
            for &tasks in &o.tasks {
                let point = Point {
                    tasks,
                    value_len: len,
                    pipeline: if mode == Mode::Pipelined {
                        o.pipeline
                    } else {
                        1
                    },
                    op: Op::SetGet,
                    keys_per_task: keys_per_task(tasks, len, o.max_in_flight),
                    shared_keys: false,
                    cold: false,
                };
                let out = if in_flight_bytes(&point) > o.max_in_flight {
                    Err(format!(
                        "skipped: {} MiB of values in flight (limit --max-in-flight-mb {})",
                        in_flight_bytes(&point) >> 20,
                        o.max_in_flight >> 20
                    ))
                } else {
                    run_point(rt, server, &kinds, &point, &o.plan)
                };
                progress(&point, &out, &kinds);
                results.push((mode, len, tasks, out));
            }
        }
    }

    println!("## Sweep: ours / redis-rs (multiplexed connection)\n");
    println!(
        "Each task SETs a 16-byte key to the value, then GETs it and checks the length; both \
         clients do the same. Medians of {} interleaved reps, min–max of the per-rep ratios in \
         brackets. ops/s: > 1 is ours faster; client CPU per op: < 1 is ours cheaper. Server \
         CPU per op shows how well each client batches its writes (10 ms ticks: n/a when \
         the runs are too short to count).\n",
        o.plan.reps
    );
    // The summary grid: one row per task count, one column per (mode, size).
    let cols: Vec<(Mode, usize)> = o
        .modes
        .iter()
        .flat_map(|&m| o.sizes.iter().map(move |&s| (m, s)))
        .collect();
    println!("### ops/s ratio (client CPU per op ratio)\n");
    let header: Vec<String> = cols
        .iter()
        .map(|&(m, s)| format!("{} {}", size(s), m.label(o.pipeline)))
        .collect();
    println!("| tasks | {} |", header.join(" | "));
    println!("|---:|{}", "---:|".repeat(cols.len()));
    for &tasks in &o.tasks {
        let cells: Vec<String> = cols
            .iter()
            .map(|&(m, s)| {
                let found = results
                    .iter()
                    .find(|r| r.0 == m && r.1 == s && r.2 == tasks);
                match found.map(|r| &r.3) {
                    Some(Ok(x)) => format!(
                        "{:.2}× ({:.2}×)",
                        median(&ratios(&x[0], &x[1], Sample::ops_per_sec)),
                        median(&ratios(&x[0], &x[1], Sample::cpu_us_per_op))
                    ),
                    Some(Err(e)) if e.starts_with("skipped") => "—".into(),
                    _ => "failed".into(),
                }
            })
            .collect();
        println!("| {tasks} | {} |", cells.join(" | "));
    }
    println!("\n(— : over the in-flight memory limit, not run)\n");

    for &(mode, len) in &cols {
        println!("### {}, {} values\n", mode.label(o.pipeline), size(len));
        println!(
            "| tasks | ours / redis-rs ops/s | ours / redis-rs client CPU per op | ours ops/s | ours client CPU µs/op | redis-rs ops/s | redis-rs client CPU µs/op | ours / redis-rs server CPU per op | server busy: ours, redis-rs | client CPU in the kernel: ours, redis-rs |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in results.iter().filter(|r| r.0 == mode && r.1 == len) {
            match &r.3 {
                Ok(x) => println!(
                    "| {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {}, {} | {:.0} %, {:.0} % |",
                    r.2,
                    ratio_of(&ratios(&x[0], &x[1], Sample::ops_per_sec)),
                    ratio_of(&ratios(&x[0], &x[1], Sample::cpu_us_per_op)),
                    thousands(median(&each(&x[0], Sample::ops_per_sec))),
                    median(&each(&x[0], Sample::cpu_us_per_op)),
                    thousands(median(&each(&x[1], Sample::ops_per_sec))),
                    median(&each(&x[1], Sample::cpu_us_per_op)),
                    server_ratio(&x[0], &x[1]),
                    server_busy(&x[0]),
                    server_busy(&x[1]),
                    100.0 * median(&each(&x[0], Sample::kernel_share)),
                    100.0 * median(&each(&x[1], Sample::kernel_share)),
                ),
                Err(e) => println!("| {} | {e} | | | | | | | | |", r.2),
            }
        }
        println!();
    }
    if o.tasks.contains(&64) && o.sizes.contains(&100) && o.modes.contains(&Mode::Plain) {
        versus_redis_benchmark(rt, server, &o.plan);
    }
}

/// Server CPU per op, ours / peer; `n/a` when either side's runs add up to less than half a
/// second of server CPU, since the server's CPU time comes in 10 ms ticks.
fn server_ratio(a: &[Sample], b: &[Sample]) -> String {
    let total = |s: &[Sample]| -> f64 {
        s.iter()
            .map(|x| x.server_cpu.map_or(0.0, |c| c.as_secs_f64()))
            .sum()
    };
    if total(a) < 0.5 || total(b) < 0.5 {
        return "n/a".into();
    }
    ratio_of(&ratios(a, b, |s| s.server_us_per_op().unwrap_or(f64::NAN)))
}

/// The median share of one core the server used during a client's runs (see
/// [`Sample::server_busy`]); `n/a` when its CPU time could not be read.
fn server_busy(s: &[Sample]) -> String {
    let busy: Vec<f64> = s.iter().filter_map(Sample::server_busy).collect();
    if busy.is_empty() {
        return "n/a".into();
    }
    format!("{:.0} %", 100.0 * median(&busy))
}

/// `e2e`: a few points, ours against redis-rs and fred.
pub fn e2e(rt: &Runtime, server: &Server, o: &Options) {
    #[cfg(feature = "fred")]
    let kinds = vec![Kind::Ours, Kind::RedisRs, Kind::Fred];
    #[cfg(not(feature = "fred"))]
    let kinds = vec![Kind::Ours, Kind::RedisRs];
    let mut points: Vec<Point> = [1, 8, 64, 512]
        .into_iter()
        .map(|tasks| Point {
            tasks,
            value_len: 100,
            pipeline: 1,
            op: Op::SetGet,
            keys_per_task: keys_per_task(tasks, 100, o.max_in_flight),
            shared_keys: false,
            cold: false,
        })
        .collect();
    points.push(Point {
        tasks: 1,
        value_len: 100,
        pipeline: o.pipeline,
        op: Op::SetGet,
        keys_per_task: 256,
        shared_keys: false,
        cold: false,
    });
    eprintln!(
        "e2e: {} points, {} reps of ~{:.2} s per client",
        points.len(),
        o.plan.reps,
        o.plan.secs
    );
    let mut rows = Vec::new();
    for p in &points {
        let out = run_point(rt, server, &kinds, p, &o.plan);
        progress(p, &out, &kinds);
        rows.push((p, out));
    }
    println!("## End to end: ours / each peer\n");
    println!(
        "16-byte keys, 100-byte values; each task SETs then GETs and checks the length. \
         Medians of {} interleaved reps (min–max of per-rep ratios). fred: {}.\n",
        o.plan.reps,
        if cfg!(feature = "fred") {
            "one auto-pipelined `Client`, default config"
        } else {
            "left out (built without the `fred` feature)"
        }
    );
    let peers: Vec<&Kind> = kinds.iter().skip(1).collect();
    let mut header = String::from("| workload | ours ops/s | ours client CPU µs/op |");
    for k in &peers {
        header.push_str(&format!(
            " ours / {0} ops/s | ours / {0} CPU per op |",
            k.label()
        ));
    }
    println!("{header}");
    println!("|---|---:|---:|{}", "---:|---:|".repeat(peers.len()));
    for (p, out) in &rows {
        let mut line = format!("| {} |", describe(p));
        match out {
            Ok(x) => {
                line.push_str(&format!(
                    " {} | {:.2} |",
                    thousands(median(&each(&x[0], Sample::ops_per_sec))),
                    median(&each(&x[0], Sample::cpu_us_per_op))
                ));
                for i in 1..kinds.len() {
                    line.push_str(&format!(
                        " {} | {} |",
                        ratio_of(&ratios(&x[0], &x[i], Sample::ops_per_sec)),
                        ratio_of(&ratios(&x[0], &x[i], Sample::cpu_us_per_op))
                    ));
                }
            }
            Err(e) => line.push_str(&format!(" {e} |")),
        }
        println!("{line}");
    }
    println!();
    versus_redis_benchmark(rt, server, &o.plan);
}

/// `redis-benchmark -c 64 -P 1 -t set,get -d 100` against the same server, interleaved with
/// our 64-task run: how much of what the server gives 64 plain connections our one
/// multiplexed connection gets.
fn versus_redis_benchmark(rt: &Runtime, server: &Server, plan: &Plan) {
    println!("## Ours with 64 tasks as a fraction of redis-benchmark -c 64 -P 1\n");
    if Command::new("redis-benchmark")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("redis-benchmark is not installed: skipped.\n");
        return;
    }
    let point = Point {
        tasks: 64,
        value_len: 100,
        pipeline: 1,
        op: Op::SetGet,
        keys_per_task: 256,
        shared_keys: false,
        cold: false,
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let one = Plan {
            reps: 1,
            secs: plan.secs,
        };
        let s = match run_point(rt, server, &[Kind::Ours], &point, &one) {
            Ok(s) => s[0][0],
            Err(e) => {
                println!("ours failed: {e}\n");
                return;
            }
        };
        // As many requests as our run made, half SET and half GET.
        match redis_benchmark(server.port(), 64, s.ops / 2) {
            Ok(rb) => {
                ours.push(s.ops_per_sec());
                theirs.push(rb);
            }
            Err(e) => {
                println!("redis-benchmark failed: {e}\n");
                return;
            }
        }
    }
    let fractions: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
    let (lo, hi) = crate::stats::range(&fractions);
    println!(
        "| | ops/s (median) |\n|---|---:|\n| ours, 64 tasks, one connection | {} |\n| redis-benchmark -c 64 -P 1 -d 100 -t set,get | {} |\n| ours as a fraction | **{:.0} %** ({:.0}–{:.0} %) |\n",
        thousands(median(&ours)),
        thousands(median(&theirs)),
        median(&fractions) * 100.0,
        lo * 100.0,
        hi * 100.0
    );
}

/// Runs `redis-benchmark` (pinned where this process is: children inherit it) and returns
/// its SET+GET rate: `2n` requests over the time both tests took.
fn redis_benchmark(port: u16, clients: usize, n: u64) -> Result<f64, String> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &clients.to_string(), "-P", "1", "-d", "100"])
        .args(["-n", &n.max(1000).to_string(), "-t", "set,get", "--csv"])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = |test: &str| {
        text.lines()
            .map(|l| {
                l.split(',')
                    .map(|f| f.trim_matches('"'))
                    .collect::<Vec<_>>()
            })
            .find(|f| f.first() == Some(&test))
            .and_then(|f| f.get(1).and_then(|r| r.parse::<f64>().ok()))
    };
    match (rate("SET"), rate("GET")) {
        (Some(set), Some(get)) if set > 0.0 && get > 0.0 => Ok(2.0 / (1.0 / set + 1.0 / get)),
        _ => Err(format!("unexpected output: {}", text.trim())),
    }
}

/// The default sweep's shape, and the quick one for a smoke run.
impl Options {
    /// The full sweep: about 10–15 minutes on a 2-core machine.
    pub fn full() -> Options {
        Options {
            plan: Plan { reps: 5, secs: 0.8 },
            tasks: vec![1, 4, 8, 16, 32, 64, 512],
            sizes: vec![100, 16 << 10, 1 << 20],
            modes: vec![Mode::Plain, Mode::Pipelined],
            pipeline: 100,
            max_in_flight: 512 << 20,
        }
    }

    /// A smoke run: a minute or two.
    pub fn quick() -> Options {
        Options {
            plan: Plan {
                reps: 2,
                secs: 0.15,
            },
            tasks: vec![1, 64],
            sizes: vec![100, 16 << 10],
            ..Options::full()
        }
    }
}
