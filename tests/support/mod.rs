//! Shared helpers for the root crate's integration tests: each `tests/*.rs` file declares
//! `mod support;` and uses what it needs.
//!
//! - [`RedisServer`]: a private `redis-server` on a free loopback port in its own temp dir,
//!   killed by pid on drop: the library's `test_util::RedisServer` (feature `test-util`).
//! - [`FaultProxy`]: a TCP proxy between the client and a server whose behaviour ([`Mode`])
//!   can be switched while traffic flows: latency, throttling, re-chunking, a blackhole,
//!   dropped replies, closing after N bytes, and cutting every connection.

// Each test binary compiles this module and uses a different subset of it; without this, every
// binary would warn about the helpers it does not call.
#![allow(dead_code)]

mod cluster;
mod proxy;

// Re-exports that a given test binary does not use are reported as unused imports, which
// `dead_code` does not cover.
#[allow(unused_imports)]
pub(crate) use cluster::{RedisCluster, SentinelSetup};
#[allow(unused_imports)]
pub(crate) use proxy::{FaultProxy, Mode};
#[allow(unused_imports)]
pub(crate) use redis_manager::test_util::RedisServer;

/// A fresh single-threaded runtime, for tests that use one client or manager from several
/// runtimes in turn, as a value kept in a `static` is used by one `#[tokio::test]` after
/// another.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
