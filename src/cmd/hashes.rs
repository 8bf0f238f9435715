//! Typed commands: hashes (`HSET`, `HGET`, `HGETALL`, ...).
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! client.hset_multiple("user:1", &[("name", "Ada"), ("lang", "en")]).await?;
//! client.hincrby("user:1", "logins", 1).await?;
//! let user = client.hgetall("user:1").await?;
//! assert_eq!(&user["name"][..], b"Ada");
//! # Ok(()) }
//! ```

use std::collections::HashMap;

use bytes::Bytes;
use resp_codec::ToArg;

use super::scan::{ScanOptions, ScanStream, parse_pairs};
use super::typed::{Executor, TypedCmd};
use crate::client::Client;
use crate::command::cmd;

/// Typed commands on hashes, declared once: they run on any [`Executor`].
pub trait HashCommands: Executor {
    /// `HSET key field value`: 1 when the field is new, 0 when it was updated.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn hset(self, key: impl ToArg, field: impl ToArg, value: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("HSET").key(key).arg(field).arg(value)))
    }

    /// `HSET key field value ...`: sets every pair; returns how many fields were new.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `pairs`.
    fn hset_multiple<F: ToArg, V: ToArg>(
        self,
        key: impl ToArg,
        pairs: &[(F, V)],
    ) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("HSET").key(key).pairs(pairs)))
    }

    /// `HGET key field`: the value, `None` when the field or the key does not exist.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn hget(self, key: impl ToArg, field: impl ToArg) -> Self::Run<Option<Bytes>> {
        self.run(TypedCmd::new(cmd("HGET").key(key).arg(field)))
    }

    /// `HMGET key field...`: one entry per field, `None` for a missing one.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    fn hmget<F: ToArg>(self, key: impl ToArg, fields: &[F]) -> Self::Run<Vec<Option<Bytes>>> {
        self.run(TypedCmd::new(cmd("HMGET").key(key).args(fields)))
    }

    /// `HGETALL key`: every field and value (empty for a missing key). The same under RESP2
    /// (a flat array) and RESP3 (a map).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a conversion error for a field name that is not UTF-8
    /// (use [`Client::hscan`](crate::client::Client::hscan) for binary field names).
    fn hgetall(self, key: impl ToArg) -> Self::Run<HashMap<String, Bytes>> {
        self.run(TypedCmd::new(cmd("HGETALL").key(key)))
    }

    /// `HDEL key field...`: how many of the fields existed and were removed.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    fn hdel<F: ToArg>(self, key: impl ToArg, fields: &[F]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("HDEL").key(key).args(fields)))
    }

    /// `HEXISTS key field`.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn hexists(self, key: impl ToArg, field: impl ToArg) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("HEXISTS").key(key).arg(field)))
    }

    /// `HINCRBY key field by`: the field's value after adding `by` (a missing field counts
    /// as 0).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; `ERR hash value is not an integer`.
    fn hincrby(self, key: impl ToArg, field: impl ToArg, by: i64) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("HINCRBY").key(key).arg(field).arg(by)))
    }

    /// `HLEN key`: the number of fields (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn hlen(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("HLEN").key(key)))
    }

    /// `HKEYS key`: the field names.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a conversion error for a field name that is not UTF-8.
    fn hkeys(self, key: impl ToArg) -> Self::Run<Vec<String>> {
        self.run(TypedCmd::new(cmd("HKEYS").key(key)))
    }

    /// `HVALS key`: the values, in the same order as [`Self::hkeys`] would list the fields.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn hvals(self, key: impl ToArg) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("HVALS").key(key)))
    }
}

impl<E: Executor> HashCommands for E {}

impl Client {
    /// `HSCAN key`: the fields and values of a hash, incrementally, as a [`ScanStream`] of
    /// `(field, value)` pairs. No request is made until the first `next`.
    pub fn hscan(&self, key: impl ToArg, options: ScanOptions) -> ScanStream<(Bytes, Bytes)> {
        let head = vec![
            Bytes::from_static(b"HSCAN"),
            Bytes::copy_from_slice(&key.to_arg()),
        ];
        ScanStream::new(self, head, options, parse_pairs)
    }
}
