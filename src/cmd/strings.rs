//! Typed commands: strings (`GET`, `SET` and its options, counters, ...).
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::SetOptions;
//!
//! client.set("greeting", "hello").await?;
//! assert_eq!(client.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//! // Only if absent, expiring in 60 s: false when the key already existed.
//! let created = client.set_with("lock", "me", SetOptions::new().nx().ex(60)).await?;
//! assert!(created);
//! assert_eq!(client.incrby("visits", 5).await?, 5);
//! # Ok(()) }
//! ```

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::typed::{Executor, TypedCmd};
use crate::command::cmd;
use crate::config::CachedCommand;

/// Options of `SET`: an expiry (`EX`, `PX`, `EXAT`, `PXAT`, `KEEPTTL`) and a condition (`NX`,
/// `XX`). Setting one expiry replaces any other, likewise for the condition.
///
/// # Examples
///
/// ```
/// use redis_manager::cmd::SetOptions;
///
/// let opts = SetOptions::new().xx().px(1500);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SetOptions {
    expiry: Option<SetExpiry>,
    condition: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SetExpiry {
    Ex(u64),
    Px(u64),
    ExAt(u64),
    PxAt(u64),
    KeepTtl,
}

impl SetOptions {
    /// No expiry, no condition: a plain `SET` that drops any TTL the key had.
    pub fn new() -> SetOptions {
        SetOptions::default()
    }

    /// Expires in `secs` seconds (`EX`).
    pub fn ex(mut self, secs: u64) -> SetOptions {
        self.expiry = Some(SetExpiry::Ex(secs));
        self
    }

    /// Expires in `ms` milliseconds (`PX`).
    pub fn px(mut self, ms: u64) -> SetOptions {
        self.expiry = Some(SetExpiry::Px(ms));
        self
    }

    /// Expires after `ttl` (`PX`, in whole milliseconds, at least 1: `PX 0` is an error).
    pub fn ttl(self, ttl: std::time::Duration) -> SetOptions {
        self.px(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
    }

    /// Expires at the Unix time `secs` (`EXAT`).
    pub fn exat(mut self, secs: u64) -> SetOptions {
        self.expiry = Some(SetExpiry::ExAt(secs));
        self
    }

    /// Expires at the Unix time `ms` in milliseconds (`PXAT`).
    pub fn pxat(mut self, ms: u64) -> SetOptions {
        self.expiry = Some(SetExpiry::PxAt(ms));
        self
    }

    /// Keeps the key's current time to live (`KEEPTTL`).
    pub fn keep_ttl(mut self) -> SetOptions {
        self.expiry = Some(SetExpiry::KeepTtl);
        self
    }

    /// Only sets a key that does not exist (`NX`).
    pub fn nx(mut self) -> SetOptions {
        self.condition = Some("NX");
        self
    }

    /// Only sets a key that already exists (`XX`).
    pub fn xx(mut self) -> SetOptions {
        self.condition = Some("XX");
        self
    }

    pub(crate) fn push_args<'a>(&'a self, out: &mut Vec<&'a dyn ToArg>) {
        if let Some(c) = &self.condition {
            out.push(c);
        }
        match &self.expiry {
            None => {}
            Some(SetExpiry::Ex(n)) => out.extend([&"EX" as &dyn ToArg, n]),
            Some(SetExpiry::Px(n)) => out.extend([&"PX" as &dyn ToArg, n]),
            Some(SetExpiry::ExAt(n)) => out.extend([&"EXAT" as &dyn ToArg, n]),
            Some(SetExpiry::PxAt(n)) => out.extend([&"PXAT" as &dyn ToArg, n]),
            Some(SetExpiry::KeepTtl) => out.push(&"KEEPTTL"),
        }
    }
}

/// The expiry change `GETEX` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetExOption {
    /// Expire in this many seconds (`EX`).
    Ex(u64),
    /// Expire in this many milliseconds (`PX`).
    Px(u64),
    /// Expire at this Unix time in seconds (`EXAT`).
    ExAt(u64),
    /// Expire at this Unix time in milliseconds (`PXAT`).
    PxAt(u64),
    /// Remove the time to live (`PERSIST`).
    Persist,
}

/// Typed commands on strings, declared once: they run on any [`Executor`] (a client, a
/// pooled connection, a transaction, or a pipeline that queues them).
pub trait StringCommands: Executor {
    /// `GET key`: the value, or `None` when the key does not exist.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE` when the key holds another type.
    fn get(self, key: impl ToArg) -> Self::Run<Option<Bytes>> {
        self.run_read(CachedCommand::Get, &key.to_arg(), &[], || {
            TypedCmd::new(cmd("GET").key(&key))
        })
    }

    /// `SET key value`, replacing any value and time to live.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn set(self, key: impl ToArg, value: impl ToArg) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("SET").key(key).arg(value)))
    }

    /// `SET key value` with options; false when `NX` or `XX` prevented the write.
    ///
    /// # Errors
    ///
    /// Connection errors; a syntax error for contradictory options.
    fn set_with(self, key: impl ToArg, value: impl ToArg, options: SetOptions) -> Self::Run<bool> {
        let mut tail = Vec::with_capacity(3);
        options.push_args(&mut tail);
        self.run(TypedCmd::new(cmd("SET").key(key).arg(value).args(tail)))
    }

    /// `SET key value ... GET`: sets and returns the previous value (`None` if there was none).
    /// With `NX`/`XX` the previous value is returned whether or not the write happened.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE` when the key holds another type.
    fn set_get(
        self,
        key: impl ToArg,
        value: impl ToArg,
        options: SetOptions,
    ) -> Self::Run<Option<Bytes>> {
        let mut tail = Vec::with_capacity(4);
        options.push_args(&mut tail);
        tail.push(&"GET");
        self.run(TypedCmd::new(cmd("SET").key(key).arg(value).args(tail)))
    }

    /// `MGET key...`: one entry per key, `None` for a missing key (or one of another type).
    /// An empty `keys` gives an empty `Vec` without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn mget<K: ToArg>(self, keys: &[K]) -> Self::Run<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return self.run(TypedCmd::local(Frame::Array(Vec::new())));
        }
        self.run(TypedCmd::new(cmd("MGET").keys(keys)))
    }

    /// `MSET key value ...`: sets every pair at once. An empty `pairs` does nothing.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn mset<K: ToArg, V: ToArg>(self, pairs: &[(K, V)]) -> Self::Run<()> {
        if pairs.is_empty() {
            return self.run(TypedCmd::local(Frame::SimpleString("OK".into())));
        }
        let mut c = cmd("MSET");
        for (k, v) in pairs {
            c.push_key(k).push_arg(v);
        }
        self.run(TypedCmd::new(c))
    }

    /// `SETNX key value`: true when the key did not exist and was set.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn setnx(self, key: impl ToArg, value: impl ToArg) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("SETNX").key(key).arg(value)))
    }

    /// `GETDEL key`: the value, deleting the key.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn getdel(self, key: impl ToArg) -> Self::Run<Option<Bytes>> {
        self.run(TypedCmd::new(cmd("GETDEL").key(key)))
    }

    /// `GETEX key ...`: the value, changing the key's expiry as `option` says.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn getex(self, key: impl ToArg, option: GetExOption) -> Self::Run<Option<Bytes>> {
        let c = cmd("GETEX").key(key);
        let c = match option {
            GetExOption::Ex(n) => c.arg("EX").arg(n),
            GetExOption::Px(n) => c.arg("PX").arg(n),
            GetExOption::ExAt(n) => c.arg("EXAT").arg(n),
            GetExOption::PxAt(n) => c.arg("PXAT").arg(n),
            GetExOption::Persist => c.arg("PERSIST"),
        };
        self.run(TypedCmd::new(c))
    }

    /// `APPEND key value`: the length of the string after appending.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn append(self, key: impl ToArg, value: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("APPEND").key(key).arg(value)))
    }

    /// `STRLEN key`: the length of the value in bytes (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn strlen(self, key: impl ToArg) -> Self::Run<i64> {
        self.run_read(CachedCommand::Strlen, &key.to_arg(), &[], || {
            TypedCmd::new(cmd("STRLEN").key(&key))
        })
    }

    /// `INCR key`: the value after adding one (a missing key counts as 0).
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR value is not an integer or out of range`.
    fn incr(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("INCR").key(key)))
    }

    /// `INCRBY key by`: the value after adding `by`.
    ///
    /// # Errors
    ///
    /// As for [`Self::incr`].
    fn incrby(self, key: impl ToArg, by: i64) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("INCRBY").key(key).arg(by)))
    }

    /// `INCRBYFLOAT key by`: the value after adding `by`.
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR value is not a valid float`.
    fn incrbyfloat(self, key: impl ToArg, by: f64) -> Self::Run<f64> {
        self.run(TypedCmd::new(cmd("INCRBYFLOAT").key(key).arg(by)))
    }

    /// `DECR key`: the value after subtracting one.
    ///
    /// # Errors
    ///
    /// As for [`Self::incr`].
    fn decr(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("DECR").key(key)))
    }

    /// `DECRBY key by`: the value after subtracting `by`.
    ///
    /// # Errors
    ///
    /// As for [`Self::incr`].
    fn decrby(self, key: impl ToArg, by: i64) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("DECRBY").key(key).arg(by)))
    }
}

impl<E: Executor> StringCommands for E {}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(opts: SetOptions) -> Vec<String> {
        let mut out = Vec::new();
        opts.push_args(&mut out);
        out.iter()
            .map(|a| String::from_utf8(a.to_arg().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn set_options_encode_condition_then_expiry() {
        let cases: Vec<(SetOptions, &[&str])> = vec![
            (SetOptions::new(), &[]),
            (SetOptions::new().ex(10), &["EX", "10"]),
            (SetOptions::new().px(5).nx(), &["NX", "PX", "5"]),
            (SetOptions::new().exat(7).xx(), &["XX", "EXAT", "7"]),
            (SetOptions::new().pxat(8), &["PXAT", "8"]),
            (SetOptions::new().keep_ttl().xx(), &["XX", "KEEPTTL"]),
            // The last expiry and the last condition win.
            (SetOptions::new().ex(1).px(2).nx().xx(), &["XX", "PX", "2"]),
        ];
        for (opts, want) in cases {
            assert_eq!(words(opts), want, "{opts:?}");
        }
    }
}
