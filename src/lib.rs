//! A Redis client written from scratch, with the patterns applications build on Redis
//! (caching, sessions, rate limiting, locks, pub/sub) as tested library features.
//!
//! # Layers
//!
//! Each layer uses only the ones before it:
//!
//! 1. [`resp`] (the `resp-codec` crate): RESP2/RESP3 frames, a resumable zero-copy decoder
//!    with limits on hostile input, and a command encoder.
//! 2. Connections and the [`pool`]: TCP or Unix sockets, the `HELLO`/`AUTH`/`SETNAME`/`SELECT`
//!    handshake, one I/O task per socket batching requests into single writes (cancel-safe:
//!    a dropped request is withdrawn or its reply discarded, never given to another caller),
//!    response timeouts, reconnect with backoff.
//! 3. Commands ([`cmd`](mod@cmd), [`Client`]): `cmd("ANY").arg(..)`, typed commands, [`Pipeline`],
//!    pub/sub, and [`FromReply`] conversions that treat RESP2 and RESP3 replies alike.
//! 4. The manager: the API of the Python `redis_manager` this project ports, with graceful
//!    fallback to defaults while Redis is unavailable.
//!
//! # Examples
//!
//! ```no_run
//! use redis_manager::{cmd, Client, Config};
//!
//! # async fn demo() -> redis_manager::Result<()> {
//! let client = Client::connect(Config::builder().host("127.0.0.1").port(6379)).await?;
//! client.query::<()>(cmd("SET").arg("visits").arg(0)).await?;
//! let n: i64 = client.query(cmd("INCR").arg("visits")).await?;
//! assert_eq!(n, 1);
//! # Ok(()) }
//! ```

// docs.rs builds with `--cfg docsrs` (see `[package.metadata.docs.rs]`): feature-gated items
// then show the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
mod cluster;
pub mod cmd;
mod command;
pub mod config;
mod connection;
pub mod error;
mod into_stream;
pub mod manager;
mod node;
pub mod pool;
mod reply;
mod sentinel;
#[cfg(feature = "test-util")]
pub mod test_util;

/// The README's code blocks, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The command-group traits, so that typed commands can be called as methods:
/// `use redis_manager::prelude::*`.
pub mod prelude {
    pub use crate::cmd::{
        Executor, HashCommands, KeyCommands, ListCommands, PubSubCommands, ServerCommands,
        SetCommands, SortedSetCommands, StreamCommands, StringCommands,
    };
}

pub use client::Client;
pub use cmd::{
    Cmd, Executor, ExpireOption, FromReply, GetExOption, HashCommands, Info, KeyCommands,
    ListCommands, Pipeline, Prepare, PubSubCommands, Reply, ScanOptions, ScanStream, Script,
    ScriptInvocation, ScriptPipeline, ServerCommands, SetCommands, SetOptions, SortedSetCommands,
    StreamBatch, StreamCommands, StreamEntry, StringCommands, Transaction, TransactionFuture,
    TypedCmd, XAddOptions, XReadOptions, ZAddOptions, ZRangeOptions, cmd,
};
pub use config::{Config, ConfigBuilder, ConfigError, IntoConfig, Protocol, ServerAddr};
pub use connection::NegotiatedProtocol;
pub use error::{ConversionError, Error, Result, ServerError};
pub use into_stream::{IntoStream, NextSource};
pub use manager::{RedisManager, SessionManager, redis_manager};
pub use pool::PooledConnection;
pub use resp_codec::{self as resp, Frame, Payload, ToArg};
