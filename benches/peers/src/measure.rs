//! Measuring clients side by side: one point (tasks, value size, pipeline) is sized once so
//! that a run takes about the requested time, then run by every client in turn, rep after
//! rep (ours, peer, ours, peer...), each run on a fresh connection, with identical work.
//!
//! Client CPU is this process's user + system time (`getrusage`) across the run: the clients
//! run one after the other, so each run's CPU is its client's, background tasks included.
//! Connecting and closing happen outside the measured span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::clients::{Conn, Kind, Op, Target, Work, key, tagged_key};
use crate::sys;

/// One measured run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Operations done (each SET and each GET counts).
    pub ops: u64,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// This process's CPU time during the run (user and system).
    pub cpu: Duration,
    /// The system (kernel) part of `cpu`: socket reads and writes, wake-ups.
    pub cpu_sys: Duration,
    /// The server's (or servers') CPU time during the run, when readable.
    pub server_cpu: Option<Duration>,
}

impl Sample {
    /// Throughput.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    /// Client CPU per operation, in microseconds.
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops as f64
    }

    /// Server CPU per operation, in microseconds (10 ms ticks: coarse on short runs).
    pub fn server_us_per_op(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() * 1e6 / self.ops as f64)
    }

    /// The kernel's share of the client's CPU time: work every client pays alike for the
    /// same bytes on the wire, which bounds how far below a peer's CPU per op ours can go.
    pub fn kernel_share(&self) -> f64 {
        self.cpu_sys.as_secs_f64() / self.cpu.as_secs_f64()
    }

    /// The server's CPU time over the run's wall-clock time: near 1 (one core's worth, for a
    /// single server) when the server, not the client, sets the pace.
    pub fn server_busy(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() / self.wall.as_secs_f64())
    }
}

/// How long and how often each client runs a point.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Measured reps per client.
    pub reps: usize,
    /// Target duration of one run.
    pub secs: f64,
}

/// One point of a comparison.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Concurrent tasks.
    pub tasks: usize,
    /// Value size in bytes.
    pub value_len: usize,
    /// Commands per pipeline (1: none).
    pub pipeline: usize,
    /// What a round is.
    pub op: Op,
    /// Keys per task, cycled through: bounds the server's memory.
    pub keys_per_task: usize,
    /// Every task reads the same `keys_per_task` keys (each from its own starting point)
    /// rather than keys of its own: hot keys shared by the tasks.
    pub shared_keys: bool,
    /// Every read is of a key this connection has not read before (the miss path of a
    /// client-side cache): no warm-up pass, and a run's rounds are capped at
    /// `keys_per_task`, so no task reads a key twice.
    pub cold: bool,
}

/// The bytes of the values a point has in flight at once: the SET arguments of every task's
/// current command or pipeline.
pub fn in_flight_bytes(p: &Point) -> usize {
    let per_task = if p.pipeline > 1 { p.pipeline / 2 } else { 1 };
    p.tasks * per_task * p.value_len
}

/// A deterministic value of `len` bytes.
pub fn value(len: usize) -> Bytes {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn work(p: &Point, rounds: usize, keys: &Arc<Vec<Arc<[String]>>>, value: &Bytes) -> Arc<Work> {
    Arc::new(Work {
        tasks: p.tasks,
        pipeline: p.pipeline,
        op: p.op,
        rounds,
        value: value.clone(),
        keys: Arc::clone(keys),
        cold: p.cold,
    })
}

/// Connects `kind`, runs `work` once (GET-only work after an untimed pass over its keys),
/// closes.
///
/// # Errors
///
/// The client's error, or a failed reply check.
pub async fn measure(
    kind: Kind,
    target: &Target,
    work: &Arc<Work>,
    server_cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Sample, String> {
    let conn = Conn::open(kind, target).await?;
    if work.op == Op::GetOnly && kind.caches() && !work.cold {
        // Untimed: every task reads each of its keys twice first, so that a client with a
        // cache is measured on hits (each run has a fresh connection, so a cold cache). A
        // client without a cache has nothing to warm: the pass would only cost time.
        let warm = Arc::new(Work {
            tasks: work.tasks,
            pipeline: work.pipeline,
            op: work.op,
            rounds: 2 * work.keys[0].len(),
            value: work.value.clone(),
            keys: Arc::clone(&work.keys),
            cold: false,
        });
        if let Err(e) = conn.run(&warm).await {
            conn.close().await;
            return Err(format!("{} warm-up: {e}", kind.label()));
        }
    }
    let (srv0, (user0, sys0), t0) = (server_cpu(), sys::process_cpu(), Instant::now());
    let result = conn.run(work).await;
    let (wall, (user1, sys1), srv1) = (t0.elapsed(), sys::process_cpu(), server_cpu());
    conn.close().await;
    result.map_err(|e| format!("{}: {e}", kind.label()))?;
    Ok(Sample {
        ops: work.ops(),
        wall,
        cpu: (user1 + sys1).saturating_sub(user0 + sys0),
        cpu_sys: sys1.saturating_sub(sys0),
        server_cpu: srv0.zip(srv1).map(|(a, b)| b.saturating_sub(a)),
    })
}

/// How many rounds each client runs in a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizing {
    /// The same work for every client, sized from the geometric mean of their rates: for
    /// clients of similar speed.
    Shared,
    /// Each client's rounds sized from its own rate, so that each run lasts about the plan's
    /// length: for clients hundreds of times apart (a cache hit against a round trip), where
    /// shared work would make the slowest run for minutes.
    Own,
}

/// Runs `point` for every client in `kinds`: sizes it, warms every client up, then `reps`
/// interleaved reps. Returns the samples per client, in `kinds` order.
///
/// # Errors
///
/// The first failure of any run.
pub async fn compare(
    kinds: &[Kind],
    target: &Target,
    point: &Point,
    plan: &Plan,
    server_cpu: &dyn Fn() -> Option<Duration>,
) -> Result<Vec<Vec<Sample>>, String> {
    compare_sized(kinds, target, point, plan, server_cpu, Sizing::Shared).await
}

/// [`compare`], with each client's work sized as `sizing` says.
///
/// # Errors
///
/// The first failure of any run.
pub async fn compare_sized(
    kinds: &[Kind],
    target: &Target,
    point: &Point,
    plan: &Plan,
    server_cpu: &dyn Fn() -> Option<Duration>,
    sizing: Sizing,
) -> Result<Vec<Vec<Sample>>, String> {
    let n = point.keys_per_task.max(1);
    // A cluster pipeline's keys share one hash tag per task: redis-rs refuses a pipeline
    // whose keys span slots.
    let tagged = point.pipeline > 1 && matches!(target, Target::Cluster(_));
    let keys: Arc<Vec<Arc<[String]>>> = Arc::new(
        (0..point.tasks)
            .map(|t| match point.shared_keys {
                // The same keys, each task starting at its own offset.
                true => (0..n)
                    .map(|i| key(0, (i + t * n / point.tasks) % n))
                    .collect(),
                false if tagged => (0..n).map(|i| tagged_key(t, i)).collect(),
                false => (0..n).map(|i| key(t, i)).collect(),
            })
            .collect(),
    );
    let value = value(point.value_len);
    // Writes the keys of GET-only work. Before each run of a cold point, the database is
    // emptied first: `FLUSHALL` also empties the server's tracking table, which otherwise
    // keeps every key a closed connection read (with that connection's id), so that each
    // run's tracking starts from the same state.
    let load = || {
        let (keys, value) = (&keys, &value);
        async move {
            let loader = Conn::open(Kind::Ours, target).await?;
            let mut loaded = Ok(());
            if point.cold {
                loaded = loader.flushall().await;
            }
            if loaded.is_ok() {
                loaded = loader.preload(&work(point, 1, keys, value)).await;
            }
            loader.close().await;
            loaded
        }
    };
    if point.op == Op::GetOnly && !point.cold {
        load().await?;
    }
    let run = |kind: Kind, work: Arc<Work>| {
        let load = &load;
        async move {
            if point.cold {
                load().await?;
            }
            measure(kind, target, &work, server_cpu).await
        }
    };
    // Sizing, which is also every client's warm-up: grow a client's rounds until a run lasts
    // an eighth of the target. Shared: the first client is grown, and each other one runs
    // once at its size; Own: each client is grown from its own rate.
    let warm_target = (plan.secs / 8.0).max(0.02);
    // A cold point reads each key once: a run ends at the last key.
    let most_rounds = if point.cold { n } else { 1 << 24 };
    let grow_rate = |kind: Kind, mut rounds: usize| {
        let (keys, value, run) = (&keys, &value, &run);
        async move {
            loop {
                let s = run(kind, work(point, rounds, keys, value)).await?;
                let wall = s.wall.as_secs_f64();
                if wall >= warm_target || rounds >= most_rounds {
                    return Ok::<_, String>((s.ops_per_sec(), rounds));
                }
                let grow = (warm_target / wall.max(1e-6)).clamp(2.0, 16.0);
                rounds = (((rounds as f64) * grow).ceil() as usize).min(most_rounds);
            }
        }
    };
    let mut rates = Vec::with_capacity(kinds.len());
    let (rate, first_rounds) = grow_rate(kinds[0], 1).await?;
    rates.push(rate);
    for &k in &kinds[1..] {
        let rate = match sizing {
            Sizing::Shared => {
                let w = work(point, first_rounds, &keys, &value);
                run(k, w).await?.ops_per_sec()
            }
            Sizing::Own => grow_rate(k, 1).await?.0,
        };
        rates.push(rate);
    }
    let per_round = (point.tasks * work(point, 1, &keys, &value).ops_per_round()) as f64;
    let rounds_at =
        |rate: f64| ((plan.secs * rate / per_round).ceil() as usize).clamp(1, most_rounds);
    let works: Vec<Arc<Work>> = match sizing {
        // The same number of rounds for every client, from the geometric mean of their rates.
        Sizing::Shared => {
            let mean_rate = rates.iter().map(|r| r.ln()).sum::<f64>() / rates.len() as f64;
            vec![work(point, rounds_at(mean_rate.exp()), &keys, &value); kinds.len()]
        }
        Sizing::Own => rates
            .iter()
            .map(|&r| work(point, rounds_at(r), &keys, &value))
            .collect(),
    };
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(plan.reps); kinds.len()];
    for _ in 0..plan.reps {
        for (i, &k) in kinds.iter().enumerate() {
            samples[i].push(run(k, Arc::clone(&works[i])).await?);
        }
    }
    Ok(samples)
}

/// Per-rep ratios of `f` between two clients' samples (`a` over `b`).
pub fn ratios(a: &[Sample], b: &[Sample], f: fn(&Sample) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect()
}

/// Per-rep values of `f` over one client's samples.
pub fn each(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Vec<f64> {
    samples.iter().map(f).collect()
}
