//! A Redis client written from scratch, with the patterns applications build on Redis
//! (caching, sessions, rate limiting, locks, pub/sub) as tested library features.
//!
//! # Layers
//!
//! Each layer uses only the ones before it:
//!
//! 1. [`resp`] (the `resp-codec` crate): RESP2/RESP3 frames, a resumable zero-copy decoder
//!    with limits on hostile input, and a command encoder.
//! 2. The command value, [`Cmd`]: a command in wire form that records where each argument
//!    lies and which arguments are keys, so that the layers below route and inspect it
//!    without parsing bytes back; and [`FromReply`] conversions that treat RESP2 and RESP3
//!    replies alike.
//! 3. Connections: TCP, Unix or TLS sockets, the `HELLO`/`AUTH`/`SETNAME`/`SELECT`
//!    handshake, one I/O task per socket batching requests into single writes (cancel-safe:
//!    a dropped request is withdrawn or its reply discarded, never given to another caller),
//!    and the response timeout, which each connection owns.
//! 4. The node pool (the connections to one server, reconnect with backoff), and above it,
//!    side by side, the topologies: one server, Sentinel, Redis Cluster, behind the
//!    [`pool`]'s façade.
//! 5. Commands ([`cmd`](mod@cmd), [`Client`]): each typed command declared once, in a
//!    command-group trait of the [`prelude`], and run by any [`Executor`] — a [`Client`], a
//!    [`PooledConnection`], a [`Transaction`] or a [`Pipeline`]; `cmd("ANY").arg(..)` for
//!    everything else; scripts, scans, pub/sub.
//! 6. The manager: the API of the Python `redis_manager` this project ports, with graceful
//!    fallback to defaults while Redis is unavailable.
//!
//! Coming from Python? [`porting`] maps every call of the Python `redis_manager` module and
//! its patterns to the Rust call, with the differences and why.
//!
//! # Examples
//!
//! ```no_run
//! use redis_manager::prelude::*;
//! use redis_manager::{cmd, Client, Config, Pipeline};
//!
//! # async fn demo() -> redis_manager::Result<()> {
//! let client = Client::connect(Config::builder().host("127.0.0.1").port(6379)).await?;
//! // A typed command: its reply type is part of its declaration.
//! client.set("visits", 0).await?;
//! assert_eq!(client.incr("visits").await?, 1);
//! // The same declaration queued in a pipeline.
//! let mut pipe = Pipeline::new();
//! pipe.incr("visits").get("visits");
//! let (n, v): (i64, Option<String>) = pipe.query(&client).await?;
//! assert_eq!((n, v.as_deref()), (2, Some("2")));
//! // Anything else: the raw builder, keys marked for a cluster.
//! let len: i64 = client.query(cmd("STRLEN").key("visits")).await?;
//! # let _ = len; Ok(()) }
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
pub mod observe;
pub mod pool;
pub mod porting;
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
pub use error::{
    ConversionError, Error, HashStructError, Result, ServerError, TlsError, TlsErrorKind,
};
pub use into_stream::{IntoStream, NextSource};
pub use manager::{RedisManager, SessionManager, redis_manager};
pub use pool::PooledConnection;
pub use resp_codec::{self as resp, Frame, Payload, ToArg};
