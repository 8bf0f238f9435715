//! Typed commands against a real server, each under RESP2 and RESP3: strings, keys, hashes,
//! server and connection commands.

mod commands_support;
mod support;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use commands_support::{b, each_protocol};
use redis_manager::Error;
use redis_manager::cmd::{ExpireOption, GetExOption, SetOptions};
use redis_manager::prelude::*;

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------- strings

#[tokio::test]
async fn get_returns_none_for_a_missing_key_and_the_bytes_after_set() {
    each_protocol(|c, _| async move {
        assert_eq!(c.get("k").await.unwrap(), None);
        c.set("k", "v").await.unwrap();
        assert_eq!(c.get("k").await.unwrap(), Some(b("v")));
        // Binary values and numbers go through unchanged.
        c.set("bin", &b"\x00\xff\r\n"[..]).await.unwrap();
        assert_eq!(c.get("bin").await.unwrap().unwrap(), &b"\x00\xff\r\n"[..]);
        c.set("n", 42).await.unwrap();
        assert_eq!(c.get("n").await.unwrap(), Some(b("42")));
    })
    .await;
}

#[tokio::test]
async fn set_with_nx_and_xx_report_whether_the_write_happened() {
    each_protocol(|c, _| async move {
        assert!(!c.set_with("k", "1", SetOptions::new().xx()).await.unwrap());
        assert_eq!(c.get("k").await.unwrap(), None);
        assert!(c.set_with("k", "1", SetOptions::new().nx()).await.unwrap());
        assert!(!c.set_with("k", "2", SetOptions::new().nx()).await.unwrap());
        assert!(c.set_with("k", "3", SetOptions::new().xx()).await.unwrap());
        assert_eq!(c.get("k").await.unwrap(), Some(b("3")));
    })
    .await;
}

#[tokio::test]
async fn set_with_expiry_options_sets_the_time_to_live() {
    each_protocol(|c, _| async move {
        c.set_with("ex", "v", SetOptions::new().ex(100))
            .await
            .unwrap();
        assert!((95..=100).contains(&c.ttl("ex").await.unwrap()));
        c.set_with("px", "v", SetOptions::new().px(50_000))
            .await
            .unwrap();
        assert!((45_000..=50_000).contains(&c.pttl("px").await.unwrap()));
        let at = unix_secs() + 200;
        c.set_with("exat", "v", SetOptions::new().exat(at))
            .await
            .unwrap();
        assert!((195..=200).contains(&c.ttl("exat").await.unwrap()));
        c.set_with("pxat", "v", SetOptions::new().pxat(at * 1000))
            .await
            .unwrap();
        assert!((195..=200).contains(&c.ttl("pxat").await.unwrap()));
        // KEEPTTL keeps the expiry a plain SET would drop.
        c.set_with("ex", "w", SetOptions::new().keep_ttl())
            .await
            .unwrap();
        assert!(c.ttl("ex").await.unwrap() > 0);
        c.set("ex", "x").await.unwrap();
        assert_eq!(c.ttl("ex").await.unwrap(), -1);
        // A key set with PX 1 is gone soon after.
        c.set_with("short", "v", SetOptions::new().px(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(c.get("short").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn set_get_returns_the_previous_value() {
    each_protocol(|c, _| async move {
        assert_eq!(c.set_get("k", "1", SetOptions::new()).await.unwrap(), None);
        assert_eq!(
            c.set_get("k", "2", SetOptions::new().ex(10)).await.unwrap(),
            Some(b("1"))
        );
        assert_eq!(c.get("k").await.unwrap(), Some(b("2")));
        assert!(c.ttl("k").await.unwrap() > 0);
        // NX with GET: the old value comes back and nothing is written.
        assert_eq!(
            c.set_get("k", "3", SetOptions::new().nx()).await.unwrap(),
            Some(b("2"))
        );
        assert_eq!(c.get("k").await.unwrap(), Some(b("2")));
    })
    .await;
}

#[tokio::test]
async fn mset_then_mget_gives_none_for_missing_keys() {
    each_protocol(|c, _| async move {
        c.mset(&[("a", "1"), ("b", "2")]).await.unwrap();
        assert_eq!(
            c.mget(&["a", "missing", "b"]).await.unwrap(),
            vec![Some(b("1")), None, Some(b("2"))]
        );
        // Empty lists make no request and give empty results.
        assert!(c.mget::<&str>(&[]).await.unwrap().is_empty());
        c.mset::<&str, &str>(&[]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn setnx_getdel_and_getex_behave_as_documented() {
    each_protocol(|c, _| async move {
        assert!(c.setnx("k", "1").await.unwrap());
        assert!(!c.setnx("k", "2").await.unwrap());
        assert_eq!(c.getdel("k").await.unwrap(), Some(b("1")));
        assert_eq!(c.getdel("k").await.unwrap(), None);

        c.set("g", "v").await.unwrap();
        let at = unix_secs() + 300;
        let cases = [
            (GetExOption::Ex(100), 95..=100),
            (GetExOption::Px(200_000), 195..=200),
            (GetExOption::ExAt(at), 295..=300),
            (GetExOption::PxAt(at * 1000 + 100_000), 395..=400),
        ];
        for (option, ttl) in cases {
            assert_eq!(c.getex("g", option).await.unwrap(), Some(b("v")));
            let got = c.ttl("g").await.unwrap();
            assert!(ttl.contains(&got), "{option:?}: ttl {got}");
        }
        assert_eq!(
            c.getex("g", GetExOption::Persist).await.unwrap(),
            Some(b("v"))
        );
        assert_eq!(c.ttl("g").await.unwrap(), -1);
        assert_eq!(c.getex("none", GetExOption::Ex(1)).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn append_and_strlen_measure_bytes() {
    each_protocol(|c, _| async move {
        assert_eq!(c.strlen("s").await.unwrap(), 0);
        assert_eq!(c.append("s", "ab").await.unwrap(), 2);
        assert_eq!(c.append("s", "é").await.unwrap(), 4);
        assert_eq!(c.strlen("s").await.unwrap(), 4);
    })
    .await;
}

#[tokio::test]
async fn counters_increment_and_decrement() {
    each_protocol(|c, _| async move {
        assert_eq!(c.incr("n").await.unwrap(), 1);
        assert_eq!(c.incrby("n", 10).await.unwrap(), 11);
        assert_eq!(c.decr("n").await.unwrap(), 10);
        assert_eq!(c.decrby("n", 15).await.unwrap(), -5);
        assert_eq!(c.incrbyfloat("f", 1.5).await.unwrap(), 1.5);
        assert_eq!(c.incrbyfloat("f", -0.25).await.unwrap(), 1.25);
        c.set("text", "abc").await.unwrap();
        let err = c.incr("text").await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_command_on_the_wrong_type_is_a_wrongtype_server_error() {
    each_protocol(|c, _| async move {
        c.rpush("list", &["x"]).await.unwrap();
        let err = c.get("list").await.unwrap_err();
        assert!(matches!(err, Error::Server(_)), "{err:?}");
        assert_eq!(err.code(), Some("WRONGTYPE"));
        let err = c.hget("list", "f").await.unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
    })
    .await;
}

// ---------------------------------------------------------------- keys

#[tokio::test]
async fn del_unlink_and_exists_count_keys() {
    each_protocol(|c, _| async move {
        c.mset(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)])
            .await
            .unwrap();
        assert!(c.exists("a").await.unwrap());
        assert!(!c.exists("zz").await.unwrap());
        assert_eq!(c.exists_many(&["a", "b", "zz", "a"]).await.unwrap(), 3);
        assert_eq!(c.del(&["a", "b", "zz"]).await.unwrap(), 2);
        assert_eq!(c.unlink(&["c", "zz"]).await.unwrap(), 1);
        // Owned keys work as well as &str.
        let keys = vec![String::from("d")];
        assert_eq!(c.del(&keys).await.unwrap(), 1);
        assert_eq!(c.del::<&str>(&[]).await.unwrap(), 0);
        assert_eq!(c.unlink::<&str>(&[]).await.unwrap(), 0);
        assert_eq!(c.exists_many::<&str>(&[]).await.unwrap(), 0);
        assert_eq!(c.dbsize().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn expire_options_follow_the_nx_xx_gt_lt_rules() {
    each_protocol(|c, _| async move {
        assert!(!c.expire("missing", 10).await.unwrap());
        c.set("k", "v").await.unwrap();
        // XX needs an existing expiry; GT never sets one on a persistent key.
        assert!(!c.expire_with("k", 100, ExpireOption::Xx).await.unwrap());
        assert!(!c.expire_with("k", 100, ExpireOption::Gt).await.unwrap());
        assert!(c.expire_with("k", 100, ExpireOption::Nx).await.unwrap());
        assert!(!c.expire_with("k", 200, ExpireOption::Nx).await.unwrap());
        assert!(!c.expire_with("k", 50, ExpireOption::Gt).await.unwrap());
        assert!(c.expire_with("k", 200, ExpireOption::Gt).await.unwrap());
        assert!(!c.expire_with("k", 300, ExpireOption::Lt).await.unwrap());
        assert!(c.expire_with("k", 150, ExpireOption::Lt).await.unwrap());
        assert!(c.expire_with("k", 120, ExpireOption::Xx).await.unwrap());
        assert!((115..=120).contains(&c.ttl("k").await.unwrap()));

        assert!(c.pexpire("k", 90_000).await.unwrap());
        assert!((85_000..=90_000).contains(&c.pttl("k").await.unwrap()));
        assert!(!c.pexpire_with("k", 95_000, ExpireOption::Lt).await.unwrap());
        assert!(c.pexpire_with("k", 95_000, ExpireOption::Gt).await.unwrap());

        let at = unix_secs() as i64 + 500;
        assert!(c.expireat("k", at).await.unwrap());
        assert!((495..=500).contains(&c.ttl("k").await.unwrap()));
        assert!(
            !c.expireat_with("k", at + 10, ExpireOption::Lt)
                .await
                .unwrap()
        );
        assert!(
            c.expireat_with("k", at - 10, ExpireOption::Lt)
                .await
                .unwrap()
        );
        // An expiry in the past deletes the key.
        assert!(c.expireat("k", 1).await.unwrap());
        assert!(!c.exists("k").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn ttl_and_pttl_report_minus_one_and_minus_two() {
    each_protocol(|c, _| async move {
        assert_eq!(c.ttl("missing").await.unwrap(), -2);
        assert_eq!(c.pttl("missing").await.unwrap(), -2);
        c.set("k", "v").await.unwrap();
        assert_eq!(c.ttl("k").await.unwrap(), -1);
        assert_eq!(c.pttl("k").await.unwrap(), -1);
        assert!(!c.persist("k").await.unwrap());
        c.expire("k", 10).await.unwrap();
        assert!(c.persist("k").await.unwrap());
        assert_eq!(c.ttl("k").await.unwrap(), -1);
    })
    .await;
}

#[tokio::test]
async fn key_type_names_each_type_and_none() {
    each_protocol(|c, _| async move {
        c.set("s", "v").await.unwrap();
        c.rpush("l", &["x"]).await.unwrap();
        c.sadd("set", &["x"]).await.unwrap();
        c.zadd("z", &[(1.0, "x")]).await.unwrap();
        c.hset("h", "f", "v").await.unwrap();
        c.xadd("x", &[("f", "v")]).await.unwrap();
        let want = [
            ("s", "string"),
            ("l", "list"),
            ("set", "set"),
            ("z", "zset"),
            ("h", "hash"),
            ("x", "stream"),
            ("missing", "none"),
        ];
        for (key, ty) in want {
            assert_eq!(c.key_type(key).await.unwrap(), ty, "{key}");
        }
    })
    .await;
}

#[tokio::test]
async fn rename_moves_the_value_and_fails_for_a_missing_key() {
    each_protocol(|c, _| async move {
        c.set("old", "v").await.unwrap();
        c.rename("old", "new").await.unwrap();
        assert_eq!(c.get("new").await.unwrap(), Some(b("v")));
        assert!(!c.exists("old").await.unwrap());
        let err = c.rename("old", "other").await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn keys_lists_matching_keys_including_binary_ones() {
    each_protocol(|c, _| async move {
        c.mset(&[("user:1", "a"), ("user:2", "b"), ("other", "c")])
            .await
            .unwrap();
        c.set(&b"user:\xff"[..], "bin").await.unwrap();
        let mut keys = c.keys("user:*").await.unwrap();
        keys.sort();
        assert_eq!(
            keys,
            vec![b("user:1"), b("user:2"), (&b"user:\xff"[..]).into()]
        );
        assert!(c.keys("nothing*").await.unwrap().is_empty());
    })
    .await;
}

// ---------------------------------------------------------------- hashes

#[tokio::test]
async fn hset_and_hget_single_fields() {
    each_protocol(|c, _| async move {
        assert_eq!(c.hset("h", "f", "1").await.unwrap(), 1);
        assert_eq!(c.hset("h", "f", "2").await.unwrap(), 0);
        assert_eq!(c.hget("h", "f").await.unwrap(), Some(b("2")));
        assert_eq!(c.hget("h", "missing").await.unwrap(), None);
        assert_eq!(c.hget("nohash", "f").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn hset_multiple_hmget_and_hgetall_agree_across_protocols() {
    each_protocol(|c, _| async move {
        let n = c
            .hset_multiple("h", &[("a", "1"), ("b", "2"), ("c", "3")])
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            c.hset_multiple("h", &[("a", "9"), ("d", "4")])
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            c.hmget("h", &["a", "zz", "d"]).await.unwrap(),
            vec![Some(b("9")), None, Some(b("4"))]
        );
        let all = c.hgetall("h").await.unwrap();
        let want: HashMap<String, bytes::Bytes> = [("a", "9"), ("b", "2"), ("c", "3"), ("d", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), b(v)))
            .collect();
        assert_eq!(all, want);
        assert!(c.hgetall("missing").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn hdel_hexists_hlen_hkeys_hvals_and_hincrby() {
    each_protocol(|c, _| async move {
        c.hset_multiple("h", &[("a", 1), ("b", 2)]).await.unwrap();
        assert!(c.hexists("h", "a").await.unwrap());
        assert!(!c.hexists("h", "x").await.unwrap());
        assert_eq!(c.hlen("h").await.unwrap(), 2);
        let mut keys = c.hkeys("h").await.unwrap();
        keys.sort();
        assert_eq!(keys, vec!["a", "b"]);
        let mut vals = c.hvals("h").await.unwrap();
        vals.sort();
        assert_eq!(vals, vec![b("1"), b("2")]);
        assert_eq!(c.hincrby("h", "a", 41).await.unwrap(), 42);
        assert_eq!(c.hincrby("h", "new", -3).await.unwrap(), -3);
        assert_eq!(c.hdel("h", &["a", "x", "new"]).await.unwrap(), 2);
        assert_eq!(c.hlen("h").await.unwrap(), 1);
        assert_eq!(c.hlen("missing").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn hscan_streams_every_field_and_value_with_a_pattern() {
    each_protocol(|c, _| async move {
        let pairs: Vec<(String, String)> = (0..300)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        c.hset_multiple("h", &pairs).await.unwrap();
        let mut seen = c
            .hscan("h", redis_manager::cmd::ScanOptions::new().count(50))
            .try_collect()
            .await
            .unwrap();
        seen.sort();
        let mut want: Vec<_> = pairs
            .iter()
            .map(|(f, v)| (bytes::Bytes::from(f.clone()), bytes::Bytes::from(v.clone())))
            .collect();
        want.sort();
        assert_eq!(seen, want);
        let matched = c
            .hscan("h", redis_manager::cmd::ScanOptions::new().pattern("f1?"))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(matched.len(), 10);
    })
    .await;
}

// ---------------------------------------------------------------- server

#[tokio::test]
async fn ping_echo_dbsize_and_flushdb() {
    each_protocol(|c, _| async move {
        c.ping().await.unwrap();
        assert_eq!(c.echo("hello").await.unwrap(), b("hello"));
        c.mset(&[("a", 1), ("b", 2)]).await.unwrap();
        assert_eq!(c.dbsize().await.unwrap(), 2);
        c.flushdb().await.unwrap();
        assert_eq!(c.dbsize().await.unwrap(), 0);
        c.mset(&[("a", 1), ("b", 2), ("c", 3)]).await.unwrap();
        assert_eq!(c.dbsize().await.unwrap(), 3);
        c.flushdb_async().await.unwrap();
        assert_eq!(c.dbsize().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn info_is_parsed_into_sections_under_both_protocols() {
    each_protocol(|c, protocol| async move {
        let info = c.info(&[]).await.unwrap();
        assert!(
            info.get("server", "redis_version").is_some(),
            "{protocol:?}"
        );
        assert!(info.section("clients").is_some());
        c.set("k", "v").await.unwrap();
        let keyspace = c.info(&["keyspace"]).await.unwrap();
        assert!(
            keyspace
                .get("keyspace", "db0")
                .unwrap()
                .starts_with("keys=1"),
            "{keyspace:?}"
        );
        assert!(keyspace.section("server").is_none());
        let two = c.info(&["server", "memory"]).await.unwrap();
        assert!(two.field("used_memory").is_some());
        assert!(two.field("redis_version").is_some());
    })
    .await;
}

#[tokio::test]
async fn time_is_close_to_the_local_clock() {
    each_protocol(|c, _| async move {
        let server = c.time().await.unwrap();
        let local = SystemTime::now();
        let diff = match local.duration_since(server) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(diff < Duration::from_secs(5), "{diff:?}");
    })
    .await;
}

#[tokio::test]
async fn client_id_setname_and_getname_on_the_shared_connection() {
    each_protocol(|c, _| async move {
        let id = c.client_id().await.unwrap();
        assert!(id > 0);
        assert_eq!(c.client_id().await.unwrap(), id);
        assert_eq!(c.client_getname().await.unwrap(), None);
        c.client_setname("typed-tests").await.unwrap();
        assert_eq!(
            c.client_getname().await.unwrap().as_deref(),
            Some("typed-tests")
        );
        let err = c.client_setname("has space").await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}
