//! The client's counters ([`ClientStats`]) and, with the `metrics` feature, their
//! counterparts through the `metrics` facade.
//!
//! Every counter is a relaxed atomic: a snapshot is a set of independent readings, exact
//! for each counter but not taken at one instant across them. Each event that a counter
//! records also goes to the `metrics` recorder, in the same function, so the two never
//! disagree about what was counted.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use super::Failure;
use crate::error::Error;

/// A snapshot of a client's counters, since it was created, shared by its clones: for
/// services with no metrics stack (with one, enable the `metrics` feature).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) {
/// let s = client.stats();
/// println!("{} commands, {} failed, {} reconnects", s.commands, s.failures(), s.reconnects);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Commands and batches (a pipeline or a transaction counts once) that completed, with
    /// any outcome. A call cancelled before its reply is not counted.
    pub commands: u64,
    /// Of those, the ones answered with an error reply (`ERR`, `WRONGTYPE`, ...).
    pub server_errors: u64,
    /// Of those, the ones that failed in the client: I/O, timeouts, closed connections,
    /// a full pool, the reconnect backoff.
    pub client_errors: u64,
    /// Calls that timed out after their request may have been written: their outcome is
    /// unknown.
    pub timeouts_sent: u64,
    /// Calls that timed out before their request was written (waiting for a connection).
    pub timeouts_unsent: u64,
    /// Connections opened (handshake done), the first ones included.
    pub connects: u64,
    /// Connections opened to a server this client had been connected to before.
    pub reconnects: u64,
    /// Connect attempts that failed (refused, timed out, handshake rejected).
    pub connect_failures: u64,
    /// Waits for an exclusive connection that ran out of the acquire timeout.
    pub pool_timeouts: u64,
    /// `MOVED` redirections followed (cluster).
    pub moved: u64,
    /// `ASK` redirections followed (cluster).
    pub asks: u64,
    /// Cluster slot maps read.
    pub topology_refreshes: u64,
    /// Connections open now and waiting in the pool (exclusive connections not in use).
    pub connections_idle: u64,
    /// Connections open now and in use: the shared connection (while installed, until it
    /// is replaced after a failure) and the exclusive connections taken.
    pub connections_used: u64,
    /// Pub/sub messages dropped because a subscriber's consumer fell behind.
    pub pubsub_dropped: u64,
    /// Subscriber reconnects that subscribed again to everything wanted.
    pub pubsub_resubscribes: u64,
    /// Client-side cache lookups answered from the cache.
    pub cache_hits: u64,
    /// Client-side cache lookups that went to the server.
    pub cache_misses: u64,
    /// Client-side cache entries dropped because the server invalidated them.
    pub cache_invalidations: u64,
    /// Client-side cache entries dropped to stay within the cache's size.
    pub cache_evictions: u64,
    /// Client-side cache misses whose reply the admission policy did not store.
    pub cache_refused: u64,
}

impl ClientStats {
    /// Completed calls that failed, on the server or in the client.
    pub fn failures(&self) -> u64 {
        self.server_errors + self.client_errors
    }
}

/// Shards of the per-command counter: each thread adds to its own cache line, so that
/// tasks on several worker threads do not pass one line back and forth on every command
/// (a cost an instruction count cannot show). A snapshot sums them.
const SHARDS: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard(AtomicU64);

/// This thread's shard, assigned round-robin on its first command.
fn shard() -> usize {
    use std::cell::Cell;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set((NEXT.fetch_add(1, Relaxed) % SHARDS as u64) as usize);
        }
        s.get()
    })
}

/// The live counters behind [`ClientStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    commands: [Shard; SHARDS],
    server_errors: AtomicU64,
    client_errors: AtomicU64,
    timeouts_sent: AtomicU64,
    timeouts_unsent: AtomicU64,
    connects: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    pool_timeouts: AtomicU64,
    moved: AtomicU64,
    asks: AtomicU64,
    topology_refreshes: AtomicU64,
    connections_idle: AtomicI64,
    connections_used: AtomicI64,
    pubsub_dropped: AtomicU64,
    pubsub_resubscribes: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Stats {
    pub(crate) fn snapshot(&self) -> ClientStats {
        let r = |c: &AtomicU64| c.load(Relaxed);
        ClientStats {
            commands: self.commands.iter().map(|s| r(&s.0)).sum(),
            server_errors: r(&self.server_errors),
            client_errors: r(&self.client_errors),
            timeouts_sent: r(&self.timeouts_sent),
            timeouts_unsent: r(&self.timeouts_unsent),
            connects: r(&self.connects),
            reconnects: r(&self.reconnects),
            connect_failures: r(&self.connect_failures),
            pool_timeouts: r(&self.pool_timeouts),
            moved: r(&self.moved),
            asks: r(&self.asks),
            topology_refreshes: r(&self.topology_refreshes),
            connections_idle: self.connections_idle.load(Relaxed).max(0) as u64,
            connections_used: self.connections_used.load(Relaxed).max(0) as u64,
            pubsub_dropped: r(&self.pubsub_dropped),
            pubsub_resubscribes: r(&self.pubsub_resubscribes),
            // The cache keeps its own counts; `Client::stats` copies them in.
            cache_hits: 0,
            cache_misses: 0,
            cache_invalidations: 0,
            cache_evictions: 0,
            cache_refused: 0,
        }
    }

    /// A call completed (any outcome).
    #[inline]
    pub(super) fn command(&self) {
        bump(&self.commands[shard()].0);
    }

    /// A completed call failed.
    pub(super) fn failure(&self, f: &Failure<'_>) {
        match f {
            Failure::Server(_) => bump(&self.server_errors),
            Failure::Client(e) => {
                if e.server_error().is_some() {
                    bump(&self.server_errors);
                    return;
                }
                bump(&self.client_errors);
                if let Error::Timeout { sent, .. } = e {
                    bump(if *sent {
                        &self.timeouts_sent
                    } else {
                        &self.timeouts_unsent
                    });
                    #[cfg(feature = "metrics")]
                    metrics::counter!("redis.client.timeouts", "sent" => if *sent { "true" } else { "false" })
                        .increment(1);
                }
            }
        }
    }

    /// A connection was opened (handshake done).
    pub(crate) fn connected(&self) {
        bump(&self.connects);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.connects").increment(1);
    }

    /// A shared connection was opened again after an earlier one was lost.
    pub(crate) fn reconnected(&self) {
        bump(&self.reconnects);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.reconnects").increment(1);
    }

    /// Connections changed state: `idle` and `used` are the changes of each count
    /// (`db.client.connection.count` by `db.client.connection.state`).
    pub(crate) fn connections(&self, idle: i64, used: i64) {
        if idle != 0 {
            self.connections_idle.fetch_add(idle, Relaxed);
            #[cfg(feature = "metrics")]
            metrics::gauge!("db.client.connection.count", "db.system.name" => "redis", "db.client.connection.state" => "idle")
                .increment(idle as f64);
        }
        if used != 0 {
            self.connections_used.fetch_add(used, Relaxed);
            #[cfg(feature = "metrics")]
            metrics::gauge!("db.client.connection.count", "db.system.name" => "redis", "db.client.connection.state" => "used")
                .increment(used as f64);
        }
    }

    /// A connect attempt failed.
    pub(crate) fn connect_failed(&self) {
        bump(&self.connect_failures);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.connect_failures").increment(1);
    }

    /// Waiting for an exclusive connection took `waited` (`timed_out`: and gave up).
    pub(crate) fn acquired(&self, waited: std::time::Duration, timed_out: bool) {
        if timed_out {
            bump(&self.pool_timeouts);
            #[cfg(feature = "metrics")]
            metrics::counter!("db.client.connection.timeouts", "db.system.name" => "redis")
                .increment(1);
        }
        #[cfg(feature = "metrics")]
        metrics::histogram!("db.client.connection.wait_time", "db.system.name" => "redis")
            .record(waited.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = waited;
    }

    /// A cluster redirection was followed: `ask`, else `MOVED`.
    pub(crate) fn redirected(&self, ask: bool) {
        bump(if ask { &self.asks } else { &self.moved });
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.redirects", "kind" => if ask { "ask" } else { "moved" })
            .increment(1);
    }

    /// A cluster slot map was read.
    pub(crate) fn topology_refreshed(&self) {
        bump(&self.topology_refreshes);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.topology_refreshes").increment(1);
    }

    /// A subscriber's consumer fell behind and `n` messages were dropped.
    pub(crate) fn pubsub_dropped(&self, n: u64) {
        self.pubsub_dropped.fetch_add(n, Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.pubsub.dropped").increment(n);
    }

    /// A subscriber reconnected and subscribed again.
    pub(crate) fn pubsub_resubscribed(&self) {
        bump(&self.pubsub_resubscribes);
        #[cfg(feature = "metrics")]
        metrics::counter!("redis.client.pubsub.resubscribes").increment(1);
    }
}

#[cfg(feature = "metrics")]
pub(super) use timing::{Handles, Timing, op_label, op_label_of};

#[cfg(feature = "metrics")]
mod timing {
    use std::borrow::Cow;
    use std::sync::OnceLock;
    use std::time::Instant;

    use metrics::{Gauge, Histogram};

    use crate::command::Cmd;

    /// The handles of the per-call metrics, registered once: the pending gauge at once,
    /// the success histogram of each common command at its first use. Failures, and
    /// commands outside [`COMMON`], register per call (their labels vary).
    pub(crate) struct Handles {
        pub(crate) pending: Gauge,
        ok: Box<[OnceLock<Histogram>]>,
    }

    impl Default for Handles {
        fn default() -> Handles {
            Handles {
                pending: metrics::gauge!("redis.client.pending_requests"),
                ok: COMMON.iter().map(|_| OnceLock::new()).collect(),
            }
        }
    }

    impl std::fmt::Debug for Handles {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Handles")
        }
    }

    /// A call's operation as a metric label: its index in [`COMMON`] when it is there.
    pub(crate) struct Op {
        index: Option<usize>,
        name: Cow<'static, str>,
    }

    /// The duration of one call.
    pub(crate) struct Timing {
        started: Instant,
        op: Op,
    }

    impl Timing {
        pub(crate) fn start(handles: &Handles, op: Op) -> Timing {
            handles.pending.increment(1.0);
            Timing {
                started: Instant::now(),
                op,
            }
        }

        /// `db.client.operation.duration`, with the outcome's `error.type` and
        /// `db.response.status_code` when it failed.
        pub(crate) fn finish(&self, handles: &Handles, error: Option<&str>, code: Option<&str>) {
            let secs = self.started.elapsed().as_secs_f64();
            let op = self.op.name.clone();
            match (error, code) {
                (None, _) => match self.op.index.and_then(|i| handles.ok.get(i)) {
                    Some(cell) => cell
                        .get_or_init(|| {
                            metrics::histogram!(
                                "db.client.operation.duration",
                                "db.system.name" => "redis",
                                "db.operation.name" => op,
                            )
                        })
                        .record(secs),
                    None => metrics::histogram!(
                        "db.client.operation.duration",
                        "db.system.name" => "redis",
                        "db.operation.name" => op,
                    )
                    .record(secs),
                },
                (Some(e), None) => metrics::histogram!(
                    "db.client.operation.duration",
                    "db.system.name" => "redis",
                    "db.operation.name" => op,
                    "error.type" => e.to_owned(),
                )
                .record(secs),
                (Some(e), Some(c)) => metrics::histogram!(
                    "db.client.operation.duration",
                    "db.system.name" => "redis",
                    "db.operation.name" => op,
                    "error.type" => e.to_owned(),
                    "db.response.status_code" => c.to_owned(),
                )
                .record(secs),
            }
        }
    }

    /// Commands whose label needs no allocation, sorted; any other name is copied (upper
    /// case), or `UNKNOWN` when it does not look like a command name.
    static COMMON: &[&str] = &[
        "APPEND",
        "AUTH",
        "BLMOVE",
        "BLPOP",
        "BRPOP",
        "BZPOPMAX",
        "BZPOPMIN",
        "CLIENT",
        "CLUSTER",
        "CONFIG",
        "DBSIZE",
        "DECR",
        "DECRBY",
        "DEL",
        "DISCARD",
        "ECHO",
        "EVAL",
        "EVALSHA",
        "EXEC",
        "EXISTS",
        "EXPIRE",
        "EXPIREAT",
        "FLUSHALL",
        "FLUSHDB",
        "GEOADD",
        "GET",
        "GETDEL",
        "GETEX",
        "GETRANGE",
        "GETSET",
        "HDEL",
        "HELLO",
        "HEXISTS",
        "HGET",
        "HGETALL",
        "HINCRBY",
        "HINCRBYFLOAT",
        "HKEYS",
        "HLEN",
        "HMGET",
        "HMSET",
        "HSCAN",
        "HSET",
        "HSETNX",
        "HVALS",
        "INCR",
        "INCRBY",
        "INCRBYFLOAT",
        "INFO",
        "KEYS",
        "LINDEX",
        "LLEN",
        "LMOVE",
        "LPOP",
        "LPUSH",
        "LRANGE",
        "LREM",
        "LSET",
        "LTRIM",
        "MGET",
        "MSET",
        "MSETNX",
        "MULTI",
        "PERSIST",
        "PEXPIRE",
        "PFADD",
        "PFCOUNT",
        "PING",
        "PIPELINE",
        "PSETEX",
        "PSUBSCRIBE",
        "PTTL",
        "PUBLISH",
        "RENAME",
        "RPOP",
        "RPUSH",
        "SADD",
        "SCAN",
        "SCARD",
        "SCRIPT",
        "SELECT",
        "SET",
        "SETEX",
        "SETNX",
        "SISMEMBER",
        "SMEMBERS",
        "SPOP",
        "SREM",
        "SSCAN",
        "SUBSCRIBE",
        "TIME",
        "TTL",
        "TYPE",
        "UNLINK",
        "UNWATCH",
        "WATCH",
        "XACK",
        "XADD",
        "XLEN",
        "XRANGE",
        "XREAD",
        "XREADGROUP",
        "ZADD",
        "ZCARD",
        "ZCOUNT",
        "ZINCRBY",
        "ZRANGE",
        "ZRANGEBYSCORE",
        "ZRANK",
        "ZREM",
        "ZREVRANGE",
        "ZSCAN",
        "ZSCORE",
    ];

    /// `db.operation.name` as a metric label.
    pub(crate) fn op_label(cmd: &Cmd) -> Op {
        let name = super::super::operation_name(cmd);
        let mut upper = [0u8; 16];
        if let Some(buf) = upper.get_mut(..name.len()) {
            buf.copy_from_slice(name.as_bytes());
            buf.make_ascii_uppercase();
            if let Ok(i) = COMMON.binary_search_by(|c| c.as_bytes().cmp(buf)) {
                return Op {
                    index: Some(i),
                    name: Cow::Borrowed(COMMON[i]),
                };
            }
        }
        op_label_of(Cow::Owned(name.to_ascii_uppercase()))
    }

    /// A label for an operation known by name (`PIPELINE`, `MULTI`).
    pub(crate) fn op_label_of(name: Cow<'static, str>) -> Op {
        let index = COMMON.binary_search(&&*name).ok();
        Op { index, name }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn common_names_are_sorted() {
            assert!(super::COMMON.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
