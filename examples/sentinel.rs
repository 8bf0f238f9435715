//! Redis Sentinel: the client asks the sentinels where the master is, and follows it
//! through a failover (a `+switch-master` event or a `READONLY` reply makes it ask again).
//!
//! ```text
//! cargo run --example sentinel
//! REDIS_SENTINELS=10.0.0.5:26379,10.0.0.6:26379 REDIS_SENTINEL_MASTER=mymaster cargo run --example sentinel
//! ```
//!
//! With `REDIS_SENTINELS` set (and `REDIS_SENTINEL_MASTER`, `REDIS_SENTINEL_PASSWORD` as
//! needed), it uses those sentinels and only reads and writes. Otherwise it starts a private
//! master, a replica and one sentinel on free loopback ports (`redis-server` on `PATH`),
//! forces a failover with `SENTINEL FAILOVER`, and shows the client writing to the new
//! master; everything is stopped at the end. The key it writes (`example:sentinel`) is
//! deleted at the end.
#![allow(clippy::print_stdout)]

mod common;

use std::time::{Duration, Instant};

use redis_manager::prelude::*;
use redis_manager::{Client, Config, Result, ServerAddr, cmd};

const MASTER: &str = "example-master";

#[tokio::main]
async fn main() {
    let (config, private) = match common::env_config() {
        Some(config) if !config.sentinels().is_empty() => {
            println!("Using {}.", common::describe(&config));
            (config, None)
        }
        _ => match start_private_setup().await {
            Some((config, setup)) => (config, Some(setup)),
            None => {
                println!(
                    "No sentinels: set REDIS_SENTINELS and REDIS_SENTINEL_MASTER, or put \
                     redis-server on PATH for a private setup."
                );
                return;
            }
        },
    };
    let client = match Client::connect(config).await {
        Ok(client) => client,
        Err(e) => {
            println!("Cannot reach the master through the sentinels: {e}");
            return;
        }
    };
    if let Err(e) = run(&client, private.as_ref()).await {
        println!("Error: {e}");
    }
    let _ = client.del(&["example:sentinel"]).await;
}

async fn run(client: &Client, private: Option<&Setup>) -> Result<()> {
    client.set("example:sentinel", "before").await?;
    println!("SET on the master at port {}", master_port(client).await?);
    let Some(setup) = private else {
        return Ok(());
    };

    // Promote the replica. The sentinel announces +switch-master; the client drops its
    // connections to the old master and asks the sentinel again.
    let sentinel = Client::new(
        Config::builder()
            .host("127.0.0.1")
            .port(setup.sentinel.port),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Refused (NOGOODSLAVE) until the replica has synced and the sentinel knows it.
        match sentinel
            .query::<()>(cmd("SENTINEL").arg("FAILOVER").arg(MASTER))
            .await
        {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                println!("SENTINEL FAILOVER not yet possible ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
    println!("SENTINEL FAILOVER started");
    // Writes go on; during the switch some fail (the old master is read-only for a moment).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let port = master_port(client).await;
        if port.as_ref().is_ok_and(|p| *p == setup.replica.port) {
            client.set("example:sentinel", "after").await?;
            println!("SET on the new master at port {}", setup.replica.port);
            break;
        }
        if Instant::now() > deadline {
            println!("the failover did not complete in time");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = client
        .get("example:sentinel")
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    println!("GET -> {value:?}");
    Ok(())
}

/// The port of the server the client's commands reach (its `tcp_port`).
async fn master_port(client: &Client) -> Result<u16> {
    let info: String = client.query(cmd("INFO").arg("server")).await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_default())
}

/// The private master, replica and sentinel (stopped when dropped).
struct Setup {
    _master: common::Private,
    replica: common::Private,
    sentinel: common::Private,
}

async fn start_private_setup() -> Option<(Config, Setup)> {
    let master = common::start_server(&[], None).await?;
    let port = master.port.to_string();
    let replica = common::start_server(&["--replicaof", "127.0.0.1", &port], None).await?;
    let conf = format!(
        "sentinel monitor {MASTER} 127.0.0.1 {port} 1\n\
         sentinel down-after-milliseconds {MASTER} 1000\n\
         sentinel failover-timeout {MASTER} 5000\n"
    );
    let sentinel = common::start_server(&["--sentinel"], Some(&conf)).await?;
    println!(
        "Started a private master (port {}), replica (port {}) and sentinel (port {}) for \
         this run (stopped at the end).",
        master.port, replica.port, sentinel.port
    );
    let config = Config::builder()
        .sentinel(
            MASTER,
            [ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: sentinel.port,
            }],
        )
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Some(Duration::from_secs(2)))
        .build()
        .ok()?;
    Some((
        config,
        Setup {
            _master: master,
            replica,
            sentinel,
        },
    ))
}
