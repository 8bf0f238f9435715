//! `cluster`: our cluster client against redis-rs's async cluster connection, on three
//! private masters joined with `redis-cli --cluster create`.

use tokio::runtime::Runtime;

use crate::clients::{Kind, Op, Target};
use crate::measure::{Plan, Point, Sample, compare, each};
use crate::server::Cluster;
use crate::stats::{median, ratio_of, thousands};

/// The points measured: tasks, and commands per pipeline (1: none).
pub const POINTS: [(usize, usize); 6] = [(1, 1), (8, 1), (64, 1), (512, 1), (1, 100), (64, 100)];

/// Runs the comparison and prints its table.
pub fn run(rt: &Runtime, cluster: &Cluster, plan: &Plan) {
    let kinds = [Kind::OursCluster, Kind::RedisRsCluster];
    let target = Target::Cluster(cluster.addrs());
    let cpu = || cluster.cpu();
    eprintln!("cluster: 3 masters, {} points", POINTS.len());
    println!("## Cluster (3 masters): ours / redis-rs `cluster_async::ClusterConnection`\n");
    println!(
        "16-byte keys spread over every shard, 100-byte values; each task SETs then GETs and \
         checks the length. Pipelines: 50 SET + GET pairs, each task's keys under one hash \
         tag of its own (redis-rs refuses a pipeline whose keys span slots). Medians of {} \
         interleaved reps (min–max of per-rep ratios).\n",
        plan.reps
    );
    println!(
        "| tasks | pipeline | ours / redis-rs ops/s | ours / redis-rs client CPU per op | ours ops/s | redis-rs ops/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (tasks, pipeline) in POINTS {
        let point = Point {
            tasks,
            value_len: 100,
            pipeline,
            op: Op::SetGet,
            keys_per_task: 256,
            shared_keys: false,
            cold: false,
        };
        let out = cluster
            .flushall()
            .and_then(|()| rt.block_on(compare(&kinds, &target, &point, plan, &cpu)));
        match out {
            Ok(s) => {
                let r = |f: fn(&Sample) -> f64| {
                    let v: Vec<f64> = s[0].iter().zip(&s[1]).map(|(a, b)| f(a) / f(b)).collect();
                    ratio_of(&v)
                };
                let row = format!(
                    "| {tasks} | {pipeline} | {} | {} | {} | {} |",
                    r(Sample::ops_per_sec),
                    r(Sample::cpu_us_per_op),
                    thousands(median(&each(&s[0], Sample::ops_per_sec))),
                    thousands(median(&each(&s[1], Sample::ops_per_sec)))
                );
                eprintln!("  {row}");
                println!("{row}");
            }
            Err(e) => {
                eprintln!("  {tasks} tasks, pipelines of {pipeline}: {e}");
                println!("| {tasks} | {pipeline} | {e} | | | |");
            }
        }
    }
    println!();
}
