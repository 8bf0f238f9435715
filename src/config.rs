//! [`Config`]: connection settings, from code, from the environment, or from a URL.
//!
//! Design note. Three ways in, one set of rules:
//!
//! - In code: `Config::default()` and consuming builder methods. Builders accept any value;
//!   [`Config::validate`] checks them (the client calls it before connecting), so a builder
//!   chain never panics and never needs `?` at every step.
//! - From the environment: [`Config::from_env`] reads exactly the variables of the seed
//!   document. All parsing goes through [`Config::from_lookup`], which takes the lookup as a
//!   closure so tests never touch the process environment.
//! - From a URL: [`Config::from_url`], also used for `REDIS_URL`.
//!
//! TLS: [`TlsOptions`], set with [`Config::tls`], by a `rediss://` URL or by `REDIS_TLS=true`.
//! Certificates and host names are verified unless the loudly named
//! [`TlsOptions::danger_accept_invalid_certs`] is called; no URL parameter or environment
//! variable can turn verification off, so a deployment setting cannot weaken it by accident.
//! The options are plain data here (this module does no I/O): the files are read when a
//! client is created, and a build without the `tls` cargo feature refuses a TLS config in
//! [`Config::validate`] rather than connecting in plain text.
//!
//! Secrets: the password is never printed. `Debug` shows `<redacted>`; errors about a URL show
//! it with the password (and any query value other than `db` and `protocol`) replaced by `***`;
//! error reasons are fixed strings, never slices of the input, so a malformed URL cannot leak
//! part of a password through them either. Builders and getters are named like
//! `std::process::Command`'s: `host("h")` sets, `get_host()` reads.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default host: `localhost`.
pub const DEFAULT_HOST: &str = "localhost";
/// Default port: 6379.
pub const DEFAULT_PORT: u16 = 6379;
/// Default maximum number of pooled connections: 10.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10;
/// Default response (socket) timeout and connect timeout: 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a subscriber's connection may stay silent before it is checked with `PING`.
pub const DEFAULT_SUBSCRIBER_PING_INTERVAL: Duration = Duration::from_secs(30);
/// Default first reconnect delay: 50 ms.
pub const DEFAULT_RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Default cap on the reconnect delay: 5 s.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    /// A TCP address. `host` is a name or an IP address; IPv6 addresses are stored without
    /// brackets (`::1`).
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port, 1 to 65535.
        port: u16,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
}

impl Default for ServerAddr {
    fn default() -> Self {
        ServerAddr::Tcp {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
        }
    }
}

impl fmt::Display for ServerAddr {
    /// `host:port`, `[::1]:port`, or `unix:/path/to.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ServerAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            ServerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Which RESP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// Try RESP3 (`HELLO 3`) and fall back to RESP2 when the server rejects `HELLO`
    /// (Redis before 6). The default.
    #[default]
    Resp3,
    /// Speak RESP2 only, even to a server that supports RESP3.
    Resp2,
}

/// TLS settings: which certificates to trust, an optional client certificate, the name to
/// verify.
///
/// [`TlsOptions::new`] verifies the server's certificate chain against the Mozilla root
/// certificates compiled into the client (the `webpki-roots` crate) and checks that the
/// certificate is valid for the host being connected to. Nothing can turn either check off
/// except [`TlsOptions::danger_accept_invalid_certs`].
///
/// The files are PEM and are read when a [`Client`](crate::Client) is created; a file that
/// cannot be read or holds no usable PEM item fails every connection attempt with
/// [`ConfigError::TlsFile`].
///
/// # Examples
///
/// ```
/// use redis_manager::config::{Config, TlsOptions};
///
/// // A private CA, mutual TLS, and a certificate issued for a name other than the address:
/// let config = Config::default().host("10.0.0.7").port(6380).tls(
///     TlsOptions::new()
///         .ca_file("/etc/redis/ca.pem")
///         .client_cert("/etc/redis/client.pem", "/etc/redis/client.key")
///         .server_name("redis.internal"),
/// );
/// let tls = config.get_tls().expect("tls is on");
/// assert_eq!(tls.get_server_name(), Some("redis.internal"));
///
/// // The same from a URL: `rediss://` is `redis://` over TLS, verified against the
/// // default roots.
/// let config = Config::from_url("rediss://:s3cret@cache.example.com:6380/1")?;
/// assert!(config.is_tls());
/// # Ok::<(), redis_manager::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
    danger_accept_invalid_certs: bool,
}

impl TlsOptions {
    /// TLS with full verification against the default roots, no client certificate, and the
    /// host as the name to verify.
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// Trusts only the CA certificates in the PEM file at `path` (one or more), instead of
    /// the default roots: the usual setting for a server with a private CA.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents the certificate chain in the PEM file `cert_file`, proven by the private key
    /// in the PEM file `key_file` (PKCS#8, PKCS#1 or SEC1), to a server that requires client
    /// certificates (`tls-auth-clients yes`).
    pub fn client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert_file.into(), key_file.into()));
        self
    }

    /// Verifies the server's certificate against `name` (a DNS name or an IP address) and
    /// sends it as SNI, instead of the host connected to. For a server reached by an address
    /// its certificate does not name (an IP, a tunnel, a load balancer).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts any certificate, from any issuer, for any name, expired or
    /// not. The connection is still encrypted, but anyone on the path can impersonate the
    /// server and read the password and every command. For throwaway test setups only; a
    /// warning is logged for every client built with it. There is deliberately no URL
    /// parameter or environment variable for this.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.danger_accept_invalid_certs = true;
        self
    }

    /// The CA file, if one replaces the default roots.
    pub fn get_ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate and key files, for mutual TLS.
    pub fn get_client_cert(&self) -> Option<(&Path, &Path)> {
        self.client_cert
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path()))
    }

    /// The name verified against the certificate, when it is not the host.
    pub fn get_server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// True when certificate verification is switched off by
    /// [`TlsOptions::danger_accept_invalid_certs`].
    pub fn is_danger_accept_invalid_certs(&self) -> bool {
        self.danger_accept_invalid_certs
    }
}

/// Client settings: where the server is, how to authenticate, pool size, timeouts.
///
/// Fields are private so that settings can be added without breaking callers; set them with
/// the consuming builder methods and read them with the `get_*` getters. `Debug` never shows
/// the password.
///
/// [`Config::default`] is the seed document's defaults (`localhost:6379`, db 0, no
/// credentials, 10 connections, 5 s response and connect timeouts, RESP3 preferred) with
/// Redis *enabled*: a config built in code is meant to be used. [`Config::from_env`] instead
/// follows `ENABLE_REDIS`, which defaults to disabled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_manager::config::{Config, Protocol, ServerAddr};
///
/// let config = Config::default()
///     .host("cache.internal")
///     .port(6380)
///     .db(2)
///     .username("app")
///     .password("s3cret")
///     .max_connections(4)
///     .response_timeout(Some(Duration::from_millis(500)))
///     .protocol(Protocol::Resp2);
/// config.validate()?;
/// assert_eq!(config.get_addr().to_string(), "cache.internal:6380");
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// // The same connection fields from a URL (percent-encoded credentials, db in the path):
/// let from_url = Config::from_url("redis://app:s3cret@cache.internal:6380/2")?;
/// assert_eq!(from_url.get_password(), Some("s3cret"));
/// assert_eq!(from_url.get_db(), 2);
///
/// let unix = Config::from_url("unix:///run/redis.sock?db=1")?;
/// assert_eq!(unix.get_addr(), &ServerAddr::Unix("/run/redis.sock".into()));
/// # Ok::<(), redis_manager::config::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    addr: ServerAddr,
    enabled: bool,
    db: i64,
    username: Option<String>,
    password: Option<String>,
    max_connections: usize,
    response_timeout: Option<Duration>,
    /// `None`: subscribers never ping.
    subscriber_ping_interval: Option<Duration>,
    connect_timeout: Duration,
    client_name: Option<String>,
    protocol: Protocol,
    /// `None`: the connect timeout.
    pool_acquire_timeout: Option<Duration>,
    reconnect_min_delay: Duration,
    reconnect_max_delay: Duration,
    /// `None`: plain TCP.
    tls: Option<TlsOptions>,
    /// Seed nodes of a Redis Cluster; empty: not a cluster.
    cluster_nodes: Vec<ServerAddr>,
    /// Cluster reads from replicas (`READONLY`).
    read_from_replicas: bool,
    /// Sentinels to ask for the master; empty: no Sentinel.
    sentinels: Vec<ServerAddr>,
    /// The master name the sentinels monitor.
    sentinel_master: Option<String>,
    /// Credentials for the sentinels themselves (their `requirepass` or an ACL user), which
    /// are not the master's.
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: ServerAddr::default(),
            enabled: true,
            db: 0,
            username: None,
            password: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            response_timeout: Some(DEFAULT_TIMEOUT),
            subscriber_ping_interval: Some(DEFAULT_SUBSCRIBER_PING_INTERVAL),
            connect_timeout: DEFAULT_TIMEOUT,
            client_name: None,
            protocol: Protocol::Resp3,
            pool_acquire_timeout: None,
            reconnect_min_delay: DEFAULT_RECONNECT_MIN_DELAY,
            reconnect_max_delay: DEFAULT_RECONNECT_MAX_DELAY,
            tls: None,
            cluster_nodes: Vec::new(),
            read_from_replicas: false,
            sentinels: Vec::new(),
            sentinel_master: None,
            sentinel_username: None,
            sentinel_password: None,
        }
    }
}

/// Shows `<redacted>` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("enabled", &self.enabled)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("max_connections", &self.max_connections)
            .field("response_timeout", &self.response_timeout)
            .field("subscriber_ping_interval", &self.subscriber_ping_interval)
            .field("connect_timeout", &self.connect_timeout)
            .field("client_name", &self.client_name)
            .field("protocol", &self.protocol)
            .field("pool_acquire_timeout", &self.get_pool_acquire_timeout())
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("tls", &self.tls)
            .field("cluster_nodes", &self.cluster_nodes)
            .field("read_from_replicas", &self.read_from_replicas)
            .field("sentinels", &self.sentinels)
            .field("sentinel_master", &self.sentinel_master)
            .field("sentinel_username", &self.sentinel_username)
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

/// Environment variable names read by [`Config::from_env`].
pub mod env {
    /// `true` (any case) enables Redis; anything else, or unset, disables it.
    pub const ENABLE_REDIS: &str = "ENABLE_REDIS";
    /// A `redis://`, `rediss://` or `unix://` URL; when set, it alone gives host, port, db
    /// and credentials (and `rediss://` turns TLS on).
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
    /// Redis Cluster seed nodes, comma-separated `host:port` (default none: not a cluster).
    pub const REDIS_CLUSTER_NODES: &str = "REDIS_CLUSTER_NODES";
    /// `true` (any case) lets a cluster client read from replicas (default false).
    pub const REDIS_CLUSTER_READ_FROM_REPLICAS: &str = "REDIS_CLUSTER_READ_FROM_REPLICAS";
    /// Sentinels, comma-separated `host[:port]` (port 26379 by default); needs
    /// `REDIS_SENTINEL_MASTER`.
    pub const REDIS_SENTINELS: &str = "REDIS_SENTINELS";
    /// The master name the sentinels monitor; needs `REDIS_SENTINELS`.
    pub const REDIS_SENTINEL_MASTER: &str = "REDIS_SENTINEL_MASTER";
    /// Password of the sentinels themselves (their `requirepass`), not the master's (default
    /// none); needs `REDIS_SENTINELS`.
    pub const REDIS_SENTINEL_PASSWORD: &str = "REDIS_SENTINEL_PASSWORD";
    /// ACL user name on the sentinels (default none); needs `REDIS_SENTINEL_PASSWORD`.
    pub const REDIS_SENTINEL_USERNAME: &str = "REDIS_SENTINEL_USERNAME";
}

/// The default port of a sentinel.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// See [`Config::from_lookup`] for the variables, their defaults and the rules.
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
                    not_unicode.set(Some(static_name(name)));
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
    /// | `REDIS_URL` | unset | when set, gives host, port, db, username and password (see [`Config::from_url`]), and TLS for `rediss://`; the five variables below are then not read |
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
    ///
    /// TLS is on when `REDIS_TLS` is `true` or `REDIS_URL` is a `rediss://` URL. The four
    /// `REDIS_TLS_*` file and name variables are refused while TLS is off, and
    /// `REDIS_TLS=false` is refused with a `rediss://` URL: a config that names certificates
    /// but would connect in plain text is a mistake worth stopping at startup. Verification
    /// cannot be switched off from the environment.
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
    /// [`ConfigError::MissingValue`] for a certificate without its key or the reverse, or a
    /// URL error for `REDIS_URL`. The password is never part of an error.
    ///
    /// Files are not read here; see [`TlsOptions`]. A TLS config is returned even by a build
    /// without the `tls` feature ([`Config::validate`] refuses it there), so that parsing
    /// behaves the same in every build.
    pub fn from_lookup(
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut config = Config {
            enabled: get(env::ENABLE_REDIS).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            ..Config::default()
        };
        if let Some(url) = get(env::REDIS_URL) {
            config = config.apply_url(env::REDIS_URL, &url)?;
        } else {
            let host = get(env::REDIS_HOST).unwrap_or_else(|| DEFAULT_HOST.to_owned());
            let port = match get(env::REDIS_PORT) {
                Some(v) => parse_port(env::REDIS_PORT, &v)?,
                None => DEFAULT_PORT,
            };
            config.addr = ServerAddr::Tcp { host, port };
            if let Some(v) = get(env::REDIS_DB) {
                config.db = parse_db(env::REDIS_DB, &v)?;
            }
            config.username = get(env::REDIS_USERNAME);
            config.password = get(env::REDIS_PASSWORD);
        }
        if let Some(v) = get(env::REDIS_MAX_CONNECTIONS) {
            config.max_connections = parse_max_connections(env::REDIS_MAX_CONNECTIONS, &v)?;
        }
        if let Some(v) = get(env::REDIS_SOCKET_TIMEOUT) {
            let t = parse_seconds(env::REDIS_SOCKET_TIMEOUT, &v)?;
            config.response_timeout = (!t.is_zero()).then_some(t);
        }
        if let Some(v) = get(env::REDIS_SOCKET_CONNECT_TIMEOUT) {
            let t = parse_seconds(env::REDIS_SOCKET_CONNECT_TIMEOUT, &v)?;
            if t.is_zero() {
                return Err(invalid(
                    env::REDIS_SOCKET_CONNECT_TIMEOUT,
                    &v,
                    "must be greater than zero",
                ));
            }
            config.connect_timeout = t;
        }
        config.tls = tls_from_lookup(&mut get, config.tls.take())?;
        if let Some(v) = get(env::REDIS_CLUSTER_NODES) {
            config.cluster_nodes = parse_node_list(env::REDIS_CLUSTER_NODES, &v, DEFAULT_PORT)?;
            if let Some(first) = config.cluster_nodes.first() {
                config.addr = first.clone();
            }
        }
        if let Some(v) = get(env::REDIS_CLUSTER_READ_FROM_REPLICAS) {
            config.read_from_replicas = match v.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(
                        env::REDIS_CLUSTER_READ_FROM_REPLICAS,
                        &v,
                        "expected true or false",
                    ));
                }
            };
        }
        match (get(env::REDIS_SENTINELS), get(env::REDIS_SENTINEL_MASTER)) {
            (Some(list), Some(master)) => {
                config.sentinels =
                    parse_node_list(env::REDIS_SENTINELS, &list, DEFAULT_SENTINEL_PORT)?;
                config.sentinel_master = Some(master);
            }
            (Some(_), None) => {
                return Err(ConfigError::MissingValue {
                    variable: env::REDIS_SENTINEL_MASTER,
                    required_by: env::REDIS_SENTINELS,
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::MissingValue {
                    variable: env::REDIS_SENTINELS,
                    required_by: env::REDIS_SENTINEL_MASTER,
                });
            }
            (None, None) => {}
        }
        config.sentinel_password = get(env::REDIS_SENTINEL_PASSWORD);
        config.sentinel_username = get(env::REDIS_SENTINEL_USERNAME);
        if config.sentinel_password.is_some() && config.sentinels.is_empty() {
            return Err(ConfigError::MissingValue {
                variable: env::REDIS_SENTINELS,
                required_by: env::REDIS_SENTINEL_PASSWORD,
            });
        }
        if config.sentinel_username.is_some() && config.sentinel_password.is_none() {
            return Err(ConfigError::MissingValue {
                variable: env::REDIS_SENTINEL_PASSWORD,
                required_by: env::REDIS_SENTINEL_USERNAME,
            });
        }
        config.check_settings()?;
        Ok(config)
    }

    /// A default configuration with the connection fields given by `url`.
    ///
    /// Accepted forms:
    ///
    /// - `redis://[user[:password]@]host[:port][/db]`, where `host` may be an IPv6 address
    ///   in brackets (`redis://[::1]:6380`), the user name and password are
    ///   percent-decoded, and `redis://:password@host` gives a password without a user name;
    /// - `rediss://...`, the same over TLS with [`TlsOptions::new`] (full verification, the
    ///   host as the name to verify); set CA and client certificate files with
    ///   [`Config::tls`] or the `REDIS_TLS_*` variables;
    /// - `unix:///path/to/redis.sock` and `redis+unix:///path/to/redis.sock`, optionally
    ///   with credentials before the path (`unix://user:password@/path`);
    /// - `redis+cluster://[user[:password]@]host:port,host:port,...` (or `rediss+cluster://`
    ///   over TLS): the seed nodes of a Redis Cluster (see [`Config::cluster_nodes`]).
    ///
    /// Both take query parameters `db=n`, `user=` (or `username=`), `password=` (or `pass=`)
    /// and `protocol=resp2|resp3`. A field given twice (db in the path and in the query) is
    /// an error, and so is an unknown parameter, so that a typo is not silently ignored.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnsupportedScheme`] or [`ConfigError::InvalidUrl`], with the URL's
    /// password replaced by `***`.
    pub fn from_url(url: &str) -> Result<Config, ConfigError> {
        Config::default().apply_url("url", url)
    }

    /// Replaces the connection fields with those of `url`; errors name `variable`.
    fn apply_url(mut self, variable: &'static str, url: &str) -> Result<Config, ConfigError> {
        let parts = parse_url(url).map_err(|problem| match problem {
            UrlProblem::Scheme(scheme) => ConfigError::UnsupportedScheme {
                variable,
                scheme,
                url: redact_url(url),
            },
            UrlProblem::Invalid(reason) => ConfigError::InvalidUrl {
                variable,
                url: redact_url(url),
                reason,
            },
        })?;
        self.addr = parts.addr;
        self.db = parts.db.unwrap_or(0);
        self.username = parts.username;
        self.password = parts.password;
        if let Some(protocol) = parts.protocol {
            self.protocol = protocol;
        }
        self.tls = parts.tls.then(TlsOptions::new);
        self.cluster_nodes = parts.cluster;
        Ok(self)
    }

    /// Checks the settings that builders accept unchecked.
    ///
    /// [`Config::from_env`] and [`Config::from_url`] return validated configs; the client
    /// calls this before using a config built in code.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] naming the setting: an empty host, port 0, a negative
    /// db, `max_connections` 0, a zero connect or response timeout (use `None` for no
    /// response timeout), a zero acquire timeout or minimum reconnect delay, a minimum
    /// reconnect delay above the maximum, a client name with spaces or line breaks (which
    /// `CLIENT SETNAME` refuses), TLS over a Unix socket, or an empty TLS file name or server
    /// name. [`ConfigError::TlsUnavailable`] for a TLS config in a build without the `tls`
    /// cargo feature: such a build never connects in plain text instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_settings()?;
        if self.tls.is_some() && !cfg!(feature = "tls") {
            return Err(ConfigError::TlsUnavailable);
        }
        Ok(())
    }

    /// [`Config::validate`] without the check that the build supports TLS.
    fn check_settings(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, variable: &'static str, value: &dyn fmt::Debug, reason| {
            if ok {
                Ok(())
            } else {
                Err(invalid(variable, &format!("{value:?}"), reason))
            }
        };
        match &self.addr {
            ServerAddr::Tcp { host, port } => {
                check(!host.is_empty(), "host", host, "must not be empty")?;
                check(*port != 0, "port", port, "must be from 1 to 65535")?;
            }
            ServerAddr::Unix(path) => {
                check(
                    !path.as_os_str().is_empty(),
                    "unix_socket",
                    path,
                    "must not be empty",
                )?;
            }
        }
        check(self.db >= 0, "db", &self.db, "must not be negative")?;
        if !self.cluster_nodes.is_empty() {
            check(
                self.db == 0,
                "db",
                &self.db,
                "must be 0 on a cluster (it has only database 0)",
            )?;
            check(
                self.sentinel_master.is_none(),
                "sentinel",
                &self.sentinel_master,
                "cannot be combined with cluster nodes",
            )?;
        }
        for node in self.cluster_nodes.iter().chain(&self.sentinels) {
            let ok =
                matches!(node, ServerAddr::Tcp { host, port } if !host.is_empty() && *port != 0);
            check(ok, "cluster_nodes", node, "must be host:port addresses")?;
        }
        if let Some(master) = &self.sentinel_master {
            check(
                !master.is_empty() && !self.sentinels.is_empty(),
                "sentinel",
                master,
                "needs a master name and at least one sentinel",
            )?;
        }
        check(
            self.max_connections >= 1,
            "max_connections",
            &self.max_connections,
            "must be at least 1",
        )?;
        check(
            self.response_timeout != Some(Duration::ZERO),
            "response_timeout",
            &self.response_timeout,
            "must be greater than zero (use None for no timeout)",
        )?;
        check(
            self.subscriber_ping_interval != Some(Duration::ZERO),
            "subscriber_ping_interval",
            &self.subscriber_ping_interval,
            "must be greater than zero (use None to never ping)",
        )?;
        check(
            !self.connect_timeout.is_zero(),
            "connect_timeout",
            &self.connect_timeout,
            "must be greater than zero",
        )?;
        check(
            self.pool_acquire_timeout != Some(Duration::ZERO),
            "pool_acquire_timeout",
            &self.pool_acquire_timeout,
            "must be greater than zero",
        )?;
        check(
            !self.reconnect_min_delay.is_zero(),
            "reconnect_min_delay",
            &self.reconnect_min_delay,
            "must be greater than zero",
        )?;
        check(
            self.reconnect_min_delay <= self.reconnect_max_delay,
            "reconnect_max_delay",
            &self.reconnect_max_delay,
            "must not be less than reconnect_min_delay",
        )?;
        if let Some(name) = &self.client_name {
            check(
                !name.contains([' ', '\r', '\n']),
                "client_name",
                name,
                "must not contain spaces or line breaks",
            )?;
        }
        if let Some(tls) = &self.tls {
            check(
                !matches!(self.addr, ServerAddr::Unix(_)),
                "tls",
                &self.addr,
                "is not supported over a unix socket",
            )?;
            let empty = |p: &Path| p.as_os_str().is_empty();
            if let Some(path) = &tls.ca_file {
                check(!empty(path), "tls_ca_file", path, "must not be empty")?;
            }
            if let Some((cert, key)) = &tls.client_cert {
                check(!empty(cert), "tls_cert_file", cert, "must not be empty")?;
                check(!empty(key), "tls_key_file", key, "must not be empty")?;
            }
            if let Some(name) = &tls.server_name {
                check(
                    !name.is_empty(),
                    "tls_server_name",
                    name,
                    "must not be empty",
                )?;
            }
        }
        Ok(())
    }

    // ----- builders -----

    /// Connects over TCP to `host`, keeping the current port (6379 if the address was a
    /// Unix socket). An IPv6 address is given without brackets (`"::1"`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        let port = self.get_port().unwrap_or(DEFAULT_PORT);
        self.addr = ServerAddr::Tcp {
            host: host.into(),
            port,
        };
        self
    }

    /// Connects over TCP to `port`, keeping the current host (`localhost` if the address was
    /// a Unix socket).
    pub fn port(mut self, port: u16) -> Self {
        let host = match self.addr {
            ServerAddr::Tcp { host, .. } => host,
            ServerAddr::Unix(_) => DEFAULT_HOST.to_owned(),
        };
        self.addr = ServerAddr::Tcp { host, port };
        self
    }

    /// Connects to the Unix domain socket at `path`.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.addr = ServerAddr::Unix(path.into());
        self
    }

    /// Sets the server address.
    pub fn addr(mut self, addr: ServerAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Enables or disables Redis (`ENABLE_REDIS`). The client itself ignores this; the
    /// manager uses it to decide whether to connect at all.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Selects database `db` (`SELECT`) on every connection.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Authenticates as the ACL user `username` (requires a password).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Authenticates with `password` (as user `default` unless a user name is set).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Removes the user name and password.
    pub fn no_auth(mut self) -> Self {
        self.username = None;
        self.password = None;
        self
    }

    /// Allows at most `max` pooled connections (at least 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Fails a command with a timeout error when no reply arrives within `timeout`; `None`
    /// waits forever.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Checks a subscriber's connection with `PING` after it has been silent for `interval`
    /// (default [`DEFAULT_SUBSCRIBER_PING_INTERVAL`]); without an answer within the response
    /// timeout the subscriber reconnects and resubscribes. A subscriber only reads, so without
    /// this a connection that died without a FIN (a dropped route, a frozen server) would go
    /// unnoticed for as long as the kernel's keepalive takes, hours by default. `None` never
    /// pings.
    ///
    /// On a cluster, a subscriber to shard channels has a connection to each of their masters
    /// besides its own; it pings all of them every `interval`, busy or not, and reconnects
    /// everything when one does not answer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = redis_manager::Config::default()
    ///     .subscriber_ping_interval(Some(Duration::from_secs(10)));
    /// assert_eq!(config.get_subscriber_ping_interval(), Some(Duration::from_secs(10)));
    /// ```
    pub fn subscriber_ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.subscriber_ping_interval = interval;
        self
    }

    /// Bounds connecting plus the handshake (`HELLO`, `AUTH`, `SELECT`, ...).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Names each connection with `CLIENT SETNAME` (no spaces allowed).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Chooses RESP3-with-fallback or RESP2 only.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Waits at most `timeout` for a free pooled connection (default: the connect timeout).
    pub fn pool_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool_acquire_timeout = Some(timeout);
        self
    }

    /// Sets the reconnect backoff: the first delay `min`, doubling (with jitter) up to `max`.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min_delay = min;
        self.reconnect_max_delay = max;
        self
    }

    /// Connects over TLS with `options` (see [`TlsOptions`]).
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Connects in plain text (the default).
    pub fn no_tls(mut self) -> Self {
        self.tls = None;
        self
    }

    // ----- getters -----

    /// The server address.
    pub fn get_addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The TCP host, or `None` for a Unix socket.
    pub fn get_host(&self) -> Option<&str> {
        match &self.addr {
            ServerAddr::Tcp { host, .. } => Some(host),
            ServerAddr::Unix(_) => None,
        }
    }

    /// The TCP port, or `None` for a Unix socket.
    pub fn get_port(&self) -> Option<u16> {
        match &self.addr {
            ServerAddr::Tcp { port, .. } => Some(*port),
            ServerAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, or `None` for TCP.
    pub fn get_unix_socket(&self) -> Option<&Path> {
        match &self.addr {
            ServerAddr::Tcp { .. } => None,
            ServerAddr::Unix(path) => Some(path),
        }
    }

    /// Whether Redis is enabled (`ENABLE_REDIS`).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The database number.
    pub fn get_db(&self) -> i64 {
        self.db
    }

    /// The ACL user name, if any.
    pub fn get_username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, if any. Do not log it.
    pub fn get_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The maximum number of pooled connections.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The response timeout per command; `None` waits forever.
    pub fn get_response_timeout(&self) -> Option<Duration> {
        self.response_timeout
    }

    /// How long a subscriber's connection may stay silent before a `PING`; `None`: never.
    pub fn get_subscriber_ping_interval(&self) -> Option<Duration> {
        self.subscriber_ping_interval
    }

    /// The bound on connecting plus the handshake.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The `CLIENT SETNAME` name, if any.
    pub fn get_client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The protocol choice.
    pub fn get_protocol(&self) -> Protocol {
        self.protocol
    }

    /// How long to wait for a free pooled connection (the connect timeout unless set).
    pub fn get_pool_acquire_timeout(&self) -> Duration {
        self.pool_acquire_timeout.unwrap_or(self.connect_timeout)
    }

    /// The first reconnect delay.
    pub fn get_reconnect_min_delay(&self) -> Duration {
        self.reconnect_min_delay
    }

    /// The cap on the reconnect delay.
    pub fn get_reconnect_max_delay(&self) -> Duration {
        self.reconnect_max_delay
    }

    /// The TLS settings, or `None` for plain text.
    pub fn get_tls(&self) -> Option<&TlsOptions> {
        self.tls.as_ref()
    }

    /// True when connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    // ----- cluster and sentinel -----

    /// Connects to a Redis Cluster through these seed nodes (any reachable one is enough:
    /// the client reads the whole topology from it). The address set by `host`/`port` is
    /// then only used in logs; it becomes the first seed.
    pub fn cluster_nodes(mut self, nodes: impl IntoIterator<Item = ServerAddr>) -> Self {
        self.cluster_nodes = nodes.into_iter().collect();
        if let Some(first) = self.cluster_nodes.first() {
            self.addr = first.clone();
        }
        self
    }

    /// On a cluster, lets read-only commands go to replicas (which may lag behind their
    /// master). Off by default.
    pub fn read_from_replicas(mut self, enabled: bool) -> Self {
        self.read_from_replicas = enabled;
        self
    }

    /// Finds the master named `master` through these sentinels, and follows its failovers.
    /// The address set by `host`/`port` is not used.
    pub fn sentinel(
        mut self,
        master: impl Into<String>,
        sentinels: impl IntoIterator<Item = ServerAddr>,
    ) -> Self {
        self.sentinel_master = Some(master.into());
        self.sentinels = sentinels.into_iter().collect();
        self
    }

    /// Authenticates to the sentinels with `password` (their `requirepass`), as user
    /// `default` unless [`Config::sentinel_username`] is set. The master's own credentials
    /// ([`Config::password`]) are never sent to the sentinels.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_manager::{Config, ServerAddr};
    ///
    /// let sentinel = ServerAddr::Tcp { host: "10.0.0.5".into(), port: 26379 };
    /// let config = Config::default()
    ///     .sentinel("mymaster", [sentinel])
    ///     .sentinel_password("sentinel-secret")
    ///     .password("master-secret");
    /// assert_eq!(config.get_sentinel_password(), Some("sentinel-secret"));
    /// ```
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// Authenticates to the sentinels as this ACL user (with [`Config::sentinel_password`]).
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_username = Some(username.into());
        self
    }

    /// The user name for the sentinels, if any.
    pub fn get_sentinel_username(&self) -> Option<&str> {
        self.sentinel_username.as_deref()
    }

    /// The password for the sentinels, if any. Do not log it.
    pub fn get_sentinel_password(&self) -> Option<&str> {
        self.sentinel_password.as_deref()
    }

    /// The cluster seed nodes; empty when this is not a cluster config.
    pub fn get_cluster_nodes(&self) -> &[ServerAddr] {
        &self.cluster_nodes
    }

    /// True when a cluster client may read from replicas.
    pub fn is_read_from_replicas(&self) -> bool {
        self.read_from_replicas
    }

    /// The sentinels; empty without Sentinel.
    pub fn get_sentinels(&self) -> &[ServerAddr] {
        &self.sentinels
    }

    /// The master name the sentinels monitor, when Sentinel is used.
    pub fn get_sentinel_master(&self) -> Option<&str> {
        self.sentinel_master.as_deref()
    }
}

/// Applies the `REDIS_TLS*` variables to `tls` (what `REDIS_URL` gave).
fn tls_from_lookup(
    get: &mut impl FnMut(&str) -> Option<String>,
    tls: Option<TlsOptions>,
) -> Result<Option<TlsOptions>, ConfigError> {
    let from_url = tls.is_some();
    let mut tls = match get(env::REDIS_TLS) {
        None => tls,
        Some(v) if v.eq_ignore_ascii_case("true") => tls.or_else(|| Some(TlsOptions::new())),
        Some(v) if v.eq_ignore_ascii_case("false") => {
            if from_url {
                return Err(invalid(
                    env::REDIS_TLS,
                    &v,
                    "contradicts the rediss:// scheme of REDIS_URL",
                ));
            }
            None
        }
        Some(v) => return Err(invalid(env::REDIS_TLS, &v, "expected true or false")),
    };
    let ca = get(env::REDIS_TLS_CA_FILE);
    let cert = get(env::REDIS_TLS_CERT_FILE);
    let key = get(env::REDIS_TLS_KEY_FILE);
    let name = get(env::REDIS_TLS_SERVER_NAME);
    let Some(options) = &mut tls else {
        let set = [
            (env::REDIS_TLS_CA_FILE, &ca),
            (env::REDIS_TLS_CERT_FILE, &cert),
            (env::REDIS_TLS_KEY_FILE, &key),
            (env::REDIS_TLS_SERVER_NAME, &name),
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
    if let Some(ca) = ca {
        options.ca_file = Some(ca.into());
    }
    match (cert, key) {
        (Some(cert), Some(key)) => options.client_cert = Some((cert.into(), key.into())),
        (Some(_), None) => {
            return Err(ConfigError::MissingValue {
                variable: env::REDIS_TLS_KEY_FILE,
                required_by: env::REDIS_TLS_CERT_FILE,
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::MissingValue {
                variable: env::REDIS_TLS_CERT_FILE,
                required_by: env::REDIS_TLS_KEY_FILE,
            });
        }
        (None, None) => {}
    }
    if let Some(name) = name {
        options.server_name = Some(name);
    }
    Ok(tls)
}

/// A configuration value that cannot be used.
///
/// Every variant names the variable (or, for values set in code, the setting) so a caller
/// can report it. No variant ever holds a password: URLs are shown with it replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is not a valid number, or is out of range.
    #[error("invalid {variable} `{value}`: {reason}")]
    InvalidValue {
        /// The environment variable, or the setting's name for a value set in code.
        variable: &'static str,
        /// The offending value as given.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A URL whose scheme is not `redis`, `rediss`, `unix`, `redis+unix`, `redis+cluster` or
    /// `rediss+cluster`.
    #[error(
        "unsupported url scheme `{scheme}` in {variable} `{url}` (expected redis, rediss, unix, redis+unix or redis+cluster)"
    )]
    UnsupportedScheme {
        /// `REDIS_URL`, or `url` for [`Config::from_url`].
        variable: &'static str,
        /// The scheme, lower-cased.
        scheme: String,
        /// The URL, password replaced by `***`.
        url: String,
    },
    /// A URL that cannot be parsed.
    #[error("invalid {variable} `{url}`: {reason}")]
    InvalidUrl {
        /// `REDIS_URL`, or `url` for [`Config::from_url`].
        variable: &'static str,
        /// The URL, password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable that is set but not valid Unicode.
    #[error("{variable} is not valid unicode")]
    NotUnicode {
        /// The environment variable.
        variable: &'static str,
    },
    /// A variable that must be set because another one is (`REDIS_TLS_KEY_FILE` with
    /// `REDIS_TLS_CERT_FILE`, and the reverse).
    #[error("{variable} must be set when {required_by} is")]
    MissingValue {
        /// The variable that is missing.
        variable: &'static str,
        /// The variable that needs it.
        required_by: &'static str,
    },
    /// The config asks for TLS but this build of the crate has no TLS support. Enable the
    /// `tls` cargo feature of `redis-manager`.
    #[error("tls was requested but redis-manager was built without the `tls` feature")]
    TlsUnavailable,
    /// A TLS file (CA, client certificate or key) cannot be used. Reported when a client
    /// is created and by every connection attempt of that client.
    #[error("cannot use {variable} `{}`: {reason}", path.display())]
    TlsFile {
        /// `tls_ca_file`, `tls_cert_file` or `tls_key_file` (set by `REDIS_TLS_CA_FILE`,
        /// `REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE` or [`TlsOptions`]).
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The environment variable or setting the error is about.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::InvalidValue { variable, .. }
            | ConfigError::UnsupportedScheme { variable, .. }
            | ConfigError::InvalidUrl { variable, .. }
            | ConfigError::NotUnicode { variable }
            | ConfigError::MissingValue { variable, .. }
            | ConfigError::TlsFile { variable, .. } => variable,
            ConfigError::TlsUnavailable => "tls",
        }
    }
}

fn invalid(variable: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        variable,
        value: value.to_owned(),
        reason,
    }
}

/// The `'static` name of a variable that `from_lookup` reads.
fn static_name(name: &str) -> &'static str {
    use env::*;
    [
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
        REDIS_CLUSTER_NODES,
        REDIS_CLUSTER_READ_FROM_REPLICAS,
        REDIS_SENTINELS,
        REDIS_SENTINEL_MASTER,
    ]
    .into_iter()
    .find(|known| *known == name)
    .unwrap_or("environment variable")
}

fn parse_port(variable: &'static str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(invalid(
            variable,
            value,
            "expected a port number from 1 to 65535",
        )),
    }
}

fn parse_db(variable: &'static str, value: &str) -> Result<i64, ConfigError> {
    match value.trim().parse::<i64>() {
        Ok(db) if db >= 0 => Ok(db),
        _ => Err(invalid(variable, value, "expected a non-negative integer")),
    }
}

fn parse_max_connections(variable: &'static str, value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(invalid(
            variable,
            value,
            "expected an integer of at least 1",
        )),
    }
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

// ----- URLs -----

/// The connection fields a URL gives.
#[derive(Debug, PartialEq)]
struct UrlParts {
    addr: ServerAddr,
    db: Option<i64>,
    username: Option<String>,
    password: Option<String>,
    protocol: Option<Protocol>,
    /// `rediss://`.
    tls: bool,
    /// `redis+cluster://`: every node listed; `addr` is the first.
    cluster: Vec<ServerAddr>,
}

#[derive(Debug, PartialEq)]
enum UrlProblem {
    /// A well-formed scheme we do not support.
    Scheme(String),
    Invalid(&'static str),
}

/// Parses a `redis://`, `rediss://` or `unix://` URL by hand: the grammar is small and the `url` crate
/// would be a dependency for one function. Every reason is a fixed string.
fn parse_url(url: &str) -> Result<UrlParts, UrlProblem> {
    use UrlProblem::Invalid;
    let (scheme, rest) = url.split_once("://").ok_or(Invalid(
        "missing scheme (expected redis://host or unix:///path)",
    ))?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(Invalid("malformed scheme"));
    }
    if rest.contains('#') {
        return Err(Invalid("unexpected '#' (percent-encode it as %23)"));
    }
    let scheme = scheme.to_ascii_lowercase();
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut parts = match scheme.as_str() {
        "redis" => parse_tcp_url(before_query)?,
        "rediss" => UrlParts {
            tls: true,
            ..parse_tcp_url(before_query)?
        },
        "unix" | "redis+unix" => parse_unix_url(before_query)?,
        "redis+cluster" => parse_cluster_url(before_query)?,
        "rediss+cluster" => UrlParts {
            tls: true,
            ..parse_cluster_url(before_query)?
        },
        _ => return Err(UrlProblem::Scheme(scheme)),
    };
    if let Some(query) = query {
        apply_query(&mut parts, query)?;
    }
    Ok(parts)
}

/// `[userinfo@]host[:port][/db]`
fn parse_tcp_url(s: &str) -> Result<UrlParts, UrlProblem> {
    let (authority, path) = match s.find('/') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = parse_userinfo(userinfo)?;
    let (host, port) = parse_host_port(host_port)?;
    let db = match path {
        "" | "/" => None,
        _ => Some(parse_url_db(&path[1..])?),
    };
    Ok(UrlParts {
        addr: ServerAddr::Tcp {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
        },
        db,
        username,
        password,
        protocol: None,
        tls: false,
        cluster: Vec::new(),
    })
}

/// `[userinfo@]host:port,host:port[/db]`: the seed nodes of a cluster.
fn parse_cluster_url(s: &str) -> Result<UrlParts, UrlProblem> {
    let (authority, path) = match s.find('/') {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    let mut cluster = Vec::new();
    for node in hosts.split(',') {
        let one = parse_tcp_url(&format!("{userinfo}{node}"))?;
        cluster.push(one.addr);
    }
    let mut parts = parse_tcp_url(&format!(
        "{userinfo}{}{path}",
        hosts.split(',').next().unwrap_or_default()
    ))?;
    parts.cluster = cluster;
    Ok(parts)
}

/// Comma-separated `host[:port]` list (IPv6 in brackets), `default_port` when a port is
/// missing.
fn parse_node_list(
    variable: &'static str,
    value: &str,
    default_port: u16,
) -> Result<Vec<ServerAddr>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| match parse_host_port(n) {
            Ok((host, port)) => Ok(ServerAddr::Tcp {
                host,
                port: port.unwrap_or(default_port),
            }),
            Err(UrlProblem::Invalid(reason)) => Err(invalid(variable, value, reason)),
            Err(UrlProblem::Scheme(_)) => Err(invalid(variable, value, "expected host:port")),
        })
        .collect()
}

/// `[userinfo@]/absolute/path`
fn parse_unix_url(s: &str) -> Result<UrlParts, UrlProblem> {
    use UrlProblem::Invalid;
    const NOT_ABSOLUTE: &str = "expected an absolute socket path, as in unix:///path/to/redis.sock";
    let (userinfo, path) = if s.starts_with('/') {
        (None, s)
    } else {
        match s.find("@/") {
            // The user info ends at the first "@/": a '/' in a password must be encoded.
            Some(i) if !s[..i].contains('/') => (Some(&s[..i]), &s[i + 1..]),
            _ => return Err(Invalid(NOT_ABSOLUTE)),
        }
    };
    let (username, password) = parse_userinfo(userinfo)?;
    let path = percent_decode(path).ok_or(Invalid("invalid percent-encoding in socket path"))?;
    if path == "/" {
        return Err(Invalid("missing socket path"));
    }
    Ok(UrlParts {
        addr: ServerAddr::Unix(PathBuf::from(path)),
        db: None,
        username,
        password,
        protocol: None,
        tls: false,
        cluster: Vec::new(),
    })
}

type Credentials = (Option<String>, Option<String>);

/// `user[:password]`; empty parts are absent.
fn parse_userinfo(userinfo: Option<&str>) -> Result<Credentials, UrlProblem> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let user =
        percent_decode(user).ok_or(UrlProblem::Invalid("invalid percent-encoding in user name"))?;
    let pass = match pass {
        Some(p) => Some(
            percent_decode(p).ok_or(UrlProblem::Invalid("invalid percent-encoding in password"))?,
        ),
        None => None,
    };
    Ok((non_empty(user), pass.and_then(non_empty)))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn parse_host_port(s: &str) -> Result<(String, Option<u16>), UrlProblem> {
    use UrlProblem::Invalid;
    let (host, port) = if let Some(bracketed) = s.strip_prefix('[') {
        let end = bracketed
            .find(']')
            .ok_or(Invalid("missing ']' after ipv6 address"))?;
        let host = &bracketed[..end];
        host.parse::<Ipv6Addr>()
            .map_err(|_| Invalid("invalid ipv6 address"))?;
        let after = &bracketed[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(Invalid("unexpected characters after ipv6 address"))?,
            ),
        };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(Invalid("ipv6 addresses must be in brackets, as in [::1]"));
            }
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(Invalid("missing host"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => Some(p),
            _ => return Err(Invalid("invalid port (expected 1 to 65535)")),
        },
    };
    Ok((host.to_owned(), port))
}

fn parse_url_db(s: &str) -> Result<i64, UrlProblem> {
    match s.parse::<i64>() {
        Ok(db) if db >= 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(db),
        _ => Err(UrlProblem::Invalid(
            "invalid database (expected a non-negative integer)",
        )),
    }
}

fn apply_query(parts: &mut UrlParts, query: &str) -> Result<(), UrlProblem> {
    use UrlProblem::Invalid;
    fn set<T>(slot: &mut Option<T>, value: T, twice: &'static str) -> Result<(), UrlProblem> {
        if slot.is_some() {
            return Err(Invalid(twice));
        }
        *slot = Some(value);
        Ok(())
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or(Invalid("query parameter without '='"))?;
        let decoded = percent_decode(value).ok_or(Invalid("invalid percent-encoding in query"))?;
        match key {
            "db" => set(
                &mut parts.db,
                parse_url_db(&decoded)?,
                "database given twice",
            )?,
            "user" | "username" => {
                if let Some(user) = non_empty(decoded) {
                    set(&mut parts.username, user, "user name given twice")?;
                }
            }
            "password" | "pass" => {
                if let Some(pass) = non_empty(decoded) {
                    set(&mut parts.password, pass, "password given twice")?;
                }
            }
            "protocol" => {
                let protocol = match decoded.to_ascii_lowercase().as_str() {
                    "resp3" | "3" => Protocol::Resp3,
                    "resp2" | "2" => Protocol::Resp2,
                    _ => return Err(Invalid("invalid protocol (expected resp2 or resp3)")),
                };
                set(&mut parts.protocol, protocol, "protocol given twice")?;
            }
            _ => {
                return Err(Invalid(
                    "unknown query parameter (expected db, user, password or protocol)",
                ));
            }
        }
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with every place a secret could be replaced by `***`, even when the URL is
/// malformed: everything from the first ':' after the scheme to the last '@' (the password
/// of the user info, or more), the value of every query parameter except `db` and
/// `protocol`, and everything after a '#'. Over-redacting a broken URL is fine; showing a
/// password is not.
fn redact_url(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((u, _)) => (u, true),
        None => (url, false),
    };
    let start = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(start);
    let mut out = String::with_capacity(url.len() + 8);
    out.push_str(head);
    let mut rest = rest;
    if let Some(at) = rest.rfind('@')
        && let Some(colon) = rest[..at].find(':')
    {
        out.push_str(&rest[..=colon]);
        out.push_str("***");
        rest = &rest[at..];
    }
    match rest.split_once('?') {
        None => out.push_str(rest),
        Some((before, query)) => {
            out.push_str(before);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((key @ ("db" | "protocol"), value)) => {
                        out.push_str(key);
                        out.push('=');
                        out.push_str(value);
                    }
                    Some((key, _)) => {
                        out.push_str(key);
                        out.push_str("=***");
                    }
                    None => out.push_str("***"),
                }
            }
        }
    }
    if fragment {
        out.push_str("#***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tcp(host: &str, port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: host.to_owned(),
            port,
        }
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn urls_parse_into_connection_fields() {
        type Case = (
            &'static str,
            ServerAddr,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let s = |v: &str| Some(v.to_owned());
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("redis://localhost", tcp("localhost", 6379), None, None, None),
            ("redis://h:6380", tcp("h", 6380), None, None, None),
            ("redis://h:6380/", tcp("h", 6380), None, None, None),
            ("redis://h/3", tcp("h", 6379), Some(3), None, None),
            ("REDIS://h:1/15", tcp("h", 1), Some(15), None, None),
            ("redis://u:p@h:7/1", tcp("h", 7), Some(1), s("u"), s("p")),
            ("redis://:p@h", tcp("h", 6379), None, None, s("p")),
            ("redis://u@h", tcp("h", 6379), None, s("u"), None),
            ("redis://u:@h", tcp("h", 6379), None, s("u"), None),
            ("redis://u%40x:p%3Aw%2F%25@h", tcp("h", 6379), None, s("u@x"), s("p:w/%")),
            ("redis://:p@ss@h", tcp("h", 6379), None, None, s("p@ss")),
            ("redis://[::1]", tcp("::1", 6379), None, None, None),
            ("redis://[::1]:6390/2", tcp("::1", 6390), Some(2), None, None),
            ("redis://h?db=4", tcp("h", 6379), Some(4), None, None),
            ("redis://h/?db=4&", tcp("h", 6379), Some(4), None, None),
            ("redis://h?password=x%26y&user=me", tcp("h", 6379), None, s("me"), s("x&y")),
            ("unix:///tmp/r.sock", ServerAddr::Unix("/tmp/r.sock".into()), None, None, None),
            ("unix:///tmp/r.sock?db=2", ServerAddr::Unix("/tmp/r.sock".into()), Some(2), None, None),
            ("redis+unix:///a%20b/r.sock", ServerAddr::Unix("/a b/r.sock".into()), None, None, None),
            ("unix://u:p@/r.sock", ServerAddr::Unix("/r.sock".into()), None, s("u"), s("p")),
            ("unix:///r.sock?pass=p", ServerAddr::Unix("/r.sock".into()), None, None, s("p")),
        ];
        for (url, addr, db, user, pass) in cases {
            let parts = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e:?}"));
            assert_eq!(&parts.addr, addr, "{url}");
            assert_eq!(&parts.db, db, "{url}");
            assert_eq!(&parts.username, user, "{url}");
            assert_eq!(&parts.password, pass, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        let scheme = |s: &str| UrlProblem::Scheme(s.to_owned());
        let cases: &[(&str, Option<UrlProblem>)] = &[
            ("http://h", Some(scheme("http"))),
            ("rediss+unix:///s", Some(scheme("rediss+unix"))),
            ("rediss://", None),
            ("Redis+TCP://h", Some(scheme("redis+tcp"))),
            ("localhost:6379", None),
            ("://h", None),
            ("redis://", None),
            ("redis://:6379", None),
            ("redis://u:p@", None),
            ("redis://h:", None),
            ("redis://h:0", None),
            ("redis://h:65536", None),
            ("redis://h:abc", None),
            ("redis://h:-1", None),
            ("redis://::1", None),
            ("redis://[::1", None),
            ("redis://[zz]:1", None),
            ("redis://[::1]x", None),
            ("redis://h/x", None),
            ("redis://h/-1", None),
            ("redis://h/+1", None),
            ("redis://h/1/2", None),
            ("redis://h/1?db=1", None),
            ("redis://h?foo=1", None),
            ("redis://h?db", None),
            ("redis://h?protocol=resp4", None),
            ("redis://:a@h?password=b", None),
            ("redis://u:%zz@h", None),
            ("redis://u:%ff@h", None),
            ("redis://h#frag", None),
            ("unix://", None),
            ("unix:///", None),
            ("unix://relative/path", None),
            ("unix://u:p/q@/sock", None),
        ];
        for (url, expected) in cases {
            let got = parse_url(url).expect_err(url);
            match expected {
                Some(e) => assert_eq!(&got, e, "{url}"),
                None => assert!(matches!(got, UrlProblem::Invalid(_)), "{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn protocol_comes_from_the_query() {
        let p = parse_url("redis://h?protocol=RESP2").unwrap();
        assert_eq!(p.protocol, Some(Protocol::Resp2));
        let c = Config::from_url("redis://h?protocol=resp2").unwrap();
        assert_eq!(c.get_protocol(), Protocol::Resp2);
        assert_eq!(
            Config::from_url("redis://h").unwrap().get_protocol(),
            Protocol::Resp3
        );
    }

    #[test]
    fn redaction_hides_every_password_position() {
        let cases = [
            ("redis://u:secret@h:1/2", "redis://u:***@h:1/2"),
            ("redis://:secret@h", "redis://:***@h"),
            ("redis://u@h", "redis://u@h"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("redis://:se@cr@et@h", "redis://:***@h"),
            ("redis://:se/cret@h", "redis://:***@h"),
            ("redis:/:secret@h", "redis:***@h"),
            ("x:secret@h", "x:***@h"),
            (
                "unix:///s?db=1&password=secret",
                "unix:///s?db=1&password=***",
            ),
            (
                "unix:///s?pass%77ord=secret&protocol=2",
                "unix:///s?pass%77ord=***&protocol=2",
            ),
            ("unix:///s?secret", "unix:///s?***"),
            ("redis://h#secret", "redis://h#***"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn url_errors_never_contain_the_password() {
        let urls = [
            "redis://u:hunter2@h:abc",
            "redis://:hunter2@",
            "redis://:hun/ter2@h",
            "redis://:hunter2@h/x",
            "redis://:hunter2@h?foo=1",
            "redis://:a@h?password=hunter2",
            "redis://u:%zzhunter2@h",
            "ftp://:hunter2@h",
            "unix://u:hunter2/x@/sock",
            "unix:///s?pass%77ord=hunter2",
            "redis://:hunter2@h#hunter2",
            "redis:/:hunter2@h",
        ];
        for url in urls {
            let err = Config::from_url(url).expect_err(url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("hunter2"), "{url} -> {shown}");
            assert!(!shown.contains("hun"), "{url} -> {shown}");
        }
    }

    #[test]
    fn env_values_parse_with_seed_defaults() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert!(!c.is_enabled());
        assert_eq!(c.get_addr(), &tcp("localhost", 6379));
        assert_eq!(
            (c.get_db(), c.get_username(), c.get_password()),
            (0, None, None)
        );
        assert_eq!(c.get_max_connections(), 10);
        assert_eq!(c.get_response_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(c.get_connect_timeout(), Duration::from_secs(5));
        assert_eq!(c.get_pool_acquire_timeout(), Duration::from_secs(5));
        assert_eq!(c.get_protocol(), Protocol::Resp3);

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
    fn env_numbers_are_checked() {
        type Check = fn(&Config) -> bool;
        #[rustfmt::skip]
        let ok: &[(&str, &str, Check)] = &[
            ("REDIS_PORT", "6380", |c| c.get_port() == Some(6380)),
            ("REDIS_PORT", " 1 ", |c| c.get_port() == Some(1)),
            ("REDIS_PORT", "65535", |c| c.get_port() == Some(65535)),
            ("REDIS_DB", "15", |c| c.get_db() == 15),
            ("REDIS_MAX_CONNECTIONS", "1", |c| c.get_max_connections() == 1),
            ("REDIS_SOCKET_TIMEOUT", "0.25", |c| c.get_response_timeout() == Some(Duration::from_millis(250))),
            ("REDIS_SOCKET_TIMEOUT", "2", |c| c.get_response_timeout() == Some(Duration::from_secs(2))),
            ("REDIS_SOCKET_TIMEOUT", "0", |c| c.get_response_timeout().is_none()),
            ("REDIS_SOCKET_TIMEOUT", "0.0", |c| c.get_response_timeout().is_none()),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "1e-3", |c| c.get_connect_timeout() == Duration::from_millis(1)),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "1.5", |c| c.get_pool_acquire_timeout() == Duration::from_millis(1500)),
            ("REDIS_PORT", "", |c| c.get_port() == Some(6379)),
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
    fn validate_rejects_unusable_settings() {
        let bad: &[(Config, &str)] = &[
            (Config::default().host(""), "host"),
            (Config::default().port(0), "port"),
            (Config::default().unix_socket(""), "unix_socket"),
            (Config::default().db(-1), "db"),
            (Config::default().max_connections(0), "max_connections"),
            (
                Config::default().response_timeout(Some(Duration::ZERO)),
                "response_timeout",
            ),
            (
                Config::default().subscriber_ping_interval(Some(Duration::ZERO)),
                "subscriber_ping_interval",
            ),
            (
                Config::default().connect_timeout(Duration::ZERO),
                "connect_timeout",
            ),
            (
                Config::default().pool_acquire_timeout(Duration::ZERO),
                "pool_acquire_timeout",
            ),
            (
                Config::default().reconnect_delays(Duration::ZERO, Duration::from_secs(1)),
                "reconnect_min_delay",
            ),
            (
                Config::default().reconnect_delays(Duration::from_secs(2), Duration::from_secs(1)),
                "reconnect_max_delay",
            ),
            (Config::default().client_name("a b"), "client_name"),
            (Config::default().client_name("a\nb"), "client_name"),
        ];
        for (config, setting) in bad {
            let err = config.validate().expect_err(setting);
            assert_eq!(err.variable(), *setting, "{err}");
        }
        Config::default().validate().unwrap();
        Config::default()
            .response_timeout(None)
            .client_name("worker-1")
            .validate()
            .unwrap();
    }

    #[test]
    fn builders_switch_between_tcp_and_unix() {
        let c = Config::default().unix_socket("/s").port(7000);
        assert_eq!(c.get_addr(), &tcp("localhost", 7000));
        let c = Config::default().port(7000).unix_socket("/s").host("h");
        assert_eq!(c.get_addr(), &tcp("h", 6379));
        let c = Config::default().port(7000).host("h");
        assert_eq!(c.get_addr(), &tcp("h", 7000));
        assert_eq!(c.get_unix_socket(), None);
        let c = Config::default().unix_socket("/s");
        assert_eq!((c.get_host(), c.get_port()), (None, None));
        assert_eq!(c.get_unix_socket(), Some(Path::new("/s")));
    }

    #[test]
    fn rediss_urls_turn_tls_on_with_the_redis_forms() {
        let c = Config::from_url("rediss://u:p@h:6380/2?protocol=resp2").unwrap();
        assert_eq!(c.get_tls(), Some(&TlsOptions::new()));
        assert_eq!(c.get_addr(), &tcp("h", 6380));
        assert_eq!((c.get_db(), c.get_password()), (2, Some("p")));
        assert_eq!(c.get_protocol(), Protocol::Resp2);
        let c = Config::from_url("REDISS://[::1]").unwrap();
        assert!(c.is_tls() && c.get_addr() == &tcp("::1", 6379));
        assert!(!Config::from_url("redis://h").unwrap().is_tls());
        assert!(!Config::from_url("unix:///s").unwrap().is_tls());
        // A rediss:// parse error is redacted like a redis:// one.
        let err = Config::from_url("rediss://:hunter2@h:x").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
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
                    TlsOptions::new()
                        .ca_file("/ca.pem")
                        .client_cert("/c.pem", "/c.key")
                        .server_name("redis.internal"),
                ),
            ),
            (
                &[
                    ("REDIS_URL", "rediss://h"),
                    ("REDIS_TLS_CA_FILE", "/ca.pem"),
                ],
                Some(TlsOptions::new().ca_file("/ca.pem")),
            ),
        ];
        for (vars, want) in cases {
            let c = Config::from_lookup(lookup(vars)).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!(c.get_tls(), want.as_ref(), "{vars:?}");
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
        ];
        for (vars, variable) in cases {
            let err = Config::from_lookup(lookup(vars)).expect_err(&format!("{vars:?}"));
            assert_eq!(err.variable(), *variable, "{vars:?}: {err}");
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    #[test]
    fn tls_settings_are_validated() {
        let tls = |t: TlsOptions| Config::default().tls(t);
        let bad: &[(Config, &str)] = &[
            (tls(TlsOptions::new()).unix_socket("/s"), "tls"),
            (tls(TlsOptions::new().ca_file("")), "tls_ca_file"),
            (
                tls(TlsOptions::new().client_cert("", "/k")),
                "tls_cert_file",
            ),
            (tls(TlsOptions::new().client_cert("/c", "")), "tls_key_file"),
            (tls(TlsOptions::new().server_name("")), "tls_server_name"),
        ];
        for (config, setting) in bad {
            let err = config.check_settings().expect_err(setting);
            assert_eq!(err.variable(), *setting, "{err}");
        }
        let ok = tls(TlsOptions::new().ca_file("/ca").server_name("n"));
        ok.check_settings().unwrap();
        assert!(
            Config::default()
                .tls(TlsOptions::new())
                .no_tls()
                .get_tls()
                .is_none()
        );
        // A build without the feature refuses TLS instead of connecting in plain text.
        if cfg!(feature = "tls") {
            ok.validate().unwrap();
        } else {
            assert_eq!(ok.validate(), Err(ConfigError::TlsUnavailable));
        }
    }

    #[test]
    fn tls_options_show_no_secret_and_danger_is_visible() {
        let t = TlsOptions::new().danger_accept_invalid_certs();
        assert!(t.is_danger_accept_invalid_certs());
        assert!(!TlsOptions::new().is_danger_accept_invalid_certs());
        let c = Config::default().password("hunter2").tls(t);
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("danger_accept_invalid_certs: true"),
            "{shown}"
        );
    }

    #[test]
    fn addresses_display_like_socket_addresses() {
        assert_eq!(tcp("h", 1).to_string(), "h:1");
        assert_eq!(tcp("::1", 2).to_string(), "[::1]:2");
        assert_eq!(
            ServerAddr::Unix("/a.sock".into()).to_string(),
            "unix:/a.sock"
        );
    }
}
