//! The chaos suite: the client's promises under attack.
//!
//! A soak runs many tasks that check every reply against what they wrote while a controller
//! kills and restarts the server, kills connections, pauses the server and switches the fault
//! proxy between latency, re-chunking, blackholes and dropped replies. Its response timeout
//! is shorter than its connect timeout, and every call must return within its response
//! timeout plus a stated margin, reconnects included; a fifth of the calls are cancelled at
//! a random point. Its length is
//! `CHAOS_SECS` (default 6, short enough for CI; run it for minutes by hand:
//! `CHAOS_SECS=300 cargo test --release --test chaos -- --nocapture`).

// The soak prints its counts of operations and faults: that report is its point.
#![allow(clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis_manager::{Client, Config, Error, cmd};
use support::{FaultProxy, Mode, RedisServer};

/// Shorter than the connect timeout on purpose: a call that must reconnect (to a frozen
/// server, through a blackhole) is still bounded by its own response timeout, counted from
/// the call.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(400);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than its response timeout a soak call may take to return, whatever the
/// fault: timer granularity and scheduling of 16 workers on a loaded 2-core machine in a
/// debug build. Without the call's deadline carried across reconnects, calls took a connect
/// timeout (2 s) or more.
const TIMEOUT_MARGIN: Duration = Duration::from_millis(400);
/// No operation may take longer than this, whatever the fault (a safety net for the tests
/// below; the soak holds each call to its timeout plus [`TIMEOUT_MARGIN`]).
const HANG_BOUND: Duration = Duration::from_secs(5);

fn client_via(proxy: &FaultProxy) -> Client {
    Client::new(
        Config::builder()
            .host("127.0.0.1")
            .port(proxy.port())
            .response_timeout(Some(RESPONSE_TIMEOUT))
            .connect_timeout(CONNECT_TIMEOUT)
            .reconnect_delays(Duration::from_millis(5), Duration::from_millis(100)),
    )
    .unwrap()
}

/// Errors a fault may cause. Anything else (a conversion error, a wrong value) is a bug.
fn is_fault_error(e: &Error) -> bool {
    e.is_connection_error() || e.is_timeout() || matches!(e, Error::Io(_))
        // CLIENT PAUSE / a restarting server may answer LOADING or similar.
        || e.code().is_some_and(|c| c == "LOADING" || c == "BUSY")
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    checked_values: AtomicU64,
    /// Calls dropped mid-call on purpose.
    cancelled: AtomicU64,
    /// The most any call went past its response timeout, in microseconds.
    max_overrun_us: AtomicU64,
}

/// Runs one call of worker `id`, checks that it returned within its response timeout plus
/// [`TIMEOUT_MARGIN`], and records how far past its timeout it went.
///
/// One call in [`CANCEL_ONE_IN`] is given a random point within its timeout at which it is
/// cancelled (dropped, as a caller's `select!` or timeout would) if it is still running; a
/// cancelled call's outcome is unknown, which the worker's checks allow for.
async fn timed<T>(
    id: usize,
    what: &str,
    counts: &Counts,
    rng: &mut u64,
    call: impl std::future::Future<Output = Result<T, Error>>,
) -> Option<Result<T, Error>> {
    let started = Instant::now();
    let cancel_after = next_random(rng).is_multiple_of(CANCEL_ONE_IN).then(|| {
        // Half within the first millisecond (while queued, written, or being answered), half
        // anywhere within the timeout (mostly during faults).
        let micros = if next_random(rng).is_multiple_of(2) {
            1000
        } else {
            RESPONSE_TIMEOUT.as_micros() as u64
        };
        Duration::from_micros(next_random(rng) % micros)
    });
    let result = match cancel_after {
        Some(after) => match tokio::time::timeout(after, call).await {
            Ok(result) => result,
            Err(_) => {
                counts.cancelled.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        },
        None => tokio::time::timeout(HANG_BOUND, call)
            .await
            .unwrap_or_else(|_| panic!("worker {id}: {what} hung past {HANG_BOUND:?}")),
    };
    let took = started.elapsed();
    assert!(
        took <= RESPONSE_TIMEOUT + TIMEOUT_MARGIN,
        "worker {id}: {what} took {took:?}, its timeout is {RESPONSE_TIMEOUT:?} (+{TIMEOUT_MARGIN:?}): {:?}",
        result.as_ref().err()
    );
    let over = took.saturating_sub(RESPONSE_TIMEOUT).as_micros() as u64;
    counts.max_overrun_us.fetch_max(over, Ordering::Relaxed);
    Some(result)
}

/// One call in this many is cancelled (the fifth of the external chaos run).
const CANCEL_ONE_IN: u64 = 5;

/// xorshift64*: enough randomness to pick calls to cancel and when.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// One worker: a key of its own for SET/GET and a counter of its own for INCR.
async fn worker(
    id: usize,
    client: Client,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) -> (u64, u64, String) {
    let key = format!("chaos:{id}:value");
    let counter = format!("chaos:{id}:counter");
    let prefix = format!("w{id}:");
    let mut seq = 0u64;
    // The newest value of `key` the server acknowledged, and the newest it may have got.
    let mut acked_seq = 0u64;
    let mut attempted_seq;
    let mut incr_acked = 0u64;
    let mut incr_attempted = 0u64;
    let mut rng = 0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let value = format!("{prefix}{seq}");
        attempted_seq = seq;
        let set = timed(
            id,
            "SET",
            &counts,
            &mut rng,
            client.query::<()>(cmd("SET").arg(&key).arg(&value)),
        )
        .await;
        let Some(set) = set else { continue };
        match set {
            Ok(()) => {
                acked_seq = seq;
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(
                    is_fault_error(&e),
                    "worker {id}: unexpected SET error {e:?}"
                );
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let get = timed(
            id,
            "GET",
            &counts,
            &mut rng,
            client.query::<Option<String>>(cmd("GET").arg(&key)),
        )
        .await;
        let Some(get) = get else { continue };
        match get {
            Ok(Some(v)) => {
                // Never another worker's value, never older than what was acknowledged.
                let got: u64 = v
                    .strip_prefix(&prefix)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("worker {id}: GET {key} returned {v:?}: misrouted"));
                assert!(
                    got >= acked_seq && got <= attempted_seq,
                    "worker {id}: GET returned seq {got}, acked {acked_seq}, attempted {attempted_seq}"
                );
                counts.checked_values.fetch_add(1, Ordering::Relaxed);
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            // Only a key never acknowledged may be missing (the server persists with AOF).
            Ok(None) => assert_eq!(acked_seq, 0, "worker {id}: acknowledged {key} vanished"),
            Err(e) => {
                assert!(
                    is_fault_error(&e),
                    "worker {id}: unexpected GET error {e:?}"
                );
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        incr_attempted += 1;
        let incr = timed(
            id,
            "INCR",
            &counts,
            &mut rng,
            client.query::<i64>(cmd("INCR").arg(&counter)),
        )
        .await;
        let Some(incr) = incr else { continue };
        match incr {
            Ok(n) => {
                incr_acked += 1;
                let n = n as u64;
                assert!(
                    n >= incr_acked && n <= incr_attempted,
                    "worker {id}: INCR returned {n}, acked {incr_acked}, attempted {incr_attempted}"
                );
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(
                    is_fault_error(&e),
                    "worker {id}: unexpected INCR error {e:?}"
                );
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    (incr_acked, incr_attempted, counter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_faults_delivers_every_reply_to_its_caller() {
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    // AOF with fsync on every write: an acknowledged write survives SIGKILL, so the counter
    // invariant (acknowledged <= final) holds across server restarts.
    let mut server = RedisServer::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let proxy = FaultProxy::start(server.addr()).await;
    let client = client_via(&proxy);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let workers: Vec<_> = (0..16)
        .map(|id| tokio::spawn(worker(id, client.clone(), stop.clone(), counts.clone())))
        .collect();

    let faults = [
        "kill-restart",
        "client-kill",
        "client-pause",
        "sigstop",
        "latency",
        "rechunk",
        "blackhole",
        "drop-replies",
        "cut",
        "close-after",
    ];
    let mut fault_counts = vec![0u32; faults.len()];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut round = 0usize;
    while Instant::now() < deadline {
        let which = round % faults.len();
        round += 1;
        fault_counts[which] += 1;
        match faults[which] {
            "kill-restart" => {
                // Blocking calls, off the workers' threads.
                tokio::task::block_in_place(|| server.kill());
                tokio::time::sleep(Duration::from_millis(100)).await;
                tokio::task::block_in_place(|| server.restart());
            }
            "client-kill" => {
                tokio::task::block_in_place(|| {
                    server.cli(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
                });
            }
            "client-pause" => {
                tokio::task::block_in_place(|| server.cli(&["CLIENT", "PAUSE", "300", "WRITE"]));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            "sigstop" => {
                server.pause();
                tokio::time::sleep(Duration::from_millis(700)).await;
                server.resume();
            }
            "latency" => {
                proxy.set_mode(Mode::Latency(Duration::from_millis(20)));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            "rechunk" => {
                proxy.set_mode(Mode::Rechunk {
                    size: 3,
                    pause: Duration::ZERO,
                });
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            "blackhole" => {
                proxy.set_mode(Mode::Blackhole);
                tokio::time::sleep(Duration::from_millis(700)).await;
                proxy.cut_all();
            }
            "drop-replies" => {
                proxy.set_mode(Mode::DropReplies);
                tokio::time::sleep(Duration::from_millis(700)).await;
                proxy.cut_all();
            }
            "cut" => proxy.cut_all(),
            _ => {
                proxy.set_mode(Mode::CloseAfter(100));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        proxy.set_mode(Mode::PassThrough);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for w in workers {
        results.push(w.await.expect("worker panicked"));
    }

    // Healthy again after the last fault.
    let recovered = Instant::now();
    loop {
        match client.query::<String>(cmd("PING")).await {
            Ok(p) if p == "PONG" => break,
            _ if recovered.elapsed() < HANG_BOUND => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("client did not recover after the last fault: {other:?}"),
        }
    }
    for (acked, attempted, counter) in results {
        let fin: u64 = server.cli(&["GET", &counter]).parse().unwrap_or(0);
        assert!(
            acked <= fin && fin <= attempted,
            "{counter}: acknowledged {acked} <= final {fin} <= attempted {attempted} violated"
        );
    }
    let ok = counts.ok.load(Ordering::Relaxed);
    let failed = counts.failed.load(Ordering::Relaxed);
    println!(
        "chaos: {secs}s, ops ok {ok}, ops failed with typed errors {failed}, values checked {}, cancelled {}, most past a timeout {:?}, faults {:?}",
        counts.checked_values.load(Ordering::Relaxed),
        counts.cancelled.load(Ordering::Relaxed),
        Duration::from_micros(counts.max_overrun_us.load(Ordering::Relaxed)),
        faults.iter().zip(&fault_counts).collect::<Vec<_>>()
    );
    assert!(ok > 100, "too little traffic got through to mean anything");
    assert!(
        fault_counts.iter().all(|&n| n > 0),
        "every fault must have run"
    );
}

/// A server behind a fault proxy, a client through it, and key `k` set to 1.
async fn proxied_with_k_set_to_1() -> (RedisServer, FaultProxy, Client) {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    let client = client_via(&proxy);
    client
        .query::<()>(cmd("SET").arg("k").arg("1"))
        .await
        .unwrap();
    (server, proxy, client)
}

#[tokio::test]
async fn blackholed_request_reports_an_unknown_outcome() {
    let (_server, proxy, client) = proxied_with_k_set_to_1().await;
    proxy.set_mode(Mode::Blackhole);
    let started = Instant::now();
    let e = client.query::<i64>(cmd("INCR").arg("k")).await.unwrap_err();
    assert!(e.is_timeout() && e.is_outcome_unknown(), "{e:?}");
    assert!(started.elapsed() < HANG_BOUND);
}

#[tokio::test]
async fn dropped_reply_reports_an_unknown_outcome_although_the_server_ran_it() {
    let (server, proxy, client) = proxied_with_k_set_to_1().await;
    proxy.set_mode(Mode::DropReplies);
    let e = client.query::<i64>(cmd("INCR").arg("k")).await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    // The server did execute it: exactly why the client must not retry it by itself.
    assert_eq!(server.cli(&["GET", "k"]), "2");
    proxy.set_mode(Mode::PassThrough);
    proxy.cut_all();
    let deadline = Instant::now() + HANG_BOUND;
    let v = loop {
        match client.query::<i64>(cmd("GET").arg("k")).await {
            Ok(v) => break v,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("no recovery: {e:?}"),
        }
    };
    assert_eq!(v, 2, "INCR must not have been re-sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_split_into_tiny_pieces_still_decode() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr()).await;
    proxy.set_mode(Mode::Rechunk {
        size: 1,
        pause: Duration::ZERO,
    });
    let client = client_via(&proxy);
    let big = "x".repeat(5000);
    client
        .query::<()>(cmd("SET").arg("big").arg(&big))
        .await
        .unwrap();
    client
        .query::<()>(cmd("RPUSH").arg("list").arg("a").arg("b").arg("c"))
        .await
        .unwrap();
    let (v, l): (String, Vec<String>) = tokio::join!(
        async { client.query(cmd("GET").arg("big")).await.unwrap() },
        async {
            client
                .query(cmd("LRANGE").arg("list").arg(0).arg(-1))
                .await
                .unwrap()
        }
    );
    assert_eq!(v, big);
    assert_eq!(l, ["a", "b", "c"]);
}
