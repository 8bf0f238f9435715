//! Typed commands: hashes (`HSET`, `HGET`, `HGETALL`, ...).
//!
//! # Examples
//!
//! ```no_run
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

use super::keys::{dyn_args, dyn_pairs};
use super::scan::{ScanOptions, ScanStream, parse_pairs};
use crate::client::Client;
use crate::error::Error;

impl Client {
    /// `HSET key field value`: 1 when the field is new, 0 when it was updated.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn hset(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        value: impl ToArg,
    ) -> Result<i64, Error> {
        self.call(&[&"HSET", &key, &field, &value]).await
    }

    /// `HSET key field value ...`: sets every pair; returns how many fields were new.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `pairs`.
    pub async fn hset_multiple<F: ToArg, V: ToArg>(
        &self,
        key: impl ToArg,
        pairs: &[(F, V)],
    ) -> Result<i64, Error> {
        self.call_with(&[&"HSET", &key], &dyn_pairs(pairs)).await
    }

    /// `HGET key field`: the value, `None` when the field or the key does not exist.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn hget(&self, key: impl ToArg, field: impl ToArg) -> Result<Option<Bytes>, Error> {
        self.call(&[&"HGET", &key, &field]).await
    }

    /// `HMGET key field...`: one entry per field, `None` for a missing one.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    pub async fn hmget<F: ToArg>(
        &self,
        key: impl ToArg,
        fields: &[F],
    ) -> Result<Vec<Option<Bytes>>, Error> {
        self.call_with(&[&"HMGET", &key], &dyn_args(fields)).await
    }

    /// `HGETALL key`: every field and value (empty for a missing key). The same under RESP2
    /// (a flat array) and RESP3 (a map).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a conversion error for a field name that is not UTF-8
    /// (use [`Client::hscan`] for binary field names).
    pub async fn hgetall(&self, key: impl ToArg) -> Result<HashMap<String, Bytes>, Error> {
        self.call(&[&"HGETALL", &key]).await
    }

    /// `HDEL key field...`: how many of the fields existed and were removed.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `fields`.
    pub async fn hdel<F: ToArg>(&self, key: impl ToArg, fields: &[F]) -> Result<i64, Error> {
        self.call_with(&[&"HDEL", &key], &dyn_args(fields)).await
    }

    /// `HEXISTS key field`.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn hexists(&self, key: impl ToArg, field: impl ToArg) -> Result<bool, Error> {
        self.call(&[&"HEXISTS", &key, &field]).await
    }

    /// `HINCRBY key field by`: the field's value after adding `by` (a missing field counts
    /// as 0).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; `ERR hash value is not an integer`.
    pub async fn hincrby(&self, key: impl ToArg, field: impl ToArg, by: i64) -> Result<i64, Error> {
        self.call(&[&"HINCRBY", &key, &field, &by]).await
    }

    /// `HLEN key`: the number of fields (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn hlen(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"HLEN", &key]).await
    }

    /// `HKEYS key`: the field names.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a conversion error for a field name that is not UTF-8.
    pub async fn hkeys(&self, key: impl ToArg) -> Result<Vec<String>, Error> {
        self.call(&[&"HKEYS", &key]).await
    }

    /// `HVALS key`: the values, in the same order as [`Client::hkeys`] would list the fields.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn hvals(&self, key: impl ToArg) -> Result<Vec<Bytes>, Error> {
        self.call(&[&"HVALS", &key]).await
    }

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
