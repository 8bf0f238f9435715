//! Typed commands: keys (`DEL`, `EXISTS`, expiry, `TYPE`, `RENAME`, `KEYS`).
//!
//! Iterating keys incrementally (`SCAN`) is in [`Self::scan`].
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
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
use resp_codec::{Frame, ToArg};

use super::typed::{Executor, TypedCmd};
use crate::command::cmd;
use crate::config::CachedCommand;

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

/// Typed commands on keys, declared once: they run on any [`Executor`].
pub trait KeyCommands: Executor {
    /// `DEL key...`: how many of the keys existed and were deleted. An empty `keys` gives 0
    /// without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn del<K: ToArg>(self, keys: &[K]) -> Self::Run<i64> {
        if keys.is_empty() {
            return self.run(TypedCmd::local(Frame::Integer(0)));
        }
        self.run(TypedCmd::new(cmd("DEL").keys(keys)))
    }

    /// `UNLINK key...`: like [`Self::del`], but the memory is reclaimed in the background.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn unlink<K: ToArg>(self, keys: &[K]) -> Self::Run<i64> {
        if keys.is_empty() {
            return self.run(TypedCmd::local(Frame::Integer(0)));
        }
        self.run(TypedCmd::new(cmd("UNLINK").keys(keys)))
    }

    /// `EXISTS key`: whether the key exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn exists(self, key: impl ToArg) -> Self::Run<bool> {
        self.run_read(CachedCommand::Exists, &key.to_arg(), &[], || {
            TypedCmd::new(cmd("EXISTS").key(&key))
        })
    }

    /// `EXISTS key...`: how many of the keys exist (a key named twice counts twice). An empty
    /// `keys` gives 0 without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn exists_many<K: ToArg>(self, keys: &[K]) -> Self::Run<i64> {
        if keys.is_empty() {
            return self.run(TypedCmd::local(Frame::Integer(0)));
        }
        self.run(TypedCmd::new(cmd("EXISTS").keys(keys)))
    }

    /// `EXPIRE key secs`: true when the expiry was set (false: no such key).
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn expire(self, key: impl ToArg, secs: i64) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("EXPIRE").key(key).arg(secs)))
    }

    /// `EXPIRE key secs NX|XX|GT|LT`: true when the expiry was set, false when the key does
    /// not exist or `option` prevented it.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn expire_with(self, key: impl ToArg, secs: i64, option: ExpireOption) -> Self::Run<bool> {
        self.run(TypedCmd::new(
            cmd("EXPIRE").key(key).arg(secs).arg(option.as_str()),
        ))
    }

    /// `PEXPIRE key ms`: like [`Self::expire`] in milliseconds.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn pexpire(self, key: impl ToArg, ms: i64) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("PEXPIRE").key(key).arg(ms)))
    }

    /// `PEXPIRE key ms NX|XX|GT|LT`: like [`Self::expire_with`] in milliseconds.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn pexpire_with(self, key: impl ToArg, ms: i64, option: ExpireOption) -> Self::Run<bool> {
        self.run(TypedCmd::new(
            cmd("PEXPIRE").key(key).arg(ms).arg(option.as_str()),
        ))
    }

    /// `EXPIREAT key unix_secs`: expires the key at a Unix time (a time in the past deletes
    /// it). True when the key exists.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn expireat(self, key: impl ToArg, unix_secs: i64) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("EXPIREAT").key(key).arg(unix_secs)))
    }

    /// `EXPIREAT key unix_secs NX|XX|GT|LT`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn expireat_with(
        self,
        key: impl ToArg,
        unix_secs: i64,
        option: ExpireOption,
    ) -> Self::Run<bool> {
        self.run(TypedCmd::new(
            cmd("EXPIREAT").key(key).arg(unix_secs).arg(option.as_str()),
        ))
    }

    /// `TTL key`: seconds left to live; `-1` for a key without expiry, `-2` for a missing key.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn ttl(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("TTL").key(key)))
    }

    /// `PTTL key`: like [`Self::ttl`] in milliseconds (same `-1` and `-2`).
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn pttl(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("PTTL").key(key)))
    }

    /// `PERSIST key`: removes the expiry; true when there was one.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn persist(self, key: impl ToArg) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("PERSIST").key(key)))
    }

    /// `TYPE key`: `"string"`, `"list"`, `"set"`, `"zset"`, `"hash"`, `"stream"`, or `"none"`
    /// for a missing key.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn key_type(self, key: impl ToArg) -> Self::Run<String> {
        self.run(TypedCmd::new(cmd("TYPE").key(key)))
    }

    /// `RENAME key newkey`, replacing `newkey` if it exists.
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR no such key` when `key` does not exist.
    fn rename(self, key: impl ToArg, newkey: impl ToArg) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("RENAME").key(key).key(newkey)))
    }

    /// `KEYS pattern`: every key matching the glob `pattern`, as bytes (keys written by other
    /// programs need not be UTF-8).
    ///
    /// This blocks the server while it walks the whole keyspace; prefer [`Client::scan`](crate::client::Client::scan) on
    /// large databases.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn keys(self, pattern: impl ToArg) -> Self::Run<Vec<Bytes>> {
        self.run(TypedCmd::new(cmd("KEYS").arg(pattern)))
    }
}

impl<E: Executor> KeyCommands for E {}
