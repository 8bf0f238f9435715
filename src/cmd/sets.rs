//! Typed commands: sets (`SADD`, `SREM`, `SMEMBERS`, `SISMEMBER`, `SCARD`, `SSCAN`).
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
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

use super::scan::{ScanOptions, ScanStream, parse_each};
use super::typed::{Executor, TypedCmd};
use crate::client::Client;
use crate::command::cmd;
use crate::config::CachedCommand;

/// Typed commands on sets, declared once: they run on any [`Executor`].
pub trait SetCommands: Executor {
    /// `SADD key member...`: how many members were new.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`; a server error for an empty `members`.
    fn sadd<M: ToArg>(self, key: impl ToArg, members: &[M]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("SADD").key(key).args(members)))
    }

    /// `SREM key member...`: how many members were present and removed.
    ///
    /// # Errors
    ///
    /// As for [`Self::sadd`].
    fn srem<M: ToArg>(self, key: impl ToArg, members: &[M]) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("SREM").key(key).args(members)))
    }

    /// `SMEMBERS key`: every member (empty for a missing key). The same under RESP2 (an
    /// array) and RESP3 (a set).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn smembers(self, key: impl ToArg) -> Self::Run<HashSet<Bytes>> {
        self.run_read(CachedCommand::Smembers, &key.to_arg(), &[], || {
            TypedCmd::new(cmd("SMEMBERS").key(&key))
        })
    }

    /// `SISMEMBER key member`.
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn sismember(self, key: impl ToArg, member: impl ToArg) -> Self::Run<bool> {
        self.run(TypedCmd::new(cmd("SISMEMBER").key(key).arg(member)))
    }

    /// `SCARD key`: the number of members (0 for a missing key).
    ///
    /// # Errors
    ///
    /// Connection errors; `WRONGTYPE`.
    fn scard(self, key: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("SCARD").key(key)))
    }
}

impl<E: Executor> SetCommands for E {}

impl Client {
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
