//! [`RedisCluster`]: a private 6-node Redis Cluster (3 masters, 3 replicas) per test, and
//! [`SentinelSetup`]: a master, a replica and three sentinels.
//!
//! Every process is a [`RedisServer`] (or, for sentinels, a child started here) on a free
//! loopback port in its own temp dir, killed on drop. Node timeouts are low (2 s cluster
//! node timeout, 1 s sentinel down-after) so failovers finish within a test's budget.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_manager::{Config, ConfigBuilder, ServerAddr};

use super::RedisServer;

/// The cluster node timeout, in milliseconds: how long a master may be unreachable before
/// its replica is promoted.
pub(crate) const NODE_TIMEOUT_MS: u64 = 2000;

/// A running Redis Cluster of private servers.
pub(crate) struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// One node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub(crate) id: String,
    pub(crate) port: u16,
    pub(crate) master: bool,
    pub(crate) failed: bool,
    /// The id of this replica's master.
    pub(crate) master_id: Option<String>,
    /// Slot ranges it serves (inclusive).
    pub(crate) slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Starts `masters * 2` nodes and joins them with `redis-cli --cluster create` (one
    /// replica per master), then waits until every node reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When the servers cannot be started or the cluster does not form within 30 s.
    pub(crate) fn start(masters: usize) -> RedisCluster {
        let timeout = NODE_TIMEOUT_MS.to_string();
        let nodes: Vec<RedisServer> = (0..masters * 2)
            .map(|_| {
                RedisServer::with_args(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &timeout,
                    // The replica of a killed master must be allowed to take over however
                    // briefly it was connected.
                    "--cluster-replica-validity-factor",
                    "0",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until(Duration::from_secs(30), "cluster formed", |c| {
            c.is_healthy()
        });
        cluster
    }

    /// The seed addresses (every node).
    pub(crate) fn seeds(&self) -> Vec<ServerAddr> {
        self.nodes
            .iter()
            .map(|n| ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: n.port(),
            })
            .collect()
    }

    /// A client config for this cluster, with all nodes as seeds.
    pub(crate) fn config(&self) -> ConfigBuilder {
        Config::builder().cluster_nodes(self.seeds())
    }

    /// The node on `port`.
    pub(crate) fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .expect("a node of this cluster")
    }

    /// The node on `port`, shared.
    pub(crate) fn node_ref(&self, port: u16) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.port() == port)
            .expect("a node of this cluster")
    }

    fn running(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.pid().is_some())
    }

    /// `CLUSTER NODES` as seen by a running node.
    pub(crate) fn nodes_info(&self) -> Vec<NodeInfo> {
        let node = self.running().next().expect("a running node");
        parse_nodes(&node.cli(&["CLUSTER", "NODES"]))
    }

    /// Ports of the masters that serve slots, as seen by a running node.
    pub(crate) fn master_ports(&self) -> Vec<u16> {
        self.nodes_info()
            .into_iter()
            .filter(|n| n.master && !n.failed)
            .map(|n| n.port)
            .collect()
    }

    /// The port of the master serving `slot`, as seen by a running node.
    pub(crate) fn owner_of(&self, slot: u16) -> u16 {
        let node = self.running().next().expect("a running node");
        slot_owner(&node.cli(&["CLUSTER", "NODES"]), slot).expect("slot is served")
    }

    /// True when every running node says `cluster_state:ok` and agrees on the masters.
    fn is_healthy(&self) -> bool {
        let mut views = Vec::new();
        for n in self.running() {
            let info = n.cli(&["CLUSTER", "INFO"]);
            if !info.contains("cluster_state:ok") {
                return false;
            }
            let mut masters: Vec<u16> = parse_nodes(&n.cli(&["CLUSTER", "NODES"]))
                .into_iter()
                .filter(|x| x.master && !x.failed)
                .map(|x| x.port)
                .collect();
            masters.sort_unstable();
            views.push(masters);
        }
        views.windows(2).all(|w| w[0] == w[1])
    }

    /// Polls `ok` every 100 ms until it holds.
    ///
    /// # Panics
    ///
    /// After `limit`, naming `what`.
    pub(crate) fn wait_until(&self, limit: Duration, what: &str, ok: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !ok(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the master on `port` (SIGKILL) and waits until its replica has taken over and
    /// the surviving nodes agree the cluster is ok. Returns the new master's port.
    pub(crate) fn kill_master_and_wait(&mut self, port: u16) -> u16 {
        let info = self.nodes_info();
        let id = info
            .iter()
            .find(|n| n.port == port)
            .expect("the master")
            .id
            .clone();
        let replica = info
            .iter()
            .find(|n| n.master_id.as_deref() == Some(&id))
            .expect("the master has a replica")
            .port;
        self.node(port).kill();
        self.wait_until(Duration::from_secs(30), "replica promoted", |c| {
            c.nodes_info().iter().any(|n| n.port == replica && n.master) && c.is_healthy()
        });
        replica
    }

    /// Moves `slot` from its owner to the master on `to` with `CLUSTER SETSLOT ... IMPORTING
    /// / MIGRATING`, `MIGRATE` of its keys in batches of `batch`, then `SETSLOT ... NODE` on
    /// every master, as `redis-cli --cluster reshard` does. `between_batches` runs after each
    /// `MIGRATE`, while the slot is half moved.
    pub(crate) fn migrate_slot(
        &mut self,
        slot: u16,
        to: u16,
        batch: usize,
        between_batches: impl Fn(),
    ) {
        let from = self.owner_of(slot);
        assert_ne!(from, to, "the slot is already there");
        let info = self.nodes_info();
        let id_of = |port: u16| info.iter().find(|n| n.port == port).unwrap().id.clone();
        let (from_id, to_id) = (id_of(from), id_of(to));
        let s = slot.to_string();
        let cli = |port: u16, args: &[&str]| {
            let node = self.nodes.iter().find(|n| n.port() == port).unwrap();
            node.cli(args)
        };
        cli(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]);
        cli(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]);
        loop {
            let keys = cli(from, &["CLUSTER", "GETKEYSINSLOT", &s, &batch.to_string()]);
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().copied());
            let out = cli(from, &args);
            assert!(out == "OK" || out == "NOKEY", "MIGRATE: {out}");
            between_batches();
        }
        // The source first, then a pause, then the others: until the target is told, the two
        // answer MOVED to each other. Real clusters have such windows too (another tool's
        // order, gossip lag), and clients must ride them out rather than give up.
        cli(from, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
        between_batches();
        for port in self.master_ports().into_iter().filter(|&p| p != from) {
            cli(port, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
        }
        self.wait_until(Duration::from_secs(10), "slot owner agreed", |c| {
            c.running()
                .all(|n| slot_owner(&n.cli(&["CLUSTER", "NODES"]), slot) == Some(to))
        });
    }
}

/// Parses `CLUSTER NODES` lines: `<id> <ip:port@cport> <flags> <master> ...`.
fn parse_nodes(text: &str) -> Vec<NodeInfo> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let id = f.next()?.to_owned();
            let addr = f.next()?;
            let port = addr.split('@').next()?.rsplit(':').next()?.parse().ok()?;
            let flags = f.next()?;
            let master_id = f.next().filter(|m| *m != "-").map(str::to_owned);
            // ping-sent, pong-recv, config-epoch, link-state, then slots.
            let slots = f
                .skip(4)
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|x| (x, x)),
                })
                .collect();
            Some(NodeInfo {
                id,
                port,
                master: flags.contains("master"),
                failed: flags.contains("fail"),
                master_id,
                slots,
            })
        })
        .collect()
}

/// The port of the master serving `slot` according to `CLUSTER NODES` output.
fn slot_owner(text: &str, slot: u16) -> Option<u16> {
    parse_nodes(text)
        .into_iter()
        .find(|n| n.master && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
        .map(|n| n.port)
}

/// A Sentinel setup: a master, a replica of it, and three sentinels monitoring it as `m`
/// with a quorum of 2.
pub(crate) struct SentinelSetup {
    pub(crate) master: RedisServer,
    pub(crate) replica: RedisServer,
    sentinels: Vec<SentinelProcess>,
}

struct SentinelProcess {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// Its `requirepass`, if any.
    password: Option<String>,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name the sentinels monitor.
pub(crate) const SENTINEL_MASTER: &str = "m";

impl SentinelSetup {
    /// Starts the master, the replica and three sentinels, and waits until the sentinels
    /// know the replica and each other.
    ///
    /// # Panics
    ///
    /// When a process cannot be started or the setup does not settle within 30 s.
    pub(crate) fn start() -> SentinelSetup {
        SentinelSetup::start_with_password(None)
    }

    /// As [`SentinelSetup::start`], with sentinels that require `password` (`requirepass`,
    /// which they also use with each other).
    pub(crate) fn start_with_password(password: Option<&str>) -> SentinelSetup {
        let master = RedisServer::start();
        let port = master.port().to_string();
        let replica = RedisServer::with_args(&["--replicaof", "127.0.0.1", &port]);
        let sentinels: Vec<SentinelProcess> = (0..3)
            .map(|_| start_sentinel(master.port(), password))
            .collect();
        let setup = SentinelSetup {
            master,
            replica,
            sentinels,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = setup.sentinels.iter().all(|s| {
                let info = sentinel_cli(s, &["SENTINEL", "MASTER", SENTINEL_MASTER]);
                let fields: HashMap<&str, &str> = {
                    let lines: Vec<&str> = info.lines().collect();
                    lines
                        .chunks(2)
                        .filter_map(|kv| Some((kv[0], *kv.get(1)?)))
                        .collect()
                };
                fields.get("num-slaves") == Some(&"1")
                    && fields.get("num-other-sentinels") == Some(&"2")
            });
            if ready {
                return setup;
            }
            assert!(Instant::now() < deadline, "sentinels did not settle");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sentinels' addresses.
    pub(crate) fn sentinel_addrs(&self) -> Vec<ServerAddr> {
        self.sentinels
            .iter()
            .map(|s| ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: s.port,
            })
            .collect()
    }

    /// A client config that finds the master through the sentinels.
    pub(crate) fn config(&self) -> ConfigBuilder {
        Config::builder().sentinel(SENTINEL_MASTER, self.sentinel_addrs())
    }

    /// The master's port according to the first sentinel that answers.
    pub(crate) fn current_master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let out = sentinel_cli(s, &["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER]);
            out.lines().nth(1)?.trim().parse().ok()
        })
    }
}

fn start_sentinel(master_port: u16, password: Option<&str>) -> SentinelProcess {
    for _ in 0..5 {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rm-sentinel-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
                 sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n{}",
                dir.display(),
                password.map_or(String::new(), |p| format!("requirepass {p}\n")),
            ),
        )
        .expect("write sentinel.conf");
        let log = std::fs::File::create(dir.join("sentinel.log")).expect("sentinel log");
        let mut child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start redis-server --sentinel");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if cli_at(port, password, &["PING"]).contains("PONG") {
                return SentinelProcess {
                    child,
                    port,
                    dir,
                    password: password.map(str::to_owned),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("a sentinel did not start");
}

fn sentinel_cli(s: &SentinelProcess, args: &[&str]) -> String {
    cli_at(s.port, s.password.as_deref(), args)
}

/// `redis-cli` against the sentinel on `port`; its output, errors included.
fn cli_at(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(password) = password {
        cmd.args(["--no-auth-warning", "-a", password]);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}
