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
use resp_codec::{Frame, ToArg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::hash_serde;
use super::scan::{ScanOptions, ScanStream, parse_pairs};
use super::typed::{Executor, TypedCmd};
use crate::client::Client;
use crate::command::cmd;
use crate::config::CachedCommand;

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
        self.run_read(
            CachedCommand::Hget,
            &key.to_arg(),
            &[&*field.to_arg()],
            || TypedCmd::new(cmd("HGET").key(&key).arg(&field)),
        )
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
        self.run_read(CachedCommand::Hgetall, &key.to_arg(), &[], || {
            TypedCmd::new(cmd("HGETALL").key(&key))
        })
    }

    /// `HSET key field value ...` from the fields of a flat struct: returns how many fields
    /// were new. Read it back with [`Self::hgetall_struct`].
    ///
    /// The mapping is the one Redis itself and other clients use for hashes:
    ///
    /// | Rust field | written as | read from |
    /// |---|---|---|
    /// | `String`, `&str` | its text | any UTF-8 value |
    /// | integers | decimal text (`-12`) | decimal text |
    /// | `f32`, `f64` | the shortest text that reads back exactly (`0.1`, `3`, `inf`, `NaN`) | any float text Rust parses (`1e3`, `-inf`, ...) |
    /// | `bool` | `1` / `0` | `1`, `0`, `true`, `false` (any case) |
    /// | `char` | the character | exactly one character |
    /// | `Option<T>` | `Some`: as `T`; `None`: the field is not written | a missing field is `None` |
    /// | unit enum variant | its (serde) name | its name |
    /// | bytes (`serde_bytes`) | the bytes | any value |
    ///
    /// A field that is `None` is not written, so a value left in the hash by an earlier
    /// write stays: delete the key first, in a transaction, to replace the whole record.
    /// When there is nothing to write (every field `None`), nothing is sent and the answer
    /// is `0`. Anything that is not flat (a nested struct, a map, a sequence, a tuple, an
    /// enum variant with data, a unit) is refused with a typed error, never a panic.
    ///
    /// # Errors
    ///
    /// [`Error::HashStruct`](crate::Error::HashStruct), before anything is sent, for a value
    /// that is not a flat struct (a nested struct, a map, a sequence or an enum variant with
    /// data in a field); connection errors; `WRONGTYPE`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use redis_manager::prelude::*;
    /// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct User {
    ///     name: String,
    ///     age: u32,
    ///     admin: bool,
    ///     email: Option<String>,
    /// }
    ///
    /// let ada = User { name: "Ada".into(), age: 36, admin: true, email: None };
    /// // HSET user:1 name Ada age 36 admin 1
    /// client.hset_struct("user:1", &ada).await?;
    /// let back: Option<User> = client.hgetall_struct("user:1").await?;
    /// assert_eq!(back.map(|u| u.age), Some(36));
    /// # Ok(()) }
    /// ```
    fn hset_struct<T: Serialize + ?Sized>(self, key: impl ToArg, value: &T) -> Self::Run<i64> {
        match hash_serde::to_pairs(value) {
            Ok(pairs) if pairs.is_empty() => self.run(TypedCmd::local(Frame::Integer(0))),
            Ok(pairs) => self.run(TypedCmd::new(cmd("HSET").key(key).pairs(&pairs))),
            Err(e) => self.run(TypedCmd::refused(e.into())),
        }
    }

    /// `HGETALL key` read into a flat struct: `None` when the hash is empty or the key does
    /// not exist, so that "no such record" is not an error.
    ///
    /// Values are read as [`Self::hset_struct`] writes them, and as other clients do: numbers
    /// from their decimal text, a `bool` from `1`, `0`, `true` or `false` (any case), an
    /// `Option` field is `None` when the hash has no such field. Fields of the hash that
    /// the struct does not have are ignored (unless it says
    /// `#[serde(deny_unknown_fields)]`).
    ///
    /// # Errors
    ///
    /// [`Error::HashStruct`](crate::Error::HashStruct) when a value does not parse as its
    /// field's type or a required field is missing (the error names the field, never the
    /// value); connection errors; `WRONGTYPE`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use redis_manager::prelude::*;
    /// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Counter {
    ///     hits: u64,
    ///     ratio: f64,
    ///     label: Option<String>,
    /// }
    ///
    /// client.hset_multiple("stats", &[("hits", "10"), ("ratio", "0.5")]).await?;
    /// let stats: Counter = client.hgetall_struct("stats").await?.expect("stats exist");
    /// assert_eq!((stats.hits, stats.label), (10, None));
    /// # Ok(()) }
    /// ```
    fn hgetall_struct<T: DeserializeOwned>(self, key: impl ToArg) -> Self::Run<Option<T>> {
        self.run(TypedCmd::with(
            cmd("HGETALL").key(key),
            hash_serde::from_reply::<T>,
        ))
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
