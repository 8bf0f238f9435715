//! Typed commands: strings (`GET`, `SET` and its options, counters, ...).
//!
//! # Examples
//!
//! ```no_run
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
use resp_codec::ToArg;

use super::keys::{dyn_args, dyn_pairs};
use crate::client::Client;
use crate::error::Error;

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

impl Client {
    /// `GET key`: the value, or `None` when the key does not exist.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE` when the key holds another type.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, like every typed command on the shared connection: dropping the future
    /// withdraws the command or discards its reply (see [`Client::query`]).
    pub async fn get(&self, key: impl ToArg) -> Result<Option<Bytes>, Error> {
        self.call(&[&"GET", &key]).await
    }

    /// `SET key value`, replacing any value and time to live.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn set(&self, key: impl ToArg, value: impl ToArg) -> Result<(), Error> {
        self.call(&[&"SET", &key, &value]).await
    }

    /// `SET key value` with options; false when `NX` or `XX` prevented the write.
    ///
    /// # Errors
    ///
    /// Connection errors; a syntax error for contradictory options.
    pub async fn set_with(
        &self,
        key: impl ToArg,
        value: impl ToArg,
        options: SetOptions,
    ) -> Result<bool, Error> {
        let mut tail = Vec::with_capacity(3);
        options.push_args(&mut tail);
        self.call_with(&[&"SET", &key, &value], &tail).await
    }

    /// `SET key value ... GET`: sets and returns the previous value (`None` if there was none).
    /// With `NX`/`XX` the previous value is returned whether or not the write happened.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE` when the key holds another type.
    pub async fn set_get(
        &self,
        key: impl ToArg,
        value: impl ToArg,
        options: SetOptions,
    ) -> Result<Option<Bytes>, Error> {
        let mut tail = Vec::with_capacity(4);
        options.push_args(&mut tail);
        tail.push(&"GET");
        self.call_with(&[&"SET", &key, &value], &tail).await
    }

    /// `MGET key...`: one entry per key, `None` for a missing key (or one of another type).
    /// An empty `keys` gives an empty `Vec` without a round trip.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn mget<K: ToArg>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.call_with(&[&"MGET"], &dyn_args(keys)).await
    }

    /// `MSET key value ...`: sets every pair at once. An empty `pairs` does nothing.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn mset<K: ToArg, V: ToArg>(&self, pairs: &[(K, V)]) -> Result<(), Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.call_with(&[&"MSET"], &dyn_pairs(pairs)).await
    }

    /// `SETNX key value`: true when the key did not exist and was set.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn setnx(&self, key: impl ToArg, value: impl ToArg) -> Result<bool, Error> {
        self.call(&[&"SETNX", &key, &value]).await
    }

    /// `GETDEL key`: the value, deleting the key.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn getdel(&self, key: impl ToArg) -> Result<Option<Bytes>, Error> {
        self.call(&[&"GETDEL", &key]).await
    }

    /// `GETEX key ...`: the value, changing the key's expiry as `option` says.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn getex(
        &self,
        key: impl ToArg,
        option: GetExOption,
    ) -> Result<Option<Bytes>, Error> {
        match &option {
            GetExOption::Ex(n) => self.call(&[&"GETEX", &key, &"EX", n]).await,
            GetExOption::Px(n) => self.call(&[&"GETEX", &key, &"PX", n]).await,
            GetExOption::ExAt(n) => self.call(&[&"GETEX", &key, &"EXAT", n]).await,
            GetExOption::PxAt(n) => self.call(&[&"GETEX", &key, &"PXAT", n]).await,
            GetExOption::Persist => self.call(&[&"GETEX", &key, &"PERSIST"]).await,
        }
    }

    /// `APPEND key value`: the length of the string after appending.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn append(&self, key: impl ToArg, value: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"APPEND", &key, &value]).await
    }

    /// `STRLEN key`: the length of the value in bytes (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn strlen(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"STRLEN", &key]).await
    }

    /// `INCR key`: the value after adding one (a missing key counts as 0).
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR value is not an integer or out of range`.
    pub async fn incr(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"INCR", &key]).await
    }

    /// `INCRBY key by`: the value after adding `by`.
    ///
    /// # Errors
    ///
    /// As for [`Client::incr`].
    pub async fn incrby(&self, key: impl ToArg, by: i64) -> Result<i64, Error> {
        self.call(&[&"INCRBY", &key, &by]).await
    }

    /// `INCRBYFLOAT key by`: the value after adding `by`.
    ///
    /// # Errors
    ///
    /// Connection errors; `ERR value is not a valid float`.
    pub async fn incrbyfloat(&self, key: impl ToArg, by: f64) -> Result<f64, Error> {
        self.call(&[&"INCRBYFLOAT", &key, &by]).await
    }

    /// `DECR key`: the value after subtracting one.
    ///
    /// # Errors
    ///
    /// As for [`Client::incr`].
    pub async fn decr(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"DECR", &key]).await
    }

    /// `DECRBY key by`: the value after subtracting `by`.
    ///
    /// # Errors
    ///
    /// As for [`Client::incr`].
    pub async fn decrby(&self, key: impl ToArg, by: i64) -> Result<i64, Error> {
        self.call(&[&"DECRBY", &key, &by]).await
    }
}

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
