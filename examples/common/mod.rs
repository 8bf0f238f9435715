//! Shared by the examples (`mod common;`): find a Redis to talk to without any setup.
//!
//! 1. When `REDIS_URL`, `REDIS_HOST` or `REDIS_PORT` is set and that server answers, use it;
//!    likewise the cluster that `REDIS_CLUSTER_NODES` names, or the master that the sentinels
//!    of `REDIS_SENTINELS` (with `REDIS_SENTINEL_MASTER`) point to.
//! 2. Otherwise, when `redis-server` is on `PATH`, start a private one on a free loopback
//!    port in a temp dir, saving nothing, for this run only (stopped when [`Demo`] drops),
//!    saying so, and saying why the configured deployment was not used.
//! 3. Otherwise, point at a port where nothing listens, so the example shows the graceful
//!    fallback: every operation returns its default.
//!
//! A server on the default `localhost:6379` is deliberately not used unless the environment
//! names it: an example should not write demo keys into someone's real database uninvited.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_manager::config::env;
use redis_manager::{Client, Config, ConfigBuilder, RedisManager};

/// Where the example's Redis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The server the environment points to.
    Environment,
    /// A private `redis-server` started for this run.
    Private,
    /// No server: the example demonstrates the fallback.
    Fallback,
}

/// The Redis an example uses; stops the private server (if any) when dropped.
pub(crate) struct Demo {
    /// The configuration to build managers from (enabled, with short timeouts).
    pub(crate) config: Config,
    /// Where it came from.
    pub(crate) source: Source,
    server: Option<Private>,
}

impl Demo {
    /// A manager for this Redis, initialized (returns it even when initialize failed: that
    /// is the fallback demonstration).
    pub(crate) async fn manager(&self) -> RedisManager {
        let redis = RedisManager::new(self.config.clone());
        let connected = redis.initialize().await;
        println!("initialize() -> {connected}");
        redis
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server);
            // Not println!: a closed stdout must not turn into a panic inside a destructor.
            let _ = writeln!(std::io::stdout(), "Stopped the private redis-server.");
        }
    }
}

fn quick(config: impl Into<ConfigBuilder>) -> Config {
    config
        .into()
        .enabled(true)
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Some(Duration::from_secs(2)))
        .build()
        .expect("a checked config with valid timeouts is valid")
}

fn env_names_a_server() -> bool {
    [
        env::REDIS_URL,
        env::REDIS_HOST,
        env::REDIS_PORT,
        env::REDIS_CLUSTER_NODES,
        env::REDIS_SENTINELS,
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The config the environment gives, when it names a server (with the examples' short
/// timeouts); `None` when it names none or cannot be read (saying why).
pub(crate) fn env_config() -> Option<Config> {
    if !env_names_a_server() {
        return None;
    }
    match Config::from_env() {
        Ok(config) => Some(quick(config)),
        Err(e) => {
            println!("Ignoring the Redis settings in the environment: {e}.");
            None
        }
    }
}

/// What `config` connects to, in words: a cluster, a master found through sentinels, or one
/// server.
pub(crate) fn describe(config: &Config) -> String {
    let list = |addrs: &[redis_manager::ServerAddr]| {
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !config.cluster_nodes().is_empty() {
        format!(
            "the Redis Cluster with seed nodes {} (REDIS_CLUSTER_NODES)",
            list(config.cluster_nodes())
        )
    } else if !config.sentinels().is_empty() {
        format!(
            "the master {:?} of the sentinels at {} (REDIS_SENTINELS)",
            config.sentinel_master().unwrap_or_default(),
            list(config.sentinels())
        )
    } else {
        format!("the Redis at {}", config.addr())
    }
}

/// Finds or starts a Redis, printing which.
pub(crate) async fn find_or_start() -> Demo {
    if env_names_a_server() {
        match Config::from_env() {
            Ok(config) => {
                let config = quick(config);
                match Client::connect(config.clone()).await {
                    Ok(client) => {
                        client.close();
                        println!("Using {} (from the environment).", describe(&config));
                        return Demo {
                            config,
                            source: Source::Environment,
                            server: None,
                        };
                    }
                    Err(e) => println!(
                        "{} does not answer ({e}); not touring it.",
                        capitalized(&describe(&config))
                    ),
                }
            }
            Err(e) => println!("Ignoring the Redis settings in the environment: {e}."),
        }
    }
    let port = free_port();
    let config = quick(Config::builder().host("127.0.0.1").port(port));
    if let Some(server) = start_server_on(port, &[], None).await {
        println!(
            "Started a private redis-server on 127.0.0.1:{port} for this run (stopped at the end)."
        );
        return Demo {
            config,
            source: Source::Private,
            server: Some(server),
        };
    }
    println!(
        "No Redis answers and redis-server is not on PATH: showing the graceful fallback \
         (every operation returns its default)."
    );
    Demo {
        config,
        source: Source::Fallback,
        server: None,
    }
}

/// Starts a private `redis-server` on a free port (option 2 above, whatever the environment
/// says), and returns it with its port; `None` when it is not installed or does not come up.
pub(crate) async fn start_private_demo() -> Option<(Demo, u16)> {
    let server = start_server(&[], None).await?;
    let port = server.port;
    let demo = Demo {
        config: quick(Config::builder().host("127.0.0.1").port(port)),
        source: Source::Private,
        server: Some(server),
    };
    Some((demo, port))
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(6399)
}

/// A private `redis-server` (or sentinel) for an example: stopped, and its directory
/// removed, when dropped.
pub(crate) struct Private {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its working directory (for files an example puts beside it).
    pub(crate) dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Private {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts a private `redis-server` on a free port with `extra` arguments (after the
/// configuration file `conf`, written to its directory, when given: `--sentinel` needs
/// one) and waits until it answers `PING`; `None` when `redis-server` is not installed or
/// does not come up.
pub(crate) async fn start_server(extra: &[&str], conf: Option<&str>) -> Option<Private> {
    start_server_on(free_port(), extra, conf).await
}

async fn start_server_on(port: u16, extra: &[&str], conf: Option<&str>) -> Option<Private> {
    let dir = std::env::temp_dir().join(format!(
        "redis-manager-example-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).ok()?;
    let mut command = Command::new("redis-server");
    if let Some(conf) = conf {
        let file = dir.join("redis.conf");
        std::fs::write(&file, conf).ok()?;
        command.arg(file);
    }
    let spawned = command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut server = Private {
        port,
        dir,
        child: None,
    };
    server.child = Some(spawned.ok()?);
    let config = quick(Config::builder().host("127.0.0.1").port(port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(client) = Client::connect(config.clone()).await {
            client.close();
            return Some(server);
        }
        if let Some(Ok(Some(_))) = server.child.as_mut().map(Child::try_wait) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
