//! Typed pipeline methods and pipelines inside optimistic transactions, in both protocols.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use redis_manager::prelude::*;
use redis_manager::{
    Client, Config, Error, Frame, Pipeline, Protocol, SetOptions, ZAddOptions, cmd,
};
use support::RedisServer;

async fn clients(server: &RedisServer) -> Vec<Client> {
    let mut out = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = Client::connect(
            Config::builder()
                .host("127.0.0.1")
                .port(server.port())
                .protocol(protocol),
        )
        .await
        .unwrap();
        out.push(c);
    }
    out
}

#[tokio::test]
async fn typed_pipeline_methods_reply_like_the_client_methods() {
    let server = RedisServer::start();
    for (i, client) in clients(&server).await.iter().enumerate() {
        let p = format!("p{i}:");
        let k = |s: &str| format!("{p}{s}");
        let mut pipe = Pipeline::new();
        pipe.set(k("s"), "v")
            .set_with(k("s"), "w", SetOptions::new().nx())
            .get(k("s"))
            .mget(&[k("s"), k("missing")])
            .incr(k("n"))
            .incrby(k("n"), 10)
            .decr(k("n"))
            .expire(k("n"), 100)
            .ttl(k("n"))
            .exists(k("n"))
            .hset(k("h"), "f", 1)
            .hget(k("h"), "f")
            .hgetall(k("h"))
            .rpush(k("l"), &["a", "b"])
            .lpush(k("l"), &["z"])
            .lrange(k("l"), 0, -1)
            .sadd(k("set"), &["x", "y"])
            .smembers(k("set"))
            .zadd(k("z"), &[(1.5, "m")])
            .zadd_with(k("z"), &[(0.5, "m")], ZAddOptions::default().gt())
            .zscore(k("z"), "m")
            .publish(k("chan"), "hi")
            .hdel(k("h"), &["f"])
            .del(&[k("s"), k("l")]);
        type Replies = (
            (),
            bool,
            Option<String>,
            Vec<Option<String>>,
            i64,
            i64,
            i64,
            bool,
            i64,
            bool,
            i64,
            Option<i64>,
        );
        let frames = pipe.execute(client).await.unwrap();
        assert_eq!(frames.len(), pipe.len());
        let first: Replies =
            redis_manager::FromReply::from_reply(Frame::Array(frames[..12].to_vec())).unwrap();
        assert_eq!(first.0, ());
        assert!(!first.1, "NX must not overwrite");
        assert_eq!(first.2.as_deref(), Some("v"));
        assert_eq!(first.3, vec![Some("v".to_string()), None]);
        assert_eq!((first.4, first.5, first.6), (1, 11, 10));
        assert!(first.7);
        assert!(first.8 > 0 && first.8 <= 100);
        assert!(first.9);
        assert_eq!((first.10, first.11), (1, Some(1)));
        type Rest = (
            HashMap<String, String>,
            i64,
            i64,
            Vec<String>,
            i64,
            HashSet<Bytes>,
            i64,
            i64,
            Option<f64>,
            i64,
            i64,
            i64,
        );
        let rest: Rest =
            redis_manager::FromReply::from_reply(Frame::Array(frames[12..].to_vec())).unwrap();
        assert_eq!(rest.0["f"], "1");
        assert_eq!((rest.1, rest.2), (2, 3));
        assert_eq!(rest.3, ["z", "a", "b"]);
        assert_eq!(rest.4, 2);
        assert_eq!(rest.5.len(), 2);
        assert_eq!((rest.6, rest.7), (1, 0));
        assert_eq!(rest.8, Some(1.5), "GT must not lower the score");
        assert_eq!((rest.9, rest.10, rest.11), (0, 1, 2));
    }
}

#[tokio::test]
async fn a_pipeline_runs_inside_a_watched_transaction() {
    let server = RedisServer::start();
    for (i, client) in clients(&server).await.iter().enumerate() {
        let key = format!("balance:{i}");
        let mut pipe = Pipeline::new();
        pipe.set(&key, 100).incrby(&key, -30).get(&key);
        let mut tx = client.watch(&[&key]).await.unwrap();
        let replies = tx.exec_pipeline(&pipe).await.unwrap();
        let ((), n, v): ((), i64, String) =
            redis_manager::FromReply::from_reply(Frame::Array(replies)).unwrap();
        assert_eq!((n, v.as_str()), (70, "70"));

        // A concurrent write to a watched key aborts the pipeline: nothing in it ran.
        let mut tx = client.watch(&[&key]).await.unwrap();
        client.set(&key, 5).await.unwrap();
        let err = tx.exec_pipeline(&pipe).await.unwrap_err();
        assert!(matches!(err, Error::TransactionAborted), "{err:?}");
        assert_eq!(client.get(&key).await.unwrap().as_deref(), Some(&b"5"[..]));
    }
}

/// A value of `n` bytes that differs with `seed`, so that a value stored in another's place,
/// cut, or shifted shows.
fn patterned(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(131)) as u8)
        .collect()
}

/// Sizes on either side of the one from which a command's arguments are written from its own
/// buffer rather than copied into the write queue, and well above it.
const LARGE: [usize; 6] = [
    64 * 1024 - 40,
    64 * 1024 - 1,
    64 * 1024,
    64 * 1024 + 1,
    300_000,
    1 << 20,
];

/// Large values go through a pipeline and a transaction byte for byte, interleaved with small
/// commands, each reply in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_round_trip_through_pipelines_and_transactions() {
    let server = RedisServer::start();
    for (c, client) in clients(&server).await.iter().enumerate() {
        let mut pipe = Pipeline::new();
        for (i, &n) in LARGE.iter().enumerate() {
            pipe.add(cmd("SET").arg(format!("p{c}:{i}")).arg(patterned(n, i)));
            pipe.add(cmd("INCR").arg(format!("p{c}:n")));
            pipe.add(cmd("GET").arg(format!("p{c}:{i}")));
        }
        let frames = pipe.execute(client).await.unwrap();
        for (i, &n) in LARGE.iter().enumerate() {
            assert_eq!(frames[3 * i + 1], Frame::Integer(i as i64 + 1), "reply {i}");
            let got = frames[3 * i + 2].as_bytes().unwrap();
            assert!(
                got == &patterned(n, i)[..],
                "value {i} ({n} B) came back different"
            );
        }

        let key = format!("t{c}");
        let mut tx = client.watch(&[&key]).await.unwrap();
        let cmds: Vec<_> = LARGE
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| {
                [
                    cmd("SET")
                        .arg(format!("{key}:{i}"))
                        .arg(patterned(n, i + 100)),
                    cmd("STRLEN").arg(format!("{key}:{i}")),
                ]
            })
            .chain([cmd("INCR").arg(&key)])
            .collect();
        let replies = tx.exec(&cmds).await.unwrap();
        assert_eq!(replies.len(), cmds.len());
        for (i, &n) in LARGE.iter().enumerate() {
            assert_eq!(replies[2 * i + 1], Frame::Integer(n as i64), "reply {i}");
            let got: Vec<u8> = client
                .query(cmd("GET").arg(format!("{key}:{i}")))
                .await
                .unwrap();
            assert!(
                got == patterned(n, i + 100),
                "value {i} ({n} B) came back different"
            );
        }
    }
}

/// A pipeline of large values written while the server is frozen: its parts go out in many
/// short vectored writes, resumed where each stopped, and every value arrives whole and in
/// order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_of_large_values_to_a_paused_server_arrives_whole_and_in_order() {
    let mut server = RedisServer::start();
    let client = Client::connect(
        Config::builder()
            .host("127.0.0.1")
            .port(server.port())
            .max_connections(1)
            .response_timeout(Some(Duration::from_secs(60))),
    )
    .await
    .unwrap();
    let sizes: Vec<usize> = (0..48).map(|i| LARGE[i % LARGE.len()] + i).collect();
    let mut pipe = Pipeline::new();
    for (i, &n) in sizes.iter().enumerate() {
        pipe.add(cmd("SET").arg(format!("v{i}")).arg(patterned(n, i)));
        pipe.add(cmd("RPUSH").arg("order").arg(i));
    }
    server.pause();
    let sent = {
        let client = client.clone();
        tokio::spawn(async move { pipe.execute(&client).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.resume();
    let frames = sent.await.unwrap().unwrap();
    assert_eq!(frames.len(), 2 * sizes.len());
    let order: Vec<usize> = client
        .query(cmd("LRANGE").arg("order").arg(0).arg(-1))
        .await
        .unwrap();
    assert_eq!(order, (0..sizes.len()).collect::<Vec<_>>());
    for (i, &n) in sizes.iter().enumerate() {
        let got: Vec<u8> = client.query(cmd("GET").arg(format!("v{i}"))).await.unwrap();
        assert!(
            got == patterned(n, i),
            "value {i} ({n} B) came back different"
        );
    }
}
