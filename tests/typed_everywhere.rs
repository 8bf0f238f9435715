//! Every typed command of the crate, declared once, runs on a client, inside a pipeline,
//! inside an atomic pipeline and inside an optimistic transaction, in both protocols, and each
//! reply converts to the type the command declares.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use redis_manager::cmd::{
    ExpireOption, GetExOption, StreamTrim, XAddOptions, XPendingOptions, XReadOptions,
};
use redis_manager::prelude::*;
use redis_manager::{
    Client, Config, Error, Frame, Pipeline, Prepare, Protocol, SetOptions, TypedCmd, ZAddOptions,
    ZRangeOptions,
};
use support::RedisServer;

/// A flat struct for `hset_struct` / `hgetall_struct`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Flat {
    a: i64,
    b: Option<String>,
}

/// A struct with nothing to write: `hset_struct` answers without a round trip.
#[derive(Debug, serde::Serialize)]
struct Sparse {
    c: Option<i64>,
}

type Outcome<'a> = Pin<Box<dyn Future<Output = Result<String, Error>> + Send + 'a>>;

/// One typed command with its reply type erased: queue it, convert a frame, or run it.
struct Case {
    label: String,
    queue: Box<dyn Fn(&mut Pipeline)>,
    convert: Box<dyn Fn(Frame) -> Result<String, Error>>,
    on_client: Box<dyn for<'a> Fn(&'a Client) -> Outcome<'a>>,
}

fn case<R: std::fmt::Debug + Send + 'static>(label: &str, c: TypedCmd<R>) -> Case {
    let (q, v, r) = (c.clone(), c.clone(), c);
    Case {
        label: label.to_owned(),
        queue: Box::new(move |p| {
            p.run(q.clone());
        }),
        convert: Box::new(move |f| v.convert(f).map(|x| format!("{x:?}"))),
        on_client: Box::new(move |client| {
            let c = r.clone();
            Box::pin(async move { client.run(c).await.map(|x| format!("{x:?}")) })
        }),
    }
}

/// Every typed command, in an order in which each one succeeds on a fresh database: the
/// keys it needs exist with the right type when it runs.
fn every_typed_command(p: &str) -> Vec<Case> {
    let k = |s: &str| format!("{{{p}}}:{s}");
    let (s, n, f, h, l, st, z, x) = (
        k("s"),
        k("n"),
        k("f"),
        k("h"),
        k("l"),
        k("set"),
        k("z"),
        k("x"),
    );
    let later = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    let go = Prepare;
    vec![
        // strings
        case("set", go.set(&s, "v")),
        case(
            "set_with",
            go.set_with(&s, "w", SetOptions::new().xx().ex(100)),
        ),
        case("set_get", go.set_get(&s, "v", SetOptions::new())),
        case("get", go.get(&s)),
        case("mset", go.mset(&[(k("m1"), "1"), (k("m2"), "2")])),
        case("mset of nothing", go.mset::<String, String>(&[])),
        case("mget", go.mget(&[k("m1"), k("m2"), k("missing")])),
        case("mget of nothing", go.mget::<String>(&[])),
        case("setnx", go.setnx(k("nx"), "1")),
        case("getdel", go.getdel(k("nx"))),
        case("getex", go.getex(&s, GetExOption::Ex(100))),
        case("append", go.append(&s, "!")),
        case("strlen", go.strlen(&s)),
        case("incr", go.incr(&n)),
        case("incrby", go.incrby(&n, 5)),
        case("decr", go.decr(&n)),
        case("decrby", go.decrby(&n, 2)),
        case("incrbyfloat", go.incrbyfloat(&f, 1.5)),
        // keys
        case("exists", go.exists(&s)),
        case("exists_many", go.exists_many(&[&s, &n])),
        case("exists_many of nothing", go.exists_many::<String>(&[])),
        case("expire", go.expire(&n, 100)),
        case("expire_with", go.expire_with(&n, 50, ExpireOption::Lt)),
        case("pexpire", go.pexpire(&n, 100_000)),
        case(
            "pexpire_with",
            go.pexpire_with(&n, 50_000, ExpireOption::Lt),
        ),
        case("expireat", go.expireat(&n, later)),
        case(
            "expireat_with",
            go.expireat_with(&n, later - 10, ExpireOption::Lt),
        ),
        case("ttl", go.ttl(&n)),
        case("pttl", go.pttl(&n)),
        case("persist", go.persist(&n)),
        case("key_type", go.key_type(&s)),
        case("rename", go.rename(k("m1"), k("m3"))),
        case("keys", go.keys(k("m*"))),
        case("unlink", go.unlink(&[k("m2")])),
        case("del", go.del(&[k("m3"), k("missing")])),
        case("del of nothing", go.del::<String>(&[])),
        // hashes
        case("hset", go.hset(&h, "a", 1)),
        case(
            "hset_multiple",
            go.hset_multiple(&h, &[("b", "2"), ("c", "3")]),
        ),
        case("hget", go.hget(&h, "a")),
        case("hmget", go.hmget(&h, &["a", "zz"])),
        case("hgetall", go.hgetall(&h)),
        case("hexists", go.hexists(&h, "b")),
        case("hincrby", go.hincrby(&h, "a", 2)),
        case("hlen", go.hlen(&h)),
        case("hkeys", go.hkeys(&h)),
        case("hvals", go.hvals(&h)),
        case(
            "hset_struct",
            go.hset_struct(
                &h,
                &Flat {
                    a: 5,
                    b: Some("x".into()),
                },
            ),
        ),
        case(
            "hset_struct of nothing",
            go.hset_struct(&h, &Sparse { c: None }),
        ),
        case("hgetall_struct", go.hgetall_struct::<Flat>(&h)),
        case("hdel", go.hdel(&h, &["c"])),
        // lists
        case("rpush", go.rpush(&l, &["a", "b", "c", "d", "e", "f"])),
        case("lpush", go.lpush(&l, &["z"])),
        case("lpop", go.lpop(&l)),
        case("lpop_count", go.lpop_count(&l, 1)),
        case("rpop", go.rpop(&l)),
        case("rpop_count", go.rpop_count(&l, 1)),
        case("lrange", go.lrange(&l, 0, -1)),
        case("llen", go.llen(&l)),
        case("ltrim", go.ltrim(&l, 0, 10)),
        case("blpop", go.blpop(&[&l], 0.1)),
        case("brpop", go.brpop(&[&l], 0.1)),
        // sets
        case("sadd", go.sadd(&st, &["a", "b", "c"])),
        case("srem", go.srem(&st, &["c"])),
        case("smembers", go.smembers(&st)),
        case("sismember", go.sismember(&st, "a")),
        case("scard", go.scard(&st)),
        // sorted sets
        case("zadd", go.zadd(&z, &[(1.0, "a"), (2.0, "b"), (3.0, "c")])),
        case(
            "zadd_with",
            go.zadd_with(&z, &[(5.0, "a")], ZAddOptions::new().gt().ch()),
        ),
        case("zrem", go.zrem(&z, &["c"])),
        case("zcard", go.zcard(&z)),
        case("zscore", go.zscore(&z, "a")),
        case("zincrby", go.zincrby(&z, 0.5, "b")),
        case("zrange", go.zrange(&z, 0, -1)),
        case(
            "zrange_with",
            go.zrange_with(&z, 0, 10, &ZRangeOptions::new().by_score()),
        ),
        case(
            "zrange_withscores",
            go.zrange_withscores(&z, 0, -1, &ZRangeOptions::new()),
        ),
        case("zrangebyscore", go.zrangebyscore(&z, "-inf", "+inf")),
        case("zcount", go.zcount(&z, 0, 10)),
        case("zremrangebyscore", go.zremrangebyscore(&z, 100, 200)),
        // streams
        case("xadd", go.xadd(&x, &[("f", "1")])),
        case(
            "xadd_with",
            go.xadd_with(&x, &[("f", "2")], &XAddOptions::new().maxlen_approx(1000)),
        ),
        case(
            "xadd_if_exists",
            go.xadd_if_exists(&x, &[("f", "3")], &XAddOptions::new()),
        ),
        case("xrange", go.xrange(&x, "-", "+")),
        case("xrange_count", go.xrange_count(&x, "-", "+", 2)),
        case("xlen", go.xlen(&x)),
        case(
            "xread",
            go.xread(&[(&x, "0")], &XReadOptions::new().count(10)),
        ),
        case("xgroup_create", go.xgroup_create(&x, "g", "0")),
        case(
            "xgroup_create_mkstream",
            go.xgroup_create_mkstream(k("x2"), "g", "$"),
        ),
        case(
            "xreadgroup",
            go.xreadgroup("g", "c1", &[(&x, ">")], &XReadOptions::new().count(10)),
        ),
        case("xpending", go.xpending(&x, "g")),
        case(
            "xpending_range",
            go.xpending_range(&x, "g", &XPendingOptions::new(10)),
        ),
        case("xclaim", go.xclaim(&x, "g", "c2", Duration::ZERO, &["0-1"])),
        case(
            "xautoclaim",
            go.xautoclaim(&x, "g", "c3", Duration::ZERO, "0-0", Some(10)),
        ),
        case("xack", go.xack(&x, "g", &["0-1"])),
        case("xdel", go.xdel(&x, &["0-1"])),
        case("xtrim", go.xtrim(&x, &StreamTrim::MaxLen(100))),
        // pub/sub
        case("publish", go.publish(k("ch"), "hi")),
        case("spublish", go.spublish(k("ch"), "hi")),
        // server
        case("echo", go.echo("hello")),
        case("info", go.info(&["server"])),
        case("dbsize", go.dbsize()),
        case("time", go.time()),
        case("client_id", go.client_id()),
        case("client_setname", go.client_setname("typed-everywhere")),
        case("client_getname", go.client_getname()),
        case("flushdb_async", go.flushdb_async()),
        case("flushdb", go.flushdb()),
    ]
}

async fn clients(server: &RedisServer) -> Vec<(Protocol, Client)> {
    let mut out = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let config = Config::builder()
            .host("127.0.0.1")
            .port(server.port())
            .protocol(protocol);
        out.push((protocol, Client::connect(config).await.unwrap()));
    }
    out
}

#[tokio::test]
async fn every_typed_command_runs_on_a_client_in_pipelines_and_in_transactions() {
    let server = RedisServer::start();
    for (protocol, client) in clients(&server).await {
        let cases = every_typed_command("t");
        let ok = |where_: &str, c: &Case, r: Result<String, Error>| {
            if let Err(e) = r {
                panic!("{protocol:?}, {where_}: {} failed: {e}", c.label);
            }
        };

        // One at a time on the client.
        client.run(Prepare.flushdb()).await.unwrap();
        for c in &cases {
            ok("client", c, (c.on_client)(&client).await);
        }

        // All in one pipeline, then all in one MULTI/EXEC, then in an optimistic
        // transaction: each reply converts to the command's own type.
        for mode in ["pipeline", "atomic pipeline", "transaction"] {
            client.run(Prepare.flushdb()).await.unwrap();
            let mut pipe = if mode == "atomic pipeline" {
                Pipeline::atomic()
            } else {
                Pipeline::new()
            };
            for c in &cases {
                (c.queue)(&mut pipe);
            }
            let frames = if mode == "transaction" {
                let mut tx = client.watch(&["t:unrelated"]).await.unwrap();
                tx.exec_pipeline(&pipe).await.unwrap()
            } else {
                pipe.execute(&client).await.unwrap()
            };
            assert_eq!(frames.len(), cases.len(), "{protocol:?} {mode}");
            for (c, frame) in cases.iter().zip(frames) {
                ok(mode, c, (c.convert)(frame));
            }
        }
    }
}

#[tokio::test]
async fn a_typed_command_refused_before_sending_fails_its_pipeline_without_sending_it() {
    let server = RedisServer::start();
    let client = Client::connect(Config::builder().host("127.0.0.1").port(server.port()))
        .await
        .unwrap();
    let mut pipe = Pipeline::new();
    pipe.set("refused:a", 1).blpop::<&str>(&[], 1.0);
    let err = pipe.execute(&client).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(
        !client.exists("refused:a").await.unwrap(),
        "nothing was sent"
    );
    let err = client.blpop(&["refused:b"], -1.0).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[tokio::test]
async fn typed_commands_run_on_a_pooled_connection_and_a_transaction() {
    let server = RedisServer::start();
    let client = Client::connect(Config::builder().host("127.0.0.1").port(server.port()))
        .await
        .unwrap();
    let mut conn = client.exclusive().await.unwrap();
    conn.set("pooled", "yes").await.unwrap();
    assert_eq!(
        conn.get("pooled").await.unwrap().as_deref(),
        Some(&b"yes"[..])
    );
    drop(conn);
    let mut tx = client.watch(&["pooled"]).await.unwrap();
    assert_eq!(
        tx.get("pooled").await.unwrap().as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(tx.strlen("pooled").await.unwrap(), 3);
}
