//! [`RedisManager`]: the API of the Python `redis_manager` this crate ports, with graceful
//! fallback to defaults while Redis is unavailable, and the global instance
//! [`redis_manager()`].
//!
//! # Design
//!
//! - One policy for failures, in one place: `fallback.rs` (its module note says how). Every
//!   operation here, and every pattern (sessions, the cache, the rate limiter, the lock,
//!   pub/sub), turns an error into its default there (the seed's table: `None`, `false`, `0`,
//!   `-2`), logs it once with the operation and the key (never a value, never the password),
//!   and updates the health flag. Nothing else in the crate swallows errors.
//! - Health costs no I/O: [`RedisManager::is_enabled`] reads a flag. While Redis is known to
//!   be down, operations return their defaults at once, and one background task probes the
//!   server until it answers (also in `fallback.rs`).
//! - The client, the health flag and the recovery task change together: the recovery task only
//!   marks healthy the client that is still current (checked under the client lock), and
//!   [`RedisManager::disconnect`] clears all three.
//! - The operations send the typed [`Client`] commands (`get`, `set_with`, `incrby`, ...),
//!   so they cannot drift from them; the only SET options are [`SetOptions`], the
//!   crate's one type for them. Tokens (session ids, lock tokens) come from `token.rs`: the
//!   OS random number generator, with no weaker fallback.
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
mod fallback;
mod lock;
mod pubsub;
mod rate_limit;
mod session;
mod token;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use resp_codec::ToArg;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::cmd::SetOptions;
use crate::cmd::{HashCommands, KeyCommands, StringCommands};
use crate::config::{Config, IntoConfig};
use crate::error::{ConversionError, Error};
use fallback::Chain;

pub use lock::{DEFAULT_LEASE, DEFAULT_WAIT, DistributedLock, LockError, LockGuard};
pub use pubsub::{HandlerResult, PubSubManager, Subscription};
pub use rate_limit::{FailurePolicy, RateLimitDecision, RateLimiter};
pub use session::{DEFAULT_SESSION_TTL, SessionManager};
pub use token::RandomError;
use token::random_token;

/// One key or several, for [`RedisManager::delete`]: a `str` or `String`, or an array,
/// slice or `Vec` of anything that is `AsRef<str>` (also through references), so the seed's
/// `delete("k")` and `delete("a", "b")` read `delete("k")` and `delete(["a", "b"])`.
pub trait Keys {
    /// The keys, in order; empty for an empty list.
    fn key_list(&self) -> Vec<&str>;
}

impl Keys for str {
    fn key_list(&self) -> Vec<&str> {
        vec![self]
    }
}

impl Keys for String {
    fn key_list(&self) -> Vec<&str> {
        vec![self.as_str()]
    }
}

impl<K: AsRef<str>> Keys for [K] {
    fn key_list(&self) -> Vec<&str> {
        self.iter().map(AsRef::as_ref).collect()
    }
}

impl<K: AsRef<str>, const N: usize> Keys for [K; N] {
    fn key_list(&self) -> Vec<&str> {
        self.as_slice().key_list()
    }
}

impl<K: AsRef<str>> Keys for Vec<K> {
    fn key_list(&self) -> Vec<&str> {
        self.as_slice().key_list()
    }
}

impl<T: Keys + ?Sized> Keys for &T {
    fn key_list(&self) -> Vec<&str> {
        (**self).key_list()
    }
}

/// A string reply as the manager returns it: bytes that are not UTF-8 are a conversion
/// error (logged by the fallback, and `None`), never a lossy string.
fn utf8(value: Option<Bytes>) -> Result<Option<String>, Error> {
    value
        .map(|b| {
            std::str::from_utf8(&b).map(str::to_owned).map_err(|_| {
                Error::Conversion(ConversionError {
                    expected: "String",
                    got: "non-UTF-8 bytes",
                })
            })
        })
        .transpose()
}

/// A duration in whole milliseconds, at least 1 (Redis refuses a zero expiry).
pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
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
/// | [`hset_struct`](RedisManager::hset_struct) | fields added | `0` |
/// | [`hgetall_struct`](RedisManager::hgetall_struct) | `Option<T>` | `None` |
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
/// use redis_manager::SetOptions;
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
        if let Some(task) = locked(&self.recovery).take() {
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

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisManager {
    /// An independent manager for `config` (the seed's `RedisManager()`). No I/O happens until
    /// [`RedisManager::initialize`].
    ///
    /// `config.is_enabled()` decides whether Redis is used at all: [`Config::default`] enables
    /// it, [`Config::from_env`] follows `ENABLE_REDIS`. A config that does not convert (a
    /// malformed URL, an invalid setting) is logged, without the password, and gives a
    /// disabled manager, like an invalid environment for [`redis_manager`]: this never panics.
    ///
    /// `config` is anything [`IntoConfig`] accepts: a [`Config`], a builder, a URL.
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
        if let Some(task) = locked(&inner.recovery).take() {
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
    /// use redis_manager::prelude::*;
    /// use redis_manager::{Pipeline, redis_manager};
    ///
    /// if let Some(client) = redis_manager().get_client() {
    ///     let mut pipe = Pipeline::new();
    ///     pipe.set("key1", "value1").set("key2", "value2");
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

    /// What the current client's client-side cache counted, when caching is on and a client
    /// is up (see [`Client::cache_stats`]). `get`, `get_json`, `hget` and `exists` are
    /// served from that cache when it holds their key.
    pub fn cache_stats(&self) -> Option<crate::cache::CacheStats> {
        self.inner.current_client()?.cache_stats()
    }

    /// The value of `key`; `None` when it is missing, not valid UTF-8, or on error.
    pub async fn get(&self, key: &str) -> Option<String> {
        self.run("get", key, None, |c| async move { utf8(c.get(key).await?) })
            .await
    }

    /// Sets `key` to `value` (a string, integer or float); true when it was set.
    pub async fn set(&self, key: &str, value: impl ToArg) -> bool {
        self.set_with(key, value, SetOptions::default()).await
    }

    /// Sets `key` to `value` with an expiry and/or a condition (the seed's `ex`, `px`, `nx`
    /// and `xx`); false when `NX` or `XX` prevented it, or on error (an expiry the server
    /// refuses, such as `ex(0)`). [`SetOptions`] holds one expiry and one condition: the
    /// last one set wins, so the seed's refused `ex` with `px` cannot be expressed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// use redis_manager::SetOptions;
    ///
    /// let first = redis.set_with("unique:id", "123", SetOptions::default().nx()).await;
    /// let updated = redis.set_with("existing:key", "new_value", SetOptions::default().xx()).await;
    /// # let _ = (first, updated); }
    /// ```
    pub async fn set_with(&self, key: &str, value: impl ToArg, options: SetOptions) -> bool {
        self.run("set", key, false, |c| async move {
            c.set_with(key, value, options).await
        })
        .await
    }

    /// Deletes one key or several (the seed's `delete(*keys)`); returns how many existed. No
    /// I/O for an empty list. Takes a `&str` or `String`, or an array, slice or `Vec` of
    /// them (anything [`Keys`]), by value or by reference.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// let deleted = redis.delete("temp:data").await;
    /// let deleted = redis.delete(["key1", "key2", "key3"]).await;
    /// let stale: Vec<String> = vec![format!("user:{}", 42)];
    /// let deleted = redis.delete(&stale).await;
    /// # let _ = deleted; }
    /// ```
    pub async fn delete<K: Keys>(&self, keys: K) -> i64 {
        let keys = keys.key_list();
        let Some(first) = keys.first().copied() else {
            return 0;
        };
        self.run("delete", first, 0, |c| async move { c.del(&keys).await })
            .await
    }

    /// Deletes one key; returns 1 if it existed, else 0. The same as
    /// [`delete`](RedisManager::delete) with one key.
    pub async fn delete_one(&self, key: &str) -> i64 {
        self.delete(key).await
    }

    pub(crate) async fn delete_as(&self, key: &str, shown: &str) -> i64 {
        self.run("delete", shown, 0, |c| async move { c.del(&[key]).await })
            .await
    }

    /// True when `key` exists.
    pub async fn exists(&self, key: &str) -> bool {
        self.run("exists", key, false, |c| async move { c.exists(key).await })
            .await
    }

    /// Makes `key` expire in `seconds`; false when it does not exist or on error.
    pub async fn expire(&self, key: &str, seconds: i64) -> bool {
        self.run("expire", key, false, |c| async move {
            c.expire(key, seconds).await
        })
        .await
    }

    pub(crate) async fn pexpire_as(&self, key: &str, shown: &str, ttl: Duration) -> bool {
        let ms = i64::try_from(duration_millis(ttl)).unwrap_or(i64::MAX);
        self.run("expire", shown, false, |c| async move {
            c.pexpire(key, ms).await
        })
        .await
    }

    /// Seconds until `key` expires: `-1` when it has no expiry, `-2` when it does not exist
    /// (and on error).
    pub async fn ttl(&self, key: &str) -> i64 {
        self.run("ttl", key, -2, |c| async move { c.ttl(key).await })
            .await
    }

    /// Adds `amount` to the integer at `key` (a missing key counts as 0) with `INCRBY`, for
    /// any amount (1 included); the new value, or `None` on error (for example, when the
    /// value is not an integer, or the result would overflow an `i64`).
    ///
    /// Never retried: when the outcome is unknown (the connection died after sending), `None`
    /// is returned rather than risking a double increment.
    pub async fn incr(&self, key: &str, amount: i64) -> Option<i64> {
        self.run("incr", key, None, |c| async move {
            c.incrby(key, amount).await.map(Some)
        })
        .await
    }

    /// Sets one field of the hash `name`; returns the number of fields added (0 when the
    /// field existed and was updated, or on error).
    pub async fn hset(&self, name: &str, field: &str, value: impl ToArg) -> i64 {
        self.run("hset", name, 0, |c| async move {
            c.hset(name, field, value).await
        })
        .await
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
        let pairs: Vec<(F, V)> = mapping.into_iter().collect();
        if pairs.is_empty() {
            return 0;
        }
        self.run("hset", name, 0, |c| async move {
            c.hset_multiple(name, &pairs).await
        })
        .await
    }

    /// The value of `field` in the hash `name`; `None` when missing, not UTF-8, or on error.
    pub async fn hget(&self, name: &str, field: &str) -> Option<String> {
        self.run("hget", name, None, |c| async move {
            utf8(c.hget(name, field).await?)
        })
        .await
    }

    /// Writes the fields of the flat struct `value` into the hash `name` (as
    /// [`HashCommands::hset_struct`] does: numbers as decimal text, `bool` as `1`/`0`,
    /// `None` fields not written). Returns the number of fields added; `0` when every field
    /// is `None` (no I/O), when `value` is not a flat struct (logged), or on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// #[derive(serde::Serialize)]
    /// struct User { name: String, age: u32, verified: bool }
    ///
    /// let user = User { name: "John Doe".into(), age: 30, verified: true };
    /// redis.hset_struct("user:123", &user).await;
    /// # }
    /// ```
    pub async fn hset_struct<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> i64 {
        self.run("hset_struct", name, 0, |c| async move {
            c.hset_struct(name, value).await
        })
        .await
    }

    /// The hash `name` read into the flat struct `T` (as [`HashCommands::hgetall_struct`]
    /// does); `None` when the hash is empty or missing, when it does not read into `T`
    /// (logged, naming the field), or on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// #[derive(serde::Deserialize)]
    /// struct User { name: String, age: u32, email: Option<String> }
    ///
    /// if let Some(user) = redis.hgetall_struct::<User>("user:123").await {
    ///     println!("{} is {}", user.name, user.age);
    /// }
    /// # }
    /// ```
    pub async fn hgetall_struct<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.run("hgetall_struct", name, None, |c| async move {
            c.hgetall_struct(name).await
        })
        .await
    }

    /// Stores `value` as JSON at `key`; false when `NX`/`XX` prevented it or on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(redis: redis_manager::RedisManager) {
    /// use redis_manager::SetOptions;
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
        self.run("set_json", shown, false, |c| async move {
            c.set_with(key, json, options).await
        })
        .await
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
        let raw = self
            .run("get_json", shown, None, |c| async move { c.get(key).await })
            .await;
        let raw = raw?;
        let decoded = serde_json::from_slice(&raw).map(Some);
        self.fallback("get_json", shown, decoded, None)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_options_ttl_is_px_in_whole_milliseconds_and_never_zero() {
        let words = |opts: SetOptions| {
            let mut args = Vec::new();
            opts.push_args(&mut args);
            args.iter()
                .map(|a| String::from_utf8_lossy(&a.to_arg()).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let table = [
            (SetOptions::new().ttl(Duration::from_micros(10)), "PX 1"),
            (
                SetOptions::new().ttl(Duration::from_millis(1500)),
                "PX 1500",
            ),
            (
                SetOptions::new().ttl(Duration::from_secs(2)).nx(),
                "NX PX 2000",
            ),
            (
                SetOptions::new().ex(5).ttl(Duration::from_millis(7)),
                "PX 7",
            ),
        ];
        for (opts, want) in table {
            assert_eq!(words(opts), want);
        }
    }

    #[test]
    fn disabled_manager_does_nothing() {
        let m = RedisManager::new(Config::builder().enabled(false));
        assert!(!m.is_enabled());
        assert!(m.get_client().is_none());
    }
}
