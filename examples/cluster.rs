//! Redis Cluster: one client for the whole cluster, which routes each command by its key's
//! hash slot, splits multi-key commands across slots where that is safe, refuses what
//! cannot be split (with a typed error), and walks every master for `SCAN` and `DBSIZE`.
//!
//! ```text
//! cargo run --example cluster
//! REDIS_CLUSTER_NODES=10.0.0.1:7000,10.0.0.2:7000 cargo run --example cluster
//! ```
//!
//! With `REDIS_CLUSTER_NODES` set (any reachable node is enough: the client reads the
//! topology from it), it uses that cluster. Otherwise it starts a private three-master
//! cluster on free loopback ports (`redis-server --cluster-enabled yes` and
//! `redis-cli --cluster create`, both on `PATH`) and stops it at the end. The keys it
//! writes (`example:cluster:*`) are deleted at the end.
#![allow(clippy::print_stdout)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis_manager::prelude::*;
use redis_manager::{Client, Config, Error, Pipeline, Result, ScanOptions, ServerAddr, cmd};

#[tokio::main]
async fn main() {
    let (config, _servers) = match common::env_config() {
        Some(config) if !config.cluster_nodes().is_empty() => {
            println!("Using {}.", common::describe(&config));
            (config, Vec::new())
        }
        _ => match start_private_cluster().await {
            Some(started) => started,
            None => {
                println!(
                    "No cluster: set REDIS_CLUSTER_NODES, or put redis-server and redis-cli on \
                     PATH for a private one."
                );
                return;
            }
        },
    };
    let client = match Client::connect(config).await {
        Ok(client) => client,
        Err(e) => {
            println!("Cannot reach the cluster: {e}");
            return;
        }
    };
    if let Err(e) = run(&client).await {
        println!("Error: {e}");
    }
    // Clean up: DEL of keys in many slots is split per slot by the client.
    let keys: Vec<String> = (0..20).map(|i| format!("example:cluster:{i}")).collect();
    let _ = client.del(&keys).await;
    let _ = client
        .del(&["{example:user:7}:name", "{example:user:7}:visits"])
        .await;
}

async fn run(client: &Client) -> Result<()> {
    // Single-key commands go to the master of the key's slot.
    for i in 0..20 {
        client
            .set(format!("example:cluster:{i}"), format!("value {i}"))
            .await?;
    }
    let slot: i64 = client
        .query(cmd("CLUSTER").arg("KEYSLOT").arg("example:cluster:0"))
        .await?;
    println!("example:cluster:0 lives in slot {slot}");

    // MGET over keys in many slots: split into one MGET per slot, answers put back in order.
    let keys: Vec<String> = (0..5).map(|i| format!("example:cluster:{i}")).collect();
    let values: Vec<Option<String>> = client.query(cmd("MGET").args(&keys)).await?;
    println!("MGET across slots -> {values:?}");

    // MSET cannot be split safely (it would no longer be atomic): a typed error, nothing sent.
    let err = client
        .query::<()>(cmd("MSET").arg("example:a").arg(1).arg("example:b").arg(2))
        .await
        .expect_err("keys in different slots");
    if let Error::CrossSlot { command } = &err {
        println!("{command} across slots refused: {err}");
    }

    // A hash tag ({...}) puts keys in one slot: multi-key commands and transactions work.
    client
        .query::<()>(
            cmd("MSET")
                .arg("{example:user:7}:name")
                .arg("Ada")
                .arg("{example:user:7}:visits")
                .arg(0),
        )
        .await?;
    let mut tx = Pipeline::atomic();
    tx.add(cmd("INCR").arg("{example:user:7}:visits"))
        .add(cmd("GET").arg("{example:user:7}:name"));
    let (visits, name): (i64, String) = tx.query(client).await?;
    println!("MULTI/EXEC on one slot -> visits {visits}, name {name}");

    // Commands about the whole keyspace run on every master and are combined.
    let size: i64 = client.query(cmd("DBSIZE")).await?;
    println!("DBSIZE summed over the masters -> {size}");
    let mut found = client
        .scan(ScanOptions::new().pattern("example:cluster:*").count(100))
        .try_collect()
        .await?;
    found.sort();
    println!("SCAN over every master found {} keys", found.len());
    Ok(())
}

/// Starts three cluster-enabled servers and joins them into a cluster (no replicas);
/// returns a config with them as seeds, and the servers (stopped when dropped).
async fn start_private_cluster() -> Option<(Config, Vec<common::Private>)> {
    let mut servers = Vec::new();
    for _ in 0..3 {
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        servers.push(common::start_server(&args, None).await?);
    }
    let addrs: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let created = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .arg("--cluster-yes")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !created.success() {
        return None;
    }
    // Wait until every node agrees the cluster is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    for server in &servers {
        let node = Client::new(Config::builder().host("127.0.0.1").port(server.port)).ok()?;
        loop {
            let info: String = node.query(cmd("CLUSTER").arg("INFO")).await.ok()?;
            if info.contains("cluster_state:ok") {
                break;
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "Started a private three-master cluster on {} for this run (stopped at the end).",
        addrs.join(", ")
    );
    let seeds = servers.iter().map(|s| ServerAddr::Tcp {
        host: "127.0.0.1".into(),
        port: s.port,
    });
    let config = Config::builder()
        .cluster_nodes(seeds)
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Some(Duration::from_secs(2)))
        .build()
        .ok()?;
    Some((config, servers))
}
