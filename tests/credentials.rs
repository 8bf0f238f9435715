//! Credentials that change, against real servers: a provider asked at every handshake
//! (reconnects, pooled connections, cluster nodes, a Sentinel-resolved master), the
//! scheduled re-`AUTH` on live connections, and provider failures as typed, prompt errors.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_manager::config::{
    BoxFuture, Config, ConfigBuilder, Credentials, CredentialsError, CredentialsProvider,
};
use redis_manager::{Client, Error, cmd};
use support::{RedisCluster, RedisServer, SentinelSetup};

/// A provider handing out whatever credentials the test last set, counting its calls.
#[derive(Default)]
struct Rotating {
    current: Mutex<Option<Credentials>>,
    calls: AtomicUsize,
}

impl Rotating {
    fn new(creds: Credentials) -> Arc<Rotating> {
        let p = Rotating::default();
        p.set(creds);
        Arc::new(p)
    }

    fn set(&self, creds: Credentials) {
        *self.current.lock().unwrap() = Some(creds);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl CredentialsProvider for Rotating {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let creds = self.current.lock().unwrap().clone();
        Box::pin(async move { creds.ok_or_else(|| CredentialsError::new("no credentials yet")) })
    }
}

fn base(port: u16) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(port)
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Some(Duration::from_secs(2)))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(50))
}

/// `ACL SETUSER name on >password ~* +@all`.
fn add_user(server: &RedisServer, name: &str, password: &str) {
    let reply = server.cli(&[
        "ACL",
        "SETUSER",
        name,
        "on",
        &format!(">{password}"),
        "~*",
        "&*",
        "+@all",
    ]);
    assert!(reply.contains("OK"), "{reply}");
}

async fn whoami(client: &Client) -> String {
    client.query(cmd("ACL").arg("WHOAMI")).await.unwrap()
}

/// Runs `step` until it succeeds, for at most 10 s.
async fn eventually<T>(what: &str, mut step: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = step().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_uses_the_rotated_password() {
    let server = RedisServer::with_args(&["--requirepass", "first-password"]);
    let provider = Rotating::new(Credentials::password("first-password"));
    let client = Client::connect(base(server.port()).credentials_provider(provider.clone()))
        .await
        .unwrap();
    client
        .query::<()>(cmd("SET").arg("k").arg(1))
        .await
        .unwrap();
    let asked = provider.calls();
    assert!(asked >= 1);

    // Rotate: the server takes only the new password, the provider gives it, and the
    // client's connections are cut.
    let reply = server.cli(&[
        "-a",
        "first-password",
        "--no-auth-warning",
        "CONFIG",
        "SET",
        "requirepass",
        "second-password",
    ]);
    assert!(reply.contains("OK"), "{reply}");
    provider.set(Credentials::password("second-password"));
    server.cli(&[
        "-a",
        "second-password",
        "--no-auth-warning",
        "CLIENT",
        "KILL",
        "TYPE",
        "normal",
    ]);
    let v: i64 = eventually("the client reconnected with the new password", async || {
        client.query(cmd("INCR").arg("k")).await.ok()
    })
    .await;
    assert!(v >= 2);
    assert!(provider.calls() > asked, "the reconnect asked the provider");

    // Exclusive (pooled) connections ask too.
    let before = provider.calls();
    let mut conn = client.exclusive().await.unwrap();
    let n: i64 = conn.query(cmd("INCR").arg("k")).await.unwrap();
    assert!(n > v);
    assert!(provider.calls() > before, "the exclusive connection asked");

    // The fixed password set beside a provider is not used: the provider replaces it.
    let client = Client::connect(
        base(server.port())
            .password("first-password")
            .credentials_provider(provider.clone()),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_reauth_reaches_live_connections() {
    let server = RedisServer::start();
    add_user(&server, "alice", "alice-token-1");
    add_user(&server, "bob", "bob-token-1");
    let provider = Rotating::new(Credentials::user("alice", "alice-token-1"));
    let client = Client::connect(
        base(server.port())
            .credentials_provider(provider.clone())
            .reauth_interval(Some(Duration::from_millis(100))),
    )
    .await
    .unwrap();
    assert_eq!(whoami(&client).await, "alice");
    let id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    // An idle pooled connection, given back to the pool.
    let conn = client.exclusive().await.unwrap();
    let idle_id = conn.client_id().expect("RESP3 learns the id");
    drop(conn);
    // A client that never used its shared connection: its exclusive one, idle, too.
    let exclusive_only = Client::new(
        base(server.port())
            .credentials_provider(provider.clone())
            .reauth_interval(Some(Duration::from_millis(100))),
    )
    .unwrap();
    let conn = exclusive_only.exclusive().await.unwrap();
    let lone_id = conn.client_id().expect("RESP3 learns the id");
    drop(conn);

    // AUTH as another user switches the connection's user: seeing `bob` on the same
    // connection (same client id, no reconnect) shows the re-AUTH arrived.
    provider.set(Credentials::user("bob", "bob-token-1"));
    eventually("the shared connection was re-authenticated", async || {
        (whoami(&client).await == "bob").then_some(())
    })
    .await;
    let same: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert_eq!(same, id, "re-authenticated in place, not reconnected");
    for id in [idle_id, lone_id] {
        eventually("the idle connection was re-authenticated", async || {
            let list = server.cli(&["CLIENT", "LIST", "ID", &id.to_string()]);
            list.contains("user=bob").then_some(())
        })
        .await;
    }

    // A refused re-AUTH (a token the server does not know) is logged, not fatal: the
    // connection keeps its user, and the server's ACL log records the attempts.
    provider.set(Credentials::user("bob", "expired-token"));
    eventually("the refused re-AUTH was logged by the server", async || {
        let log = server.cli(&["ACL", "LOG"]);
        log.contains("bob").then_some(())
    })
    .await;
    assert_eq!(whoami(&client).await, "bob");
    let same: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert_eq!(same, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failures_are_typed_errors_and_never_hang() {
    let server = RedisServer::with_args(&["--requirepass", "pw"]);
    // A provider error: the connect fails with it, its cause kept as the source.
    let failing = base(server.port())
        .credentials_fn(|| async { Err(CredentialsError::new("token service unreachable")) });
    let err = Client::connect(failing).await.unwrap_err();
    let Error::Credentials(e) = &err else {
        panic!("expected a credentials error, got {err:?}");
    };
    let cause = std::error::Error::source(e).unwrap().to_string();
    assert_eq!(cause, "token service unreachable");

    // A provider that never answers: the connect timeout ends the handshake.
    let stuck = base(server.port())
        .connect_timeout(Duration::from_millis(300))
        .credentials_fn(std::future::pending::<Result<Credentials, CredentialsError>>);
    let err = tokio::time::timeout(Duration::from_secs(10), Client::connect(stuck))
        .await
        .expect("the connect did not hang")
        .unwrap_err();
    assert!(err.is_timeout() && err.is_unsent(), "{err:?}");

    // Wrong credentials from a provider are an authentication error, as fixed ones are.
    let wrong = base(server.port()).credentials_fn(|| async { Ok(Credentials::password("no")) });
    let err = Client::connect(wrong).await.unwrap_err();
    assert!(err.is_auth_error(), "{err:?}");

    // A provider failing at a scheduled re-AUTH leaves the live connection as it is.
    let provider = Rotating::new(Credentials::password("pw"));
    let client = Client::connect(
        base(server.port())
            .credentials_provider(provider.clone())
            .reauth_interval(Some(Duration::from_millis(50))),
    )
    .await
    .unwrap();
    *provider.current.lock().unwrap() = None;
    let calls = provider.calls();
    eventually("the re-AUTH asked the provider", async || {
        (provider.calls() > calls + 1).then_some(())
    })
    .await;
    client.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_nodes_and_sentinel_masters_authenticate_with_the_provider() {
    let cluster = tokio::task::block_in_place(|| RedisCluster::start(3));
    for port in cluster.master_ports() {
        add_user(cluster.node_ref(port), "app", "cluster-token");
    }
    let provider = Rotating::new(Credentials::user("app", "cluster-token"));
    let client = Client::connect(cluster.config().credentials_provider(provider.clone()))
        .await
        .unwrap();
    // Keys on every master: each node's connection authenticated as `app`.
    for i in 0..30 {
        client
            .query::<()>(cmd("SET").arg(format!("key{i}")).arg(i))
            .await
            .unwrap();
    }
    for port in cluster.master_ports() {
        let list = cluster.node_ref(port).cli(&["CLIENT", "LIST"]);
        assert!(list.contains("user=app"), "node {port}: {list}");
    }
    assert!(provider.calls() >= 3, "one handshake per master at least");
    drop(client);
    drop(cluster);

    // Sentinel: the sentinels keep their own password; the master gets the provider's.
    let setup = tokio::task::block_in_place(|| SentinelSetup::start_with_password(Some("s3cret")));
    add_user(&setup.master, "app", "master-token");
    let provider = Rotating::new(Credentials::user("app", "master-token"));
    let client = Client::connect(
        setup
            .config()
            .sentinel_password("s3cret")
            .credentials_provider(provider.clone()),
    )
    .await
    .unwrap();
    assert_eq!(whoami(&client).await, "app");
    client
        .query::<()>(cmd("SET").arg("s").arg(1))
        .await
        .unwrap();
    assert_eq!(setup.master.cli(&["GET", "s"]).trim(), "1");
}
