//! Private `redis-server` processes: one per scenario (or three for the cluster), each on a
//! free loopback port in its own temporary directory, saving nothing, pinned to the server's
//! core, and gone when the harness is.
//!
//! A server is killed by pid when its guard drops, which also happens while a panic unwinds;
//! and each server asks the kernel to kill it when the thread that started it dies
//! (`PR_SET_PDEATHSIG`), so that not even a `kill -9` of the harness leaves one behind. That
//! is why servers are started from the main thread, which lives as long as the harness.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp_codec::{Decoder, Frame, encode_command};

use crate::sys;

/// A running private `redis-server`.
pub struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts a server with `extra` arguments after the harness's own (port, loopback only,
    /// no RDB or AOF), pinned to `cpu` when given, and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// A message saying what to do when `redis-server` is not installed, or what went wrong.
    pub fn start(cpu: Option<usize>, extra: &[&str]) -> Result<Server, String> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        // Another process may take the free port between our probe and the server's bind:
        // then the server exits, and we try another port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let dir = std::env::temp_dir().join(format!(
                "redis-manager-peers-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: the closure runs in the child between fork and exec, and makes only
            // async-signal-safe system calls (prctl, sched_setaffinity); it allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if let Some(cpu) = cpu {
                        sys::pin_to(cpu)?;
                    }
                    Ok(())
                });
            }
            let child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err("redis-server was not found on PATH: the benchmarks start \
                                private servers of their own (Debian/Ubuntu: \
                                apt-get install redis-server redis-tools)"
                        .into());
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(format!("cannot start redis-server: {e}"));
                }
            };
            let mut server = Server { child, port, dir };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
            // Dropping it kills it and removes its directory.
        }
        Err(format!("redis-server did not start: {last_error}"))
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return Err(format!("exited with {status}: {}", tail.join(" | ")));
            }
            if let Ok(Frame::SimpleString(_)) = call(self.port, &["PING"]) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on port {} within {within:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id, to read its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its CPU time so far.
    pub fn cpu(&self) -> Option<Duration> {
        sys::other_process_cpu(self.pid())
    }

    /// Empties it (between points, so that memory stays bounded).
    pub fn flushall(&self) -> Result<(), String> {
        match call(self.port, &["FLUSHALL"])? {
            Frame::SimpleString(_) => Ok(()),
            other => Err(format!("FLUSHALL answered {other:?}")),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the directories of servers whose harness was killed before it could clean up
/// (the servers themselves died with it).
pub fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("redis-manager-peers-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A free loopback port, as the kernel hands one out.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind loopback: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

/// Sends one command on a fresh blocking connection and returns the reply: for setting up
/// and checking servers, never on a measured path.
pub fn call(port: u16, args: &[&str]) -> Result<Frame, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut out = BytesMut::new();
    encode_command(&mut out, args);
    stream.write_all(&out).map_err(|e| e.to_string())?;
    let mut decoder = Decoder::new();
    let mut input = BytesMut::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(frame) = decoder.decode(&mut input).map_err(|e| e.to_string())? {
            return Ok(frame);
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the reply".into());
        }
        input.extend_from_slice(&chunk[..n]);
    }
}

/// Three private masters joined into a Redis Cluster (no replicas: the comparison is about
/// routing and multiplexing, not failover).
pub struct Cluster {
    /// The masters, each killed when the cluster drops.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts three cluster-enabled servers and joins them with `redis-cli --cluster create`,
    /// then waits until every node reports `cluster_state:ok`.
    ///
    /// # Errors
    ///
    /// When a server does not start, `redis-cli` is missing, or the cluster does not form.
    pub fn start(cpu: Option<usize>) -> Result<Cluster, String> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Server::start(
                cpu,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ],
            )?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "redis-cli was not found on PATH: the cluster scenario joins its servers \
                     with `redis-cli --cluster create` (Debian/Ubuntu: apt-get install \
                     redis-tools)"
                        .to_string()
                }
                _ => format!("cannot run redis-cli: {e}"),
            })?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            loop {
                let ok = match call(node.port(), &["CLUSTER", "INFO"]) {
                    Ok(f) => f
                        .as_bytes()
                        .is_some_and(|b| String::from_utf8_lossy(b).contains("cluster_state:ok")),
                    Err(_) => false,
                };
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("the cluster did not reach cluster_state:ok within 30 s".into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(Cluster { nodes })
    }

    /// The seed addresses, `host:port`.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The masters' CPU time so far, added up.
    pub fn cpu(&self) -> Option<Duration> {
        self.nodes.iter().map(Server::cpu).sum()
    }

    /// Empties every master.
    pub fn flushall(&self) -> Result<(), String> {
        self.nodes.iter().try_for_each(Server::flushall)
    }
}
