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

use crate::clients::{Conn, Kind, Op, Target, Work, key};
use crate::sys;

/// One measured run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Operations done (each SET and each GET counts).
    pub ops: u64,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// This process's CPU time during the run.
    pub cpu: Duration,
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
    if work.op == Op::GetOnly {
        // Untimed: every task reads each of its keys twice first, so that a client with a
        // cache is measured on hits (each run has a fresh connection, so a cold cache); the
        // same pass for every client.
        let warm = Arc::new(Work {
            tasks: work.tasks,
            pipeline: work.pipeline,
            op: work.op,
            rounds: 2 * work.keys[0].len(),
            value: work.value.clone(),
            keys: Arc::clone(&work.keys),
        });
        if let Err(e) = conn.run(&warm).await {
            conn.close().await;
            return Err(format!("{} warm-up: {e}", kind.label()));
        }
    }
    let (srv0, cpu0, t0) = (server_cpu(), sys::process_cpu(), Instant::now());
    let result = conn.run(work).await;
    let (wall, cpu1, srv1) = (t0.elapsed(), sys::process_cpu(), server_cpu());
    conn.close().await;
    result.map_err(|e| format!("{}: {e}", kind.label()))?;
    Ok(Sample {
        ops: work.ops(),
        wall,
        cpu: cpu1.saturating_sub(cpu0),
        server_cpu: srv0.zip(srv1).map(|(a, b)| b.saturating_sub(a)),
    })
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
    let n = point.keys_per_task.max(1);
    let keys: Arc<Vec<Arc<[String]>>> = Arc::new(
        (0..point.tasks)
            .map(|t| match point.shared_keys {
                // The same keys, each task starting at its own offset.
                true => (0..n)
                    .map(|i| key(0, (i + t * n / point.tasks) % n))
                    .collect(),
                false => (0..n).map(|i| key(t, i)).collect(),
            })
            .collect(),
    );
    let value = value(point.value_len);
    if point.op == Op::GetOnly {
        let loader = Conn::open(Kind::Ours, target).await?;
        let loaded = loader.preload(&work(point, 1, &keys, &value)).await;
        loader.close().await;
        loaded?;
    }
    // Sizing, which is also every client's warm-up: grow the first client's rounds until a
    // run lasts an eighth of the target, then run each other client once at that size.
    let warm_target = (plan.secs / 8.0).max(0.02);
    let mut rounds = 1usize;
    let mut rates = Vec::with_capacity(kinds.len());
    loop {
        let s = measure(
            kinds[0],
            target,
            &work(point, rounds, &keys, &value),
            server_cpu,
        )
        .await?;
        let wall = s.wall.as_secs_f64();
        if wall >= warm_target || rounds >= 1 << 24 {
            rates.push(s.ops_per_sec());
            break;
        }
        let grow = (warm_target / wall.max(1e-6)).clamp(2.0, 16.0);
        rounds = ((rounds as f64) * grow).ceil() as usize;
    }
    for &k in &kinds[1..] {
        let s = measure(k, target, &work(point, rounds, &keys, &value), server_cpu).await?;
        rates.push(s.ops_per_sec());
    }
    // The same number of rounds for every client, from the geometric mean of their rates.
    let mean_rate = rates.iter().map(|r| r.ln()).sum::<f64>() / rates.len() as f64;
    let per_round = (point.tasks * work(point, 1, &keys, &value).ops_per_round()) as f64;
    let rounds = ((plan.secs * mean_rate.exp() / per_round).ceil() as usize).max(1);
    let w = work(point, rounds, &keys, &value);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(plan.reps); kinds.len()];
    for _ in 0..plan.reps {
        for (i, &k) in kinds.iter().enumerate() {
            samples[i].push(measure(k, target, &w, server_cpu).await?);
        }
    }
    Ok(samples)
}

/// Per-rep values of `f` over one client's samples.
pub fn each(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Vec<f64> {
    samples.iter().map(f).collect()
}
