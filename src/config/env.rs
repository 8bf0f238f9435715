//! The environment: the variable names ([`REDIS_URL`] and the rest), [`Config::from_env`]
//! and [`Config::from_lookup`], which reads through a closure so that tests never touch the
//! process environment.

use std::time::Duration;

use super::error::{invalid, missing};
use super::url::parse_node_list;
use super::{
    Config, ConfigError, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SENTINEL_PORT, ServerAddr, TlsOptions,
    TlsRoots,
};

/// `true` (any case) enables Redis; anything else, or unset, disables it.
pub const ENABLE_REDIS: &str = "ENABLE_REDIS";
/// A URL in any form [`Config::from_url`] accepts; when set, it alone gives host, port, db
/// and credentials (and `rediss://` turns TLS on, `redis+sentinel://` gives the sentinels).
pub const REDIS_URL: &str = "REDIS_URL";
/// Host name or IP address (default `localhost`).
pub const REDIS_HOST: &str = "REDIS_HOST";
/// TCP port (default 6379).
pub const REDIS_PORT: &str = "REDIS_PORT";
/// Database number (default 0).
pub const REDIS_DB: &str = "REDIS_DB";
/// Password (default none).
pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
/// ACL user name (default none).
pub const REDIS_USERNAME: &str = "REDIS_USERNAME";
/// Maximum pooled connections (default 10).
pub const REDIS_MAX_CONNECTIONS: &str = "REDIS_MAX_CONNECTIONS";
/// Response timeout in seconds, a decimal number (default 5.0; 0 disables it).
pub const REDIS_SOCKET_TIMEOUT: &str = "REDIS_SOCKET_TIMEOUT";
/// Connect (and handshake) timeout in seconds, a decimal number (default 5.0).
pub const REDIS_SOCKET_CONNECT_TIMEOUT: &str = "REDIS_SOCKET_CONNECT_TIMEOUT";
/// `true` (any case) connects over TLS; `false` (any case) or unset does not (unless
/// `REDIS_URL` is a `rediss://` URL); any other value is an error.
pub const REDIS_TLS: &str = "REDIS_TLS";
/// PEM file of the CA certificates to trust instead of the default roots.
pub const REDIS_TLS_CA_FILE: &str = "REDIS_TLS_CA_FILE";
/// PEM file of the client certificate chain, for mutual TLS; needs `REDIS_TLS_KEY_FILE`.
pub const REDIS_TLS_CERT_FILE: &str = "REDIS_TLS_CERT_FILE";
/// PEM file of the client's private key; needs `REDIS_TLS_CERT_FILE`.
pub const REDIS_TLS_KEY_FILE: &str = "REDIS_TLS_KEY_FILE";
/// The name to verify the server's certificate against (default: the host).
pub const REDIS_TLS_SERVER_NAME: &str = "REDIS_TLS_SERVER_NAME";
/// `builtin` (the default: Mozilla's roots compiled in) or `platform` (the platform's trust
/// store): the certificates that verify the server when `REDIS_TLS_CA_FILE` is not set (see
/// [`TlsRoots`]).
pub const REDIS_TLS_ROOTS: &str = "REDIS_TLS_ROOTS";
/// Redis Cluster seed nodes, comma-separated `host:port` (default none: not a cluster).
pub const REDIS_CLUSTER_NODES: &str = "REDIS_CLUSTER_NODES";
/// `true` (any case) lets a cluster client read from replicas (default false).
pub const REDIS_CLUSTER_READ_FROM_REPLICAS: &str = "REDIS_CLUSTER_READ_FROM_REPLICAS";
/// Sentinels, comma-separated `host[:port]` (port 26379 by default); needs
/// `REDIS_SENTINEL_MASTER`. Refused with a `redis+sentinel://` `REDIS_URL`, which names them.
pub const REDIS_SENTINELS: &str = "REDIS_SENTINELS";
/// The master name the sentinels monitor; needs `REDIS_SENTINELS`. Refused with a
/// `redis+sentinel://` `REDIS_URL`, which names it.
pub const REDIS_SENTINEL_MASTER: &str = "REDIS_SENTINEL_MASTER";
/// Password of the sentinels themselves (their `requirepass`), not the master's (default
/// none); needs `REDIS_SENTINELS` or a `redis+sentinel://` `REDIS_URL` without one.
pub const REDIS_SENTINEL_PASSWORD: &str = "REDIS_SENTINEL_PASSWORD";
/// ACL user name on the sentinels (default none); needs `REDIS_SENTINEL_PASSWORD`.
pub const REDIS_SENTINEL_USERNAME: &str = "REDIS_SENTINEL_USERNAME";

/// Client-side caching's memory budget in bytes; setting it turns caching on (default:
/// off). See [`ConfigBuilder::cache`](super::ConfigBuilder::cache).
pub const REDIS_CACHE_MAX_BYTES: &str = "REDIS_CACHE_MAX_BYTES";
/// The age limit of a client-side cache entry in seconds, a decimal number (default none);
/// needs `REDIS_CACHE_MAX_BYTES`.
pub const REDIS_CACHE_MAX_AGE: &str = "REDIS_CACHE_MAX_AGE";

/// Every variable [`Config::from_lookup`] reads.
const ALL: [&str; 24] = [
    ENABLE_REDIS,
    REDIS_URL,
    REDIS_HOST,
    REDIS_PORT,
    REDIS_DB,
    REDIS_PASSWORD,
    REDIS_USERNAME,
    REDIS_MAX_CONNECTIONS,
    REDIS_SOCKET_TIMEOUT,
    REDIS_SOCKET_CONNECT_TIMEOUT,
    REDIS_TLS,
    REDIS_TLS_CA_FILE,
    REDIS_TLS_CERT_FILE,
    REDIS_TLS_KEY_FILE,
    REDIS_TLS_SERVER_NAME,
    REDIS_TLS_ROOTS,
    REDIS_CLUSTER_NODES,
    REDIS_CLUSTER_READ_FROM_REPLICAS,
    REDIS_SENTINELS,
    REDIS_SENTINEL_MASTER,
    REDIS_SENTINEL_PASSWORD,
    REDIS_SENTINEL_USERNAME,
    REDIS_CACHE_MAX_BYTES,
    REDIS_CACHE_MAX_AGE,
];

const EXPECTED_PORT: &str = "expected a port number from 1 to 65535";
const EXPECTED_DB: &str = "expected a non-negative integer";
const EXPECTED_MAX: &str = "expected an integer of at least 1";
const EXPECTED_CACHE: &str = "expected a number of bytes of at least 1024";

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// See [`Config::from_lookup`] for the variables, their defaults and the rules. To
    /// change settings the environment does not give, continue with
    /// [`Config::into_builder`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first variable whose value cannot be used, or
    /// [`ConfigError::NotUnicode`] for a variable that is set but not valid Unicode.
    pub fn from_env() -> Result<Config, ConfigError> {
        let not_unicode = std::cell::Cell::new(None);
        let config = Config::from_lookup(|name| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                if not_unicode.get().is_none() {
                    let known = ALL.into_iter().find(|known| *known == name);
                    not_unicode.set(Some(known.unwrap_or("environment variable")));
                }
                None
            }
        });
        match not_unicode.get() {
            Some(variable) => Err(ConfigError::NotUnicode { variable }),
            None => config,
        }
    }

    /// Reads the configuration through `lookup`, which returns a variable's value or `None`
    /// when it is unset. [`Config::from_env`] passes `std::env::var`; tests pass a map.
    ///
    /// | variable | default | meaning |
    /// |---|---|---|
    /// | `ENABLE_REDIS` | false | `true` in any case enables Redis; any other value disables it |
    /// | `REDIS_URL` | unset | when set, gives host, port, db, username and password (see [`Config::from_url`]), TLS for `rediss://`, the sentinels for `redis+sentinel://`; the five variables below are then not read |
    /// | `REDIS_HOST` | `localhost` | host name or IP address |
    /// | `REDIS_PORT` | 6379 | 1 to 65535 |
    /// | `REDIS_DB` | 0 | non-negative integer |
    /// | `REDIS_PASSWORD` | none | password (`AUTH`) |
    /// | `REDIS_USERNAME` | none | ACL user name |
    /// | `REDIS_MAX_CONNECTIONS` | 10 | at least 1 |
    /// | `REDIS_SOCKET_TIMEOUT` | 5.0 | response timeout in seconds; `0` means no timeout |
    /// | `REDIS_SOCKET_CONNECT_TIMEOUT` | 5.0 | connect and handshake timeout in seconds; must be greater than 0 |
    /// | `REDIS_TLS` | false | `true` or `false` in any case; `true` connects over TLS ([`TlsOptions::new`]) |
    /// | `REDIS_TLS_CA_FILE` | none | PEM CA certificates to trust instead of the default roots |
    /// | `REDIS_TLS_CERT_FILE` | none | PEM client certificate chain (mutual TLS); needs `REDIS_TLS_KEY_FILE` |
    /// | `REDIS_TLS_KEY_FILE` | none | PEM client private key; needs `REDIS_TLS_CERT_FILE` |
    /// | `REDIS_TLS_SERVER_NAME` | the host | name to verify the server's certificate against |
    /// | `REDIS_TLS_ROOTS` | builtin | `builtin` (Mozilla's roots, compiled in) or `platform` (the platform's trust store), when no CA file is given |
    /// | `REDIS_CLUSTER_NODES` | none | cluster seed nodes, `host:port,host:port` |
    /// | `REDIS_CLUSTER_READ_FROM_REPLICAS` | false | `true` or `false` in any case |
    /// | `REDIS_SENTINELS` | none | sentinels, `host[:port],...` (port 26379 by default); needs `REDIS_SENTINEL_MASTER` |
    /// | `REDIS_SENTINEL_MASTER` | none | the master name the sentinels monitor; needs `REDIS_SENTINELS` |
    /// | `REDIS_SENTINEL_PASSWORD` | none | the sentinels' own password |
    /// | `REDIS_SENTINEL_USERNAME` | none | the sentinels' ACL user; needs `REDIS_SENTINEL_PASSWORD` |
    /// | `REDIS_CACHE_MAX_BYTES` | none | turns client-side caching on with this memory budget (at least 1024) |
    /// | `REDIS_CACHE_MAX_AGE` | none | client-side cache entry age limit in seconds; needs `REDIS_CACHE_MAX_BYTES` |
    ///
    /// `REDIS_URL` may turn caching on instead, with its `cache_max_bytes=`, `cache_max_age=`,
    /// `cache_mode=`, `cache_prefix=` and `cache_admission=` parameters (see [`Config::from_url`]); the two
    /// `REDIS_CACHE_*` variables are then refused.
    ///
    /// TLS is on when `REDIS_TLS` is `true` or `REDIS_URL` is a `rediss://` URL. The four
    /// `REDIS_TLS_*` file and name variables are refused while TLS is off, and
    /// `REDIS_TLS=false` is refused with a `rediss://` URL: a config that names certificates
    /// but would connect in plain text is a mistake worth stopping at startup. Verification
    /// cannot be switched off from the environment.
    ///
    /// With a `redis+sentinel://` `REDIS_URL`, `REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`
    /// are refused (the URL names both); `REDIS_SENTINEL_PASSWORD` and
    /// `REDIS_SENTINEL_USERNAME` may give what the URL does not, so that the secret can live
    /// in a variable of its own.
    ///
    /// A variable set to the empty string counts as unset. Numbers may have surrounding
    /// whitespace. Every variable is checked even when Redis is disabled, so a typo surfaces
    /// at startup rather than on the day Redis is switched on.
    ///
    /// Why `REDIS_SOCKET_TIMEOUT=0` means "no timeout": a zero timeout that fails every
    /// command is never what anyone wants, and 0-as-infinite is the usual convention. A
    /// connect timeout of 0 is refused instead, because connecting without a bound can hang
    /// for minutes on an unreachable host.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] naming the variable and its value (`REDIS_PORT=abc`,
    /// port 0, a negative, NaN or infinite timeout, `REDIS_MAX_CONNECTIONS=0`, a negative
    /// db, a `REDIS_TLS` other than true or false, a TLS variable while TLS is off),
    /// [`ConfigError::MissingValue`] for a certificate without its key or the reverse (and
    /// the sentinel pairs above), or a URL error for `REDIS_URL`. The password is never part
    /// of an error.
    ///
    /// Files are not read here; see [`TlsOptions`]. A TLS config is returned even by a build
    /// without the `tls` feature (creating a client refuses it there), so that parsing
    /// behaves the same in every build.
    pub fn from_lookup(
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut config = Config {
            enabled: get(ENABLE_REDIS).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ..Config::default()
        };
        if let Some(url) = get(REDIS_URL) {
            config.apply_url(REDIS_URL, &url)?;
        } else {
            let host = get(REDIS_HOST).unwrap_or_else(|| DEFAULT_HOST.to_owned());
            let port = match get(REDIS_PORT) {
                Some(v) => parse_number(REDIS_PORT, &v, |p| *p != 0, EXPECTED_PORT)?,
                None => DEFAULT_PORT,
            };
            config.addr = ServerAddr::Tcp { host, port };
            if let Some(v) = get(REDIS_DB) {
                config.db = parse_number(REDIS_DB, &v, |db| *db >= 0, EXPECTED_DB)?;
            }
            config.username = get(REDIS_USERNAME);
            config.password = get(REDIS_PASSWORD);
        }
        if let Some(v) = get(REDIS_MAX_CONNECTIONS) {
            config.max_connections =
                parse_number(REDIS_MAX_CONNECTIONS, &v, |n| *n >= 1, EXPECTED_MAX)?;
        }
        if let Some(v) = get(REDIS_SOCKET_TIMEOUT) {
            let t = parse_seconds(REDIS_SOCKET_TIMEOUT, &v)?;
            config.response_timeout = (!t.is_zero()).then_some(t);
        }
        if let Some(v) = get(REDIS_SOCKET_CONNECT_TIMEOUT) {
            let t = parse_seconds(REDIS_SOCKET_CONNECT_TIMEOUT, &v)?;
            if t.is_zero() {
                return Err(invalid(
                    REDIS_SOCKET_CONNECT_TIMEOUT,
                    &v,
                    "must be greater than zero",
                ));
            }
            config.connect_timeout = t;
        }
        config.tls = tls_from_lookup(&mut get, config.tls.take())?;
        if let Some(v) = get(REDIS_CLUSTER_NODES) {
            config.cluster_nodes = parse_node_list(REDIS_CLUSTER_NODES, &v, DEFAULT_PORT)?;
            if let Some(first) = config.cluster_nodes.first() {
                config.addr = first.clone();
            }
        }
        if let Some(v) = get(REDIS_CLUSTER_READ_FROM_REPLICAS) {
            config.read_from_replicas = match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(
                        REDIS_CLUSTER_READ_FROM_REPLICAS,
                        &v,
                        "expected true or false",
                    ));
                }
            };
        }
        sentinels_from_lookup(&mut get, &mut config)?;
        let cache_vars = (get(REDIS_CACHE_MAX_BYTES), get(REDIS_CACHE_MAX_AGE));
        if config.cache.is_some() {
            // `REDIS_URL` turned caching on: a variable too would be two settings for one.
            for (variable, value) in [
                (REDIS_CACHE_MAX_BYTES, &cache_vars.0),
                (REDIS_CACHE_MAX_AGE, &cache_vars.1),
            ] {
                if let Some(value) = value {
                    return Err(invalid(
                        variable,
                        value,
                        "conflicts with the cache_ parameters of REDIS_URL",
                    ));
                }
            }
        }
        config.cache = match cache_vars {
            (Some(bytes), age) => {
                let max = parse_number(
                    REDIS_CACHE_MAX_BYTES,
                    &bytes,
                    |n| *n >= 1024,
                    EXPECTED_CACHE,
                )?;
                let mut cache = super::CacheConfig::new(max);
                if let Some(age) = age {
                    let t = parse_seconds(REDIS_CACHE_MAX_AGE, &age)?;
                    if t.is_zero() {
                        return Err(invalid(
                            REDIS_CACHE_MAX_AGE,
                            &age,
                            "must be greater than zero",
                        ));
                    }
                    cache = cache.max_age(t);
                }
                Some(cache)
            }
            (None, Some(_)) => return Err(missing(REDIS_CACHE_MAX_BYTES, REDIS_CACHE_MAX_AGE)),
            (None, None) => config.cache.take(),
        };
        config.check_settings()?;
        Ok(config)
    }
}

/// Applies the `REDIS_SENTINEL*` variables to `config` (which `REDIS_URL` may have given
/// sentinels and their credentials).
fn sentinels_from_lookup(
    get: &mut impl FnMut(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    let (list, master) = (get(REDIS_SENTINELS), get(REDIS_SENTINEL_MASTER));
    if !config.sentinels.is_empty() {
        for (variable, value) in [(REDIS_SENTINELS, list), (REDIS_SENTINEL_MASTER, master)] {
            if let Some(value) = value {
                return Err(invalid(
                    variable,
                    &value,
                    "conflicts with the redis+sentinel:// REDIS_URL, which names the sentinels and the master",
                ));
            }
        }
    } else {
        match (list, master) {
            (Some(list), Some(master)) => {
                config.sentinels = parse_node_list(REDIS_SENTINELS, &list, DEFAULT_SENTINEL_PORT)?;
                config.sentinel_master = Some(master);
            }
            (Some(_), None) => return Err(missing(REDIS_SENTINEL_MASTER, REDIS_SENTINELS)),
            (None, Some(_)) => return Err(missing(REDIS_SENTINELS, REDIS_SENTINEL_MASTER)),
            (None, None) => {}
        }
    }
    for (variable, slot) in [
        (REDIS_SENTINEL_PASSWORD, &mut config.sentinel_password),
        (REDIS_SENTINEL_USERNAME, &mut config.sentinel_username),
    ] {
        if let Some(value) = get(variable) {
            if slot.is_some() {
                // The value may be a password: never show it.
                return Err(invalid(
                    variable,
                    "***",
                    "conflicts with the one in REDIS_URL",
                ));
            }
            *slot = Some(value);
        }
    }
    if config.sentinel_password.is_some() && config.sentinels.is_empty() {
        return Err(missing(REDIS_SENTINELS, REDIS_SENTINEL_PASSWORD));
    }
    if config.sentinel_username.is_some() && config.sentinel_password.is_none() {
        return Err(missing(REDIS_SENTINEL_PASSWORD, REDIS_SENTINEL_USERNAME));
    }
    Ok(())
}

/// Applies the `REDIS_TLS*` variables to `tls` (what `REDIS_URL` gave).
fn tls_from_lookup(
    get: &mut impl FnMut(&str) -> Option<String>,
    tls: Option<TlsOptions>,
) -> Result<Option<TlsOptions>, ConfigError> {
    let from_url = tls.is_some();
    let mut tls = match get(REDIS_TLS) {
        None => tls,
        Some(v) if v.eq_ignore_ascii_case("true") => tls.or_else(|| Some(TlsOptions::new())),
        Some(v) if v.eq_ignore_ascii_case("false") => {
            if from_url {
                return Err(invalid(
                    REDIS_TLS,
                    &v,
                    "contradicts the rediss:// scheme of REDIS_URL",
                ));
            }
            None
        }
        Some(v) => return Err(invalid(REDIS_TLS, &v, "expected true or false")),
    };
    let ca = get(REDIS_TLS_CA_FILE);
    let cert = get(REDIS_TLS_CERT_FILE);
    let key = get(REDIS_TLS_KEY_FILE);
    let name = get(REDIS_TLS_SERVER_NAME);
    let roots = get(REDIS_TLS_ROOTS);
    let Some(options) = &mut tls else {
        let set = [
            (REDIS_TLS_CA_FILE, &ca),
            (REDIS_TLS_CERT_FILE, &cert),
            (REDIS_TLS_KEY_FILE, &key),
            (REDIS_TLS_SERVER_NAME, &name),
            (REDIS_TLS_ROOTS, &roots),
        ];
        if let Some((variable, Some(value))) = set.into_iter().find(|(_, v)| v.is_some()) {
            return Err(invalid(
                variable,
                value,
                "is set but TLS is off (set REDIS_TLS=true or use a rediss:// REDIS_URL)",
            ));
        }
        return Ok(None);
    };
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (Some(_), None) => return Err(missing(REDIS_TLS_KEY_FILE, REDIS_TLS_CERT_FILE)),
        (None, Some(_)) => return Err(missing(REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE)),
        (None, None) => None,
    };
    options.set_files(ca, client_cert, name);
    if let Some(value) = roots {
        let roots = match value.trim().to_ascii_lowercase().as_str() {
            "builtin" => TlsRoots::Builtin,
            "platform" => TlsRoots::Platform,
            _ => {
                return Err(invalid(
                    REDIS_TLS_ROOTS,
                    &value,
                    "expected builtin or platform",
                ));
            }
        };
        options.set_roots(roots);
    }
    Ok(tls)
}

/// A number, with optional surrounding whitespace, that `ok` accepts.
fn parse_number<T: std::str::FromStr>(
    variable: &'static str,
    value: &str,
    ok: impl Fn(&T) -> bool,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let n = value.trim().parse::<T>().ok().filter(ok);
    n.ok_or_else(|| invalid(variable, value, expected))
}

/// Seconds as a decimal number (`5`, `0.25`, `1e-3`): finite, not negative, not so large
/// that it overflows a `Duration`.
fn parse_seconds(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| {
            invalid(
                variable,
                value,
                "expected a finite, non-negative number of seconds",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{lookup, tcp};
    use super::*;
    use crate::config::Protocol;

    #[test]
    fn env_values_parse_with_seed_defaults() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert!(!c.is_enabled());
        assert_eq!(c.addr(), &tcp("localhost", 6379));
        assert_eq!((c.db(), c.username(), c.password()), (0, None, None));
        assert_eq!(c.max_connections(), 10);
        assert_eq!(c.response_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(c.connect_timeout(), Duration::from_secs(5));
        assert_eq!(c.pool_acquire_timeout(), Duration::from_secs(5));
        assert_eq!(c.protocol(), Protocol::Resp3);

        let enabled = |v: &str| {
            Config::from_lookup(lookup(&[("ENABLE_REDIS", v)]))
                .unwrap()
                .is_enabled()
        };
        for v in ["true", "TRUE", "True", "tRuE"] {
            assert!(enabled(v), "{v}");
        }
        for v in ["", "false", "1", "yes", "on", " true", "true ", "truee"] {
            assert!(!enabled(v), "{v:?}");
        }
    }

    #[test]
    fn cache_variables_turn_caching_on_and_are_checked() {
        let c = Config::from_lookup(lookup(&[
            (REDIS_CACHE_MAX_BYTES, "1048576"),
            (REDIS_CACHE_MAX_AGE, "2.5"),
        ]))
        .unwrap();
        let cache = c.cache().unwrap();
        assert_eq!(cache.max_bytes(), 1 << 20);
        assert_eq!(cache.max_age_limit(), Some(Duration::from_millis(2500)));
        assert!(Config::from_lookup(lookup(&[])).unwrap().cache().is_none());
        for (vars, variable) in [
            (&[(REDIS_CACHE_MAX_BYTES, "100")][..], REDIS_CACHE_MAX_BYTES),
            (
                &[(REDIS_CACHE_MAX_BYTES, "lots")][..],
                REDIS_CACHE_MAX_BYTES,
            ),
            (
                &[(REDIS_CACHE_MAX_BYTES, "4096"), (REDIS_CACHE_MAX_AGE, "0")][..],
                REDIS_CACHE_MAX_AGE,
            ),
            (&[(REDIS_CACHE_MAX_AGE, "1")][..], REDIS_CACHE_MAX_BYTES),
        ] {
            let err = Config::from_lookup(lookup(vars)).unwrap_err();
            assert_eq!(err.variable(), variable, "{vars:?}: {err}");
        }
    }

    #[test]
    fn a_cache_in_redis_url_stands_alone() {
        let url = (REDIS_URL, "redis://h?cache_max_bytes=4096&cache_mode=optin");
        let c = Config::from_lookup(lookup(&[url])).unwrap();
        let cache = c.cache().expect("the url turns caching on");
        assert_eq!(cache.max_bytes(), 4096);
        assert_eq!(cache.tracking_mode(), &crate::config::TrackingMode::OptIn);
        for var in [REDIS_CACHE_MAX_BYTES, REDIS_CACHE_MAX_AGE] {
            let err = Config::from_lookup(lookup(&[url, (var, "8192")])).unwrap_err();
            assert_eq!(err.variable(), var, "{err}");
        }
        // A URL without cache parameters leaves the variables in charge.
        let c = Config::from_lookup(lookup(&[
            (REDIS_URL, "redis://h"),
            (REDIS_CACHE_MAX_BYTES, "8192"),
        ]))
        .unwrap();
        assert_eq!(c.cache().map(|c| c.max_bytes()), Some(8192));
    }

    #[test]
    fn env_numbers_are_checked() {
        type Check = fn(&Config) -> bool;
        #[rustfmt::skip]
        let ok: &[(&str, &str, Check)] = &[
            ("REDIS_PORT", "6380", |c| c.port() == Some(6380)),
            ("REDIS_PORT", " 1 ", |c| c.port() == Some(1)),
            ("REDIS_PORT", "65535", |c| c.port() == Some(65535)),
            ("REDIS_DB", "15", |c| c.db() == 15),
            ("REDIS_MAX_CONNECTIONS", "1", |c| c.max_connections() == 1),
            ("REDIS_SOCKET_TIMEOUT", "0.25", |c| c.response_timeout() == Some(Duration::from_millis(250))),
            ("REDIS_SOCKET_TIMEOUT", "2", |c| c.response_timeout() == Some(Duration::from_secs(2))),
            ("REDIS_SOCKET_TIMEOUT", "0", |c| c.response_timeout().is_none()),
            ("REDIS_SOCKET_TIMEOUT", "0.0", |c| c.response_timeout().is_none()),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "1e-3", |c| c.connect_timeout() == Duration::from_millis(1)),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "1.5", |c| c.pool_acquire_timeout() == Duration::from_millis(1500)),
            ("REDIS_PORT", "", |c| c.port() == Some(6379)),
        ];
        for (var, value, check) in ok {
            let c = Config::from_lookup(lookup(&[(var, value)]))
                .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            assert!(check(&c), "{var}={value}: {c:?}");
        }
        let bad = [
            ("REDIS_PORT", "abc"),
            ("REDIS_PORT", "0"),
            ("REDIS_PORT", "65536"),
            ("REDIS_PORT", "-1"),
            ("REDIS_PORT", "6379.0"),
            ("REDIS_DB", "-1"),
            ("REDIS_DB", "one"),
            ("REDIS_MAX_CONNECTIONS", "0"),
            ("REDIS_MAX_CONNECTIONS", "-3"),
            ("REDIS_MAX_CONNECTIONS", "ten"),
            ("REDIS_SOCKET_TIMEOUT", "-1"),
            ("REDIS_SOCKET_TIMEOUT", "-0.001"),
            ("REDIS_SOCKET_TIMEOUT", "NaN"),
            ("REDIS_SOCKET_TIMEOUT", "inf"),
            ("REDIS_SOCKET_TIMEOUT", "-inf"),
            ("REDIS_SOCKET_TIMEOUT", "1e300"),
            ("REDIS_SOCKET_TIMEOUT", "5s"),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "0"),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "-5"),
        ];
        for (var, value) in bad {
            let err = Config::from_lookup(lookup(&[(var, value)])).expect_err(value);
            match &err {
                ConfigError::InvalidValue {
                    variable, value: v, ..
                } => {
                    assert_eq!((*variable, v.as_str()), (var, value));
                }
                other => panic!("{var}={value}: {other:?}"),
            }
            let shown = err.to_string();
            assert!(shown.contains(var) && shown.contains(value), "{shown}");
        }
    }

    #[test]
    fn tls_env_variables_build_tls_options() {
        type Case = (&'static [(&'static str, &'static str)], Option<TlsOptions>);
        let cases: &[Case] = &[
            (&[], None),
            (&[("REDIS_TLS", "")], None),
            (&[("REDIS_TLS", "false")], None),
            (&[("REDIS_TLS", "FALSE")], None),
            (&[("REDIS_TLS", "true")], Some(TlsOptions::new())),
            (&[("REDIS_TLS", "True")], Some(TlsOptions::new())),
            (&[("REDIS_URL", "rediss://h")], Some(TlsOptions::new())),
            (
                &[("REDIS_URL", "rediss://h"), ("REDIS_TLS", "true")],
                Some(TlsOptions::new()),
            ),
            (
                &[("REDIS_URL", "redis://h"), ("REDIS_TLS", "true")],
                Some(TlsOptions::new()),
            ),
            (
                &[
                    ("REDIS_TLS", "true"),
                    ("REDIS_TLS_CA_FILE", "/ca.pem"),
                    ("REDIS_TLS_CERT_FILE", "/c.pem"),
                    ("REDIS_TLS_KEY_FILE", "/c.key"),
                    ("REDIS_TLS_SERVER_NAME", "redis.internal"),
                ],
                Some(
                    TlsOptions::builder()
                        .ca_file("/ca.pem")
                        .client_cert("/c.pem", "/c.key")
                        .server_name("redis.internal")
                        .build(),
                ),
            ),
            (
                &[
                    ("REDIS_URL", "rediss://h"),
                    ("REDIS_TLS_CA_FILE", "/ca.pem"),
                ],
                Some(TlsOptions::builder().ca_file("/ca.pem").build()),
            ),
            (
                &[("REDIS_URL", "rediss://h"), ("REDIS_TLS_ROOTS", "Platform")],
                Some(TlsOptions::builder().roots(TlsRoots::Platform).build()),
            ),
            (
                &[("REDIS_TLS", "true"), ("REDIS_TLS_ROOTS", "builtin")],
                Some(TlsOptions::new()),
            ),
        ];
        for (vars, want) in cases {
            let c = Config::from_lookup(lookup(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!(c.tls(), want.as_ref(), "{vars:?}");
        }
    }

    #[test]
    fn inconsistent_tls_env_variables_are_errors_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("REDIS_TLS", "yes")], "REDIS_TLS"),
            (&[("REDIS_TLS", "1")], "REDIS_TLS"),
            (&[("REDIS_TLS", " true")], "REDIS_TLS"),
            (
                &[("REDIS_URL", "rediss://h"), ("REDIS_TLS", "false")],
                "REDIS_TLS",
            ),
            (&[("REDIS_TLS_CA_FILE", "/ca.pem")], "REDIS_TLS_CA_FILE"),
            (
                &[("REDIS_TLS", "false"), ("REDIS_TLS_SERVER_NAME", "n")],
                "REDIS_TLS_SERVER_NAME",
            ),
            (
                &[("REDIS_TLS", "true"), ("REDIS_TLS_CERT_FILE", "/c.pem")],
                "REDIS_TLS_KEY_FILE",
            ),
            (
                &[("REDIS_TLS", "true"), ("REDIS_TLS_KEY_FILE", "/c.key")],
                "REDIS_TLS_CERT_FILE",
            ),
            (&[("REDIS_TLS", "true"), ("REDIS_URL", "unix:///s")], "tls"),
            (&[("REDIS_TLS_ROOTS", "platform")], "REDIS_TLS_ROOTS"),
            (
                &[("REDIS_TLS", "true"), ("REDIS_TLS_ROOTS", "system")],
                "REDIS_TLS_ROOTS",
            ),
        ];
        for (vars, variable) in cases {
            let err = Config::from_lookup(lookup(vars)).expect_err(&format!("{vars:?}"));
            assert_eq!(err.variable(), *variable, "{vars:?}: {err}");
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    #[test]
    fn a_sentinel_redis_url_gives_the_sentinels_and_variables_may_add_their_credentials() {
        let url = ("REDIS_URL", "redis+sentinel://:master-pw@h1,h2:26380/m/1");
        let c = Config::from_lookup(lookup(&[url])).unwrap();
        assert_eq!(c.sentinels(), [tcp("h1", 26379), tcp("h2", 26380)]);
        assert_eq!((c.sentinel_master(), c.db()), (Some("m"), 1));
        assert_eq!(
            (c.password(), c.sentinel_password()),
            (Some("master-pw"), None)
        );

        let c = Config::from_lookup(lookup(&[
            url,
            ("REDIS_SENTINEL_PASSWORD", "s-pw"),
            ("REDIS_SENTINEL_USERNAME", "watcher"),
        ]))
        .unwrap();
        assert_eq!(c.sentinel_password(), Some("s-pw"));
        assert_eq!(c.sentinel_username(), Some("watcher"));
        assert_eq!(c.password(), Some("master-pw"));

        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[url, ("REDIS_SENTINELS", "h3")], "REDIS_SENTINELS"),
            (
                &[url, ("REDIS_SENTINEL_MASTER", "m")],
                "REDIS_SENTINEL_MASTER",
            ),
            (
                &[
                    (
                        "REDIS_URL",
                        "redis+sentinel://h/m?sentinel_password=hunter2",
                    ),
                    ("REDIS_SENTINEL_PASSWORD", "hunter3"),
                ],
                "REDIS_SENTINEL_PASSWORD",
            ),
            (
                &[url, ("REDIS_SENTINEL_USERNAME", "watcher")],
                "REDIS_SENTINEL_PASSWORD",
            ),
            (
                &[
                    ("REDIS_URL", "redis+sentinel://h/m"),
                    ("REDIS_CLUSTER_NODES", "h:7000"),
                ],
                "sentinel",
            ),
        ];
        for (vars, variable) in cases {
            let err = Config::from_lookup(lookup(vars)).expect_err(variable);
            assert_eq!(err.variable(), *variable, "{vars:?}: {err}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("hunter"), "{shown}");
        }
    }

    #[test]
    fn not_unicode_errors_name_every_known_variable() {
        // `from_env` maps a name to its `'static` constant through `ALL`.
        for name in [
            REDIS_SENTINEL_PASSWORD,
            REDIS_SENTINEL_USERNAME,
            ENABLE_REDIS,
        ] {
            assert!(ALL.contains(&name), "{name}");
        }
        let mut sorted = ALL.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len(), "no name twice");
    }
}
