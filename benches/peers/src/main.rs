//! Side-by-side benchmarks of redis-manager and resp-codec against other Redis clients and
//! RESP codecs, on private `redis-server` processes. See README.md.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- SCENARIO... [FLAGS]
//! ```

mod cache;
mod clients;
mod cluster;
mod codec;
mod corpus;
mod e2e;
mod measure;
mod server;
mod stats;
mod sys;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::e2e::Mode;
use crate::server::{Cluster, Server};

const USAGE: &str = "\
usage: peers SCENARIO... [FLAGS]

scenarios:
  codec     decode/encode speed: resp-codec vs redis-rs's parser and redis-protocol
  e2e       ours vs redis-rs (multiplexed) and fred: 1/8/64/512 tasks, a pipelined run,
            and ours with 64 tasks as a fraction of redis-benchmark -c 64 -P 1
  sweep     ours vs redis-rs: tasks x value sizes x plain/pipelined (~10-15 min by default)
  cluster   ours vs redis-rs on a private 3-master cluster
  cache     hot-key GETs: ours with its client-side cache vs redis-rs cache-aio and ours uncached;
            then the cache's miss path against ours uncached
  cache-miss  the cache's miss path alone

flags:
  --quick               a smoke run (fewer reps, shorter runs, fewer sweep points)
  --reps N              measured reps per client and point (default 5; quick 2)
  --secs S              target length of one run in seconds (default 0.8; quick 0.15)
  --tasks 1,4,8         sweep task counts (default 1,4,8,16,32,64,512)
  --sizes 100,16k,1m    sweep value sizes (default 100,16k,1m)
  --modes plain,pipelined
                        sweep modes (default both)
  --pipeline N          commands per pipeline (default 100)
  --max-in-flight-mb N  skip sweep points with more value bytes in flight (default 512)
  --samples N           codec samples per decoder and corpus (default 7; quick 3)
  --sample-ms N         codec minimum sample length (default 50; quick 20)
  --corpora a,b         codec: only the corpora whose names contain one of these
  --no-pin              do not pin the server and the client to separate CPUs
  --peer-nodelay        set TCP_NODELAY on the peers' connections, as ours does by default
                        (redis-rs and fred leave Nagle on unless told)
";

struct Args {
    scenarios: Vec<String>,
    e2e: e2e::Options,
    codec: codec::Options,
    pin: bool,
}

fn parse() -> Result<Args, String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let quick = raw.iter().any(|a| a == "--quick");
    let mut a = Args {
        scenarios: Vec::new(),
        e2e: if quick {
            e2e::Options::quick()
        } else {
            e2e::Options::full()
        },
        codec: codec::Options {
            samples: if quick { 3 } else { 7 },
            min_sample: Duration::from_millis(if quick { 20 } else { 50 }),
            only: Vec::new(),
        },
        pin: true,
    };
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{arg}: not a positive number: {v}"))
        };
        let list = |v: String, f: &dyn Fn(&str) -> Option<usize>| {
            v.split(',')
                .map(|x| f(x).ok_or(format!("{arg}: bad item {x:?}")))
                .collect::<Result<Vec<usize>, String>>()
        };
        match arg.as_str() {
            "--quick" => {}
            "--no-pin" => a.pin = false,
            "--peer-nodelay" => clients::PEER_NODELAY.store(true, Ordering::Relaxed),
            "--reps" => a.e2e.plan.reps = number(value()?)?,
            "--secs" => {
                let v = value()?;
                a.e2e.plan.secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
                    .ok_or(format!("--secs: not a duration in seconds: {v}"))?;
            }
            "--tasks" => {
                a.e2e.tasks = list(value()?, &|x| x.parse().ok().filter(|&n: &usize| n > 0))?
            }
            "--sizes" => a.e2e.sizes = list(value()?, &stats::parse_size)?,
            "--modes" => {
                a.e2e.modes = value()?
                    .split(',')
                    .map(|m| match m {
                        "plain" => Ok(Mode::Plain),
                        "pipelined" | "pipeline" => Ok(Mode::Pipelined),
                        _ => Err(format!("--modes: plain or pipelined, not {m:?}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--pipeline" => a.e2e.pipeline = number(value()?)?.max(2),
            "--max-in-flight-mb" => a.e2e.max_in_flight = number(value()?)? << 20,
            "--samples" => a.codec.samples = number(value()?)?,
            "--sample-ms" => a.codec.min_sample = Duration::from_millis(number(value()?)? as u64),
            "--corpora" => a.codec.only = value()?.split(',').map(String::from).collect(),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown flag {s}")),
            s => match s {
                "codec" | "e2e" | "sweep" | "cluster" | "cache" | "cache-miss" => {
                    a.scenarios.push(s.into())
                }
                _ => return Err(format!("unknown scenario {s}")),
            },
        }
    }
    if a.scenarios.is_empty() {
        return Err("name at least one scenario".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}\n");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Pin before the runtime exists, so that its threads inherit the client's core.
    let placement = sys::Placement::apply(args.pin);
    server::remove_stale_dirs();
    let steal0 = sys::steal();
    println!("# redis-manager against its peers\n");
    let sockets = if clients::PEER_NODELAY.load(Ordering::Relaxed) {
        "every client's connections have TCP_NODELAY (--peer-nodelay)"
    } else {
        "each client's own socket options: ours sets TCP_NODELAY, redis-rs and fred leave Nagle on"
    };
    println!(
        "- {}\n- {}\n- {}\n- {sockets}\n",
        placement.describe(),
        sys::load_line(),
        server_version()
    );
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for s in &args.scenarios {
        let result = match s.as_str() {
            "codec" => {
                codec::run(&args.codec);
                Ok(())
            }
            "e2e" => Server::start(placement.server, &[]).map(|srv| e2e::e2e(&rt, &srv, &args.e2e)),
            "sweep" => {
                Server::start(placement.server, &[]).map(|srv| e2e::sweep(&rt, &srv, &args.e2e))
            }
            "cluster" => {
                Cluster::start(placement.server).map(|c| cluster::run(&rt, &c, &args.e2e.plan))
            }
            "cache" => Server::start(placement.server, &[])
                .map(|srv| cache::run(&rt, &srv, &args.e2e.plan)),
            "cache-miss" => Server::start(placement.server, &[])
                .map(|srv| cache::misses(&rt, &srv, &args.e2e.plan)),
            _ => unreachable!("checked by parse"),
        };
        if let Err(e) = result {
            eprintln!("{s}: {e}");
            failed = true;
        }
    }
    println!(
        "- CPU time stolen by the hypervisor during the run (all CPUs): {:.1} s; {}",
        sys::steal().saturating_sub(steal0).as_secs_f64(),
        sys::load_line()
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `redis-server --version`, for the header.
fn server_version() -> String {
    match std::process::Command::new("redis-server")
        .arg("--version")
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(_) => "redis-server: not found on PATH (needed by every scenario but codec)".into(),
    }
}
