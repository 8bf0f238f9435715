//! Incremental iteration: `SCAN`, `HSCAN`, `SSCAN` and `ZSCAN` as a [`ScanStream`].
//!
//! # Design
//!
//! A [`ScanStream`] holds the server's cursor and one batch of items. [`ScanStream::next`]
//! hands out the buffered items and, when the buffer is empty, asks the server for the next
//! batch from the stored cursor. The cursor and the buffer change only after a reply has been
//! fully received and parsed, so a `next` future dropped while waiting leaves the stream
//! where it was: the next call repeats the same request, and no item is lost or skipped. The
//! iteration ends when the server returns cursor `0`; a batch may be empty without the
//! iteration being over, so `next` keeps asking until it has an item or the cursor is `0`.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::ScanOptions;
//!
//! let mut keys = client.scan(ScanOptions::new().pattern("user:*").count(500));
//! while let Some(key) = keys.next().await {
//!     let key = key?;
//!     client.expire(&key, 3600).await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::FromReply;
use crate::client::Client;
use crate::error::{ConversionError, Error};

/// Filters and batch size of a scan: `MATCH`, `COUNT` and (for `SCAN` only) `TYPE`.
///
/// # Examples
///
/// ```
/// use redis_manager::cmd::ScanOptions;
///
/// let opts = ScanOptions::new().pattern("cache:*").count(1000).key_type("string");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanOptions {
    pattern: Option<Bytes>,
    count: Option<u64>,
    key_type: Option<String>,
}

impl ScanOptions {
    /// Every element, in the server's default batch size (about 10).
    pub fn new() -> ScanOptions {
        ScanOptions::default()
    }

    /// Only elements (keys, fields, members) matching the glob `pattern` (`MATCH`). The
    /// filter runs on the server after each batch is read, so batches can come back small or
    /// empty.
    pub fn pattern(mut self, pattern: impl ToArg) -> ScanOptions {
        self.pattern = Some(Bytes::copy_from_slice(&pattern.to_arg()));
        self
    }

    /// How much work the server does per batch (`COUNT`): a hint, not an exact size.
    pub fn count(mut self, count: u64) -> ScanOptions {
        self.count = Some(count);
        self
    }

    /// Only keys of this type (`TYPE`, for example `"string"` or `"hash"`). Applies to
    /// [`Client::scan`] only; `HSCAN`, `SSCAN` and `ZSCAN` ignore it.
    pub fn key_type(mut self, key_type: impl Into<String>) -> ScanOptions {
        self.key_type = Some(key_type.into());
        self
    }
}

/// How one batch of a scan reply becomes items.
type ParseBatch<T> = fn(Vec<Frame>, &mut VecDeque<T>) -> Result<(), Error>;

/// An asynchronous stream of the elements of a `SCAN`-family iteration.
///
/// The guarantees are the server's: an element present for the whole iteration is returned
/// at least once; an element added or removed meanwhile may or may not be; an element may be
/// returned more than once if the table shrinks during the iteration (callers that cannot
/// tolerate duplicates must deduplicate). The iteration ends when the server returns cursor
/// `0`; batches may be empty before that, and `next` keeps asking.
///
/// Use it with `while let Some(item) = stream.next().await`. It does not implement
/// `futures::Stream`: this crate does not depend on the `futures` crate, and the trait cannot
/// be implemented without it. A caller that needs one can wrap `next` in
/// `futures::stream::unfold`.
///
/// After an error the stream ends (`next` returns `None`); start a new scan to try again.
pub struct ScanStream<T> {
    client: Client,
    /// The command and its key, for example `["HSCAN", key]`.
    head: Vec<Bytes>,
    options: ScanOptions,
    cursor: Bytes,
    buffer: VecDeque<T>,
    done: bool,
    parse: ParseBatch<T>,
    /// On a cluster, `SCAN` walks the masters in turn: their addresses (read at the first
    /// batch) and the index of the one being scanned.
    masters: Option<Vec<crate::config::ServerAddr>>,
    node: usize,
}

impl<T> std::fmt::Debug for ScanStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanStream")
            .field("command", &String::from_utf8_lossy(&self.head[0]))
            .field("cursor", &String::from_utf8_lossy(&self.cursor))
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish()
    }
}

impl<T> ScanStream<T> {
    /// A scan that sends `head` (command name, then the key for `HSCAN`/`SSCAN`/`ZSCAN`)
    /// followed by the cursor and the options.
    pub(crate) fn new(
        client: &Client,
        head: Vec<Bytes>,
        options: ScanOptions,
        parse: ParseBatch<T>,
    ) -> ScanStream<T> {
        ScanStream {
            client: client.clone(),
            head,
            options,
            cursor: Bytes::from_static(b"0"),
            buffer: VecDeque::new(),
            done: false,
            parse,
            masters: None,
            node: 0,
        }
    }

    /// The next element, `None` when the iteration is complete (or ended with an error).
    ///
    /// # Errors
    ///
    /// Connection errors, server errors (`WRONGTYPE` for `HSCAN` on a non-hash, ...),
    /// conversion errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the stream only advances when a whole batch has arrived, so dropping the
    /// future loses nothing; the next call asks for the same batch again.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch().await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Reads the rest of the iteration into a `Vec`.
    ///
    /// # Errors
    ///
    /// The first error [`ScanStream::next`] returns.
    pub async fn try_collect(mut self) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    /// True once the server returned cursor `0` (items may still be buffered).
    pub fn is_finished(&self) -> bool {
        self.done
    }

    async fn fetch(&mut self) -> Result<(), Error> {
        let mut args: Vec<&dyn ToArg> = self.head.iter().map(|a| a as &dyn ToArg).collect();
        args.push(&self.cursor);
        if let Some(p) = &self.options.pattern {
            args.extend([&"MATCH" as &dyn ToArg, p]);
        }
        if let Some(c) = &self.options.count {
            args.extend([&"COUNT" as &dyn ToArg, c]);
        }
        let is_scan = self.head.len() == 1;
        if let (true, Some(t)) = (is_scan, &self.options.key_type) {
            args.extend([&"TYPE" as &dyn ToArg, t]);
        }
        let (cursor, items): (Bytes, Vec<Frame>) = match self.client.pool.cluster() {
            // A cluster has no global keyspace to SCAN: scan each master in turn, one
            // stream over every key. Keys that move between masters during the iteration
            // may be missed or repeated.
            Some(cluster) if is_scan => {
                if self.masters.is_none() {
                    self.masters = Some(cluster.masters().await?);
                }
                let masters = self.masters.as_deref().unwrap_or_default();
                let Some(addr) = masters.get(self.node) else {
                    self.done = true;
                    return Ok(());
                };
                let frame = cluster
                    .request_on(addr, |b| resp_codec::encode_command(b, &args))
                    .await?;
                FromReply::from_reply(frame)?
            }
            _ => self.client.call(&args).await?,
        };
        // Nothing changes before the reply is complete and valid (cancel safety).
        let mut batch = VecDeque::with_capacity(items.len());
        (self.parse)(items, &mut batch)?;
        self.buffer = batch;
        self.done = &cursor[..] == b"0";
        if let Some(masters) = &self.masters {
            if self.done && self.node + 1 < masters.len() {
                // This master is done; the next one starts from cursor 0.
                self.node += 1;
                self.done = false;
            }
        }
        self.cursor = cursor;
        Ok(())
    }
}

/// Each element as bytes (`SCAN` keys, `SSCAN` members).
pub(crate) fn parse_each(items: Vec<Frame>, out: &mut VecDeque<Bytes>) -> Result<(), Error> {
    for f in items {
        out.push_back(Bytes::from_reply(f)?);
    }
    Ok(())
}

/// Consecutive elements as pairs of converted values (`HSCAN` field/value, `ZSCAN`
/// member/score).
pub(crate) fn parse_pairs<A: FromReply, B: FromReply>(
    items: Vec<Frame>,
    out: &mut VecDeque<(A, B)>,
) -> Result<(), Error> {
    if items.len() % 2 != 0 {
        return Err(Error::Conversion(ConversionError {
            expected: "pairs of elements",
            got: "odd number of elements",
        }));
    }
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push_back((A::from_reply(a)?, B::from_reply(b)?));
    }
    Ok(())
}

impl Client {
    /// `SCAN`: every key of the database, incrementally, as a [`ScanStream`]. No request is
    /// made until the first [`ScanStream::next`].
    ///
    /// Keys are bytes: a database shared with other programs can hold keys that are not
    /// UTF-8.
    pub fn scan(&self, options: ScanOptions) -> ScanStream<Bytes> {
        ScanStream::new(self, vec![Bytes::from_static(b"SCAN")], options, parse_each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_in_order_and_reject_odd_lengths() {
        let mut out = VecDeque::new();
        parse_pairs::<Bytes, f64>(
            vec![
                Frame::from("a"),
                Frame::from("1.5"),
                Frame::from("b"),
                Frame::from("-inf"),
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            Vec::from(out),
            vec![
                (Bytes::from("a"), 1.5),
                (Bytes::from("b"), f64::NEG_INFINITY)
            ]
        );
        let mut out = VecDeque::<(Bytes, Bytes)>::new();
        let err = parse_pairs(vec![Frame::from("a")], &mut out).unwrap_err();
        assert!(matches!(err, Error::Conversion(_)), "{err:?}");
    }
}
