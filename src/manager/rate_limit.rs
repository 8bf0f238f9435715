//! [`RateLimiter`]: a sliding-window rate limiter whose whole check is one Lua script.
//!
//! # Design
//!
//! Each identifier has a sorted set `rate_limit:{identifier}` holding one member per counted
//! request, scored by the server time of the request in microseconds. One script, run
//! atomically by the server:
//!
//! 1. reads the clock with `TIME` (the server's clock, so clients whose clocks disagree still
//!    share one window);
//! 2. drops members older than the window (`ZREMRANGEBYSCORE`);
//! 3. counts the rest (`ZCARD`);
//! 4. only when under the limit, adds a member for this request (`ZADD`) and pushes the
//!    key's expiry to one window from now (`PEXPIRE`), so idle identifiers cost no memory.
//!
//! Denied requests add nothing, so a client hammering a closed window does not keep it closed.
//! The member is `<seconds>.<microseconds>-<limiter id>-<counter>`: the limiter id is random
//! per [`RateLimiter`] (from the OS generator, made on first use; should that fail, the check
//! is a fallback decision, never a guessable id) and the counter per request, so two requests never collapse into one
//! member, even in the same microsecond on different machines (the seed used the second as
//! the member, so every request of one second counted once).
//!
//! `TIME` followed by writes needs effects replication, the default since Redis 5.
//!
//! The script runs through [`Script`]: `EVALSHA`, loading it again after `NOSCRIPT` (a server
//! restart or `SCRIPT FLUSH`).
//!
//! Errors go through the manager's one fallback (`fallback.rs`): logged once, the manager's
//! health updated, and the [`FailurePolicy`] decides.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use super::fallback::Backend;
use super::{RandomError, RedisManager, random_token};
use crate::client::Client;
use crate::cmd::Script;

/// The check. KEYS[1]: the sorted set. ARGV: window (µs), limit, member suffix.
/// Returns {allowed (0/1), remaining, retry after (µs, 0 when unknown)}.
static CHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  -- The member is built from the strings TIME returned: Lua would print a number this large
  -- in exponent form and lose digits.
  redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. '-' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = 0
if oldest[2] then
  retry = math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
return {0, 0, retry}
"#,
    )
});

/// What a [`RateLimiter`] does when it cannot ask Redis (disabled, unreachable, an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Allow the request: the seed's behaviour ("Allow if Redis unavailable"). An outage then
    /// turns the limit off rather than the service.
    #[default]
    Allow,
    /// Deny the request: for limits that protect something more important than availability
    /// (login attempts, costly APIs).
    Deny,
}

/// The outcome of [`RateLimiter::check_rate_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitDecision {
    /// True when the request may proceed (and was counted).
    pub allowed: bool,
    /// How many more requests the window allows right now (0 when denied, and 0 in a
    /// fallback decision, where it is unknown).
    pub remaining: u64,
    /// When denied: how long until the oldest counted request leaves the window, so one more
    /// request would be allowed (assuming no one else takes the slot). `None` when allowed,
    /// in a fallback decision, and when `max_requests` is 0 (never allowed).
    pub retry_after: Option<Duration>,
    /// True when Redis could not be asked and the [`FailurePolicy`] decided instead.
    pub fallback: bool,
}

/// A sliding-window rate limiter: at most `max_requests` per `window` per identifier, counted
/// by Redis so every process shares the limit.
///
/// The check is one atomic Lua script on the sorted set `rate_limit:{identifier}` using the
/// server's clock (see the module documentation): concurrent requests can never overshoot,
/// requests never collapse into one member, and denied requests are not counted.
///
/// When Redis is disabled, unreachable or fails, the decision follows the [`FailurePolicy`]:
/// allowed by default (as the seed does), denied after [`RateLimiter::fail_closed`]; either
/// way [`RateLimitDecision::fallback`] is true and the error is logged.
///
/// Cheap to clone; clones share the request counter.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use redis_manager::redis_manager;
/// use redis_manager::manager::RateLimiter;
///
/// # async fn demo() {
/// // The seed's `check_rate_limit(identifier, max_requests=100, window_seconds=3600)`:
/// let limiter = RateLimiter::new(redis_manager(), 100, Duration::from_secs(3600));
/// let decision = limiter.check_rate_limit("user:123").await;
/// if !decision.allowed {
///     println!("slow down; retry in {:?}", decision.retry_after);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    backend: Backend,
    max_requests: u64,
    window: Duration,
    policy: FailurePolicy,
    /// Random per limiter (made on first use, shared by clones): makes members unique across
    /// processes.
    id: std::sync::Arc<OnceLock<Box<str>>>,
    counter: std::sync::Arc<AtomicU64>,
}

impl RateLimiter {
    /// A limiter of `max_requests` per `window` using `manager`'s client. While the manager is
    /// disabled or knows Redis is down, checks return the fallback decision without any I/O.
    ///
    /// `window` counts in microseconds and is at least 1 ms (the key's expiry is in
    /// milliseconds).
    pub fn new(manager: &RedisManager, max_requests: u64, window: Duration) -> RateLimiter {
        RateLimiter::with_backend(Backend::Manager(manager.clone()), max_requests, window)
    }

    /// Like [`RateLimiter::new`], with a plain [`Client`].
    pub fn from_client(client: Client, max_requests: u64, window: Duration) -> RateLimiter {
        RateLimiter::with_backend(Backend::Client(client), max_requests, window)
    }

    fn with_backend(backend: Backend, max_requests: u64, window: Duration) -> RateLimiter {
        RateLimiter {
            backend,
            max_requests,
            window: window.max(Duration::from_millis(1)),
            policy: FailurePolicy::Allow,
            id: std::sync::Arc::default(),
            counter: std::sync::Arc::new(AtomicU64::new(0)),
        }
    }

    /// Denies requests when Redis cannot be asked (the default allows them).
    pub fn fail_closed(self) -> RateLimiter {
        self.failure_policy(FailurePolicy::Deny)
    }

    /// Sets what happens when Redis cannot be asked.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> RateLimiter {
        self.policy = policy;
        self
    }

    /// The limit per window.
    pub fn max_requests(&self) -> u64 {
        self.max_requests
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The Redis key for `identifier`: `rate_limit:{identifier}`.
    pub fn key(identifier: &str) -> String {
        format!("rate_limit:{identifier}")
    }

    /// Checks one request of `identifier` against the limit, counting it when allowed.
    ///
    /// Never fails: when Redis cannot be asked the [`FailurePolicy`] decides, and the
    /// decision says so ([`RateLimitDecision::fallback`]).
    ///
    /// # Cancel safety
    ///
    /// If cancelled after the script was sent, the request may have been counted.
    pub async fn check_rate_limit(&self, identifier: &str) -> RateLimitDecision {
        let key = RateLimiter::key(identifier);
        let id = match self.id() {
            Ok(id) => id,
            Err(e) => {
                self.backend.note_failure("rate_limit", &key, e);
                return self.fallback();
            }
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("{id}-{n}");
        let window_us = u64::try_from(self.window.as_micros()).unwrap_or(u64::MAX);
        let k: &str = &key;
        let reply = self
            .backend
            .run("rate_limit", k, None, |client| async move {
                CHECK
                    .invoke::<(i64, i64, i64)>(
                        &client,
                        &[&k],
                        &[&window_us, &self.max_requests, &suffix],
                    )
                    .await
                    .map(Some)
            })
            .await;
        match reply {
            Some((allowed, remaining, retry_us)) => RateLimitDecision {
                allowed: allowed == 1,
                remaining: u64::try_from(remaining).unwrap_or(0),
                retry_after: (allowed != 1 && retry_us > 0)
                    .then(|| Duration::from_micros(retry_us.unsigned_abs())),
                fallback: false,
            },
            None => self.fallback(),
        }
    }

    /// This limiter's id, made from the OS random number generator on first use; a failure
    /// is returned (and the next check tries again), never replaced by a weaker id.
    fn id(&self) -> Result<&str, RandomError> {
        if let Some(id) = self.id.get() {
            return Ok(id);
        }
        let fresh = random_token()?;
        Ok(self.id.get_or_init(|| fresh[..16].into()))
    }

    fn fallback(&self) -> RateLimitDecision {
        RateLimitDecision {
            allowed: self.policy == FailurePolicy::Allow,
            remaining: 0,
            retry_after: None,
            fallback: true,
        }
    }
}
