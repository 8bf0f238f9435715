//! The manager's one fallback: where every error of the manager and its patterns turns into
//! a default, and the health state that decides whether Redis is asked at all.
//!
//! # Design
//!
//! - One place, [`fallback`], turns an error into the caller's default (the seed's table:
//!   `None`, `false`, `0`, `-2`; for the patterns: the rate limiter's policy decision, no
//!   session, 0 subscribers). It logs the error once, with the operation and the key (never
//!   a value, never the password: JSON errors are logged by category and position only,
//!   since serde_json's messages can quote the data), at `WARN` (`ERROR` for a failed OS
//!   random number generator, which stops sessions and locks everywhere), and, when the
//!   caller is a [`RedisManager`], updates its health. No other code in the manager turns a
//!   Redis error into a default.
//! - Every caller reaches it the same way: the manager's operations through
//!   [`RedisManager::run`] (sessions and the cache are built on those, and use
//!   [`RedisManager::fallback`] for their JSON and token errors); the rate limiter, the lock
//!   and pub/sub through [`Backend`], which is a manager (log and health) or a plain
//!   [`Client`] (log only). Where the error itself is the answer (the lock's
//!   `LockError::Unavailable`, a subscribe refused by the server or failing on a plain
//!   client), [`Backend::note_failure`] records it here and the caller returns it.
//! - Health is an [`AtomicBool`](std::sync::atomic::AtomicBool) in the manager, so
//!   [`RedisManager::is_enabled`] costs no I/O. A connection-level failure (I/O, timeouts,
//!   lost connections, authentication, an exhausted pool) clears it; server error replies
//!   (`WRONGTYPE`), conversions (non-UTF-8 data), JSON errors and a failed OS random number
//!   generator do not: Redis is still there. While the flag is clear, operations return their
//!   defaults at once without touching the network, and one background task probes the
//!   server with `PING`: while the pool's circuit breaker rejects it at once (no I/O, or the
//!   pool's rate-limited bare-connect probe), every 50 ms, so the pool decides when to
//!   connect and a restarted server is noticed within about its probe interval; after other
//!   failures, backing off between attempts. The first successful probe sets the flag again.
//! - The client, the flag and the recovery task change together: the recovery task only
//!   marks healthy the client that is still current (checked under the client lock), and
//!   [`RedisManager::disconnect`] clears all three.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::token::RandomError;
use super::{Inner, RedisManager, locked};
use crate::client::Client;
use crate::error::Error;
use tracing::Instrument;

/// Why an operation failed, as seen by [`fallback`]: a Redis error, a JSON value that could
/// not be encoded or decoded, or no random token to be had.
#[derive(Debug)]
pub(crate) enum OpError {
    Redis(Error),
    Json(serde_json::Error),
    Random(RandomError),
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Redis(e)
    }
}

impl From<serde_json::Error> for OpError {
    fn from(e: serde_json::Error) -> Self {
        OpError::Json(e)
    }
}

impl From<RandomError> for OpError {
    fn from(e: RandomError) -> Self {
        OpError::Random(e)
    }
}

/// An error and its causes, `: `-separated, for logs. Our errors never carry values or
/// passwords; the causes add what the top level leaves out (`connection refused`).
pub(super) struct Chain<'a>(pub(super) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// The one place where errors become defaults: passes a success through; otherwise logs the
/// error once (operation and key only), lets `manager` (when there is one) track its health,
/// and returns `default`.
pub(super) fn fallback<T>(
    manager: Option<&RedisManager>,
    op: &'static str,
    key: &str,
    result: Result<T, impl Into<OpError>>,
    default: T,
) -> T {
    let e = match result {
        Ok(v) => return v,
        Err(e) => e.into(),
    };
    match &e {
        OpError::Redis(err) => {
            if let Some(m) = manager
                && is_unavailable(err)
                && let Some(client) = m.inner.current_client()
            {
                m.mark_unhealthy(&client);
            }
            tracing::warn!(op, key, error = %Chain(err), "Redis operation failed; using the fallback");
        }
        OpError::Json(err) => {
            tracing::warn!(
                op,
                key,
                json_error = ?err.classify(),
                line = err.line(),
                column = err.column(),
                "JSON encoding or decoding failed; using the fallback"
            );
        }
        OpError::Random(err) => {
            // Not a Redis problem, but one that stops sessions and locks everywhere: louder.
            tracing::error!(op, key, error = %Chain(err), "no secret token could be made; using the fallback");
        }
    }
    default
}

/// Where the patterns get their client and send their errors: a [`RedisManager`] (its health
/// decides whether Redis is asked, and failures update it) or a plain [`Client`].
#[derive(Clone)]
pub(super) enum Backend {
    Manager(RedisManager),
    Client(Client),
}

impl Backend {
    /// The client to use now; `None` when the manager is disabled or knows Redis is down (so
    /// no connect timeout is paid), or the client was closed.
    pub(super) fn client(&self) -> Option<Client> {
        match self {
            Backend::Manager(m) => m.get_client(),
            Backend::Client(c) => (!c.is_closed()).then(|| c.clone()),
        }
    }

    fn manager(&self) -> Option<&RedisManager> {
        match self {
            Backend::Manager(m) => Some(m),
            Backend::Client(_) => None,
        }
    }

    /// [`fallback`] for this backend.
    pub(super) fn fallback<T>(
        &self,
        op: &'static str,
        key: &str,
        result: Result<T, impl Into<OpError>>,
        default: T,
    ) -> T {
        fallback(self.manager(), op, key, result, default)
    }

    /// Records a failure whose outcome the caller reports itself (the lock returns it).
    pub(super) fn note_failure(&self, op: &'static str, key: &str, e: impl Into<OpError>) {
        self.fallback(op, key, Err::<(), _>(e), ());
    }

    /// Runs `f` with the client when Redis is usable, else returns `default` at once; errors
    /// go through [`fallback`].
    pub(super) async fn run<T, E, F, Fut>(&self, op: &'static str, key: &str, default: T, f: F) -> T
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        // The commands of the operation nest in its span; a fallback is an event on it.
        let span = crate::observe::manager_span(op);
        let Some(client) = self.client() else {
            span.record("redis.manager.fallback", true);
            span.in_scope(|| tracing::debug!(op, "Redis is not usable; using the fallback"));
            return default;
        };
        let result = f(client).instrument(span.clone()).await;
        if result.is_err() {
            span.record("redis.manager.fallback", true);
        }
        span.in_scope(|| self.fallback(op, key, result, default))
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Manager(m) => fmt::Debug::fmt(m, f),
            Backend::Client(c) => fmt::Debug::fmt(c, f),
        }
    }
}

impl RedisManager {
    /// Runs `f` with the client when Redis is usable, else returns `default` at once (no
    /// I/O); errors go through [`fallback`].
    pub(super) async fn run<T, E, F, Fut>(&self, op: &'static str, key: &str, default: T, f: F) -> T
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        // The same path as the patterns': one place decides.
        Backend::Manager(self.clone())
            .run(op, key, default, f)
            .await
    }

    /// [`fallback`] for this manager: logs, tracks health, returns `default` on error.
    pub(super) fn fallback<T>(
        &self,
        op: &'static str,
        key: &str,
        result: Result<T, impl Into<OpError>>,
        default: T,
    ) -> T {
        fallback(Some(self), op, key, result, default)
    }

    /// A `PING` bounded by the connect and response timeouts, so a server that accepts but
    /// never answers cannot hold `initialize` or the recovery task forever.
    pub(super) async fn probe(&self, client: &Client) -> Result<(), Error> {
        let config = &self.inner.config;
        let bound = config.connect_timeout()
            + config
                .response_timeout()
                .unwrap_or(crate::config::DEFAULT_TIMEOUT);
        match tokio::time::timeout(bound, client.ping()).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                after: bound,
                sent: true,
            }),
        }
    }

    /// Marks `client` healthy, if it is still the current client.
    pub(super) fn set_healthy(&self, client: &Client) {
        let slot = self.inner.client.read().unwrap_or_else(|e| e.into_inner());
        if slot
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.pool, &client.pool))
        {
            self.inner.healthy.store(true, Ordering::SeqCst);
        }
    }

    /// Clears the health flag and makes sure a recovery task is probing `client`.
    pub(super) fn mark_unhealthy(&self, client: &Client) {
        let was = self.inner.healthy.swap(false, Ordering::SeqCst);
        if was {
            tracing::warn!(addr = %self.inner.config.addr(), "Redis became unavailable; operations return defaults until it answers again");
        }
        let mut task = locked(&self.inner.recovery);
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        // A task that belonged to a runtime that has since shut down is finished too: start
        // one on the current runtime. Outside any runtime there is nothing to spawn on; the
        // next initialize will try again.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let handle = rt.spawn(recover(weak, client.clone()));
        *task = Some(handle.abort_handle());
    }
}

/// True for failures that say Redis itself is unreachable or unusable right now, as opposed to
/// one command being wrong.
fn is_unavailable(e: &Error) -> bool {
    e.is_connection_error()
        || e.is_auth_error()
        || matches!(e, Error::PoolTimeout { .. } | Error::Closed)
}

/// How soon the recovery asks again after a connect failure or the pool's breaker rejected its
/// `PING` (which cost no I/O, or one bare connect of the pool's rate-limited probe).
const BACKOFF_POLL: Duration = Duration::from_millis(50);

/// The background recovery: probes `client` with `PING` until it answers: every
/// [`BACKOFF_POLL`] while the pool's breaker rejects it at once (the breaker decides when a
/// connect is attempted), with exponential backoff between the configured reconnect delays
/// after other failures; then marks the manager healthy and ends. Ends early when the manager is dropped or
/// `client` is no longer current.
async fn recover(weak: Weak<Inner>, client: Client) {
    let (min, max) = match weak.upgrade() {
        Some(inner) => (
            inner.config.reconnect_min_delay(),
            inner.config.reconnect_max_delay(),
        ),
        None => return,
    };
    let mut delay = min.min(BACKOFF_POLL);
    let mut attempts: u32 = 0;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = weak.upgrade() else { return };
        let manager = RedisManager { inner };
        let still_current = manager
            .inner
            .current_client()
            .is_some_and(|c| Arc::ptr_eq(&c.pool, &client.pool));
        if !still_current || client.is_closed() {
            return;
        }
        attempts += 1;
        match manager.probe(&client).await {
            Ok(()) => {
                manager.set_healthy(&client);
                tracing::info!(addr = %manager.inner.config.addr(), attempts, "Redis is reachable again");
                return;
            }
            Err(e) if e.is_backoff() || matches!(e, Error::Io(_)) => {
                // Rejected by the pool's breaker without I/O (or after its cheap probe found
                // nothing listening), or a connect attempt failed, which opened the breaker:
                // ask again soon, so that the pool's breaker and probe, not this loop's
                // backoff, decide when to connect and how soon a restarted server is noticed.
                tracing::trace!(attempts, "Redis still unreachable (backing off)");
                delay = BACKOFF_POLL;
            }
            Err(e) => {
                tracing::debug!(attempts, error = %Chain(&e), "Redis still unreachable");
                delay = (delay * 2).min(max.max(min));
            }
        }
    }
}
