//! Typed commands against a real server, each under RESP2 and RESP3: lists (blocking pops
//! included), sets, sorted sets, streams and the SCAN streams.

mod commands_support;
mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use commands_support::{b, client, each_protocol};
use redis_manager::cmd::{
    ScanOptions, StreamTrim, XAddOptions, XPendingOptions, XReadOptions, ZAddOptions, ZRangeOptions,
};
use redis_manager::prelude::*;
use redis_manager::{Client, Error, Protocol};
use support::RedisServer;

// ---------------------------------------------------------------- lists

#[tokio::test]
async fn pushes_pops_and_ranges_keep_list_order() {
    each_protocol(|c, _| async move {
        assert_eq!(c.rpush("l", &["b", "c"]).await.unwrap(), 2);
        assert_eq!(c.lpush("l", &["a", "z"]).await.unwrap(), 4);
        // LPUSH a z puts z first.
        assert_eq!(
            c.lrange("l", 0, -1).await.unwrap(),
            vec![b("z"), b("a"), b("b"), b("c")]
        );
        assert_eq!(c.llen("l").await.unwrap(), 4);
        assert_eq!(c.lpop("l").await.unwrap(), Some(b("z")));
        assert_eq!(c.rpop("l").await.unwrap(), Some(b("c")));
        assert_eq!(c.lrange("l", -1, -1).await.unwrap(), vec![b("b")]);
        assert_eq!(c.lpop("missing").await.unwrap(), None);
        assert_eq!(c.rpop("missing").await.unwrap(), None);
        assert_eq!(c.llen("missing").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn pops_with_a_count_return_up_to_that_many() {
    each_protocol(|c, _| async move {
        c.rpush("l", &[1, 2, 3, 4, 5]).await.unwrap();
        assert_eq!(c.lpop_count("l", 2).await.unwrap(), vec![b("1"), b("2")]);
        assert_eq!(c.rpop_count("l", 2).await.unwrap(), vec![b("5"), b("4")]);
        assert_eq!(c.rpop_count("l", 10).await.unwrap(), vec![b("3")]);
        assert!(c.lpop_count("l", 3).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn ltrim_keeps_only_the_range() {
    each_protocol(|c, _| async move {
        c.rpush("l", &["a", "b", "c", "d"]).await.unwrap();
        c.ltrim("l", 1, 2).await.unwrap();
        assert_eq!(c.lrange("l", 0, -1).await.unwrap(), vec![b("b"), b("c")]);
        c.ltrim("l", 5, 10).await.unwrap();
        assert!(!c.exists("l").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn blpop_and_brpop_return_at_once_when_an_element_is_there() {
    each_protocol(|c, _| async move {
        c.rpush("q2", &["x", "y"]).await.unwrap();
        assert_eq!(
            c.blpop(&["q1", "q2"], 1.0).await.unwrap(),
            Some(("q2".to_string(), b("x")))
        );
        assert_eq!(
            c.brpop(&["q2"], 1.0).await.unwrap(),
            Some(("q2".to_string(), b("y")))
        );
    })
    .await;
}

#[tokio::test]
async fn blpop_timing_out_returns_none_after_the_block() {
    each_protocol(|c, _| async move {
        let start = Instant::now();
        assert_eq!(c.blpop(&["empty"], 0.3).await.unwrap(), None);
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(c.brpop(&["empty"], 0.1).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn blpop_longer_than_the_response_timeout_still_gets_its_element() {
    // The response timeout is 2 s; the pop waits 2.5 s for an element pushed after 2.2 s.
    each_protocol(|c, _| async move {
        let pusher = c.clone();
        let push = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2200)).await;
            pusher.rpush("late", &["v"]).await.unwrap();
        });
        assert_eq!(
            c.blpop(&["late"], 2.5).await.unwrap(),
            Some(("late".to_string(), b("v")))
        );
        push.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn blpop_is_woken_by_a_concurrent_push_without_blocking_other_commands() {
    each_protocol(|c, _| async move {
        let popper = c.clone();
        let pop = tokio::spawn(async move { popper.blpop(&["wake"], 5.0).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The shared connection is not held by the blocked pop.
        let start = Instant::now();
        c.set("other", "1").await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(500));
        c.rpush("wake", &["v"]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), pop)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(("wake".to_string(), b("v"))));
    })
    .await;
}

async fn blocked_clients(c: &Client) -> i64 {
    let info = c.info(&["clients"]).await.unwrap();
    info.get("clients", "blocked_clients")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_cancelled_blpop_does_not_leave_a_ghost_pop_that_eats_the_next_push() {
    each_protocol(|c, protocol| async move {
        let cancelled =
            tokio::time::timeout(Duration::from_millis(200), c.blpop(&["q"], 5.0)).await;
        assert!(cancelled.is_err(), "the pop should still have been blocked");
        // The abandoned connection is closed, so the server stops blocking for it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while blocked_clients(&c).await != 0 {
            assert!(
                Instant::now() < deadline,
                "{protocol:?}: the cancelled BLPOP is still blocked on the server"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Had the connection been kept (pooled or leaked), its pending BLPOP would take
        // this element and deliver it to nobody.
        c.rpush("q", &["x"]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(c.llen("q").await.unwrap(), 1, "{protocol:?}");
        // The next pop gets a working connection and the element.
        assert_eq!(
            c.blpop(&["q"], 1.0).await.unwrap(),
            Some(("q".to_string(), b("x")))
        );
    })
    .await;
}

#[tokio::test]
async fn blocking_pops_reject_bad_timeouts_and_empty_key_lists() {
    each_protocol(|c, _| async move {
        for t in [-1.0, f64::NAN, f64::INFINITY] {
            let err = c.blpop(&["q"], t).await.unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{t}: {err:?}");
        }
        let err = c.brpop::<&str>(&[], 1.0).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    })
    .await;
}

// ---------------------------------------------------------------- sets

#[tokio::test]
async fn set_commands_add_remove_and_test_members() {
    each_protocol(|c, _| async move {
        assert_eq!(c.sadd("s", &["a", "b", "a"]).await.unwrap(), 2);
        assert_eq!(c.sadd("s", &["b", "c"]).await.unwrap(), 1);
        assert_eq!(c.scard("s").await.unwrap(), 3);
        assert!(c.sismember("s", "a").await.unwrap());
        assert!(!c.sismember("s", "z").await.unwrap());
        assert_eq!(c.srem("s", &["a", "z"]).await.unwrap(), 1);
        let members = c.smembers("s").await.unwrap();
        assert_eq!(members, HashSet::from([b("b"), b("c")]));
        assert!(c.smembers("missing").await.unwrap().is_empty());
        assert_eq!(c.scard("missing").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn sscan_streams_every_member_once() {
    each_protocol(|c, _| async move {
        let members: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
        c.sadd("s", &members).await.unwrap();
        let seen = c
            .sscan("s", ScanOptions::new().count(100))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(seen.len(), 500);
        let unique: HashSet<Bytes> = seen.into_iter().collect();
        assert_eq!(unique.len(), 500);
        let matched = c
            .sscan("s", ScanOptions::new().pattern("m4??"))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(matched.len(), 100);
    })
    .await;
}

// ---------------------------------------------------------------- sorted sets

#[tokio::test]
async fn zadd_options_follow_nx_xx_gt_lt_and_ch() {
    each_protocol(|c, _| async move {
        assert_eq!(c.zadd("z", &[(1.0, "a"), (2.0, "b")]).await.unwrap(), 2);
        // Updates are not counted without CH.
        assert_eq!(c.zadd("z", &[(5.0, "a")]).await.unwrap(), 0);
        assert_eq!(
            c.zadd_with("z", &[(9.0, "a"), (3.0, "c")], ZAddOptions::new().nx())
                .await
                .unwrap(),
            1
        );
        assert_eq!(c.zscore("z", "a").await.unwrap(), Some(5.0));
        assert_eq!(
            c.zadd_with("z", &[(9.0, "a"), (4.0, "d")], ZAddOptions::new().xx().ch())
                .await
                .unwrap(),
            1
        );
        assert_eq!(c.zscore("z", "d").await.unwrap(), None);
        assert_eq!(
            c.zadd_with("z", &[(1.0, "a")], ZAddOptions::new().gt().ch())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            c.zadd_with("z", &[(1.0, "a")], ZAddOptions::new().lt().ch())
                .await
                .unwrap(),
            1
        );
        assert_eq!(c.zscore("z", "a").await.unwrap(), Some(1.0));
        let err = c
            .zadd_with("z", &[(1.0, "a")], ZAddOptions::new().nx().gt())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn zscore_zincrby_zcard_and_zrem() {
    each_protocol(|c, _| async move {
        c.zadd("z", &[(1.5, "a"), (f64::INFINITY, "top")])
            .await
            .unwrap();
        assert_eq!(c.zscore("z", "top").await.unwrap(), Some(f64::INFINITY));
        assert_eq!(c.zincrby("z", 2.0, "a").await.unwrap(), 3.5);
        assert_eq!(c.zincrby("z", -1.0, "new").await.unwrap(), -1.0);
        assert_eq!(c.zcard("z").await.unwrap(), 3);
        assert_eq!(c.zrem("z", &["a", "zz"]).await.unwrap(), 1);
        assert_eq!(c.zscore("z", "a").await.unwrap(), None);
        assert_eq!(c.zcard("missing").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn zrange_by_rank_score_and_lex_with_rev_limit_and_scores() {
    each_protocol(|c, _| async move {
        c.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d")])
            .await
            .unwrap();
        assert_eq!(c.zrange("z", 0, 1).await.unwrap(), vec![b("a"), b("b")]);
        assert_eq!(c.zrange("z", -1, -1).await.unwrap(), vec![b("d")]);
        let rev = ZRangeOptions::new().rev();
        assert_eq!(
            c.zrange_with("z", 0, 1, &rev).await.unwrap(),
            vec![b("d"), b("c")]
        );
        let by_score = ZRangeOptions::new().by_score();
        assert_eq!(
            c.zrange_with("z", "(1", 3.0, &by_score).await.unwrap(),
            vec![b("b"), b("c")]
        );
        assert_eq!(
            c.zrange_with("z", "-inf", "+inf", &by_score.limit(1, 2))
                .await
                .unwrap(),
            vec![b("b"), b("c")]
        );
        // REV with BYSCORE takes the bounds highest first.
        assert_eq!(
            c.zrange_with("z", "+inf", 3, &by_score.rev())
                .await
                .unwrap(),
            vec![b("d"), b("c")]
        );
        // REV BYSCORE with the bounds in the wrong order is an empty range.
        assert!(
            c.zrange_withscores("z", 1, 3, &rev.by_score().limit(0, 2))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            c.zrange_withscores("z", 1, 2, &ZRangeOptions::new())
                .await
                .unwrap(),
            vec![(b("b"), 2.0), (b("c"), 3.0)]
        );
        assert_eq!(
            c.zrange_withscores("z", 4, "(2", &by_score.rev())
                .await
                .unwrap(),
            vec![(b("d"), 4.0), (b("c"), 3.0)]
        );
        c.zadd("lex", &[(0.0, "apple"), (0.0, "banana"), (0.0, "cherry")])
            .await
            .unwrap();
        assert_eq!(
            c.zrange_with("lex", "[b", "+", &ZRangeOptions::new().by_lex())
                .await
                .unwrap(),
            vec![b("banana"), b("cherry")]
        );
        let err = c
            .zrange_with("z", 0, 1, &ZRangeOptions::new().limit(0, 1))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some("ERR"),
            "LIMIT needs BYSCORE or BYLEX: {err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn zrangebyscore_zcount_and_zremrangebyscore_take_score_bounds() {
    each_protocol(|c, _| async move {
        c.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d")])
            .await
            .unwrap();
        assert_eq!(
            c.zrangebyscore("z", 2, "(4").await.unwrap(),
            vec![b("b"), b("c")]
        );
        assert_eq!(c.zcount("z", "-inf", "+inf").await.unwrap(), 4);
        assert_eq!(c.zcount("z", "(1", 3.5).await.unwrap(), 2);
        assert_eq!(c.zremrangebyscore("z", "-inf", 2).await.unwrap(), 2);
        assert_eq!(c.zrange("z", 0, -1).await.unwrap(), vec![b("c"), b("d")]);
        let err = c.zcount("z", "low", "high").await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn zscan_streams_members_with_their_scores() {
    each_protocol(|c, _| async move {
        let members: Vec<(f64, String)> = (0..200)
            .map(|i| (i as f64 / 2.0, format!("m{i}")))
            .collect();
        c.zadd("z", &members).await.unwrap();
        let mut seen = c
            .zscan("z", ScanOptions::new().count(40))
            .try_collect()
            .await
            .unwrap();
        seen.sort_by(|a, b| a.1.total_cmp(&b.1));
        let want: Vec<(Bytes, f64)> = members
            .iter()
            .map(|(s, m)| (Bytes::from(m.clone()), *s))
            .collect();
        assert_eq!(seen, want);
    })
    .await;
}

// ---------------------------------------------------------------- streams

#[tokio::test]
async fn xadd_xrange_xlen_and_xdel() {
    each_protocol(|c, _| async move {
        let id1 = c.xadd("s", &[("f", "1"), ("g", "x")]).await.unwrap();
        let id2 = c.xadd("s", &[("f", "2")]).await.unwrap();
        assert!(id1 < id2 || id1.len() < id2.len(), "{id1} {id2}");
        assert_eq!(c.xlen("s").await.unwrap(), 2);
        let all = c.xrange("s", "-", "+").await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, id1);
        assert_eq!(all[0].fields, vec![(b("f"), b("1")), (b("g"), b("x"))]);
        assert_eq!(all[1].get("f"), Some(&b("2")));
        let first = c.xrange_count("s", "-", "+", 1).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, id1);
        let after = c.xrange("s", format!("({id1}"), "+").await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(c.xdel("s", &[&id1, "999-0"]).await.unwrap(), 1);
        assert_eq!(c.xlen("s").await.unwrap(), 1);
        assert!(c.xrange("missing", "-", "+").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn xadd_with_an_explicit_id_and_maxlen_trims() {
    each_protocol(|c, _| async move {
        let id = c
            .xadd_with("s", &[("f", "v")], &XAddOptions::new().id("5-1"))
            .await
            .unwrap();
        assert_eq!(id, "5-1");
        let err = c
            .xadd_with("s", &[("f", "v")], &XAddOptions::new().id("5-0"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
        for i in 0..10 {
            c.xadd_with("s", &[("i", i)], &XAddOptions::new().maxlen(3))
                .await
                .unwrap();
        }
        assert_eq!(c.xlen("s").await.unwrap(), 3);
        let last = c.xrange("s", "-", "+").await.unwrap();
        assert_eq!(last[2].get("i"), Some(&b("9")));
        for i in 0..200 {
            c.xadd_with("big", &[("i", i)], &XAddOptions::new().maxlen_approx(50))
                .await
                .unwrap();
        }
        let len = c.xlen("big").await.unwrap();
        assert!((50..200).contains(&len), "approximate trim left {len}");
    })
    .await;
}

#[tokio::test]
async fn xtrim_and_xadd_trim_by_length_and_by_minimum_id() {
    each_protocol(|c, _| async move {
        for i in 1..=10 {
            c.xadd_with("s", &[("i", i)], &XAddOptions::new().id(format!("{i}-0")))
                .await
                .unwrap();
        }
        assert_eq!(c.xtrim("s", &StreamTrim::MaxLen(5)).await.unwrap(), 5);
        let ids = |entries: Vec<redis_manager::cmd::StreamEntry>| {
            entries.into_iter().map(|e| e.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(c.xrange("s", "-", "+").await.unwrap()),
            ["6-0", "7-0", "8-0", "9-0", "10-0"]
        );
        assert_eq!(
            c.xtrim("s", &StreamTrim::MinId("8-0".into()))
                .await
                .unwrap(),
            2
        );
        assert_eq!(c.xtrim("s", &StreamTrim::MaxLen(5)).await.unwrap(), 0);
        let opts = XAddOptions::new()
            .id("11-0")
            .trim(StreamTrim::MinId("10-0".into()));
        c.xadd_with("s", &[("i", 11)], &opts).await.unwrap();
        assert_eq!(
            ids(c.xrange("s", "-", "+").await.unwrap()),
            ["10-0", "11-0"]
        );
        // Approximate trims never go below the threshold.
        for i in 0..300 {
            c.xadd("big", &[("i", i)]).await.unwrap();
        }
        let removed = c
            .xtrim("big", &StreamTrim::MaxLenApprox(100))
            .await
            .unwrap();
        let left = c.xlen("big").await.unwrap();
        assert_eq!(removed + left, 300);
        assert!((100..300).contains(&left), "approximate trim left {left}");
        let first = c.xrange_count("big", "-", "+", 1).await.unwrap()[0]
            .id
            .clone();
        let removed = c
            .xtrim("big", &StreamTrim::MinIdApprox(first.clone()))
            .await
            .unwrap();
        assert_eq!(removed, 0, "nothing is below the first id");
        let err = c
            .xtrim("s", &StreamTrim::MinId("not-an-id".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
        // NOMKSTREAM: no stream is created, an existing one is appended to (and trimmed).
        let none = c
            .xadd_if_exists("absent", &[("f", "v")], &XAddOptions::new())
            .await
            .unwrap();
        assert_eq!(none, None);
        assert!(!c.exists("absent").await.unwrap());
        let opts = XAddOptions::new().id("12-0").trim(StreamTrim::MaxLen(2));
        let id = c.xadd_if_exists("s", &[("i", 12)], &opts).await.unwrap();
        assert_eq!(id.as_deref(), Some("12-0"));
        assert_eq!(
            ids(c.xrange("s", "-", "+").await.unwrap()),
            ["11-0", "12-0"]
        );
    })
    .await;
}

#[tokio::test]
async fn pending_entries_are_listed_and_a_stuck_consumers_work_is_claimed() {
    each_protocol(|c, _| async move {
        c.xgroup_create_mkstream("s", "g", "0").await.unwrap();
        let summary = c.xpending("s", "g").await.unwrap();
        assert_eq!(summary.count, 0);
        assert_eq!((summary.smallest, summary.greatest), (None, None));
        assert!(summary.consumers.is_empty());
        let mut ids = Vec::new();
        for job in 1..=3 {
            ids.push(c.xadd("s", &[("job", job)]).await.unwrap());
        }
        let (id1, id2, id3) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
        let read = |consumer: &'static str, n: u64| {
            let c = c.clone();
            async move {
                c.xreadgroup("g", consumer, &[("s", ">")], &XReadOptions::new().count(n))
                    .await
                    .unwrap()
            }
        };
        read("w1", 2).await;
        read("w2", 1).await;

        let summary = c.xpending("s", "g").await.unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.smallest.as_deref(), Some(&id1[..]));
        assert_eq!(summary.greatest.as_deref(), Some(&id3[..]));
        assert_eq!(summary.consumers, [("w1".into(), 2), ("w2".into(), 1)]);

        let all = c
            .xpending_range("s", "g", &XPendingOptions::new(10))
            .await
            .unwrap();
        let who: Vec<(&str, &str, u64)> = all
            .iter()
            .map(|p| (&p.id[..], &p.consumer[..], p.deliveries))
            .collect();
        assert_eq!(
            who,
            [
                (&id1[..], "w1", 1),
                (&id2[..], "w1", 1),
                (&id3[..], "w2", 1)
            ]
        );
        let only_w2 = XPendingOptions::new(10).consumer("w2");
        let got = c.xpending_range("s", "g", &only_w2).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, id3);
        let first = c
            .xpending_range("s", "g", &XPendingOptions::new(1))
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, id1);
        let after_first = XPendingOptions::new(10).range(format!("({id1}"), "+");
        let got = c.xpending_range("s", "g", &after_first).await.unwrap();
        assert_eq!(
            got.iter().map(|p| &p.id[..]).collect::<Vec<_>>(),
            [&id2[..], &id3[..]]
        );

        tokio::time::sleep(Duration::from_millis(30)).await;
        let long_idle = XPendingOptions::new(10).min_idle(Duration::from_secs(60));
        assert!(
            c.xpending_range("s", "g", &long_idle)
                .await
                .unwrap()
                .is_empty()
        );
        let idle = XPendingOptions::new(10).min_idle(Duration::from_millis(20));
        let got = c.xpending_range("s", "g", &idle).await.unwrap();
        assert_eq!(got.len(), 3);
        assert!(
            got.iter().all(|p| p.idle >= Duration::from_millis(20)),
            "{got:?}"
        );

        // w3 takes over w1's first job; a claim that asks for more idle time takes nothing.
        let claimed = c
            .xclaim("s", "g", "w3", Duration::from_millis(20), &[&id1])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, id1);
        assert_eq!(claimed[0].get("job"), Some(&b("1")));
        let none = c
            .xclaim("s", "g", "w3", Duration::from_secs(60), &[&id2])
            .await
            .unwrap();
        assert!(none.is_empty());
        let got = c
            .xpending_range("s", "g", &XPendingOptions::new(1))
            .await
            .unwrap();
        assert_eq!((&got[0].consumer[..], got[0].deliveries), ("w3", 2));

        // id2 disappears from the stream while pending: XAUTOCLAIM reports it as deleted and
        // claims the rest.
        assert_eq!(c.xdel("s", &[&id2]).await.unwrap(), 1);
        let page = c
            .xautoclaim("s", "g", "w3", Duration::ZERO, "0-0", Some(10))
            .await
            .unwrap();
        assert_eq!(page.next, "0-0");
        let claimed: Vec<&str> = page.claimed.iter().map(|e| &e.id[..]).collect();
        assert_eq!(claimed, [&id1[..], &id3[..]]);
        assert_eq!(page.deleted, [&id2[..]]);
        let summary = c.xpending("s", "g").await.unwrap();
        assert_eq!(summary.count, 2);
        assert_eq!(summary.consumers, [("w3".into(), 2)]);

        // One entry at a time: the cursor walks the pending list.
        let page = c
            .xautoclaim("s", "g", "w4", Duration::ZERO, "0-0", Some(1))
            .await
            .unwrap();
        assert_eq!(page.claimed.len(), 1);
        assert_eq!(page.claimed[0].id, id1);
        assert_ne!(page.next, "0-0");

        assert_eq!(c.xack("s", "g", &[&id1, &id3]).await.unwrap(), 2);
        let summary = c.xpending("s", "g").await.unwrap();
        assert_eq!(summary.count, 0);
        assert!(summary.consumers.is_empty());
        let err = c.xpending("s", "nogroup").await.unwrap_err();
        assert_eq!(err.code(), Some("NOGROUP"));
        let err = c
            .xautoclaim("s", "nogroup", "w1", Duration::ZERO, "0-0", None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NOGROUP"));
    })
    .await;
}

#[tokio::test]
async fn xread_returns_new_entries_per_stream_and_blocks_for_new_ones() {
    each_protocol(|c, _| async move {
        let a1 = c.xadd("a", &[("n", "1")]).await.unwrap();
        c.xadd("b", &[("n", "2")]).await.unwrap();
        let batches = c
            .xread(
                &[("a", "0"), ("b", "0"), ("none", "0")],
                &XReadOptions::new(),
            )
            .await
            .unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].key, "a");
        assert_eq!(batches[0].entries[0].id, a1);
        assert_eq!(batches[1].entries[0].get("n"), Some(&b("2")));
        assert!(
            c.xread(&[("a", a1.as_str())], &XReadOptions::new())
                .await
                .unwrap()
                .is_empty()
        );
        // COUNT limits each stream.
        c.xadd("a", &[("n", "3")]).await.unwrap();
        let one = c
            .xread(&[("a", "0")], &XReadOptions::new().count(1))
            .await
            .unwrap();
        assert_eq!(one[0].entries.len(), 1);
        // BLOCK times out with nothing, then wakes on an entry added meanwhile.
        let start = Instant::now();
        let none = c
            .xread(&[("a", "$")], &XReadOptions::new().block(200))
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(150));
        let writer = c.clone();
        let add = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writer.xadd("a", &[("n", "late")]).await.unwrap()
        });
        let got = c
            .xread(&[("a", "$")], &XReadOptions::new().block(3000))
            .await
            .unwrap();
        let id = add.await.unwrap();
        assert_eq!(got[0].entries[0].id, id);
        let err = c
            .xread::<&str, &str>(&[], &XReadOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn consumer_groups_deliver_once_and_track_acks() {
    each_protocol(|c, _| async move {
        let err = c.xgroup_create("s", "g", "$").await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "no stream yet: {err:?}");
        c.xgroup_create_mkstream("s", "g", "0").await.unwrap();
        let err = c.xgroup_create("s", "g", "0").await.unwrap_err();
        assert_eq!(err.code(), Some("BUSYGROUP"));
        let id1 = c.xadd("s", &[("job", "1")]).await.unwrap();
        let id2 = c.xadd("s", &[("job", "2")]).await.unwrap();
        let opts = XReadOptions::new().count(1);
        let w1 = c.xreadgroup("g", "w1", &[("s", ">")], &opts).await.unwrap();
        let w2 = c.xreadgroup("g", "w2", &[("s", ">")], &opts).await.unwrap();
        assert_eq!(w1[0].entries[0].id, id1);
        assert_eq!(w2[0].entries[0].id, id2);
        assert!(
            c.xreadgroup("g", "w1", &[("s", ">")], &opts)
                .await
                .unwrap()
                .is_empty()
        );
        // w1's history holds its pending entry until it is acknowledged.
        let pending = c
            .xreadgroup("g", "w1", &[("s", "0")], &XReadOptions::new())
            .await
            .unwrap();
        assert_eq!(pending[0].entries[0].id, id1);
        assert_eq!(c.xack("s", "g", &[&id1, &id2]).await.unwrap(), 2);
        assert_eq!(c.xack("s", "g", &[&id1]).await.unwrap(), 0);
        let pending = c
            .xreadgroup("g", "w1", &[("s", "0")], &XReadOptions::new())
            .await
            .unwrap();
        assert!(
            pending.is_empty() || pending[0].entries.is_empty(),
            "{pending:?}"
        );
        // NOACK: delivered and never pending.
        c.xadd("s", &[("job", "3")]).await.unwrap();
        let got = c
            .xreadgroup("g", "w3", &[("s", ">")], &XReadOptions::new().noack())
            .await
            .unwrap();
        assert_eq!(got[0].entries.len(), 1);
        let pending = c
            .xreadgroup("g", "w3", &[("s", "0")], &XReadOptions::new())
            .await
            .unwrap();
        assert!(
            pending.is_empty() || pending[0].entries.is_empty(),
            "{pending:?}"
        );
        // A blocking group read times out empty.
        let none = c
            .xreadgroup("g", "w1", &[("s", ">")], &XReadOptions::new().block(100))
            .await
            .unwrap();
        assert!(none.is_empty());
        let err = c
            .xreadgroup("nogroup", "w1", &[("s", ">")], &XReadOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NOGROUP"));
    })
    .await;
}

// ---------------------------------------------------------------- scan

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_visits_every_key_exactly_once() {
    each_protocol(|c, protocol| async move {
        let pairs: Vec<(String, i32)> = (0..3000).map(|i| (format!("key:{i}"), i)).collect();
        for chunk in pairs.chunks(500) {
            c.mset(chunk).await.unwrap();
        }
        let mut stream = c.scan(ScanOptions::new().count(100));
        let mut seen = HashSet::new();
        let mut total = 0;
        while let Some(key) = stream.next().await {
            let key = key.unwrap();
            total += 1;
            assert!(seen.insert(key.clone()), "{protocol:?}: {key:?} seen twice");
        }
        assert!(stream.is_finished());
        assert_eq!(total, 3000, "{protocol:?}");
        let want: HashSet<Bytes> = pairs.iter().map(|(k, _)| Bytes::from(k.clone())).collect();
        assert_eq!(seen, want);
        // Exhausted streams stay exhausted.
        assert!(stream.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn scan_filters_by_pattern_and_type() {
    each_protocol(|c, _| async move {
        c.mset(&[("user:1", "a"), ("user:2", "b"), ("job:1", "c")])
            .await
            .unwrap();
        c.hset("user:h", "f", "v").await.unwrap();
        let mut users = c
            .scan(ScanOptions::new().pattern("user:*"))
            .try_collect()
            .await
            .unwrap();
        users.sort();
        assert_eq!(users, vec![b("user:1"), b("user:2"), b("user:h")]);
        let hashes = c
            .scan(ScanOptions::new().key_type("hash"))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(hashes, vec![b("user:h")]);
        assert!(
            c.scan(ScanOptions::new().pattern("none:*"))
                .try_collect()
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_scan_of_the_wrong_type_yields_the_error_then_ends() {
    each_protocol(|c, _| async move {
        c.set("str", "v").await.unwrap();
        let mut s = c.hscan("str", ScanOptions::new());
        let err = s.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        assert!(s.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_scan_cancelled_mid_batch_resumes_without_losing_keys() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3).await;
    let pairs: Vec<(String, i32)> = (0..1000).map(|i| (format!("k{i}"), i)).collect();
    c.mset(&pairs).await.unwrap();
    let mut stream = c.scan(ScanOptions::new().count(50));
    let mut seen = HashSet::new();
    loop {
        // A zero timeout drops most fetches before their reply arrives.
        match tokio::time::timeout(Duration::from_micros(1), stream.next()).await {
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(k)) => {
                seen.insert(k.unwrap());
            }
        }
    }
    assert_eq!(seen.len(), 1000);
}
