//! [`SessionManager`]: the seed's session pattern, with its bugs fixed.
//!
//! Fixed from the seed: `create_session` returned an id even when nothing was stored (Redis
//! down), so callers handed out sessions that did not exist; here it returns `None`. Caller
//! data could overwrite `user_id` and `created_at` (`{"user_id": ..., **data}`); here those two
//! always win. Session ids are 128 random bits from the OS (the seed's `uuid4` has 122) with
//! no weaker fallback (should the OS generator fail, no session is created), and logs show
//! `session:***` instead of the key: a session id is a bearer credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{RedisManager, random_token, redis_manager};
use crate::cmd::SetOptions;

/// The seed's session lifetime: 24 hours.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What logs show instead of a session's key.
const SHOWN_KEY: &str = "session:***";

/// User sessions stored as JSON under `session:{id}`, expiring after a TTL (24 h by default).
///
/// Works with any [`RedisManager`]; [`SessionManager::global`] (or `Default`) uses
/// [`redis_manager()`], like the seed's static methods. Cheap to clone.
///
/// # Examples
///
/// ```no_run
/// use redis_manager::SessionManager;
/// use serde_json::json;
///
/// # async fn demo() {
/// let sessions = SessionManager::global();
/// if let Some(id) = sessions.create_session("user-42", json!({"role": "admin"})).await {
///     let session = sessions.get_session(&id).await;
///     assert_eq!(session.unwrap()["user_id"], "user-42");
///     sessions.delete_session(&id).await;
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SessionManager {
    redis: RedisManager,
    ttl: Duration,
}

impl Default for SessionManager {
    fn default() -> Self {
        SessionManager::global()
    }
}

impl SessionManager {
    /// Sessions stored through `redis`, with the default TTL.
    pub fn new(redis: &RedisManager) -> SessionManager {
        SessionManager {
            redis: redis.clone(),
            ttl: DEFAULT_SESSION_TTL,
        }
    }

    /// Sessions stored through the global [`redis_manager()`].
    pub fn global() -> SessionManager {
        SessionManager::new(redis_manager())
    }

    /// The same manager with sessions lasting `ttl` (rounded to milliseconds, at least 1 ms).
    pub fn with_ttl(mut self, ttl: Duration) -> SessionManager {
        self.ttl = ttl;
        self
    }

    /// How long new sessions last.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Creates a session for `user_id` and returns its id (32 hex characters), or `None` when
    /// it could not be stored (Redis disabled or unavailable) or, should the OS random number
    /// generator fail, no id could be made (logged; never a guessable id).
    ///
    /// The stored JSON object holds `data`'s fields, then `user_id` and `created_at` (Unix
    /// time in seconds, with a fraction, like Python's `time.time()`), which take precedence
    /// over fields of the same name in `data`. `data` is normally an object; `null` adds
    /// nothing, and any other value is stored under `"data"`.
    pub async fn create_session(&self, user_id: &str, data: Value) -> Option<String> {
        let mut session = match data {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("data".to_owned(), other)]),
        };
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        session.insert("user_id".to_owned(), Value::from(user_id));
        session.insert("created_at".to_owned(), Value::from(created_at));
        let id = match random_token() {
            Ok(id) => id,
            Err(e) => {
                return self
                    .redis
                    .fallback("create_session", SHOWN_KEY, Err(e), None);
            }
        };
        // NX: a (vanishingly unlikely) id collision must never overwrite someone's session.
        let options = SetOptions::default().ttl(self.ttl).nx();
        let stored = self
            .redis
            .set_json_as(&session_key(&id), SHOWN_KEY, &session, options)
            .await;
        stored.then_some(id)
    }

    /// The session's data, or `None` when it does not exist (or expired), or on error.
    pub async fn get_session(&self, session_id: &str) -> Option<Value> {
        self.redis
            .get_json_as(&session_key(session_id), SHOWN_KEY)
            .await
    }

    /// Deletes the session; true when it existed.
    pub async fn delete_session(&self, session_id: &str) -> bool {
        self.redis
            .delete_as(&session_key(session_id), SHOWN_KEY)
            .await
            > 0
    }

    /// Makes the session expire `ttl` from now (for example, on each request, for sliding
    /// expiry); false when it does not exist, or on error.
    pub async fn refresh_session(&self, session_id: &str, ttl: Duration) -> bool {
        self.redis
            .pexpire_as(&session_key(session_id), SHOWN_KEY, ttl)
            .await
    }
}

fn session_key(id: &str) -> String {
    format!("session:{id}")
}
