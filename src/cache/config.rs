//! [`CacheConfig`]: what a client caches, in how much memory, for how long.

use std::time::Duration;

/// A read command client-side caching can serve from memory.
///
/// Only these are cached: each is a read with no side effect whose reply depends on its
/// keys alone, so a reply stays right until the server says one of those keys changed.
/// Never cached: writes (they change what is cached, and drop this client's copies of their
/// keys at once), commands whose replies depend on time or chance (`TTL`, `PTTL`,
/// `RANDOMKEY`, `SRANDMEMBER`, `HRANDFIELD`, `SPOP`, ...), `GETEX`/`GETDEL`/`GETSET` (they
/// write), blocking commands, scripts, `SCAN` and its kind (a cursor is not a value),
/// commands without keys (`INFO`, `DBSIZE`, `KEYS`), and multi-key forms other than `MGET`
/// (`EXISTS a b` is sent each time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CachedCommand {
    /// `GET key`.
    Get,
    /// `MGET key...`: each key's value is cached on its own; a call is a hit when every key
    /// hits.
    Mget,
    /// `STRLEN key`.
    Strlen,
    /// `EXISTS key`, one key.
    Exists,
    /// `HGET key field`.
    Hget,
    /// `HMGET key field...`.
    Hmget,
    /// `HGETALL key`.
    Hgetall,
    /// `LRANGE key start stop`.
    Lrange,
    /// `SMEMBERS key`.
    Smembers,
    /// `ZSCORE key member`.
    Zscore,
}

impl CachedCommand {
    /// Every cacheable command.
    pub const ALL: [CachedCommand; 10] = [
        CachedCommand::Get,
        CachedCommand::Mget,
        CachedCommand::Strlen,
        CachedCommand::Exists,
        CachedCommand::Hget,
        CachedCommand::Hmget,
        CachedCommand::Hgetall,
        CachedCommand::Lrange,
        CachedCommand::Smembers,
        CachedCommand::Zscore,
    ];

    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            CachedCommand::Get => "GET",
            CachedCommand::Mget => "MGET",
            CachedCommand::Strlen => "STRLEN",
            CachedCommand::Exists => "EXISTS",
            CachedCommand::Hget => "HGET",
            CachedCommand::Hmget => "HMGET",
            CachedCommand::Hgetall => "HGETALL",
            CachedCommand::Lrange => "LRANGE",
            CachedCommand::Smembers => "SMEMBERS",
            CachedCommand::Zscore => "ZSCORE",
        }
    }

    /// The command named `name`, in any case.
    pub(crate) fn of(name: &[u8]) -> Option<CachedCommand> {
        // The length first: one comparison for most names that are not cached.
        let candidates: &[CachedCommand] = match name.len() {
            3 => &[CachedCommand::Get],
            4 => &[CachedCommand::Mget, CachedCommand::Hget],
            5 => &[CachedCommand::Hmget],
            6 => &[
                CachedCommand::Exists,
                CachedCommand::Strlen,
                CachedCommand::Lrange,
                CachedCommand::Zscore,
            ],
            7 => &[CachedCommand::Hgetall],
            8 => &[CachedCommand::Smembers],
            _ => return None,
        };
        candidates
            .iter()
            .copied()
            .find(|c| c.name().as_bytes().eq_ignore_ascii_case(name))
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The number of words (name included) a cacheable call has; `None`: at least `min`.
    pub(crate) fn arity(self) -> (usize, bool) {
        match self {
            CachedCommand::Get
            | CachedCommand::Strlen
            | CachedCommand::Exists
            | CachedCommand::Hgetall
            | CachedCommand::Smembers => (2, false),
            CachedCommand::Hget | CachedCommand::Zscore => (3, false),
            CachedCommand::Lrange => (4, false),
            CachedCommand::Hmget => (3, true),
            CachedCommand::Mget => (2, true),
        }
    }
}

/// How the server tracks what this client may have cached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrackingMode {
    /// The server remembers the keys each read touched and invalidates exactly those
    /// (`CLIENT TRACKING ON`). The default.
    #[default]
    Default,
}

/// Client-side caching settings: opt in with
/// [`ConfigBuilder::cache`](crate::config::ConfigBuilder::cache).
///
/// The cache holds replies of the [`CachedCommand`]s run on a [`Client`](crate::Client)
/// (and so on a [`RedisManager`](crate::RedisManager)), within `max_bytes`, evicting the
/// least recently hit first; the server tells the client when a cached key changes (RESP3
/// tracking, set up on every connect), and the entry is dropped at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_manager::config::{CacheConfig, CachedCommand, Config};
///
/// let config = Config::builder()
///     .cache(
///         CacheConfig::new(64 << 20)
///             .max_age(Duration::from_secs(60))
///             .commands([CachedCommand::Get, CachedCommand::Hget]),
///     )
///     .build()?;
/// assert_eq!(config.cache().map(|c| c.max_bytes()), Some(64 << 20));
/// # Ok::<(), redis_manager::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    max_bytes: usize,
    max_age: Option<Duration>,
    commands: u16,
    mode: TrackingMode,
}

/// The default memory budget: 64 MiB.
pub const DEFAULT_CACHE_MAX_BYTES: usize = 64 << 20;

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::new(DEFAULT_CACHE_MAX_BYTES)
    }
}

impl CacheConfig {
    /// Caches every [`CachedCommand`] within `max_bytes` (keys, values and bookkeeping
    /// counted), with no age limit.
    pub fn new(max_bytes: usize) -> CacheConfig {
        CacheConfig {
            max_bytes,
            max_age: None,
            commands: CachedCommand::ALL.iter().fold(0, |m, c| m | c.bit()),
            mode: TrackingMode::Default,
        }
    }

    /// Drops an entry this long after it was stored, even if no invalidation came: a bound
    /// on staleness should an invalidation ever be lost.
    pub fn max_age(mut self, max_age: Duration) -> CacheConfig {
        self.max_age = Some(max_age);
        self
    }

    /// Caches only these commands.
    pub fn commands(mut self, commands: impl IntoIterator<Item = CachedCommand>) -> CacheConfig {
        self.commands = commands.into_iter().fold(0, |m, c| m | c.bit());
        self
    }

    /// How the server tracks this client's reads.
    pub fn mode(mut self, mode: TrackingMode) -> CacheConfig {
        self.mode = mode;
        self
    }

    /// The memory budget in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The age limit of an entry, if any.
    pub fn max_age_limit(&self) -> Option<Duration> {
        self.max_age
    }

    /// True when `command` is cached.
    pub fn caches(&self, command: CachedCommand) -> bool {
        self.commands & command.bit() != 0
    }

    /// The tracking mode.
    pub fn tracking_mode(&self) -> &TrackingMode {
        &self.mode
    }
}
