//! Sentinel: the master's address comes from a set of sentinels instead of the config, and
//! follows failovers without a restart.
//!
//! # Design
//!
//! A Sentinel-managed client is an ordinary single-server pool (`NodePool`) whose connect
//! step asks this module where the master is, through `MasterSource`; the `+switch-master`
//! watcher tells the pool through [`SwitchListener`]. Neither side holds the other's type:
//! the pool façade wires them together. Nothing caches the address between connects,
//! so every reconnect resolves the master afresh:
//!
//! 1. Ask the sentinels in turn (starting with the last one that answered)
//!    `SENTINEL get-master-addr-by-name <name>`; the first address given wins.
//! 2. Connect to it and check `ROLE` says `master`: a sentinel can lag behind a failover, and
//!    a demoted master restarts as a replica. Otherwise the connect fails with
//!    [`Error::NoMaster`] and the pool's backoff applies.
//!
//! Three things make a running client reconnect, so that it reaches the new master:
//!
//! - the old master dies: its connections fail, the next request reconnects;
//! - the old master is demoted but alive: writes get `READONLY`, which the pool treats as
//!   "master moved" (drop the connections, resolve again, send the refused command again:
//!   a refused command did not run);
//! - a `+switch-master` event from a sentinel, which a background task subscribes to: it
//!   drops the pool's connections at once, before any command notices.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use resp_codec::{Frame, encode_command};

use crate::config::ServerAddr;
use crate::connection::{ConnectOptions, Connection, PushSink, push_channel};
use crate::error::Error;
use crate::node::{BoxFuture, MasterSource};

/// What the `+switch-master` watcher needs of the pool it serves.
pub(crate) trait SwitchListener: Send + Sync {
    /// The master moved: drop every connection to the old one.
    fn master_switched(&self);
    /// The pool was closed: stop watching.
    fn is_closed(&self) -> bool;
}

/// Pause before the `+switch-master` watcher tries the next sentinel.
const WATCH_RETRY: Duration = Duration::from_millis(500);

/// Held by the watcher task: clears `watching` when the task ends, also when it is dropped
/// unfinished because its runtime shut down, so that the next connect starts a new watcher.
struct Watching(Weak<Sentinel>);

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(s) = self.0.upgrade() {
            s.watching.store(false, Ordering::Release);
        }
    }
}

/// Where the master of one monitored name is.
pub(crate) struct Sentinel {
    master: String,
    sentinels: Vec<ServerAddr>,
    /// Options for connections to sentinels: the client's timeouts and TLS, the sentinels' own
    /// credentials (usually none; never the master's), no database, no name.
    sentinel_opts: ConnectOptions,
    /// Index of the sentinel that answered last: asked first next time.
    preferred: AtomicUsize,
    /// The pool to reset on `+switch-master`.
    pool: Mutex<Option<Weak<dyn SwitchListener>>>,
    watching: AtomicBool,
}

impl Sentinel {
    pub(crate) fn new(
        master: &str,
        sentinels: Vec<ServerAddr>,
        opts: &ConnectOptions,
        credentials: (Option<String>, Option<String>),
    ) -> Arc<Sentinel> {
        let mut sentinel_opts = opts.clone();
        (sentinel_opts.username, sentinel_opts.password) = credentials;
        // The provider gives the master's credentials, never the sentinels'.
        sentinel_opts.credentials = None;
        sentinel_opts.reauth_interval = None;
        sentinel_opts.db = 0;
        sentinel_opts.client_name = None;
        Arc::new(Sentinel {
            master: master.to_owned(),
            sentinels,
            sentinel_opts,
            preferred: AtomicUsize::new(0),
            pool: Mutex::new(None),
            watching: AtomicBool::new(false),
        })
    }

    /// Registers the pool whose connections a `+switch-master` event drops.
    pub(crate) fn attach(&self, pool: Weak<dyn SwitchListener>) {
        *self.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(pool);
    }

    fn no_master(&self) -> Error {
        Error::NoMaster {
            name: self.master.clone(),
        }
    }

    /// Asks the sentinels for the master's address.
    ///
    /// # Errors
    ///
    /// [`Error::NoMaster`] when no sentinel answered with an address; [`Error::Auth`] when
    /// none did and a sentinel refused the credentials (see [`Config::sentinel_password`]),
    /// which waiting will not cure.
    ///
    /// [`Config::sentinel_password`]: crate::Config::sentinel_password
    pub(crate) async fn resolve(&self) -> Result<ServerAddr, Error> {
        let n = self.sentinels.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut refused = None;
        for k in 0..n {
            let i = (first + k) % n;
            let mut opts = self.sentinel_opts.clone();
            opts.endpoint = self.sentinels[i].clone();
            let conn = match Connection::connect(&opts, None).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(sentinel = %opts.endpoint, error = %e, "sentinel unreachable");
                    if e.is_auth_error() {
                        refused = Some(e);
                    }
                    continue;
                }
            };
            let reply = conn
                .request(|b| {
                    encode_command(b, &["SENTINEL", "get-master-addr-by-name", &self.master])
                })
                .await;
            conn.close();
            let addr = match reply {
                Ok(Frame::Array(items)) if items.len() == 2 => {
                    let host = items[0].as_str().map(str::to_owned);
                    let port = items[1].as_str().and_then(|p| p.parse::<u16>().ok());
                    host.zip(port)
                        .map(|(host, port)| ServerAddr::Tcp { host, port })
                }
                _ => None,
            };
            if let Some(addr) = addr {
                self.preferred.store(i, Ordering::Relaxed);
                return Ok(addr);
            }
        }
        Err(refused.unwrap_or_else(|| self.no_master()))
    }

    /// Connects to the current master with `opts` (its endpoint replaced) and checks that it
    /// is one. Starts the `+switch-master` watcher on first use.
    ///
    /// # Errors
    ///
    /// [`Error::NoMaster`] when no master is known or the node is not a master; connect
    /// errors.
    pub(crate) async fn connect_master(
        self: &Arc<Self>,
        opts: &ConnectOptions,
        push: Option<PushSink>,
    ) -> Result<Connection, Error> {
        self.start_watching();
        let addr = self.resolve().await?;
        let mut opts = opts.clone();
        opts.endpoint = addr.clone();
        let check_role = push.is_none();
        let conn = Connection::connect(&opts, push).await?;
        // A subscriber connection delivers every frame to its consumer, so no reply would come
        // back here; it needs no check either, since it never writes.
        if check_role {
            let role = conn.request(|b| encode_command(b, &["ROLE"])).await;
            let is_master = matches!(&role, Ok(Frame::Array(items))
                if items.first().and_then(Frame::as_bytes).is_some_and(|r| r == b"master"));
            if !is_master {
                conn.close();
                tracing::info!(node = %addr, "the node sentinels named is not a master (yet)");
                return Err(self.no_master());
            }
        }
        Ok(conn)
    }

    /// Spawns the task that subscribes to `+switch-master` on a sentinel, once.
    fn start_watching(self: &Arc<Self>) {
        if self.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::downgrade(self);
        // Made before the task, so that it is dropped with the task even if never polled.
        let watching = Watching(me.clone());
        tokio::spawn(async move {
            let _watching = watching;
            let mut i = 0usize;
            loop {
                let Some(s) = me.upgrade() else { return };
                if s.pool_is_gone() {
                    return;
                }
                let addr = s.sentinels[i % s.sentinels.len()].clone();
                i += 1;
                s.watch_one(&addr).await;
                drop(s);
                tokio::time::sleep(WATCH_RETRY).await;
            }
        });
    }

    fn pool(&self) -> Option<Arc<dyn SwitchListener>> {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
    }

    fn pool_is_gone(&self) -> bool {
        self.pool().is_none_or(|p| p.is_closed())
    }

    /// Listens for `+switch-master` on one sentinel until its connection ends or the pool is
    /// gone.
    async fn watch_one(&self, addr: &ServerAddr) {
        let mut opts = self.sentinel_opts.clone();
        opts.endpoint = addr.clone();
        let (sink, mut rx) = push_channel(64, true, Arc::new(AtomicU64::new(0)));
        let Ok(conn) = Connection::connect(&opts, Some(sink)).await else {
            return;
        };
        if conn
            .send_unanswered(|b| encode_command(b, &["SUBSCRIBE", "+switch-master"]))
            .is_err()
        {
            return;
        }
        loop {
            let frame = tokio::select! {
                f = rx.recv() => f,
                // Wake now and then to notice a closed or dropped pool.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if self.pool_is_gone() {
                        conn.close();
                        return;
                    }
                    continue;
                }
            };
            let Some(frame) = frame else { return };
            let Some(items) = frame.without_attributes().as_slice() else {
                continue;
            };
            let is_message = items
                .first()
                .and_then(Frame::as_bytes)
                .is_some_and(|k| k == b"message");
            let payload = items.get(2).and_then(Frame::as_str);
            if let (true, Some(payload)) = (is_message, payload) {
                // "<name> <old ip> <old port> <new ip> <new port>"
                if payload.split(' ').next() == Some(self.master.as_str()) {
                    tracing::info!(
                        event = payload,
                        "sentinel switched the master; reconnecting"
                    );
                    if let Some(pool) = self.pool() {
                        pool.master_switched();
                    }
                }
            }
        }
    }
}

impl MasterSource for Arc<Sentinel> {
    fn connect_master<'a>(
        &'a self,
        opts: &'a ConnectOptions,
        push: Option<PushSink>,
    ) -> BoxFuture<'a, Result<Connection, Error>> {
        Box::pin(Sentinel::connect_master(self, opts, push))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Listener;

    impl SwitchListener for Listener {
        fn master_switched(&self) {}
        fn is_closed(&self) -> bool {
            false
        }
    }

    /// The `+switch-master` watcher's task can be dropped with its runtime (a client kept in a
    /// `static`); the next connect must then start a new one.
    #[test]
    fn a_watcher_dropped_with_its_runtime_can_start_again() {
        let config = crate::Config::from_url("redis://127.0.0.1:1").unwrap();
        let opts = ConnectOptions::from_config(&config);
        let sentinel = Sentinel::new(
            "m",
            vec![ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            }],
            &opts,
            (None, None),
        );
        let pool: Arc<dyn SwitchListener> = Arc::new(Listener);
        sentinel.attach(Arc::downgrade(&pool));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            sentinel.start_watching();
            // The watcher fails to reach the sentinel and waits before the next attempt.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        assert!(sentinel.watching.load(Ordering::Acquire));
        drop(runtime);
        assert!(
            !sentinel.watching.load(Ordering::Acquire),
            "the dropped watcher left its flag set"
        );
    }
}
