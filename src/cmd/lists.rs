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

use super::keys::dyn_args;
use super::{Cmd, cmd};
use crate::client::Client;
use crate::connection::Wait;
use crate::error::Error;

impl Client {
    /// `LPUSH key value...`: pushes at the head (the last value ends up first); returns the
    /// new length.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `values`.
    pub async fn lpush<V: ToArg>(&self, key: impl ToArg, values: &[V]) -> Result<i64, Error> {
        self.call_with(&[&"LPUSH", &key], &dyn_args(values)).await
    }

    /// `RPUSH key value...`: pushes at the tail; returns the new length.
    ///
    /// # Errors
    ///
    /// As for [`Client::lpush`].
    pub async fn rpush<V: ToArg>(&self, key: impl ToArg, values: &[V]) -> Result<i64, Error> {
        self.call_with(&[&"RPUSH", &key], &dyn_args(values)).await
    }

    /// `LPOP key`: removes and returns the first element, `None` for an empty list.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn lpop(&self, key: impl ToArg) -> Result<Option<Bytes>, Error> {
        self.call(&[&"LPOP", &key]).await
    }

    /// `LPOP key count`: removes and returns up to `count` elements from the head (empty for
    /// a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn lpop_count(&self, key: impl ToArg, count: u64) -> Result<Vec<Bytes>, Error> {
        self.call(&[&"LPOP", &key, &count]).await
    }

    /// `RPOP key`: removes and returns the last element.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn rpop(&self, key: impl ToArg) -> Result<Option<Bytes>, Error> {
        self.call(&[&"RPOP", &key]).await
    }

    /// `RPOP key count`: removes and returns up to `count` elements from the tail, last
    /// first.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn rpop_count(&self, key: impl ToArg, count: u64) -> Result<Vec<Bytes>, Error> {
        self.call(&[&"RPOP", &key, &count]).await
    }

    /// `LRANGE key start stop`: the elements from `start` to `stop` inclusive; negative
    /// indexes count from the end (`0, -1` is the whole list).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn lrange(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> Result<Vec<Bytes>, Error> {
        self.call(&[&"LRANGE", &key, &start, &stop]).await
    }

    /// `LLEN key`: the length (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn llen(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"LLEN", &key]).await
    }

    /// `LTRIM key start stop`: keeps only the elements from `start` to `stop` inclusive.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn ltrim(&self, key: impl ToArg, start: i64, stop: i64) -> Result<(), Error> {
        self.call(&[&"LTRIM", &key, &start, &stop]).await
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
    /// [`Error::InvalidArgument`] for a negative or non-finite timeout or no keys;
    /// [`Error::PoolTimeout`] when no exclusive connection is free; connection errors;
    /// `WRONGTYPE`; a conversion error for a list name that is not UTF-8.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes its connection (the pop may still take an element pushed
    /// in that instant, which is then lost); no later caller is affected.
    pub async fn blpop<K: ToArg>(
        &self,
        keys: &[K],
        timeout_secs: f64,
    ) -> Result<Option<(String, Bytes)>, Error> {
        self.blocking_pop("BLPOP", keys, timeout_secs).await
    }

    /// `BRPOP key... timeout`: like [`Client::blpop`], popping from the tail.
    ///
    /// # Errors
    ///
    /// As for [`Client::blpop`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Client::blpop`].
    pub async fn brpop<K: ToArg>(
        &self,
        keys: &[K],
        timeout_secs: f64,
    ) -> Result<Option<(String, Bytes)>, Error> {
        self.blocking_pop("BRPOP", keys, timeout_secs).await
    }

    async fn blocking_pop<K: ToArg>(
        &self,
        name: &str,
        keys: &[K],
        timeout_secs: f64,
    ) -> Result<Option<(String, Bytes)>, Error> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument(
                "a blocking pop needs at least one key",
            ));
        }
        let wait = self.blocking_wait(timeout_secs)?;
        let command = cmd(name).args(keys).arg(timeout_secs);
        self.run_blocking(command, wait).await
    }

    /// How long to wait for the reply of a command that blocks on the server for up to
    /// `block_secs` (`0`: forever): the block plus the connection's response timeout, or no
    /// limit.
    pub(crate) fn blocking_wait(&self, block_secs: f64) -> Result<Wait, Error> {
        if !block_secs.is_finite() || block_secs < 0.0 {
            return Err(Error::InvalidArgument(
                "block timeout must be a finite number of seconds, at least 0",
            ));
        }
        if block_secs == 0.0 {
            return Ok(Wait::Exactly(None));
        }
        Ok(Wait::Plus(Duration::from_secs_f64(block_secs)))
    }

    /// Runs a blocking command on an exclusive connection, which is discarded if the
    /// future is dropped before the reply.
    pub(crate) async fn run_blocking<T: super::FromReply>(
        &self,
        command: Cmd,
        wait: Wait,
    ) -> Result<T, Error> {
        let mut conn = self.exclusive().await?;
        T::from_reply(conn.send_frame(&command, wait).await?)
    }
}
