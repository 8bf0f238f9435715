//! `Pool`: a multiplexed connection for ordinary commands, exclusive connections for the
//! commands that need one to themselves, and the reconnect policy shared by both.
//!
//! `Pool` is the façade the rest of the crate talks to. Behind it is either one `NodePool`
//! (one server, or the master a Sentinel points at: see `crate::sentinel`) or a
//! `crate::cluster::Cluster`, which routes each command to a `NodePool` per cluster node. The
//! methods keep the same meaning in every mode; cluster-specific ones say so.
//!
//! # Design of a `NodePool`
//!
//! - Ordinary commands share one multiplexed connection (Redis executes one command at a time,
//!   so one well-batched socket already saturates it; more would only split the batches). When
//!   it fails, the next request reconnects; concurrent reconnects collapse into one.
//! - Blocking pops, `WATCH`/`MULTI`/`EXEC` and subscribers take an exclusive connection
//!   through [`PooledConnection`], at most `max_connections - 1` at a time (at least one), so
//!   the pool never holds more than `max(max_connections, 2)` sockets. Acquiring waits at most
//!   the acquire timeout. A guard returns its connection on drop only when it is clean: not
//!   closed, and not dropped in the middle of a call (a cancelled `BLPOP` or an open `MULTI`
//!   would poison the next user), otherwise the connection is closed.
//! - Reconnecting backs off exponentially with jitter, capped. While a backoff is running,
//!   connection attempts fail at once with the last connect error (a circuit breaker), so a
//!   down server costs callers no connect timeout each.
//! - Requests are at most once: one that may have been written is never re-sent; one that was
//!   certainly not written (its connection died first) is retried once on a new connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use resp_codec::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::cmd::{Cmd, FromReply};
use crate::config::Config;
use crate::connection::{ConnectOptions, Connection, NegotiatedProtocol, PushSink};
use crate::error::Error;
use crate::sentinel::Sentinel;

/// Pool sizing and reconnect policy.
#[derive(Debug, Clone)]
pub(crate) struct PoolOptions {
    pub(crate) max_connections: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
}

impl PoolOptions {
    /// The pool sizing and reconnect policy `config` asks for.
    pub(crate) fn from_config(config: &Config) -> PoolOptions {
        PoolOptions {
            max_connections: config.max_connections(),
            acquire_timeout: config.pool_acquire_timeout(),
            reconnect_min: config.reconnect_min_delay(),
            reconnect_max: config.reconnect_max_delay(),
        }
    }
}

/// How long an exclusive connection may sit idle before it is checked with `PING` on reuse.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(15);

/// Pools created so far, mixed into each one's jitter seed.
static POOLS: AtomicU64 = AtomicU64::new(0);

/// The connection pool behind a [`Client`](crate::Client): one server, a Sentinel-managed
/// master, or a cluster.
pub(crate) struct Pool {
    kind: Kind,
}

enum Kind {
    /// One server; also a Sentinel-resolved master.
    Node(Arc<NodePool>),
    /// A Redis Cluster: commands are routed by key slot to per-node pools.
    Cluster(Arc<Cluster>),
}

impl Pool {
    /// The pool `config` asks for: a cluster when it names cluster nodes, a Sentinel-managed
    /// master when it names sentinels, otherwise one server. No I/O happens here.
    pub(crate) fn from_config(config: &Config, popts: PoolOptions) -> Arc<Pool> {
        let opts = ConnectOptions::from_config(config);
        let kind = if !config.cluster_nodes().is_empty() {
            Kind::Cluster(Cluster::new(
                opts,
                popts,
                config.cluster_nodes().to_vec(),
                config.is_read_from_replicas(),
            ))
        } else if let Some(master) = config.sentinel_master() {
            let credentials = (
                config.sentinel_username().map(str::to_owned),
                config.sentinel_password().map(str::to_owned),
            );
            let sentinel = Sentinel::new(master, config.sentinels().to_vec(), &opts, credentials);
            let pool = NodePool::new_with_sentinel(opts, popts, sentinel.clone());
            sentinel.attach(Arc::downgrade(&pool));
            Kind::Node(pool)
        } else {
            Kind::Node(NodePool::new(opts, popts))
        };
        Arc::new(Pool { kind })
    }

    /// The cluster router, in cluster mode.
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        match &self.kind {
            Kind::Cluster(c) => Some(c),
            Kind::Node(_) => None,
        }
    }

    /// The connect options (in cluster mode, the template every node's options copy).
    pub(crate) fn connect_options(&self) -> &ConnectOptions {
        match &self.kind {
            Kind::Node(n) => n.connect_options(),
            Kind::Cluster(c) => c.connect_options(),
        }
    }

    /// Opens a new connection (in cluster mode, to some master).
    pub(crate) async fn open(&self, push: Option<PushSink>) -> Result<Connection, Error> {
        match &self.kind {
            Kind::Node(n) => n.open(push).await,
            Kind::Cluster(c) => c.open_any(push).await,
        }
    }

    /// When the breaker will next allow a connection attempt, if it is open (in cluster mode:
    /// only when it is open for every known node).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Node(n) => n.retry_at(),
            Kind::Cluster(c) => c.retry_at(),
        }
    }

    /// Sends one command and returns its reply (error replies are `Ok` frames). In cluster
    /// mode the command is routed by its keys, following redirections.
    pub(crate) async fn request(&self, encode: impl Fn(&mut BytesMut)) -> Result<Frame, Error> {
        match &self.kind {
            Kind::Node(n) => n.request(encode).await,
            Kind::Cluster(c) => c.request(&encode).await,
        }
    }

    /// Sends a batch and returns its `replies` frames in order. In cluster mode the batch is
    /// split by node (a `MULTI` ... `EXEC` batch must stay in one slot).
    pub(crate) async fn request_many(
        &self,
        encode: impl Fn(&mut BytesMut),
        replies: usize,
    ) -> Result<Vec<Frame>, Error> {
        match &self.kind {
            Kind::Node(n) => n.request_many(encode, replies).await,
            Kind::Cluster(c) => c.request_many(&encode, replies).await,
        }
    }

    /// Takes an exclusive connection. In cluster mode it binds to a node lazily, at its
    /// first command with a key.
    pub(crate) async fn exclusive(self: &Arc<Self>) -> Result<PooledConnection, Error> {
        match &self.kind {
            Kind::Node(n) => Ok(PooledConnection {
                binding: Binding::Bound(n.exclusive().await?),
                cluster: None,
            }),
            Kind::Cluster(c) => {
                if c.is_closed() {
                    return Err(Error::Closed);
                }
                Ok(PooledConnection {
                    binding: Binding::Unbound {
                        cluster: c.clone(),
                        deferred_multi: false,
                    },
                    cluster: Some(c.clone()),
                })
            }
        }
    }

    /// A dedicated connection with a push sink (subscribers); in cluster mode, to some
    /// master.
    pub(crate) async fn dedicated(&self, push: PushSink) -> Result<Connection, Error> {
        self.open(Some(push)).await
    }

    /// Closes every connection; later requests fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        match &self.kind {
            Kind::Node(n) => n.close(),
            Kind::Cluster(c) => c.close(),
        }
    }

    /// True once [`Pool::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.kind {
            Kind::Node(n) => n.is_closed(),
            Kind::Cluster(c) => c.is_closed(),
        }
    }

    /// The protocol of a connected shared connection, if any is up.
    pub(crate) fn protocol(&self) -> Option<NegotiatedProtocol> {
        match &self.kind {
            Kind::Node(n) => n.protocol(),
            Kind::Cluster(c) => c.protocol(),
        }
    }
}

/// The connections to one server.
pub(crate) struct NodePool {
    opts: ConnectOptions,
    popts: PoolOptions,
    /// Send `READONLY` on every new connection: a cluster replica serving reads.
    readonly: bool,
    /// Where the master is, when it is found through Sentinel rather than fixed.
    sentinel: Option<Arc<Sentinel>>,
    shared: Mutex<Option<Connection>>,
    connecting: tokio::sync::Mutex<()>,
    idle: Mutex<Vec<(Connection, Instant)>>,
    permits: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    closed: AtomicBool,
    jitter: AtomicU64,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Error>,
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

    /// A pool whose server is the master `sentinel` names, re-resolved on every connect.
    pub(crate) fn new_with_sentinel(
        opts: ConnectOptions,
        popts: PoolOptions,
        sentinel: Arc<Sentinel>,
    ) -> Arc<NodePool> {
        NodePool::build(opts, popts, false, Some(sentinel))
    }

    fn build(
        opts: ConnectOptions,
        popts: PoolOptions,
        readonly: bool,
        sentinel: Option<Arc<Sentinel>>,
    ) -> Arc<NodePool> {
        let exclusive = popts.max_connections.saturating_sub(1).max(1);
        Arc::new(NodePool {
            opts,
            popts,
            readonly,
            sentinel,
            shared: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(exclusive)),
            breaker: Mutex::new(Breaker::default()),
            closed: AtomicBool::new(false),
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

    /// Opens a connection, unless the breaker says the server was unreachable moments ago.
    pub(crate) async fn open(&self, push: Option<PushSink>) -> Result<Connection, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        {
            let b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(at), Some(err)) = (b.retry_at, &b.last_error) {
                if Instant::now() < at {
                    return Err(err.clone());
                }
            }
        }
        let result = self.connect(push).await;
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(_) => *b = Breaker::default(),
            Err(e) => {
                b.failures = b.failures.saturating_add(1);
                let delay = self.backoff(b.failures);
                b.retry_at = Some(Instant::now() + delay);
                b.last_error = Some(e.clone());
                tracing::warn!(error = %e, failures = b.failures, retry_in = ?delay, "connect failed");
            }
        }
        result
    }

    /// Connects to the fixed server, or to the master Sentinel names now (checked with
    /// `ROLE`); a replica pool then switches the connection to `READONLY`.
    async fn connect(&self, push: Option<PushSink>) -> Result<Connection, Error> {
        let conn = match &self.sentinel {
            None => Connection::connect(&self.opts, push).await?,
            Some(sentinel) => sentinel.connect_master(&self.opts, push).await?,
        };
        if self.readonly {
            let reply = conn
                .request(|b| resp_codec::encode_command(b, &["READONLY"]))
                .await;
            if let Err(e) = reply.and_then(crate::cmd::check_reply) {
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

    /// The shared multiplexed connection, (re)connecting if needed.
    pub(crate) async fn shared(&self) -> Result<Connection, Error> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let c = self.open(None).await?;
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }

    fn current(&self) -> Option<Connection> {
        let guard = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Sends one command on the shared connection, retrying once when it was certainly not
    /// written.
    pub(crate) async fn request(&self, encode: impl Fn(&mut BytesMut)) -> Result<Frame, Error> {
        let conn = self.shared().await?;
        match conn.request(&encode).await {
            Err(e) if e.is_unsent() && !self.closed.load(Ordering::Acquire) => {
                self.shared().await?.request(&encode).await
            }
            Ok(frame) if self.is_demoted(&frame) => {
                // The master we knew was demoted (a failover): the command was refused, not
                // run, so it is safe to send again to the master Sentinel names now.
                self.forget_master();
                self.shared().await?.request(&encode).await
            }
            r => r,
        }
    }

    /// True for the `READONLY` error a demoted master gives to writes, in Sentinel mode.
    fn is_demoted(&self, frame: &Frame) -> bool {
        self.sentinel.is_some() && frame.as_error().is_some_and(|e| e.starts_with(b"READONLY"))
    }

    /// Drops every connection to the current master so that the next request resolves the
    /// master again (Sentinel mode: after `+switch-master` or a `READONLY` reply).
    pub(crate) fn forget_master(&self) {
        if let Some(c) = self.shared.lock().unwrap_or_else(|e| e.into_inner()).take() {
            c.close();
        }
        for (c, _) in self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.close();
        }
    }

    /// Sends a batch on the shared connection; like [`Pool::request`] for retries.
    pub(crate) async fn request_many(
        &self,
        encode: impl Fn(&mut BytesMut),
        replies: usize,
    ) -> Result<Vec<Frame>, Error> {
        let conn = self.shared().await?;
        let timeout = conn.response_timeout();
        match conn.request_many(&encode, replies, timeout).await {
            Err(e) if e.is_unsent() && !self.closed.load(Ordering::Acquire) => {
                let conn = self.shared().await?;
                conn.request_many(&encode, replies, timeout).await
            }
            Ok(frames) if frames.iter().any(|f| self.is_demoted(f)) => {
                self.forget_master();
                let conn = self.shared().await?;
                conn.request_many(&encode, replies, timeout).await
            }
            r => r,
        }
    }

    /// Takes an exclusive connection, waiting at most the acquire timeout for a free one.
    pub(crate) async fn exclusive(self: &Arc<Self>) -> Result<NodeConnection, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let waited = self.popts.acquire_timeout;
        let permit = match tokio::time::timeout(waited, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => return Err(Error::PoolTimeout { waited }),
        };
        let conn = loop {
            let candidate = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((conn, since)) = candidate else {
                break self.open(None).await?;
            };
            if conn.is_closed() {
                continue;
            }
            if since.elapsed() >= IDLE_CHECK_AFTER && !ping(&conn).await {
                conn.close();
                continue;
            }
            break conn;
        };
        Ok(NodeConnection {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
            busy: false,
            state: SessionState::default(),
        })
    }

    fn give_back(&self, conn: Connection) {
        if self.closed.load(Ordering::Acquire) || conn.is_closed() {
            conn.close();
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((conn, Instant::now()));
    }

    /// Closes every connection; later requests fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        if let Some(c) = self.shared.lock().unwrap_or_else(|e| e.into_inner()).take() {
            c.close();
        }
        for (c, _) in self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.close();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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

async fn ping(conn: &Connection) -> bool {
    let probe = conn.request_with_timeout(
        |b| resp_codec::encode_command(b, &["PING"]),
        Some(Duration::from_secs(1)),
    );
    matches!(probe.await, Ok(Frame::SimpleString(_)))
}

/// A connection taken from the pool for exclusive use; it goes back when dropped, if clean.
///
/// Use it for commands that change connection state or block: `BLPOP`, `WATCH`/`MULTI`/`EXEC`,
/// `CLIENT` settings. The connection is closed instead of reused when the guard is dropped
/// while one of its calls is still running (the call's future was cancelled), after a call
/// failed at the connection level, inside an unfinished `MULTI` or `WATCH`, or after a command
/// that changes the connection for good (`SELECT`, `SUBSCRIBE`, `CLIENT ...`, `HELLO`, ...).
///
/// On a cluster the guard starts unbound and takes a connection to the node serving the slot
/// of its first command with a key (a `MULTI` sent before that is held back and sent just
/// before it), so `WATCH k`/`MULTI`/`SET k v`/`EXEC` and `BLPOP k 0` go where `k` lives.
/// Every later command uses that node, whatever its keys: keys of the other slots get the
/// server's `MOVED` or `CROSSSLOT` error, as transactions on a cluster require. A `MOVED`
/// seen here still corrects the client's slot map, so the next guard binds to the new owner.
pub struct PooledConnection {
    binding: Binding,
    /// The router, in cluster mode: told about `MOVED` replies seen on this connection.
    cluster: Option<Arc<Cluster>>,
}

enum Binding {
    Bound(NodeConnection),
    /// Cluster mode, before the first keyed command.
    Unbound {
        cluster: Arc<Cluster>,
        /// A `MULTI` was acknowledged locally and is still to be sent.
        deferred_multi: bool,
    },
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
        let name = cmd.name().to_ascii_uppercase();
        match name.as_str() {
            "MULTI" => self.in_multi = true,
            "WATCH" => self.watching = true,
            "UNWATCH" => self.watching = false,
            "EXEC" | "DISCARD" => {
                self.in_multi = false;
                self.watching = false;
            }
            "SELECT" | "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "MONITOR" | "HELLO" | "AUTH"
            | "CLIENT" | "READONLY" | "READWRITE" | "SWAPDB" | "RESET" | "SYNC" | "PSYNC" => {
                self.tainted = true
            }
            _ => {}
        }
    }

    fn is_clean(&self) -> bool {
        !(self.in_multi || self.watching || self.tainted)
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PooledConnection");
        match &self.binding {
            Binding::Bound(n) => d.field("busy", &n.busy),
            Binding::Unbound { .. } => d.field("bound", &false),
        };
        d.finish_non_exhaustive()
    }
}

impl PooledConnection {
    /// The response timeout commands get by default.
    fn response_timeout(&self) -> Option<Duration> {
        match &self.binding {
            Binding::Bound(n) => n.conn().response_timeout(),
            Binding::Unbound { cluster, .. } => cluster.connect_options().response_timeout,
        }
    }

    /// Binds an unbound cluster guard for `cmds`, when one of them has a key, or when none
    /// can be answered locally. Returns the reply when the commands were answered here: a
    /// `MULTI` (deferred until a key is known), or the `EXEC`/`DISCARD` of an empty
    /// deferred transaction.
    async fn bind_for(&mut self, cmds: &[&Cmd], local: bool) -> Result<Option<Frame>, Error> {
        let Binding::Unbound {
            cluster,
            deferred_multi,
        } = &mut self.binding
        else {
            return Ok(None);
        };
        let slot = cmds.iter().find_map(|c| cluster.slot_of(c));
        if slot.is_none() && local {
            if let [one] = cmds {
                let name = one.name().to_ascii_uppercase();
                match name.as_str() {
                    "MULTI" if !*deferred_multi => {
                        *deferred_multi = true;
                        return Ok(Some(Frame::SimpleString("OK".into())));
                    }
                    "EXEC" if *deferred_multi => {
                        *deferred_multi = false;
                        return Ok(Some(Frame::Array(Vec::new())));
                    }
                    "DISCARD" if *deferred_multi => {
                        *deferred_multi = false;
                        return Ok(Some(Frame::SimpleString("OK".into())));
                    }
                    _ => {}
                }
            }
        }
        let multi = *deferred_multi;
        let node = cluster.node_for_exclusive(slot).await?;
        let mut bound = node.exclusive().await?;
        if multi {
            let reply = bound
                .send_frame(&Cmd::new("MULTI"), bound.conn().response_timeout())
                .await?;
            crate::cmd::check_reply(reply)?;
        }
        self.binding = Binding::Bound(bound);
        Ok(None)
    }

    fn bound(&mut self) -> &mut NodeConnection {
        match &mut self.binding {
            Binding::Bound(n) => n,
            Binding::Unbound { .. } => unreachable!("bind_for binds or answers"),
        }
    }

    /// Sends `cmd` and converts its reply.
    ///
    /// # Errors
    ///
    /// Connection errors, [`Error::Server`] for an error reply, [`Error::Conversion`] when the
    /// reply does not fit `T`.
    ///
    /// # Cancel safety
    ///
    /// Cancelling is safe for other users: the connection is then discarded, never reused.
    pub async fn query<T: FromReply>(&mut self, cmd: Cmd) -> Result<T, Error> {
        let timeout = self.response_timeout();
        let frame = self.send_frame(&cmd, timeout).await?;
        T::from_reply(frame)
    }

    /// Sends `cmd` with its own response timeout (`None`: wait as long as it takes), for
    /// blocking commands whose server-side timeout is longer than the default.
    ///
    /// # Errors
    ///
    /// As for [`PooledConnection::query`].
    pub async fn query_with_timeout<T: FromReply>(
        &mut self,
        cmd: Cmd,
        timeout: Option<Duration>,
    ) -> Result<T, Error> {
        let frame = self.send_frame(&cmd, timeout).await?;
        T::from_reply(frame)
    }

    pub(crate) async fn send_frame(
        &mut self,
        cmd: &Cmd,
        timeout: Option<Duration>,
    ) -> Result<Frame, Error> {
        if let Some(reply) = self.bind_for(&[cmd], true).await? {
            return Ok(reply);
        }
        let reply = self.bound().send_frame(cmd, timeout).await;
        if let Ok(frame) = &reply {
            self.learn_from(std::slice::from_ref(frame));
        }
        reply
    }

    /// Tells the cluster router about `MOVED` replies among `frames`.
    fn learn_from(&self, frames: &[Frame]) {
        if let (Some(cluster), Binding::Bound(n)) = (&self.cluster, &self.binding) {
            cluster.learn_moved(n.pool.endpoint(), frames);
        }
    }

    /// Sends several commands in one write and returns their raw replies in order.
    ///
    /// # Errors
    ///
    /// Connection errors only; error replies are returned as frames.
    pub(crate) async fn send_many(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        let refs: Vec<&Cmd> = cmds.iter().collect();
        // A batch is never answered locally: it binds even when no command has a key.
        self.bind_for(&refs, false).await?;
        let replies = self.bound().send_many(cmds).await;
        if let Ok(frames) = &replies {
            self.learn_from(frames);
        }
        replies
    }

    /// Marks the connection as not reusable: it is closed when the guard drops (for example
    /// after a transaction was left open).
    pub fn discard(&mut self) {
        match &mut self.binding {
            Binding::Bound(n) => n.discard(),
            Binding::Unbound { deferred_multi, .. } => *deferred_multi = false,
        }
    }

    /// The server-side client id of this connection, when known (RESP3 handshakes learn it);
    /// `None` for a cluster guard not bound to a node yet.
    pub fn client_id(&self) -> Option<i64> {
        match &self.binding {
            Binding::Bound(n) => n.conn().client_id(),
            Binding::Unbound { .. } => None,
        }
    }
}

impl NodeConnection {
    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }

    async fn send_frame(&mut self, cmd: &Cmd, timeout: Option<Duration>) -> Result<Frame, Error> {
        self.busy = true;
        self.state.observe(cmd);
        let result = self
            .conn()
            .request_with_timeout(|b| cmd.write_to(b), timeout)
            .await;
        if let Err(e) = &result {
            if e.is_connection_error() {
                self.conn().close();
            }
        }
        self.busy = false;
        result
    }

    async fn send_many(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        self.busy = true;
        for c in cmds {
            self.state.observe(c);
        }
        let timeout = self.conn().response_timeout();
        let result = self
            .conn()
            .request_many(
                |b| {
                    for c in cmds {
                        c.write_to(b);
                    }
                },
                cmds.len(),
                timeout,
            )
            .await;
        if result.is_err() {
            self.conn().close();
        }
        self.busy = false;
        result
    }

    fn discard(&mut self) {
        self.conn().close();
    }
}

impl Drop for NodeConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
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

    /// While the breaker's backoff runs, `open` fails at once with the last error instead of
    /// connecting again; once it expires, the next call tries again.
    #[tokio::test]
    async fn open_fails_fast_while_the_backoff_runs() {
        let p = pool(300, 300);
        let Err(first) = p.open(None).await else {
            panic!("nothing listens on port 1")
        };
        assert_eq!(p.breaker.lock().unwrap().failures, 1);
        let Err(again) = p.open(None).await else {
            panic!("connected during the backoff")
        };
        assert_eq!(again.to_string(), first.to_string());
        assert_eq!(
            p.breaker.lock().unwrap().failures,
            1,
            "connected during the backoff"
        );
        tokio::time::sleep(Duration::from_millis(310)).await;
        assert!(p.open(None).await.is_err());
        assert_eq!(p.breaker.lock().unwrap().failures, 2);
    }
}
