//! A hostile server: arbitrary bytes answer a client with requests in flight.
//!
//! The client must not panic, must resolve every pending caller (with a reply or a typed
//! error) within its response timeout, and must keep memory bounded (the decoder never
//! reserves from announced lengths). Served over a Unix socket so that thousands of runs do not
//! exhaust ephemeral TCP ports.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use redis_manager::{Client, Config, Frame, Protocol, cmd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn socket_path() -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "rm-fuzz-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the protocol: under RESP3 the first frame answers HELLO.
    let (protocol, reply) = match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => (Protocol::Resp3, rest),
        Some((_, rest)) => (Protocol::Resp2, rest),
        None => (Protocol::Resp2, data),
    };
    let reply = reply.to_vec();
    runtime().block_on(async move {
        let path = socket_path();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind a unix socket");
        let server = tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_millis(20), sock.read(&mut buf)).await;
            let _ = sock.write_all(&reply).await;
            // Closing ends the stream: every caller still waiting must now be failed.
        });
        let client = Client::new(
            Config::builder()
                .unix_socket(&path)
                .protocol(protocol)
                .response_timeout(Some(Duration::from_millis(500)))
                .connect_timeout(Duration::from_millis(500)),
        )
        .expect("valid config");
        let callers: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.query::<Frame>(cmd("GET").arg(i)).await })
            })
            .collect();
        for caller in callers {
            let outcome = tokio::time::timeout(Duration::from_secs(3), caller)
                .await
                .expect("a caller was never resolved");
            // A reply or a typed error; a panic inside the client would surface here.
            let _ = outcome.expect("caller task panicked");
        }
        client.close();
        server.abort();
        let _ = std::fs::remove_file(&path);
    });
});
