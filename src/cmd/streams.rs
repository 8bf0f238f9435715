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

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::keys::{dyn_args, dyn_pairs};
use super::reply::into_pairs;
use super::{Cmd, FromReply, check_reply, cmd};
use crate::client::Client;
use crate::error::{ConversionError, Error};

/// One stream entry: its id and its field/value pairs in insertion order.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    maxlen: Option<(bool, u64)>,
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
    pub fn maxlen(mut self, len: u64) -> XAddOptions {
        self.maxlen = Some((false, len));
        self
    }

    /// Trims the stream to about `len` entries, never fewer (`MAXLEN ~ len`): the server
    /// only removes whole internal nodes, which is much cheaper.
    pub fn maxlen_approx(mut self, len: u64) -> XAddOptions {
        self.maxlen = Some((true, len));
        self
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

impl Client {
    /// `XADD key * field value ...`: appends an entry with a server-generated id and returns
    /// the id.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    pub async fn xadd<F: ToArg, V: ToArg>(
        &self,
        key: impl ToArg,
        fields: &[(F, V)],
    ) -> Result<String, Error> {
        self.call_with(&[&"XADD", &key, &"*"], &dyn_pairs(fields))
            .await
    }

    /// `XADD key [MAXLEN [~] len] id|* field value ...`: appends an entry with options and
    /// returns its id.
    ///
    /// # Errors
    ///
    /// As for [`Client::xadd`]; a server error for an id not greater than the last one.
    pub async fn xadd_with<F: ToArg, V: ToArg>(
        &self,
        key: impl ToArg,
        fields: &[(F, V)],
        options: &XAddOptions,
    ) -> Result<String, Error> {
        let mut head: Vec<&dyn ToArg> = vec![&"XADD", &key];
        if let Some((approx, len)) = &options.maxlen {
            head.push(&"MAXLEN");
            if *approx {
                head.push(&"~");
            }
            head.push(len);
        }
        match &options.id {
            Some(id) => head.push(id),
            None => head.push(&"*"),
        }
        self.call_with(&head, &dyn_pairs(fields)).await
    }

    /// `XRANGE key start end`: the entries with ids in the range, oldest first. `"-"` and
    /// `"+"` are the smallest and greatest ids; a `(` prefix excludes the bound.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an invalid id.
    pub async fn xrange(
        &self,
        key: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
    ) -> Result<Vec<StreamEntry>, Error> {
        self.call(&[&"XRANGE", &key, &start, &end]).await
    }

    /// `XRANGE key start end COUNT count`: at most `count` entries.
    ///
    /// # Errors
    ///
    /// As for [`Client::xrange`].
    pub async fn xrange_count(
        &self,
        key: impl ToArg,
        start: impl ToArg,
        end: impl ToArg,
        count: u64,
    ) -> Result<Vec<StreamEntry>, Error> {
        self.call(&[&"XRANGE", &key, &start, &end, &"COUNT", &count])
            .await
    }

    /// `XLEN key`: the number of entries.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn xlen(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"XLEN", &key]).await
    }

    /// `XDEL key id...`: how many of the entries existed and were deleted.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an invalid id or an empty `ids`.
    pub async fn xdel<I: ToArg>(&self, key: impl ToArg, ids: &[I]) -> Result<i64, Error> {
        self.call_with(&[&"XDEL", &key], &dyn_args(ids)).await
    }

    /// `XREAD [COUNT n] [BLOCK ms] STREAMS key... id...`: entries after the given id of each
    /// stream (`"$"`: only entries added from now on, useful with `BLOCK`). Streams without
    /// new entries are left out; an empty `Vec` when none had any (or the block timed out).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no streams; connection errors; `WRONGTYPE`; with
    /// `BLOCK`, [`Error::PoolTimeout`] when no exclusive connection is free.
    ///
    /// # Cancel safety
    ///
    /// Without `BLOCK`, as for any shared-connection command. With `BLOCK`, dropping the
    /// future closes its exclusive connection.
    pub async fn xread<K: ToArg, I: ToArg>(
        &self,
        streams: &[(K, I)],
        options: &XReadOptions,
    ) -> Result<Vec<StreamBatch>, Error> {
        let c = options.apply(cmd("XREAD"), false);
        self.stream_read(c, streams, options).await
    }

    /// `XGROUP CREATE key group id`: creates a consumer group that starts after `id` (`"$"`:
    /// only new entries; `"0"`: the whole stream).
    ///
    /// # Errors
    ///
    /// Connection errors; `BUSYGROUP` when the group exists; a server error when the stream
    /// does not exist (see [`Client::xgroup_create_mkstream`]).
    pub async fn xgroup_create(
        &self,
        key: impl ToArg,
        group: impl ToArg,
        id: impl ToArg,
    ) -> Result<(), Error> {
        self.call(&[&"XGROUP", &"CREATE", &key, &group, &id]).await
    }

    /// `XGROUP CREATE key group id MKSTREAM`: like [`Client::xgroup_create`], creating an
    /// empty stream if there is none.
    ///
    /// # Errors
    ///
    /// Connection errors; `BUSYGROUP` when the group exists.
    pub async fn xgroup_create_mkstream(
        &self,
        key: impl ToArg,
        group: impl ToArg,
        id: impl ToArg,
    ) -> Result<(), Error> {
        self.call(&[&"XGROUP", &"CREATE", &key, &group, &id, &"MKSTREAM"])
            .await
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...`:
    /// reads as `consumer` of `group`. The id `">"` asks for entries never delivered to any
    /// consumer; any other id re-reads this consumer's pending entries after it.
    ///
    /// # Errors
    ///
    /// As for [`Client::xread`]; `NOGROUP` when the group or stream does not exist.
    ///
    /// # Cancel safety
    ///
    /// As for [`Client::xread`]. A dropped blocking read may still have delivered entries to
    /// `consumer`: they stay pending and can be read again with id `"0"`.
    pub async fn xreadgroup<K: ToArg, I: ToArg>(
        &self,
        group: impl ToArg,
        consumer: impl ToArg,
        streams: &[(K, I)],
        options: &XReadOptions,
    ) -> Result<Vec<StreamBatch>, Error> {
        let c = cmd("XREADGROUP").arg("GROUP").arg(group).arg(consumer);
        let c = options.apply(c, true);
        self.stream_read(c, streams, options).await
    }

    /// `XACK key group id...`: how many pending entries were acknowledged.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `ids`.
    pub async fn xack<I: ToArg>(
        &self,
        key: impl ToArg,
        group: impl ToArg,
        ids: &[I],
    ) -> Result<i64, Error> {
        self.call_with(&[&"XACK", &key, &group], &dyn_args(ids))
            .await
    }

    async fn stream_read<K: ToArg, I: ToArg>(
        &self,
        c: Cmd,
        streams: &[(K, I)],
        options: &XReadOptions,
    ) -> Result<Vec<StreamBatch>, Error> {
        if streams.is_empty() {
            return Err(Error::InvalidArgument(
                "a stream read needs at least one stream",
            ));
        }
        let c = c
            .arg("STREAMS")
            .args(streams.iter().map(|(k, _)| k))
            .args(streams.iter().map(|(_, id)| id));
        let reply: Frame = match options.block_ms {
            Some(ms) => {
                let wait = self.blocking_wait(ms as f64 / 1000.0)?;
                self.run_blocking(c, wait).await?
            }
            None => self.query(c).await?,
        };
        into_batches(reply)
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
}
