//! Proves the test helpers themselves, with raw sockets only: a broken helper would make
//! every other integration test meaningless.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{FaultProxy, Mode, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const PONG: &[u8] = b"+PONG\r\n";

/// Sends PING on a new blocking connection and returns the reply's first line, or the error.
fn raw_ping(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(PING)?;
    let mut buf = [0u8; 128];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned())
}

#[test]
fn server_answers_ping_and_cli() {
    let server = RedisServer::start();
    assert_eq!(raw_ping(&server.addr()).unwrap(), "+PONG");
    assert_eq!(server.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(server.cli(&["GET", "k"]), "v");
    assert!(server.pid().is_some());
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
}

#[test]
fn server_listens_on_its_unix_socket() {
    let server = RedisServer::start();
    let mut stream = std::os::unix::net::UnixStream::connect(server.unix_socket()).unwrap();
    stream.write_all(PING).unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, PONG);
}

#[test]
fn server_with_requirepass_refuses_anonymous_ping_but_cli_authenticates() {
    let server = RedisServer::with_args(&["--requirepass", "s3cret"]);
    assert!(raw_ping(&server.addr()).unwrap().starts_with("-NOAUTH"));
    assert_eq!(server.cli(&["PING"]), "PONG");
}

#[test]
fn killed_server_restarts_on_the_same_port_without_its_data() {
    let mut server = RedisServer::start();
    let port = server.port();
    server.cli(&["SET", "k", "v"]);
    let old_pid = server.pid();
    server.kill();
    assert!(!server.is_running());
    assert!(
        raw_ping(&server.addr()).is_err(),
        "nothing listens after kill"
    );
    server.restart();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    assert_eq!(raw_ping(&server.addr()).unwrap(), "+PONG");
    assert_eq!(server.cli(&["EXISTS", "k"]), "0");

    server.stop();
    assert!(
        raw_ping(&server.addr()).is_err(),
        "nothing listens after stop"
    );
    server.restart();
    assert_eq!(raw_ping(&server.addr()).unwrap(), "+PONG");
}

#[test]
fn paused_server_answers_only_after_resume() {
    let mut server = RedisServer::start();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    server.pause();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream.write_all(PING).unwrap();
    let mut buf = [0u8; 7];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
    server.resume();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, PONG);
}

#[test]
fn dropping_a_paused_server_stops_it_and_removes_its_dir() {
    let mut server = RedisServer::start();
    let addr = server.addr();
    let dir = server.dir().to_owned();
    server.pause();
    drop(server);
    assert!(raw_ping(&addr).is_err());
    assert!(!dir.exists());
}

/// Reads until `want` bytes arrived or the timeout passed; returns what arrived.
async fn read_for(stream: &mut tokio::net::TcpStream, want: usize, timeout: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    while got.len() < want {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[tokio::test]
async fn proxy_passes_through_then_blackholes_then_heals() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    let mut conn = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    conn.write_all(PING).await.unwrap();
    assert_eq!(read_for(&mut conn, 7, Duration::from_secs(2)).await, PONG);
    assert_eq!(proxy.accepted_connections(), 1);

    proxy.set_mode(Mode::Blackhole);
    conn.write_all(PING).await.unwrap();
    assert!(
        read_for(&mut conn, 7, Duration::from_millis(300))
            .await
            .is_empty()
    );
    // A new connection is accepted but carries nothing either.
    let mut second = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    second.write_all(PING).await.unwrap();
    assert!(
        read_for(&mut second, 7, Duration::from_millis(200))
            .await
            .is_empty()
    );
    assert!(proxy.wait_for_active(2, Duration::from_secs(2)).await);

    proxy.set_mode(Mode::PassThrough);
    assert_eq!(read_for(&mut conn, 7, Duration::from_secs(2)).await, PONG);
    assert_eq!(read_for(&mut second, 7, Duration::from_secs(2)).await, PONG);
}

#[tokio::test]
async fn proxy_cut_all_resets_current_connections_only() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    let mut conn = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    conn.write_all(PING).await.unwrap();
    assert_eq!(read_for(&mut conn, 7, Duration::from_secs(2)).await, PONG);

    proxy.set_mode(Mode::Blackhole);
    conn.write_all(PING).await.unwrap();
    proxy.cut_all();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("a cut connection fails promptly");
    match read {
        Ok(0) => {}
        Ok(n) => panic!("unexpected bytes {:?}", &buf[..n]),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
    assert!(proxy.wait_for_active(0, Duration::from_secs(2)).await);

    proxy.set_mode(Mode::PassThrough);
    let mut fresh = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    fresh.write_all(PING).await.unwrap();
    assert_eq!(read_for(&mut fresh, 7, Duration::from_secs(2)).await, PONG);
}

#[tokio::test]
async fn proxy_faults_shape_the_reply_stream() {
    let server = RedisServer::start();
    server.cli(&["SET", "big", &"x".repeat(100)]);
    let get = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    let reply_len = "$100\r\n".len() + 100 + 2;
    let proxy = FaultProxy::start(server.addr()).await;
    let mut conn = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();

    // Re-chunked into 7-byte pieces: the whole reply still arrives, intact.
    proxy.set_mode(Mode::Rechunk {
        size: 7,
        pause: Duration::from_millis(1),
    });
    conn.write_all(get).await.unwrap();
    let got = read_for(&mut conn, reply_len, Duration::from_secs(2)).await;
    assert_eq!(got.len(), reply_len);
    assert!(got.starts_with(b"$100\r\nxxx"));

    // Latency delays each chunk.
    proxy.set_mode(Mode::Latency(Duration::from_millis(150)));
    let started = Instant::now();
    conn.write_all(PING).await.unwrap();
    assert_eq!(read_for(&mut conn, 7, Duration::from_secs(2)).await, PONG);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "both directions delayed"
    );

    // Throttled to 1000 B/s: a 108-byte reply takes about 0.1 s.
    proxy.set_mode(Mode::Throttle {
        bytes_per_sec: 1000,
    });
    let started = Instant::now();
    conn.write_all(get).await.unwrap();
    assert_eq!(
        read_for(&mut conn, reply_len, Duration::from_secs(2))
            .await
            .len(),
        reply_len
    );
    assert!(started.elapsed() >= Duration::from_millis(80));

    // Dropped replies: the server executes the command, the client hears nothing.
    proxy.set_mode(Mode::DropReplies);
    conn.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nseen\r\n$1\r\n1\r\n")
        .await
        .unwrap();
    assert!(
        read_for(&mut conn, 5, Duration::from_millis(300))
            .await
            .is_empty()
    );
    assert_eq!(server.cli(&["GET", "seen"]), "1");

    // Close after 10 bytes of reply: the client gets a truncated reply, then EOF.
    proxy.set_mode(Mode::CloseAfter(10));
    conn.write_all(get).await.unwrap();
    let got = read_for(&mut conn, reply_len, Duration::from_secs(2)).await;
    assert_eq!(got, b"$100\r\nxxxx");
    let mut buf = [0u8; 8];
    assert_eq!(
        conn.read(&mut buf).await.unwrap(),
        0,
        "then the connection closes"
    );
    assert!(proxy.wait_for_active(0, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn proxy_to_a_dead_target_closes_the_client() {
    let mut server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    server.kill();
    let mut conn = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("closed promptly");
    assert!(matches!(read, Ok(0) | Err(_)));
}
