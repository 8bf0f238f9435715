//! Shared by the `tests/commands_*.rs` files: run a test body against one private server
//! under RESP2 and then RESP3, with an empty database each time.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use redis_manager::prelude::*;
use redis_manager::{Client, Config, ConfigBuilder, NegotiatedProtocol, Protocol};

use crate::support::RedisServer;

/// A short response timeout, so that a hang fails the test instead of stalling it.
pub(crate) fn config(server: &RedisServer, protocol: Protocol) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(protocol)
        .response_timeout(Some(Duration::from_secs(2)))
        .connect_timeout(Duration::from_secs(2))
}

/// A connected client speaking `protocol`, checked to have negotiated it.
pub(crate) async fn client(server: &RedisServer, protocol: Protocol) -> Client {
    let client = Client::connect(config(server, protocol)).await.unwrap();
    let want = match protocol {
        Protocol::Resp2 => NegotiatedProtocol::Resp2,
        _ => NegotiatedProtocol::Resp3,
    };
    assert_eq!(client.protocol(), Some(want));
    client
}

/// Runs `test` with a RESP2 client, then with a RESP3 client, on one fresh server whose
/// database is flushed before each run.
pub(crate) async fn each_protocol<F, Fut>(test: F)
where
    F: Fn(Client, Protocol) -> Fut,
    Fut: Future<Output = ()>,
{
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let client = client(&server, protocol).await;
        client.flushdb().await.unwrap();
        test(client, protocol).await;
    }
}

/// Bytes from text, for comparisons.
pub(crate) fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}
