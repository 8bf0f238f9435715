//! A small redis-benchmark for this client.
//!
//! ```text
//! cargo run --release --example benchmark -- --host 127.0.0.1 --port 6379 --tasks 64 --ops 200000 --pipeline 1
//! cargo run --release --example benchmark -- --cluster 127.0.0.1:7000,127.0.0.1:7001 --tasks 64
//! cargo run --release --example benchmark -- --private --tasks 64
//! ```
//!
//! `--private` starts a private `redis-server` (on `PATH`) on a free loopback port for the run,
//! saving nothing, and stops it at the end, instead of using `--host`/`--port`.
//! `--cluster host:port[,host:port...]` (alias `--cluster-nodes`) connects to a Redis Cluster
//! through these seed nodes instead of `--host`/`--port`; the keys differ per task and index,
//! so they spread over every shard, and pipelines are split by node by the client.
//! `--pipeline-keys tagged` gives the keys of each pipeline one hash tag (`{pNNNNNNN}:NNNNN`,
//! a new tag per pipeline), so a whole pipeline goes to one node, as clients that refuse
//! cross-slot pipelines need; the default, `spread`, keeps the keys above.
//!
//! Each task SETs a 16-byte key to a 100-byte value (`--value-size N` bytes) and then GETs it;
//! both count as operations. Each GET's length is checked, the same check as the peer
//! comparison in `benches/peers` makes for every client (which is where the comparisons with
//! other clients are measured).
//! With `--pipeline K` (K > 1) one task sends explicit pipelines of K commands instead.
//! `--typed` sends the typed `client.set`/`client.get` instead of `cmd("SET")`/`cmd("GET")`.
//! Prints `ops_per_sec <n>` and `client_cpu_us_per_op <x>` (this process's user + system CPU
//! divided by the number of operations), the lines a comparison harness can read.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use redis_manager::prelude::*;
use redis_manager::{Client, Config, Pipeline, cmd};

mod common;

struct Opts {
    host: String,
    port: u16,
    tasks: usize,
    ops: usize,
    pipeline: usize,
    /// Cluster seed nodes, `host:port[,host:port...]`; `None`: a single server.
    cluster: Option<String>,
    /// One hash tag per pipeline (`--pipeline-keys tagged`) instead of keys on every shard.
    tagged_pipelines: bool,
    /// Start a private redis-server for the run (`--private`).
    private: bool,
    /// Use the typed commands (`client.set`, `client.get`) instead of `cmd(..)` (`--typed`).
    typed: bool,
    /// Bytes per value (`--value-size`, default 100).
    value_size: usize,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 6379,
        tasks: 64,
        ops: 200_000,
        pipeline: 1,
        cluster: None,
        tagged_pipelines: false,
        private: false,
        typed: false,
        value_size: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--private" {
            o.private = true;
            continue;
        }
        if flag == "--typed" {
            o.typed = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("bad {flag}: {value}"))
        };
        match flag.as_str() {
            "--host" => o.host = value.clone(),
            "--port" => o.port = value.parse().map_err(|_| format!("bad --port: {value}"))?,
            "--tasks" => o.tasks = num()?.max(1),
            "--ops" => o.ops = num()?.max(2),
            "--pipeline" => o.pipeline = num()?.max(1),
            "--value-size" => o.value_size = num()?,
            "--cluster" | "--cluster-nodes" => o.cluster = Some(value.clone()),
            "--pipeline-keys" => {
                o.tagged_pipelines = match value.as_str() {
                    "spread" => false,
                    "tagged" => true,
                    _ => return Err(format!("bad {flag}: {value} (spread or tagged)")),
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

/// User + system CPU time of this process, from /proc (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux configuration that matters here.
    Some(Duration::from_millis(ticks * 10))
}

fn key(task: usize, i: usize) -> String {
    format!("bench:{:05}:{:06}", task % 100_000, i % 1_000_000)
}

async fn run(o: Opts) -> Result<(), redis_manager::Error> {
    let config = match &o.cluster {
        // The `redis+cluster://` URL parser checks every seed (host:port, default port 6379).
        Some(nodes) => Config::from_url(&format!("redis+cluster://{nodes}"))?,
        None => Config::builder()
            .host(o.host.clone())
            .port(o.port)
            .build()?,
    };
    let client = Client::connect(config).await?;
    let value = vec![b'v'; o.value_size];
    // Keys are made before the clock starts, as the peer harness does.
    let per_task = o.ops / 2 / o.tasks;
    let keysets: Vec<Vec<String>> = (0..o.tasks)
        .map(|t| (0..per_task).map(|i| key(t, i)).collect())
        .collect();
    let rounds = o.ops / o.pipeline.max(2);
    let pipe_keys: Vec<Vec<String>> = (0..rounds)
        .map(|r| {
            (0..o.pipeline / 2)
                .map(|i| {
                    if o.tagged_pipelines {
                        format!("{{p{:07}}}:{:05}", r % 10_000_000, i % 100_000)
                    } else {
                        key(r, i)
                    }
                })
                .collect()
        })
        .collect();
    let cpu0 = cpu_time();
    let start = Instant::now();
    if o.pipeline <= 1 {
        let mut handles = Vec::new();
        for keys in keysets {
            let client = client.clone();
            let value = value.clone();
            let typed = o.typed;
            handles.push(tokio::spawn(async move {
                for k in keys {
                    if typed {
                        client.set(&k, &value).await?;
                        let got = client.get(&k).await?;
                        assert_eq!(got.map(|v| v.len()), Some(value.len()));
                        continue;
                    }
                    client.query::<()>(cmd("SET").arg(&k).arg(&value)).await?;
                    let got: Option<Vec<u8>> = client.query(cmd("GET").arg(&k)).await?;
                    assert_eq!(got.map(|v| v.len()), Some(value.len()));
                }
                Ok::<_, redis_manager::Error>(())
            }));
        }
        for h in handles {
            h.await.expect("task panicked")?;
        }
    } else {
        let mut pipe = Pipeline::new();
        for keys in &pipe_keys {
            pipe.clear();
            for k in keys {
                pipe.add_args(&[&"SET", k, &value]);
                pipe.add_args(&[&"GET", k]);
            }
            let replies = pipe.execute(&client).await?;
            assert_eq!(replies.len(), pipe.len());
        }
    }
    let elapsed = start.elapsed();
    let ops = if o.pipeline <= 1 {
        o.ops / 2 / o.tasks * o.tasks * 2
    } else {
        o.ops / o.pipeline * (o.pipeline / 2 * 2)
    };
    println!("ops {ops}");
    println!("elapsed_s {:.3}", elapsed.as_secs_f64());
    println!("ops_per_sec {:.0}", ops as f64 / elapsed.as_secs_f64());
    if let (Some(a), Some(b)) = (cpu0, cpu_time()) {
        println!(
            "client_cpu_us_per_op {:.3}",
            (b - a).as_secs_f64() * 1e6 / ops as f64
        );
    }
    client.close();
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "{e}\nusage: benchmark [--host H --port P | --cluster H:P[,H:P...] | --private] --tasks N --ops N --pipeline K [--pipeline-keys spread|tagged] [--value-size N]"
            );
            std::process::exit(2);
        }
    };
    let mut o = o;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Stopped when dropped, after the run.
    let server = if o.private {
        let Some((demo, port)) = rt.block_on(common::start_private_demo()) else {
            eprintln!("--private: could not start redis-server (is it installed and on PATH?)");
            std::process::exit(1);
        };
        o.host = "127.0.0.1".into();
        o.port = port;
        o.cluster = None;
        Some(demo)
    } else {
        None
    };
    let result = rt.block_on(run(o));
    drop(server);
    if let Err(e) = result {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
