//! Typed commands: sets (`SADD`, `SREM`, `SMEMBERS`, `SISMEMBER`, `SCARD`, `SSCAN`).
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! assert_eq!(client.sadd("tags", &["rust", "redis", "rust"]).await?, 2);
//! assert!(client.sismember("tags", "redis").await?);
//! let tags = client.smembers("tags").await?;
//! assert_eq!(tags.len(), 2);
//! # Ok(()) }
//! ```

use std::collections::HashSet;

use bytes::Bytes;
use resp_codec::ToArg;

use super::keys::dyn_args;
use super::scan::{ScanOptions, ScanStream, parse_each};
use crate::client::Client;
use crate::error::Error;

impl Client {
    /// `SADD key member...`: how many members were new.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `members`.
    pub async fn sadd<M: ToArg>(&self, key: impl ToArg, members: &[M]) -> Result<i64, Error> {
        self.call_with(&[&"SADD", &key], &dyn_args(members)).await
    }

    /// `SREM key member...`: how many members were present and removed.
    ///
    /// # Errors
    ///
    /// As for [`Client::sadd`].
    pub async fn srem<M: ToArg>(&self, key: impl ToArg, members: &[M]) -> Result<i64, Error> {
        self.call_with(&[&"SREM", &key], &dyn_args(members)).await
    }

    /// `SMEMBERS key`: every member (empty for a missing key). The same under RESP2 (an
    /// array) and RESP3 (a set).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn smembers(&self, key: impl ToArg) -> Result<HashSet<Bytes>, Error> {
        self.call(&[&"SMEMBERS", &key]).await
    }

    /// `SISMEMBER key member`.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn sismember(&self, key: impl ToArg, member: impl ToArg) -> Result<bool, Error> {
        self.call(&[&"SISMEMBER", &key, &member]).await
    }

    /// `SCARD key`: the number of members (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    pub async fn scard(&self, key: impl ToArg) -> Result<i64, Error> {
        self.call(&[&"SCARD", &key]).await
    }

    /// `SSCAN key`: the members of a set, incrementally, as a [`ScanStream`]. No request is
    /// made until the first `next`.
    pub fn sscan(&self, key: impl ToArg, options: ScanOptions) -> ScanStream<Bytes> {
        let head = vec![
            Bytes::from_static(b"SSCAN"),
            Bytes::copy_from_slice(&key.to_arg()),
        ];
        ScanStream::new(self, head, options, parse_each)
    }
}
