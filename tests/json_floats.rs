//! JSON numbers round-trip bit for bit through a real server: `f64` values written by
//! `set_json` (and sessions) come back from `get_json` (and `get_session`) as the same bits.
//! serde_json's default float parser may be off by one in the last bit; the `float_roundtrip`
//! feature makes it exact.

mod support;

use redis_manager::SetOptions;
use redis_manager::{RedisManager, SessionManager};
use serde_json::{Value, json};
use support::RedisServer;

/// 1,000 finite `f64` from a fixed xorshift64 sequence: random bit patterns (every exponent,
/// subnormals, both signs) and random values in ordinary ranges, where 17-digit decimals are
/// the norm.
fn values() -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(1000);
    while out.len() < 1000 {
        let bits = next();
        let x = if out.len() % 2 == 0 {
            f64::from_bits(bits)
        } else {
            // A uniform fraction in [0, 1) scaled to about ±1e6.
            ((bits >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2e6
        };
        if x.is_finite() {
            out.push(x);
        }
    }
    out
}

fn mismatches(sent: &[f64], got: &[f64]) -> Vec<(f64, f64)> {
    sent.iter()
        .zip(got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .map(|(a, b)| (*a, *b))
        .collect()
}

async fn manager(server: &RedisServer) -> RedisManager {
    let m = RedisManager::new(server.config());
    assert!(m.initialize().await, "initialize against the test server");
    m
}

#[tokio::test]
async fn set_json_get_json_keeps_every_bit_of_each_f64() {
    let server = RedisServer::start();
    let m = manager(&server).await;
    let sent = values();
    let mut got = Vec::with_capacity(sent.len());
    for (i, x) in sent.iter().enumerate() {
        let key = format!("f:{i}");
        assert!(m.set_json(&key, x, SetOptions::default()).await);
        got.push(m.get_json::<f64>(&key).await.expect("stored value"));
    }
    let bad = mismatches(&sent, &got);
    assert!(
        bad.is_empty(),
        "{} of 1000 changed, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[tokio::test]
async fn set_json_get_json_keeps_every_bit_in_a_list_and_through_value() {
    let server = RedisServer::start();
    let m = manager(&server).await;
    let sent = values();
    assert!(m.set_json("list", &sent, SetOptions::default()).await);
    let got: Vec<f64> = m.get_json("list").await.expect("stored list");
    assert_eq!(got.len(), sent.len());
    let bad = mismatches(&sent, &got);
    assert!(
        bad.is_empty(),
        "{} of 1000 changed, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );

    // Through serde_json::Value, as sessions and untyped callers read JSON.
    let got: Value = m.get_json("list").await.expect("stored list");
    let got: Vec<f64> = got
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    let bad = mismatches(&sent, &got);
    assert!(
        bad.is_empty(),
        "{} of 1000 changed, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[tokio::test]
async fn sessions_keep_every_bit_of_f64_fields() {
    let server = RedisServer::start();
    let m = manager(&server).await;
    let sessions = SessionManager::new(&m);
    let sent = values();
    let id = sessions
        .create_session("u1", json!({ "scores": sent }))
        .await
        .expect("session created");
    let session = sessions.get_session(&id).await.expect("session stored");
    let got: Vec<f64> = serde_json::from_value(session["scores"].clone()).expect("scores");
    let bad = mismatches(&sent, &got);
    assert!(
        bad.is_empty(),
        "{} of 1000 changed, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}
