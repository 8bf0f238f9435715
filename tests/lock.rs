//! `DistributedLock` against real, private servers: exclusion with fencing tokens, release
//! and extend that never touch another holder's lock, the watchdog, waiting with backoff, the
//! scoped form on every exit path, and honest failure with Redis down.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_manager::manager::{DistributedLock, LockError};
use redis_manager::{Client, Config, ConfigBuilder, RedisManager, cmd};
use support::RedisServer;

fn config(server: &RedisServer) -> ConfigBuilder {
    server.config()
}

async fn client(server: &RedisServer) -> Client {
    server.client().await
}

async fn pttl(client: &Client, key: &str) -> i64 {
    client.query(cmd("PTTL").arg(key)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_times_two_hundred_rounds_on_a_non_atomic_counter_end_exact() {
    let server = RedisServer::start();
    // Three clients, as three processes would have; the lock is all that orders the GET/SET
    // pairs below.
    let clients = [
        client(&server).await,
        client(&server).await,
        client(&server).await,
    ];
    let fences = Arc::new(Mutex::new(Vec::with_capacity(10_000)));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let c = clients[i % 3].clone();
            let fences = fences.clone();
            let lock = DistributedLock::from_client(c.clone(), "counter")
                .lease(Duration::from_secs(10))
                .wait(Duration::from_secs(60))
                .retry_delays(Duration::from_millis(1), Duration::from_millis(20));
            tokio::spawn(async move {
                for _ in 0..200 {
                    let guard = lock.acquire().await.unwrap();
                    // Read, then write: two commands that would lose updates if two holders
                    // overlapped.
                    let n: Option<i64> = c.query(cmd("GET").arg("counter")).await.unwrap();
                    let next = n.unwrap_or(0) + 1;
                    c.query::<()>(cmd("SET").arg("counter").arg(next))
                        .await
                        .unwrap();
                    fences.lock().unwrap().push(guard.fencing_token());
                    assert!(guard.release().await.unwrap(), "held until released");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n: i64 = clients[0].query(cmd("GET").arg("counter")).await.unwrap();
    assert_eq!(n, 10_000);
    // In the order the critical sections ran, the fencing tokens strictly increase.
    let fences = fences.lock().unwrap();
    assert_eq!(fences.len(), 10_000);
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fencing tokens must strictly increase"
    );
    assert_eq!(fences.last(), Some(&10_000));
}

#[tokio::test]
async fn a_release_after_the_lease_expired_leaves_the_next_holders_lock_alone() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "res")
        .lease(Duration::from_millis(150))
        .wait(Duration::ZERO);
    let first = lock.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = lock
        .clone()
        .lease(Duration::from_secs(10))
        .acquire()
        .await
        .unwrap();
    assert!(second.fencing_token() > first.fencing_token());

    // The first holder's lease ran out: its release deletes nothing and says so.
    assert!(!first.extend(Duration::from_secs(10)).await.unwrap());
    assert!(first.is_lost());
    assert!(!first.release().await.unwrap());
    let exists: i64 = c.query(cmd("EXISTS").arg("lock:res")).await.unwrap();
    assert_eq!(exists, 1, "the second holder's lock survives");
    assert!(!second.is_lost());
    assert!(second.release().await.unwrap());
    let exists: i64 = c.query(cmd("EXISTS").arg("lock:res")).await.unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn extend_works_only_while_held() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "ext").lease(Duration::from_millis(500));
    let guard = lock.acquire().await.unwrap();
    assert!(pttl(&c, "lock:ext").await <= 500);
    assert!(guard.extend(Duration::from_secs(20)).await.unwrap());
    assert!(pttl(&c, "lock:ext").await > 10_000);
    assert!(guard.release().await.unwrap());

    // After expiry, extend does not bring it back.
    let short = lock.clone().lease(Duration::from_millis(100));
    let guard = short.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!guard.extend(Duration::from_secs(20)).await.unwrap());
    assert_eq!(pttl(&c, "lock:ext").await, -2, "nothing was recreated");
    assert!(!guard.release().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_keeps_a_short_lease_alive_until_release() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "wd")
        .lease(Duration::from_millis(300))
        .watchdog(true);
    let other = DistributedLock::from_client(c.clone(), "wd").wait(Duration::ZERO);
    let guard = lock.acquire().await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let e = other.acquire().await.unwrap_err();
        assert!(e.is_not_acquired(), "{e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!guard.is_lost());
    assert!(pttl(&c, "lock:wd").await > 0);
    assert!(guard.release().await.unwrap());
    // The watchdog stopped with the release: nothing renews or recreates the key.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(pttl(&c, "lock:wd").await, -2);

    // Without the watchdog the same lease lapses.
    let plain = lock.clone().watchdog(false).acquire().await.unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let taken = other.acquire().await.unwrap();
    assert!(taken.fencing_token() > plain.fencing_token());
    assert!(!plain.release().await.unwrap());
    assert!(taken.release().await.unwrap());
}

#[tokio::test]
async fn dropping_a_guard_stops_its_watchdog_and_releases() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "drop")
        .lease(Duration::from_millis(300))
        .watchdog(true)
        .wait(Duration::from_secs(2));
    let guard = lock.acquire().await.unwrap();
    drop(guard);
    // Woken by the background release, well before the lease would have lapsed.
    let again = lock.acquire().await.unwrap();
    assert!(again.release().await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(pttl(&c, "lock:drop").await, -2);
}

#[tokio::test]
async fn the_wait_time_runs_out_with_not_acquired_and_backs_off_meanwhile() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let holder = DistributedLock::from_client(c.clone(), "busy")
        .lease(Duration::from_secs(30))
        .acquire()
        .await
        .unwrap();
    server.cli(&["CONFIG", "RESETSTAT"]);
    let waiter = DistributedLock::from_client(c.clone(), "busy").wait(Duration::from_millis(600));
    let started = Instant::now();
    let e = waiter.acquire().await.unwrap_err();
    let elapsed = started.elapsed();
    match e {
        LockError::NotAcquired { waited } => assert!(waited >= Duration::from_millis(600)),
        other => panic!("expected NotAcquired, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "bounded: {elapsed:?}");
    // Backoff from 5 ms doubling to 200 ms: about ten attempts, where a 1 ms spin makes
    // hundreds.
    let stats = server.cli(&["INFO", "commandstats"]);
    let calls: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no evalsha stats in {stats}"));
    assert!((2..=30).contains(&calls), "{calls} attempts in 600 ms");
    assert!(holder.release().await.unwrap());
}

#[tokio::test]
async fn with_lock_releases_after_ok_err_and_panic() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "scoped")
        .lease(Duration::from_secs(30))
        .wait(Duration::from_secs(3));

    let fence = lock.with_lock(|fence| async move { fence }).await.unwrap();
    assert_eq!(fence, 1);
    assert_eq!(pttl(&c, "lock:scoped").await, -2);

    let r: Result<Result<(), &str>, LockError> =
        lock.with_lock(|_| async { Err("failed inside") }).await;
    assert_eq!(r.unwrap(), Err("failed inside"));
    assert_eq!(pttl(&c, "lock:scoped").await, -2);

    let panicking = lock.clone();
    let joined = tokio::spawn(async move {
        panicking
            .with_lock(|_| async { panic!("boom inside the critical section") })
            .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    // Released in the background during unwinding, not after the 30 s lease.
    let started = Instant::now();
    let guard = lock.acquire().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(guard.fencing_token(), 4);
    assert!(guard.release().await.unwrap());
}

#[tokio::test]
async fn with_redis_down_acquire_fails_honestly() {
    let mut server = RedisServer::start();
    let c = client(&server).await;
    let lock = DistributedLock::from_client(c.clone(), "down").wait(Duration::from_secs(1));
    server.kill();
    let started = Instant::now();
    let e = lock.acquire().await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(matches!(e, LockError::Unavailable(Some(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = lock
        .with_lock(|_| async { unreachable!("must not run without the lock") })
        .await
        .unwrap_err();
    assert!(e.is_unavailable());

    // Through a manager: once it knows Redis is down, acquire fails without I/O.
    let m = RedisManager::new(config(&server));
    assert!(!m.initialize().await);
    let e = DistributedLock::new(&m, "down")
        .acquire()
        .await
        .unwrap_err();
    assert!(matches!(e, LockError::Unavailable(None)), "{e:?}");
    let off = RedisManager::new(Config::builder().enabled(false));
    let e = DistributedLock::new(&off, "x").acquire().await.unwrap_err();
    assert!(e.is_unavailable());

    // Back up, the same lock works again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let guard = loop {
        match lock.acquire().await {
            Ok(g) => break g,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_unavailable());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no recovery: {e:?}"),
        }
    };
    assert!(guard.release().await.unwrap());
}

#[tokio::test]
async fn fencing_tokens_count_up_across_lock_objects_and_survive_releases() {
    let server = RedisServer::start();
    let c = client(&server).await;
    let a = DistributedLock::from_client(c.clone(), "fence");
    let b = DistributedLock::from_client(client(&server).await, "fence");
    let mut last = 0;
    for lock in [&a, &b, &a, &b] {
        let g = lock.acquire().await.unwrap();
        assert!(g.fencing_token() > last);
        last = g.fencing_token();
        assert!(g.release().await.unwrap());
    }
    assert_eq!(last, 4);
    // The counter outlives the locks; the lock key does not.
    let fence: i64 = c.query(cmd("GET").arg("{lock:fence}:fence")).await.unwrap();
    assert_eq!(fence, 4);
    assert_eq!(pttl(&c, "{lock:fence}:fence").await, -1);
}
