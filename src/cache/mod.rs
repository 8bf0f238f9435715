//! Server-assisted client-side caching: replies of read commands kept in memory, dropped
//! when the server says their keys changed.
//!
//! # Design
//!
//! The cache is a map from a Redis key to a `KeyEntry`: the replies cached for that key,
//! one per *variant* (the command name and its non-key arguments: `GET`, `HGET f1`,
//! `LRANGE 0 9`, ...), split in shards, each behind its own lock and holding its share of
//! the memory budget. Which command is cached, and which of its words is the key, comes
//! from the command value ([`Cmd`]'s name and marked keys); nothing here parses encoded
//! bytes.
//!
//! States of a key: absent, or *cached* (one or more values). Each shard has a
//! `generation`, a counter that every invalidation of any of its keys moves, and so does a
//! flush; no entry is created before there is a value to put in it.
//!
//! Invariants:
//!
//! - **Invalidation removes the whole entry and moves its shard's generation**: a push for
//!   key `K`, a write by this client with `K` marked, a flush. (Eviction for memory or age
//!   removes entries without moving it: those values were not stale.) So "the shard is still
//!   at the generation I saw" means "no key of this shard, `K` included, was invalidated
//!   since".
//! - **The in-flight race.** A miss records its key's shard generation in its `Ticket`,
//!   under the shard's lock, *before* the read is queued; the reply is stored only if the
//!   shard is still at that generation when it arrives (checked under the same lock as the
//!   insert). The server sends the invalidation of a write made after it ran the read on the
//!   same connection, after the read's reply; the connection's task hands it to the cache in
//!   wire order (`PushHook`), but the reader stores its reply later, in its own task. Either
//!   the invalidation came first (generation moved: not stored), or the value is stored and
//!   the invalidation then removes it. Never stored: a stale reply. The price of one counter
//!   per shard instead of a pending entry per key: a reply is also refused when another key
//!   of its shard changed meanwhile (it is read again on the next miss), and a miss costs no
//!   map insert and no later removal.
//! - **RESP2.** Invalidations come on a second connection subscribed to
//!   `__redis__:invalidate` (`REDIRECT`), so they are not ordered with the replies: an
//!   invalidation of a write made after a read ran is still sent after that read's reply,
//!   and is handled before or after the reply is stored; either way the value is gone once
//!   it is handled. When that connection ends, the cache is emptied and the tracked
//!   connection closed (invalidations can no longer reach it); when the tracked one ends,
//!   its invalidation connection is closed with it.
//! - **Connection generations.** Only a connection whose handshake turned tracking on
//!   serves cached reads; while none is up (`live == 0`) reads are neither served nor
//!   stored. When a tracked connection ends (lost, killed, closed for a failover) its hook
//!   empties the whole cache, moving every shard's generation, as soon as the end is known (in
//!   `abort` as well as when its task finishes), before any later request can go to its
//!   replacement: everything read through it may have missed invalidations. A reply of the
//!   old connection that arrives late finds its shard's generation moved by that flush.
//! - **Own writes.** A command of this client that is not a cached read drops its marked
//!   keys before it is sent and again when its reply arrives (a read queued between the two
//!   could otherwise store the value from before the write until the server's push comes).
//!   `FLUSHALL`/`FLUSHDB` empty the cache the same way. This holds on the client's shared
//!   connection, in its pipelines, and on its exclusive connections and transactions (a
//!   `MULTI` sent command by command drops its keys again when `EXEC` has run). Commands
//!   without marked keys (a raw `cmd("SET").arg(..)`) are invalidated by the server's push
//!   only.
//! - **Memory.** A shard's `bytes` counts keys, variants, values and a fixed overhead per
//!   entry and never stays above its budget after an insert: entries are evicted
//!   second-chance (a hit sets `used`; the clock skips a used entry once). A value larger
//!   than the shard's budget is not stored. What is counted is what is held: a stored
//!   payload under 64 KiB is a copy, not a slice that would keep the connection's whole
//!   read buffer alive (`detached`).
//! - A hit returns a clone of the stored [`Frame`]: payloads are reference-counted
//!   immutable bytes, so no caller can change what another reads.
//! - **One hash per key.** A lookup hashes its key once; the shard comes from that hash
//!   (bits 32 and up), the slot in the shard's table from the same hash, and a miss's
//!   ticket keeps it for the store, as does the entry (for the table's growth and for
//!   moves). A shard keeps its entries in a dense vector and its table holds positions in
//!   it: a removal moves the last entry into the hole and repoints its slot
//!   (`Shard::remove_at`). The eviction clock is a hand over those positions (see
//!   `Shard::evict`): nothing is kept per entry for it but `used`.
//! - **Hits before a command is built.** A typed single-key read (`get`, `hget`, ...) on a
//!   client asks `Cache::lookup` with the command's name, key and other arguments before it
//!   builds its [`Cmd`]: the same conditions and the same lookup as `Cache::read` of that
//!   command, so a hit builds nothing and a miss builds the command once, to send it.
//!
//! - **Admission** ([`Admission::Frequent`]; by default every miss is stored). Each shard's
//!   `Sketch` counts the reads of its keys, hits and misses, under the shard's lock. A miss
//!   of a key not read lately gets no ticket (`Lookup::Miss(None)`: a plain read, which in
//!   opt-in mode the server does not track), nor, once the shard is full, one of a key read
//!   less often than the entry the clock would judge next; `evict` then judges a new entry
//!   again against the victim it really found, and drops the newcomer rather than a hotter
//!   entry. Refusing changes nothing for correctness: a read without a ticket stores
//!   nothing.
//!
//! Modes ([`TrackingMode`]): default tracking; broadcast, where the server announces
//! every change under the configured prefixes and only keys under them are cached (the
//! argument above holds: an announcement of a change made after a read still follows that
//! read's reply); opt-in, where a miss is sent as `CLIENT CACHING yes` and the read in one
//! batch, so the two stay adjacent on the connection.
//!
//! What must change together: the invalidation paths (`invalidate`, `Shard::clear`) and the
//! generation check in `store`; `Shard::insert`, `Shard::remove_at` and every reader of
//! the table's positions (`Shard::evict`'s hand among them); `lookup` and `cacheable`
//! (which reads are served); `Shard::admits` and the candidate's test in `Shard::evict`
//! (one policy, at lookup and at store); the handshake's `CLIENT TRACKING` and
//! `PushHook::push`'s parsing of the invalidation message.

use std::hash::BuildHasher;

use foldhash::quality::RandomState;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use hashbrown::HashTable;
use resp_codec::{Frame, Payload, Verbatim};
use smallvec::SmallVec;

pub use crate::config::cache::DEFAULT_CACHE_MAX_BYTES;
pub use crate::config::{Admission, CacheConfig, CachedCommand, TrackingMode};

mod sketch;
use sketch::Sketch;

use crate::command::Cmd;
use crate::connection::{ConnectOptions, Connection, PushHook, Redirect, Tracking, push_channel};
use crate::error::Error;
use futures_core::future::BoxFuture;

/// Bookkeeping charged per key entry and per cached value, on top of their bytes: the
/// entry and its table slot, roughly.
const ENTRY_OVERHEAD: usize = 96;
const VALUE_OVERHEAD: usize = 64;

/// Commands with marked keys that only read, so that running them does not drop this
/// client's cached copies (any other command with marked keys does).
const READS: &[&str] = &[
    "TTL",
    "PTTL",
    "TYPE",
    "EXPIRETIME",
    "PEXPIRETIME",
    "OBJECT",
    "DUMP",
    "GETRANGE",
    "SUBSTR",
    "HLEN",
    "HEXISTS",
    "HKEYS",
    "HVALS",
    "HSTRLEN",
    "HSCAN",
    "HRANDFIELD",
    "LLEN",
    "LINDEX",
    "LPOS",
    "SCARD",
    "SISMEMBER",
    "SMISMEMBER",
    "SRANDMEMBER",
    "SSCAN",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERCARD",
    "ZCARD",
    "ZCOUNT",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGE",
    "ZRANK",
    "ZREVRANK",
    "ZMSCORE",
    "ZSCAN",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "XREAD",
    "XINFO",
    "XPENDING",
    "PFCOUNT",
    "BITCOUNT",
    "BITPOS",
    "GETBIT",
    "EXISTS",
    "MGET",
    "STRLEN",
    "GET",
    "HGET",
    "HMGET",
    "HGETALL",
    "LRANGE",
    "SMEMBERS",
    "ZSCORE",
    "WATCH",
];

/// What a client's cache counted, since it was created.
///
/// `invalidations` counts the keys named by the server's invalidation messages (whether or
/// not they were cached); `flushes` counts the times the whole cache was emptied (a
/// `FLUSHALL`/`FLUSHDB` seen by the server, or a tracked connection lost); `evictions`
/// counts entries dropped for memory or age. `bytes` and `entries` are the current size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Cacheable reads sent to the server.
    pub misses: u64,
    /// Keys named by the server's invalidation messages.
    pub invalidations: u64,
    /// Entries dropped to stay within the memory budget or the age limit.
    pub evictions: u64,
    /// Misses whose reply was not stored because the admission policy
    /// ([`Admission::Frequent`]) found its key read too rarely; always 0 with
    /// [`Admission::Always`].
    pub refused: u64,
    /// Times the whole cache was emptied.
    pub flushes: u64,
    /// Bytes held now (keys, values and bookkeeping).
    pub bytes: u64,
    /// Replies held now.
    pub entries: u64,
}

impl std::fmt::Display for CacheStats {
    /// `hits=N misses=M invalidations=K evictions=E bytes=B`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hits={} misses={} invalidations={} evictions={} bytes={}",
            self.hits, self.misses, self.invalidations, self.evictions, self.bytes
        )
    }
}

/// The variant of every value `MGET` stores (one per key).
const MGET_VARIANT: &[u8] = b"MGET";

/// A key as the cache holds it: inline up to 23 bytes (most keys), so that a miss's ticket
/// and then its entry hold the key without an allocation of its own; a longer one in a
/// buffer shared by the entry and tickets with a reference count.
type Key = Payload;

/// One cached reply.
struct Value {
    variant: Bytes,
    frame: Frame,
    /// When it was stored; kept only under an age limit (reading the clock is a tenth of a
    /// fill otherwise).
    at: Option<Instant>,
    size: usize,
}

/// Everything cached for one Redis key.
struct KeyEntry {
    key: Key,
    /// The key's hash, computed once by the read that missed: the table finds the entry
    /// again by it when it grows or when another entry takes this one's place.
    hash: u64,
    /// Hit since the clock last passed it.
    used: bool,
    /// Bytes charged for this entry (its key, overhead and values).
    bytes: usize,
    values: SmallVec<[Value; 1]>,
}

#[derive(Default)]
struct Shard {
    /// Each entry's position in `entries`, found by its key's hash. Slots of 4 bytes rather
    /// than whole entries (about 150 bytes): a table that grows (doubling, every slot
    /// moved to fresh memory) copies and faults in little, and lookups of absent keys
    /// stay in a few cache lines. A shard holds far fewer than 2^32 entries.
    table: HashTable<u32>,
    /// The entries, dense: a removal moves the last one into the hole. The vector grows in
    /// place where it can, without rehashing anything.
    entries: Vec<KeyEntry>,
    /// Bumped by every invalidation of any key of this shard (and by a flush): a read's
    /// reply is stored only if it has not moved since the read looked up (see the design
    /// note).
    generation: u64,
    /// The eviction clock's hand: the position in `entries` it looks at next.
    hand: usize,
    bytes: usize,
    values: usize,
    hits: u64,
    misses: u64,
    invalidations: u64,
    evictions: u64,
    refused: u64,
    /// Recent reads per key, with [`Admission::Frequent`]. Kept by a flush: how often a
    /// key is read does not change when its value does.
    sketch: Option<Sketch>,
}

impl Shard {
    /// The position of `key`'s entry (`hash` is its hash).
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        let i = self
            .table
            .find(hash, |&i| *entries[i as usize].key == *key)?;
        Some(*i as usize)
    }

    /// Adds an entry for a key that has none; returns its position.
    fn insert(&mut self, entry: KeyEntry) -> usize {
        let i = self.entries.len();
        let entries = &self.entries;
        self.table
            .insert_unique(entry.hash, i as u32, |&j| entries[j as usize].hash);
        self.bytes += entry.bytes;
        self.entries.push(entry);
        i
    }

    /// Removes the entry at `i`; the last entry takes its place.
    fn remove_at(&mut self, i: usize) {
        if let Ok(slot) = self
            .table
            .find_entry(self.entries[i].hash, |&j| j as usize == i)
        {
            slot.remove();
        }
        let e = self.entries.swap_remove(i);
        self.bytes -= e.bytes;
        self.values -= e.values.len();
        if let Some(moved) = self.entries.get(i) {
            let last = self.entries.len();
            if let Some(slot) = self.table.find_mut(moved.hash, |&j| j as usize == last) {
                *slot = i as u32;
            }
        }
    }

    fn remove(&mut self, hash: u64, key: &[u8]) -> bool {
        match self.find(hash, key) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    fn clear(&mut self) {
        self.table.clear();
        self.entries.clear();
        self.hand = 0;
        self.bytes = 0;
        self.values = 0;
        self.generation += 1;
    }

    /// With [`Admission::Frequent`], counts a read of the key of `hash` that missed, and
    /// says whether its reply may be stored: the key was read lately, and either the
    /// shard has room or the key is read more often than the entry the clock's hand would
    /// judge next. True without a sketch.
    fn admits(&mut self, hash: u64, budget: usize) -> bool {
        let Some(sketch) = self.sketch.as_mut() else {
            return true;
        };
        let seen = sketch.estimate(hash);
        sketch.increment(hash);
        if seen == 0 {
            return false;
        }
        if self.bytes + ENTRY_OVERHEAD + VALUE_OVERHEAD <= budget {
            return true;
        }
        // The store judges again against the entry it would really evict (`evict`); this
        // guess saves a refused read its ticket, and with opt-in tracking the server's.
        let n = self.entries.len();
        let victim = (0..n.min(8))
            .map(|i| &self.entries[(self.hand + i) % n])
            .find(|e| !e.used);
        victim.is_none_or(|v| seen > sketch.estimate(v.hash))
    }

    /// Counts a hit of the key of `hash` in the sketch, if there is one.
    fn count_hit(&mut self, hash: u64) {
        if let Some(sketch) = self.sketch.as_mut() {
            sketch.increment(hash);
        }
    }

    /// Evicts until within `budget`; returns how many entries went. Second chance by
    /// position: the hand sweeps `entries` round and round, clears the `used` of an entry
    /// hit since it last passed, and evicts one that was not. A removal moves the last
    /// entry (added most recently) into the hole under the hand, which then steps past
    /// it: that entry waits a whole turn like the others. (Once a turn the hand reaches
    /// the last position itself, and judges the entry added last there at once.)
    ///
    /// `candidate`: the position of an entry the caller has just added. With a sketch, when
    /// the clock's victim is read at least as often as it, the candidate goes instead (it is
    /// refused, not evicted), so a rarely read key never pushes out a hotter one. Returns
    /// the entries evicted, and whether the candidate was refused.
    fn evict(&mut self, budget: usize, mut candidate: Option<usize>) -> (u64, bool) {
        let before = self.evictions;
        let mut refused = false;
        while self.bytes > budget && !self.entries.is_empty() {
            if self.hand >= self.entries.len() {
                self.hand = 0;
            }
            let e = &mut self.entries[self.hand];
            if e.used {
                e.used = false;
                self.hand += 1;
                continue;
            }
            let victim = e.hash;
            if let (Some(c), Some(sketch)) = (candidate.take(), &self.sketch)
                && c != self.hand
                && sketch.estimate(self.entries[c].hash) <= sketch.estimate(victim)
            {
                self.remove_at(c);
                self.refused += 1;
                refused = true;
                continue;
            }
            self.remove_at(self.hand);
            self.evictions += 1;
            self.hand += 1;
        }
        (self.evictions - before, refused)
    }
}

/// A client's cache: see the module's design note.
pub(crate) struct Cache {
    config: CacheConfig,
    shards: Box<[Mutex<Shard>]>,
    /// Each shard's share of the budget.
    shard_budget: usize,
    hasher: RandomState,
    /// Tracked connections up now.
    live: AtomicUsize,
    flushes: AtomicU64,
    /// The same events for a `metrics` recorder, registered once (feature `metrics`).
    #[cfg(feature = "metrics")]
    metrics: Counters,
}

/// The cache's `metrics` counters (`redis.client.cache.events` by `event`).
#[cfg(feature = "metrics")]
struct Counters {
    hit: metrics::Counter,
    miss: metrics::Counter,
    invalidation: metrics::Counter,
    eviction: metrics::Counter,
    flush: metrics::Counter,
    refused: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl Counters {
    fn new() -> Counters {
        let c =
            |event: &'static str| metrics::counter!("redis.client.cache.events", "event" => event);
        Counters {
            hit: c("hit"),
            miss: c("miss"),
            invalidation: c("invalidation"),
            eviction: c("eviction"),
            flush: c("flush"),
            refused: c("refused"),
        }
    }
}

/// Which `metrics` counter an event goes to ([`Cache::count`]).
#[derive(Clone, Copy)]
enum Event {
    Hit,
    Miss,
    Invalidation,
    Eviction,
    Flush,
    Refused,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a cacheable read found.
pub(crate) enum Lookup<'c> {
    /// The cached reply.
    Hit(Frame),
    /// Not cached: send the read, and give its reply to [`Ticket::fill`]. `None`: nothing
    /// can be stored now (no tracked connection is up). Boxed: see [`AfterReply`].
    Miss(Option<Box<Ticket<'c>>>),
}

/// A read's permission to store its reply: each key with its shard's generation at the
/// lookup, valid while that generation has not moved. Dropped unused, it leaves nothing
/// behind.
pub(crate) struct Ticket<'c> {
    cache: &'c Cache,
    keys: Pendings,
}

/// What a ticket may store.
enum Pendings {
    /// A single-key read: its key, and its variant when it has non-key arguments (`None`:
    /// the command's name alone, see [`variant_of`]).
    One {
        pending: Pending,
        command: CachedCommand,
        variant: Option<Box<[u8]>>,
    },
    /// `MGET`: its keys, in order.
    Many(Vec<Pending>),
}

/// A key a ticket may store, with its hash (which also gives its shard) and its shard's
/// generation at the lookup.
struct Pending {
    key: Key,
    hash: u64,
    generation: u64,
}

/// The keys a write of this client drops, again when its reply arrives.
pub(crate) struct Written<'c> {
    cache: &'c Cache,
    keys: SmallVec<[Bytes; 2]>,
    flush: bool,
}

impl Written<'_> {
    /// The keys the write touches.
    pub(crate) fn keys(&self) -> &[Bytes] {
        &self.keys
    }
}

/// What the cache does when a command's reply arrives. Boxed, so that every command's
/// reply future (cached or not) grows by one word only; the box is paid on a miss or a
/// write, next to a round trip. (Kept inline, the ticket's eight words cost more in moves
/// of every command's reply future than the box costs a miss: callgrind counted about
/// 130 instructions more of `memcpy` per command, cached or not, against about 150 per
/// miss for the allocation and the free.)
#[derive(Default)]
pub(crate) enum AfterReply<'c> {
    /// Nothing.
    #[default]
    Nothing,
    /// Store a read's reply.
    Fill(Box<Ticket<'c>>),
    /// Drop a write's keys again.
    Invalidate(Box<Written<'c>>),
}

impl AfterReply<'_> {
    /// Called with the reply (or the error) when it arrives.
    pub(crate) fn complete(&mut self, reply: Result<&Frame, ()>) {
        match std::mem::take(self) {
            AfterReply::Nothing => {}
            AfterReply::Fill(ticket) => {
                if let Ok(frame) = reply {
                    ticket.fill(frame);
                }
            }
            AfterReply::Invalidate(w) => w.cache.drop_written(&w),
        }
    }
}

/// The variant of a single-key read (see [`variant_of`]).
#[cfg(test)]
fn variant(command: CachedCommand, cmd: &Cmd) -> Bytes {
    variant_bytes(command, variant_of(command, || cmd.arg_list().skip(2)))
}

/// The variant of `command` with non-key arguments `args`: its name in upper case, then
/// each non-key argument with its length in front (so that `HGET a bc` and `HGET ab c`
/// differ). `None` without non-key arguments (`GET k`, `HGETALL k`, ...): the name alone,
/// static, nothing allocated.
fn variant_of<'a, I: ExactSizeIterator<Item = &'a [u8]>>(
    command: CachedCommand,
    args: impl Fn() -> I,
) -> Option<Box<[u8]>> {
    if args().len() == 0 {
        return None;
    }
    let name = command.name().as_bytes();
    // Sized exactly: the box (and the `Bytes` made from it) then takes it as it is.
    let mut out = Vec::with_capacity(name.len() + args().map(|a| 4 + a.len()).sum::<usize>());
    out.extend_from_slice(name);
    for arg in args() {
        out.extend_from_slice(&(arg.len() as u32).to_le_bytes());
        out.extend_from_slice(arg);
    }
    Some(out.into_boxed_slice())
}

/// The stored form of a variant from [`variant_of`].
fn variant_bytes(command: CachedCommand, variant: Option<Box<[u8]>>) -> Bytes {
    variant.map_or_else(
        || Bytes::from_static(command.name().as_bytes()),
        Bytes::from,
    )
}

/// True when `stored` is `cmd`'s variant (see [`variant`]), compared piece by piece: the
/// hit path builds nothing.
fn is_variant(command: CachedCommand, cmd: &Cmd, stored: &[u8]) -> bool {
    is_variant_of(command, cmd.arg_list().skip(2), stored)
}

/// True when `stored` is the variant of `command` with non-key arguments `args`.
fn is_variant_of<'a>(
    command: CachedCommand,
    args: impl Iterator<Item = &'a [u8]>,
    stored: &[u8],
) -> bool {
    let name = command.name().as_bytes();
    let Some((head, mut rest)) = stored.split_at_checked(name.len()) else {
        return false;
    };
    if head != name {
        return false;
    }
    for arg in args {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return false;
        };
        if u32::from_le_bytes(*len) as usize != arg.len() {
            return false;
        }
        let Some((payload, tail)) = tail.split_at_checked(arg.len()) else {
            return false;
        };
        if payload != arg {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

/// Roughly the memory a frame holds, without recursion (replies nest as deep as the
/// decoder allows).
fn frame_size(frame: &Frame) -> usize {
    // Inline payloads (23 bytes or less) live in the frame itself.
    let held = |p: &Payload| if p.is_inline() { 0 } else { p.len() };
    // Most replies are one string: no stack for them.
    if let Some(p) = payload_of(frame) {
        return std::mem::size_of::<Frame>() + held(p);
    }
    let mut total = 0;
    let mut stack: SmallVec<[&Frame; 16]> = SmallVec::new();
    stack.push(frame);
    while let Some(f) = stack.pop() {
        total += std::mem::size_of::<Frame>();
        match f {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => stack.extend(items),
            Frame::Map(pairs) => {
                for (k, v) in pairs {
                    stack.push(k);
                    stack.push(v);
                }
            }
            Frame::Attribute { attributes, data } => {
                for (k, v) in attributes {
                    stack.push(k);
                    stack.push(v);
                }
                stack.push(data);
            }
            other => total += payload_of(other).map_or(0, held),
        }
    }
    total
}

/// The payload of a string-like frame, a verbatim string's included.
fn payload_of(frame: &Frame) -> Option<&Payload> {
    match frame {
        Frame::VerbatimString(v) => Some(v.as_raw()),
        other => other.as_payload(),
    }
}

/// Payloads shorter than this are copied out of the read buffer when stored (see
/// [`detached`]); longer ones are kept as they are.
const DETACH_BELOW: usize = 64 * 1024;

/// A copy of `frame` that holds its own bytes. A decoded payload is a slice of the
/// connection's read buffer, and keeps that whole allocation (up to 128 KiB) alive while it
/// lives: a cache of small values kept as slices could hold many times its byte budget. So
/// payloads under [`DETACH_BELOW`] are copied into allocations of their own; a longer one
/// is kept, since the buffer it came in is at most a small multiple of it (a top-level bulk
/// of 64 KiB or more is read into an allocation of exactly its size). Without recursion, as
/// [`frame_size`].
fn detached(frame: &Frame) -> Frame {
    // Most replies are one string: copied straight from the buffer, rather than cloned
    // (a reference count taken and dropped again) and then copied.
    match frame {
        Frame::BulkString(p) if borrows_buffer(p) => Frame::BulkString(Payload::copy_from_slice(p)),
        Frame::SimpleString(p) if borrows_buffer(p) => {
            Frame::SimpleString(Payload::copy_from_slice(p))
        }
        _ => {
            let mut copy = frame.clone();
            detach(&mut copy);
            copy
        }
    }
}

/// True for a payload that is a slice of a read buffer small enough to be copied out of
/// it (see [`detached`]).
fn borrows_buffer(p: &Payload) -> bool {
    !p.is_inline() && p.len() < DETACH_BELOW
}

/// Makes the payloads of `frame` under [`DETACH_BELOW`] its own (see [`detached`]).
fn detach(frame: &mut Frame) {
    let mut stack: SmallVec<[&mut Frame; 16]> = SmallVec::new();
    stack.push(frame);
    while let Some(f) = stack.pop() {
        match f {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                stack.extend(items.iter_mut())
            }
            Frame::Map(pairs) => {
                for (k, v) in pairs.iter_mut() {
                    stack.push(k);
                    stack.push(v);
                }
            }
            Frame::Attribute { attributes, data } => {
                for (k, v) in attributes.iter_mut() {
                    stack.push(k);
                    stack.push(v);
                }
                stack.push(data);
            }
            Frame::SimpleString(p)
            | Frame::SimpleError(p)
            | Frame::BulkString(p)
            | Frame::BigNumber(p)
            | Frame::BulkError(p)
                if borrows_buffer(p) =>
            {
                *p = Payload::copy_from_slice(p);
            }
            Frame::VerbatimString(v) if borrows_buffer(v.as_raw()) => {
                *v = Verbatim::new(v.format(), v.text());
            }
            _ => {}
        }
    }
}

impl Cache {
    pub(crate) fn new(config: CacheConfig) -> Cache {
        // About 1 MiB per shard, at most 16 shards: enough to keep 64 tasks on two cores
        // from queueing on one lock, while a small budget stays one piece.
        let shards = (config.max_bytes() >> 20).clamp(1, 16).next_power_of_two();
        let mut shard_budget = config.max_bytes() / shards;
        // The admission sketch comes out of the budget; sized for entries of about this
        // many bytes (a short key, a short value and the bookkeeping).
        const NOMINAL_ENTRY: usize = 256;
        let frequent = config.admission_policy() == Admission::Frequent;
        let entries = shard_budget / NOMINAL_ENTRY;
        if frequent {
            shard_budget -= Sketch::bytes_for(entries).min(shard_budget / 2);
        }
        let shard = || Shard {
            sketch: frequent.then(|| Sketch::new(entries)),
            ..Shard::default()
        };
        Cache {
            shard_budget,
            shards: (0..shards).map(|_| Mutex::new(shard())).collect(),
            config,
            hasher: RandomState::default(),
            live: AtomicUsize::new(0),
            flushes: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            metrics: Counters::new(),
        }
    }

    /// Reports `n` events to the `metrics` recorder; nothing without the feature. The
    /// shards' own counts (for [`Cache::stats`]) are kept beside, under their locks.
    #[inline]
    fn count(&self, event: Event, n: u64) {
        #[cfg(feature = "metrics")]
        {
            let c = &self.metrics;
            match event {
                Event::Hit => &c.hit,
                Event::Miss => &c.miss,
                Event::Invalidation => &c.invalidation,
                Event::Eviction => &c.eviction,
                Event::Flush => &c.flush,
                Event::Refused => &c.refused,
            }
            .increment(n);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (event, n);
    }

    /// `key`'s hash: its shard, and its place in the shard's table. A ticket keeps it, so
    /// that storing the reply does not hash the key again.
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[cfg(test)]
    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        self.lock(self.shard_index(self.hash(key)))
    }

    /// Which shard holds the key of hash `hash`.
    fn shard_index(&self, hash: u64) -> usize {
        // Bits 32 and up: the table inside the shard indexes by the low ones, and tells
        // slots apart by the top seven.
        (hash >> 32) as usize & (self.shards.len() - 1)
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A panic under this lock can only come from a bug here; the shard stays valid.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which cached command `cmd` is, if it is one this cache serves in the form it
    /// caches: the expected number of words and its key(s) marked.
    fn cacheable(&self, cmd: &Cmd) -> Option<CachedCommand> {
        let command = CachedCommand::of(cmd.name_bytes())?;
        if !self.config.caches(command) {
            return None;
        }
        let (words, at_least) = command.arity();
        let n = cmd.len();
        if n < words || (!at_least && n != words) {
            return None;
        }
        let mut keys = cmd.marked_keys()?;
        let mode = self.config.tracking_mode();
        if command == CachedCommand::Mget {
            // Every word after the name, and nothing else, is a key.
            let covered = cmd.arg_list().skip(1).all(|k| mode.covers(k));
            return (covered && keys.eq(1..n)).then_some(command);
        }
        let one = keys.next() == Some(1) && keys.next().is_none();
        (one && mode.covers(cmd.arg_bytes(1)?)).then_some(command)
    }

    /// The value of the entry at `at` whose variant `is_variant` accepts, if fresh: counted
    /// as a hit. An expired one is dropped (counted as an eviction); the entry stays, at
    /// the same position.
    fn serve(
        &self,
        shard: &mut Shard,
        at: usize,
        is_variant: impl Fn(&[u8]) -> bool,
    ) -> Option<Frame> {
        let e = &mut shard.entries[at];
        let i = e.values.iter().position(|x| is_variant(&x.variant))?;
        let value = &e.values[i];
        let fresh = match (self.config.max_age_limit(), value.at) {
            (Some(max), Some(at)) => at.elapsed() < max,
            _ => true,
        };
        if fresh {
            e.used = true;
            let frame = value.frame.clone();
            shard.hits += 1;
            self.count(Event::Hit, 1);
            return Some(frame);
        }
        let old = e.values.swap_remove(i);
        e.bytes -= old.size;
        shard.bytes -= old.size;
        shard.values -= 1;
        shard.evictions += 1;
        self.count(Event::Eviction, 1);
        None
    }

    /// The lookup of the single-key read `command` of `key` with non-key arguments `args`,
    /// made before its command is built: the same answer as [`Cache::read`] of that command
    /// with its key marked, and `None` where that would be `None` (not cacheable). `None`
    /// for `MGET`, whose keys are many: it is looked up once built.
    pub(crate) fn lookup(
        &self,
        command: CachedCommand,
        key: &[u8],
        args: &[&[u8]],
    ) -> Option<Lookup<'_>> {
        let (words, at_least) = command.arity();
        let fits = if at_least {
            2 + args.len() >= words
        } else {
            2 + args.len() == words
        };
        if !fits
            || command == CachedCommand::Mget
            || !self.config.caches(command)
            || !self.config.tracking_mode().covers(key)
        {
            return None;
        }
        Some(self.lookup_one(
            command,
            key,
            |stored| is_variant_of(command, args.iter().copied(), stored),
            || variant_of(command, || args.iter().copied()),
        ))
    }

    /// A cacheable read's lookup, or `None` when `cmd` is not one.
    pub(crate) fn read(&self, cmd: &Cmd) -> Option<Lookup<'_>> {
        let command = self.cacheable(cmd)?;
        if command == CachedCommand::Mget {
            return Some(self.read_many(cmd));
        }
        let key = cmd.arg_bytes(1)?;
        Some(self.lookup_one(
            command,
            key,
            |stored| is_variant(command, cmd, stored),
            || variant_of(command, || cmd.arg_list().skip(2)),
        ))
    }

    /// A single-key read's lookup: a hit, or a miss with its ticket (none while no tracked
    /// connection is up).
    fn lookup_one(
        &self,
        command: CachedCommand,
        key: &[u8],
        is_variant: impl Fn(&[u8]) -> bool,
        variant: impl FnOnce() -> Option<Box<[u8]>>,
    ) -> Lookup<'_> {
        let live = self.live.load(Ordering::Acquire) > 0;
        let hash = self.hash(key);
        let mut shard = self.lock(self.shard_index(hash));
        let shard = &mut *shard;
        let at = shard.find(hash, key);
        if let Some(at) = at
            && let Some(frame) = self.serve(shard, at, is_variant)
        {
            shard.count_hit(hash);
            return Lookup::Hit(frame);
        }
        shard.misses += 1;
        self.count(Event::Miss, 1);
        if !shard.admits(hash, self.shard_budget) {
            shard.refused += 1;
            self.count(Event::Refused, 1);
            return Lookup::Miss(None);
        }
        if !live {
            return Lookup::Miss(None);
        }
        let pending = Pending {
            key: Self::ticket_key(shard, at, key),
            hash,
            generation: shard.generation,
        };
        Lookup::Miss(Some(Box::new(Ticket {
            cache: self,
            keys: Pendings::One {
                pending,
                command,
                variant: variant(),
            },
        })))
    }

    /// The ticket's copy of `key`: the entry's own when the key has one (at `at`).
    fn ticket_key(shard: &Shard, at: Option<usize>, key: &[u8]) -> Key {
        match at {
            Some(i) => shard.entries[i].key.clone(),
            None => Key::copy_from_slice(key),
        }
    }

    /// `MGET`: a hit when every key's `MGET` value is cached.
    fn read_many(&self, cmd: &Cmd) -> Lookup<'_> {
        let max_age = self.config.max_age_limit();
        let mut found = Vec::with_capacity(cmd.len() - 1);
        for key in cmd.arg_list().skip(1) {
            let hash = self.hash(key);
            let mut shard = self.lock(self.shard_index(hash));
            let at = shard.find(hash, key);
            let hit = at.and_then(|i| {
                let e = &mut shard.entries[i];
                let v = e.values.iter().find(|x| &*x.variant == MGET_VARIANT)?;
                if let (Some(max), Some(at)) = (max_age, v.at)
                    && at.elapsed() >= max
                {
                    return None;
                }
                e.used = true;
                Some(v.frame.clone())
            });
            if hit.is_some() {
                shard.count_hit(hash);
            }
            match hit {
                Some(f) => found.push(f),
                None => break,
            }
        }
        if found.len() == cmd.len() - 1 {
            let first = self.hash(cmd.arg_bytes(1).unwrap_or_default());
            self.lock(self.shard_index(first)).hits += 1;
            self.count(Event::Hit, 1);
            return Lookup::Hit(Frame::Array(found));
        }
        drop(found);
        let live = self.live.load(Ordering::Acquire) > 0;
        let mut keys = Vec::with_capacity(if live { cmd.len() - 1 } else { 0 });
        // Stored only when every key is admitted; each key's read is counted either way.
        let mut admitted = true;
        for (i, key) in cmd.arg_list().skip(1).enumerate() {
            let hash = self.hash(key);
            let mut shard = self.lock(self.shard_index(hash));
            if i == 0 {
                shard.misses += 1;
                self.count(Event::Miss, 1);
            }
            if !shard.admits(hash, self.shard_budget) && admitted {
                admitted = false;
                shard.refused += 1;
                self.count(Event::Refused, 1);
            }
            if !live || !admitted {
                continue;
            }
            let at = shard.find(hash, key);
            keys.push(Pending {
                key: Self::ticket_key(&shard, at, key),
                hash,
                generation: shard.generation,
            });
        }
        if !live || !admitted {
            return Lookup::Miss(None);
        }
        Lookup::Miss(Some(Box::new(Ticket {
            cache: self,
            keys: Pendings::Many(keys),
        })))
    }

    /// Stores `frame` as `variant` of the pending key if its shard is still at the
    /// generation the lookup saw (no key of the shard was invalidated since). True when
    /// stored.
    fn store(&self, pending: Pending, variant: Bytes, frame: &Frame) -> bool {
        if frame.is_error() {
            return false;
        }
        let size = VALUE_OVERHEAD + variant.len() + frame_size(frame);
        let at = self.config.max_age_limit().map(|_| Instant::now());
        let Pending {
            key,
            hash,
            generation,
        } = pending;
        let mut shard = self.lock(self.shard_index(hash));
        let shard = &mut *shard;
        if shard.generation != generation {
            return false;
        }
        let mut added = None;
        // A value too large to ever fit its shard's share of the budget is not stored.
        let i = match shard.find(hash, &key) {
            Some(i) => {
                if size + shard.entries[i].bytes > self.shard_budget {
                    return false;
                }
                i
            }
            None => {
                let bytes = key.len() + ENTRY_OVERHEAD;
                if size + bytes > self.shard_budget {
                    return false;
                }
                let i = shard.insert(KeyEntry {
                    key,
                    hash,
                    used: false,
                    bytes,
                    values: SmallVec::new(),
                });
                added = Some(i);
                i
            }
        };
        let e = &mut shard.entries[i];
        let value = Value {
            variant,
            frame: detached(frame),
            at,
            size,
        };
        match e.values.iter_mut().find(|x| x.variant == value.variant) {
            Some(old) => {
                let old_size = std::mem::replace(old, value).size;
                e.bytes = e.bytes - old_size + size;
                shard.bytes = shard.bytes - old_size + size;
            }
            None => {
                e.values.push(value);
                e.bytes += size;
                shard.bytes += size;
                shard.values += 1;
            }
        }
        let (evicted, refused) = shard.evict(self.shard_budget, added);
        self.count(Event::Eviction, evicted);
        self.count(Event::Refused, u64::from(refused));
        !refused
    }

    /// Drops what is cached for `key` (a server invalidation when `counted`), and refuses
    /// the replies of reads of this shard's keys in flight.
    fn invalidate(&self, key: &[u8], counted: bool) {
        let hash = self.hash(key);
        let mut shard = self.lock(self.shard_index(hash));
        shard.remove(hash, key);
        shard.generation += 1;
        if counted {
            shard.invalidations += 1;
            self.count(Event::Invalidation, 1);
        }
    }

    /// Empties the cache, pending entries included.
    pub(crate) fn flush(&self) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.count(Event::Flush, 1);
    }

    /// A command of this client that may write: drops its marked keys now (or everything,
    /// for `FLUSHALL`/`FLUSHDB`) and returns what to drop again when its reply arrives.
    /// `None` for reads and commands without marked keys.
    pub(crate) fn write(&self, cmd: &Cmd) -> Option<Written<'_>> {
        if cmd.is("FLUSHALL") || cmd.is("FLUSHDB") {
            self.flush();
            return Some(Written {
                cache: self,
                keys: SmallVec::new(),
                flush: true,
            });
        }
        let marked = cmd.marked_keys()?;
        let name = cmd.name_bytes();
        if READS
            .iter()
            .any(|r| r.as_bytes().eq_ignore_ascii_case(name))
        {
            return None;
        }
        let keys: SmallVec<[Bytes; 2]> = marked
            .filter_map(|i| cmd.arg_bytes(i))
            .map(Bytes::copy_from_slice)
            .collect();
        if keys.is_empty() {
            return None;
        }
        for k in &keys {
            self.invalidate(k, false);
        }
        Some(Written {
            cache: self,
            keys,
            flush: false,
        })
    }

    /// Drops what is cached for `key` (not counted as a server invalidation).
    pub(crate) fn forget(&self, key: &[u8]) {
        self.invalidate(key, false);
    }

    fn drop_written(&self, w: &Written<'_>) {
        if w.flush {
            self.flush();
        }
        for k in &w.keys {
            self.invalidate(k, false);
        }
    }

    /// True in opt-in mode: a miss must be sent right after `CLIENT CACHING yes`.
    pub(crate) fn is_opt_in(&self) -> bool {
        matches!(self.config.tracking_mode(), TrackingMode::OptIn)
    }

    /// What the cache counted so far.
    pub(crate) fn stats(&self) -> CacheStats {
        let mut s = CacheStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            ..CacheStats::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            s.hits += shard.hits;
            s.misses += shard.misses;
            s.invalidations += shard.invalidations;
            s.evictions += shard.evictions;
            s.refused += shard.refused;
            s.bytes += shard.bytes as u64;
            s.entries += shard.values as u64;
        }
        s
    }

    /// Handles an invalidation message: `["invalidate", [key...]]`, or
    /// `["invalidate", null]` after `FLUSHALL`/`FLUSHDB` (and when the server's tracking
    /// table overflows).
    fn on_push(&self, frame: &Frame) -> bool {
        let Frame::Push(items) = frame else {
            return false;
        };
        let is_invalidate = items
            .first()
            .and_then(Frame::as_bytes)
            .is_some_and(|kind| kind.eq_ignore_ascii_case(b"invalidate"));
        if !is_invalidate {
            return false;
        }
        match items.get(1).map(Frame::without_attributes) {
            Some(Frame::Array(keys) | Frame::Set(keys)) => {
                for k in keys {
                    if let Some(k) = k.as_bytes() {
                        self.invalidate(k, true);
                    }
                }
            }
            // A null (or anything unexpected): dropping everything is always safe.
            _ => self.flush(),
        }
        true
    }
}

impl Ticket<'_> {
    /// Stores the reply, where no invalidation came since the lookup.
    pub(crate) fn fill(self, frame: &Frame) {
        let cache = self.cache;
        match self.keys {
            Pendings::One {
                pending,
                command,
                variant,
            } => {
                cache.store(pending, variant_bytes(command, variant), frame);
            }
            Pendings::Many(keys) => {
                if let Some(items) = frame.without_attributes().as_slice()
                    && items.len() == keys.len()
                {
                    for (pending, item) in keys.into_iter().zip(items) {
                        cache.store(pending, Bytes::from_static(MGET_VARIANT), item);
                    }
                }
            }
        }
    }
}

/// A tracked connection's hook: invalidations to the cache; its end empties the cache.
struct Tracked {
    cache: Arc<Cache>,
    closed: std::sync::atomic::AtomicBool,
    /// Over RESP2, the connection its invalidations go to: closed with it.
    redirect: Option<Arc<RedirectLink>>,
}

impl PushHook for Tracked {
    fn push(&self, frame: &Frame) -> bool {
        self.cache.on_push(frame)
    }

    fn closed(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.cache.live.fetch_sub(1, Ordering::AcqRel);
            self.cache.flush();
            if let Some(link) = &self.redirect {
                link.conn.close();
            }
            tracing::debug!("tracked connection ended; client-side cache emptied");
        }
    }
}

/// A RESP2 tracked connection's invalidation connection, subscribed to
/// `__redis__:invalidate`. When it ends, invalidations stop arriving: the cache is emptied
/// and the tracked connection closed (`close`), so that the next request reconnects both.
struct RedirectLink {
    conn: Connection,
    close: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    dead: std::sync::atomic::AtomicBool,
}

impl RedirectLink {
    fn lost(&self) {
        self.dead.store(true, Ordering::Release);
        if let Some(close) = self.close.get() {
            close();
        }
    }
}

/// The channel RESP2 clients receive invalidations on.
const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// How long the invalidation connection may take to answer `CLIENT ID` and `SUBSCRIBE`.
const REDIRECT_SETUP: std::time::Duration = std::time::Duration::from_secs(5);

impl Cache {
    /// Opens the invalidation connection for a RESP2 connection made with `opts`.
    async fn open_redirect(self: &Arc<Self>, opts: &ConnectOptions) -> Result<Redirect, Error> {
        let mut opts = opts.clone();
        opts.tracking = None;
        opts.resp3 = false;
        let (sink, mut rx) = push_channel(4096, true, Arc::new(AtomicU64::new(0)));
        let conn = Connection::connect(&opts, Some(sink)).await?;
        let limit = opts.response_timeout.unwrap_or(REDIRECT_SETUP);
        let setup = async {
            // Every frame of a subscriber connection comes through the sink, replies too.
            conn.send_unanswered(|b| resp_codec::encode_command(b, &["CLIENT", "ID"]))?;
            let id = match rx.recv().await {
                Some(Frame::Integer(id)) => id,
                _ => return Err(Error::UnexpectedReply),
            };
            conn.send_unanswered(|b| {
                resp_codec::encode_command(b, &["SUBSCRIBE", INVALIDATE_CHANNEL])
            })?;
            match rx.recv().await {
                Some(Frame::Array(items))
                    if items.first().and_then(Frame::as_bytes) == Some(b"subscribe") =>
                {
                    Ok(id)
                }
                _ => Err(Error::UnexpectedReply),
            }
        };
        let id = match tokio::time::timeout(limit, setup).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                conn.close();
                return Err(e);
            }
            Err(_) => {
                conn.close();
                return Err(Error::Timeout {
                    after: limit,
                    sent: true,
                });
            }
        };
        let link = Arc::new(RedirectLink {
            conn,
            close: std::sync::OnceLock::new(),
            dead: std::sync::atomic::AtomicBool::new(false),
        });
        let cache = self.clone();
        let watched = link.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                // `message __redis__:invalidate [key...]` (or a null: flush everything).
                if let Frame::Array(mut items) = frame
                    && items.len() == 3
                    && items[0].as_bytes() == Some(b"message")
                {
                    let keys = items.pop().unwrap_or(Frame::Null);
                    cache.on_push(&Frame::Push(vec![
                        Frame::BulkString(resp_codec::Payload::from_static(b"invalidate")),
                        keys,
                    ]));
                }
            }
            cache.flush();
            watched.lost();
        });
        Ok(Redirect {
            id,
            conn: link.conn.clone(),
            guard: Box::new(link),
        })
    }
}

/// The handle the connection layer uses to set up tracking for a cache.
pub(crate) struct CacheTracking(pub(crate) Arc<Cache>);

impl Tracking for CacheTracking {
    fn options(&self) -> Vec<Bytes> {
        match self.0.config.tracking_mode() {
            TrackingMode::Default => Vec::new(),
            TrackingMode::OptIn => vec![Bytes::from_static(b"OPTIN")],
            TrackingMode::Broadcast { prefixes } => {
                let mut words = vec![Bytes::from_static(b"BCAST")];
                for p in prefixes {
                    words.push(Bytes::from_static(b"PREFIX"));
                    words.push(Bytes::copy_from_slice(p));
                }
                words
            }
        }
    }

    fn redirect<'a>(&'a self, opts: &'a ConnectOptions) -> BoxFuture<'a, Result<Redirect, Error>> {
        Box::pin(self.0.open_redirect(opts))
    }

    fn opened(
        &self,
        redirect: Option<Redirect>,
        close: Box<dyn Fn() + Send + Sync>,
    ) -> Arc<dyn PushHook> {
        let link = redirect.and_then(|r| r.guard.downcast::<Arc<RedirectLink>>().ok());
        let link = link.map(|l| *l);
        if let Some(l) = &link {
            let _ = l.close.set(close);
            if l.dead.load(Ordering::Acquire) {
                // Lost before this connection came up: it must not serve cached reads.
                l.lost();
            }
        }
        self.0.live.fetch_add(1, Ordering::AcqRel);
        Arc::new(Tracked {
            cache: self.0.clone(),
            closed: std::sync::atomic::AtomicBool::new(false),
            redirect: link,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::command::cmd;

    fn cache(max: usize) -> Arc<Cache> {
        cache_with(CacheConfig::new(max))
    }

    fn cache_with(config: CacheConfig) -> Arc<Cache> {
        let c = Arc::new(Cache::new(config));
        // As if a tracked connection were up.
        std::mem::forget(CacheTracking(c.clone()).opened(None, Box::new(|| {})));
        c
    }

    fn bulk(s: &str) -> Frame {
        Frame::BulkString(resp_codec::Payload::copy_from_slice(s.as_bytes()))
    }

    fn get<'c>(c: &'c Cache, key: &str) -> Lookup<'c> {
        c.read(&cmd("GET").key(key)).expect("cacheable")
    }

    fn miss<'c>(l: Lookup<'c>) -> Box<Ticket<'c>> {
        match l {
            Lookup::Miss(Some(t)) => t,
            Lookup::Miss(None) => panic!("no ticket"),
            Lookup::Hit(_) => panic!("hit"),
        }
    }

    fn hit(l: Lookup<'_>) -> Option<Frame> {
        match l {
            Lookup::Hit(f) => Some(f),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn only_the_cached_forms_with_marked_keys_are_cacheable() {
        let c = cache(1 << 20);
        let cases = [
            (cmd("GET").key("k"), true),
            (cmd("get").key("k"), true),
            (cmd("GET").arg("k"), false),
            (cmd("GET").key("k").arg("x"), false),
            (cmd("MGET").keys(["a", "b"]), true),
            (cmd("MGET").key("a").arg("b"), false),
            (cmd("HGET").key("h").arg("f"), true),
            (cmd("HMGET").key("h").args(["f", "g"]), true),
            (cmd("LRANGE").key("l").arg(0).arg(-1), true),
            (cmd("EXISTS").keys(["a", "b"]), false),
            (cmd("SET").key("k").arg("v"), false),
            (cmd("TTL").key("k"), false),
        ];
        for (command, want) in cases {
            assert_eq!(c.read(&command).is_some(), want, "{command:?}");
        }
        let only_get = Cache::new(CacheConfig::new(1 << 20).commands([CachedCommand::Get]));
        assert!(only_get.read(&cmd("HGET").key("h").arg("f")).is_none());
    }

    #[test]
    fn a_variant_matches_only_its_own_command_and_arguments() {
        let cmds = [
            cmd("GET").key("k"),
            cmd("get").key("other"),
            cmd("HGET").key("k").arg("ab"),
            cmd("HGET").key("k").arg("a"),
            cmd("HMGET").key("k").arg("a").arg("b"),
            cmd("HMGET").key("k").arg("ab"),
            cmd("LRANGE").key("k").arg(0).arg(-1),
            cmd("LRANGE").key("k").arg(0).arg(-2),
        ];
        let of = |c: &Cmd| CachedCommand::of(c.name_bytes()).unwrap();
        for (i, a) in cmds.iter().enumerate() {
            let stored = variant(of(a), a);
            for (j, b) in cmds.iter().enumerate() {
                // GET of another key has the same variant: the key is not part of it.
                let same = i == j || (i < 2 && j < 2);
                assert_eq!(is_variant(of(b), b, &stored), same, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_reply_is_stored_and_hit_per_variant() {
        let c = cache(1 << 20);
        miss(get(&c, "k")).fill(&bulk("v1"));
        assert_eq!(hit(get(&c, "k")), Some(bulk("v1")));
        let hget = |f: &str| c.read(&cmd("HGET").key("k").arg(f)).unwrap();
        miss(hget("a")).fill(&bulk("A"));
        assert_eq!(hit(hget("a")), Some(bulk("A")));
        assert!(hit(hget("b")).is_none());
        assert_eq!(hit(get(&c, "k")), Some(bulk("v1")));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (3, 3, 2));
    }

    #[test]
    fn a_stored_value_does_not_keep_the_read_buffer_alive() {
        // A decoded payload is a slice of the connection's read buffer; the cache keeps a
        // copy of a small one, so the buffer is freed when the reader is done with it.
        let c = cache(1 << 20);
        let mut bytes = vec![b'x'; 100_000];
        bytes[2_000..2_004].copy_from_slice(b"txt:");
        let buffer = Bytes::from(bytes);
        let slice = |from: usize, len: usize| Payload::from(buffer.slice(from..from + len));
        let lrange = || c.read(&cmd("LRANGE").key("l").arg(0).arg(-1)).unwrap();
        let reply = Frame::Array(vec![
            Frame::BulkString(slice(0, 1_000)),
            Frame::Map(vec![(
                Frame::SimpleString(slice(1_000, 30)),
                Frame::VerbatimString(Verbatim::from_raw(slice(2_000, 100)).unwrap()),
            )]),
        ]);
        miss(lrange()).fill(&reply);
        let big = Frame::BulkString(slice(0, 70_000));
        miss(get(&c, "big")).fill(&big);
        assert_eq!(hit(lrange()), Some(reply.clone()));
        assert_eq!(hit(get(&c, "big")), Some(big.clone()));
        drop((reply, big));
        // A value of 64 KiB or more is kept as it came: only it still refers to the buffer.
        assert!(!buffer.is_unique());
        c.invalidate(b"big", true);
        assert!(
            buffer.is_unique(),
            "the cache still refers to the read buffer"
        );
        assert!(hit(lrange()).is_some());
    }

    #[test]
    fn a_single_string_reply_is_copied_and_long_keys_work_like_short_ones() {
        // A one-string reply takes the direct copy in `detached`; keys of 23 bytes or less
        // are held inline, longer ones in a buffer of their own.
        let c = cache(1 << 20);
        let buffer = Bytes::from(vec![b'v'; 4096]);
        let reply = Frame::BulkString(Payload::from(buffer.slice(0..100)));
        let short = "k".repeat(Payload::INLINE_CAPACITY);
        let long = "k".repeat(Payload::INLINE_CAPACITY + 1);
        for key in [&short, &long] {
            miss(get(&c, key)).fill(&reply);
        }
        assert_eq!(hit(get(&c, &short)), Some(reply.clone()));
        assert_eq!(hit(get(&c, &long)), Some(reply.clone()));
        drop(reply);
        assert!(
            buffer.is_unique(),
            "a stored string refers to the read buffer"
        );
        c.invalidate(long.as_bytes(), true);
        assert!(hit(get(&c, &long)).is_none());
        assert!(hit(get(&c, &short)).is_some());
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn an_invalidation_during_the_read_keeps_its_reply_out() {
        let c = cache(1 << 20);
        let t = miss(get(&c, "k"));
        let push = Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("k")])]);
        assert!(c.on_push(&push));
        t.fill(&bulk("old"));
        assert!(hit(get(&c, "k")).is_none(), "a stale reply was stored");
        assert_eq!(c.stats().invalidations, 1);
    }

    #[test]
    fn a_write_between_lookup_and_reply_keeps_the_reply_out() {
        let c = cache(1 << 20);
        let t = miss(get(&c, "k"));
        let w = c.write(&cmd("SET").key("k").arg("v")).expect("a write");
        t.fill(&bulk("old"));
        assert!(hit(get(&c, "k")).is_none());
        // A read queued between the write's invalidation and its send stores the old value;
        // the write's reply drops it again.
        miss(get(&c, "k")).fill(&bulk("old"));
        AfterReply::Invalidate(Box::new(w)).complete(Ok(&Frame::SimpleString("OK".into())));
        assert!(hit(get(&c, "k")).is_none());
        assert!(c.write(&cmd("TTL").key("k")).is_none());
    }

    #[test]
    fn losing_the_tracked_connection_empties_the_cache_and_stops_storing() {
        let c = Arc::new(Cache::new(CacheConfig::new(1 << 20)));
        assert!(matches!(get(&c, "k"), Lookup::Miss(None)));
        let hook = CacheTracking(c.clone()).opened(None, Box::new(|| {}));
        let pending = miss(get(&c, "p"));
        miss(get(&c, "k")).fill(&bulk("v"));
        hook.closed();
        hook.closed();
        pending.fill(&bulk("late"));
        assert!(matches!(get(&c, "k"), Lookup::Miss(None)));
        assert!(matches!(get(&c, "p"), Lookup::Miss(None)));
        let s = c.stats();
        assert_eq!((s.flushes, s.entries, s.bytes), (1, 0, 0));
    }

    #[test]
    fn memory_stays_within_budget_and_oversized_values_are_not_stored() {
        let budget = 64 * 1024;
        let c = cache(budget);
        let big = "x".repeat(budget);
        miss(get(&c, "big")).fill(&bulk(&big));
        assert!(hit(get(&c, "big")).is_none());
        let value = "y".repeat(1000);
        for i in 0..500 {
            miss(get(&c, &format!("k{i}"))).fill(&bulk(&value));
            assert!(c.stats().bytes as usize <= budget);
        }
        let s = c.stats();
        assert!(s.evictions > 0 && s.entries > 10, "{s:?}");
    }

    #[test]
    fn null_invalidation_flushes_and_mget_is_served_per_key() {
        let c = cache(1 << 20);
        let mget = cmd("MGET").keys(["a", "b"]);
        miss(c.read(&mget).unwrap()).fill(&Frame::Array(vec![bulk("1"), Frame::Null]));
        assert_eq!(
            hit(c.read(&mget).unwrap()),
            Some(Frame::Array(vec![bulk("1"), Frame::Null]))
        );
        assert!(hit(c.read(&cmd("MGET").keys(["a", "c"])).unwrap()).is_none());
        assert!(c.on_push(&Frame::Push(vec![bulk("invalidate"), Frame::Null])));
        assert!(hit(c.read(&mget).unwrap()).is_none());
        assert_eq!(c.stats().flushes, 1);
        assert!(!c.on_push(&Frame::Push(vec![bulk("message"), bulk("x")])));
    }

    #[test]
    fn entries_older_than_the_age_limit_are_not_served() {
        let c = Arc::new(Cache::new(
            CacheConfig::new(1 << 20).max_age(Duration::from_millis(1)),
        ));
        std::mem::forget(CacheTracking(c.clone()).opened(None, Box::new(|| {})));
        miss(get(&c, "k")).fill(&bulk("v"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(hit(get(&c, "k")).is_none());
        assert_eq!(c.stats().evictions, 1);
    }

    #[test]
    fn a_lookup_before_the_command_is_built_answers_as_the_built_read_would() {
        // What a lookup gave: a hit's frame, or a miss with or without a ticket.
        fn seen(l: Option<Lookup<'_>>) -> Option<Result<Frame, bool>> {
            l.map(|l| match l {
                Lookup::Hit(f) => Ok(f),
                Lookup::Miss(t) => Err(t.is_some()),
            })
        }
        let configs = [
            CacheConfig::new(1 << 20),
            CacheConfig::new(1 << 20).commands([CachedCommand::Hget]),
            CacheConfig::new(1 << 20).mode(TrackingMode::broadcast(["k", "h"])),
        ];
        for config in configs {
            let c = cache_with(config.clone());
            for (i, stored) in [
                cmd("GET").key("k"),
                cmd("HGET").key("h").arg("f"),
                cmd("ZSCORE").key("z").arg("m"),
                cmd("LRANGE").key("l").arg(0).arg(-1),
            ]
            .iter()
            .enumerate()
            {
                if let Some(Lookup::Miss(Some(t))) = c.read(stored) {
                    t.fill(&bulk(&i.to_string()));
                }
            }
            type Case = (CachedCommand, &'static str, &'static [&'static [u8]], Cmd);
            let cases: Vec<Case> = vec![
                (CachedCommand::Get, "k", &[], cmd("GET").key("k")),
                (CachedCommand::Get, "other", &[], cmd("GET").key("other")),
                (CachedCommand::Strlen, "k", &[], cmd("STRLEN").key("k")),
                (
                    CachedCommand::Hget,
                    "h",
                    &[b"f"],
                    cmd("HGET").key("h").arg("f"),
                ),
                (
                    CachedCommand::Hget,
                    "h",
                    &[b"g"],
                    cmd("HGET").key("h").arg("g"),
                ),
                (CachedCommand::Hget, "h", &[], cmd("HGET").key("h")),
                (
                    CachedCommand::Zscore,
                    "z",
                    &[b"m"],
                    cmd("ZSCORE").key("z").arg("m"),
                ),
                (
                    CachedCommand::Lrange,
                    "l",
                    &[b"0", b"-1"],
                    cmd("LRANGE").key("l").arg(0).arg(-1),
                ),
                (
                    CachedCommand::Lrange,
                    "l",
                    &[b"0", b"-2"],
                    cmd("LRANGE").key("l").arg(0).arg(-2),
                ),
            ];
            for (command, key, args, built) in cases {
                let before = c.stats();
                let early = seen(c.lookup(command, key.as_bytes(), args));
                let counted = c.stats();
                let late = seen(c.read(&built));
                assert_eq!(early, late, "{config:?}: {built:?}");
                // Counted once each, like the built command's lookup.
                let after = c.stats();
                assert_eq!(
                    (counted.hits - before.hits, counted.misses - before.misses),
                    (after.hits - counted.hits, after.misses - counted.misses),
                    "{built:?}"
                );
            }
        }
    }

    #[test]
    fn a_reply_is_refused_when_any_key_of_its_shard_changed_meanwhile() {
        // One shard (a 1 MiB budget): an invalidation of another key moves its generation.
        let c = cache(1 << 20);
        let t = miss(get(&c, "k"));
        let push = Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("other")])]);
        assert!(c.on_push(&push));
        t.fill(&bulk("v"));
        assert!(hit(get(&c, "k")).is_none(), "stored across an invalidation");
        // A read looked up after it stores as usual.
        miss(get(&c, "k")).fill(&bulk("v"));
        assert_eq!(hit(get(&c, "k")), Some(bulk("v")));
        // So does one raced by an eviction only: evicted values were not stale.
        let t = miss(get(&c, "k2"));
        c.shard(b"k2").evict(0, None);
        t.fill(&bulk("v2"));
        assert_eq!(hit(get(&c, "k2")), Some(bulk("v2")));
    }

    #[test]
    fn entries_moved_by_removals_are_still_found_with_their_own_values() {
        // One shard: removals in the middle move the last entry into the hole.
        let c = cache(1 << 20);
        for i in 0..200 {
            miss(get(&c, &format!("k{i}"))).fill(&bulk(&format!("v{i}")));
        }
        for i in (0..200).step_by(3) {
            let push = Frame::Push(vec![
                bulk("invalidate"),
                Frame::Array(vec![bulk(&format!("k{i}"))]),
            ]);
            assert!(c.on_push(&push));
        }
        for i in 0..200 {
            let found = hit(get(&c, &format!("k{i}")));
            let want = (i % 3 != 0).then(|| bulk(&format!("v{i}")));
            assert_eq!(found, want, "k{i}");
        }
        assert_eq!(c.stats().entries, 200 - 67);
        // Evicting everything leaves the accounting at zero and every key a miss.
        assert_eq!(c.shard(b"k1").evict(0, None).0, 200 - 67);
        assert_eq!((c.stats().entries, c.stats().bytes), (0, 0));
        assert!(hit(get(&c, "k1")).is_none());
    }

    #[test]
    fn eviction_gives_a_hit_entry_a_second_chance_and_keeps_the_accounting() {
        // The hand walks positions that removals (evictions and invalidations alike) fill
        // with the last entry: every entry stays reachable and counted once.
        let budget = 64 * 1024;
        let c = cache(budget);
        let value = "y".repeat(1000);
        miss(get(&c, "hot")).fill(&bulk(&value));
        for i in 0..600 {
            // Hit before each new key: the clock always finds it used.
            assert!(hit(get(&c, "hot")).is_some(), "evicted after {i} fills");
            miss(get(&c, &format!("k{i}"))).fill(&bulk(&value));
            if i % 7 == 0 {
                c.invalidate(format!("k{}", i / 2).as_bytes(), true);
            }
            let shard = c.shard(b"hot");
            let held: usize = shard.entries.iter().map(|e| e.bytes).sum();
            assert_eq!(held, shard.bytes);
            assert!(shard.bytes <= budget);
            assert_eq!(shard.table.len(), shard.entries.len());
        }
        let s = c.stats();
        assert!(s.evictions > 400 && s.entries > 10, "{s:?}");
        // A budget of nothing empties the shard, entries hit since the hand passed too.
        assert!(c.shard(b"hot").evict(0, None).0 > 0);
        assert_eq!((c.stats().entries, c.stats().bytes), (0, 0));
    }

    #[test]
    fn an_abandoned_read_leaves_nothing_behind() {
        let c = cache(1 << 20);
        drop(miss(get(&c, "k")));
        assert_eq!(c.stats().bytes, 0);
    }

    fn refused(l: Lookup<'_>) -> bool {
        matches!(l, Lookup::Miss(None))
    }

    #[test]
    fn frequent_admission_stores_a_key_from_its_second_miss() {
        let c = cache_with(CacheConfig::new(1 << 20).admission(Admission::Frequent));
        assert!(refused(get(&c, "k")), "stored on the first read");
        miss(get(&c, "k")).fill(&bulk("v"));
        assert_eq!(hit(get(&c, "k")), Some(bulk("v")));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.refused, s.entries), (1, 2, 1, 1));
        // Read often, a key is stored again at once after an invalidation.
        c.invalidate(b"k", true);
        miss(get(&c, "k")).fill(&bulk("w"));
        assert_eq!(hit(get(&c, "k")), Some(bulk("w")));
        // MGET: stored only when every key was read before; each read counts.
        let mget = || c.read(&cmd("MGET").keys(["k", "new"])).unwrap();
        assert!(refused(mget()));
        miss(mget()).fill(&Frame::Array(vec![bulk("w"), bulk("n")]));
        assert!(hit(mget()).is_some());
        // Without the policy, every miss's reply is stored.
        let always = cache(1 << 20);
        miss(get(&always, "k")).fill(&bulk("v"));
        assert_eq!(always.stats().refused, 0);
    }

    #[test]
    fn the_admission_sketch_is_paid_out_of_the_budget() {
        for max in [1024, 16 * 1024, 4 << 20, 64 << 20] {
            let c = Cache::new(CacheConfig::new(max).admission(Admission::Frequent));
            let sketches: usize = (0..c.shards.len())
                .map(|i| c.lock(i).sketch.as_ref().map_or(0, Sketch::bytes))
                .sum();
            assert_eq!(c.shard_budget * c.shards.len() + sketches, max, "{max}");
            assert!(sketches <= (max / 64).max(64), "{max}: {sketches}");
        }
    }

    #[test]
    fn frequent_admission_keeps_hot_keys_through_a_scan_of_cold_ones() {
        // A shard that holds about 40 of these entries: 20 hot keys read often, then 2,000
        // keys read twice each (a scan). With every miss stored, the scan pushes the hot keys
        // out; with the policy, a cold key does not displace a hotter one.
        let value = "v".repeat(200);
        for (admission, hot_kept) in [(Admission::Always, false), (Admission::Frequent, true)] {
            let c = cache_with(CacheConfig::new(16 * 1024).admission(admission));
            let read = |key: &str| match get(&c, key) {
                Lookup::Hit(_) => {}
                Lookup::Miss(Some(t)) => t.fill(&bulk(&value)),
                Lookup::Miss(None) => {}
            };
            for _ in 0..10 {
                for k in 0..20 {
                    read(&format!("hot{k}"));
                }
            }
            // The hot keys are still read during the scan, each about once in 100 reads.
            for k in 0..2_000 {
                read(&format!("cold{k}"));
                read(&format!("cold{k}"));
                if k % 2 == 0 {
                    read(&format!("hot{}", k / 2 % 20));
                }
            }
            let before = c.stats().hits;
            for k in 0..20 {
                read(&format!("hot{k}"));
            }
            let hot_hits = c.stats().hits - before;
            if hot_kept {
                assert!(
                    hot_hits >= 15,
                    "{admission:?}: {hot_hits} of 20 hot keys kept"
                );
            } else {
                assert!(
                    hot_hits < 10,
                    "{admission:?}: {hot_hits} of 20 hot keys kept"
                );
            }
            assert!(c.stats().bytes as usize <= 16 * 1024);
        }
    }
}
