//! Reliability promises against a real server: every call's wait is bounded by its own
//! timeout counted from the call (across reconnects and retries), a backoff rejection says
//! what it is, and the pool's idle check replaces a dead connection.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_manager::prelude::*;
use redis_manager::{Client, Config, Error, Pipeline, cmd};
use support::{FaultProxy, Mode, RedisServer};

/// The response timeout of the clients below: much shorter than their connect timeout (the
/// default, 5 s), so a wait bounded only by the connect timeout shows.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);

/// How much longer than its own timeout a call may take to return: timer granularity and
/// scheduling on a loaded 2-core machine. A wait bounded by the connect timeout instead
/// (the bug this guards against) takes seconds longer.
const MARGIN: Duration = Duration::from_millis(250);

fn config(server: &RedisServer) -> redis_manager::ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .response_timeout(Some(RESPONSE_TIMEOUT))
}

/// Runs `call`, checks it returned within `limit` + [`MARGIN`] and failed the way a silent
/// server makes calls fail: a timeout.
async fn bounded<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, Error>>,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after 30 s"));
    let took = started.elapsed();
    assert!(
        took <= limit + MARGIN,
        "{what}: took {took:?}, its timeout is {limit:?} (+{MARGIN:?}): {result:?}"
    );
    match result {
        Err(e) => assert!(e.is_timeout(), "{what}: {e:?}"),
        Ok(v) => panic!("{what}: a stopped server answered {v:?}"),
    }
}

/// With the server stopped (SIGSTOP), every call fails within its own timeout: the first,
/// whose request is written, and every later one, which must reconnect (the socket
/// connects, the handshake gets no answer) and would otherwise wait for the connect timeout.
#[tokio::test]
async fn a_stopped_server_costs_each_call_its_own_timeout_not_a_connect_timeout() {
    let mut server = RedisServer::start();
    let client = Client::connect(config(&server)).await.unwrap();
    client.set("k", "v").await.unwrap();
    server.pause();
    for round in 0..3 {
        bounded(&format!("GET #{round}"), RESPONSE_TIMEOUT, client.get("k")).await;
        bounded(
            &format!("SET #{round}"),
            RESPONSE_TIMEOUT,
            client.set("k", "w"),
        )
        .await;
        bounded(
            &format!("INCR #{round}"),
            RESPONSE_TIMEOUT,
            client.incr("n"),
        )
        .await;
        let mut pipe = Pipeline::new();
        pipe.get("k").incr("n");
        bounded(
            &format!("pipeline #{round}"),
            RESPONSE_TIMEOUT,
            pipe.execute(&client),
        )
        .await;
        // A blocking command's limit is its block time plus the response timeout, counted
        // from the call, which must first take or open a connection of its own.
        let block = Duration::from_millis(200);
        bounded(
            &format!("BLPOP #{round}"),
            RESPONSE_TIMEOUT + block,
            client.blpop(&["list"], block.as_secs_f64()),
        )
        .await;
    }
    server.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get("k").await {
            Ok(v) => {
                assert!(v.is_some());
                break;
            }
            Err(e) if Instant::now() < deadline => drop(e),
            Err(e) => panic!("no recovery after SIGCONT: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// While the reconnect backoff runs, a call fails at once with `Error::Backoff`: not a
/// timeout, and carrying the connect error that started it.
#[tokio::test]
async fn a_backoff_rejection_is_not_a_timeout_and_keeps_its_cause() {
    let mut server = RedisServer::start();
    let client = Client::connect(
        config(&server).reconnect_delays(Duration::from_secs(20), Duration::from_secs(20)),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    server.stop();
    // The first calls find the connection gone (or lose it) until one tries to connect:
    // refused, which starts the backoff.
    for _ in 0..3 {
        let e = client.get("k").await.unwrap_err();
        assert!(!e.is_backoff(), "{e:?}");
        if matches!(e, Error::Io(_)) {
            break;
        }
    }
    let before = Instant::now();
    let second = client.get("k").await.unwrap_err();
    let took = before.elapsed();
    assert!(second.is_backoff(), "{second:?}");
    assert!(!second.is_timeout(), "{second:?}");
    assert!(second.is_connection_error() && second.is_unsent());
    assert!(took < MARGIN, "a backoff rejection waited {took:?}");
    let Error::Backoff {
        endpoint,
        since,
        retry_at,
        failures,
        cause,
    } = &second
    else {
        unreachable!()
    };
    assert_eq!(endpoint.to_string(), server.addr());
    assert!(*failures >= 1);
    assert!(*since <= before && *retry_at > Instant::now(), "{second:?}");
    assert!(matches!(**cause, Error::Io(_)), "{cause:?}");
    let source = std::error::Error::source(&second).expect("the cause is the source");
    assert_eq!(source.to_string(), cause.to_string());
    assert!(second.to_string().contains(&server.addr()), "{second}");
}

/// The server's record of the connection with id `id`: its `CLIENT LIST` line.
async fn client_line(client: &Client, id: i64) -> String {
    client
        .query::<String>(cmd("CLIENT").arg("LIST").arg("ID").arg(id))
        .await
        .unwrap()
}

/// A connection idle for longer than `idle_check_after` is checked with `PING` before it is
/// reused; one idle for less is reused as it is.
#[tokio::test]
async fn an_idle_connection_is_pinged_before_reuse_past_the_configured_idle_time() {
    let server = RedisServer::start();
    for (idle_check_after, pinged) in [
        (Duration::from_millis(100), true),
        (Duration::from_secs(600), false),
    ] {
        let client = Client::connect(config(&server).idle_check_after(idle_check_after))
            .await
            .unwrap();
        let id = {
            let mut conn = client.exclusive().await.unwrap();
            conn.query::<String>(cmd("ECHO").arg("hello"))
                .await
                .unwrap();
            conn.client_id().expect("RESP3 learns the client id")
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = client.exclusive().await.unwrap();
        assert_eq!(
            again.client_id(),
            Some(id),
            "the idle connection was reused"
        );
        let line = client_line(&client, id).await;
        let last = if pinged { "cmd=ping" } else { "cmd=echo" };
        assert!(line.contains(last), "{idle_check_after:?}: {line}");
    }
}

/// A connection that no longer answers (a partition) fails the idle check and is replaced by
/// a new one.
#[tokio::test]
async fn an_idle_connection_that_fails_its_check_is_replaced() {
    let server = RedisServer::start();
    let proxy = Arc::new(FaultProxy::start(server.addr()).await);
    let client = Client::connect(
        Config::builder()
            .host("127.0.0.1")
            .port(proxy.port())
            .idle_check_after(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let old = client.exclusive().await.unwrap().client_id().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.set_mode(Mode::Blackhole);
    // The check's PING gets no answer (it waits at most 1 s); the partition heals before the
    // new connection's handshake gives up.
    let heal = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            proxy.set_mode(Mode::PassThrough);
        })
    };
    let mut conn = client.exclusive().await.unwrap();
    heal.await.unwrap();
    let new = conn.client_id().unwrap();
    assert_ne!(new, old, "the connection that failed its check was reused");
    assert_eq!(
        conn.query::<String>(cmd("ECHO").arg("x")).await.unwrap(),
        "x"
    );
}

/// How soon after a restarted server answers the client must serve again, whatever the
/// backoff grew to during the outage: the goal (250 ms) plus [`MARGIN`].
const RECOVERY_BOUND: Duration = Duration::from_millis(500);

/// Calls (every 10 ms) until one succeeds; how long that took.
async fn time_to_recover(what: &str, mut call: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !call().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: no recovery within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// After an outage long enough for the reconnect backoff to reach seconds, a restarted
/// server is served again within [`RECOVERY_BOUND`], not when the backoff runs out: by the
/// client, by a manager (whose operations return defaults until it notices) and by a
/// subscriber.
#[tokio::test]
async fn a_restarted_server_is_served_at_once_after_a_long_outage() {
    use redis_manager::RedisManager;
    use redis_manager::cmd::PubSubEvent;

    let mut server = RedisServer::start();
    // The default backoff: 50 ms doubling to 5 s.
    let client = Client::connect(config(&server)).await.unwrap();
    let manager = RedisManager::new(config(&server));
    assert!(manager.initialize().await);
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["ch"]).await.unwrap();
    server.stop();

    // The outage goes on until the client's next attempt is at least 2 s away.
    let outage = Instant::now();
    loop {
        // The manager learns of the outage from an operation of its own.
        let _ = manager.get("k").await;
        match client.get("k").await {
            Err(Error::Backoff { retry_at, .. })
                if retry_at > Instant::now() + Duration::from_secs(2) =>
            {
                break;
            }
            Err(_) => {}
            Ok(v) => panic!("a stopped server answered {v:?}"),
        }
        assert!(
            outage.elapsed() < Duration::from_secs(60),
            "no long backoff"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!manager.is_enabled());
    // The subscriber notices the loss, and waits for the server in `next`.
    let events = tokio::spawn(async move {
        loop {
            match sub.next().await {
                Some(Ok(PubSubEvent::Reconnected)) => return Instant::now(),
                Some(_) => {}
                None => panic!("the subscriber ended"),
            }
        }
    });

    server.restart();
    let restarted = Instant::now();
    let took = time_to_recover("client", async || client.get("k").await.is_ok()).await;
    assert!(
        took <= RECOVERY_BOUND,
        "the client served again after {took:?}"
    );
    time_to_recover("manager", async || manager.is_enabled()).await;
    let took = restarted.elapsed();
    assert!(
        took <= RECOVERY_BOUND,
        "the manager was enabled again after {took:?}"
    );
    let reconnected = tokio::time::timeout(Duration::from_secs(30), events)
        .await
        .expect("the subscriber never reconnected")
        .unwrap();
    let took = reconnected.saturating_duration_since(restarted);
    assert!(
        took <= RECOVERY_BOUND,
        "the subscriber reconnected after {took:?}"
    );
}

/// A handshake slower than the response timeout (two round trips, HELLO and SELECT, over a
/// slow link) still completes: callers that give up do not cancel it, the next ones find
/// the connection made, and calls that need no reconnect fit in their timeout.
#[tokio::test]
async fn a_handshake_slower_than_the_response_timeout_still_connects() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    // Each chunk waits 100 ms each way: a round trip takes 200 ms, the handshake 400 ms.
    proxy.set_mode(Mode::Latency(Duration::from_millis(100)));
    let client = Client::new(
        Config::builder()
            .host("127.0.0.1")
            .port(proxy.port())
            .db(1)
            .response_timeout(Some(RESPONSE_TIMEOUT)),
    )
    .unwrap();
    let started = Instant::now();
    let mut timeouts = 0;
    loop {
        match client.get("k").await {
            Ok(v) => {
                assert_eq!(v, None);
                break;
            }
            Err(e) => {
                assert!(e.is_timeout(), "{e:?}");
                timeouts += 1;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never connected: {timeouts} calls timed out"
        );
    }
    assert!(
        timeouts >= 1,
        "the first call cannot have fitted in its timeout"
    );
}

/// The same for a blocking command, which opens a connection of its own: an opening that
/// outlives its caller's timeout is not wasted, the connection waits in the pool for the
/// next call.
#[tokio::test]
async fn an_exclusive_connection_slower_to_open_than_the_timeout_is_kept_for_the_next_call() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    // A round trip takes 200 ms, the handshake (HELLO, SELECT) 400 ms.
    proxy.set_mode(Mode::Latency(Duration::from_millis(100)));
    let client = Client::new(
        Config::builder()
            .host("127.0.0.1")
            .port(proxy.port())
            .db(1)
            .response_timeout(Some(RESPONSE_TIMEOUT)),
    )
    .unwrap();
    let block = Duration::from_millis(10);
    let started = Instant::now();
    let mut timeouts = 0;
    loop {
        match client.blpop(&["empty"], block.as_secs_f64()).await {
            Ok(v) => {
                assert_eq!(v, None);
                break;
            }
            Err(e) => {
                assert!(e.is_timeout(), "{e:?}");
                timeouts += 1;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never connected: {timeouts} calls timed out"
        );
    }
    assert!(
        timeouts >= 1,
        "the first call cannot have fitted in its timeout"
    );
}
