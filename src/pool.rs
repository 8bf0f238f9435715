//! `Pool`: a multiplexed connection for ordinary commands, exclusive connections for the
//! commands that need one to themselves, and the reconnect policy shared by both.
//!
//! # Design
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

use crate::cmd::{Cmd, FromReply};
use crate::connection::{ConnectOptions, Connection, NegotiatedProtocol, PushSink};
use crate::error::Error;

/// Pool sizing and reconnect policy.
#[derive(Debug, Clone)]
pub(crate) struct PoolOptions {
    pub(crate) max_connections: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
}

/// How long an exclusive connection may sit idle before it is checked with `PING` on reuse.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(15);

pub(crate) struct Pool {
    opts: ConnectOptions,
    popts: PoolOptions,
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

impl Pool {
    pub(crate) fn new(opts: ConnectOptions, popts: PoolOptions) -> Arc<Pool> {
        let exclusive = popts.max_connections.saturating_sub(1).max(1);
        Arc::new(Pool {
            opts,
            popts,
            shared: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(exclusive)),
            breaker: Mutex::new(Breaker::default()),
            closed: AtomicBool::new(false),
            jitter: AtomicU64::new(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id())),
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
        let result = Connection::connect(&self.opts, push).await;
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
            r => r,
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
            r => r,
        }
    }

    /// Takes an exclusive connection, waiting at most the acquire timeout for a free one.
    pub(crate) async fn exclusive(self: &Arc<Self>) -> Result<PooledConnection, Error> {
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
        Ok(PooledConnection {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
            busy: false,
            state: SessionState::default(),
        })
    }

    /// A dedicated connection with a push sink (subscribers), outside the exclusive set.
    pub(crate) async fn dedicated(&self, push: PushSink) -> Result<Connection, Error> {
        self.open(Some(push)).await
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
pub struct PooledConnection {
    conn: Option<Connection>,
    pool: Arc<Pool>,
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
        f.debug_struct("PooledConnection")
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl PooledConnection {
    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
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
        let timeout = self.conn().response_timeout();
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

    /// Sends several commands in one write and returns their raw replies in order.
    ///
    /// # Errors
    ///
    /// Connection errors only; error replies are returned as frames.
    pub(crate) async fn send_many(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
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

    /// Marks the connection as not reusable: it is closed when the guard drops (for example
    /// after a transaction was left open).
    pub fn discard(&mut self) {
        self.conn().close();
    }

    /// The server-side client id of this connection, when known (RESP3 handshakes learn it).
    pub fn client_id(&self) -> Option<i64> {
        self.conn().client_id()
    }
}

impl Drop for PooledConnection {
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
