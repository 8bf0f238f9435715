//! `NodePool`: the connections to one server — one multiplexed connection for ordinary
//! commands, exclusive connections for the commands that need one to themselves, the
//! reconnect policy shared by both, and the session state that decides whether an exclusive
//! connection may be reused.
//!
//! Standalone, Sentinel and Cluster clients sit side by side above this floor (see
//! the pool façade); a Sentinel tells a node pool where its master is through [`MasterSource`],
//! and nothing here knows which topology it serves or imports the command layer.
//!
//! # Design
//!
//! - Ordinary commands share one multiplexed connection (Redis executes one command at a time,
//!   so one well-batched socket already saturates it; more would only split the batches). When
//!   it fails, the next request reconnects; concurrent reconnects collapse into one, which
//!   runs in a task of its own to its end (bounded by the connect timeout) while each caller
//!   waits for it until its own deadline, so no caller's giving up wastes the attempt.
//! - Blocking pops, `WATCH`/`MULTI`/`EXEC` and subscribers take an exclusive connection
//!   ([`NodeConnection`]), at most `max_connections - 1` at a time (at least one), so the pool
//!   never holds more than `max(max_connections, 2)` sockets, besides connections still being
//!   opened for callers that gave up (each bounded by the connect timeout; once made, they
//!   go to the idle list, which holds at most `max_connections - 1`, and the rest are
//!   closed). Acquiring waits at most the acquire timeout. A connection goes back on drop
//!   only when it is clean: not closed, and not dropped in the middle of a call (a
//!   cancelled `BLPOP` or an open `MULTI` would poison the next user), otherwise it is
//!   closed.
//! - Reconnecting backs off exponentially with jitter, capped. While a backoff is running,
//!   connection attempts fail at once with [`Error::Backoff`] (a circuit breaker: the
//!   endpoint, since when, the next attempt, the last connect error as its cause), so a down
//!   server costs callers no connect timeout each, and no caller mistakes the rejection for
//!   a timeout. When the failures were refused connections (nothing listening: a server
//!   down or restarting), a caller may probe with a bare connect ahead of the schedule, at
//!   most once per [`PROBE_EVERY`] for the pool; when something listens again it connects at
//!   once, so a restarted server is served again within about that interval, however long
//!   the outage and the backoff grew. A server that stays down sees no handshake before the
//!   backoff ends.
//! - Every call carries a [`Deadline`] fixed when it starts (its response timeout, plus the
//!   block time of a blocking command): waiting for the shared connection's connect, taking
//!   or opening an exclusive connection and its idle check, the request and its one retry
//!   all end by it. Connect attempts themselves run in tasks of their own to the connect
//!   timeout, whoever waits for them: a caller's giving up wastes no attempt, and the
//!   breaker counts each attempt once.
//! - Requests are at most once: one that may have been written is never re-sent; one that was
//!   certainly not written (its connection died first) is retried once on a new connection,
//!   within the same deadline.
//! - An exclusive connection idle for `idle_check_after` (configurable) is checked with
//!   `PING` before reuse, for at most [`IDLE_PING_TIMEOUT`] and within the caller's deadline;
//!   one that fails it is closed and another taken or opened.
//! - With a credentials provider and a re-`AUTH` interval, one task per pool re-sends
//!   `AUTH` to the shared and the idle connections, never to one in use (see
//!   [`NodePool::start_reauth`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use resp_codec::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::command::Cmd;
use crate::config::Config;
use crate::connection::{
    ConnectOptions, Connection, Deadline, NegotiatedProtocol, Out, Pending, PushSink, Wait, listens,
};
use crate::error::Error;
use crate::observe::Telemetry;
use crate::reply::check as check_reply;

pub(crate) use futures_core::future::BoxFuture;

/// Where a node pool's master is when its address is not fixed (Sentinel): asked at every
/// connect, so every reconnect resolves the master afresh.
pub(crate) trait MasterSource: Send + Sync {
    /// Connects to the current master with `opts`, whose endpoint it replaces.
    fn connect_master<'a>(
        &'a self,
        opts: &'a ConnectOptions,
        push: Option<PushSink>,
    ) -> BoxFuture<'a, Result<Connection, Error>>;
}

/// Pool sizing and reconnect policy.
#[derive(Debug, Clone)]
pub(crate) struct PoolOptions {
    pub(crate) max_connections: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    /// How long an exclusive connection may sit idle before it is checked with `PING` on
    /// reuse.
    pub(crate) idle_check_after: Duration,
    /// The client's counters and span settings, shared by every node pool of a cluster.
    pub(crate) telemetry: Arc<Telemetry>,
}

impl PoolOptions {
    /// The pool sizing and reconnect policy `config` asks for.
    pub(crate) fn from_config(config: &Config) -> PoolOptions {
        PoolOptions {
            max_connections: config.max_connections(),
            acquire_timeout: config.pool_acquire_timeout(),
            reconnect_min: config.reconnect_min_delay(),
            reconnect_max: config.reconnect_max_delay(),
            idle_check_after: config.idle_check_after(),
            telemetry: Arc::new(Telemetry {
                query_text: config.is_trace_query_text(),
                db: config.db().to_string(),
                ..Telemetry::default()
            }),
        }
    }
}

/// How long the `PING` of an idle connection's check may take before the connection is
/// replaced.
const IDLE_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How often, at most, a pool whose server refused connections checks with a bare connect
/// whether it listens again, ahead of the backoff schedule: the longest a caller waits for
/// a restarted server to be noticed (plus one connect), whatever the backoff has grown to.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// How long such a probe may take (never longer than the caller's deadline): a refused
/// connect is answered by the peer's kernel within a round trip.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// Pools created so far, mixed into each one's jitter seed.
static POOLS: AtomicU64 = AtomicU64::new(0);

/// The connections to one server.
pub(crate) struct NodePool {
    opts: ConnectOptions,
    /// `opts` with client-side caching's tracking, for the shared connection only (the one
    /// cached reads use); `None` without a cache. Exclusive connections are never tracked:
    /// a subscriber would take invalidations for messages.
    tracked: Option<ConnectOptions>,
    popts: PoolOptions,
    /// Send `READONLY` on every new connection: a cluster replica serving reads.
    readonly: bool,
    /// Where the master is, when it is found through Sentinel rather than fixed.
    master: Option<Arc<dyn MasterSource>>,
    shared: Mutex<Option<Connection>>,
    /// The shared connection's connect in progress (or just finished): its outcome, once it
    /// has one.
    connecting: Mutex<Option<Connecting>>,
    /// This pool, for the task that connects the shared connection.
    me: Weak<NodePool>,
    idle: Mutex<Vec<(Connection, Instant)>>,
    permits: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    closed: AtomicBool,
    jitter: AtomicU64,
    /// A shared connection was made before: the next one is a reconnect.
    had_shared: AtomicBool,
    /// Set once the scheduled re-`AUTH` task runs (see [`NodePool::start_reauth`]).
    reauth_started: AtomicBool,
}

/// Where the callers waiting for the shared connection's connect learn its outcome.
type Connecting = watch::Receiver<Option<Result<Connection, Error>>>;

#[derive(Default)]
struct Breaker {
    failures: u32,
    /// When the first failed attempt of this run of failures started.
    since: Option<Instant>,
    retry_at: Option<Instant>,
    last_error: Option<Error>,
    /// When a caller last probed ahead of the backoff schedule (see [`NodePool::probe_ahead`]).
    last_probe: Option<Instant>,
}

impl NodePool {
    /// A pool for the server `opts` names.
    pub(crate) fn new(opts: ConnectOptions, popts: PoolOptions) -> Arc<NodePool> {
        NodePool::build(opts, popts, false, None)
    }

    /// A pool for a cluster replica: every connection sends `READONLY` first.
    pub(crate) fn new_readonly(opts: ConnectOptions, popts: PoolOptions) -> Arc<NodePool> {
        NodePool::build(opts, popts, true, None)
    }

    /// A pool whose server is the master `source` names, re-resolved on every connect.
    pub(crate) fn new_with_master(
        opts: ConnectOptions,
        popts: PoolOptions,
        source: Arc<dyn MasterSource>,
    ) -> Arc<NodePool> {
        NodePool::build(opts, popts, false, Some(source))
    }

    fn build(
        mut opts: ConnectOptions,
        popts: PoolOptions,
        readonly: bool,
        master: Option<Arc<dyn MasterSource>>,
    ) -> Arc<NodePool> {
        let tracked = opts.tracking.take().map(|t| ConnectOptions {
            tracking: Some(t),
            ..opts.clone()
        });
        let exclusive = popts.max_connections.saturating_sub(1).max(1);
        // Keep in step with `max_exclusive`.
        Arc::new_cyclic(|me| NodePool {
            opts,
            tracked,
            popts,
            readonly,
            master,
            shared: Mutex::new(None),
            connecting: Mutex::new(None),
            me: me.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(exclusive)),
            breaker: Mutex::new(Breaker::default()),
            closed: AtomicBool::new(false),
            had_shared: AtomicBool::new(false),
            reauth_started: AtomicBool::new(false),
            // Pools of one process (one per cluster node) must not back off in lockstep.
            jitter: AtomicU64::new(
                0x9e37_79b9_7f4a_7c15
                    ^ u64::from(std::process::id())
                    ^ POOLS.fetch_add(0x2545_f491_4f6c_dd1d, Ordering::Relaxed),
            ),
        })
    }

    pub(crate) fn connect_options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// A fresh pseudo-random number for jitter (splitmix64; quality is irrelevant here).
    fn random(&self) -> u64 {
        let mut z = self
            .jitter
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The delay before attempt number `failures + 1`: exponential, capped, and jittered into
    /// `[d/2, d]` so that many clients do not reconnect in lockstep.
    fn backoff(&self, failures: u32) -> Duration {
        let min = self.popts.reconnect_min.max(Duration::from_millis(1));
        let exp = min.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let d = exp.min(self.popts.reconnect_max.max(min));
        let half = d / 2;
        let nanos = half.as_nanos().max(1) as u64;
        half + Duration::from_nanos(self.random() % nanos)
    }

    /// A deadline for a call starting now, `wait` resolved against the response timeout.
    pub(crate) fn deadline(&self, wait: Wait) -> Deadline {
        Deadline::start(wait, self.opts.response_timeout)
    }

    /// Opens a connection, unless the breaker says the server was unreachable moments ago
    /// ([`Error::Backoff`]). The attempt ends at `deadline` if that comes before the connect
    /// timeout; the caller gave up then, which says nothing about the server, so it does not
    /// count as a failed attempt.
    pub(crate) async fn open(
        &self,
        push: Option<PushSink>,
        deadline: &Deadline,
    ) -> Result<Connection, Error> {
        self.open_as(push, deadline, false).await
    }

    /// [`NodePool::open`], for the shared connection when `shared` (tracked, with a cache).
    async fn open_as(
        &self,
        push: Option<PushSink>,
        deadline: &Deadline,
        shared: bool,
    ) -> Result<Connection, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let started = Instant::now();
        if let Err(backoff) = self.check_breaker(started)
            && !self.probe_ahead(started, deadline).await
        {
            return Err(backoff);
        }
        // Connect and handshake (and, with Sentinel, the master's lookup) in a span of
        // their own, inside the command's span when a command waits for them.
        let connect = self
            .connect(push, shared)
            .instrument(crate::observe::connect_span(&self.opts.endpoint));
        let result = match deadline.at() {
            None => connect.await,
            Some(at) => match tokio::time::timeout_at(at, connect).await {
                Ok(result) => result,
                Err(_) => return Err(deadline.expired(false)),
            },
        };
        if result.is_ok() {
            self.start_reauth();
        }
        let stats = &self.popts.telemetry.stats;
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(_) => {
                *b = Breaker::default();
                stats.connected();
            }
            Err(e) => {
                stats.connect_failed();
                b.failures = b.failures.saturating_add(1);
                b.since.get_or_insert(started);
                let delay = self.backoff(b.failures);
                b.retry_at = Some(Instant::now() + delay);
                b.last_error = Some(e.clone());
                tracing::warn!(error = %e, failures = b.failures, retry_in = ?delay, "connect failed");
            }
        }
        result
    }

    /// While the backoff runs after connections were refused (nothing listened: the server
    /// is down or restarting), a caller may check with a bare connect, at most once per
    /// [`PROBE_EVERY`] for the whole pool, whether something listens again; true when it
    /// does, and the caller then attempts a real connection at once. A refused connect costs
    /// the server's host only a reset, and a server that stays down sees no handshake before
    /// the backoff ends. After other failures (timeouts of a frozen or unreachable host, a
    /// handshake refused) the probe would say nothing new, and only the backoff decides.
    async fn probe_ahead(&self, now: Instant, deadline: &Deadline) -> bool {
        if self.master.is_some() {
            // A Sentinel-resolved master: where it is, is the connect's business.
            return false;
        }
        {
            let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            let refused = matches!(
                &b.last_error,
                Some(Error::Io(e)) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                )
            );
            let recent = b
                .last_probe
                .is_some_and(|at| now.saturating_duration_since(at) < PROBE_EVERY);
            if !refused || recent {
                return false;
            }
            b.last_probe = Some(now);
        }
        let limit = deadline
            .remaining()
            .map_or(PROBE_TIMEOUT, |r| r.min(PROBE_TIMEOUT));
        let up = matches!(
            tokio::time::timeout(limit, listens(&self.opts.endpoint)).await,
            Ok(true)
        );
        if up {
            tracing::debug!(endpoint = %self.opts.endpoint, "listening again; connecting ahead of the backoff");
        }
        up
    }

    /// `Err(Backoff)` while the breaker's backoff runs.
    fn check_breaker(&self, now: Instant) -> Result<(), Error> {
        let b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match (b.retry_at, &b.last_error) {
            (Some(at), Some(err)) if now < at => Err(Error::Backoff {
                endpoint: self.opts.endpoint.clone(),
                since: b.since.unwrap_or(now).into_std(),
                retry_at: at.into_std(),
                failures: b.failures,
                cause: Box::new(err.clone()),
            }),
            _ => Ok(()),
        }
    }

    /// Connects to the fixed server, or to the master its source names now (checked with
    /// `ROLE`); a replica pool then switches the connection to `READONLY`.
    async fn connect(&self, push: Option<PushSink>, shared: bool) -> Result<Connection, Error> {
        let opts = match &self.tracked {
            Some(tracked) if shared => tracked,
            _ => &self.opts,
        };
        let conn = match &self.master {
            None => Connection::connect(opts, push).await?,
            Some(source) => source.connect_master(opts, push).await?,
        };
        if self.readonly {
            let reply = conn
                .request(|b| resp_codec::encode_command(b, &["READONLY"]))
                .await;
            if let Err(e) = reply.and_then(check_reply) {
                conn.close();
                return Err(e);
            }
        }
        Ok(conn)
    }

    /// When the breaker will next allow a connection attempt, if it is open.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        let b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        b.retry_at.filter(|at| *at > Instant::now())
    }

    /// The shared multiplexed connection, (re)connecting if needed, by `deadline`.
    ///
    /// The connect runs in a task of its own, to its end (the connect timeout bounds it),
    /// and concurrent callers wait for the same one, each until its own deadline: a caller
    /// that gives up does not waste the attempt for the next, so a handshake slower than a
    /// response timeout still completes, and the breaker counts each attempt once.
    pub(crate) async fn shared(&self, deadline: &Deadline) -> Result<Connection, Error> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let mut rx = match self.connect_shared() {
            Ok(c) => return Ok(c),
            Err(rx) => rx,
        };
        deadline
            .bound(async move {
                match rx.wait_for(Option::is_some).await {
                    Ok(outcome) => match &*outcome {
                        Some(result) => result.clone(),
                        None => Err(Error::Closed),
                    },
                    // The connecting task was dropped unfinished: its runtime shut down.
                    Err(_) => Err(Error::ConnectionClosed {
                        sent: false,
                        cause: None,
                    }),
                }
            })
            .await
    }

    /// The shared connection if it is up (`Ok`), else the connect in progress, started now
    /// if none is (`Err`).
    fn connect_shared(&self) -> Result<Connection, Connecting> {
        let mut slot = self.connecting.lock().unwrap_or_else(|e| e.into_inner());
        // Under the slot's lock: a connect that finished since the caller looked has
        // installed its connection already.
        if let Some(c) = self.current() {
            return Ok(c);
        }
        if let Some(rx) = slot.as_ref() {
            let pending = rx.borrow().is_none() && rx.has_changed().is_ok();
            if pending {
                return Err(rx.clone());
            }
        }
        let (tx, rx) = watch::channel(None);
        match (self.me.upgrade(), tokio::runtime::Handle::try_current()) {
            (Some(pool), Ok(runtime)) => {
                runtime.spawn(async move {
                    let result = pool.open_as(None, &Deadline::unbounded(), true).await;
                    if let Ok(c) = &result {
                        if pool.had_shared.swap(true, Ordering::Relaxed) {
                            pool.popts.telemetry.stats.reconnected();
                            tracing::info!(endpoint = %pool.opts.endpoint, "reconnected");
                        }
                        if pool.is_closed() {
                            c.close();
                        } else {
                            let old = pool
                                .shared
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .replace(c.clone());
                            if old.is_none() {
                                pool.popts.telemetry.stats.connections(0, 1);
                            }
                        }
                    }
                    let _ = tx.send(Some(result));
                });
            }
            // Outside a runtime (never from an async caller) or while the pool is being
            // dropped: nothing can connect.
            _ => {
                let _ = tx.send(Some(Err(Error::Closed)));
            }
        }
        *slot = Some(rx.clone());
        Err(rx)
    }

    /// Queues `cmd` on the shared connection when it is up and nothing needs deciding
    /// first: no reconnect, and no Sentinel (whose demoted master needs the resend of
    /// [`NodePool::request`]). `None`: take [`NodePool::request`].
    pub(crate) fn try_submit(&self, cmd: &Cmd) -> Option<Pending> {
        if self.master.is_some() {
            return None;
        }
        self.current()?
            .submit(|out| put_cmd(out, cmd), Wait::Default)
            .ok()
    }

    fn current(&self) -> Option<Connection> {
        let guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Sends one command on the shared connection by `deadline`, retrying once (within the
    /// same deadline) when it was certainly not written.
    pub(crate) async fn request(&self, cmd: &Cmd, deadline: &Deadline) -> Result<Frame, Error> {
        let encode = |out: &mut Out<'_>| put_cmd(out, cmd);
        let conn = self.shared(deadline).await?;
        match conn.request_by(&encode, deadline).await {
            Err(e) if e.is_unsent() && !self.closed.load(Ordering::Acquire) => {
                self.shared(deadline)
                    .await?
                    .request_by(&encode, deadline)
                    .await
            }
            Ok(frame) if self.is_demoted(&frame) => {
                // The master we knew was demoted (a failover): the command was refused, not
                // run, so it is safe to send again to the master Sentinel names now.
                tracing::info!(
                    endpoint = %self.opts.endpoint,
                    "the master was demoted (a failover); asking the sentinels again"
                );
                self.forget_master();
                self.shared(deadline)
                    .await?
                    .request_by(&encode, deadline)
                    .await
            }
            r => r,
        }
    }

    /// True for the `READONLY` error a demoted master gives to writes, in Sentinel mode.
    fn is_demoted(&self, frame: &Frame) -> bool {
        self.master.is_some() && frame.as_error().is_some_and(|e| e.starts_with(b"READONLY"))
    }

    /// Closes the shared and the idle connections, so that the next request connects anew
    /// (and, in Sentinel mode, resolves the master again: after `+switch-master` or a
    /// `READONLY` reply).
    pub(crate) fn forget_master(&self) {
        let stats = &self.popts.telemetry.stats;
        if let Some(c) = self.shared.lock().unwrap_or_else(|e| e.into_inner()).take() {
            c.close();
            stats.connections(0, -1);
        }
        for (c, _) in self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.close();
            stats.connections(-1, 0);
        }
    }

    /// Sends a batch on the shared connection by `deadline`; like [`NodePool::request`] for
    /// retries.
    pub(crate) async fn request_many(
        &self,
        cmds: &[&Cmd],
        deadline: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        let encode = |out: &mut Out<'_>| cmds.iter().for_each(|c| put_cmd(out, c));
        let replies = cmds.len();
        let conn = self.shared(deadline).await?;
        match conn.request_many_by(&encode, replies, deadline).await {
            Err(e) if e.is_unsent() && !self.closed.load(Ordering::Acquire) => {
                let conn = self.shared(deadline).await?;
                conn.request_many_by(&encode, replies, deadline).await
            }
            Ok(frames) if frames.iter().any(|f| self.is_demoted(f)) => {
                self.forget_master();
                let conn = self.shared(deadline).await?;
                conn.request_many_by(&encode, replies, deadline).await
            }
            r => r,
        }
    }

    /// Takes an exclusive connection, waiting at most the acquire timeout for a free one, and
    /// no later than `deadline` for all of it (a free one, a new one, the idle check).
    pub(crate) async fn exclusive(
        self: &Arc<Self>,
        deadline: &Deadline,
    ) -> Result<NodeConnection, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let waited = self.popts.acquire_timeout;
        let limit = deadline.remaining().map_or(waited, |r| r.min(waited));
        let asked = Instant::now();
        let acquired = tokio::time::timeout(limit, self.permits.clone().acquire_owned()).await;
        let stats = &self.popts.telemetry.stats;
        stats.acquired(asked.elapsed(), acquired.is_err() && limit >= waited);
        let permit = match acquired {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) if limit < waited => return Err(deadline.expired(false)),
            Err(_) => return Err(Error::PoolTimeout { waited }),
        };
        let conn = loop {
            let candidate = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((conn, since)) = candidate else {
                break self.open_exclusive(deadline).await?;
            };
            stats.connections(-1, 0);
            if conn.is_closed() {
                continue;
            }
            if since.elapsed() >= self.popts.idle_check_after && !ping(&conn, deadline).await {
                conn.close();
                continue;
            }
            break conn;
        };
        stats.connections(0, 1);
        Ok(NodeConnection {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
            busy: false,
            state: SessionState::default(),
        })
    }

    /// Opens a connection for an exclusive user, who waits for it until `deadline`. The
    /// attempt runs in a task of its own to its end (the connect timeout bounds it): when the
    /// caller has given up by then, the new connection waits in the idle list for the next
    /// one, so a handshake slower than a caller's timeout is not wasted.
    async fn open_exclusive(self: &Arc<Self>, deadline: &Deadline) -> Result<Connection, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pool = self.clone();
        tokio::spawn(async move {
            let result = pool.open(None, &Deadline::unbounded()).await;
            if let Err(Ok(orphan)) = tx.send(result) {
                pool.give_back(orphan);
            }
        });
        deadline
            .bound(async {
                rx.await.unwrap_or(Err(Error::ConnectionClosed {
                    sent: false,
                    cause: None,
                }))
            })
            .await
    }

    /// Puts a clean connection in the idle list, unless the pool is closed or the list is
    /// full (as many as exclusive users may hold at once).
    fn give_back(&self, conn: Connection) {
        if self.closed.load(Ordering::Acquire) || conn.is_closed() {
            conn.close();
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.max_exclusive() {
            drop(idle);
            conn.close();
            return;
        }
        idle.push((conn, Instant::now()));
        self.popts.telemetry.stats.connections(1, 0);
    }

    /// How many exclusive connections may be in use at once.
    fn max_exclusive(&self) -> usize {
        self.popts.max_connections.saturating_sub(1).max(1)
    }

    /// Closes every connection; later requests fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        self.forget_master();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// True when the master is found through Sentinel: [`NodePool::endpoint`] is then the
    /// configured address, not the master's.
    pub(crate) fn is_sentinel(&self) -> bool {
        self.master.is_some()
    }

    /// The client's counters and span settings.
    pub(crate) fn telemetry(&self) -> &Arc<Telemetry> {
        &self.popts.telemetry
    }

    /// The address this pool connects to.
    pub(crate) fn endpoint(&self) -> &crate::config::ServerAddr {
        &self.opts.endpoint
    }

    /// The protocol of the shared connection, if it is up.
    pub(crate) fn protocol(&self) -> Option<NegotiatedProtocol> {
        self.current().map(|c| c.protocol())
    }
}

/// Scheduled re-`AUTH` (`ConfigBuilder::reauth_interval`): credentials that expire (tokens)
/// must be renewed on connections that outlive them.
///
/// One task per pool, started with its first connection and ended when the pool is
/// closed or dropped (it holds the pool weakly). Each round asks the provider once, then
/// sends `AUTH` to the shared connection and to every idle exclusive one. Only there: a
/// connection in use may be inside `MULTI` (where `AUTH` would be queued into the
/// transaction and change what `EXEC` returns) or blocked on a `BLPOP`, and a subscriber's
/// RESP2 connection refuses `AUTH`; those are authenticated afresh when they reconnect, and
/// exclusive ones get the next round once returned. The `AUTH` of an idle connection is
/// queued under the idle list's lock, so it precedes anything its next user sends.
impl NodePool {
    fn start_reauth(&self) {
        let Some(every) = self.opts.reauth_interval else {
            return;
        };
        if self.opts.credentials.is_none() || self.reauth_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.me.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match pool.upgrade() {
                    Some(pool) if !pool.is_closed() => pool.reauth_round().await,
                    _ => return,
                }
            }
        });
    }

    async fn reauth_round(&self) {
        let fetched = tokio::time::timeout(
            self.opts.connect_timeout,
            crate::connection::credentials(&self.opts),
        )
        .await;
        let creds = match fetched {
            Ok(Ok(Some(creds))) => creds,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(endpoint = %self.opts.endpoint, error = %e, "scheduled re-authentication skipped");
                return;
            }
            Err(_) => {
                tracing::warn!(endpoint = %self.opts.endpoint, "scheduled re-authentication skipped: the credentials provider timed out");
                return;
            }
        };
        let encode = |out: &mut Out<'_>| crate::connection::encode_auth(out, &creds);
        let mut replies = Vec::new();
        if let Some(shared) = self.current() {
            replies.extend(shared.submit(encode, Wait::Default).ok());
        }
        {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            for (conn, _) in idle.iter().filter(|(c, _)| !c.is_closed()) {
                replies.extend(conn.submit(encode, Wait::Default).ok());
            }
        }
        for reply in replies {
            // A refusal leaves the connection as it was authenticated; the server closes
            // it if that has expired, and the reconnect asks the provider again.
            if let Err(e) = reply.await.and_then(check_reply) {
                tracing::warn!(endpoint = %self.opts.endpoint, error = %e, "scheduled re-authentication failed");
            }
        }
    }
}

/// Checks an idle connection with `PING`, for at most [`IDLE_PING_TIMEOUT`] and not past the
/// caller's `deadline`.
/// Queues `cmd` in a connection's write queue: a large command's arguments as a shared part
/// (see [`Cmd::write_head`]), so that sending it, or sending it again, copies none of them.
#[inline]
pub(crate) fn put_cmd(out: &mut Out<'_>, cmd: &Cmd) {
    if let Some(shared) = cmd.write_head(out) {
        out.put_shared(shared);
    }
}

async fn ping(conn: &Connection, deadline: &Deadline) -> bool {
    let limit = deadline
        .remaining()
        .map_or(IDLE_PING_TIMEOUT, |r| r.min(IDLE_PING_TIMEOUT));
    let probe = conn.request_with(
        |b| resp_codec::encode_command(b, &["PING"]),
        Wait::Exactly(Some(limit)),
    );
    matches!(probe.await, Ok(Frame::SimpleString(_)))
}

/// An exclusive connection to one node.
pub(crate) struct NodeConnection {
    conn: Option<Connection>,
    pool: Arc<NodePool>,
    _permit: OwnedSemaphorePermit,
    busy: bool,
    state: SessionState,
}

/// Server-side state a user may have left on an exclusive connection. A connection with any
/// of it is closed on drop instead of handed to the next user, who would otherwise inherit an
/// open `MULTI`, a `WATCH`, another database or subscriber mode.
#[derive(Debug, Default, Clone, Copy)]
struct SessionState {
    in_multi: bool,
    watching: bool,
    /// A command that changes the connection for good (SELECT, SUBSCRIBE, CLIENT ...).
    tainted: bool,
}

impl SessionState {
    fn observe(&mut self, cmd: &Cmd) {
        // Upper-cased on the stack: every name that matters fits in 16 bytes.
        let name = cmd.name_bytes();
        let mut upper = [0u8; 16];
        let Some(upper) = upper.get_mut(..name.len()) else {
            return;
        };
        upper.copy_from_slice(name);
        upper.make_ascii_uppercase();
        match &*upper {
            b"MULTI" => self.in_multi = true,
            b"WATCH" => self.watching = true,
            b"UNWATCH" => self.watching = false,
            b"EXEC" | b"DISCARD" => {
                self.in_multi = false;
                self.watching = false;
            }
            b"SELECT" | b"SUBSCRIBE" | b"PSUBSCRIBE" | b"SSUBSCRIBE" | b"MONITOR" | b"HELLO"
            | b"AUTH" | b"CLIENT" | b"READONLY" | b"READWRITE" | b"SWAPDB" | b"RESET" | b"SYNC"
            | b"PSYNC" => self.tainted = true,
            _ => {}
        }
    }

    fn is_clean(&self) -> bool {
        !(self.in_multi || self.watching || self.tainted)
    }
}

impl NodeConnection {
    /// True while a call is running (a guard dropped now closes the connection).
    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// The address of the node this connection belongs to.
    pub(crate) fn endpoint(&self) -> &crate::config::ServerAddr {
        self.pool.endpoint()
    }

    /// The client's counters and span settings.
    pub(crate) fn telemetry(&self) -> &Arc<Telemetry> {
        self.pool.telemetry()
    }

    /// The response timeout of this connection's pool.
    pub(crate) fn response_timeout(&self) -> Option<Duration> {
        self.pool.opts.response_timeout
    }

    pub(crate) fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }

    /// Sends `cmd` and waits for its reply by `deadline`.
    pub(crate) async fn send_frame(
        &mut self,
        cmd: &Cmd,
        deadline: &Deadline,
    ) -> Result<Frame, Error> {
        self.busy = true;
        self.state.observe(cmd);
        let result = self
            .conn()
            .request_by(|out| put_cmd(out, cmd), deadline)
            .await;
        if let Err(e) = &result
            && e.is_connection_error()
        {
            self.conn().close();
        }
        self.busy = false;
        result
    }

    /// Sends `cmds` in one write and waits for their replies by `deadline`.
    pub(crate) async fn send_many(
        &mut self,
        cmds: &[&Cmd],
        deadline: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        self.busy = true;
        for c in cmds {
            self.state.observe(c);
        }
        let result = self
            .conn()
            .request_many_by(
                |out| {
                    for c in cmds {
                        put_cmd(out, c);
                    }
                },
                cmds.len(),
                deadline,
            )
            .await;
        if result.is_err() {
            self.conn().close();
        }
        self.busy = false;
        result
    }

    pub(crate) fn discard(&mut self) {
        self.conn().close();
    }
}

impl Drop for NodePool {
    /// The connections still held close with the pool: they leave the connection counts.
    fn drop(&mut self) {
        let shared = self.shared.get_mut().map_or(0, |s| i64::from(s.is_some()));
        let idle = self.idle.get_mut().map_or(0, |i| i.len() as i64);
        self.popts.telemetry.stats.connections(-idle, -shared);
    }
}

impl Drop for NodeConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        self.pool.popts.telemetry.stats.connections(0, -1);
        if self.busy || !self.state.is_clean() {
            // Dropped mid-call (a reply or a blocked pop is still owed on this socket), or
            // with server-side state the next user must not inherit.
            conn.close();
        } else {
            self.pool.give_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(min_ms: u64, max_ms: u64) -> Arc<NodePool> {
        let config = Config::builder()
            .host("127.0.0.1")
            .port(1)
            .reconnect_delays(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
            .build()
            .unwrap();
        NodePool::new(
            ConnectOptions::from_config(&config),
            PoolOptions::from_config(&config),
        )
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_within_its_jitter_range() {
        let p = pool(10, 1000);
        for failures in 1..40u32 {
            let full = Duration::from_millis((10u64 << (failures - 1).min(20)).min(1000));
            let delays: Vec<Duration> = (0..200).map(|_| p.backoff(failures)).collect();
            for d in &delays {
                assert!(
                    *d >= full / 2 && *d <= full,
                    "{failures}: {d:?} outside [{full:?}/2, {full:?}]"
                );
            }
            // Jittered: not one fixed value (the range is at least 5 ms wide).
            assert!(
                delays.iter().any(|d| *d != delays[0]),
                "{failures}: no jitter"
            );
        }
    }

    #[test]
    fn pools_do_not_back_off_in_lockstep() {
        let (a, b) = (pool(100, 100), pool(100, 100));
        let da: Vec<Duration> = (0..20).map(|_| a.backoff(1)).collect();
        let db: Vec<Duration> = (0..20).map(|_| b.backoff(1)).collect();
        assert_ne!(da, db);
    }

    /// While the breaker's backoff runs, `open` fails at once with [`Error::Backoff`]
    /// (carrying the last error) instead of connecting again; once it expires, the next call
    /// tries again.
    #[tokio::test]
    async fn open_fails_fast_while_the_backoff_runs() {
        let p = pool(300, 300);
        let none = Deadline::unbounded();
        let Err(first) = p.open(None, &none).await else {
            panic!("nothing listens on port 1")
        };
        assert_eq!(p.breaker.lock().unwrap().failures, 1);
        let started = Instant::now();
        let Err(again) = p.open(None, &none).await else {
            panic!("connected during the backoff")
        };
        let Error::Backoff {
            failures,
            retry_at,
            ref cause,
            ..
        } = again
        else {
            panic!("not a backoff: {again:?}")
        };
        assert_eq!(cause.to_string(), first.to_string());
        assert_eq!(failures, 1);
        assert!(retry_at > started.into_std());
        assert!(again.is_backoff() && !again.is_timeout() && again.is_unsent());
        assert_eq!(
            p.breaker.lock().unwrap().failures,
            1,
            "connected during the backoff"
        );
        tokio::time::sleep(Duration::from_millis(310)).await;
        assert!(p.open(None, &none).await.is_err());
        assert_eq!(p.breaker.lock().unwrap().failures, 2);
    }

    /// While the backoff runs after refused connections, callers probe ahead of it at most
    /// once per [`PROBE_EVERY`] for the pool, and a probe that finds nothing listening makes
    /// no connect attempt: a server that stays down is not hammered.
    #[tokio::test]
    async fn probes_ahead_of_the_backoff_at_most_once_per_interval() {
        let p = pool(10_000, 10_000);
        let none = Deadline::unbounded();
        assert!(
            p.open(None, &none).await.is_err(),
            "nothing listens on port 1"
        );
        let started = Instant::now();
        let (mut probes, mut last) = (0, None);
        while started.elapsed() < Duration::from_millis(350) {
            let Err(e) = p.open(None, &none).await else {
                panic!("connected to port 1")
            };
            assert!(e.is_backoff(), "{e:?}");
            let probe = p.breaker.lock().unwrap().last_probe;
            if probe != last {
                probes += 1;
                last = probe;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // At 0, 100, 200 and 300 ms at most; fewer on a machine slow to run the loop.
        assert!((1..=4).contains(&probes), "{probes} probes in 350 ms");
        assert_eq!(
            p.breaker.lock().unwrap().failures,
            1,
            "a connect was attempted"
        );
    }
}
