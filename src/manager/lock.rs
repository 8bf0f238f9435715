//! [`DistributedLock`]: a lease-based lock in Redis with fencing tokens.
//!
//! # Design
//!
//! - The lock is the key `lock:{name}` (the seed's key), holding a random token that is new
//!   for every acquisition, with an expiry: the *lease*. How long to keep trying to get it is
//!   a separate *wait time* (the seed used one value for both).
//! - Acquire is one script: `SET key token NX PX lease` and, only when that succeeded,
//!   `INCR {lock:name}:fence`. The counter's new value is the fencing token: it grows with
//!   every acquisition, so a resource that remembers the highest token it has seen can reject
//!   writes from a holder whose lease ran out while it was paused. The counter key has no
//!   expiry (it must outlive the lock to stay monotonic); deleting it, or a Redis that loses
//!   its data, starts it over.
//! - Release and extend compare the token and delete (or `PEXPIRE`) in one script, so a holder
//!   whose lease expired can never delete or prolong the next holder's lock; both report
//!   whether the lock was still held.
//! - Waiting backs off exponentially with jitter between attempts (not the seed's 1 ms spin).
//!   Waiters in this process are also woken as soon as a guard of this process releases the
//!   same lock, so handing a lock over between tasks costs a round trip, not a backoff period.
//! - A [`LockGuard`] releases on drop, in a spawned task, so every exit path (early return,
//!   `?`, a panic unwinding, a cancelled future) gives the lock back; without a runtime the
//!   lease expires by itself. The optional watchdog renews the lease every third of it while
//!   the guard lives.
//! - Redis failures go through the manager's one fallback (`fallback.rs`), through
//!   [`Backend`]: logged once, and the manager's health updated. Acquire never falls back to
//!   "acquired": its fallback is [`LockError::Unavailable`].

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::fallback::Backend;
use super::{RandomError, RedisManager, duration_millis, random_token};
use crate::client::Client;
use crate::cmd::Script;
use crate::error::Error;

/// KEYS: lock, fence counter. ARGV: token, lease (ms). Returns the fencing token, or 0 when
/// the lock is held by someone else.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"#,
    )
});

/// KEYS: lock. ARGV: token. 1 when it was ours and is deleted, else 0.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});

/// KEYS: lock. ARGV: token, lease (ms). 1 when it was ours and now expires after the lease.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});

/// Default lease, as the seed's `timeout=10`.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// Default wait time, as the seed's `timeout=10`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Why [`DistributedLock::acquire`] did not return a guard. The lock is not held either way.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else held the lock for the whole wait time.
    #[error("lock is held by another owner; gave up after {waited:?}")]
    NotAcquired {
        /// How long acquire tried.
        waited: Duration,
    },
    /// Redis could not be asked: the manager is disabled or knows Redis is down (no source),
    /// or the command failed (the source). Never reported as acquired: if the command may
    /// have reached the server ([`Error::is_outcome_unknown`]), its token is released in the
    /// background, and at worst the lease expires.
    #[error("redis is unavailable; the lock was not acquired")]
    Unavailable(#[source] Option<Error>),
    /// The operating system's random number generator failed, so there was no secret token
    /// to take the lock with (never a guessable one). Redis was not asked.
    #[error("no lock token could be made; the lock was not acquired")]
    Random(#[source] RandomError),
}

impl LockError {
    /// True when another owner held the lock for the whole wait time.
    pub fn is_not_acquired(&self) -> bool {
        matches!(self, LockError::NotAcquired { .. })
    }

    /// True when Redis could not be asked or failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LockError::Unavailable(_))
    }
}

/// A distributed lock on the key `lock:{name}`: the seed's `DistributedLock`, with a lease
/// separate from the wait time, fencing tokens, `extend`, an optional watchdog, and release
/// that never deletes another holder's lock.
///
/// Configure with the builder methods, then [`acquire`](DistributedLock::acquire) a
/// [`LockGuard`], or run a closure under the lock with
/// [`with_lock`](DistributedLock::with_lock) (the seed's `async with`). Cheap to clone; each
/// acquisition gets its own random token, so one `DistributedLock` can be shared by tasks
/// that compete for it.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use redis_manager::redis_manager;
/// use redis_manager::manager::DistributedLock;
///
/// # async fn process_critical_resource(_fence: u64) {}
/// # async fn demo() -> Result<(), redis_manager::manager::LockError> {
/// // The seed's `async with DistributedLock("resource:123", timeout=30):`
/// let lock = DistributedLock::new(redis_manager(), "resource:123")
///     .lease(Duration::from_secs(30))
///     .wait(Duration::from_secs(5));
/// lock.with_lock(|fence| async move {
///     // Only one process runs this at a time; pass `fence` to the resource.
///     process_critical_resource(fence).await;
/// })
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DistributedLock {
    backend: Backend,
    name: Arc<str>,
    key: Arc<str>,
    fence_key: Arc<str>,
    lease: Duration,
    wait: Duration,
    watchdog: bool,
    retry_min: Duration,
    retry_max: Duration,
}

/// The fence counter's key: in the same Redis Cluster slot as the lock key, because the
/// acquire script touches both. The lock key keeps the seed's name (`lock:{name}`, so Python
/// and Rust holders can share a lock), so the fence key borrows it as its hash tag; a lock key
/// that already has a hash tag keeps it by appending. (A name with a `}` but no hash tag cannot
/// be wrapped this way; only in a cluster would its counter then live in another slot.)
fn fence_key_for(lock_key: &str) -> String {
    let has_tag = lock_key
        .find('{')
        .is_some_and(|open| lock_key[open + 1..].find('}').is_some_and(|len| len > 0));
    if has_tag {
        format!("{lock_key}:fence")
    } else {
        format!("{{{lock_key}}}:fence")
    }
}

impl DistributedLock {
    /// A lock named `name` (key `lock:{name}`) using `manager`'s client, with the default
    /// lease and wait time ([`DEFAULT_LEASE`], [`DEFAULT_WAIT`]) and no watchdog.
    pub fn new(manager: &RedisManager, name: &str) -> DistributedLock {
        DistributedLock::with_backend(Backend::Manager(manager.clone()), name)
    }

    /// Like [`DistributedLock::new`], with a plain [`Client`].
    pub fn from_client(client: Client, name: &str) -> DistributedLock {
        DistributedLock::with_backend(Backend::Client(client), name)
    }

    fn with_backend(backend: Backend, name: &str) -> DistributedLock {
        let key = format!("lock:{name}");
        let fence_key = fence_key_for(&key);
        DistributedLock {
            backend,
            name: name.into(),
            key: key.into(),
            fence_key: fence_key.into(),
            lease: DEFAULT_LEASE,
            wait: DEFAULT_WAIT,
            watchdog: false,
            retry_min: Duration::from_millis(5),
            retry_max: Duration::from_millis(200),
        }
    }

    /// How long the lock stays held without [`LockGuard::extend`] or the watchdog (at least
    /// 1 ms): the bound on how long a crashed holder blocks everyone else.
    pub fn lease(mut self, lease: Duration) -> DistributedLock {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// How long [`DistributedLock::acquire`] keeps trying while someone else holds the lock;
    /// zero makes one attempt.
    pub fn wait(mut self, wait: Duration) -> DistributedLock {
        self.wait = wait;
        self
    }

    /// Renew the lease every third of it while the guard lives, so work that takes longer
    /// than the lease keeps the lock; a holder that crashes still loses it within one lease.
    pub fn watchdog(mut self, enabled: bool) -> DistributedLock {
        self.watchdog = enabled;
        self
    }

    /// The first and the largest pause between attempts while waiting (defaults 5 ms and
    /// 200 ms). Each pause doubles the last, up to `max`, and is jittered between half and
    /// all of it so competing clients spread out.
    pub fn retry_delays(mut self, min: Duration, max: Duration) -> DistributedLock {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// The lock's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Redis key of the lock: `lock:{name}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Acquires the lock, waiting up to the wait time while someone else holds it.
    ///
    /// # Errors
    ///
    /// [`LockError::NotAcquired`] when the wait time ran out; [`LockError::Unavailable`] when
    /// Redis cannot be asked or fails (at once: a Redis outage is not waited out);
    /// [`LockError::Random`] when the OS random number generator fails.
    ///
    /// # Cancel safety
    ///
    /// If cancelled while a request is in flight, the lock may have been taken with a token
    /// nobody knows; it expires after the lease.
    pub async fn acquire(&self) -> Result<LockGuard, LockError> {
        let start = Instant::now();
        let deadline = start + self.wait;
        let token = match random_token() {
            Ok(t) => t,
            Err(e) => {
                self.backend.note_failure("lock", &self.key, e);
                return Err(LockError::Random(e));
            }
        };
        let lease_ms = duration_millis(self.lease);
        let local = LocalWaiters::join(&self.key);
        let mut delay = self.retry_min;
        let mut rng = Jitter::new();
        loop {
            let Some(client) = self.backend.client() else {
                return Err(LockError::Unavailable(None));
            };
            let (key, fence_key): (&str, &str) = (&self.key, &self.fence_key);
            match ACQUIRE
                .invoke::<i64>(&client, &[&key, &fence_key], &[&token, &lease_ms])
                .await
            {
                Ok(fence) if fence > 0 => {
                    return Ok(LockGuard::new(self, client, token, fence.unsigned_abs()));
                }
                Ok(_) => {}
                Err(e) => {
                    if e.is_outcome_unknown() {
                        // It may have been set with our token: give it back rather than
                        // leave it blocking everyone for a whole lease.
                        spawn_release(self.backend.clone(), client, self.key.clone(), token);
                    }
                    self.backend.note_failure("lock", &self.key, e.clone());
                    return Err(LockError::Unavailable(Some(e)));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LockError::NotAcquired {
                    waited: now - start,
                });
            }
            let pause = rng.between(delay / 2, delay).min(deadline - now);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = local.notified() => {}
            }
            delay = (delay * 2).min(self.retry_max);
        }
    }

    /// Runs `f` while holding the lock, then releases it: the seed's `async with`.
    ///
    /// `f` receives the fencing token. The lock is released on every exit path: after `f`
    /// returns (whatever it returns), and in the background if `f` panics or this future is
    /// dropped. When the lease ran out before `f` finished (so the section was not exclusive
    /// at the end), a warning is logged; use [`DistributedLock::watchdog`] for work of
    /// unknown length, or [`DistributedLock::acquire`] to check
    /// [`LockGuard::release`]'s answer yourself.
    ///
    /// # Errors
    ///
    /// As for [`DistributedLock::acquire`]; `f` does not run then.
    ///
    /// # Cancel safety
    ///
    /// If cancelled while `f` runs, the guard is dropped, which releases the lock in the
    /// background.
    pub async fn with_lock<F, Fut, T>(&self, f: F) -> Result<T, LockError>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = T>,
    {
        let guard = self.acquire().await?;
        let out = f(guard.fencing_token()).await;
        match guard.release().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %self.key, "the lock's lease expired before the section ended");
            }
            // Logged by `release`, through the fallback; the lock expires with its lease.
            Err(_) => {}
        }
        Ok(out)
    }
}

/// Proof of holding a [`DistributedLock`]; releases it when dropped.
///
/// Prefer [`LockGuard::release`], which says whether the lock was still held; dropping the
/// guard releases it in a spawned task (and stops the watchdog).
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    held: Arc<Held>,
    watchdog: Option<tokio::task::AbortHandle>,
    released: bool,
}

#[derive(Debug)]
struct Held {
    backend: Backend,
    client: Client,
    key: Arc<str>,
    token: String,
    fence: u64,
    lost: AtomicBool,
}

impl Held {
    async fn extend(&self, lease: Duration) -> Result<bool, Error> {
        let key: &str = &self.key;
        let n: i64 = EXTEND
            .invoke(
                &self.client,
                &[&key],
                &[&self.token, &duration_millis(lease)],
            )
            .await?;
        if n == 0 {
            self.lost.store(true, Ordering::SeqCst);
        }
        Ok(n == 1)
    }
}

impl LockGuard {
    fn new(lock: &DistributedLock, client: Client, token: String, fence: u64) -> LockGuard {
        let held = Arc::new(Held {
            backend: lock.backend.clone(),
            client,
            key: lock.key.clone(),
            token,
            fence,
            lost: AtomicBool::new(false),
        });
        let watchdog = lock.watchdog.then(|| {
            let held = held.clone();
            let lease = lock.lease;
            tokio::spawn(async move { watchdog(held, lease).await }).abort_handle()
        });
        LockGuard {
            held,
            watchdog,
            released: false,
        }
    }

    /// The fencing token of this acquisition: larger than that of every earlier acquisition
    /// of the same lock. Give it to the protected resource, which should refuse a token lower
    /// than the highest it has seen.
    pub fn fencing_token(&self) -> u64 {
        self.held.fence
    }

    /// The Redis key of the lock.
    pub fn key(&self) -> &str {
        &self.held.key
    }

    /// True once [`LockGuard::extend`] or the watchdog found that the lock is no longer ours
    /// (the lease ran out, and perhaps someone else took it).
    pub fn is_lost(&self) -> bool {
        self.held.lost.load(Ordering::SeqCst)
    }

    /// Sets the lease to `lease` from now, if the lock is still ours; false (and
    /// [`LockGuard::is_lost`]) when it is not.
    ///
    /// # Errors
    ///
    /// Connection and server errors; the lock's state is then unknown.
    ///
    /// # Cancel safety
    ///
    /// If cancelled after the script was sent, the lease may or may not have been extended.
    pub async fn extend(&self, lease: Duration) -> Result<bool, Error> {
        self.held.extend(lease).await
    }

    /// Releases the lock if it is still ours; false when the lease had run out (then nothing
    /// is deleted: the key may belong to the next holder).
    ///
    /// # Errors
    ///
    /// Connection and server errors; the lock then expires with its lease.
    ///
    /// # Cancel safety
    ///
    /// If cancelled, the guard is dropped, which releases in the background.
    pub async fn release(mut self) -> Result<bool, Error> {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        let result = release(&self.held.client, &self.held.key, &self.held.token).await;
        self.released = true;
        match &result {
            Ok(false) => self.held.lost.store(true, Ordering::SeqCst),
            Err(e) => self
                .held
                .backend
                .note_failure("unlock", &self.held.key, e.clone()),
            Ok(true) => {}
        }
        result
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        if !self.released {
            spawn_release(
                self.held.backend.clone(),
                self.held.client.clone(),
                self.held.key.clone(),
                self.held.token.clone(),
            );
        }
    }
}

async fn release(client: &Client, key: &Arc<str>, token: &str) -> Result<bool, Error> {
    let k: &str = key;
    let n: i64 = RELEASE.invoke(client, &[&k], &[&token]).await?;
    if n == 1 {
        LocalWaiters::wake(key);
    }
    Ok(n == 1)
}

/// Releases in a spawned task; without a runtime (a guard dropped after its runtime shut
/// down) there is nothing to run it on, and the lease expires by itself. A failure goes
/// through the fallback (the lease then expires by itself too).
fn spawn_release(backend: Backend, client: Client, key: Arc<str>, token: String) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        if let Err(e) = release(&client, &key, &token).await {
            backend.note_failure("unlock", &key, e);
        }
    });
}

/// Renews the lease every third of it until aborted or the lock is found lost. A failed
/// renewal goes through the fallback and is retried at the next tick: two more chances
/// before the lease runs out.
async fn watchdog(held: Arc<Held>, lease: Duration) {
    let period = (lease / 3).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(period).await;
        match held.extend(lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(key = %held.key, "lock watchdog: the lock is no longer held; stopping");
                return;
            }
            Err(e) => held.backend.note_failure("lock_extend", &held.key, e),
        }
    }
}

/// In-process waiters per lock key, so a release in this process wakes a task waiting here
/// at once instead of after its backoff. Entries are removed when their last waiter leaves.
struct LocalWaiters {
    key: Arc<str>,
    /// Always `Some` until dropped (taken in `drop`, under the map's lock).
    notify: Option<Arc<Notify>>,
}

fn waiters() -> std::sync::MutexGuard<'static, HashMap<Arc<str>, Arc<Notify>>> {
    static MAP: OnceLock<Mutex<HashMap<Arc<str>, Arc<Notify>>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl LocalWaiters {
    fn join(key: &Arc<str>) -> LocalWaiters {
        let notify = waiters().entry(key.clone()).or_default().clone();
        LocalWaiters {
            key: key.clone(),
            notify: Some(notify),
        }
    }

    async fn notified(&self) {
        if let Some(n) = &self.notify {
            n.notified().await;
        }
    }

    /// Wakes one waiter of `key` in this process, if any (or the next one to wait).
    fn wake(key: &str) {
        if let Some(n) = waiters().get(key) {
            n.notify_one();
        }
    }
}

impl Drop for LocalWaiters {
    fn drop(&mut self) {
        let mut map = waiters();
        // Our reference goes under the lock, so two waiters leaving at once cannot both see
        // the other's and leave the entry behind.
        drop(self.notify.take());
        if map
            .get(&self.key)
            .is_some_and(|n| Arc::strong_count(n) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// A small xorshift generator for backoff jitter; seeded from std's randomly keyed hasher.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed =
            std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
        Jitter(seed | 1)
    }

    /// A duration in `[lo, hi]`.
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = hi.saturating_sub(lo).as_nanos() as u64;
        lo + Duration::from_nanos(if span == 0 { 0 } else { self.0 % (span + 1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let mut j = Jitter::new();
        let (lo, hi) = (Duration::from_millis(5), Duration::from_millis(10));
        for _ in 0..1000 {
            let d = j.between(lo, hi);
            assert!(d >= lo && d <= hi, "{d:?}");
        }
        assert_eq!(j.between(hi, hi), hi);
    }

    #[test]
    fn fence_key_shares_the_lock_keys_cluster_slot() {
        assert_eq!(fence_key_for("lock:job"), "{lock:job}:fence");
        assert_eq!(fence_key_for("lock:{user1}.x"), "lock:{user1}.x:fence");
    }

    #[test]
    fn local_waiter_entries_are_removed_with_their_last_waiter() {
        let key: Arc<str> = "lock:unit-test-local".into();
        let a = LocalWaiters::join(&key);
        let b = LocalWaiters::join(&key);
        assert!(Arc::ptr_eq(
            a.notify.as_ref().unwrap(),
            b.notify.as_ref().unwrap()
        ));
        drop(a);
        assert!(waiters().contains_key(&key));
        drop(b);
        assert!(!waiters().contains_key(&key));
    }
}
