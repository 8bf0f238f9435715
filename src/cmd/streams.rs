//! Typed commands: streams (`XADD`, `XRANGE`, `XREAD`, consumer groups, ...).
//!
//! Entries are [`StreamEntry`] values; reads over several streams give one [`StreamBatch`]
//! per stream that had entries. RESP2 and RESP3 replies (arrays or maps) convert alike.
//!
//! A read with [`XReadOptions::block`] waits on the server, so like `BLPOP` it runs on an
//! exclusive pooled connection that is closed, not reused, if the future is dropped.
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::XReadOptions;
//!
//! client.xgroup_create_mkstream("events", "workers", "$").await?;
//! let id = client.xadd("events", &[("kind", "signup"), ("user", "42")]).await?;
//! let batches = client
//!     .xreadgroup("workers", "w1", &[("events", ">")], &XReadOptions::new().count(10).block(1000))
//!     .await?;
//! for entry in &batches[0].entries {
//!     client.xack("events", "workers", &[&entry.id]).await?;
//! }
//! # let _ = id; Ok(()) }
//! ```

use std::time::Duration;

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::lists::blocking_wait;
use super::typed::{Executor, TypedCmd};
use super::{Cmd, FromReply, check_reply, cmd};
use crate::error::{ConversionError, Error};
use crate::reply::into_pairs;

/// One stream entry: its id and its field/value pairs in insertion order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamEntry {
    /// The entry id, `<milliseconds>-<sequence>`.
    pub id: String,
    /// The fields and values. Empty for an entry that was deleted while still pending in a
    /// consumer group (`XREADGROUP` of the history returns it with no fields).
    pub fields: Vec<(Bytes, Bytes)>,
}

impl StreamEntry {
    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.fields
            .iter()
            .find(|(f, _)| &f[..] == name.as_bytes())
            .map(|(_, v)| v)
    }
}

impl FromReply for StreamEntry {
    /// `[id, [field, value, ...]]`; a null field list is an empty one.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let (id, fields): (String, Frame) = FromReply::from_reply(frame)?;
        let fields = into_pairs(fields, "stream entry fields")?
            .into_iter()
            .map(|(f, v)| Ok((Bytes::from_reply(f)?, Bytes::from_reply(v)?)))
            .collect::<Result<_, Error>>()?;
        Ok(StreamEntry { id, fields })
    }
}

/// The entries read from one stream by `XREAD` or `XREADGROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamBatch {
    /// The stream's key.
    pub key: String,
    /// Its entries, oldest first.
    pub entries: Vec<StreamEntry>,
}

/// The per-stream batches of an `XREAD`/`XREADGROUP` reply: an array of `[key, entries]`
/// under RESP2, a map under RESP3, null when nothing arrived.
fn into_batches(frame: Frame) -> Result<Vec<StreamBatch>, Error> {
    let pairs = match check_reply(frame)? {
        Frame::Map(pairs) => pairs,
        Frame::Array(items) => items
            .into_iter()
            .map(<(Frame, Frame)>::from_reply)
            .collect::<Result<_, Error>>()?,
        Frame::Null | Frame::NullArray | Frame::NullBulkString => Vec::new(),
        _ => {
            return Err(Error::Conversion(ConversionError {
                expected: "stream read reply",
                got: "scalar",
            }));
        }
    };
    pairs
        .into_iter()
        .map(|(k, v)| {
            Ok(StreamBatch {
                key: String::from_reply(k)?,
                entries: Vec::from_reply(v)?,
            })
        })
        .collect()
}

/// The summary form of `XPENDING key group`: what a consumer group has delivered and not yet
/// had acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingSummary {
    /// How many entries are pending.
    pub count: u64,
    /// The smallest pending id; `None` when nothing is pending.
    pub smallest: Option<String>,
    /// The greatest pending id; `None` when nothing is pending.
    pub greatest: Option<String>,
    /// Each consumer that holds pending entries, with how many it holds.
    pub consumers: Vec<(String, u64)>,
}

impl FromReply for PendingSummary {
    /// `[count, smallest, greatest, [[consumer, count], ...]]`; the server sends each
    /// consumer's count as a string, and nulls when nothing is pending.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let (count, smallest, greatest, consumers) = FromReply::from_reply(frame)?;
        Ok(PendingSummary {
            count,
            smallest,
            greatest,
            consumers,
        })
    }
}

/// One entry of the extended form of `XPENDING`: a delivered, unacknowledged entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingEntry {
    /// The entry id.
    pub id: String,
    /// The consumer it was last delivered to.
    pub consumer: String,
    /// How long ago it was last delivered.
    pub idle: Duration,
    /// How many times it has been delivered.
    pub deliveries: u64,
}

impl FromReply for PendingEntry {
    /// `[id, consumer, idle-ms, deliveries]`.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let (id, consumer, idle_ms, deliveries) = FromReply::from_reply(frame)?;
        Ok(PendingEntry {
            id,
            consumer,
            idle: Duration::from_millis(idle_ms),
            deliveries,
        })
    }
}

/// Which pending entries the extended `XPENDING` lists: at most `count`, with ids from
/// `start` to `end` (default `-` to `+`), optionally only those idle for at least some time or
/// held by one consumer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_manager::cmd::XPendingOptions;
///
/// // The first 100 entries that have waited a minute or more, whoever holds them.
/// let stuck = XPendingOptions::new(100).min_idle(Duration::from_secs(60));
/// # let _ = stuck;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XPendingOptions {
    start: String,
    end: String,
    count: u64,
    min_idle_ms: Option<u64>,
    consumer: Option<String>,
}

impl XPendingOptions {
    /// At most `count` entries, over every id.
    pub fn new(count: u64) -> XPendingOptions {
        XPendingOptions {
            start: "-".into(),
            end: "+".into(),
            count,
            min_idle_ms: None,
            consumer: None,
        }
    }

    /// Only ids from `start` to `end` (a `(` prefix excludes a bound).
    pub fn range(mut self, start: impl Into<String>, end: impl Into<String>) -> XPendingOptions {
        self.start = start.into();
        self.end = end.into();
        self
    }

    /// Only entries idle for at least `idle` (`IDLE`, in whole milliseconds).
    pub fn min_idle(mut self, idle: Duration) -> XPendingOptions {
        self.min_idle_ms = Some(duration_ms(idle));
        self
    }

    /// Only the entries held by `consumer`.
    pub fn consumer(mut self, consumer: impl Into<String>) -> XPendingOptions {
        self.consumer = Some(consumer.into());
        self
    }
}

/// What `XAUTOCLAIM` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoClaim {
    /// Where the next call should start; `"0-0"` once the whole pending list was scanned.
    pub next: String,
    /// The entries now owned by the claiming consumer.
    pub claimed: Vec<StreamEntry>,
    /// Ids that were pending but no longer exist in the stream; the server removed them from
    /// the pending list.
    pub deleted: Vec<String>,
}

impl FromReply for AutoClaim {
    /// `[next, entries, deleted-ids]` (Redis 7); Redis 6.2 has no third element and lists a
    /// deleted entry as a null among the entries, which is skipped.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let items: Vec<Frame> = FromReply::from_reply(frame)?;
        if !(2..=3).contains(&items.len()) {
            return Err(Error::Conversion(ConversionError {
                expected: "XAUTOCLAIM reply",
                got: "aggregate of another length",
            }));
        }
        let mut items = items.into_iter();
        let next = String::from_reply(items.next().expect("length checked"))?;
        let claimed = present_entries(items.next().expect("length checked"))?;
        let deleted = match items.next() {
            Some(ids) => FromReply::from_reply(ids)?,
            None => Vec::new(),
        };
        Ok(AutoClaim {
            next,
            claimed,
            deleted,
        })
    }
}

/// The entries of a claim reply, without the nulls older servers send for deleted entries.
fn present_entries(frame: Frame) -> Result<Vec<StreamEntry>, Error> {
    let entries: Vec<Option<StreamEntry>> = FromReply::from_reply(frame)?;
    Ok(entries.into_iter().flatten().collect())
}

/// Whole milliseconds, saturating: an idle time beyond `u64::MAX` ms means "never".
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Options of `XADD`: the entry id (default `*`, the server picks one) and trimming.
///
/// # Examples
///
/// ```
/// use redis_manager::cmd::XAddOptions;
///
/// // Keep roughly the last 10 000 entries (cheaper than an exact trim).
/// let opts = XAddOptions::new().maxlen_approx(10_000);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XAddOptions {
    id: Option<String>,
    trim: Option<StreamTrim>,
}

/// How `XTRIM` (or `XADD` with [`XAddOptions::trim`]) shortens a stream.
///
/// The approximate forms (`~`) let the server remove only whole internal nodes, which is much
/// cheaper; they never remove more than the exact form would.
///
/// # Examples
///
/// ```
/// use redis_manager::cmd::StreamTrim;
///
/// // Keep about the last 10 000 entries.
/// let keep_recent = StreamTrim::MaxLenApprox(10_000);
/// // Drop entries older than a minute (ids start with their millisecond timestamp).
/// let cutoff = format!("{}-0", 1_700_000_000_000u64 - 60_000);
/// let keep_last_minute = StreamTrim::MinId(cutoff);
/// # let _ = (keep_recent, keep_last_minute);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamTrim {
    /// `MAXLEN len`: keep exactly the newest `len` entries.
    MaxLen(u64),
    /// `MAXLEN ~ len`: keep about the newest `len` entries, never fewer.
    MaxLenApprox(u64),
    /// `MINID id`: remove the entries with ids below `id`.
    MinId(String),
    /// `MINID ~ id`: remove about the entries below `id`, never one at or above it.
    MinIdApprox(String),
}

impl StreamTrim {
    /// The trimming arguments, for `XADD` and `XTRIM`.
    fn push_args<'a>(&'a self, args: &mut Vec<&'a dyn ToArg>) {
        let (strategy, approx, threshold): (&'a dyn ToArg, bool, &'a dyn ToArg) = match self {
            StreamTrim::MaxLen(n) => (&"MAXLEN", false, n),
            StreamTrim::MaxLenApprox(n) => (&"MAXLEN", true, n),
            StreamTrim::MinId(id) => (&"MINID", false, id),
            StreamTrim::MinIdApprox(id) => (&"MINID", true, id),
        };
        args.push(strategy);
        if approx {
            args.push(&"~");
        }
        args.push(threshold);
    }
}

impl XAddOptions {
    /// Server-generated id, no trimming.
    pub fn new() -> XAddOptions {
        XAddOptions::default()
    }

    /// Adds the entry with this explicit id (it must be greater than the last one).
    pub fn id(mut self, id: impl Into<String>) -> XAddOptions {
        self.id = Some(id.into());
        self
    }

    /// Trims the stream to exactly `len` entries (`MAXLEN len`).
    pub fn maxlen(self, len: u64) -> XAddOptions {
        self.trim(StreamTrim::MaxLen(len))
    }

    /// Trims the stream to about `len` entries, never fewer (`MAXLEN ~ len`): the server
    /// only removes whole internal nodes, which is much cheaper.
    pub fn maxlen_approx(self, len: u64) -> XAddOptions {
        self.trim(StreamTrim::MaxLenApprox(len))
    }

    /// Trims the stream as it adds the entry (`MAXLEN` or `MINID`, exact or `~`); replaces
    /// any trimming set before.
    pub fn trim(mut self, trim: StreamTrim) -> XAddOptions {
        self.trim = Some(trim);
        self
    }

    /// The trimming and id arguments, in `XADD`'s order.
    fn push_args<'a>(&'a self, args: &mut Vec<&'a dyn ToArg>) {
        if let Some(trim) = &self.trim {
            trim.push_args(args);
        }
        match &self.id {
            Some(id) => args.push(id),
            None => args.push(&"*"),
        }
    }
}

/// Options of `XREAD` and `XREADGROUP`: `COUNT`, `BLOCK` and (`XREADGROUP` only) `NOACK`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XReadOptions {
    count: Option<u64>,
    block_ms: Option<u64>,
    noack: bool,
}

impl XReadOptions {
    /// No limit, no blocking.
    pub fn new() -> XReadOptions {
        XReadOptions::default()
    }

    /// At most `count` entries per stream (`COUNT`).
    pub fn count(mut self, count: u64) -> XReadOptions {
        self.count = Some(count);
        self
    }

    /// Waits up to `ms` milliseconds for entries when none are available (`BLOCK`; `0`
    /// waits forever). The read then runs on an exclusive connection.
    pub fn block(mut self, ms: u64) -> XReadOptions {
        self.block_ms = Some(ms);
        self
    }

    /// Does not add the entries to the pending list: they count as acknowledged at once
    /// (`NOACK`, `XREADGROUP` only; ignored by `XREAD`).
    pub fn noack(mut self) -> XReadOptions {
        self.noack = true;
        self
    }

    fn apply(&self, mut c: Cmd, group: bool) -> Cmd {
        if let Some(n) = self.count {
            c = c.arg("COUNT").arg(n);
        }
        if let Some(ms) = self.block_ms {
            c = c.arg("BLOCK").arg(ms);
        }
        if group && self.noack {
            c = c.arg("NOACK");
        }
        c
    }
}

/// Typed commands on streams, declared once: they run on any [`Executor`].
pub trait StreamCommands: Executor {
    /// `XADD key * field value ...`: appends an entry with a server-generated id and returns
    /// the id.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    fn xadd<F: ToArg, V: ToArg>(self, key: impl ToArg, fields: &[(F, V)]) -> Self::Run<String> {
        self.run(TypedCmd::new(cmd("XADD").key(key).arg("*").pairs(fields)))
    }

    /// `XADD key [MAXLEN|MINID [~] threshold] id|* field value ...`: appends an entry with
    /// options and returns its id.
    ///
    /// # Errors
    ///
    /// As for [`Self::xadd`]; a server error for an id not greater than the last one.
    fn xadd_with<F: ToArg, V: ToArg>(
        self,
        key: impl ToArg,
        fields: &[(F, V)],
        options: &XAddOptions,
    ) -> Self::Run<String> {
        let mut opts: Vec<&dyn ToArg> = Vec::new();
        options.push_args(&mut opts);
        self.run(TypedCmd::new(cmd("XADD").key(key).args(opts).pairs(fields)))
    }

    /// `XADD key NOMKSTREAM ...`: appends an entry only when the stream exists (a consumer
    /// group's stream that was deleted is not silently re-created, for instance). `None`
    /// when there is no stream; otherwise the new entry's id.
    ///
    /// # Errors
    ///
    /// As for [`Self::xadd_with`].
    fn xadd_if_exists<F: ToArg, V: ToArg>(
        self,
        key: impl ToArg,
        fields: &[(F, V)],
        options: &XAddOptions,
    ) -> Self::Run<Option<String>> {
        let mut opts: Vec<&dyn ToArg> = Vec::new();
        options.push_args(&mut opts);
        self.run(TypedCmd::new(
            cmd("XADD")
                .key(key)
                .arg("NOMKSTREAM")
                .args(opts)
                .pairs(fields),
        ))
    }

    /// `XRANGE key start end`: the entries with ids in the range, oldest first. `"-"` and
    /// `"+"` are the smallest and greatest ids; a `(` prefix excludes the bound.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an invalid id.
    fn xrange(
        self,
        key: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
    ) -> Self::Run<Vec<StreamEntry>> {
        self.run(TypedCmd::new(cmd("XRANGE").key(key).arg(start).arg(end)))
    }

    /// `XRANGE key start end COUNT count`: at most `count` entries.
    ///
    /// # Errors
    ///
    /// As for [`Self::xrange`].
    fn xrange_count(
        self,
        key: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
        count: u64,
    ) -> Self::Run<Vec<StreamEntry>> {
        self.run(TypedCmd::new(
            cmd("XRANGE")
                .key(key)
                .arg(start)
                .arg(end)
                .arg("COUNT")
                .arg(count),
        ))
    }

    /// `XLEN key`: the number of entries.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn xlen(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("XLEN").key(key)))
    }

    /// `XDEL key id...`: how many of the entries existed and were deleted.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an invalid id or an empty `ids`.
    fn xdel<I: ToArg>(self, key: impl ToArg, ids: &[I]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("XDEL").key(key).args(ids)))
    }

    /// `XREAD [COUNT n] [BLOCK ms] STREAMS key... id...`: entries after the given id of each
    /// stream (`"$"`: only entries added from now on, useful with `BLOCK`). Streams without
    /// new entries are left out; an empty `Vec` when none had any (or the block timed out).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::error::Error::InvalidArgument) for no streams; connection errors; `WRONGTYPE`; with
    /// `BLOCK`, [`Error::PoolTimeout`](crate::error::Error::PoolTimeout) when no exclusive connection is free.
    ///
    /// # Cancel safety
    ///
    /// Without `BLOCK`, as for any shared-connection command. With `BLOCK`, dropping the
    /// future closes its exclusive connection.
    fn xread<K: ToArg, I: ToArg>(
        self,
        streams: &[(K, I)],
        options: &XReadOptions,
    ) -> Self::Run<Vec<StreamBatch>> {
        let c = options.apply(cmd("XREAD"), false);
        self.run(stream_read(c, streams, options))
    }

    /// `XGROUP CREATE key group id`: creates a consumer group that starts after `id` (`"$"`:
    /// only new entries; `"0"`: the whole stream).
    ///
    /// # Errors
    ///
    /// Connection errors; `BUSYGROUP` when the group exists; a server error when the stream
    /// does not exist (see [`Self::xgroup_create_mkstream`]).
    fn xgroup_create(self, key: impl ToArg, group: impl ToArg, id: impl ToArg) -> Self::Run<()> {
        self.run(TypedCmd::new(
            cmd("XGROUP").arg("CREATE").key(key).arg(group).arg(id),
        ))
    }

    /// `XGROUP CREATE key group id MKSTREAM`: like [`Self::xgroup_create`], creating an
    /// empty stream if there is none.
    ///
    /// # Errors
    ///
    /// Connection errors; `BUSYGROUP` when the group exists.
    fn xgroup_create_mkstream(
        self,
        key: impl ToArg,
        group: impl ToArg,
        id: impl ToArg,
    ) -> Self::Run<()> {
        self.run(TypedCmd::new(
            cmd("XGROUP")
                .arg("CREATE")
                .key(key)
                .arg(group)
                .arg(id)
                .arg("MKSTREAM"),
        ))
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...`:
    /// reads as `consumer` of `group`. The id `">"` asks for entries never delivered to any
    /// consumer; any other id re-reads this consumer's pending entries after it.
    ///
    /// # Errors
    ///
    /// As for [`Self::xread`]; `NOGROUP` when the group or stream does not exist.
    ///
    /// # Cancel safety
    ///
    /// As for [`Self::xread`]. A dropped blocking read may still have delivered entries to
    /// `consumer`: they stay pending and can be read again with id `"0"`.
    fn xreadgroup<K: ToArg, I: ToArg>(
        self,
        group: impl ToArg,
        consumer: impl ToArg,
        streams: &[(K, I)],
        options: &XReadOptions,
    ) -> Self::Run<Vec<StreamBatch>> {
        let c = cmd("XREADGROUP").arg("GROUP").arg(group).arg(consumer);
        let c = options.apply(c, true);
        self.run(stream_read(c, streams, options))
    }

    /// `XACK key group id...`: how many pending entries were acknowledged.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `ids`.
    fn xack<I: ToArg>(self, key: impl ToArg, group: impl ToArg, ids: &[I]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("XACK").key(key).arg(group).args(ids)))
    }

    /// `XTRIM key MAXLEN|MINID [~] threshold`: shortens the stream and returns how many
    /// entries were removed.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an invalid id.
    fn xtrim(self, key: impl ToArg, trim: &StreamTrim) -> Self::Run<i64> {
        let mut args: Vec<&dyn ToArg> = Vec::new();
        trim.push_args(&mut args);
        self.run(TypedCmd::new(cmd("XTRIM").key(key).args(args)))
    }

    /// `XPENDING key group`: how many entries the group has delivered and not had
    /// acknowledged, their id range and who holds them.
    ///
    /// # Errors
    ///
    /// Connection errors; `NOGROUP` when the group or stream does not exist.
    fn xpending(self, key: impl ToArg, group: impl ToArg) -> Self::Run<PendingSummary> {
        self.run(TypedCmd::new(cmd("XPENDING").key(key).arg(group)))
    }

    /// `XPENDING key group [IDLE ms] start end count [consumer]`: the pending entries
    /// themselves, oldest first, with their consumer, idle time and delivery count; the way
    /// to find work a crashed consumer left behind (see [`Self::xautoclaim`]).
    ///
    /// # Errors
    ///
    /// As for [`Self::xpending`].
    fn xpending_range(
        self,
        key: impl ToArg,
        group: impl ToArg,
        options: &XPendingOptions,
    ) -> Self::Run<Vec<PendingEntry>> {
        let mut c = cmd("XPENDING").key(key).arg(group);
        if let Some(ms) = options.min_idle_ms {
            c = c.arg("IDLE").arg(ms);
        }
        c = c.arg(&options.start).arg(&options.end).arg(options.count);
        if let Some(consumer) = &options.consumer {
            c = c.arg(consumer);
        }
        self.run(TypedCmd::new(c))
    }

    /// `XCLAIM key group consumer min-idle-ms id...`: takes over the given pending entries
    /// that have been idle for at least `min_idle`, resets their idle time, counts a new
    /// delivery, and returns them. Entries that are not pending, not idle long enough, or no
    /// longer in the stream are left out.
    ///
    /// # Errors
    ///
    /// Connection errors; `NOGROUP`; a server error for an invalid id or an empty `ids`.
    fn xclaim<I: ToArg>(
        self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle: Duration,
        ids: &[I],
    ) -> Self::Run<Vec<StreamEntry>> {
        let c = cmd("XCLAIM")
            .key(key)
            .arg(group)
            .arg(consumer)
            .arg(duration_ms(min_idle))
            .args(ids);
        self.run(TypedCmd::with(c, present_entries))
    }

    /// `XAUTOCLAIM key group consumer min-idle-ms start [COUNT count]`: scans the pending
    /// list from `start` (`"0-0"` for the beginning) and claims for `consumer` up to `count`
    /// entries idle for at least `min_idle`. Call again from [`AutoClaim::next`] until it is
    /// `"0-0"` to sweep the whole list.
    ///
    /// # Errors
    ///
    /// Connection errors; `NOGROUP`; a server error for an invalid start id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use redis_manager::prelude::*;
    /// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
    /// use std::time::Duration;
    ///
    /// // Take over jobs that another worker received over five minutes ago and never acked.
    /// let mut start = "0-0".to_string();
    /// loop {
    ///     let page = client
    ///         .xautoclaim("jobs", "workers", "w2", Duration::from_secs(300), &start, Some(100))
    ///         .await?;
    ///     for entry in &page.claimed {
    ///         // ... process, then XACK ...
    ///         client.xack("jobs", "workers", &[&entry.id]).await?;
    ///     }
    ///     if page.next == "0-0" {
    ///         break;
    ///     }
    ///     start = page.next;
    /// }
    /// # Ok(()) }
    /// ```
    fn xautoclaim(
        self,
        key: impl ToArg,
        group: impl ToArg,
        consumer: impl ToArg,
        min_idle: Duration,
        start: impl ToArg,
        count: Option<u64>,
    ) -> Self::Run<AutoClaim> {
        let mut c = cmd("XAUTOCLAIM")
            .key(key)
            .arg(group)
            .arg(consumer)
            .arg(duration_ms(min_idle))
            .arg(start);
        if let Some(n) = count {
            c = c.arg("COUNT").arg(n);
        }
        self.run(TypedCmd::new(c))
    }
}

impl<E: Executor> StreamCommands for E {}

/// `XREAD`/`XREADGROUP` from their head (`c`): the streams' keys then their ids; a blocking
/// command with `BLOCK`; refused before sending without streams.
fn stream_read<K: ToArg, I: ToArg>(
    c: Cmd,
    streams: &[(K, I)],
    options: &XReadOptions,
) -> TypedCmd<Vec<StreamBatch>> {
    if streams.is_empty() {
        return TypedCmd::invalid("a stream read needs at least one stream");
    }
    let c = c
        .arg("STREAMS")
        .keys(streams.iter().map(|(k, _)| k))
        .args(streams.iter().map(|(_, id)| id));
    let read = TypedCmd::with(c, into_batches);
    match options.block_ms {
        Some(ms) => match blocking_wait(ms as f64 / 1000.0) {
            Ok(wait) => read.blocking(wait),
            Err(reason) => TypedCmd::invalid(reason),
        },
        None => read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &'static str, fields: Vec<Frame>) -> Frame {
        Frame::Array(vec![Frame::from(id), Frame::Array(fields)])
    }

    #[test]
    fn read_replies_of_both_protocols_give_the_same_batches() {
        let entries = Frame::Array(vec![
            entry("1-0", vec![Frame::from("f"), Frame::from("v")]),
            Frame::Array(vec![Frame::from("2-0"), Frame::Null]),
        ]);
        let resp2 = Frame::Array(vec![Frame::Array(vec![Frame::from("s"), entries.clone()])]);
        let resp3 = Frame::Map(vec![(Frame::from("s"), entries)]);
        let want = vec![StreamBatch {
            key: "s".into(),
            entries: vec![
                StreamEntry {
                    id: "1-0".into(),
                    fields: vec![(Bytes::from("f"), Bytes::from("v"))],
                },
                StreamEntry {
                    id: "2-0".into(),
                    fields: vec![],
                },
            ],
        }];
        assert_eq!(into_batches(resp2).unwrap(), want);
        assert_eq!(into_batches(resp3).unwrap(), want);
        assert_eq!(want[0].entries[0].get("f"), Some(&Bytes::from("v")));
        assert!(into_batches(Frame::NullArray).unwrap().is_empty());
        assert!(into_batches(Frame::Null).unwrap().is_empty());
    }

    #[test]
    fn autoclaim_replies_of_redis_6_and_7_convert_alike() {
        let claimed = entry("1-0", vec![Frame::from("f"), Frame::from("v")]);
        // Redis 7: deleted ids in a third element.
        let v7 = Frame::Array(vec![
            Frame::from("0-0"),
            Frame::Array(vec![claimed.clone()]),
            Frame::Array(vec![Frame::from("2-0")]),
        ]);
        // Redis 6.2: no third element; a deleted entry is a null among the entries.
        let v6 = Frame::Array(vec![
            Frame::from("3-0"),
            Frame::Array(vec![Frame::NullArray, claimed]),
        ]);
        let got = AutoClaim::from_reply(v7).unwrap();
        assert_eq!(got.next, "0-0");
        assert_eq!(got.claimed.len(), 1);
        assert_eq!(got.claimed[0].get("f"), Some(&Bytes::from("v")));
        assert_eq!(got.deleted, ["2-0"]);
        let got = AutoClaim::from_reply(v6).unwrap();
        assert_eq!(got.next, "3-0");
        assert_eq!(got.claimed[0].id, "1-0");
        assert!(got.deleted.is_empty());
        let short = Frame::Array(vec![Frame::from("0-0")]);
        assert!(matches!(
            AutoClaim::from_reply(short),
            Err(Error::Conversion(_))
        ));
    }

    #[test]
    fn pending_summary_of_an_empty_group_has_no_ids_or_consumers() {
        let empty = Frame::Array(vec![
            Frame::Integer(0),
            Frame::NullBulkString,
            Frame::NullBulkString,
            Frame::NullArray,
        ]);
        assert_eq!(
            PendingSummary::from_reply(empty).unwrap(),
            PendingSummary::default()
        );
        let busy = Frame::Array(vec![
            Frame::Integer(3),
            Frame::from("1-0"),
            Frame::from("3-0"),
            Frame::Array(vec![Frame::Array(vec![
                Frame::from("w1"),
                Frame::from("3"),
            ])]),
        ]);
        let got = PendingSummary::from_reply(busy).unwrap();
        assert_eq!(got.consumers, [("w1".to_string(), 3)]);
        assert_eq!(got.greatest.as_deref(), Some("3-0"));
    }
}
