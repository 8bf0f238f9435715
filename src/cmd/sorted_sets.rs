//! Typed commands: sorted sets (`ZADD` and its options, `ZRANGE` by index, score or
//! lexicographically, `ZSCORE`, `ZSCAN`, ...).
//!
//! Scores are `f64`; `f64::INFINITY` and `f64::NEG_INFINITY` are sent as `inf`/`-inf`. Range
//! bounds are any argument, so the server's syntax applies: `"-inf"`, `"+inf"`, `"(5"`
//! (exclusive), `2.5`, or for lexicographic ranges `"[a"`, `"(b"`, `"-"`, `"+"`.
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::ZRangeOptions;
//!
//! client.zadd("scores", &[(10.0, "ann"), (7.5, "bob"), (12.0, "cid")]).await?;
//! client.zincrby("scores", 1.0, "bob").await?;
//! // The two best, highest first, with their scores.
//! let top = client
//!     .zrange_withscores("scores", 0, 1, &ZRangeOptions::new().rev())
//!     .await?;
//! assert_eq!(top[0].0, "cid");
//! // Everyone with a score of at least 9.
//! let good = client.zrangebyscore("scores", 9, "+inf").await?;
//! # let _ = good; Ok(()) }
//! ```

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::scan::{ScanOptions, ScanStream, parse_pairs};
use super::typed::{Executor, TypedCmd};
use super::{FromReply, check_reply};
use crate::client::Client;
use crate::command::cmd;
use crate::config::CachedCommand;
use crate::error::Error;

/// Options of `ZADD`: `NX`/`XX`, `GT`/`LT`, `CH`.
///
/// # Examples
///
/// ```
/// use redis_manager::cmd::ZAddOptions;
///
/// // Update existing members only, and only upwards; count changed members.
/// let opts = ZAddOptions::new().xx().gt().ch();
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZAddOptions {
    condition: Option<&'static str>,
    comparison: Option<&'static str>,
    ch: bool,
}

impl ZAddOptions {
    /// No condition: add new members and update existing ones.
    pub fn new() -> ZAddOptions {
        ZAddOptions::default()
    }

    /// Only add new members, never update (`NX`).
    pub fn nx(mut self) -> ZAddOptions {
        self.condition = Some("NX");
        self
    }

    /// Only update existing members, never add (`XX`).
    pub fn xx(mut self) -> ZAddOptions {
        self.condition = Some("XX");
        self
    }

    /// Only update when the new score is greater (`GT`); new members are still added.
    pub fn gt(mut self) -> ZAddOptions {
        self.comparison = Some("GT");
        self
    }

    /// Only update when the new score is less (`LT`); new members are still added.
    pub fn lt(mut self) -> ZAddOptions {
        self.comparison = Some("LT");
        self
    }

    /// Return the number of members added or whose score changed, instead of added only
    /// (`CH`).
    pub fn ch(mut self) -> ZAddOptions {
        self.ch = true;
        self
    }

    pub(crate) fn push_args<'a>(&'a self, out: &mut Vec<&'a dyn ToArg>) {
        if let Some(c) = &self.condition {
            out.push(c);
        }
        if let Some(c) = &self.comparison {
            out.push(c);
        }
        if self.ch {
            out.push(&"CH");
        }
    }
}

/// Options of `ZRANGE`: what `start`/`stop` mean (`BYSCORE`, `BYLEX`, or ranks by default),
/// `REV` and `LIMIT`.
///
/// With `REV` and `BYSCORE`/`BYLEX`, the server expects the bounds highest first
/// (`ZRANGE key +inf 5 BYSCORE REV`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZRangeOptions {
    by: Option<&'static str>,
    rev: bool,
    limit: Option<(i64, i64)>,
}

impl ZRangeOptions {
    /// By rank, lowest score first.
    pub fn new() -> ZRangeOptions {
        ZRangeOptions::default()
    }

    /// `start` and `stop` are scores (`BYSCORE`).
    pub fn by_score(mut self) -> ZRangeOptions {
        self.by = Some("BYSCORE");
        self
    }

    /// `start` and `stop` are lexicographic bounds such as `"[a"` (`BYLEX`); meaningful when
    /// all members have the same score.
    pub fn by_lex(mut self) -> ZRangeOptions {
        self.by = Some("BYLEX");
        self
    }

    /// Highest score first (`REV`).
    pub fn rev(mut self) -> ZRangeOptions {
        self.rev = true;
        self
    }

    /// Skips `offset` matches and returns at most `count` (`LIMIT`; a negative count means
    /// all). Only valid together with [`ZRangeOptions::by_score`] or
    /// [`ZRangeOptions::by_lex`].
    pub fn limit(mut self, offset: i64, count: i64) -> ZRangeOptions {
        self.limit = Some((offset, count));
        self
    }

    pub(crate) fn push_args<'a>(&'a self, out: &mut Vec<&'a dyn ToArg>) {
        if let Some(by) = &self.by {
            out.push(by);
        }
        if self.rev {
            out.push(&"REV");
        }
        if let Some((offset, count)) = &self.limit {
            out.extend([&"LIMIT" as &dyn ToArg, offset, count]);
        }
    }
}

/// Member/score pairs of a `WITHSCORES` reply: a flat array under RESP2, an array of
/// two-element arrays under RESP3.
fn into_scored(frame: Frame) -> Result<Vec<(Bytes, f64)>, Error> {
    let items = Vec::<Frame>::from_reply(check_reply(frame)?)?;
    if items.first().is_some_and(|f| f.as_slice().is_some()) {
        return items.into_iter().map(<(Bytes, f64)>::from_reply).collect();
    }
    let mut out = std::collections::VecDeque::with_capacity(items.len() / 2);
    parse_pairs(items, &mut out)?;
    Ok(out.into())
}

/// Typed commands on sorted sets, declared once: they run on any [`Executor`].
pub trait SortedSetCommands: Executor {
    /// `ZADD key score member ...`: how many members were added.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `members` or a NaN score.
    fn zadd<M: ToArg>(self, key: impl ToArg, members: &[(f64, M)]) -> Self::Run<i64> {
        self.zadd_with(key, members, ZAddOptions::new())
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] score member ...`: how many members were added (with
    /// `CH`: added or changed).
    ///
    /// # Errors
    ///
    /// As for [`Self::zadd`]; a server error for incompatible options (`NX` with `GT`).
    fn zadd_with<M: ToArg>(
        self,
        key: impl ToArg,
        members: &[(f64, M)],
        options: ZAddOptions,
    ) -> Self::Run<i64> {
        let mut tail: Vec<&dyn ToArg> = Vec::with_capacity(3 + members.len() * 2);
        options.push_args(&mut tail);
        for (score, member) in members {
            tail.extend([score as &dyn ToArg, member]);
        }
        self.run(TypedCmd::new(cmd("ZADD").key(key).args(tail)))
    }

    /// `ZREM key member...`: how many members were present and removed.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `members`.
    fn zrem<M: ToArg>(self, key: impl ToArg, members: &[M]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("ZREM").key(key).args(members)))
    }

    /// `ZCARD key`: the number of members.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn zcard(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("ZCARD").key(key)))
    }

    /// `ZSCORE key member`: the member's score, `None` when it is not in the set.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn zscore(self, key: impl ToArg, member: impl ToArg) -> Self::Run<Option<f64>> {
        self.run_read(
            CachedCommand::Zscore,
            &key.to_arg(),
            &[&*member.to_arg()],
            || TypedCmd::new(cmd("ZSCORE").key(&key).arg(&member)),
        )
    }

    /// `ZINCRBY key by member`: the member's score after adding `by` (a new member starts
    /// at 0).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error when the result would be NaN.
    fn zincrby(self, key: impl ToArg, by: f64, member: impl ToArg) -> Self::Run<f64> {
        self.run(TypedCmd::new(cmd("ZINCRBY").key(key).arg(by).arg(member)))
    }

    /// `ZRANGE key start stop`: members by rank, lowest score first; negative ranks count
    /// from the end (`0, -1` is the whole set).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn zrange(self, key: impl ToArg, start: i64, stop: i64) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("ZRANGE").key(key).arg(start).arg(stop)))
    }

    /// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: members only.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for bounds that do not fit the range
    /// kind, or `LIMIT` without `BYSCORE`/`BYLEX`.
    fn zrange_with(
        self,
        key: impl ToArg,
        start: impl ToArg,
        stop: impl ToArg,
        options: &ZRangeOptions,
    ) -> Self::Run<Vec<Bytes>> {
        let mut tail = Vec::with_capacity(5);
        options.push_args(&mut tail);
        self.run(TypedCmd::new(
            cmd("ZRANGE").key(key).arg(start).arg(stop).args(tail),
        ))
    }

    /// Like [`Self::zrange_with`], with `WITHSCORES`: `(member, score)` pairs, the same
    /// under RESP2 and RESP3.
    ///
    /// # Errors
    ///
    /// As for [`Self::zrange_with`]; `WITHSCORES` is refused together with `BYLEX`.
    fn zrange_withscores(
        self,
        key: impl ToArg,
        start: impl ToArg,
        stop: impl ToArg,
        options: &ZRangeOptions,
    ) -> Self::Run<Vec<(Bytes, f64)>> {
        let mut tail = Vec::with_capacity(6);
        options.push_args(&mut tail);
        tail.push(&"WITHSCORES");
        self.run(TypedCmd::with(
            cmd("ZRANGE").key(key).arg(start).arg(stop).args(tail),
            into_scored,
        ))
    }

    /// `ZRANGEBYSCORE key min max`: members with a score in the range, lowest first.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for a bound that is not a score.
    fn zrangebyscore(
        self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
    ) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(
            cmd("ZRANGEBYSCORE").key(key).arg(min).arg(max),
        ))
    }

    /// `ZREMRANGEBYSCORE key min max`: how many members were removed.
    ///
    /// # Errors
    ///
    /// As for [`Self::zrangebyscore`].
    fn zremrangebyscore(self, key: impl ToArg, min: impl ToArg, max: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(
            cmd("ZREMRANGEBYSCORE").key(key).arg(min).arg(max),
        ))
    }

    /// `ZCOUNT key min max`: how many members have a score in the range.
    ///
    /// # Errors
    ///
    /// As for [`Self::zrangebyscore`].
    fn zcount(self, key: impl ToArg, min: impl ToArg, max: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("ZCOUNT").key(key).arg(min).arg(max)))
    }
}

impl<E: Executor> SortedSetCommands for E {}

impl Client {
    /// `ZSCAN key`: the members and scores of a sorted set, incrementally, as a
    /// [`ScanStream`] of `(member, score)`. No request is made until the first `next`.
    pub fn zscan(&self, key: impl ToArg, options: ScanOptions) -> ScanStream<(Bytes, f64)> {
        let head = vec![
            Bytes::from_static(b"ZSCAN"),
            Bytes::copy_from_slice(&key.to_arg()),
        ];
        ScanStream::new(self, head, options, parse_pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&dyn ToArg]) -> Vec<String> {
        args.iter()
            .map(|a| String::from_utf8(a.to_arg().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn zadd_options_encode_in_server_order() {
        let cases: Vec<(ZAddOptions, &[&str])> = vec![
            (ZAddOptions::new(), &[]),
            (ZAddOptions::new().ch().gt().xx(), &["XX", "GT", "CH"]),
            (ZAddOptions::new().lt().nx(), &["NX", "LT"]),
        ];
        for (opts, want) in cases {
            let mut args = Vec::new();
            opts.push_args(&mut args);
            assert_eq!(words(&args), want, "{opts:?}");
        }
    }

    #[test]
    fn zrange_options_encode_kind_rev_and_limit() {
        let cases: Vec<(ZRangeOptions, &[&str])> = vec![
            (ZRangeOptions::new(), &[]),
            (ZRangeOptions::new().rev(), &["REV"]),
            (
                ZRangeOptions::new().limit(2, -1).rev().by_score(),
                &["BYSCORE", "REV", "LIMIT", "2", "-1"],
            ),
            (ZRangeOptions::new().by_lex(), &["BYLEX"]),
        ];
        for (opts, want) in cases {
            let mut args = Vec::new();
            opts.push_args(&mut args);
            assert_eq!(words(&args), want, "{opts:?}");
        }
    }

    #[test]
    fn scored_replies_of_both_protocols_agree() {
        let resp2 = Frame::Array(vec![
            Frame::from("a"),
            Frame::from("1"),
            Frame::from("b"),
            Frame::from("2.5"),
        ]);
        let resp3 = Frame::Array(vec![
            Frame::Array(vec![Frame::from("a"), Frame::Double(1.0)]),
            Frame::Array(vec![Frame::from("b"), Frame::Double(2.5)]),
        ]);
        let want = vec![(Bytes::from("a"), 1.0), (Bytes::from("b"), 2.5)];
        assert_eq!(into_scored(resp2).unwrap(), want);
        assert_eq!(into_scored(resp3).unwrap(), want);
        assert!(into_scored(Frame::Array(vec![])).unwrap().is_empty());
        let err = into_scored(Frame::SimpleError("WRONGTYPE x".into())).unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
    }
}
