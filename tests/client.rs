//! The client core against real, private servers: handshake, both protocols, failures,
//! cancellation, timeouts, the pool.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_manager::{
    Client, Config, ConfigBuilder, Error, Frame, NegotiatedProtocol, Pipeline, Protocol, cmd,
};
use support::{RedisServer, runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(server: &RedisServer) -> ConfigBuilder {
    server.config()
}

async fn roundtrip(client: &Client) -> (Option<String>, i64, HashMap<String, String>, Vec<String>) {
    client
        .query::<()>(cmd("SET").arg("k").arg("v"))
        .await
        .unwrap();
    client
        .query::<()>(cmd("HSET").arg("h").arg("a").arg("1").arg("b").arg("2"))
        .await
        .unwrap();
    client
        .query::<()>(cmd("RPUSH").arg("l").arg("x").arg("y"))
        .await
        .unwrap();
    let v = client.query(cmd("GET").arg("k")).await.unwrap();
    let n = client.query(cmd("INCRBY").arg("n").arg(5)).await.unwrap();
    let h = client.query(cmd("HGETALL").arg("h")).await.unwrap();
    let l = client
        .query(cmd("LRANGE").arg("l").arg(0).arg(-1))
        .await
        .unwrap();
    (v, n, h, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp2_and_resp3_give_the_same_results() {
    let s2 = RedisServer::start();
    let s3 = RedisServer::start();
    let c2 = Client::connect(config(&s2).protocol(Protocol::Resp2))
        .await
        .unwrap();
    let c3 = Client::connect(config(&s3).protocol(Protocol::Resp3))
        .await
        .unwrap();
    assert_eq!(c2.protocol(), Some(NegotiatedProtocol::Resp2));
    assert_eq!(c3.protocol(), Some(NegotiatedProtocol::Resp3));
    let r2 = roundtrip(&c2).await;
    let r3 = roundtrip(&c3).await;
    assert_eq!(r2, r3);
    assert_eq!(r2.0.as_deref(), Some("v"));
    assert_eq!(r2.2["b"], "2");
    // The raw frames do differ: a map under RESP3, a flat array under RESP2.
    let f2 = c2.send(cmd("HGETALL").arg("h")).await.unwrap();
    let f3 = c3.send(cmd("HGETALL").arg("h")).await.unwrap();
    assert!(matches!(f2, Frame::Array(_)) && matches!(f3, Frame::Map(_)));
}

#[tokio::test]
async fn handshake_selects_the_database_and_names_the_connection() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let client = Client::connect(
            config(&server)
                .db(3)
                .client_name(format!("tester-{protocol:?}"))
                .protocol(protocol),
        )
        .await
        .unwrap();
        client
            .query::<()>(cmd("SET").arg("where").arg("db3"))
            .await
            .unwrap();
        let name: String = client.query(cmd("CLIENT").arg("GETNAME")).await.unwrap();
        assert_eq!(name, format!("tester-{protocol:?}"));
    }
    assert_eq!(server.cli(&["-n", "3", "GET", "where"]), "db3");
    assert_eq!(server.cli(&["-n", "0", "EXISTS", "where"]), "0");
}

/// `redis://[::1]:PORT`: the bracketed IPv6 loopback reaches a server that also listens
/// there, and the server sees an IPv6 peer.
#[tokio::test]
async fn ipv6_urls_connect_over_the_ipv6_loopback() {
    let server = RedisServer::with_args(&["--bind", "127.0.0.1", "::1"]);
    for url in [
        format!("redis://[::1]:{}/2", server.port()),
        format!("valkey://[::1]:{}?db=2", server.port()),
    ] {
        let client = Client::connect(&url).await.unwrap();
        let info: String = client.query(cmd("CLIENT").arg("INFO")).await.unwrap();
        let addr = info.split(' ').find_map(|f| f.strip_prefix("addr="));
        assert!(
            addr.is_some_and(|a| a.starts_with("::1:") || a.starts_with("[::1]:")),
            "{info}"
        );
        client
            .query::<()>(cmd("SET").arg("via").arg(&url))
            .await
            .unwrap();
        assert_eq!(server.cli(&["-n", "2", "GET", "via"]), url);
    }
}

#[tokio::test]
async fn unix_socket_connections_work() {
    let server = RedisServer::start();
    let client = Client::connect(Config::builder().unix_socket(server.unix_socket()))
        .await
        .unwrap();
    let pong: String = client.query(cmd("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn password_is_required_and_checked() {
    let server = RedisServer::with_args(&["--requirepass", "s3cret"]);
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let ok = Client::connect(config(&server).password("s3cret").protocol(protocol)).await;
        assert!(ok.is_ok(), "{protocol:?}: {ok:?}");

        let started = Instant::now();
        let wrong = Client::connect(config(&server).password("nope").protocol(protocol))
            .await
            .unwrap_err();
        assert!(wrong.is_auth_error(), "{protocol:?}: {wrong:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "auth failure must be fast"
        );
        assert!(!format!("{wrong:?} {wrong}").contains("nope"));

        let missing = Client::connect(config(&server).protocol(protocol))
            .await
            .unwrap_err();
        assert!(missing.is_auth_error(), "{protocol:?}: {missing:?}");
    }
}

#[tokio::test]
async fn acl_user_with_limited_rights_gets_permission_errors() {
    let server = RedisServer::start();
    server.cli(&[
        "ACL",
        "SETUSER",
        "reader",
        "on",
        ">readpw",
        "~*",
        "+@read",
        "+@connection",
        "+ping",
    ]);
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let client = Client::connect(
            config(&server)
                .username("reader")
                .password("readpw")
                .protocol(protocol),
        )
        .await
        .unwrap();
        let v: Option<String> = client.query(cmd("GET").arg("x")).await.unwrap();
        assert_eq!(v, None);
        let denied = client
            .query::<()>(cmd("SET").arg("x").arg("1"))
            .await
            .unwrap_err();
        assert!(denied.is_permission_error(), "{denied:?}");
        assert!(!denied.is_auth_error());
        // The connection is still fine after a permission error.
        let v: Option<String> = client.query(cmd("GET").arg("x")).await.unwrap();
        assert_eq!(v, None);

        let wrong = Client::connect(
            config(&server)
                .username("reader")
                .password("x")
                .protocol(protocol),
        )
        .await
        .unwrap_err();
        assert!(wrong.is_auth_error(), "{wrong:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_in_flight_requests_promptly_then_client_recovers() {
    let mut server = RedisServer::with_args(&["--enable-debug-command", "local"]);
    let client = Client::connect(config(&server)).await.unwrap();
    // Hold the server busy so that the 100 requests are really in flight when it dies.
    let sleeper = {
        let c = client.clone();
        tokio::spawn(async move { c.query::<()>(cmd("DEBUG").arg("SLEEP").arg("1")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.query::<i64>(cmd("INCR").arg(format!("k{i}"))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed_at = Instant::now();
    server.kill();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.is_connection_error(), "{err:?}");
    }
    assert!(sleeper.await.unwrap().is_err());
    assert!(
        killed_at.elapsed() < Duration::from_secs(1),
        "failures must be prompt"
    );

    // Down: requests fail fast instead of hanging.
    let down = client.query::<i64>(cmd("INCR").arg("x")).await.unwrap_err();
    assert!(
        down.is_connection_error() || matches!(down, Error::Io(_)),
        "{down:?}"
    );

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.query::<i64>(cmd("INCR").arg("x")).await {
            Ok(n) => {
                assert_eq!(n, 1);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("client did not recover: {e:?}"),
        }
    }
}

#[tokio::test]
async fn client_kill_of_our_connection_is_survived() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).client_name("victim"))
        .await
        .unwrap();
    let id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    server.cli(&["CLIENT", "KILL", "ID", &id.to_string()]);
    // The kill may race with the next request: at most one request fails, and it says so.
    let mut failures = 0;
    for i in 0..5 {
        match client.query::<()>(cmd("SET").arg("k").arg(i)).await {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_connection_error(), "{e:?}");
                failures += 1;
            }
        }
    }
    assert!(failures <= 1);
    let new_id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert_ne!(new_id, id);
    let v: String = client.query(cmd("GET").arg("k")).await.unwrap();
    assert_eq!(v, "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_server_times_out_and_late_replies_reach_nobody() {
    let mut server = RedisServer::start();
    let client =
        Client::connect(config(&server).response_timeout(Some(Duration::from_millis(300))))
            .await
            .unwrap();
    client
        .query::<()>(cmd("SET").arg("a").arg("A"))
        .await
        .unwrap();
    client
        .query::<()>(cmd("SET").arg("b").arg("B"))
        .await
        .unwrap();
    server.pause();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for key in ["a", "b", "a", "b"] {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.query::<String>(cmd("GET").arg(key)).await
        }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(e.is_timeout() || e.is_connection_error(), "{e:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Queue more while it is still stopped, then resume: the server now answers the old GETs
    // on the old socket; none of those answers may reach these new requests.
    server.resume();
    // Every value distinct from the stale replies and from each other, so that a reply
    // shifted by any offset shows.
    for i in 0..50i64 {
        let key = format!("after:{i}");
        client
            .query::<()>(cmd("SET").arg(&key).arg(i))
            .await
            .unwrap();
        let v: i64 = client.query(cmd("GET").arg(&key)).await.unwrap();
        assert_eq!(v, i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_cancellations_never_misroute_a_reply() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server)).await.unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..20u64 {
        let client = client.clone();
        let ok = ok.clone();
        let cancelled = cancelled.clone();
        tasks.push(tokio::spawn(async move {
            // A cheap deterministic generator per task.
            let mut seed = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for i in 0..500u64 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let key = format!("t{t}:k{}", i % 7);
                let value = format!("{t}-{i}");
                let set = client.query::<()>(cmd("SET").arg(&key).arg(&value));
                // Cancel after a random few microseconds: before, during or after the write.
                // A quarter get no time at all: cancelled right after their first poll
                // queued them, so that enough are cancelled whatever the machine's speed
                // (timers have a millisecond's resolution: with only random budgets, a fast
                // or a slow machine could see fewer than the check below asks).
                let budget = if seed % 4 == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_micros(seed % 300)
                };
                let cancel_get = seed % 3 == 0;
                match tokio::time::timeout(budget, set).await {
                    Ok(r) => r.unwrap(),
                    Err(_) => {
                        cancelled.fetch_add(1, Ordering::Relaxed);
                        // The SET may or may not have happened; write it for sure.
                        client
                            .query::<()>(cmd("SET").arg(&key).arg(&value))
                            .await
                            .unwrap();
                    }
                }
                let get = client.query::<String>(cmd("GET").arg(&key));
                if cancel_get {
                    match tokio::time::timeout(budget, get).await {
                        Ok(r) => {
                            assert_eq!(r.unwrap(), value);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                } else {
                    assert_eq!(get.await.unwrap(), value);
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) > 1000, "too few checked replies");
    assert!(
        cancelled.load(Ordering::Relaxed) > 100,
        "too few cancellations to mean anything: {}",
        cancelled.load(Ordering::Relaxed)
    );
    // The connection is still in step afterwards.
    let v: String = client.query(cmd("ECHO").arg("in-step")).await.unwrap();
    assert_eq!(v, "in-step");
}

#[tokio::test]
async fn pool_exhaustion_gives_an_acquire_timeout() {
    let server = RedisServer::start();
    let client = Client::connect(
        config(&server)
            .max_connections(3)
            .pool_acquire_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let a = client.exclusive().await.unwrap();
    let b = client.exclusive().await.unwrap();
    let started = Instant::now();
    let err = client.exclusive().await.unwrap_err();
    assert!(matches!(err, Error::PoolTimeout { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Ordinary commands still flow on the shared connection meanwhile.
    let pong: String = client.query(cmd("PING")).await.unwrap();
    assert_eq!(pong, "PONG");
    drop(a);
    let c = client.exclusive().await.unwrap();
    drop((b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cancelled_mid_blpop_is_not_reused() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).max_connections(2))
        .await
        .unwrap();
    let mut conn = client.exclusive().await.unwrap();
    let blocked = conn.query_with_timeout::<Option<(String, String)>>(
        cmd("BLPOP").arg("queue").arg(5),
        Some(Duration::from_secs(10)),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), blocked)
            .await
            .is_err()
    );
    drop(conn);
    // Had the connection gone back to the pool, its BLPOP would still be blocked on the
    // server (and would swallow the element pushed below). Closed, the server unblocks it as
    // soon as it notices the socket is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server
        .cli(&["INFO", "clients"])
        .contains("blocked_clients:1")
    {
        assert!(
            Instant::now() < deadline,
            "the cancelled BLPOP's connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client
        .query::<()>(cmd("RPUSH").arg("queue").arg("item"))
        .await
        .unwrap();
    let len: i64 = client.query(cmd("LLEN").arg("queue")).await.unwrap();
    assert_eq!(len, 1, "a ghost BLPOP consumed the element");
    let mut again = client.exclusive().await.unwrap();
    let got: Option<(String, String)> =
        again.query(cmd("BLPOP").arg("queue").arg(1)).await.unwrap();
    assert_eq!(got, Some(("queue".into(), "item".into())));
}

/// A server that answers the handshake, waits until `n` more commands arrived, then sends
/// bytes that are not RESP.
async fn garbage_server(n: usize) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        // HELLO: answer as an old server would, so the client falls back to RESP2.
        loop {
            let k = sock.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..k]);
            if seen.windows(5).any(|w| w == b"HELLO") && seen.ends_with(b"\r\n") {
                break;
            }
        }
        sock.write_all(b"-ERR unknown command 'HELLO'\r\n")
            .await
            .unwrap();
        seen.clear();
        while seen.iter().filter(|&&b| b == b'*').count() < n {
            let k = sock.read(&mut buf).await.unwrap();
            if k == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..k]);
        }
        sock.write_all(b"+OK\r\n@garbage\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_server_fails_every_waiting_caller_with_a_protocol_error() {
    let (port, server) = garbage_server(10).await;
    let client = Client::connect_lazy_for_test(port);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.query::<String>(cmd("GET").arg(format!("k{i}"))).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(3), t)
            .await
            .unwrap()
            .unwrap()
        {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.is_protocol_error(), "{e:?}"),
        }
    }
    // The one `+OK` before the garbage answers exactly one request.
    assert_eq!(ok, 1);
    server.abort();
}

trait LazyForTest {
    fn connect_lazy_for_test(port: u16) -> Client;
}

impl LazyForTest for Client {
    fn connect_lazy_for_test(port: u16) -> Client {
        Client::new(
            Config::builder()
                .host("127.0.0.1")
                .port(port)
                .response_timeout(Some(Duration::from_secs(5))),
        )
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_round_trip_intact() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).response_timeout(Some(Duration::from_secs(30))))
        .await
        .unwrap();
    let value: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    client
        .query::<()>(cmd("SET").arg("big").arg(&value))
        .await
        .unwrap();
    // Small requests queued behind the big one still get their own replies.
    let (got, len): (Vec<u8>, i64) = tokio::join!(
        async { client.query(cmd("GET").arg("big")).await.unwrap() },
        async { client.query(cmd("STRLEN").arg("big")).await.unwrap() }
    );
    assert_eq!(len, value.len() as i64);
    assert!(got == value, "32 MiB value came back different");
}

/// Large replies get a read allocation of their own, sized from their header, and replies
/// that share a read with them (before, after, or cut in the middle) must still reach their
/// own callers intact, converted to any of the byte types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_replies_of_every_size_class_reach_their_callers_intact() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).response_timeout(Some(Duration::from_secs(30))))
        .await
        .unwrap();
    let sizes = [
        64 * 1024 - 1,
        64 * 1024,
        64 * 1024 + 1,
        1 << 20,
        16 * 1024 * 1024,
        16 * 1024 * 1024 + 1,
    ];
    let value = |n: usize, seed: usize| -> Vec<u8> {
        (0..n).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
    };
    for (i, &n) in sizes.iter().enumerate() {
        client
            .query::<()>(cmd("SET").arg(format!("big{i}")).arg(value(n, i)))
            .await
            .unwrap();
    }
    let gets = sizes.iter().enumerate().map(|(i, &n)| {
        let client = client.clone();
        async move {
            let key = format!("big{i}");
            // Small replies on either side of the large one, in flight at the same time.
            let (before, as_vec, as_bytes, as_string, after): (
                i64,
                Vec<u8>,
                bytes::Bytes,
                String,
                i64,
            ) = tokio::join!(
                async { client.query(cmd("STRLEN").arg(&key)).await.unwrap() },
                async { client.query(cmd("GET").arg(&key)).await.unwrap() },
                async { client.query(cmd("GET").arg(&key)).await.unwrap() },
                async { client.query(cmd("GET").arg(&key)).await.unwrap() },
                async { client.query(cmd("STRLEN").arg(&key)).await.unwrap() },
            );
            let want = value(n, i);
            assert_eq!((before, after), (n as i64, n as i64), "size {n}");
            assert!(as_vec == want, "Vec<u8> of {n} bytes came back different");
            assert!(
                as_bytes[..] == want[..],
                "Bytes of {n} bytes came back different"
            );
            assert!(
                as_string.as_bytes() == &want[..],
                "String of {n} bytes came back different"
            );
        }
    });
    futures_util::future::join_all(gets).await;
    // Pipelined: the large replies arrive back to back in one stream.
    let mut pipe = Pipeline::new();
    for i in 0..sizes.len() {
        pipe.add(cmd("GET").arg(format!("big{i}")));
        pipe.add(cmd("PING"));
    }
    let replies: Vec<Option<Vec<u8>>> = pipe.query(&client).await.unwrap();
    for (i, &n) in sizes.iter().enumerate() {
        assert!(
            replies[2 * i].as_deref() == Some(&value(n, i)[..]),
            "size {n}"
        );
        assert_eq!(replies[2 * i + 1].as_deref(), Some(&b"PONG"[..]));
    }
}

#[tokio::test]
async fn exclusive_connection_left_inside_multi_or_select_is_not_reused() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).max_connections(2))
        .await
        .unwrap();
    let mut conn = client.exclusive().await.unwrap();
    conn.query::<()>(cmd("MULTI")).await.unwrap();
    conn.query::<()>(cmd("SET").arg("tx").arg("queued"))
        .await
        .unwrap();
    drop(conn);
    // Had the connection gone back, this SET would be queued inside the stale MULTI.
    let mut next = client.exclusive().await.unwrap();
    next.query::<()>(cmd("SET").arg("plain").arg("1"))
        .await
        .unwrap();
    let v: Option<String> = next.query(cmd("GET").arg("plain")).await.unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    next.query::<()>(cmd("SELECT").arg(5)).await.unwrap();
    drop(next);
    let mut third = client.exclusive().await.unwrap();
    let v: Option<String> = third.query(cmd("GET").arg("plain")).await.unwrap();
    assert_eq!(
        v.as_deref(),
        Some("1"),
        "inherited SELECT 5 from the previous user"
    );
    assert_eq!(server.cli(&["EXISTS", "tx"]), "0");
}

/// A client kept in a `static` outlives the runtime it connected in (one `#[tokio::test]`
/// runtime after another). When that runtime shuts down it drops the connection's task; the
/// connection must then fail fast and be replaced, not keep accepting requests that nothing
/// will ever send or time out.
#[test]
fn a_client_outlives_the_runtime_that_connected_it() {
    let server = RedisServer::start();
    let first = runtime();
    let client = first.block_on(async {
        let client = Client::connect(config(&server).max_connections(1))
            .await
            .unwrap();
        client
            .query::<()>(cmd("SET").arg("k").arg("first"))
            .await
            .unwrap();
        client
    });
    let first_id: i64 = first
        .block_on(client.query(cmd("CLIENT").arg("ID")))
        .unwrap();
    drop(first);
    let second = runtime();
    second.block_on(async {
        let v: Option<String> =
            tokio::time::timeout(Duration::from_secs(10), client.query(cmd("GET").arg("k")))
                .await
                .expect("a request on a connection whose runtime is gone hung")
                .unwrap();
        assert_eq!(v.as_deref(), Some("first"));
        let id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
        assert_ne!(id, first_id, "the dead runtime's connection was reused");
    });
}

/// A server frozen (SIGSTOP) while one connection to it writes `SET big` of 64 MiB: more
/// than the socket buffers can hold (up to 4 MiB to send and, autotuned, 32 MiB to receive
/// here), so the connection is still writing it when the caller queues more behind it. The
/// command is built before the task is spawned, so that the task only has to queue it and
/// the connection to take it for writing, well within the wait; a request queued before
/// that would share its batch, and a batch taken for writing is sent whole.
async fn a_write_stalled_on_a_frozen_server() -> (
    RedisServer,
    Client,
    tokio::task::JoinHandle<redis_manager::Result<()>>,
) {
    let mut server = RedisServer::start();
    let client = Client::connect(
        config(&server)
            .max_connections(1)
            .response_timeout(Some(Duration::from_secs(30))),
    )
    .await
    .unwrap();
    client.query::<()>(cmd("PING")).await.unwrap();
    server.pause();
    let set_big = cmd("SET").arg("big").arg(vec![b'x'; 64 << 20]);
    let big = {
        let c = client.clone();
        tokio::spawn(async move { c.query::<()>(set_big).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    (server, client, big)
}

/// A request whose caller gave up before it was written is withdrawn, never sent: a
/// cancelled `INCR` must not run later, when the connection gets to it.
#[tokio::test]
async fn a_request_cancelled_before_it_was_written_never_runs() {
    let (mut server, client, big) = a_write_stalled_on_a_frozen_server().await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        client.query::<i64>(cmd("INCR").arg("counter")),
    )
    .await;
    assert!(gave_up.is_err(), "the INCR was answered by a frozen server");
    server.resume();
    big.await.unwrap().unwrap();
    let counter: Option<i64> = client.query(cmd("GET").arg("counter")).await.unwrap();
    assert_eq!(counter, None, "the cancelled INCR was sent");
    let strlen: i64 = client.query(cmd("STRLEN").arg("big")).await.unwrap();
    assert_eq!(strlen, 64 << 20);

    // Queued together with the large write, before the connection took either: the INCR is
    // left out of the large write's batch, so it too can be withdrawn.
    server.pause();
    let set_big = cmd("SET").arg("big2").arg(vec![b'y'; 64 << 20]);
    let big = {
        let c = client.clone();
        tokio::spawn(async move { c.query::<()>(set_big).await })
    };
    let incr = {
        let c = client.clone();
        tokio::spawn(async move {
            tokio::time::timeout(
                Duration::from_millis(300),
                c.query::<i64>(cmd("INCR").arg("counter2")),
            )
            .await
        })
    };
    assert!(incr.await.unwrap().is_err(), "answered by a frozen server");
    server.resume();
    big.await.unwrap().unwrap();
    let counter: Option<i64> = client.query(cmd("GET").arg("counter2")).await.unwrap();
    assert_eq!(
        counter, None,
        "the cancelled INCR went out with the large write's batch"
    );
}

/// A response timeout bounds the caller's whole wait, including the time its request spent
/// queued behind another write: the deadline counts from the call, not from when the request
/// could be written. (Counted from the write, a command queued behind a large value sent to a
/// slow server got the full timeout again once it went out.)
#[tokio::test]
async fn a_response_timeout_counts_the_time_spent_queued() {
    let mut server = RedisServer::with_args(&["--enable-debug-command", "local"]);
    let timeout = Duration::from_secs(3);
    let client = Client::connect(
        config(&server)
            .max_connections(1)
            .response_timeout(Some(timeout)),
    )
    .await
    .unwrap();
    client.query::<()>(cmd("PING")).await.unwrap();
    server.pause();
    // 64 MiB to a frozen server: the write stalls, and what is queued next waits behind it.
    let set_big = cmd("SET").arg("big").arg(vec![b'x'; 64 << 20]);
    let big = {
        let c = client.clone();
        tokio::spawn(async move { c.query::<()>(set_big).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A command that takes the server 5 s, queued behind the stalled write.
    let slow = {
        let c = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = c.query::<()>(cmd("DEBUG").arg("SLEEP").arg(5)).await;
            (result, started.elapsed())
        })
    };
    // The large write goes out 2 s later and is answered well within its own timeout; the
    // DEBUG SLEEP is written then, 2 s into its 3.
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.resume();
    big.await.unwrap().unwrap();
    let (result, waited) = slow.await.unwrap();
    assert!(
        matches!(result, Err(Error::Timeout { sent: true, .. })),
        "{result:?}"
    );
    // Counted from the write it would have waited about 5 s (2 s queued, then 3).
    assert!(
        waited < timeout + Duration::from_millis(900),
        "waited {waited:?} with a {timeout:?} timeout"
    );
    assert!(waited >= timeout, "timed out early: {waited:?}");
}

/// A RESP3 push that arrives between a request and its reply is routed aside, never taken as
/// the reply.
#[tokio::test]
async fn a_push_before_a_reply_is_not_taken_for_it() {
    let server = RedisServer::with_args(&["--enable-debug-command", "local"]);
    let client = Client::connect(config(&server).protocol(Protocol::Resp3))
        .await
        .unwrap();
    assert_eq!(client.protocol(), Some(NegotiatedProtocol::Resp3));
    for _ in 0..3 {
        // The server writes `>2 server-cpu-usage 42` and then the command's own reply.
        let reply: String = client
            .query(cmd("DEBUG").arg("PROTOCOL").arg("push"))
            .await
            .unwrap();
        assert_eq!(reply, "Some real reply following the push reply");
        let n: i64 = client.query(cmd("INCR").arg("n")).await.unwrap();
        assert!(n >= 1);
    }
    let n: i64 = client.query(cmd("GET").arg("n")).await.unwrap();
    assert_eq!(n, 3);
}

/// After a restart of the server the first command succeeds: nothing was sent while it was
/// down, so its connection was seen to close and is replaced, and the caller sees no error.
#[tokio::test]
async fn the_first_command_after_a_server_restart_succeeds() {
    let mut server = RedisServer::start();
    let client = Client::connect(config(&server)).await.unwrap();
    let before: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert!(before > 0);
    server.kill();
    // Time for the connection's task to read the close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let n: i64 = client
        .query(cmd("INCR").arg("after-restart"))
        .await
        .expect("the first command after the restart failed");
    assert_eq!(n, 1);
}

/// Requests holding more than one write batch are split between batches; callers that give
/// up meanwhile withdraw theirs from what is left. No value may be cut, mixed up or sent
/// after its caller left, and every reply goes to its own caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_queued_together_are_batched_and_withdrawn_cleanly() {
    let value = |i: usize| -> Vec<u8> {
        let mut v = format!("{i:06}:").into_bytes();
        v.resize(40 * 1024 + i * 37, b'a' + (i % 26) as u8);
        v
    };
    values_sent_together_are_stored_whole_or_withdrawn(96, value, Duration::from_micros(200)).await;
}

/// `n` callers SET `value(i)` on one connection at once; every third gives up after
/// `give_up`, usually while its request is queued. Each value is stored whole or (if
/// withdrawn) not at all, and each caller that stayed reads back its own value.
async fn values_sent_together_are_stored_whole_or_withdrawn(
    n: usize,
    value: fn(usize) -> Vec<u8>,
    give_up: Duration,
) {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).max_connections(1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = client.clone();
        let v = value(i);
        tasks.push(tokio::spawn(async move {
            let set = c.query::<()>(cmd("SET").arg(format!("v{i}")).arg(v.clone()));
            if i % 3 == 0 {
                return (i, tokio::time::timeout(give_up, set).await.is_ok());
            }
            set.await.unwrap();
            let got: Vec<u8> = c.query(cmd("GET").arg(format!("v{i}"))).await.unwrap();
            assert!(got == v, "value {i} came back different");
            (i, true)
        }));
    }
    for t in tasks {
        let (i, completed) = t.await.unwrap();
        let stored: Option<Vec<u8>> = client.query(cmd("GET").arg(format!("v{i}"))).await.unwrap();
        match stored {
            Some(s) => assert!(s == value(i), "value {i} was stored cut or mixed up"),
            None => assert!(!completed, "value {i} was acknowledged but not stored"),
        }
    }
}

/// Pushes nobody asked for (client-side caching invalidations on a shared RESP3 connection)
/// are set aside and dropped: they never answer a request, and the connection goes on.
#[tokio::test]
async fn unexpected_pushes_are_discarded_and_the_connection_goes_on() {
    let server = RedisServer::start();
    let client = Client::connect(config(&server).protocol(Protocol::Resp3).max_connections(1))
        .await
        .unwrap();
    let id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    client
        .query::<()>(cmd("CLIENT").arg("TRACKING").arg("ON"))
        .await
        .unwrap();
    for i in 0..50 {
        // Reading the key makes the server track it for this connection; the write from
        // another client then sends this connection an `invalidate` push.
        let _: Option<String> = client.query(cmd("GET").arg("tracked")).await.unwrap();
        server.cli(&["SET", "tracked", &i.to_string()]);
        let v: Option<String> = client.query(cmd("GET").arg("tracked")).await.unwrap();
        assert_eq!(v, Some(i.to_string()));
        let n: i64 = client.query(cmd("INCR").arg("n")).await.unwrap();
        assert_eq!(n, i + 1);
    }
    // Still the same connection, still tracking: the pushes did arrive on it.
    let now: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert_eq!(now, id);
    let info = client
        .send(cmd("CLIENT").arg("TRACKINGINFO"))
        .await
        .unwrap();
    let Frame::Map(pairs) = &info else {
        panic!("{info:?}")
    };
    let flags = pairs
        .iter()
        .find(|(k, _)| k.as_bytes() == Some(&b"flags"[..]))
        .map(|(_, v)| v);
    let Some(Frame::Set(flags) | Frame::Array(flags)) = flags else {
        panic!("{info:?}")
    };
    assert!(
        flags.iter().any(|f| f.as_bytes() == Some(&b"on"[..])),
        "{info:?}"
    );
}

/// A value of `n` bytes that differs with `seed`, so that a value stored in another's place,
/// cut, or shifted shows.
fn patterned(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(131)) as u8)
        .collect()
}

/// A large command's arguments go into the write queue shared, not copied: one whose caller
/// gives up while it waits behind a stalled write leaves the queue with all of it, is never
/// sent, and the requests around it get their own replies.
#[tokio::test]
async fn a_large_request_withdrawn_before_it_was_written_never_runs() {
    let (mut server, client, big) = a_write_stalled_on_a_frozen_server().await;
    let kept_value = patterned(200_000, 1);
    let kept = {
        let c = client.clone();
        let v = kept_value.clone();
        tokio::spawn(async move { c.query::<()>(cmd("SET").arg("kept").arg(v)).await })
    };
    let withdrawn = tokio::time::timeout(
        Duration::from_millis(100),
        client.query::<()>(cmd("SET").arg("withdrawn").arg(patterned(1 << 20, 2))),
    )
    .await;
    assert!(withdrawn.is_err(), "answered by a frozen server");
    let incr = {
        let c = client.clone();
        tokio::spawn(async move { c.query::<i64>(cmd("INCR").arg("n")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.resume();
    big.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    assert_eq!(incr.await.unwrap().unwrap(), 1);
    let gone: Option<Vec<u8>> = client.query(cmd("GET").arg("withdrawn")).await.unwrap();
    assert!(gone.is_none(), "the withdrawn SET was sent");
    let got: Vec<u8> = client.query(cmd("GET").arg("kept")).await.unwrap();
    assert!(
        got == kept_value,
        "the value queued behind came back different"
    );
    let strlen: i64 = client.query(cmd("STRLEN").arg("big")).await.unwrap();
    assert_eq!(strlen, 64 << 20);
}

/// Values from 1 KiB to 120 KiB, on either side of the size from which a command's arguments
/// are shared with the write queue and of the write batch's size, sent together by many
/// callers, a third of whom give up at once: each is stored whole or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_shared_with_the_write_queue_are_sent_whole_or_withdrawn() {
    values_sent_together_are_stored_whole_or_withdrawn(
        64,
        |i| patterned(1024 + i * 1900, i),
        Duration::from_micros(300),
    )
    .await;
}
