//! [`CacheConfig`]: what a client caches, in how much memory, for how long.

use std::time::Duration;

/// A read command client-side caching can serve from memory.
///
/// Only these are cached: each is a read with no side effect whose reply depends on its
/// keys alone, so a reply stays right until the server says one of those keys changed.
///
/// Never cached, and why:
///
/// - writes: they change what is cached, and drop this client's copies of their keys at
///   once (before they are sent, and again when their reply arrives);
/// - replies that depend on time or chance rather than on the keys' contents (`TTL`,
///   `PTTL`, `RANDOMKEY`, `SRANDMEMBER`, `HRANDFIELD`): no invalidation comes when they
///   change;
/// - reads that also write (`GETEX`, `GETDEL`, `GETSET`, `SPOP`);
/// - blocking commands (their reply is an event, not a value);
/// - scripts and functions: the client cannot tell which keys a script read;
/// - `SCAN` and its kind: a cursor is not a value;
/// - commands without keys (`INFO`, `DBSIZE`, `KEYS`), and multi-key forms other than
///   `MGET` (`EXISTS a b` is sent each time);
/// - a raw `cmd("GET").arg(k)` whose key is not marked with [`Cmd::key`](crate::Cmd::key):
///   nothing says which word is the key;
/// - reads in a pipeline, a transaction or on an exclusive connection: a batch is sent
///   whole, and a transaction's reads must see its own writes and its `WATCH`.
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
    /// Broadcast (`CLIENT TRACKING ON BCAST PREFIX p ...`): the server remembers nothing per
    /// client and announces every change of a key starting with one of `prefixes` (all keys
    /// when the list is empty). Only keys under those prefixes are cached. Cheaper for the
    /// server when many clients cache the same keys; each client then hears about every
    /// change under its prefixes, cached or not. Prefixes must not overlap (the server
    /// refuses `a` with `ab`).
    Broadcast {
        /// The key prefixes to cache and hear about.
        prefixes: Vec<Vec<u8>>,
    },
    /// Opt-in (`CLIENT TRACKING ON OPTIN`): the server tracks only the reads this client
    /// asks it to, so a miss is sent as `CLIENT CACHING yes` followed by the read, in one
    /// write; other reads cost the server nothing. On a cluster the two go to the master of
    /// the read's slot (even with reads from replicas on); a read that is redirected, or
    /// whose keys span slots, is sent again alone and not stored. With
    /// [`Admission::Frequent`], the mode for traffic with many keys read once.
    OptIn,
}

impl TrackingMode {
    /// Broadcast mode for these key prefixes.
    pub fn broadcast<P: Into<Vec<u8>>>(prefixes: impl IntoIterator<Item = P>) -> TrackingMode {
        TrackingMode::Broadcast {
            prefixes: prefixes.into_iter().map(Into::into).collect(),
        }
    }

    /// True when `key` may be cached in this mode.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        match self {
            TrackingMode::Broadcast { prefixes } if !prefixes.is_empty() => {
                prefixes.iter().any(|p| key.starts_with(p))
            }
            _ => true,
        }
    }

    /// Two prefixes of which one starts the other, which the server refuses.
    pub(crate) fn overlapping(&self) -> Option<(&[u8], &[u8])> {
        let TrackingMode::Broadcast { prefixes } = self else {
            return None;
        };
        prefixes.iter().enumerate().find_map(|(i, a)| {
            prefixes
                .iter()
                .enumerate()
                .find(|(j, b)| i != *j && b.starts_with(a))
                .map(|(_, b)| (a.as_slice(), b.as_slice()))
        })
    }
}

/// Which misses' replies the cache stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Admission {
    /// Every miss's reply is stored: a key is served from memory from its second read on.
    /// The default.
    #[default]
    Always,
    /// Only replies of keys read often: a small frequency sketch (TinyLFU) counts each key's
    /// recent reads. The reply of a key not read lately is not stored, so a key read once
    /// never costs a store and an eviction, and it is served from memory from its third
    /// read on. Once its share of the cache is full, a reply is stored only when its key is
    /// read more often than the entry it would push out, so a scan of cold keys does not
    /// flush the hot ones. With [`TrackingMode::OptIn`], a read whose reply will not be
    /// stored is sent without `CLIENT CACHING yes`, so the server does not track its key
    /// either: the mode for workloads with many keys read once, where default tracking
    /// costs the server a table entry per key read. The sketch takes at most 1/64 of the
    /// memory budget (and at least 64 bytes), out of the budget.
    Frequent,
}

/// Client-side caching settings: opt in with
/// [`ConfigBuilder::cache`](crate::config::ConfigBuilder::cache).
///
/// The cache holds replies of the [`CachedCommand`]s run on a [`Client`](crate::Client)
/// (and so on a [`RedisManager`](crate::RedisManager)), within `max_bytes`, evicting the
/// least recently hit first; the server tells the client when a cached key changes
/// (tracking, set up on every connect: RESP3 pushes, or over RESP2 a second connection the
/// server redirects them to), and the entry is dropped at once.
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
    admission: Admission,
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
            admission: Admission::Always,
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

    /// Which misses' replies are stored (default: [`Admission::Always`]).
    pub fn admission(mut self, admission: Admission) -> CacheConfig {
        self.admission = admission;
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

    /// The admission policy.
    pub fn admission_policy(&self) -> Admission {
        self.admission
    }
}
