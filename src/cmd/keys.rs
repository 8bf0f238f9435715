//! Typed commands: keys (`DEL`, `EXISTS`, expiry, `TYPE`, `RENAME`, `KEYS`).
//!
//! Iterating keys incrementally (`SCAN`) is in [`Client::scan`].
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::ExpireOption;
//!
//! client.set("session:1", "data").await?;
//! assert!(client.expire("session:1", 3600).await?);
//! // Only ever shorten the lifetime.
//! client.expire_with("session:1", 60, ExpireOption::Lt).await?;
//! assert!(client.ttl("session:1").await? <= 60);
//! assert_eq!(client.del(&["session:1", "session:2"]).await?, 1);
//! # Ok(()) }
//! ```

use bytes::Bytes;
use resp_codec::ToArg;

use crate::client::Client;
use crate::error::Error;

/// Borrows each item as a command argument, for the variadic tails of
/// [`Client::call_with`].
pub(crate) fn dyn_args<K: ToArg>(items: &[K]) -> Vec<&dyn ToArg> {
    items.iter().map(|k| k as &dyn ToArg).collect()
}

/// Borrows each pair as two consecutive command arguments.
pub(crate) fn dyn_pairs<A: ToArg, B: ToArg>(pairs: &[(A, B)]) -> Vec<&dyn ToArg> {
    pairs
        .iter()
        .flat_map(|(a, b)| [a as &dyn ToArg, b as &dyn ToArg])
        .collect()
}

/// When `EXPIRE` (and its variants) may change a key's expiry (Redis 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireOption {
    /// Only when the key has no expiry (`NX`).
    Nx,
    /// Only when the key already has an expiry (`XX`).
    Xx,
    /// Only when the new expiry is later than the current one (`GT`; no expiry counts as
    /// infinite, so `GT` never sets one on a persistent key).
    Gt,
    /// Only when the new expiry is earlier than the current one (`LT`; a persistent key
    /// counts as infinite, so `LT` sets one).
    Lt,
}

impl ExpireOption {
    fn as_str(self) -> &'static str {
        match self {
            ExpireOption::Nx => "NX",
            ExpireOption::Xx => "XX",
            ExpireOption::Gt => "GT",
            ExpireOption::Lt => "LT",
        }
    }
}

impl Client {
    /// `DEL key...`: how many of the keys existed and were deleted. An empty `keys` gives 0
    /// without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn del<K: ToArg>(&self, keys: &[K]) -> Result<i64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.call_with(&[&"DEL"], &dyn_args(keys)).await
    }

    /// `UNLINK key...`: like [`Client::del`], but the memory is reclaimed in the background.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn unlink<K: ToArg>(&self, keys: &[K]) -> Result<i64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.call_with(&[&"UNLINK"], &dyn_args(keys)).await
    }

    /// `EXISTS key`: whether the key exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn exists(&self, key: impl ToArg) -> Result<bool, Error> {
        self.call(&[&"EXISTS", &key]).await
    }

    /// `EXISTS key...`: how many of the keys exist (a key named twice counts twice). An empty
    /// `keys` gives 0 without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn exists_many<K: ToArg>(&self, keys: &[K]) -> Result<i64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.call_with(&[&"EXISTS"], &dyn_args(keys)).await
    }

    /// `EXPIRE key secs`: true when the expiry was set (false: no such key).
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn expire(&self, key: impl ToArg, secs: i64) -> Result<bool, Error> {
        self.call(&[&"EXPIRE", &key, &secs]).await
    }

    /// `EXPIRE key secs NX|XX|GT|LT`: true when the expiry was set, false when the key does
    /// not exist or `option` prevented it.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn expire_with(
        &self,
        key: impl ToArg,
        secs: i64,
        option: ExpireOption,
    ) -> Result<bool, Error> {
        self.call(&[&"EXPIRE", &key, &secs, &option.as_str()]).await
    }

    /// `PEXPIRE key ms`: like [`Client::expire`] in milliseconds.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn pexpire(&self, key: impl ToArg, ms: i64) -> Result<bool, Error> {
        self.call(&[&"PEXPIRE", &key, &ms]).await
    }

    /// `PEXPIRE key ms NX|XX|GT|LT`: like [`Client::expire_with`] in milliseconds.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn pexpire_with(
        &self,
        key: impl ToArg,
        ms: i64,
        option: ExpireOption,
    ) -> Result<bool, Error> {
        self.call(&[&"PEXPIRE", &key, &ms, &option.as_str()]).await
    }

    /// `EXPIREAT key unix_secs`: expires the key at a Unix time (a time in the past deletes
    /// it). True when the key exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn expireat(&self, key: impl ToArg, unix_secs: i64) -> Result<bool, Error> {
        self.call(&[&"EXPIREAT", &key, &unix_secs]).await
    }

    /// `EXPIREAT key unix_secs NX|XX|GT|LT`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn expireat_with(
        &self,
        key: impl ToArg,
        unix_secs: i64,
        option: ExpireOption,
    ) -> Result<bool, Error> {
        self.call(&[&"EXPIREAT", &key, &unix_secs, &option.as_str()])
            .await
    }

    /// `TTL key`: seconds left to live; `-1` for a key without expiry, `-2` for a missing key.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn ttl(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"TTL", &key]).await
    }

    /// `PTTL key`: like [`Client::ttl`] in milliseconds (same `-1` and `-2`).
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn pttl(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"PTTL", &key]).await
    }

    /// `PERSIST key`: removes the expiry; true when there was one.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn persist(&self, key: impl ToArg) -> Result<bool, Error> {
        self.call(&[&"PERSIST", &key]).await
    }

    /// `TYPE key`: `"string"`, `"list"`, `"set"`, `"zset"`, `"hash"`, `"stream"`, or `"none"`
    /// for a missing key.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn key_type(&self, key: impl ToArg) -> Result<String, Error> {
        self.call(&[&"TYPE", &key]).await
    }

    /// `RENAME key newkey`, replacing `newkey` if it exists.
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR no such key` when `key` does not exist.
    pub async fn rename(&self, key: impl ToArg, newkey: impl ToArg) -> Result<(), Error> {
        self.call(&[&"RENAME", &key, &newkey]).await
    }

    /// `KEYS pattern`: every key matching the glob `pattern`, as bytes (keys written by other
    /// programs need not be UTF-8).
    ///
    /// This blocks the server while it walks the whole keyspace; prefer [`Client::scan`] on
    /// large databases.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn keys(&self, pattern: impl ToArg) -> Result<Vec<Bytes>, Error> {
        self.call(&[&"KEYS", &pattern]).await
    }
}
