//! Redis Cluster: routing, redirections, resharding and failover against a private 6-node
//! cluster (3 masters, 3 replicas) started by each test.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis_manager::cmd::{PubSubEvent, ScanOptions};
use redis_manager::manager::{DistributedLock, RateLimiter};
use redis_manager::prelude::*;
use redis_manager::{Client, Error, Frame, Pipeline, RedisManager, cmd};
use support::RedisCluster;

/// Keys spread over every shard: enough of them that each master owns some.
fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelines_and_manager_work_on_a_cluster() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");

    // Single-key commands land on their slot's master, whichever seed answered first.
    for k in keys("k", 60) {
        client
            .query::<()>(cmd("SET").arg(&k).arg(format!("v-{k}")))
            .await
            .unwrap();
    }
    for k in keys("k", 60) {
        let v: Option<String> = client.query(cmd("GET").arg(&k)).await.unwrap();
        assert_eq!(v, Some(format!("v-{k}")));
    }
    // Each key really is on the master that owns its slot.
    let k0 = "k:0";
    let slot: u16 = {
        let any = cluster.seeds()[0].to_string();
        let port = any.rsplit(':').next().unwrap().to_owned();
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port, "CLUSTER", "KEYSLOT", k0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let owner = cluster.owner_of(slot);
    let mut cluster = cluster;
    assert_eq!(
        cluster.node(owner).cli(&["GET", k0]),
        "v-k:0",
        "the key is stored on its slot's master"
    );

    // A pipeline spanning every shard: replies in order, errors per command.
    let mut pipe = Pipeline::new();
    for (i, k) in keys("p", 30).iter().enumerate() {
        pipe.add(cmd("SET").arg(k).arg(i));
        pipe.add(cmd("INCR").arg(k));
    }
    pipe.add(cmd("HSET").arg("k:0").arg("f").arg("v")); // WRONGTYPE on one shard
    pipe.add(cmd("PING"));
    let frames = pipe.execute(&client).await.unwrap();
    assert_eq!(frames.len(), 62);
    for i in 0..30 {
        assert_eq!(frames[2 * i + 1], Frame::Integer(i as i64 + 1), "reply {i}");
    }
    assert!(frames[60].is_error(), "{:?}", frames[60]);
    assert!(!frames[61].is_error());

    // Large values in a pipeline spanning every shard: each shard's share is written from the
    // commands' own buffers, and every value comes back whole, in its place.
    let big = |i: usize| -> Vec<u8> {
        (0..300_000 + i)
            .map(|j| (j.wrapping_mul(31) ^ i.wrapping_mul(131)) as u8)
            .collect()
    };
    let mut pipe = Pipeline::new();
    for (i, k) in keys("big", 9).iter().enumerate() {
        pipe.add(cmd("SET").arg(k).arg(big(i)));
        pipe.add(cmd("GET").arg(k));
    }
    let frames = pipe.execute(&client).await.unwrap();
    for i in 0..9 {
        let got = frames[2 * i + 1].as_bytes().unwrap();
        assert!(got == &big(i)[..], "value {i} came back different");
    }

    // Multi-key commands: split where the command allows it, refused otherwise.
    let ks = keys("k", 10);
    let values: Vec<Option<String>> = client.query(cmd("MGET").args(&ks)).await.unwrap();
    let want: Vec<Option<String>> = ks.iter().map(|k| Some(format!("v-{k}"))).collect();
    assert_eq!(values, want);
    let n: i64 = client
        .query(cmd("EXISTS").args(&ks).arg("missing"))
        .await
        .unwrap();
    assert_eq!(n, 10);
    let err = client
        .query::<()>(cmd("MSET").arg("a").arg(1).arg("b").arg(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::CrossSlot { ref command } if command == "MSET"),
        "{err:?}"
    );
    // Hash tags keep keys together.
    client
        .query::<()>(cmd("MSET").arg("{u1}:a").arg(1).arg("{u1}:b").arg(2))
        .await
        .unwrap();

    // The same multi-key and every-master commands inside a pipeline behave as they do
    // alone, in their place: the SET before the MGET is seen by it, the DEL after it is not.
    let size: i64 = client.query(cmd("DBSIZE")).await.unwrap();
    let mut pipe = Pipeline::new();
    pipe.add(cmd("SET").arg("k:3").arg("new"))
        .add(cmd("MGET").args(&ks).arg("missing"))
        .add(cmd("EXISTS").args(&ks))
        .add(cmd("DBSIZE"))
        .add(cmd("MSET").arg("a").arg(1).arg("b").arg(2))
        .add(cmd("DEL").arg("k:8").arg("k:9").arg("missing"))
        .add(cmd("MGET").arg("k:8").arg("k:7").arg("k:9"));
    let frames = pipe.execute(&client).await.unwrap();
    assert_eq!(frames.len(), 7);
    let mut want: Vec<Option<String>> = ks.iter().map(|k| Some(format!("v-{k}"))).collect();
    want[3] = Some("new".into());
    want.push(None);
    let values: Vec<Option<String>> =
        redis_manager::cmd::FromReply::from_reply(frames[1].clone()).unwrap();
    assert_eq!(values, want);
    assert_eq!(frames[2], Frame::Integer(10));
    assert_eq!(frames[3], Frame::Integer(size), "summed over every master");
    assert!(
        frames[4].is_error() && format!("{:?}", frames[4]).contains("CROSSSLOT"),
        "an MSET across slots cannot be split: {:?}",
        frames[4]
    );
    assert_eq!(frames[5], Frame::Integer(2));
    let values: Vec<Option<String>> =
        redis_manager::cmd::FromReply::from_reply(frames[6].clone()).unwrap();
    assert_eq!(values, [None, Some("v-k:7".to_string()), None]);
    for k in ["k:3", "k:8", "k:9"] {
        client
            .query::<()>(cmd("SET").arg(k).arg(format!("v-{k}")))
            .await
            .unwrap();
    }

    // Transactions need one slot: fine with a hash tag, refused across slots.
    let mut tx = Pipeline::atomic();
    tx.add(cmd("INCR").arg("{u1}:a"))
        .add(cmd("INCR").arg("{u1}:b"));
    let (a, b): (i64, i64) = tx.query(&client).await.unwrap();
    assert_eq!((a, b), (2, 3));
    let mut tx = Pipeline::atomic();
    tx.add(cmd("INCR").arg("a")).add(cmd("INCR").arg("b"));
    assert!(matches!(
        tx.execute(&client).await,
        Err(Error::CrossSlot { .. })
    ));

    // Exclusive connections bind to the node of their first key: WATCH/MULTI/EXEC, BLPOP.
    let mut conn = client.exclusive().await.unwrap();
    conn.query::<()>(cmd("MULTI")).await.unwrap();
    conn.query::<()>(cmd("SET").arg("{tx}x").arg(1))
        .await
        .unwrap();
    conn.query::<()>(cmd("INCR").arg("{tx}x")).await.unwrap();
    let results: Vec<i64> = conn
        .query::<(String, i64)>(cmd("EXEC"))
        .await
        .map(|(_, n)| vec![n])
        .unwrap();
    assert_eq!(results, vec![2]);
    drop(conn);
    client
        .query::<()>(cmd("RPUSH").arg("queue").arg("job"))
        .await
        .unwrap();
    let mut conn = client.exclusive().await.unwrap();
    let popped: Option<(String, String)> =
        conn.query(cmd("BLPOP").arg("queue").arg(1)).await.unwrap();
    assert_eq!(popped.map(|p| p.1).as_deref(), Some("job"));
    drop(conn);

    // Whole-cluster commands: DBSIZE sums over the masters.
    let size: i64 = client.query(cmd("DBSIZE")).await.unwrap();
    assert!(size >= 60 + 30 + 2, "{size}");
    // Replica reads (off by default): READONLY connections to the replicas serve GETs.
    // Replicas lag behind their masters, so each read is retried until replication caught up.
    let readers = Client::connect(cluster.config().read_from_replicas(true))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for k in keys("k", 60) {
        loop {
            let v: Option<String> = readers.query(cmd("GET").arg(&k)).await.unwrap();
            if v.is_some() || tokio::time::Instant::now() > deadline {
                assert_eq!(v, Some(format!("v-{k}")));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let replica_gets: usize = cluster
        .nodes_info()
        .iter()
        .filter(|n| !n.master)
        .map(|n| cluster.node_ref(n.port).cli(&["INFO", "commandstats"]))
        .filter(|stats| stats.contains("cmdstat_get:"))
        .count();
    assert!(replica_gets > 0, "no replica served a GET");
    readers.close();

    // SCAN walks every master: one stream over the whole cluster.
    let mut scanned: Vec<String> = client
        .scan(ScanOptions::new().pattern("k:*").count(50))
        .try_collect()
        .await
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    scanned.sort();
    scanned.dedup();
    let mut want = keys("k", 60);
    want.sort();
    assert_eq!(scanned, want);

    // Pub/sub: SUBSCRIBE on any node (cluster PUBLISH reaches every node), SSUBSCRIBE on the
    // masters of the channels' slots.
    let mut sub = client.subscriber().await.unwrap();
    sub.subscribe(&["news"]).await.unwrap();
    let shard_channels = ["sc:a", "sc:b", "sc:c", "sc:d"];
    sub.ssubscribe(&shard_channels).await.unwrap();
    client.publish("news", "hi").await.unwrap();
    for ch in shard_channels {
        assert_eq!(client.spublish(ch, ch).await.unwrap(), 1, "{ch}");
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        if let PubSubEvent::Message(m) = event {
            got.push(m.payload_str().unwrap().to_owned());
        }
    }
    got.sort();
    assert_eq!(got, ["hi", "sc:a", "sc:b", "sc:c", "sc:d"]);

    // The manager, its lock and rate limiter work unchanged.
    let manager = RedisManager::new(cluster.config());
    assert!(manager.initialize().await);
    assert!(manager.set("m:1", "one").await);
    assert_eq!(manager.get("m:1").await.as_deref(), Some("one"));
    assert_eq!(manager.incr("m:n", 5).await, Some(5));
    assert_eq!(manager.delete(&["m:1", "m:n", "nope"]).await, 2);
    let lock = DistributedLock::new(&manager, "res").lease(Duration::from_secs(5));
    let guard = lock.acquire().await.expect("lock");
    assert!(guard.fencing_token() >= 1);
    assert!(guard.release().await.unwrap());
    let limiter = RateLimiter::new(&manager, 3, Duration::from_secs(10));
    let allowed = {
        let mut n = 0;
        for _ in 0..5 {
            if limiter.check_rate_limit("user-1").await.allowed {
                n += 1;
            }
        }
        n
    };
    assert_eq!(allowed, 3);
    manager.disconnect().await;

    // ASK: with a slot half moved (IMPORTING on the target, MIGRATING on the source), a key
    // the source does not have is written and read on the target after ASKING, one command at
    // a time and inside a pipeline, while a key still on the source is served there.
    let ask_slot: u16 = cluster
        .node(owner)
        .cli(&["CLUSTER", "KEYSLOT", "{ask}"])
        .parse()
        .unwrap();
    assert_ne!(ask_slot, slot);
    client
        .query::<()>(cmd("SET").arg("{ask}:old").arg("o"))
        .await
        .unwrap();
    let from = cluster.owner_of(ask_slot);
    let to = *cluster.master_ports().iter().find(|p| **p != from).unwrap();
    let info = cluster.nodes_info();
    let id_of = |port: u16| info.iter().find(|n| n.port == port).unwrap().id.clone();
    let s = ask_slot.to_string();
    let count_in_slot = |cluster: &mut support::RedisCluster, port: u16| {
        cluster.node(port).cli(&["CLUSTER", "COUNTKEYSINSLOT", &s])
    };
    assert_eq!(
        cluster
            .node(to)
            .cli(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &id_of(from)]),
        "OK"
    );
    assert_eq!(
        cluster
            .node(from)
            .cli(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &id_of(to)]),
        "OK"
    );
    client
        .query::<()>(cmd("SET").arg("{ask}:new").arg("n"))
        .await
        .expect("SET of a key the migrating source does not have");
    assert_eq!(
        count_in_slot(&mut cluster, to),
        "1",
        "written on the target"
    );
    assert_eq!(count_in_slot(&mut cluster, from), "1", "only {{ask}}:old");
    let new: String = client.query(cmd("GET").arg("{ask}:new")).await.unwrap();
    let old: String = client.query(cmd("GET").arg("{ask}:old")).await.unwrap();
    assert_eq!((new.as_str(), old.as_str()), ("n", "o"));
    // A large value, sent to the source first and again to the target after ASK: its
    // arguments are shared with the write queue, not copied, and must be whole both times.
    let big: Vec<u8> = (0..(1usize << 20) + 7)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect();
    client
        .query::<()>(cmd("SET").arg("{ask}:big").arg(&big))
        .await
        .expect("SET of a large value redirected by ASK");
    let mut pipe = Pipeline::new();
    pipe.add(cmd("GET").arg("{ask}:new"))
        .add(cmd("GET").arg("{ask}:old"))
        .add(cmd("INCR").arg("{ask}:counter"));
    let (new, old, counter): (String, String, i64) = pipe.query(&client).await.unwrap();
    assert_eq!((new.as_str(), old.as_str(), counter), ("n", "o", 1));
    assert_eq!(
        count_in_slot(&mut cluster, to),
        "3",
        "the large value and the counter are new too"
    );
    // Completing the move: everything is on the target, the client follows the new owner.
    tokio::task::block_in_place(|| cluster.migrate_slot(ask_slot, to, 10, || {}));
    let (new, old, counter): (String, String, i64) = pipe.query(&client).await.unwrap();
    assert_eq!((new.as_str(), old.as_str(), counter), ("n", "o", 2));
    assert_eq!(count_in_slot(&mut cluster, to), "4");
    let got: Vec<u8> = client.query(cmd("GET").arg("{ask}:big")).await.unwrap();
    assert!(got == big, "the large value came back different");

    // An exclusive connection stays on its node when the slot moves away (its WATCH or MULTI
    // belongs there) and gets the MOVED error; the next one binds to the new owner at once,
    // without waiting for the periodic refresh of the slot map.
    client
        .query::<()>(cmd("SET").arg("{mv}:k").arg("x"))
        .await
        .unwrap();
    let mv_slot: u16 = cluster
        .node(owner)
        .cli(&["CLUSTER", "KEYSLOT", "{mv}"])
        .parse()
        .unwrap();
    assert!(mv_slot != slot && mv_slot != ask_slot);
    let mut guard = client.exclusive().await.unwrap();
    let v: String = guard.query(cmd("GET").arg("{mv}:k")).await.unwrap();
    assert_eq!(v, "x");
    let from = cluster.owner_of(mv_slot);
    let to = *cluster.master_ports().iter().find(|p| **p != from).unwrap();
    tokio::task::block_in_place(|| cluster.migrate_slot(mv_slot, to, 10, || {}));
    let err = guard
        .query::<String>(cmd("GET").arg("{mv}:k"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MOVED"), "{err:?}");
    drop(guard);
    let mut guard = client.exclusive().await.unwrap();
    let v: String = guard
        .query(cmd("GET").arg("{mv}:k"))
        .await
        .expect("a new exclusive connection binds to the slot's new owner");
    assert_eq!(v, "x");
    drop(guard);

    // Live resharding: the slot of "k:0" moves while tasks keep using keys in it; a shard
    // channel in that slot is subscribed again at the new owner.
    let mut sub = client.subscriber().await.unwrap();
    sub.ssubscribe(&["k:0"]).await.unwrap();
    reshard_under_load(&mut cluster, &client, slot).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    'received: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "shard channel not re-established"
        );
        client.spublish("k:0", "after").await.unwrap();
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(300), sub.next()).await
        {
            if let Ok(PubSubEvent::Message(m)) = event
                && m.payload_str().unwrap() == "after"
            {
                break 'received;
            }
        }
    }
}

/// A sharded subscription whose master freezes is noticed: the subscriber pings its main
/// connection and every shard link after a quiet interval, reconnects when a `pong` is missing,
/// and gets its shard channel back once the master answers again. (The links used to be checked
/// only for having closed, so a frozen master held `next()` forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_shard_master_is_noticed_by_its_subscriber() {
    let mut cluster = RedisCluster::start(3);
    let publisher = Client::connect(cluster.config()).await.unwrap();
    // Tight health-check timings for the subscriber alone; the whole check fits well inside
    // the cluster's node timeout, so the frozen master is not failed over meanwhile.
    let client = Client::connect(
        cluster
            .config()
            .subscriber_ping_interval(Some(Duration::from_millis(100)))
            .response_timeout(Some(Duration::from_millis(300)))
            .connect_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let channel = "frozen:ch";
    let slot: u16 = cluster
        .node_ref(cluster.master_ports()[0])
        .cli(&["CLUSTER", "KEYSLOT", channel])
        .trim()
        .parse()
        .unwrap();
    let owner = cluster.owner_of(slot);
    let mut sub = client.subscriber().await.unwrap();
    sub.ssubscribe(&[channel]).await.unwrap();
    assert_eq!(publisher.spublish(channel, "before").await.unwrap(), 1);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("a message")
            .unwrap()
            .unwrap();
        if matches!(event, PubSubEvent::Message(_)) {
            break;
        }
    }

    // On a healthy cluster the checks stay inside the subscriber: every connection answers
    // its PING, nothing is reported. (A looser response timeout here, so that a loaded machine
    // cannot fail it; a pong not counted would still show as a reconnect within the window.)
    let steady = Client::connect(
        cluster
            .config()
            .subscriber_ping_interval(Some(Duration::from_millis(100)))
            .response_timeout(Some(Duration::from_secs(1))),
    )
    .await
    .unwrap();
    let mut quiet = steady.subscriber().await.unwrap();
    quiet.ssubscribe(&[channel, "other:ch"]).await.unwrap();
    let idle = tokio::time::timeout(Duration::from_secs(2), quiet.next()).await;
    assert!(idle.is_err(), "{idle:?}");
    let pings: i64 = cluster
        .node_ref(owner)
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(pings >= 5, "only {pings} PINGs reached the shard master");
    drop(quiet);

    cluster.node(owner).pause();
    let noticed = tokio::time::timeout(Duration::from_secs(3), sub.next()).await;
    cluster.node(owner).resume();
    let noticed = noticed.expect("the subscriber did not notice its frozen shard master");
    assert!(
        matches!(noticed, Some(Err(_)) | Some(Ok(PubSubEvent::Reconnected))),
        "{noticed:?}"
    );

    // Back: the shard channel is subscribed again and delivers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    'received: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "shard channel not re-established"
        );
        let _ = publisher.spublish(channel, "after").await;
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(300), sub.next()).await
        {
            if let Ok(PubSubEvent::Message(m)) = event
                && m.payload_str().unwrap() == "after"
            {
                break 'received;
            }
        }
    }
}

/// Moves `slot` to another master in small batches while four tasks keep writing and reading
/// keys in it (through single commands and pipelines); no command may fail or see another
/// key's value.
async fn reshard_under_load(cluster: &mut RedisCluster, client: &Client, slot: u16) {
    // Keys in `slot`: the tag of "k:0" is the whole key, so use hash tags of it.
    let tagged: Vec<String> = (0..100).map(|i| format!("{{k:0}}:{i}")).collect();
    for k in &tagged {
        client.query::<()>(cmd("SET").arg(k).arg(0)).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let client = client.clone();
        let stop = stop.clone();
        let ops = ops.clone();
        let tagged = tagged.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            let mut expected = std::collections::HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                // Each task owns every fourth key, so it knows the value to expect.
                let k = &tagged[i % tagged.len()];
                let n: i64 = client
                    .query(cmd("INCR").arg(k))
                    .await
                    .unwrap_or_else(|e| panic!("INCR {k} failed during resharding: {e:?}"));
                let e = expected.entry(k.clone()).or_insert(0);
                *e += 1;
                assert_eq!(n, *e, "INCR {k}");
                let mut pipe = Pipeline::new();
                pipe.add(cmd("GET").arg(k)).add(cmd("GET").arg("k:1"));
                let (v, other): (i64, String) = pipe
                    .query(&client)
                    .await
                    .unwrap_or_else(|e| panic!("pipeline failed during resharding: {e:?}"));
                assert_eq!((v, other.as_str()), (*e, "v-k:1"));
                ops.fetch_add(1, Ordering::Relaxed);
                i += 4;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let from = cluster.owner_of(slot);
    let to = *cluster.master_ports().iter().find(|p| **p != from).unwrap();
    let before = ops.load(Ordering::Relaxed);
    tokio::task::block_in_place(|| {
        cluster.migrate_slot(slot, to, 10, || {
            std::thread::sleep(Duration::from_millis(50))
        })
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a task failed during resharding");
    }
    assert!(ops.load(Ordering::Relaxed) > before, "tasks kept running");
    assert_eq!(cluster.owner_of(slot), to);
    assert_eq!(cluster.node(to).cli(&["EXISTS", "{k:0}:1"]), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_recover_after_a_master_is_killed() {
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");
    for k in keys("f", 30) {
        client.query::<()>(cmd("SET").arg(&k).arg(1)).await.unwrap();
    }
    // The replica has the data once replication caught up (WAIT on the master's slot).
    let _: i64 = client
        .query(cmd("WAIT").arg(1).arg(2000))
        .await
        .unwrap_or(0);
    let victim = cluster.master_ports()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let writer = {
        let client = client.clone();
        let stop = stop.clone();
        let ok = ok.clone();
        tokio::spawn(async move {
            let mut failures = 0u64;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("w:{}", i % 50);
                match client.query::<i64>(cmd("INCR").arg(&k)).await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    // Only commands in flight on the killed master may fail, and only with
                    // an unknown outcome or a timeout: never a misroute or a server error.
                    Err(e) => {
                        assert!(
                            e.is_connection_error(),
                            "unexpected error during failover: {e:?}"
                        );
                        failures += 1;
                    }
                }
                i += 1;
            }
            failures
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let promoted = tokio::task::block_in_place(|| cluster.kill_master_and_wait(victim));
    // After the failover every key is reachable again, within the retry window.
    let after = ok.load(Ordering::Relaxed);
    for k in keys("f", 30) {
        let v: Option<i64> = client
            .query(cmd("GET").arg(&k))
            .await
            .expect("read after failover");
        let _ = v;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let failures = writer.await.expect("writer");
    assert!(
        ok.load(Ordering::Relaxed) > after,
        "writes resumed after the failover"
    );
    assert!(failures < 50, "{failures} commands failed");
    assert!(cluster.master_ports().contains(&promoted));
}

/// A replica removed from the cluster loses the client's connections once the client reads
/// the new slot map: pools of departed nodes are released, not kept (and reconnected) forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_the_cluster_keeps_no_connections_from_the_client() {
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let config = cluster.config().read_from_replicas(true);
    let client = Client::connect(config).await.expect("connect");
    for k in keys("r", 30) {
        client.query::<()>(cmd("SET").arg(&k).arg(1)).await.unwrap();
    }
    // Reads go to replicas, so each replica gets a READONLY connection from the client.
    for k in keys("r", 60) {
        let _: Option<i64> = client.query(cmd("GET").arg(&k)).await.unwrap();
    }
    let info = cluster.nodes_info();
    let leaving = info.iter().find(|n| !n.master).expect("a replica").clone();
    let readonly_clients = |cluster: &mut RedisCluster| {
        let list = cluster.node(leaving.port).cli(&["CLIENT", "LIST"]);
        let n = list.lines().filter(|l| l.contains(" flags=r ")).count();
        (n, list)
    };
    let (n, list) = readonly_clients(&mut cluster);
    assert!(n >= 1, "no client connection on the replica:\n{list}");

    // The replica leaves: every other node forgets it, and it forgets them.
    for node in info.iter().filter(|n| n.port != leaving.port) {
        assert_eq!(
            cluster
                .node(node.port)
                .cli(&["CLUSTER", "FORGET", &leaving.id]),
            "OK"
        );
    }
    assert_eq!(
        cluster
            .node(leaving.port)
            .cli(&["CLUSTER", "RESET", "HARD"]),
        "OK"
    );
    // Keep using the client: its periodic refresh reads the new map, which no longer lists
    // the replica, and its pool (with the connection) is released.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        for k in keys("r", 30) {
            let _: Result<Option<i64>, Error> = client.query(cmd("GET").arg(&k)).await;
        }
        let (n, list) = readonly_clients(&mut cluster);
        if n == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the departed replica still has the client's connections:\n{list}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Every key is still readable and writable without it.
    for k in keys("r", 30) {
        let v: i64 = client.query(cmd("INCR").arg(&k)).await.unwrap();
        assert_eq!(v, 2);
    }
}

#[test]
fn cluster_config_comes_from_a_url_or_the_environment() {
    use redis_manager::ServerAddr;
    let tcp = |port| ServerAddr::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    let c = redis_manager::Config::from_url("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001")
        .unwrap();
    assert_eq!(c.cluster_nodes(), [tcp(7000), tcp(7001)]);
    assert_eq!(c.password(), Some("pw"));
    let env = |name: &str| match name {
        "REDIS_CLUSTER_NODES" => Some("127.0.0.1:7000, 127.0.0.1:7002".to_owned()),
        "REDIS_CLUSTER_READ_FROM_REPLICAS" => Some("true".to_owned()),
        _ => None,
    };
    let c = redis_manager::Config::from_lookup(env).unwrap();
    assert_eq!(c.cluster_nodes(), [tcp(7000), tcp(7002)]);
    assert!(c.is_read_from_replicas());
    assert!(
        redis_manager::Config::from_lookup(|n| (n == "REDIS_CLUSTER_NODES").then(|| "h:0".into()))
            .is_err()
    );
    let bad = redis_manager::Config::builder()
        .cluster_nodes([tcp(7000)])
        .db(1);
    assert!(bad.build().is_err(), "a cluster has only db 0");
}

/// A cluster-wide SCAN returns keys whose slot moves, while the scan runs, from a master not
/// yet scanned to one already scanned: once when the move completes, once when it is left
/// half done (keys moved, the target still importing the slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_keys_that_move_to_an_already_scanned_master() {
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");
    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 3);

    // Per master, three hash tags whose slots it owns: one for markers that show how far the
    // scan has got, two for keys that may be moved.
    let mut tags: std::collections::HashMap<u16, Vec<(String, u16)>> = Default::default();
    for i in 0.. {
        if tags.values().map(Vec::len).sum::<usize>() == 9 {
            break;
        }
        let tag = format!("t{i}");
        let slot: u16 = client
            .query(cmd("CLUSTER").arg("KEYSLOT").arg(&tag))
            .await
            .unwrap();
        let owned = tags.entry(cluster.owner_of(slot)).or_default();
        if owned.len() < 3 {
            owned.push((tag, slot));
        }
    }
    let mut all = Vec::new();
    for owned in tags.values() {
        for (tag, _) in owned {
            for i in 0..150 {
                let key = format!("{{{tag}}}:{i}");
                client
                    .query::<()>(cmd("SET").arg(&key).arg(i))
                    .await
                    .unwrap();
                all.push(key);
            }
        }
    }
    let marker_of = |key: &str| {
        masters
            .iter()
            .copied()
            .find(|m| key.starts_with(&format!("{{{}}}:", tags[m][0].0)))
    };

    let mut stream = client.scan(ScanOptions::new().count(20));
    let mut seen = Vec::new();
    let mut first_master = None;
    let mut moved = false;
    while let Some(key) = stream.next().await {
        let key = String::from_utf8(key.unwrap().to_vec()).unwrap();
        if let Some(m) = marker_of(&key) {
            let first = *first_master.get_or_insert(m);
            if m != first && !moved {
                // The first master is finished, the second is being scanned, the third not
                // started: move the third's keys to the first.
                moved = true;
                let last = *masters.iter().find(|p| **p != first && **p != m).unwrap();
                let (whole, half) = (tags[&last][1].1, tags[&last][2].1);
                tokio::task::block_in_place(|| {
                    cluster.migrate_slot(whole, first, 50, || {});
                    let info = cluster.nodes_info();
                    let id_of =
                        |port: u16| info.iter().find(|n| n.port == port).unwrap().id.clone();
                    let s = half.to_string();
                    let (from_id, to_id) = (id_of(last), id_of(first));
                    cluster
                        .node(first)
                        .cli(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]);
                    cluster
                        .node(last)
                        .cli(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]);
                    let keys = cluster
                        .node(last)
                        .cli(&["CLUSTER", "GETKEYSINSLOT", &s, "1000"]);
                    let port = first.to_string();
                    let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
                    args.extend(keys.lines().filter(|k| !k.is_empty()));
                    assert_eq!(cluster.node(last).cli(&args), "OK");
                    assert_eq!(
                        cluster.node(last).cli(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
                        "0",
                        "every key of the half-moved slot is on the target"
                    );
                });
            }
        }
        seen.push(key);
    }
    assert!(moved, "the scan never reached a second master");
    seen.sort();
    seen.dedup();
    all.sort();
    let missing: Vec<&String> = all
        .iter()
        .filter(|k| seen.binary_search(k).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} keys missed, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// A cluster-wide SCAN goes on when the master it is scanning fails over: the promoted
/// replica is scanned instead, and no key is missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_survives_a_failover_of_the_master_it_is_scanning() {
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");
    let masters = cluster.master_ports();
    let mut tag_of: std::collections::HashMap<u16, String> = Default::default();
    for i in 0.. {
        if tag_of.len() == masters.len() {
            break;
        }
        let tag = format!("f{i}");
        let slot: u16 = client
            .query(cmd("CLUSTER").arg("KEYSLOT").arg(&tag))
            .await
            .unwrap();
        tag_of.entry(cluster.owner_of(slot)).or_insert(tag);
    }
    let mut all = Vec::new();
    for tag in tag_of.values() {
        for i in 0..200 {
            let key = format!("{{{tag}}}:{i}");
            client
                .query::<()>(cmd("SET").arg(&key).arg(i))
                .await
                .unwrap();
            all.push(key);
        }
    }
    // Every replica has its master's keys before anything is killed.
    tokio::task::block_in_place(|| {
        cluster.wait_until(Duration::from_secs(10), "replicas in sync", |c| {
            let info = c.nodes_info();
            info.iter().filter(|n| !n.master).all(|r| {
                let master = info
                    .iter()
                    .find(|m| Some(&m.id) == r.master_id.as_ref())
                    .unwrap();
                c.node_ref(r.port).cli(&["DBSIZE"]) == c.node_ref(master.port).cli(&["DBSIZE"])
            })
        })
    });
    let master_of = |key: &str| {
        masters
            .iter()
            .copied()
            .find(|m| key.starts_with(&format!("{{{}}}:", tag_of[m])))
    };

    let mut stream = client.scan(ScanOptions::new().count(20));
    let mut seen = Vec::new();
    let mut first_master = None;
    let mut killed = false;
    while let Some(key) = stream.next().await {
        let key = String::from_utf8(key.expect("the scan goes on").to_vec()).unwrap();
        let m = master_of(&key).expect("a key of this test");
        let first = *first_master.get_or_insert(m);
        if m != first && !killed {
            killed = true;
            tokio::task::block_in_place(|| cluster.kill_master_and_wait(m));
        }
        seen.push(key);
    }
    assert!(killed, "the scan never reached a second master");
    seen.sort();
    seen.dedup();
    all.sort();
    assert_eq!(seen, all);
}

/// A user whose ACL denies `CLUSTER NODES` can still SCAN a cluster: the walk visits each
/// master once, without the check for moved slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_works_for_a_user_denied_cluster_nodes() {
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    for port in cluster.nodes_info().iter().map(|n| n.port) {
        let out = cluster.node(port).cli(&[
            "ACL",
            "SETUSER",
            "scanner",
            "on",
            ">s3cret",
            "~*",
            "&*",
            "+@all",
            "-cluster|nodes",
        ]);
        assert_eq!(out, "OK");
    }
    let admin = Client::connect(cluster.config()).await.expect("connect");
    for k in keys("acl", 90) {
        admin.query::<()>(cmd("SET").arg(&k).arg(1)).await.unwrap();
    }
    let client = Client::connect(cluster.config().username("scanner").password("s3cret"))
        .await
        .expect("connect as scanner");
    let denied = client
        .query::<String>(cmd("CLUSTER").arg("NODES"))
        .await
        .unwrap_err();
    assert!(denied.is_permission_error(), "{denied:?}");
    let mut scanned: Vec<String> = client
        .scan(ScanOptions::new().pattern("acl:*").count(10))
        .try_collect()
        .await
        .expect("SCAN without CLUSTER NODES")
        .into_iter()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    scanned.sort();
    scanned.dedup();
    let mut want = keys("acl", 90);
    want.sort();
    assert_eq!(scanned, want);
}

/// The `rejected_calls` a node counted for `command` (Redis 7 counts a command answered with
/// `MOVED` or `ASK` there): zero on every master means every command went straight to the
/// node that serves its keys.
fn rejected_calls(cluster: &RedisCluster, command: &str) -> u64 {
    cluster
        .master_ports()
        .into_iter()
        .map(|port| {
            let stats = cluster.node_ref(port).cli(&["INFO", "commandstats"]);
            let prefix = format!("cmdstat_{command}:");
            stats
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|fields| {
                    fields
                        .split(',')
                        .find_map(|f| f.strip_prefix("rejected_calls="))
                        .and_then(|n| n.trim().parse().ok())
                })
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_commands_with_keys_in_unusual_positions_go_straight_to_their_slot() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let client = Client::connect(cluster.config()).await.expect("connect");
    // The first words after the command name hash elsewhere than the keys: a router that
    // took them for keys would be redirected, and the server would count it.
    for k in keys("unusual", 24) {
        let script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";
        let v: String = client
            .query(cmd("EVAL").arg(script).arg(1).arg(&k).arg("from-lua"))
            .await
            .unwrap();
        assert_eq!(v, "from-lua");
        let enc: String = client
            .query(cmd("OBJECT").arg("ENCODING").arg(&k))
            .await
            .unwrap();
        assert_eq!(enc, "embstr");
        let stream = format!("{{{k}}}:s");
        client
            .query::<String>(cmd("XADD").arg(&stream).arg("*").arg("f").arg("v"))
            .await
            .unwrap();
        let read: Frame = client
            .query(
                cmd("XREAD")
                    .arg("COUNT")
                    .arg(5)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg("0"),
            )
            .await
            .unwrap();
        assert!(!read.is_null() && !read.is_error(), "{read:?}");
        // A raw command whose builder marked its key needs no key specification at all.
        let v: Option<String> = client.query(cmd("GET").key(&k)).await.unwrap();
        assert_eq!(v.as_deref(), Some("from-lua"));
    }
    for command in ["eval", "object|encoding", "xread", "xadd", "get"] {
        assert_eq!(
            rejected_calls(&cluster, command),
            0,
            "{command} was redirected"
        );
    }
}

/// How much longer than its own timeout a call to a frozen cluster master may take to return:
/// timer granularity and scheduling on a loaded 2-core machine. A wait bounded by the connect
/// timeout instead (5 s here) is far outside it.
const CLUSTER_TIMEOUT_MARGIN: Duration = Duration::from_millis(300);

/// With the master of a slot frozen (SIGSTOP), every call to that slot returns within its own
/// response timeout counted from the call, though it must reconnect and may retry and follow
/// redirections: single commands, pipelines and blocking commands alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_frozen_master_end_within_their_own_timeout() {
    let mut cluster = RedisCluster::start(3);
    let timeout = Duration::from_millis(300);
    // The default connect timeout (5 s): much longer than the response timeout.
    let client = Client::connect(cluster.config().response_timeout(Some(timeout)))
        .await
        .unwrap();
    let key = "frozen:{k}";
    client.set(key, "v").await.unwrap();
    let slot: u16 = cluster
        .node_ref(cluster.master_ports()[0])
        .cli(&["CLUSTER", "KEYSLOT", key])
        .trim()
        .parse()
        .unwrap();
    let owner = cluster.owner_of(slot);
    cluster.node(owner).pause();
    // About the cluster's node timeout (2 s): the frozen master may be failed over meanwhile,
    // and an answer is fine then; only the time is checked.
    for round in 0..2 {
        let block = Duration::from_millis(100);
        let mut pipe = Pipeline::new();
        pipe.get(key).set(key, "w");
        let calls: Vec<(&str, Duration, std::time::Duration)> = vec![
            ("GET", timeout, {
                let t = std::time::Instant::now();
                let _ = client.get(key).await;
                t.elapsed()
            }),
            ("pipeline", timeout, {
                let t = std::time::Instant::now();
                let _ = pipe.execute(&client).await;
                t.elapsed()
            }),
            ("BLPOP", timeout + block, {
                let t = std::time::Instant::now();
                let _ = client
                    .blpop(&["frozen:{k}:list"], block.as_secs_f64())
                    .await;
                t.elapsed()
            }),
        ];
        for (what, limit, took) in calls {
            assert!(
                took <= limit + CLUSTER_TIMEOUT_MARGIN,
                "{what} #{round}: took {took:?}, its timeout is {limit:?}"
            );
        }
    }
    cluster.node(owner).resume();
}
