//! Sentinel: the client finds the master through three sentinels and follows a failover
//! (the master killed, its replica promoted) without a restart; a lock and a rate limiter
//! stay correct across it.

mod support;

use std::time::Duration;

use redis_manager::manager::{DistributedLock, RateLimiter};
use redis_manager::{Client, Error, RedisManager, cmd};
use support::SentinelSetup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_follows_the_master_across_a_failover() {
    let mut setup = tokio::task::block_in_place(SentinelSetup::start);
    let client = Client::connect(setup.config()).await.expect("connect");
    client
        .query::<()>(cmd("SET").arg("a").arg(1))
        .await
        .unwrap();
    assert_eq!(
        setup.master.cli(&["GET", "a"]),
        "1",
        "writes go to the master"
    );

    let manager = RedisManager::new(setup.config());
    assert!(manager.initialize().await);
    let lock = DistributedLock::new(&manager, "res")
        .lease(Duration::from_secs(60))
        .wait(Duration::ZERO);
    let guard = lock.acquire().await.expect("lock");
    let limiter = RateLimiter::new(&manager, 3, Duration::from_secs(120));
    assert!(limiter.check_rate_limit("u").await.allowed);
    assert!(limiter.check_rate_limit("u").await.allowed);
    // Everything so far is on the replica before the master dies.
    let acked: i64 = client.query(cmd("WAIT").arg(1).arg(5000)).await.unwrap();
    assert_eq!(acked, 1);

    let replica_port = setup.replica.port();
    setup.master.kill();

    // Commands fail while there is no master, then succeed against the promoted replica.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        match client.query::<()>(cmd("SET").arg("b").arg(2)).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    e.is_connection_error() || matches!(e, Error::NoMaster { .. }),
                    "unexpected error during failover: {e:?}"
                );
                assert!(tokio::time::Instant::now() < deadline, "no recovery: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(setup.current_master_port(), Some(replica_port));
    assert_eq!(
        setup.replica.cli(&["GET", "b"]),
        "2",
        "writes go to the new master"
    );
    let a: Option<i64> = client.query(cmd("GET").arg("a")).await.unwrap();
    assert_eq!(a, Some(1), "replicated data survived the failover");

    // The manager recovers too (its operations fall back to defaults meanwhile).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !manager.set("m", "after").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "manager did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The lock is still held: nobody else gets it, and its holder can release it.
    let err = lock.acquire().await.expect_err("the lock is still held");
    assert!(err.is_not_acquired(), "{err:?}");
    assert!(
        guard.release().await.unwrap(),
        "the holder still owned the lock"
    );
    // The rate limiter kept its count: one more request allowed, then denied.
    assert!(limiter.check_rate_limit("u").await.allowed);
    assert!(!limiter.check_rate_limit("u").await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_that_require_a_password_are_asked_with_their_own() {
    let setup = tokio::task::block_in_place(|| SentinelSetup::start_with_password(Some("s3cret")));
    // Without the sentinels' password, or with a wrong one, the master cannot be found, and
    // the error says why (not a bare "no master"), whether connecting or on first use.
    for config in [setup.config(), setup.config().sentinel_password("wrong")] {
        let err = match Client::connect(config).await {
            Ok(client) => client.query::<()>(cmd("PING")).await.unwrap_err(),
            Err(err) => err,
        };
        assert!(err.is_auth_error(), "{err:?}");
    }
    let client = Client::connect(setup.config().sentinel_password("s3cret"))
        .await
        .expect("connect through sentinels that require a password");
    client
        .query::<()>(cmd("SET").arg("a").arg(1))
        .await
        .unwrap();
    assert_eq!(setup.master.cli(&["GET", "a"]), "1");
}

/// `redis+sentinel://`: the sentinels, the master name and the db from the path, the
/// sentinels' own password from the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_url_finds_the_master() {
    let setup = tokio::task::block_in_place(|| SentinelSetup::start_with_password(Some("s3cret")));
    let config = setup.config().build().unwrap();
    let hosts: Vec<String> = config.sentinels().iter().map(|a| a.to_string()).collect();
    let master = config.sentinel_master().unwrap();
    let url = format!(
        "redis+sentinel://{}/{master}/3?sentinel_password=s3cret",
        hosts.join(",")
    );
    let client = Client::connect(&url)
        .await
        .expect("connect through the url");
    client
        .query::<()>(cmd("SET").arg("from").arg("url"))
        .await
        .unwrap();
    assert_eq!(setup.master.cli(&["-n", "3", "GET", "from"]), "url");
    // Without the sentinels' password in the url, they refuse to name the master.
    let without = url.replace("?sentinel_password=s3cret", "");
    let err = match Client::connect(&without).await {
        Ok(client) => client.query::<()>(cmd("PING")).await.unwrap_err(),
        Err(err) => err,
    };
    assert!(err.is_auth_error(), "{err:?}");
}

#[test]
fn sentinel_config_comes_from_the_environment() {
    use redis_manager::ServerAddr;
    let env = |name: &str| match name {
        "REDIS_SENTINELS" => Some("127.0.0.1:26379,127.0.0.1".to_owned()),
        "REDIS_SENTINEL_MASTER" => Some("mymaster".to_owned()),
        _ => None,
    };
    let c = redis_manager::Config::from_lookup(env).unwrap();
    assert_eq!(c.sentinel_master(), Some("mymaster"));
    let tcp = |port| ServerAddr::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    assert_eq!(c.sentinels(), [tcp(26379), tcp(26379)]);
    let only_list = |name: &str| (name == "REDIS_SENTINELS").then(|| "h:1".to_owned());
    assert!(redis_manager::Config::from_lookup(only_list).is_err());
    assert_eq!(c.sentinel_password(), None);

    // The sentinels' own credentials, apart from the master's.
    let with_auth = |name: &str| match name {
        "REDIS_SENTINEL_PASSWORD" => Some("s3cret".to_owned()),
        "REDIS_SENTINEL_USERNAME" => Some("watcher".to_owned()),
        "REDIS_PASSWORD" => Some("master-pw".to_owned()),
        other => env(other),
    };
    let c = redis_manager::Config::from_lookup(with_auth).unwrap();
    assert_eq!(c.sentinel_password(), Some("s3cret"));
    assert_eq!(c.sentinel_username(), Some("watcher"));
    assert_eq!(c.password(), Some("master-pw"));
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "the password is redacted"
    );
    let no_sentinels = |name: &str| (name == "REDIS_SENTINEL_PASSWORD").then(|| "x".to_owned());
    assert!(matches!(
        redis_manager::Config::from_lookup(no_sentinels),
        Err(redis_manager::ConfigError::MissingValue {
            variable: "REDIS_SENTINELS",
            ..
        })
    ));
    let user_only = |name: &str| match name {
        "REDIS_SENTINEL_USERNAME" => Some("watcher".to_owned()),
        other => env(other),
    };
    assert!(matches!(
        redis_manager::Config::from_lookup(user_only),
        Err(redis_manager::ConfigError::MissingValue {
            variable: "REDIS_SENTINEL_PASSWORD",
            ..
        })
    ));
}
