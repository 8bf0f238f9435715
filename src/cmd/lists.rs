//! Typed commands: lists (`LPUSH`, `RPOP`, `LRANGE`, the blocking `BLPOP`/`BRPOP`, ...).
//!
//! # Blocking pops
//!
//! `BLPOP` and `BRPOP` hold their connection on the server until an element arrives or the
//! timeout passes, so they never run on the shared multiplexed connection (they would stall
//! every other caller). Each takes an exclusive pooled connection, and waits for the reply
//! for the block timeout plus the configured response timeout. If the future is dropped
//! while the pop is blocked, the connection is closed rather than returned to the pool: a
//! reused connection would still have the pop pending on the server, which would consume
//! the next pushed element and deliver it to nobody.
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! client.rpush("jobs", &["a", "b"]).await?;
//! // Wait up to 5 s for a job on either queue.
//! if let Some((queue, job)) = client.blpop(&["urgent", "jobs"], 5.0).await? {
//!     assert_eq!((queue.as_str(), &job[..]), ("jobs", &b"a"[..]));
//! }
//! assert_eq!(client.lrange("jobs", 0, -1).await?, vec!["b"]);
//! # Ok(()) }
//! ```

use std::time::Duration;

use bytes::Bytes;
use resp_codec::ToArg;

use super::cmd;
use super::typed::{Executor, TypedCmd};
use crate::connection::Wait;

/// Typed commands on lists, declared once: they run on any [`Executor`].
pub trait ListCommands: Executor {
    /// `LPUSH key value...`: pushes at the head (the last value ends up first); returns the
    /// new length.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `values`.
    fn lpush<V: ToArg>(self, key: impl ToArg, values: &[V]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("LPUSH").key(key).args(values)))
    }

    /// `RPUSH key value...`: pushes at the tail; returns the new length.
    ///
    /// # Errors
    ///
    /// As for [`Self::lpush`].
    fn rpush<V: ToArg>(self, key: impl ToArg, values: &[V]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("RPUSH").key(key).args(values)))
    }

    /// `LPOP key`: removes and returns the first element, `None` for an empty list.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn lpop(self, key: impl ToArg) -> Self::Run<Option<Bytes>> {
        self.run(TypedCmd::new(cmd("LPOP").key(key)))
    }

    /// `LPOP key count`: removes and returns up to `count` elements from the head (empty for
    /// a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn lpop_count(self, key: impl ToArg, count: u64) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("LPOP").key(key).arg(count)))
    }

    /// `RPOP key`: removes and returns the last element.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn rpop(self, key: impl ToArg) -> Self::Run<Option<Bytes>> {
        self.run(TypedCmd::new(cmd("RPOP").key(key)))
    }

    /// `RPOP key count`: removes and returns up to `count` elements from the tail, last
    /// first.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn rpop_count(self, key: impl ToArg, count: u64) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("RPOP").key(key).arg(count)))
    }

    /// `LRANGE key start stop`: the elements from `start` to `stop` inclusive; negative
    /// indexes count from the end (`0, -1` is the whole list).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn lrange(self, key: impl ToArg, start: i64, stop: i64) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("LRANGE").key(key).arg(start).arg(stop)))
    }

    /// `LLEN key`: the length (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn llen(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("LLEN").key(key)))
    }

    /// `LTRIM key start stop`: keeps only the elements from `start` to `stop` inclusive.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn ltrim(self, key: impl ToArg, start: i64, stop: i64) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("LTRIM").key(key).arg(start).arg(stop)))
    }

    /// `BLPOP key... timeout`: pops the first element of the first non-empty list, waiting up
    /// to `timeout_secs` seconds (`0.0`: forever) for one to appear. Returns the list's name
    /// and the element, `None` on timeout.
    ///
    /// Runs on an exclusive pooled connection, so it never stalls the shared one, and waits
    /// for the reply for the block plus the configured response timeout.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::error::Error::InvalidArgument) for a negative or non-finite timeout or no keys;
    /// [`Error::PoolTimeout`](crate::error::Error::PoolTimeout) when no exclusive connection is free; connection errors;
    /// `WRONGTYPE`; a conversion error for a list name that is not UTF-8.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes its connection (the pop may still take an element pushed
    /// in that instant, which is then lost); no later caller is affected.
    fn blpop<K: ToArg>(self, keys: &[K], timeout_secs: f64) -> Self::Run<Option<(String, Bytes)>> {
        self.run(blocking_pop("BLPOP", keys, timeout_secs))
    }

    /// `BRPOP key... timeout`: like [`Self::blpop`], popping from the tail.
    ///
    /// # Errors
    ///
    /// As for [`Self::blpop`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Self::blpop`].
    fn brpop<K: ToArg>(self, keys: &[K], timeout_secs: f64) -> Self::Run<Option<(String, Bytes)>> {
        self.run(blocking_pop("BRPOP", keys, timeout_secs))
    }
}

impl<E: Executor> ListCommands for E {}

/// `BLPOP`/`BRPOP`: a blocking command, refused before sending without keys or with a bad
/// timeout.
fn blocking_pop<K: ToArg>(
    name: &str,
    keys: &[K],
    timeout_secs: f64,
) -> TypedCmd<Option<(String, Bytes)>> {
    if keys.is_empty() {
        return TypedCmd::invalid("a blocking pop needs at least one key");
    }
    match blocking_wait(timeout_secs) {
        Ok(wait) => TypedCmd::new(cmd(name).keys(keys).arg(timeout_secs)).blocking(wait),
        Err(reason) => TypedCmd::invalid(reason),
    }
}

/// How long to wait for the reply of a command that blocks on the server for up to
/// `block_secs` (`0`: forever): the block plus the connection's response timeout, or no
/// limit.
pub(crate) fn blocking_wait(block_secs: f64) -> Result<Wait, &'static str> {
    if !block_secs.is_finite() || block_secs < 0.0 {
        return Err("block timeout must be a finite number of seconds, at least 0");
    }
    if block_secs == 0.0 {
        return Ok(Wait::Exactly(None));
    }
    Ok(Wait::Plus(Duration::from_secs_f64(block_secs)))
}
