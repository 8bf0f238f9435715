//! [`RedisManager`]: the API of the Python `redis_manager` this crate ports, with graceful
//! fallback to defaults while Redis is unavailable, and the global instance
//! [`redis_manager()`].
//!
//! # Design
//!
//! - One policy for failures, in one place (`RedisManager::fallback`): every operation turns
//!   an error into its default (the seed's table: `None`, `false`, `0`, `-2`), logs it once with
//!   the operation and the key (never a value, never the password), and updates the health
//!   flag. Nothing else in the crate swallows errors.
//! - Health is an [`AtomicBool`], so [`RedisManager::is_enabled`] costs no I/O. A connection
//!   error clears it; while it is clear, operations return their defaults at once without
//!   touching the network, and one background task probes the server with `PING`, backing off
//!   between attempts (and never before the pool's circuit breaker allows a new connect). The
//!   first successful probe sets the flag again.
//! - The client, the health flag and the recovery task change together: the recovery task only
//!   marks healthy the client that is still current (checked under the client lock), and
//!   [`RedisManager::disconnect`] clears all three.
//!
//! # Differences from the Python original
//!
//! The Python manager disables itself for good when `initialize()` fails: a Redis that comes up
//! a second later is never used. Here a failed [`RedisManager::initialize`] still returns
//! `false`, but keeps the client and the recovery task, so [`RedisManager::is_enabled`] turns
//! true (and operations start working) as soon as Redis answers. The same happens when Redis
//! goes away later and comes back. A configuration that is invalid, or that does not enable
//! Redis (`ENABLE_REDIS` not `true`), never does any I/O.

mod cache;
mod lock;
mod pubsub;
mod rate_limit;
mod session;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use resp_codec::ToArg;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::cmd::{Cmd, FromReply, cmd};
use crate::config::{Config, IntoConfig};
use crate::error::Error;

pub use lock::{DEFAULT_LEASE, DEFAULT_WAIT, DistributedLock, LockError, LockGuard};
pub use pubsub::{HandlerResult, PubSubManager, Subscription};
pub use rate_limit::{FailurePolicy, RateLimitDecision, RateLimiter};
pub use session::{DEFAULT_SESSION_TTL, SessionManager};

/// Conditions and expiry for [`RedisManager::set_with`] and [`RedisManager::set_json`]: the
/// seed's `ex`, `px`, `nx` and `xx` keyword arguments.
///
/// # Examples
///
/// ```
/// use redis_manager::manager::SetOptions;
///
/// // The seed's `set("temp:token", "xyz789", ex=3600)`:
/// let one_hour = SetOptions::default().ex(3600);
/// // The seed's `set("unique:id", "123", nx=True)`, with struct syntax:
/// let only_new = SetOptions { nx: true, ..SetOptions::default() };
/// assert_eq!(one_hour.ex, Some(3600));
/// assert!(only_new.nx);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SetOptions {
    /// Expire after this many seconds (`EX`).
    pub ex: Option<u64>,
    /// Expire after this many milliseconds (`PX`). Redis refuses `ex` and `px` together.
    pub px: Option<u64>,
    /// Set only if the key does not exist (`NX`).
    pub nx: bool,
    /// Set only if the key already exists (`XX`). Redis refuses `nx` and `xx` together.
    pub xx: bool,
}

impl SetOptions {
    /// No expiry, no condition (the same as `SetOptions::default()`).
    pub fn new() -> Self {
        SetOptions::default()
    }

    /// Expire after `seconds` (`EX`).
    pub fn ex(mut self, seconds: u64) -> Self {
        self.ex = Some(seconds);
        self
    }

    /// Expire after `millis` milliseconds (`PX`).
    pub fn px(mut self, millis: u64) -> Self {
        self.px = Some(millis);
        self
    }

    /// Expire after `ttl`, in milliseconds (at least 1 ms: `PX 0` is an error).
    pub fn ttl(self, ttl: Duration) -> Self {
        self.px(duration_millis(ttl))
    }

    /// Set only if the key does not exist (`NX`).
    pub fn nx(mut self) -> Self {
        self.nx = true;
        self
    }

    /// Set only if the key already exists (`XX`).
    pub fn xx(mut self) -> Self {
        self.xx = true;
        self
    }

    /// Appends the options to a `SET key value` command.
    fn apply(&self, mut c: Cmd) -> Cmd {
        if let Some(ex) = self.ex {
            c = c.arg("EX").arg(ex);
        }
        if let Some(px) = self.px {
            c = c.arg("PX").arg(px);
        }
        if self.nx {
            c = c.arg("NX");
        }
        if self.xx {
            c = c.arg("XX");
        }
        c
    }
}

/// A duration in whole milliseconds, at least 1 (Redis refuses a zero expiry).
pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Why an operation failed, as seen by [`RedisManager::fallback`]: a Redis error, or a JSON
/// value that could not be encoded or decoded.
#[derive(Debug)]
pub(crate) enum OpError {
    Redis(Error),
    Json(serde_json::Error),
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

/// An error and its causes, `: `-separated, for logs. Our errors never carry values or
/// passwords; the causes add what the top level leaves out (`connection refused`).
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

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

/// The process-wide manager, created on first use from [`Config::from_env`].
///
/// Like the seed's `from core.redis_manager import redis_manager`. It does nothing until
/// [`RedisManager::initialize`] is called; with `ENABLE_REDIS` not `true` it stays disabled
/// and every operation returns its default. An invalid environment (say `REDIS_PORT=abc`) is
/// logged (without the password) and also gives a disabled manager: this never panics.
///
/// # Examples
///
/// ```no_run
/// use redis_manager::redis_manager;
///
/// # async fn demo() {
/// if redis_manager().initialize().await {
///     redis_manager().set("greeting", "hello").await;
/// }
/// let greeting = redis_manager().get("greeting").await; // None when Redis is off
/// # let _ = greeting; }
/// ```
pub fn redis_manager() -> &'static RedisManager {
    static GLOBAL: OnceLock<RedisManager> = OnceLock::new();
    GLOBAL.get_or_init(|| match Config::from_env() {
        Ok(config) => RedisManager::new(config),
        Err(e) => {
            tracing::error!(error = %e, "invalid Redis configuration in the environment; Redis stays disabled");
            RedisManager::new(Config::builder().enabled(false))
        }
    })
}

/// Redis with graceful fallback: every operation returns a default instead of an error when
/// Redis is disabled, unreachable or fails.
///
/// Cheap to clone: clones share the client, the health state and the background recovery
/// task, which stops when the last clone is dropped (or on [`RedisManager::disconnect`]).
///
/// | method | returns | default on error or when disabled |
/// |---|---|---|
/// | [`get`](RedisManager::get) | `Option<String>` | `None` |
/// | [`set`](RedisManager::set), [`set_with`](RedisManager::set_with) | `bool` (false when `NX`/`XX` prevented it) | `false` |
/// | [`delete`](RedisManager::delete), [`delete_one`](RedisManager::delete_one) | number deleted | `0` |
/// | [`exists`](RedisManager::exists) | `bool` | `false` |
/// | [`expire`](RedisManager::expire) | `bool` | `false` |
/// | [`ttl`](RedisManager::ttl) | seconds, `-1` no expiry, `-2` missing | `-2` |
/// | [`incr`](RedisManager::incr) | `Option<i64>` | `None` |
/// | [`hset`](RedisManager::hset), [`hset_mapping`](RedisManager::hset_mapping) | fields added | `0` |
/// | [`hget`](RedisManager::hget) | `Option<String>` | `None` |
/// | [`set_json`](RedisManager::set_json) | `bool` | `false` |
/// | [`get_json`](RedisManager::get_json) | `Option<T>` | `None` |
///
/// Each error is logged once through `tracing` at `WARN` with the operation and the key. The
/// module documentation describes how the manager recovers when Redis comes back, and how
/// that differs from the Python original.
///
/// # Examples
///
/// ```no_run
/// use redis_manager::{Config, RedisManager};
/// use redis_manager::manager::SetOptions;
///
/// # async fn demo() {
/// let redis = RedisManager::new(Config::builder().host("127.0.0.1").port(6379));
/// if !redis.initialize().await {
///     // Not reachable now: operations return defaults until it is.
/// }
/// redis.set_with("temp:token", "xyz789", SetOptions::default().ex(3600)).await;
/// let views = redis.incr("page:views", 1).await;
/// redis.hset("user:123", "name", "John Doe").await;
/// # let _ = views; }
/// ```
#[derive(Clone)]
pub struct RedisManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The current client; `None` before `initialize`, after `disconnect`, or when disabled.
    client: RwLock<Option<Client>>,
    /// True while the current client is believed to reach Redis.
    healthy: AtomicBool,
    /// Serializes `initialize` and `disconnect`, so concurrent calls build one client.
    lifecycle: tokio::sync::Mutex<()>,
    /// The background recovery task, while one runs.
    recovery: Mutex<Option<tokio::task::AbortHandle>>,
    /// Single-flight state of [`RedisManager::get_or_set_json`].
    flights: cache::Flights,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.recovery).take() {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config's Debug redacts the password.
        f.debug_struct("RedisManager")
            .field("config", &self.inner.config)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisManager {
    /// An independent manager for `config` (the seed's `RedisManager()`). No I/O happens until
    /// [`RedisManager::initialize`].
    ///
    /// `config` is anything [`IntoConfig`] accepts: a [`Config`], a builder, a URL.
    /// `config.is_enabled()` decides whether Redis is used at all: [`Config::default`] enables
    /// it, [`Config::from_env`] follows `ENABLE_REDIS`. A config that does not convert (a
    /// malformed URL, an invalid setting) is logged, without the password, and gives a
    /// disabled manager, like an invalid environment for [`redis_manager`]: this never panics.
    pub fn new(config: impl IntoConfig) -> RedisManager {
        let config = config.into_config().unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid Redis configuration; Redis stays disabled");
            Config::default().into_disabled()
        });
        RedisManager {
            inner: Arc::new(Inner {
                config,
                client: RwLock::new(None),
                healthy: AtomicBool::new(false),
                lifecycle: tokio::sync::Mutex::new(()),
                recovery: Mutex::new(None),
                flights: cache::Flights::default(),
            }),
        }
    }

    /// The configuration this manager was created with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Connects and checks the server with `PING`; true when it answered.
    ///
    /// Returns false without any I/O when the configuration does not enable Redis, and false
    /// when the configuration is invalid. When the server does not answer, the failure is
    /// logged, `false` is returned, and the manager keeps probing in the background: it
    /// becomes enabled by itself once the server answers (the Python original gave up for
    /// good).
    ///
    /// Safe to call again, or from several tasks at once: calls run one at a time and reuse
    /// the client (and its connections) of the first, so nothing leaks.
    ///
    /// # Cancel safety
    ///
    /// Cancelling leaves either no client or a client that the recovery task will bring up.
    pub async fn initialize(&self) -> bool {
        let inner = &self.inner;
        if !inner.config.is_enabled() {
            tracing::info!(
                "Redis is disabled (ENABLE_REDIS is not true); operations return defaults"
            );
            return false;
        }
        let _one_at_a_time = inner.lifecycle.lock().await;
        let existing = inner.current_client();
        let client = match existing {
            Some(c) if !c.is_closed() => c,
            _ => match Client::new(inner.config.clone()) {
                Ok(c) => {
                    *inner.client.write().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                    c
                }
                Err(e) => {
                    tracing::error!(error = %Chain(&e), "invalid Redis configuration; Redis stays disabled");
                    return false;
                }
            },
        };
        let addr = inner.config.addr();
        match self.probe(&client).await {
            Ok(()) => {
                self.set_healthy(&client);
                tracing::info!(%addr, db = inner.config.db(), "connected to Redis");
                true
            }
            Err(e) => {
                tracing::warn!(
                    %addr,
                    error = %Chain(&e),
                    "cannot reach Redis; operations return defaults until it answers"
                );
                self.mark_unhealthy(&client);
                false
            }
        }
    }

    /// Closes every connection and stops the background recovery. Idempotent; afterwards
    /// [`RedisManager::is_enabled`] is false until [`RedisManager::initialize`] is called
    /// again. Clients returned by [`RedisManager::get_client`] are closed too.
    pub async fn disconnect(&self) {
        let inner = &self.inner;
        let _one_at_a_time = inner.lifecycle.lock().await;
        let old = {
            let mut slot = inner.client.write().unwrap_or_else(|e| e.into_inner());
            inner.healthy.store(false, Ordering::SeqCst);
            slot.take()
        };
        if let Some(task) = lock(&inner.recovery).take() {
            task.abort();
        }
        if let Some(client) = old {
            client.close();
            tracing::info!("disconnected from Redis");
        }
    }

    /// True when Redis is enabled and was reachable at the last operation or probe. No I/O.
    pub fn is_enabled(&self) -> bool {
        self.inner.config.is_enabled() && self.inner.healthy.load(Ordering::SeqCst)
    }

    /// The client, for everything the manager does not wrap (pipelines, scripts, pub/sub);
    /// `None` when [`RedisManager::is_enabled`] is false.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> redis_manager::Result<()> {
    /// use redis_manager::{Pipeline, redis_manager};
    ///
    /// if let Some(client) = redis_manager().get_client() {
    ///     let mut pipe = Pipeline::new();
    ///     pipe.add(redis_manager::cmd("SET").arg("key1").arg("value1"))
    ///         .add(redis_manager::cmd("SET").arg("key2").arg("value2"));
    ///     pipe.execute(&client).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_client(&self) -> Option<Client> {
        if !self.is_enabled() {
            return None;
        }
        self.inner.current_client()
    }

    /// The value of `key`; `None` when it is missing, not valid UTF-8, or on error.
    pub async fn get(&self, key: &str) -> Option<String> {
        self.run("get", key, cmd("GET").arg(key), None).await
    }

    /// Sets `key` to `value` (a string, integer or float); true when it was set.
    pub async fn set(&self, key: &str, value: impl ToArg) -> bool {
        self.set_with(key, value, SetOptions::default()).await
    }

    /// Sets `key` to `value` with an expiry and/or a condition; false when `NX` or `XX`
    /// prevented it, or on error (including invalid combinations such as `ex` with `px`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// use redis_manager::manager::SetOptions;
    ///
    /// let first = redis.set_with("unique:id", "123", SetOptions::default().nx()).await;
    /// let updated = redis.set_with("existing:key", "new_value", SetOptions::default().xx()).await;
    /// # let _ = (first, updated); }
    /// ```
    pub async fn set_with(&self, key: &str, value: impl ToArg, options: SetOptions) -> bool {
        let c = options.apply(cmd("SET").arg(key).arg(value));
        self.run("set", key, c, false).await
    }

    /// Deletes `keys`; returns how many existed. No I/O for an empty list.
    pub async fn delete<K: AsRef<str> + Sync>(&self, keys: &[K]) -> i64 {
        let Some(first) = keys.first() else { return 0 };
        let c = cmd("DEL").args(keys.iter().map(|k| k.as_ref()));
        self.run("delete", first.as_ref(), c, 0).await
    }

    /// Deletes one key; returns 1 if it existed, else 0.
    pub async fn delete_one(&self, key: &str) -> i64 {
        self.delete_as(key, key).await
    }

    pub(crate) async fn delete_as(&self, key: &str, shown: &str) -> i64 {
        self.run("delete", shown, cmd("DEL").arg(key), 0).await
    }

    /// True when `key` exists.
    pub async fn exists(&self, key: &str) -> bool {
        let n: i64 = self.run("exists", key, cmd("EXISTS").arg(key), 0).await;
        n > 0
    }

    /// Makes `key` expire in `seconds`; false when it does not exist or on error.
    pub async fn expire(&self, key: &str, seconds: i64) -> bool {
        self.run("expire", key, cmd("EXPIRE").arg(key).arg(seconds), false)
            .await
    }

    pub(crate) async fn pexpire_as(&self, key: &str, shown: &str, ttl: Duration) -> bool {
        let c = cmd("PEXPIRE").arg(key).arg(duration_millis(ttl));
        self.run("expire", shown, c, false).await
    }

    /// Seconds until `key` expires: `-1` when it has no expiry, `-2` when it does not exist
    /// (and on error).
    pub async fn ttl(&self, key: &str) -> i64 {
        self.run("ttl", key, cmd("TTL").arg(key), -2).await
    }

    /// Adds `amount` to the integer at `key` (a missing key counts as 0); the new value, or
    /// `None` on error (for example, when the value is not an integer).
    ///
    /// Never retried: when the outcome is unknown (the connection died after sending), `None`
    /// is returned rather than risking a double increment.
    pub async fn incr(&self, key: &str, amount: i64) -> Option<i64> {
        let c = cmd("INCRBY").arg(key).arg(amount);
        self.run("incr", key, c, None).await
    }

    /// Sets one field of the hash `name`; returns the number of fields added (0 when the
    /// field existed and was updated, or on error).
    pub async fn hset(&self, name: &str, field: &str, value: impl ToArg) -> i64 {
        let c = cmd("HSET").arg(name).arg(field).arg(value);
        self.run("hset", name, c, 0).await
    }

    /// Sets several fields of the hash `name` (the seed's `hset(name, mapping=...)`): from an
    /// array or vector of pairs, or a map. Returns the number of fields added. No I/O for an
    /// empty mapping.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// redis
    ///     .hset_mapping("user:123", [("email", "john@example.com"), ("age", "30")])
    ///     .await;
    /// # }
    /// ```
    pub async fn hset_mapping<I, F, V>(&self, name: &str, mapping: I) -> i64
    where
        I: IntoIterator<Item = (F, V)>,
        F: ToArg,
        V: ToArg,
    {
        let mut c = cmd("HSET").arg(name);
        let mut pairs = 0usize;
        for (f, v) in mapping {
            c = c.arg(f).arg(v);
            pairs += 1;
        }
        if pairs == 0 {
            return 0;
        }
        self.run("hset", name, c, 0).await
    }

    /// The value of `field` in the hash `name`; `None` when missing, not UTF-8, or on error.
    pub async fn hget(&self, name: &str, field: &str) -> Option<String> {
        self.run("hget", name, cmd("HGET").arg(name).arg(field), None)
            .await
    }

    /// Stores `value` as JSON at `key`; false when `NX`/`XX` prevented it or on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// use redis_manager::manager::SetOptions;
    /// use serde_json::json;
    ///
    /// let user = json!({"id": 123, "name": "John Doe", "tags": ["admin", "developer"]});
    /// redis.set_json("user:123:profile", &user, SetOptions::default().ex(3600)).await;
    /// # }
    /// ```
    pub async fn set_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> bool {
        self.set_json_as(key, key, value, options).await
    }

    pub(crate) async fn set_json_as<T: Serialize + ?Sized>(
        &self,
        key: &str,
        shown: &str,
        value: &T,
        options: SetOptions,
    ) -> bool {
        let json = match serde_json::to_vec(value) {
            Ok(j) => j,
            Err(e) => return self.fallback("set_json", shown, Err(e), false),
        };
        let c = options.apply(cmd("SET").arg(key).arg(json));
        self.run("set_json", shown, c, false).await
    }

    /// The JSON value at `key`, decoded into `T`; `None` when missing, when it does not decode
    /// into `T` (logged), or on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// #[derive(serde::Deserialize)]
    /// struct Profile { name: String }
    ///
    /// if let Some(p) = redis.get_json::<Profile>("user:123:profile").await {
    ///     println!("User: {}", p.name);
    /// }
    /// # }
    /// ```
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.get_json_as(key, key).await
    }

    pub(crate) async fn get_json_as<T: DeserializeOwned>(
        &self,
        key: &str,
        shown: &str,
    ) -> Option<T> {
        let raw: Option<Bytes> = self.run("get_json", shown, cmd("GET").arg(key), None).await;
        let raw = raw?;
        let decoded = serde_json::from_slice(&raw).map(Some);
        self.fallback("get_json", shown, decoded, None)
    }

    /// Sends `c` when Redis is usable and converts the reply, or returns `default`.
    async fn run<T: FromReply>(&self, op: &'static str, shown: &str, c: Cmd, default: T) -> T {
        let Some(client) = self.get_client() else {
            return default;
        };
        let result = client.query::<T>(c).await;
        self.fallback(op, shown, result, default)
    }

    /// The one place where errors become defaults: logs `result`'s error once (operation and
    /// key only: never a value or a password), updates the health state, and returns
    /// `default`; passes a success through.
    ///
    /// Connection-level failures (I/O, timeouts, lost connections, authentication, an
    /// exhausted pool) mark the manager unhealthy and start the background recovery; server
    /// error replies (`WRONGTYPE`), conversions (non-UTF-8 data) and JSON errors do not.
    pub(crate) fn fallback<T>(
        &self,
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
                if is_unavailable(err) {
                    if let Some(client) = self.inner.current_client() {
                        self.mark_unhealthy(&client);
                    }
                }
                tracing::warn!(op, key, error = %Chain(err), "Redis operation failed; returning the default");
            }
            OpError::Json(err) => {
                // serde_json's messages can quote the offending data (`invalid type: string
                // "..."`), so only its category and position are logged.
                tracing::warn!(
                    op,
                    key,
                    json_error = ?err.classify(),
                    line = err.line(),
                    column = err.column(),
                    "JSON encoding or decoding failed; returning the default"
                );
            }
        }
        default
    }

    /// A `PING` bounded by the connect and response timeouts, so a server that accepts but
    /// never answers cannot hold `initialize` or the recovery task forever.
    async fn probe(&self, client: &Client) -> Result<(), Error> {
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
    fn set_healthy(&self, client: &Client) {
        let slot = self.inner.client.read().unwrap_or_else(|e| e.into_inner());
        if slot
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.pool, &client.pool))
        {
            self.inner.healthy.store(true, Ordering::SeqCst);
        }
    }

    /// Clears the health flag and makes sure a recovery task is probing `client`.
    fn mark_unhealthy(&self, client: &Client) {
        let was = self.inner.healthy.swap(false, Ordering::SeqCst);
        if was {
            tracing::warn!(addr = %self.inner.config.addr(), "Redis became unavailable; operations return defaults until it answers again");
        }
        let mut task = lock(&self.inner.recovery);
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

impl Inner {
    fn current_client(&self) -> Option<Client> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// True for failures that say Redis itself is unreachable or unusable right now, as opposed to
/// one command being wrong.
fn is_unavailable(e: &Error) -> bool {
    e.is_connection_error()
        || e.is_auth_error()
        || matches!(e, Error::PoolTimeout { .. } | Error::Closed)
}

/// The background recovery: probes `client` with `PING`, with exponential backoff between the
/// configured reconnect delays and never before the pool's breaker allows a connect, until it
/// answers; then marks the manager healthy and ends. Ends early when the manager is dropped or
/// `client` is no longer current.
async fn recover(weak: Weak<Inner>, client: Client) {
    let (min, max) = match weak.upgrade() {
        Some(inner) => (
            inner.config.reconnect_min_delay(),
            inner.config.reconnect_max_delay(),
        ),
        None => return,
    };
    let mut delay = min;
    let mut attempts: u32 = 0;
    loop {
        let breaker = client
            .pool
            .retry_at()
            .map(|at| at.saturating_duration_since(tokio::time::Instant::now()))
            .unwrap_or_default();
        tokio::time::sleep(delay.max(breaker)).await;
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
            Err(e) => {
                tracing::debug!(attempts, error = %Chain(&e), "Redis still unreachable");
                delay = (delay * 2).min(max.max(min));
            }
        }
    }
}

/// A random 128-bit token in lower-case hex (32 characters): session ids, lock tokens.
///
/// Read from the operating system's CSPRNG (`/dev/urandom`), so it is unguessable. Only where
/// that device is missing does it fall back to hashing the time, the process id and a counter
/// with std's randomly keyed SipHash (`RandomState`): unique and hard to predict, though not
/// a cryptographic guarantee.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if !read_urandom(&mut bytes) {
        fallback_random(&mut bytes);
    }
    let mut out = String::with_capacity(32);
    for b in bytes {
        use fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn read_urandom(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

fn fallback_random(buf: &mut [u8; 16]) {
    use std::hash::BuildHasher;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        // A fresh RandomState per half: each is keyed differently.
        let keyed = std::collections::hash_map::RandomState::new();
        let h = keyed.hash_one((now.as_nanos(), std::process::id(), n, i));
        chunk.copy_from_slice(&h.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_32_hex_chars_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        let mut x = [0u8; 16];
        let mut y = [0u8; 16];
        fallback_random(&mut x);
        fallback_random(&mut y);
        assert_ne!(x, y);
    }

    #[test]
    fn set_options_encode_in_order() {
        let table = [
            (SetOptions::default(), "SET k v"),
            (SetOptions::default().ex(10), "SET k v EX 10"),
            (SetOptions::default().px(5).nx(), "SET k v PX 5 NX"),
            (SetOptions::default().xx(), "SET k v XX"),
            (
                SetOptions::default().ttl(Duration::from_micros(10)),
                "SET k v PX 1",
            ),
        ];
        for (opts, want) in table {
            let c = opts.apply(cmd("SET").arg("k").arg("v"));
            let words: Vec<String> = (0..c.len())
                .map(|i| String::from_utf8_lossy(c.arg_bytes(i).unwrap()).into_owned())
                .collect();
            assert_eq!(words.join(" "), want);
        }
    }

    #[test]
    fn disabled_manager_does_nothing() {
        let m = RedisManager::new(Config::builder().enabled(false));
        assert!(!m.is_enabled());
        assert!(m.get_client().is_none());
    }
}
