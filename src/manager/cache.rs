//! Cache-aside with single-flight: [`RedisManager::get_or_set_json`].
//!
//! Design note. The seed's caching pattern (`get_json`, on a miss load and `set_json`) lets
//! every concurrent miss of a hot key run the expensive loader (a stampede), treats falsy
//! cached values (`{}`, `0`) as misses, and never caches a `None` result. Here:
//!
//! - Concurrent misses of one key in this process form a *flight*: an entry in
//!   [`Flights`] holding an async mutex. The first caller to take the mutex (the leader) runs
//!   the loader; the others wait on the mutex and then read the leader's result from the
//!   entry, as JSON, so they get it even while Redis is down and never call their loaders.
//! - A leader that fails (or is cancelled) leaves no result; the next waiter becomes the
//!   leader and calls its own loader. Errors are returned to their caller, never cached.
//! - Entries are removed by the last caller holding them (a drop guard, so cancellation
//!   cleans up too). Clones of an entry are only made under the map lock, which makes the
//!   reference count checked under that lock exact.
//! - A leader checks the cache once more before loading: a caller whose miss raced with an
//!   earlier flight that has already stored the value and ended finds it there.
//! - Any decodable cached value is a hit, falsy or not.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RedisManager, locked};
use crate::cmd::SetOptions;
use crate::cmd::StringCommands;

/// The flights in progress, by key.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

#[derive(Default)]
struct Flight {
    /// The leader's result as JSON, once a leader succeeded.
    result: tokio::sync::Mutex<Option<Arc<[u8]>>>,
}

/// A caller's membership in a flight; leaving removes the flight if nobody else is in it.
struct Ticket<'a> {
    flights: &'a Flights,
    key: String,
    flight: Option<Arc<Flight>>,
}

impl Flights {
    fn join(&self, key: &str) -> Ticket<'_> {
        let mut map = locked(&self.map);
        let flight = map.entry(key.to_owned()).or_default().clone();
        Ticket {
            flights: self,
            key: key.to_owned(),
            flight: Some(flight),
        }
    }

    /// Number of flights in progress (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        locked(&self.map).len()
    }
}

impl Ticket<'_> {
    fn flight(&self) -> &Flight {
        self.flight.as_ref().expect("present until drop")
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut map = locked(&self.flights.map);
        if let Some(flight) = self.flight.take() {
            // The map's reference plus ours: nobody else is waiting.
            if Arc::strong_count(&flight) == 2
                && map.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &flight))
            {
                map.remove(&self.key);
            }
            // Dropped while the map is locked, so a concurrent leaver sees the new count.
            drop(flight);
        }
    }
}

impl RedisManager {
    /// Cache-aside: the JSON value cached at `key`, or else `loader`'s value, which is then
    /// cached for `ttl`.
    ///
    /// Concurrent misses of the same key in this process call the loader once: the others
    /// wait and receive its value (no stampede on a hot key). A loader error is returned to
    /// its caller and not cached; a waiting caller then runs its own loader. With Redis
    /// unavailable this simply calls the loader. A cached value that no longer decodes into
    /// `T` (say, after a schema change) is treated as a miss and overwritten.
    ///
    /// # Errors
    ///
    /// Only the loader's error: Redis failures are logged and fall back to the loader.
    ///
    /// # Cancel safety
    ///
    /// Cancelling a leader lets the next waiter load instead; nothing is left behind.
    ///
    /// # Examples
    ///
    /// The seed's `get_user_with_cache`:
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct User { name: String }
    /// # async fn load_user_from_db(_: &str) -> Result<Option<User>, std::io::Error> { Ok(None) }
    ///
    /// # async fn demo(user_id: &str) -> Result<(), std::io::Error> {
    /// let redis = redis_manager::redis_manager();
    /// let user: Option<User> = redis
    ///     .get_or_set_json(&format!("user:{user_id}"), Duration::from_secs(3600), || {
    ///         load_user_from_db(user_id)
    ///     })
    ///     .await?;
    /// # let _ = user; Ok(()) }
    /// ```
    pub async fn get_or_set_json<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        loader: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.get_json::<T>(key).await {
            return Ok(hit);
        }
        let ticket = self.inner.flights.join(key);
        let mut result = ticket.flight().result.lock().await;
        if let Some(json) = result.as_ref()
            && let Ok(shared) = serde_json::from_slice::<T>(json)
        {
            return Ok(shared);
        }
        // Checked again inside the flight: a caller whose miss raced with a leader that has
        // since stored the value and left finds it here instead of loading a second time.
        if let Some(hit) = self.get_json::<T>(key).await {
            return Ok(hit);
        }
        let value = loader().await?;
        match serde_json::to_vec(&value) {
            Ok(json) => {
                let options = SetOptions::new().ttl(ttl);
                let value_json: &[u8] = &json;
                let stored = self.run("get_or_set_json", key, false, |c| async move {
                    c.set_with(key, value_json, options).await
                });
                let _stored: bool = stored.await;
                *result = Some(json.into());
            }
            Err(e) => {
                self.fallback("get_or_set_json", key, Err::<(), _>(e), ());
            }
        }
        Ok(value)
    }

    /// Number of single-flight entries in progress (for tests).
    #[cfg(test)]
    pub(crate) fn flights_in_progress(&self) -> usize {
        self.inner.flights.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn concurrent_misses_share_one_load_without_redis() {
        let m = RedisManager::new(Config::builder().enabled(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (m, calls) = (m.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                m.get_or_set_json("k", Duration::from_secs(1), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Long enough for every task to have joined the flight.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, ()>(vec![1, 2, 3])
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(vec![1, 2, 3]));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(m.flights_in_progress(), 0);
    }

    #[tokio::test]
    async fn a_failed_load_is_not_shared_and_the_next_waiter_loads() {
        let m = RedisManager::new(Config::builder().enabled(false));
        let first = m.get_or_set_json("k", Duration::from_secs(1), || async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err::<i32, _>("db down")
        });
        let second = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            m.get_or_set_json("k", Duration::from_secs(1), || async { Ok::<_, &str>(7) })
                .await
        };
        let (a, b) = tokio::join!(first, second);
        assert_eq!(a, Err("db down"));
        assert_eq!(b, Ok(7));
        assert_eq!(m.flights_in_progress(), 0);
    }
}
