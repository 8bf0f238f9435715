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
//! On a cluster, `SCAN` (not `HSCAN`, `SSCAN` or `ZSCAN`, whose key lives on one node) walks
//! the masters and then checks that no slot moved behind it: see `ClusterWalk`.
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
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
use crate::cluster::Cluster;
use crate::cluster::slot::{SlotSet, key_slot};
use crate::config::ServerAddr;
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
/// On a cluster, `SCAN` visits every master in turn and keeps that guarantee while slots
/// move: a master that gained slots after its scan began is scanned again for the keys of
/// those slots, until the slot map holds still (more duplicates are possible then). If slots
/// are still moving after five such rechecks, the stream ends with
/// [`Error::ScanUnsettled`]. A slot that moves away from a master and back again within one
/// scan is not noticed. A master that fails over while it is (or before it is) scanned is
/// skipped once the slot map no longer lists it, and the replica that took its place is
/// scanned whole; a master that cannot be reached but is still listed ends the stream with
/// the connection error. The check needs `CLUSTER NODES`: for a user whose ACL denies it, the
/// scan visits each master once, without the check.
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
    /// On a cluster, `SCAN` walks the masters in turn (set up at the first batch).
    walk: Option<ClusterWalk>,
}

/// How many times a cluster-wide `SCAN` re-reads the slot map and rescans before it gives up
/// with [`Error::ScanUnsettled`].
const MAX_RECHECKS: u32 = 5;

/// A whole-cluster `SCAN`: every master in turn, then a check that no slot moved to a master
/// after its scan began.
///
/// A key that moves from a master not yet scanned to one already scanned (resharding) would
/// otherwise be missed. So each node's own account of the slots it holds (served or being
/// imported, from its `CLUSTER NODES`) is read before its first batch; when every node is done,
/// the slot map is read afresh and each master's holdings compared with what it held when its
/// scan began. A master that gained slots (or that was not scanned at all, such as a promoted
/// replica) is scanned again, keeping only keys in the slots it gained; then the check is
/// repeated. Keys may come back twice, as `SCAN` allows.
struct ClusterWalk {
    /// Nodes still to scan, in order.
    todo: VecDeque<ServerAddr>,
    /// For each node scanned, the slots it held when its latest scan began.
    held: Vec<(ServerAddr, SlotSet)>,
    /// The node being scanned: the slots it held at the start, and the slots whose keys this
    /// scan returns (`None`: all of them).
    current: Option<(SlotSet, Option<SlotSet>)>,
    rechecks: u32,
    /// False once a node refused `CLUSTER NODES` (an ACL user without it): the walk then
    /// visits each master once, without the final check.
    tracking: bool,
}

impl ClusterWalk {
    fn held_before(&self, addr: &ServerAddr) -> Option<&SlotSet> {
        self.held.iter().find(|(a, _)| a == addr).map(|(_, s)| s)
    }

    /// Records that the scan of `addr` is complete.
    fn finish_node(&mut self) {
        let (Some(addr), Some((held, _))) = (self.todo.pop_front(), self.current.take()) else {
            return;
        };
        match self.held.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, h)) => *h = held,
            None => self.held.push((addr, held)),
        }
    }
}

/// What a batch of a cluster-wide `SCAN` learned about the node it was sent to.
enum NodeStart {
    /// The node's scan was already under way.
    Continuing,
    /// The first batch of the node's scan: the slots it held, and the slots whose keys this
    /// scan of it returns (`None`: all).
    Tracked {
        held: SlotSet,
        only: Option<SlotSet>,
    },
    /// The first batch, but the node refused `CLUSTER NODES`: no check for moved slots.
    Untracked,
}

/// The masters that hold slots now that they did not hold when their scan began, in the
/// order of the fresh slot map.
async fn moved_to(cluster: &Cluster, walk: &ClusterWalk) -> Result<Vec<ServerAddr>, Error> {
    let mut nodes = cluster.refreshed_masters().await?;
    for (addr, _) in &walk.held {
        if !nodes.contains(addr) {
            nodes.push(addr.clone());
        }
    }
    let mut gained = Vec::new();
    for addr in nodes {
        let now = match cluster.held_slots(&addr).await {
            Ok(now) => now,
            // A node gone from the cluster holds nothing; its slots are held elsewhere now.
            Err(e) if e.is_connection_error() && walk.held_before(&addr).is_some() => continue,
            Err(e) => return Err(e),
        };
        let new = match walk.held_before(&addr) {
            Some(before) => now.difference(before),
            None => now,
        };
        if !new.is_empty() {
            gained.push(addr);
        }
    }
    Ok(gained)
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
            walk: None,
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
            // A cluster has no global keyspace to SCAN: scan each master in turn (see
            // `ClusterWalk`), one stream over every key.
            Some(cluster) if is_scan => {
                if self.walk.is_none() {
                    self.walk = Some(ClusterWalk {
                        todo: cluster.masters().await?.into(),
                        held: Vec::new(),
                        current: None,
                        rechecks: 0,
                        tracking: true,
                    });
                }
                let walk = self.walk.as_mut().expect("set above");
                if walk.todo.is_empty() {
                    if !walk.tracking {
                        self.done = true;
                        return Ok(());
                    }
                    let again = moved_to(cluster, walk).await?;
                    if again.is_empty() {
                        self.done = true;
                        return Ok(());
                    }
                    if walk.rechecks == MAX_RECHECKS {
                        return Err(Error::ScanUnsettled {
                            rechecks: walk.rechecks,
                        });
                    }
                    walk.rechecks += 1;
                    walk.todo.extend(again);
                }
                let addr = walk.todo.front().expect("not empty").clone();
                // Nothing is stored before the batch arrives (cancel safety): an interrupted
                // start is read again.
                let fresh = walk.current.is_none();
                let tracking = walk.tracking;
                let before = walk.held_before(&addr).cloned();
                let sent = async {
                    let starting = match (fresh, tracking) {
                        (true, true) => match cluster.held_slots(&addr).await {
                            Ok(held) => {
                                let only = before.map(|b| held.difference(&b));
                                NodeStart::Tracked { held, only }
                            }
                            Err(e) if e.server_error().is_some() => {
                                tracing::debug!(node = %addr, error = %e, "CLUSTER NODES refused: SCAN cannot check for moved slots");
                                NodeStart::Untracked
                            }
                            Err(e) => return Err(e),
                        },
                        (true, false) => NodeStart::Untracked,
                        (false, _) => NodeStart::Continuing,
                    };
                    let frame = cluster
                        .request_on(&addr, &super::Cmd::from_args(&args))
                        .await?;
                    Ok::<_, Error>((starting, frame))
                };
                let (starting, frame) = match sent.await {
                    Ok(sent) => sent,
                    Err(e) if e.is_connection_error() => {
                        // A master that failed over is no longer one: its slots' new master
                        // is scanned whole by the final check (it was never scanned), so the
                        // scan goes on without it. A master still listed is an error.
                        if cluster.refreshed_masters().await?.contains(&addr) {
                            return Err(e);
                        }
                        let walk = self.walk.as_mut().expect("set above");
                        walk.todo.pop_front();
                        walk.current = None;
                        self.buffer.clear();
                        self.cursor = Bytes::from_static(b"0");
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                let (cursor, mut items): (Bytes, Vec<Frame>) = FromReply::from_reply(frame)?;
                let walk = self.walk.as_mut().expect("set above");
                match starting {
                    NodeStart::Tracked { held, only } => walk.current = Some((held, only)),
                    NodeStart::Untracked => {
                        walk.tracking = false;
                        walk.current = Some((SlotSet::new(), None));
                    }
                    NodeStart::Continuing => {}
                }
                if let Some((_, Some(only))) = &walk.current {
                    items.retain(|f| f.as_bytes().is_some_and(|k| only.contains(key_slot(k))));
                }
                (cursor, items)
            }
            _ => self.client.call(&args).await?,
        };
        // Nothing changes before the reply is complete and valid (cancel safety).
        let mut batch = VecDeque::with_capacity(items.len());
        (self.parse)(items, &mut batch)?;
        self.buffer = batch;
        let finished = &cursor[..] == b"0";
        match self.walk.as_mut() {
            Some(walk) if finished => {
                // This node is done; the next one (or the final check) starts from cursor 0.
                walk.finish_node();
                self.done = false;
            }
            _ => self.done = finished,
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
    if !items.len().is_multiple_of(2) {
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
