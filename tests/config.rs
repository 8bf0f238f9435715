//! The public configuration API: defaults, environment, URLs, and keeping the password secret.
//! Every test reads variables through `Config::from_lookup`; none touches the process
//! environment, so they can run in parallel.

use std::collections::HashMap;
use std::time::Duration;

use redis_manager::config::{Config, ConfigError, Protocol, ServerAddr};

const SECRET: &str = "correct-horse-battery-staple";

fn from_vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<&str, &str> = vars.iter().copied().collect();
    Config::from_lookup(|name| map.get(name).map(|v| v.to_string()))
}

fn tcp(host: &str, port: u16) -> ServerAddr {
    ServerAddr::Tcp {
        host: host.to_owned(),
        port,
    }
}

#[test]
fn unset_environment_gives_the_seed_defaults_and_disabled() {
    let c = from_vars(&[]).unwrap();
    assert!(!c.is_enabled());
    assert_eq!(c.addr(), &tcp("localhost", 6379));
    assert_eq!(c.db(), 0);
    assert_eq!(c.username(), None);
    assert_eq!(c.password(), None);
    assert_eq!(c.max_connections(), 10);
    assert_eq!(c.response_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(c.connect_timeout(), Duration::from_secs(5));
    assert_eq!(c.protocol(), Protocol::Resp3);
    assert_eq!(c, Config::builder().enabled(false).build().unwrap());
}

#[test]
fn default_config_is_enabled_and_valid() {
    let c = Config::builder().build().unwrap();
    assert!(c.is_enabled());
    assert_eq!(c, Config::default());
    assert_eq!(c.pool_acquire_timeout(), c.connect_timeout());
    assert_eq!(c.reconnect_min_delay(), Duration::from_millis(50));
    assert_eq!(c.reconnect_max_delay(), Duration::from_secs(5));
}

#[test]
fn every_seed_variable_is_read() {
    let c = from_vars(&[
        ("ENABLE_REDIS", "True"),
        ("REDIS_HOST", "cache.internal"),
        ("REDIS_PORT", "6380"),
        ("REDIS_DB", "3"),
        ("REDIS_PASSWORD", SECRET),
        ("REDIS_USERNAME", "app"),
        ("REDIS_MAX_CONNECTIONS", "32"),
        ("REDIS_SOCKET_TIMEOUT", "1.5"),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.25"),
    ])
    .unwrap();
    assert!(c.is_enabled());
    assert_eq!(c.addr(), &tcp("cache.internal", 6380));
    assert_eq!(c.db(), 3);
    assert_eq!(c.password(), Some(SECRET));
    assert_eq!(c.username(), Some("app"));
    assert_eq!(c.max_connections(), 32);
    assert_eq!(c.response_timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(c.connect_timeout(), Duration::from_millis(250));
}

#[test]
fn empty_username_and_password_mean_none() {
    let c = from_vars(&[("REDIS_USERNAME", ""), ("REDIS_PASSWORD", "")]).unwrap();
    assert_eq!((c.username(), c.password()), (None, None));
}

#[test]
fn socket_timeout_zero_means_no_timeout() {
    let c = from_vars(&[("REDIS_SOCKET_TIMEOUT", "0")]).unwrap();
    assert_eq!(c.response_timeout(), None);
}

#[test]
fn redis_url_gives_the_connection_fields_and_wins_over_the_variables() {
    let c = from_vars(&[
        ("REDIS_URL", "redis://app:p%40ss@10.0.0.5:7000/4"),
        ("REDIS_HOST", "ignored"),
        ("REDIS_PORT", "not-even-read"),
        ("REDIS_PASSWORD", "ignored"),
        ("REDIS_MAX_CONNECTIONS", "2"),
    ])
    .unwrap();
    assert_eq!(c.addr(), &tcp("10.0.0.5", 7000));
    assert_eq!(c.db(), 4);
    assert_eq!(c.username(), Some("app"));
    assert_eq!(c.password(), Some("p@ss"));
    assert_eq!(
        c.max_connections(),
        2,
        "pool settings still come from variables"
    );

    let unix = from_vars(&[("REDIS_URL", "unix:///var/run/redis.sock?db=9")]).unwrap();
    assert_eq!(unix.unix_socket(), Some("/var/run/redis.sock".as_ref()));
    assert_eq!(unix.db(), 9);

    let v6 = Config::from_url("redis://:pw@[::1]:6390").unwrap();
    assert_eq!(v6.addr(), &tcp("::1", 6390));
    assert_eq!(v6.addr().to_string(), "[::1]:6390");
    assert_eq!((v6.username(), v6.password()), (None, Some("pw")));
}

#[test]
fn bad_values_name_the_variable_and_the_value() {
    let cases = [
        ("REDIS_PORT", "abc"),
        ("REDIS_PORT", "0"),
        ("REDIS_PORT", "70000"),
        ("REDIS_DB", "-2"),
        ("REDIS_MAX_CONNECTIONS", "0"),
        ("REDIS_SOCKET_TIMEOUT", "-1"),
        ("REDIS_SOCKET_TIMEOUT", "NaN"),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "inf"),
    ];
    for (var, value) in cases {
        let err = from_vars(&[(var, value)]).unwrap_err();
        assert_eq!(err.variable(), var);
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(var) && message.contains(value),
            "{message}"
        );
        assert!(message.starts_with("invalid "), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

#[test]
fn url_errors_are_typed() {
    let err = from_vars(&[("REDIS_URL", "http://h")]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnsupportedScheme { variable: "REDIS_URL", scheme, .. } if scheme == "http"),
        "{err:?}"
    );
    let err = Config::from_url("redis://h:port").unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::InvalidUrl {
                variable: "url",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn password_never_appears_in_debug_or_errors() {
    let from_env = from_vars(&[("REDIS_PASSWORD", SECRET), ("REDIS_USERNAME", "app")]).unwrap();
    let built = Config::builder()
        .username("app")
        .password(SECRET)
        .build()
        .unwrap();
    let from_url = Config::from_url(&format!("redis://app:{SECRET}@h:1/2")).unwrap();
    for config in [&from_env, &built, &from_url] {
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            shown.contains("app"),
            "the user name is not secret: {shown}"
        );
    }

    let bad_urls = [
        format!("redis://app:{SECRET}@h:notaport"),
        format!("redis://app:{SECRET}@h/x"),
        format!("ftp://app:{SECRET}@h"),
        format!("redis://h?password={SECRET}&bogus=1"),
        format!("unix://app:{SECRET}@relative"),
    ];
    for url in &bad_urls {
        for err in [
            Config::from_url(url).unwrap_err(),
            from_vars(&[("REDIS_URL", url)]).unwrap_err(),
        ] {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }
}

#[test]
fn config_errors_convert_into_the_crate_error() {
    let err: redis_manager::Error = Config::from_url("nope").unwrap_err().into();
    assert!(matches!(err, redis_manager::Error::Config(_)));
}
