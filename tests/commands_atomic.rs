//! Pipelines, scripts and optimistic transactions against a real server, under RESP2 and
//! RESP3: failing commands in the middle of a batch, the `NOSCRIPT` fallback (alone and in
//! pipelines), and `WATCH` conflicts retried.

mod commands_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use commands_support::{b, each_protocol};
use redis_manager::cmd::{Script, ScriptPipeline};
use redis_manager::prelude::*;
use redis_manager::{Client, Error, Frame, Pipeline, cmd};

/// How many times `command` (as named in `INFO commandstats`, e.g. `script|load`) ran.
async fn calls(c: &Client, command: &str) -> u64 {
    let info = c.info(&["commandstats"]).await.unwrap();
    let Some(stats) = info.get("commandstats", &format!("cmdstat_{command}")) else {
        return 0;
    };
    stats
        .split(',')
        .find_map(|kv| kv.strip_prefix("calls="))
        .unwrap()
        .parse()
        .unwrap()
}

async fn reset_stats(c: &Client) {
    c.query::<()>(cmd("CONFIG").arg("RESETSTAT")).await.unwrap();
}

// ---------------------------------------------------------------- pipelines

#[tokio::test]
async fn a_failing_command_in_the_middle_of_a_pipeline_is_a_frame_among_the_replies() {
    each_protocol(|c, _| async move {
        let mut pipe = Pipeline::new();
        pipe.add(cmd("SET").arg("k").arg("text"))
            .add(cmd("INCR").arg("k"))
            .add(cmd("GET").arg("k"));
        let frames = pipe.execute(&c).await.unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames[1].is_error(), "{:?}", frames[1]);
        assert_eq!(frames[2].as_str(), Some("text"));
        // `query` reports the first error instead.
        let err = pipe.query::<((), i64, String)>(&c).await.unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn an_atomic_pipeline_runs_past_a_runtime_error_and_aborts_on_a_queueing_error() {
    each_protocol(|c, _| async move {
        let mut pipe = Pipeline::atomic();
        pipe.add(cmd("SET").arg("k").arg("text"))
            .add(cmd("INCR").arg("k"))
            .add(cmd("SET").arg("after").arg(1));
        let frames = pipe.execute(&c).await.unwrap();
        assert!(frames[1].is_error(), "{frames:?}");
        assert_eq!(c.get("after").await.unwrap(), Some(b("1")));
        // A command the server rejects while queuing aborts the whole transaction.
        let mut pipe = Pipeline::atomic();
        pipe.add(cmd("SET").arg("never").arg(1))
            .add(cmd("SET").arg("too-few-args"));
        let err = pipe.execute(&c).await.unwrap_err();
        assert_eq!(err.code(), Some("EXECABORT"), "{err:?}");
        assert!(!c.exists("never").await.unwrap());
    })
    .await;
}

// ---------------------------------------------------------------- scripts

const INCR_BY_ARG: &str = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

#[tokio::test]
async fn a_script_is_loaded_once_then_run_by_hash() {
    each_protocol(|c, _| async move {
        reset_stats(&c).await;
        let script = Script::new(INCR_BY_ARG);
        assert_eq!(script.sha(), None);
        let n: i64 = script.key("n").arg(5).invoke(&c).await.unwrap();
        assert_eq!(n, 5);
        let sha = script.sha().expect("known after the first run");
        assert_eq!(sha.len(), 40);
        let n: i64 = script.invoke(&c, &[&"n"], &[&2]).await.unwrap();
        assert_eq!(n, 7);
        // Clones share the hash.
        let clone = script.clone();
        let n: i64 = clone.key("n").arg(1).invoke(&c).await.unwrap();
        assert_eq!(n, 8);
        assert_eq!(calls(&c, "script|load").await, 1);
        assert_eq!(calls(&c, "evalsha").await, 3);
    })
    .await;
}

#[tokio::test]
async fn a_script_after_script_flush_is_loaded_again_exactly_once() {
    each_protocol(|c, _| async move {
        let script = Script::new(INCR_BY_ARG);
        let _: i64 = script.key("n").arg(1).invoke(&c).await.unwrap();
        c.query::<()>(cmd("SCRIPT").arg("FLUSH")).await.unwrap();
        reset_stats(&c).await;
        let n: i64 = script.key("n").arg(1).invoke(&c).await.unwrap();
        assert_eq!(n, 2, "the script ran exactly once more");
        assert_eq!(calls(&c, "script|load").await, 1);
        // The first EVALSHA failed with NOSCRIPT, the second ran it.
        assert_eq!(calls(&c, "evalsha").await, 2);
        let n: i64 = script.key("n").arg(1).invoke(&c).await.unwrap();
        assert_eq!(n, 3);
        assert_eq!(calls(&c, "script|load").await, 1);
    })
    .await;
}

#[tokio::test]
async fn script_errors_are_server_errors_and_are_not_retried() {
    each_protocol(|c, _| async move {
        let failing = Script::new("return redis.error_reply('MYERR custom failure')");
        reset_stats(&c).await;
        let err = failing.prepare_invoke().invoke::<()>(&c).await.unwrap_err();
        assert_eq!(err.code(), Some("MYERR"), "{err:?}");
        assert_eq!(calls(&c, "script|load").await, 1);
        assert_eq!(calls(&c, "evalsha").await, 1);
        let broken = Script::new("this is not lua");
        let err = broken.prepare_invoke().invoke::<()>(&c).await.unwrap_err();
        assert!(matches!(err, Error::Server(_)), "{err:?}");
        assert_eq!(broken.sha(), None);
    })
    .await;
}

#[tokio::test]
async fn scripts_return_typed_values_from_keys_and_args() {
    each_protocol(|c, _| async move {
        let script = Script::new("return {KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]) * 2}");
        let (k1, k2, a1, n): (String, String, String, i64) = script
            .key("a")
            .key("b")
            .arg("x")
            .arg(21)
            .invoke(&c)
            .await
            .unwrap();
        assert_eq!(
            (k1.as_str(), k2.as_str(), a1.as_str(), n),
            ("a", "b", "x", 42)
        );
        let nil = Script::new("return nil");
        let v: Option<String> = nil.prepare_invoke().invoke(&c).await.unwrap();
        assert_eq!(v, None);
    })
    .await;
}

#[tokio::test]
async fn a_script_pipeline_reloads_after_script_flush_without_rerunning_other_commands() {
    each_protocol(|c, _| async move {
        let script = Script::new(INCR_BY_ARG);
        // Never loaded: execute loads it first.
        let mut pipe = ScriptPipeline::new();
        pipe.add(cmd("INCR").arg("plain"))
            .add_script(script.key("n").arg(10))
            .add(cmd("INCR").arg("plain"));
        let (a, n, b2): (i64, i64, i64) = pipe.query(&c).await.unwrap();
        assert_eq!((a, n, b2), (1, 10, 2));
        // The hash is cached, but the server forgot it: NOSCRIPT, one load, one re-run.
        c.query::<()>(cmd("SCRIPT").arg("FLUSH")).await.unwrap();
        reset_stats(&c).await;
        let frames = pipe.execute(&c).await.unwrap();
        assert_eq!(
            frames,
            vec![Frame::Integer(3), Frame::Integer(20), Frame::Integer(4)]
        );
        assert_eq!(calls(&c, "script|load").await, 1);
        assert_eq!(calls(&c, "incr").await, 2, "plain commands ran once each");
        assert_eq!(c.get("n").await.unwrap(), Some(b("20")));

        // Two invocations of the script answered NOSCRIPT: one load, and one EVALSHA each
        // after it (none sent again knowing it would fail).
        pipe.add_script(script.key("n").arg(1));
        c.query::<()>(cmd("SCRIPT").arg("FLUSH")).await.unwrap();
        reset_stats(&c).await;
        let frames = pipe.execute(&c).await.unwrap();
        assert_eq!(
            frames,
            vec![
                Frame::Integer(5),
                Frame::Integer(30),
                Frame::Integer(6),
                Frame::Integer(31)
            ]
        );
        assert_eq!(calls(&c, "script|load").await, 1);
        assert_eq!(calls(&c, "evalsha").await, 4);
    })
    .await;
}

#[tokio::test]
async fn an_atomic_script_pipeline_sends_the_source_and_cannot_hit_noscript() {
    each_protocol(|c, _| async move {
        let script = Script::new(INCR_BY_ARG);
        script.load(&c).await.unwrap();
        c.query::<()>(cmd("SCRIPT").arg("FLUSH")).await.unwrap();
        let mut pipe = ScriptPipeline::atomic();
        pipe.add(cmd("SET").arg("n").arg(1))
            .add_script(script.key("n").arg(4));
        let ((), n): ((), i64) = pipe.query(&c).await.unwrap();
        assert_eq!(n, 5);
        assert_eq!(pipe.len(), 2);
    })
    .await;
}

// ---------------------------------------------------------------- transactions

#[tokio::test]
async fn a_watch_conflict_from_a_concurrent_writer_is_retried() {
    each_protocol(|c, protocol| async move {
        c.set("counter", 0).await.unwrap();
        let writer = c.clone();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = c
            .transaction(&["counter"], 5, |tx| {
                let writer = writer.clone();
                let attempts = attempts.clone();
                Box::pin(async move {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                    let v: i64 = tx.query(cmd("GET").arg("counter")).await?;
                    if attempt == 1 {
                        // Another client changes the key between WATCH and EXEC.
                        writer.incr("counter").await?;
                    }
                    tx.exec(&[cmd("SET").arg("counter").arg(v + 10)]).await?;
                    Ok(v)
                })
            })
            .await
            .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "{protocol:?}");
        assert_eq!(seen, 1, "the retry read the writer's value");
        assert_eq!(c.get("counter").await.unwrap(), Some(b("11")));
    })
    .await;
}

#[tokio::test]
async fn a_transaction_gives_up_after_max_attempts_with_transaction_aborted() {
    each_protocol(|c, _| async move {
        let writer = c.clone();
        let attempts = Arc::new(AtomicUsize::new(0));
        let err = c
            .transaction(&["hot"], 3, |tx| {
                let writer = writer.clone();
                let attempts = attempts.clone();
                Box::pin(async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    writer.incr("hot").await?;
                    tx.exec(&[cmd("SET").arg("hot").arg(0)]).await?;
                    Ok(())
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TransactionAborted), "{err:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert_eq!(c.get("hot").await.unwrap(), Some(b("3")));
    })
    .await;
}

#[tokio::test]
async fn concurrent_transactions_on_one_counter_lose_no_update() {
    each_protocol(|c, _| async move {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..20 {
                        c.transaction(&["shared"], 1000, |tx| {
                            Box::pin(async move {
                                let v: Option<i64> = tx.query(cmd("GET").arg("shared")).await?;
                                tokio::task::yield_now().await;
                                tx.exec(&[cmd("SET").arg("shared").arg(v.unwrap_or(0) + 1)])
                                    .await?;
                                Ok(())
                            })
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(c.get("shared").await.unwrap(), Some(b("60")));
    })
    .await;
}

#[tokio::test]
async fn a_transaction_body_error_unwatches_and_is_returned() {
    each_protocol(|c, _| async move {
        c.rpush("list", &["x"]).await.unwrap();
        let err = c
            .transaction(&["list"], 3, |tx| {
                Box::pin(async move {
                    // WRONGTYPE: GET on a list.
                    let _ = tx.get("list").await?;
                    Ok(())
                })
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        // A body that decides not to write returns its value; nothing is left watched.
        let v = c
            .transaction(&["k"], 3, |tx| Box::pin(async move { tx.get("k").await }))
            .await
            .unwrap();
        assert_eq!(v, None);
    })
    .await;
}

#[tokio::test]
async fn a_hand_written_transaction_reports_conflicts_and_per_command_errors() {
    each_protocol(|c, _| async move {
        c.set("k", "text").await.unwrap();
        let mut tx = c.watch(&["k"]).await.unwrap();
        assert_eq!(tx.get("k").await.unwrap(), Some(b("text")));
        let frames = tx
            .exec(&[cmd("INCR").arg("k"), cmd("SET").arg("k2").arg("v")])
            .await
            .unwrap();
        assert!(frames[0].is_error(), "{frames:?}");
        assert_eq!(frames[1], Frame::SimpleString("OK".into()));
        // Conflict: another client writes after WATCH.
        tx.watch(&["k"]).await.unwrap();
        c.set("k", "changed").await.unwrap();
        let err = tx
            .exec(&[cmd("SET").arg("k").arg("mine")])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TransactionAborted), "{err:?}");
        assert_eq!(c.get("k").await.unwrap(), Some(b("changed")));
        // UNWATCH ends the protection: the next EXEC runs despite a write.
        tx.watch(&["k"]).await.unwrap();
        tx.unwatch().await.unwrap();
        c.set("k", "again").await.unwrap();
        tx.exec(&[cmd("SET").arg("k").arg("mine")]).await.unwrap();
        assert_eq!(c.get("k").await.unwrap(), Some(b("mine")));
        // A command rejected while queuing aborts everything.
        let err = tx
            .exec(&[cmd("SET").arg("k").arg("x"), cmd("SET").arg("k")])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("EXECABORT"), "{err:?}");
        assert_eq!(c.get("k").await.unwrap(), Some(b("mine")));
    })
    .await;
}
