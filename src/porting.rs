//! # Porting from Python's `redis_manager`
//!
//! This crate ports the API of the Python `redis_manager` module (its `RedisManager` class, the
//! global `redis_manager` instance, and the patterns it documents: caching, sessions, rate
//! limiting, distributed locks, pub/sub). This page maps each Python call to its Rust
//! counterpart, one table per area, and says where the two behave differently and why.
//!
//! The short version: the names, the environment variables, the key layouts and the graceful
//! fallback defaults are the same; keyword arguments become option values
//! ([`SetOptions`](crate::SetOptions)) or separate methods; `None`-returning calls return
//! `Option`; and the patterns are library types rather than code to copy. Every code block
//! below is compiled as a test.
//!
//! # Configuration and the environment
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `from core.redis_manager import redis_manager` | [`redis_manager()`](crate::redis_manager()) | A function returning `&'static RedisManager`, built on first use from [`Config::from_env`](crate::Config::from_env). An invalid environment (say `REDIS_PORT=abc`) is logged, without the password, and gives a disabled manager: it never panics. |
//! | `RedisManager()` | [`RedisManager::new(config)`](crate::RedisManager::new) | Takes its configuration explicitly (a [`Config`](crate::Config), a builder or a URL) and is independent of the global one: it has its own pool. The Python class is a singleton. Note that [`Config::default`](crate::Config::default) and [`Config::builder`](crate::Config::builder) give an *enabled* config (a config built in code is meant to be used); only `Config::from_env` follows `ENABLE_REDIS`, which defaults to disabled as in Python. |
//! | `ENABLE_REDIS`, `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`, `REDIS_PASSWORD`, `REDIS_USERNAME`, `REDIS_MAX_CONNECTIONS`, `REDIS_SOCKET_TIMEOUT`, `REDIS_SOCKET_CONNECT_TIMEOUT` | the same variables, read by [`Config::from_env`](crate::Config::from_env) | Same names and defaults (`localhost`, `6379`, db `0`, 10 connections, 5.0 s timeouts). Values are checked at startup, even while Redis is disabled, and a bad one is a [`ConfigError`](crate::ConfigError) naming the variable. `REDIS_SOCKET_TIMEOUT=0` means no response timeout. |
//! | — | `REDIS_URL`, `REDIS_TLS` and `REDIS_TLS_*`, `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS` and the other [`config::env`](crate::config::env) variables | Additions: a URL instead of the separate fields, TLS, Redis Cluster and Sentinel. |
//!
//! ```no_run
//! use redis_manager::{Config, RedisManager, redis_manager};
//!
//! # async fn demo() -> Result<(), redis_manager::ConfigError> {
//! // Python: from core.redis_manager import redis_manager
//! let global = redis_manager();
//!
//! // Python: custom_redis = RedisManager()  (configured from the environment)
//! let custom = RedisManager::new(Config::from_env()?);
//!
//! // Or configured in code, starting from the environment:
//! let tuned = RedisManager::new(Config::from_env()?.into_builder().max_connections(32));
//! # let _ = (global, custom, tuned); Ok(()) }
//! ```
//!
//! # Connection management
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `await redis_manager.initialize()` → `bool` | [`redis.initialize().await`](crate::RedisManager::initialize) → `bool` | Same answer. But after a failed `initialize` the Python manager stays disabled for good; here it keeps probing in the background and turns itself on when Redis answers (and again after any later outage). Calling it again, or from several tasks at once, reuses one client. |
//! | `redis_manager.is_enabled()` | [`redis.is_enabled()`](crate::RedisManager::is_enabled) | Reads a flag: no I/O. It is true when Redis is enabled and answered the last operation or probe, so it can turn false (and back to true) while the program runs. |
//! | `await redis_manager.disconnect()` | [`redis.disconnect().await`](crate::RedisManager::disconnect) | Idempotent; also closes clients obtained from `get_client` and stops the background probing. `initialize` may be called again afterwards. |
//! | `redis_manager.get_client()` → `Redis \| None` | [`redis.get_client()`](crate::RedisManager::get_client) → `Option<Client>` | See [Using the client directly](#using-the-client-directly). |
//!
//! ```no_run
//! use redis_manager::redis_manager;
//!
//! # async fn demo() {
//! let redis = redis_manager();
//! if !redis.initialize().await {
//!     // Disabled, or not reachable yet: operations return their defaults meanwhile,
//!     // and `is_enabled()` turns true by itself once Redis answers.
//! }
//! if redis.is_enabled() {
//!     redis.set("key", "value").await;
//! }
//! redis.disconnect().await;
//! # }
//! ```
//!
//! # Basic operations
//!
//! Every operation takes `&str` keys and is `async`; none returns an error (see
//! [Graceful fallback](#graceful-fallback)).
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `get(key)` → `str \| None` | [`get(key)`](crate::RedisManager::get) → `Option<String>` | A value that is not valid UTF-8 is `None` (and logged), never a lossy string; read bytes with the client's `get`. |
//! | `set(key, value)` | [`set(key, value)`](crate::RedisManager::set) | `value` is anything [`ToArg`](crate::resp::ToArg): `&str`, `String`, integers, floats, bytes. |
//! | `set(key, value, ex=3600)` | [`set_with(key, value, SetOptions::new().ex(3600))`](crate::RedisManager::set_with) | Keyword arguments become a [`SetOptions`](crate::SetOptions) value, the same type the client's `set_with` takes. |
//! | `set(key, value, px=1500)` | `set_with(key, value, SetOptions::new().px(1500))`, or `.ttl(Duration)` | `ttl` takes a `Duration` and sends `PX` in whole milliseconds (at least 1). |
//! | `set(key, value, nx=True)` / `xx=True` | `set_with(key, value, SetOptions::new().nx())` / `.xx()` | Returns `false` when the condition prevented the write, as in Python. |
//! | `set(key, value, ex=1, px=1000)` | not expressible | `SetOptions` holds one expiry and one condition; setting a second expiry replaces the first. Python passes both and Redis refuses the command. |
//! | — | `SetOptions::new().keep_ttl()`, `.exat(unix_secs)`, `.pxat(unix_ms)` | Additions: `KEEPTTL`, `EXAT`, `PXAT`. |
//! | `delete("k")` | [`delete("k")`](crate::RedisManager::delete) or [`delete_one("k")`](crate::RedisManager::delete_one) | Returns `i64`, the number deleted. |
//! | `delete("a", "b", "c")` | `delete(["a", "b", "c"])` | Rust has no variadic arguments: `delete` takes one key or an array, slice or `Vec` of keys (anything [`Keys`](crate::manager::Keys)), by value or by reference. An empty list does no I/O and returns 0. |
//! | `exists(key)` → `bool` | [`exists(key)`](crate::RedisManager::exists) → `bool` | Same. |
//! | `expire(key, 300)` → `bool` | [`expire(key, 300)`](crate::RedisManager::expire) → `bool` | Seconds as `i64`; `false` when the key does not exist. |
//! | `ttl(key)` → `int` | [`ttl(key)`](crate::RedisManager::ttl) → `i64` | Same codes: `-1` no expiry, `-2` missing. `-2` is also the answer on error or while Redis is unavailable. |
//!
//! ```no_run
//! use redis_manager::{SetOptions, redis_manager};
//!
//! # async fn demo() {
//! let redis = redis_manager();
//! redis.set("session:abc123", "user_data").await;
//! redis.set_with("temp:token", "xyz789", SetOptions::new().ex(3600)).await;
//! let first = redis.set_with("unique:id", "123", SetOptions::new().nx()).await;
//! let updated = redis.set_with("existing:key", "new_value", SetOptions::new().xx()).await;
//!
//! let one = redis.delete("temp:data").await;
//! let many = redis.delete(["key1", "key2", "key3"]).await;
//!
//! if redis.exists("user:123").await {
//!     let user = redis.get("user:123").await;
//!     # let _ = user;
//! }
//! redis.expire("session:abc123", 300).await;
//! match redis.ttl("session:abc123").await {
//!     -1 => println!("never expires"),
//!     -2 => println!("does not exist"),
//!     secs => println!("expires in {secs} s"),
//! }
//! # let _ = (first, updated, one, many); }
//! ```
//!
//! # Counters and hashes
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `incr(key)` | [`incr(key, 1)`](crate::RedisManager::incr) → `Option<i64>` | The amount is not optional: Rust has no default arguments. `None` on error, as in Python. |
//! | `incr(key, 5)` | `incr(key, 5)` | Sent as `INCRBY` for every amount. Never retried when the outcome is unknown (a connection lost after sending): `None` rather than risking a double increment. |
//! | `hset(name, "field", "value")` | [`hset(name, "field", "value")`](crate::RedisManager::hset) → `i64` | Returns the number of fields *added* (0 when the field existed), as in Python. |
//! | `hset(name, mapping={...})` | [`hset_mapping(name, [("f", "v"), ...])`](crate::RedisManager::hset_mapping) → `i64` | A separate method, since Rust has no keyword arguments: takes an array or `Vec` of pairs, or a map. Python's `hset(name, key, value, mapping=...)` in one call becomes two calls. An empty mapping does no I/O and returns 0. |
//! | `hget(name, key)` → `str \| None` | [`hget(name, field)`](crate::RedisManager::hget) → `Option<String>` | As `get`: non-UTF-8 is `None`. |
//!
//! ```no_run
//! use redis_manager::redis_manager;
//!
//! # async fn demo() {
//! let redis = redis_manager();
//! let views = redis.incr("page:views", 1).await;
//! let calls = redis.incr("api:calls", 5).await;
//!
//! redis.hset("user:123", "name", "John Doe").await;
//! redis
//!     .hset_mapping(
//!         "user:123",
//!         [("email", "john@example.com"), ("age", "30"), ("status", "active")],
//!     )
//!     .await;
//! let email = redis.hget("user:123", "email").await;
//! # let _ = (views, calls, email); }
//! ```
//!
//! # JSON
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `set_json(key, value, ex=3600)` | [`set_json(key, &value, SetOptions::new().ex(3600))`](crate::RedisManager::set_json) → `bool` | `value` is anything `serde::Serialize`; the options are always passed (`SetOptions::new()` for none). Python stores `json.dumps(value)`, Rust `serde_json`'s compact form: both read each other's JSON. |
//! | `get_json(key)` → `Any \| None` | [`get_json::<T>(key)`](crate::RedisManager::get_json) → `Option<T>` | Typed: decodes into any `serde::Deserialize` type (`serde_json::Value` for "anything"). A value that does not decode into `T` is `None`, and logged. |
//! | stored JSON `null`: `get_json` → `None` | `get_json::<Value>` → `Some(Value::Null)`; `get_json::<Option<T>>` → `Some(None)` | Python cannot tell a stored `null` from a missing key; Rust can. Ask for `Option<T>` and a stored `null` is `Some(None)` while a missing key is `None`. With a plain struct `T`, a stored `null` does not decode: `None`, logged as a decode error. |
//!
//! ```no_run
//! use redis_manager::{SetOptions, redis_manager};
//! use serde_json::{Value, json};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Profile { name: String }
//!
//! # async fn demo() {
//! let redis = redis_manager();
//! let user = json!({"id": 123, "name": "John Doe", "tags": ["admin", "developer"]});
//! redis.set_json("user:123:profile", &user, SetOptions::new().ex(3600)).await;
//!
//! // Typed, or untyped with serde_json::Value:
//! let typed: Option<Profile> = redis.get_json("user:123:profile").await;
//! let untyped: Option<Value> = redis.get_json("user:123:profile").await;
//!
//! // A stored null, told apart from a missing key:
//! redis.set_json("maybe", &Value::Null, SetOptions::new()).await;
//! match redis.get_json::<Option<Profile>>("maybe").await {
//!     Some(Some(profile)) => println!("{}", profile.name),
//!     Some(None) => println!("stored null"),
//!     None => println!("missing (or Redis unavailable)"),
//! }
//! # let _ = (typed, untyped); }
//! ```
//!
//! # Caching (cache-aside)
//!
//! The Python module documents caching as a pattern to copy (`get_json`, then on a miss load
//! and `set_json`). Rust has it as one method.
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `get_user_with_cache(user_id)` (the pattern) | [`get_or_set_json(key, ttl, loader)`](crate::RedisManager::get_or_set_json) → `Result<T, E>` | Concurrent misses of one key in this process call the loader once and share its value (no stampede on a hot key). The loader's error is returned to its caller and not cached. With Redis unavailable, it just calls the loader. |
//! | `if cached_user:` treats `{}`, `0`, `""` as misses | any value that decodes into `T` is a hit | Falsy values are values. |
//! | a `None` from the database is never cached | with `T = Option<U>`, a loader's `Ok(None)` is stored as `null` and served for `ttl` | Negative caching: a missing row is not looked up again until the entry expires. If you want Python's behaviour (look it up every time), make the loader return a non-`Option` `T` and report "not found" as its error. |
//! | a cached value that no longer decodes | treated as a miss and overwritten | For schema changes. |
//!
//! ```no_run
//! use std::time::Duration;
//! use redis_manager::redis_manager;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct User { name: String }
//! # async fn load_user_from_db(_: &str) -> Result<Option<User>, std::io::Error> { Ok(None) }
//!
//! # async fn demo(user_id: &str) -> Result<(), std::io::Error> {
//! let user: Option<User> = redis_manager()
//!     .get_or_set_json(&format!("user:{user_id}"), Duration::from_secs(3600), || {
//!         load_user_from_db(user_id)
//!     })
//!     .await?;
//! # let _ = user; Ok(()) }
//! ```
//!
//! # Sessions
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `SessionManager.create_session(user_id, data)` → `str` | [`SessionManager::global().create_session(user_id, data)`](crate::SessionManager::create_session) → `Option<String>` | `None` when nothing was stored: Python returned an id even with Redis down, for a session that did not exist. `data` is a `serde_json::Value` (normally an object). |
//! | `{"user_id": ..., "created_at": ..., **data}` | `user_id` and `created_at` always win over fields of `data` | In Python, caller data could overwrite `user_id`. `created_at` is Unix seconds with a fraction in both. |
//! | `str(uuid.uuid4())` ids | 32 hex characters, 128 bits from the OS generator | No weaker fallback: if the OS generator fails, no session is created. Stored with `NX`, so a collision never overwrites a session. |
//! | `get_session(id)` → `dict \| None` | [`get_session(id)`](crate::SessionManager::get_session) → `Option<Value>` | Same. |
//! | `delete_session(id)` → `bool` | [`delete_session(id)`](crate::SessionManager::delete_session) → `bool` | Same. |
//! | 24 h, fixed | [`DEFAULT_SESSION_TTL`](crate::manager::DEFAULT_SESSION_TTL), [`with_ttl`](crate::SessionManager::with_ttl), [`refresh_session`](crate::SessionManager::refresh_session) | Additions: another lifetime, and sliding expiry. |
//! | static methods on the global manager | [`SessionManager::global()`](crate::SessionManager::global) or [`SessionManager::new(&manager)`](crate::SessionManager::new) | Any manager can hold sessions. Logs show `session:***`, never the id: it is a bearer credential. |
//!
//! The stored form is the same (`session:{id}`, a JSON object with `user_id` and
//! `created_at`), so Python and Rust processes can read each other's sessions.
//!
//! ```no_run
//! use redis_manager::SessionManager;
//! use serde_json::json;
//!
//! # async fn demo() {
//! let sessions = SessionManager::global();
//! if let Some(id) = sessions.create_session("user-42", json!({"role": "admin"})).await {
//!     let session = sessions.get_session(&id).await;
//!     sessions.delete_session(&id).await;
//!     # let _ = session;
//! }
//! # }
//! ```
//!
//! # Rate limiting
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `RateLimiter.check_rate_limit(identifier, max_requests=100, window_seconds=3600)` → `bool` | [`RateLimiter::new(manager, 100, Duration::from_secs(3600))`](crate::manager::RateLimiter::new), then [`check_rate_limit(identifier)`](crate::manager::RateLimiter::check_rate_limit) → [`RateLimitDecision`](crate::manager::RateLimitDecision) | The limit and window belong to the limiter, not to each call. The decision says `allowed`, `remaining`, `retry_after` and whether it was a `fallback`. |
//! | a pipeline from the client (a `MULTI`/`EXEC` transaction in redis-py): `ZREMRANGEBYSCORE`, `ZADD`, `ZCARD`, `EXPIRE` | one Lua script | A script can decide inside Redis: it adds the request only when it is under the limit, reading the server's clock. A transaction can only add first and let the client count afterwards. |
//! | member `str(int(time.time()))` | a member unique per request | In Python, all the requests of one second are one member, so they count once. |
//! | denied requests are added too | denied requests are not counted | A client hammering a closed window does not keep it closed. |
//! | each client's clock | the server's clock (`TIME`) | Clients whose clocks disagree share one window. |
//! | allow when Redis is unavailable | allow by default; [`fail_closed()`](crate::manager::RateLimiter::fail_closed) denies | [`FailurePolicy`](crate::manager::FailurePolicy), for limits that protect something more important than availability. |
//!
//! **A Python and a Rust limiter cannot share a key.** Both use `rate_limit:{identifier}`, but
//! the Python pattern scores members in *seconds* and the Rust script in *microseconds*. The
//! Rust script removes every member scored below `now − window` in microseconds, which is
//! every member Python wrote (a Unix time in seconds is a far smaller number), so it ignores
//! and deletes Python's requests; Python removes members scored below `now − window` in
//! seconds, which no Rust member is, so it counts every Rust request until the key expires.
//! While both kinds of processes run, give the Rust limiter other identifiers (the key is
//! always `rate_limit:` followed by the identifier, so prefix the identifier, e.g.
//! `"v2:user:123"`), or keep Python's algorithm on the Rust side with a pipeline (shown under
//! [Using the client directly](#using-the-client-directly)) until the Python side is gone.
//!
//! ```no_run
//! use std::time::Duration;
//! use redis_manager::redis_manager;
//! use redis_manager::manager::RateLimiter;
//!
//! # fn reject(_: Option<Duration>) {}
//! # async fn demo() {
//! let limiter = RateLimiter::new(redis_manager(), 100, Duration::from_secs(3600));
//! let decision = limiter.check_rate_limit("user:123").await;
//! if !decision.allowed {
//!     reject(decision.retry_after);
//! }
//! // Closed when Redis cannot be asked, for a login limit:
//! let logins = RateLimiter::new(redis_manager(), 5, Duration::from_secs(60)).fail_closed();
//! # let _ = logins; }
//! ```
//!
//! # Distributed locks
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `DistributedLock(key, timeout=30)` | [`DistributedLock::new(manager, name).lease(..).wait(..)`](crate::manager::DistributedLock::new) | Python's one `timeout` is both how long the lock is held (`EX`) and how long `acquire` keeps trying; here they are two settings, the *lease* and the *wait*, both 10 s by default ([`DEFAULT_LEASE`](crate::manager::DEFAULT_LEASE), [`DEFAULT_WAIT`](crate::manager::DEFAULT_WAIT)), like Python's `timeout=10`. To port `timeout=30` exactly, set both to 30 s; usually the lease should be the longest the work may take and the wait what the caller can afford. |
//! | `async with DistributedLock(...):` | [`lock.with_lock(\|fence\| async move { ... }).await`](crate::manager::DistributedLock::with_lock) | Released on every exit path, including a panic or a dropped future. |
//! | `await lock.acquire()` → `bool` | [`lock.acquire().await`](crate::manager::DistributedLock::acquire) → `Result<LockGuard, LockError>` | The guard releases on drop. The error says why: [`NotAcquired`](crate::manager::LockError::NotAcquired) (held by someone else for the whole wait) or [`Unavailable`](crate::manager::LockError::Unavailable) (Redis could not be asked; returned at once, an outage is not waited out). |
//! | `await lock.release()` → `bool` | [`guard.release().await`](crate::manager::LockGuard::release) → `Result<bool, Error>` | Same compare-and-delete script: `false` when the lease had run out, and then nothing is deleted. |
//! | `self.identifier = str(uuid.uuid4())`, one per lock object | a new random token for every acquisition, from the OS generator | One `DistributedLock` can be shared (cloned) by competing tasks. |
//! | — | [`fencing_token()`](crate::manager::LockGuard::fencing_token), [`extend`](crate::manager::LockGuard::extend), [`watchdog(true)`](crate::manager::DistributedLock::watchdog) | Additions: a number that grows with every acquisition, for the protected resource to reject a holder whose lease ran out; renewing the lease. |
//! | retry every 1 ms | exponential backoff with jitter (5 ms to 200 ms, [`retry_delays`](crate::manager::DistributedLock::retry_delays)) | Less load on Redis while waiting; a release by a task of the same process wakes its waiters at once. |
//!
//! The lock key is the same (`lock:{name}`, holding the holder's token, with `SET NX` and an
//! expiry), and release compares the token in both, so Python and Rust processes exclude each
//! other on the same lock. One caveat: only Rust acquisitions increment the fence counter, so
//! fencing tokens order Rust holders only; a Python holder has none.
//!
//! ```no_run
//! use std::time::Duration;
//! use redis_manager::redis_manager;
//! use redis_manager::manager::{DistributedLock, LockError};
//!
//! # async fn process_critical_resource(_fence: u64) {}
//! # async fn demo() -> Result<(), LockError> {
//! // Python: async with DistributedLock("resource:123", timeout=30):
//! let lock = DistributedLock::new(redis_manager(), "resource:123")
//!     .lease(Duration::from_secs(30))
//!     .wait(Duration::from_secs(30));
//! lock.with_lock(|fence| async move {
//!     process_critical_resource(fence).await;
//! })
//! .await?;
//!
//! // Or by hand:
//! let guard = lock.acquire().await?;
//! process_critical_resource(guard.fencing_token()).await;
//! let still_ours = guard.release().await;
//! # let _ = still_ours; Ok(()) }
//! ```
//!
//! # Pub/sub
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `PubSubManager.publish(channel, message)` → `None` | [`PubSubManager::new(manager).publish(channel, &message)`](crate::manager::PubSubManager::publish) → `i64` | Returns the number of subscribers that received it (0 also when Redis is unavailable, logged). The payload is JSON, as in Python, so the two interoperate. |
//! | `await PubSubManager.subscribe(channels, handler)` blocks for ever | [`subscribe(&channels, handler).await`](crate::manager::PubSubManager::subscribe) → `Result<Subscription, Error>` | Returns once the server confirmed the subscription, with a [`Subscription`](crate::manager::Subscription) handle; the handler runs in a background task. **Keep the handle**: dropping it stops the subscription (it is `#[must_use]`); [`stop().await`](crate::manager::Subscription::stop) stops it and waits. |
//! | `async def handler(channel, data: dict)` | `Fn(String, T) -> impl Future` returning `()` or `Result<(), E>` | `T` is any `serde::Deserialize` type (`serde_json::Value` for a dict). Messages are handled one at a time, in order. A handler error or panic, and a payload that does not decode, are logged and the next message is handled, like Python's `try/except`. |
//! | no client: `subscribe` returns at once, having done nothing | disabled manager: `Err(Error::Closed)`; enabled but Redis down: a pending `Subscription` that starts by itself when Redis returns | [`Subscription::started_late`](crate::manager::Subscription::started_late) says so. After a reconnect the subscriptions are restored by themselves, and the gap is logged. |
//! | — | [`psubscribe`](crate::manager::PubSubManager::psubscribe) | Addition: glob patterns. |
//!
//! ```no_run
//! use redis_manager::redis_manager;
//! use redis_manager::manager::PubSubManager;
//! use serde_json::{Value, json};
//!
//! # async fn demo() -> redis_manager::Result<()> {
//! let pubsub = PubSubManager::new(redis_manager());
//! let subscription = pubsub
//!     .subscribe(&["notifications"], |channel: String, data: Value| async move {
//!         println!("Received notification on {channel}: {data}");
//!     })
//!     .await?;
//! pubsub
//!     .publish("notifications", &json!({"type": "user_login", "user_id": 123}))
//!     .await;
//! // ... for as long as messages should be handled; then:
//! subscription.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Graceful fallback
//!
//! As in Python, the manager's operations never fail: on an error, or while Redis is disabled
//! or unavailable, each returns a default and logs the error once (through `tracing`, at
//! `WARN`, with the operation and the key, never a value or a password).
//!
//! | operation | default | note |
//! |---|---|---|
//! | `get`, `hget`, `get_json` | `None` | |
//! | `set`, `set_with`, `set_json` | `false` | also `false` when `NX`/`XX` prevented the write |
//! | `delete`, `delete_one` | `0` | |
//! | `exists`, `expire` | `false` | |
//! | `ttl` | `-2` | the same as "the key does not exist" |
//! | `incr` | `None` | |
//! | `hset`, `hset_mapping` | `0` | |
//! | `get_or_set_json` | the loader's result | Redis errors are logged, never returned |
//! | `SessionManager::create_session` / `get_session` / `delete_session` | `None` / `None` / `false` | |
//! | `RateLimiter::check_rate_limit` | allowed (or denied after `fail_closed`), with `fallback: true` | |
//! | `DistributedLock::acquire` | `Err(LockError::Unavailable(..))` | never "acquired" |
//! | `PubSubManager::publish` | `0` | |
//! | `get_client` | `None` | |
//!
//! The difference is speed and recovery: while Redis is known to be down, operations return
//! their defaults at once, without a timeout per call, and one background task probes the
//! server until it answers; then `is_enabled()` turns true again. Python's manager, once
//! disabled by a failed `initialize`, stays disabled.
//!
//! # Using the client directly
//!
//! | Python | Rust | difference and why |
//! |---|---|---|
//! | `client = redis_manager.get_client()` | [`redis.get_client()`](crate::RedisManager::get_client) → `Option<Client>` | `None` while the manager is disabled or Redis is down. The [`Client`](crate::Client) is cheap to clone and returns errors ([`Result`](crate::Result)) instead of defaults. |
//! | `await client.set(k, v)`, `client.zadd(...)`, ... | `client.set(k, v).await?` with `use redis_manager::prelude::*;` | Typed commands are methods of the command-group traits in the [`prelude`](crate::prelude); each has its reply type. [`cmd("ANY")`](crate::cmd()) for the rest. |
//! | `client.pipeline()...execute()` | [`Pipeline::atomic()`](crate::Pipeline::atomic), queue, then [`execute(&client)`](crate::Pipeline::execute) or [`query::<T>(&client)`](crate::Pipeline::query) | redis-py's `pipeline()` is a `MULTI`/`EXEC` transaction by default; [`Pipeline::new()`](crate::Pipeline::new) is not (use it when you only want one round trip), `Pipeline::atomic()` is. `query` converts the replies into a tuple. |
//! | `await client.eval(script, 1, key, arg)` | [`Script::new(code).key(key).arg(arg).invoke::<T>(&client)`](crate::Script) | Runs by `EVALSHA`, loading the script again after `NOSCRIPT`. |
//! | `client.publish(channel, payload)` | `client.publish(channel, payload)` | The raw payload, not JSON-encoded; a [`Subscriber`](crate::cmd::Subscriber) for raw subscriptions. |
//!
//! ```no_run
//! use std::time::{SystemTime, UNIX_EPOCH};
//! use redis_manager::prelude::*;
//! use redis_manager::{Pipeline, Script, redis_manager};
//!
//! # async fn demo() -> redis_manager::Result<()> {
//! if let Some(client) = redis_manager().get_client() {
//!     // Python: await client.pipeline().set("key1", "value1").set("key2", "value2").execute()
//!     let mut pipe = Pipeline::atomic();
//!     pipe.set("key1", "value1").set("key2", "value2");
//!     pipe.execute(&client).await?;
//!
//!     // Python's rate-limit pattern, unchanged (scores and members in seconds, denied
//!     // requests counted too), for a key that Python processes share.
//!     let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
//!     let (window, key) = (3600_u64, "rate_limit:user:123");
//!     let mut pipe = Pipeline::atomic();
//!     pipe.zremrangebyscore(key, 0, now.saturating_sub(window))
//!         .zadd(key, &[(now as f64, now)])
//!         .zcard(key)
//!         .expire(key, window as i64);
//!     let (_, _, count, _): (i64, i64, i64, bool) = pipe.query(&client).await?;
//!     let allowed = count <= 100;
//!
//!     // Python: await client.eval(lua_script, 1, key, identifier)
//!     let release = Script::new(
//!         "if redis.call('get', KEYS[1]) == ARGV[1] then \
//!              return redis.call('del', KEYS[1]) else return 0 end",
//!     );
//!     let deleted: i64 = release.key("lock:resource:123").arg("token").invoke(&client).await?;
//!     # let _ = (allowed, deleted);
//! }
//! # Ok(()) }
//! ```
