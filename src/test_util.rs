//! Test helpers (feature `test-util`): [`RedisServer`], a private `redis-server` per test.
//!
//! For the tests of applications built on this crate, and the crate's own: each test starts
//! its own real server, so tests run in parallel without sharing data, and nothing needs to
//! be running beforehand. There is no in-memory imitation of Redis; `redis-server` (and
//! `redis-cli`, for [`RedisServer::cli`]) must be installed. Unix only: servers are paused and
//! resumed with the `kill` command.
//!
//! The server listens on 127.0.0.1 at a port found by binding port 0, and on a Unix socket in
//! its own temporary directory; it saves nothing to disk. It is killed by pid when the guard
//! drops (after a SIGCONT if it was paused) and the directory is removed. A test that kills,
//! pauses or reconfigures a server owns it: never share one between tests.
//!
//! Enable the feature for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! redis-manager = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! # Examples
//!
//! ```
//! use redis_manager::test_util::RedisServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> redis_manager::Result<()> {
//! let server = RedisServer::start();
//! let client = server.client().await;
//! client.query::<()>(redis_manager::cmd("SET").arg("k").arg("v")).await?;
//! assert_eq!(server.cli(&["GET", "k"]), "v");
//! // Dropping `server` stops it and removes its directory.
//! # Ok(()) }
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits after SIGTERM before it kills.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const NOT_INSTALLED: &str = "redis-server was not found on PATH: these tests need a real \
     server (redis_manager::test_util::RedisServer starts a private one). Install it (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: \
     `brew install redis`) and run the tests again";

/// A running (or deliberately stopped) private `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra_args: Vec<String>,
    password: Option<String>,
    paused: bool,
    /// The `--tls-port`, for servers started by [`RedisServer::with_tls`].
    tls_port: Option<u16>,
}

impl RedisServer {
    /// Starts a server with the default arguments.
    ///
    /// # Panics
    ///
    /// If `redis-server` is not installed, or the server does not answer within 10 s.
    pub fn start() -> RedisServer {
        RedisServer::with_args(&[])
    }

    /// Starts a server with `extra` appended to the default arguments, for example
    /// `&["--requirepass", "pw"]` or `&["--enable-debug-command", "local"]`. Later arguments
    /// override earlier ones.
    ///
    /// # Panics
    ///
    /// If `redis-server` is not installed, or the server does not answer within 10 s.
    pub fn with_args(extra: &[&str]) -> RedisServer {
        RedisServer::start_with(extra, false)
    }

    /// Starts a server that also listens for TLS on [`RedisServer::tls_port`], with `tls_args`
    /// appended (the certificate options: `--tls-cert-file`, `--tls-key-file`,
    /// `--tls-ca-cert-file`, `--tls-auth-clients`). The plain port stays open: start-up is
    /// detected by a plain PING there, and redis opens every listener before it serves any.
    ///
    /// # Panics
    ///
    /// As for [`RedisServer::with_args`]; the log says so when redis-server was built
    /// without TLS.
    pub fn with_tls(tls_args: &[&str]) -> RedisServer {
        RedisServer::start_with(tls_args, true)
    }

    /// The TLS port of a server started by [`RedisServer::with_tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls_port
            .expect("not started with RedisServer::with_tls")
    }

    fn start_with(extra: &[&str], tls: bool) -> RedisServer {
        let dir = unique_dir();
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let password = extra
            .windows(2)
            .rev()
            .find(|w| w[0] == "--requirepass")
            .map(|w| w[1].to_owned());
        let mut last_log = String::new();
        // Another process can take the port between our probe and the server's bind; then the
        // server exits at once and we try another port.
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: dir.clone(),
                extra_args: extra_args.clone(),
                password: password.clone(),
                paused: false,
                tls_port: tls.then(free_port),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(log) => {
                    last_log = log;
                    // Keep the dir for the next attempt: forget it so Drop leaves it alone.
                    server.dir = PathBuf::new();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server did not start; its log:\n{last_log}");
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The address as a `SocketAddr`.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The Unix socket the server also listens on (mode 700).
    pub fn unix_socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The server's private directory (working dir, log file, socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, or `None` after `kill` or `stop`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process is running (paused counts as running).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL and waits for it to exit: connections drop without
    /// any reply, as on a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Stops the server with SIGTERM (a clean shutdown, after a SIGCONT if paused), killing
    /// it if it has not exited within 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.paused {
            signal(child.id(), "CONT");
            self.paused = false;
        }
        signal(child.id(), "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port with the same arguments, after `kill` or
    /// `stop` (or kills the running one first). The data is gone: nothing is saved.
    ///
    /// # Panics
    ///
    /// If the server does not answer within 10 s (for example, the port was taken meanwhile).
    pub fn restart(&mut self) {
        self.kill();
        if let Err(log) = self.spawn_and_wait() {
            panic!(
                "redis-server did not restart on port {}; its log:\n{log}",
                self.port
            );
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open and nothing is answered, like a
    /// server stuck in a long command or a machine that stopped responding.
    pub fn pause(&mut self) {
        let pid = self.pid().expect("pause: the server is not running");
        signal(pid, "STOP");
        self.paused = true;
    }

    /// Resumes a paused server with SIGCONT; it then answers everything that queued up.
    pub fn resume(&mut self) {
        let pid = self.pid().expect("resume: the server is not running");
        signal(pid, "CONT");
        self.paused = false;
    }

    /// Runs `redis-cli -h 127.0.0.1 -p <port> <args>` (authenticating with `--requirepass`'s
    /// password if one was given) and returns its standard output without the final newline.
    /// Useful for setup: `ACL SETUSER`, `CLIENT KILL`, `CONFIG SET`, `DEBUG SLEEP`.
    ///
    /// # Panics
    ///
    /// If `redis-cli` cannot be run or exits with an error. It hangs on a paused server.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            cmd.args(["--no-auth-warning", "-a", password]);
        }
        let output = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): {NOT_INSTALLED}"));
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut out = String::from_utf8_lossy(&output.stdout).into_owned();
        if out.ends_with('\n') {
            out.pop();
        }
        out
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// A client configuration for this server, with short timeouts and reconnect delays
    /// (2 s to connect and for each response, 10 ms to 200 ms between reconnect attempts), so
    /// that failure tests finish quickly.
    pub fn config(&self) -> crate::ConfigBuilder {
        crate::Config::builder()
            .host("127.0.0.1")
            .port(self.port)
            .response_timeout(Some(Duration::from_secs(2)))
            .connect_timeout(Duration::from_secs(2))
            .reconnect_delays(Duration::from_millis(10), Duration::from_millis(200))
    }

    /// A client connected to this server with [`RedisServer::config`].
    ///
    /// # Panics
    ///
    /// If it cannot connect.
    pub async fn client(&self) -> crate::Client {
        crate::Client::connect(self.config())
            .await
            .expect("connect to the test server")
    }

    /// Spawns on `self.port` and waits until PING is answered; on failure the process is gone
    /// and the log is returned.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("redis.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("create the server log");
        let port = self.port.to_string();
        let socket = self.unix_socket();
        let tls_port: Vec<String> = match self.tls_port {
            Some(p) => vec!["--tls-port".into(), p.to_string()],
            None => Vec::new(),
        };
        let mut child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args([
                "--port",
                &port,
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--unixsocket")
            .arg(&socket)
            .args(["--unixsocketperm", "700"])
            .args(&self.extra_args)
            .args(&tls_port)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    panic!("{NOT_INSTALLED}")
                }
                panic!("cannot start redis-server: {e}")
            });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(std::fs::read_to_string(&log_path).unwrap_or_default());
            }
            if ping(self.socket_addr()) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::fs::read_to_string(&log_path).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(child.id(), "CONT");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// True when a server at `addr` answers a raw PING with any reply line (`+PONG`, or
/// `-NOAUTH` from a server with a password: it is up either way).
fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    matches!(stream.read(&mut reply), Ok(n) if n > 0 && matches!(reply[0], b'+' | b'-'))
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A new empty directory under the system temp dir, unique across processes and threads.
/// Kept short: a Unix socket path must fit in about 100 bytes.
fn unique_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rm-test-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            // Left over from an earlier process with the same pid.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// Sends `SIG<name>` to `pid` with the `kill` command (no libc, no unsafe).
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}
