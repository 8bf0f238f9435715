//! Flat structs stored as hashes against a real server: `hset_struct` / `hgetall_struct` on a
//! client under RESP2 and RESP3, in a pipeline and a transaction, through the manager, and
//! reading hashes written field by field as other clients write them.

mod commands_support;
mod support;

use std::time::Duration;

use bytes::Bytes;
use commands_support::{b, each_protocol};
use redis_manager::prelude::*;
use redis_manager::{Config, Error, HashStructError, Pipeline, Prepare, RedisManager, cmd};
use serde::{Deserialize, Serialize};
use support::RedisServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Plan {
    Free,
    #[serde(rename = "pro")]
    Pro,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: u32,
    balance: f64,
    admin: bool,
    initial: char,
    plan: Plan,
    email: Option<String>,
    score: Option<i64>,
}

fn ada() -> User {
    User {
        name: "Ada Lovelace".into(),
        age: 36,
        balance: -12.75,
        admin: true,
        initial: 'A',
        plan: Plan::Pro,
        email: None,
        score: Some(-3),
    }
}

#[tokio::test]
async fn a_struct_is_stored_as_a_hash_of_text_fields_and_read_back() {
    each_protocol(|c, protocol| async move {
        let user = ada();
        // Seven fields: `email` is None and not written.
        assert_eq!(
            c.hset_struct("user:1", &user).await.unwrap(),
            7,
            "{protocol:?}"
        );
        let raw = c.hgetall("user:1").await.unwrap();
        assert_eq!(raw.len(), 7);
        assert_eq!(raw["name"], b("Ada Lovelace"));
        assert_eq!(raw["age"], b("36"));
        assert_eq!(raw["balance"], b("-12.75"));
        assert_eq!(raw["admin"], b("1"));
        assert_eq!(raw["initial"], b("A"));
        assert_eq!(raw["plan"], b("pro"));
        assert_eq!(raw["score"], b("-3"));
        assert!(!raw.contains_key("email"));

        // The server treats the numbers as numbers.
        assert_eq!(c.hincrby("user:1", "age", 1).await.unwrap(), 37);
        let back: User = c.hgetall_struct("user:1").await.unwrap().unwrap();
        assert_eq!(
            back,
            User {
                age: 37,
                ..user.clone()
            }
        );

        // Writing again updates: no field is new, and a None field leaves the stored one.
        let changed = User {
            admin: false,
            email: Some("ada@example.com".into()),
            score: None,
            ..user
        };
        assert_eq!(c.hset_struct("user:1", &changed).await.unwrap(), 1);
        let back: User = c.hgetall_struct("user:1").await.unwrap().unwrap();
        assert_eq!(
            (back.admin, back.email.as_deref(), back.score),
            (false, Some("ada@example.com"), Some(-3))
        );
    })
    .await;
}

#[tokio::test]
async fn a_missing_or_empty_hash_reads_as_none() {
    each_protocol(|c, _| async move {
        assert_eq!(c.hgetall_struct::<User>("nobody").await.unwrap(), None);
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Sparse {
            a: Option<i32>,
        }
        // Nothing to write: no round trip, no key.
        assert_eq!(
            c.hset_struct("sparse", &Sparse { a: None }).await.unwrap(),
            0
        );
        assert!(!c.exists("sparse").await.unwrap());
        assert_eq!(c.hgetall_struct::<Sparse>("sparse").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn hashes_written_field_by_field_by_other_clients_read_into_structs() {
    each_protocol(|c, _| async move {
        // As a Python client writes them: str() of each value, booleans as True/False.
        c.hset_multiple(
            "py:user",
            &[
                ("name", "Grace"),
                ("age", "85"),
                ("balance", "1e3"),
                ("admin", "True"),
                ("initial", "G"),
                ("plan", "Free"),
                ("email", "grace@example.com"),
                ("unrelated", "kept out"),
            ],
        )
        .await
        .unwrap();
        let g: User = c.hgetall_struct("py:user").await.unwrap().unwrap();
        assert_eq!(
            g,
            User {
                name: "Grace".into(),
                age: 85,
                balance: 1000.0,
                admin: true,
                initial: 'G',
                plan: Plan::Free,
                email: Some("grace@example.com".into()),
                score: None,
            }
        );
        // The text HINCRBYFLOAT leaves reads as a float.
        let after: Bytes = c
            .query(cmd("HINCRBYFLOAT").arg("py:user").arg("balance").arg("0.5"))
            .await
            .unwrap();
        assert_eq!(after, b("1000.5"));
        let g: User = c.hgetall_struct("py:user").await.unwrap().unwrap();
        assert_eq!(g.balance, 1000.5);
    })
    .await;
}

#[tokio::test]
async fn bad_values_and_unflat_structs_are_typed_errors() {
    each_protocol(|c, _| async move {
        c.hset_multiple(
            "bad",
            &[("name", "x"), ("age", "old"), ("balance", "1"), ("admin", "1")],
        )
        .await
        .unwrap();
        let e = c.hgetall_struct::<User>("bad").await.unwrap_err();
        assert!(
            matches!(
                &e,
                Error::HashStruct(HashStructError::Invalid { field, expected: "u32" }) if field == "age"
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("old"), "{e}");

        // A required field missing.
        c.hset_multiple("partial", &[("name", "x")]).await.unwrap();
        let e = c.hgetall_struct::<User>("partial").await.unwrap_err();
        assert!(
            matches!(&e, Error::HashStruct(HashStructError::Custom { .. })),
            "{e:?}"
        );

        // Not a hash at all: the server's error.
        c.set("string", "v").await.unwrap();
        let e = c.hgetall_struct::<User>("string").await.unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));

        // A nested struct is refused before anything is sent.
        #[derive(Serialize)]
        struct Nested {
            id: u32,
            user: User,
        }
        let e = c
            .hset_struct("nested", &Nested { id: 1, user: ada() })
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                Error::HashStruct(HashStructError::Unsupported { field, kind: "struct" }) if field == "user"
            ),
            "{e:?}"
        );
        assert!(!c.exists("nested").await.unwrap(), "nothing was sent");
        let e = c.hset_struct("list", &vec![1, 2]).await.unwrap_err();
        assert!(
            matches!(e, Error::HashStruct(HashStructError::NotAStruct { .. })),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn structs_go_through_pipelines_and_transactions() {
    each_protocol(|c, _| async move {
        let mut pipe = Pipeline::atomic();
        pipe.hset_struct("p:1", &ada())
            .hincrby("p:1", "score", 10)
            .hgetall_struct::<User>("p:1")
            .hgetall_struct::<User>("p:missing");
        let frames = pipe.execute(&c).await.unwrap();
        assert_eq!(frames.len(), 4);
        let mut frames = frames.into_iter();
        let added = Prepare
            .hset_struct("p:1", &ada())
            .convert(frames.next().unwrap());
        assert_eq!(added.unwrap(), 7);
        frames.next();
        let read = Prepare.hgetall_struct::<User>("p:1");
        let user = read.convert(frames.next().unwrap()).unwrap().unwrap();
        assert_eq!(user.score, Some(7));
        assert_eq!(read.convert(frames.next().unwrap()).unwrap(), None);

        // A refused struct fails its pipeline and sends nothing.
        let mut pipe = Pipeline::new();
        pipe.set("p:sent", 1).hset_struct("p:2", &[1, 2]);
        let e = pipe.execute(&c).await.unwrap_err();
        assert!(matches!(e, Error::HashStruct(_)), "{e:?}");
        assert!(!c.exists("p:sent").await.unwrap());

        // An optimistic transaction reads the struct before it writes.
        let mut tx = c.watch(&["p:1"]).await.unwrap();
        let mut user: User = tx.hgetall_struct("p:1").await.unwrap().unwrap();
        user.age += 1;
        let mut pipe = Pipeline::new();
        pipe.hset_struct("p:1", &user);
        tx.exec_pipeline(&pipe).await.unwrap();
        let user: User = c.hgetall_struct("p:1").await.unwrap().unwrap();
        assert_eq!(user.age, 37);
    })
    .await;
}

#[tokio::test]
async fn the_manager_stores_and_reads_structs_and_falls_back_to_defaults() {
    let server = RedisServer::start();
    let config = || {
        Config::builder()
            .host("127.0.0.1")
            .port(server.port())
            .response_timeout(Some(Duration::from_secs(2)))
            .connect_timeout(Duration::from_secs(2))
    };
    let m = RedisManager::new(config());
    assert!(m.initialize().await);
    assert_eq!(m.hset_struct("m:1", &ada()).await, 7);
    assert_eq!(m.hgetall_struct::<User>("m:1").await, Some(ada()));
    assert_eq!(m.hgetall_struct::<User>("m:missing").await, None);
    // A hash that does not read into the struct: None, and Redis is still healthy.
    assert_eq!(m.hset("m:bad", "age", "x").await, 1);
    assert_eq!(m.hgetall_struct::<User>("m:bad").await, None);
    // Not a flat struct: 0, nothing written.
    assert_eq!(m.hset_struct("m:vec", &vec![1]).await, 0);
    assert!(!m.exists("m:vec").await);
    assert!(m.is_enabled(), "a value error does not disable the manager");
    assert_eq!(m.hgetall_struct::<User>("m:1").await, Some(ada()));

    // Redis gone: the defaults, without panicking.
    drop(server);
    assert_eq!(m.hset_struct("m:1", &ada()).await, 0);
    assert_eq!(m.hgetall_struct::<User>("m:1").await, None);
    m.disconnect().await;
}
