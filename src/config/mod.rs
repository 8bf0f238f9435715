//! [`Config`]: connection settings, from code, from the environment, or from a URL.
//!
//! Where each concern lives:
//!
//! - `mod.rs`: [`Config`], a checked set of settings read through plain accessors
//!   (`host()`, `port()`, `password()`, ...), the address and protocol types, the defaults,
//!   and [`IntoConfig`], what clients accept;
//! - `builder.rs`: [`ConfigBuilder`], consuming setters (`host("h")`, `port(1)`, ...) and
//!   [`ConfigBuilder::build`], which runs every check, so a chain never panics and never
//!   needs `?` at every step;
//! - `env.rs`: [`env`](mod@env), the variable names, [`Config::from_env`] and
//!   [`Config::from_lookup`], which takes the lookup as a closure so tests never touch the
//!   process environment;
//! - `url.rs`: [`Config::from_url`] (also used for `REDIS_URL`, [`FromStr`] and
//!   [`TryFrom<&str>`]), percent-decoding, and the redaction of URLs in errors;
//! - `tls.rs`: [`TlsOptions`] and its [`TlsOptionsBuilder`]. Certificates and host names
//!   are verified unless the loudly named [`TlsOptionsBuilder::danger_accept_invalid_certs`]
//!   is called; no URL parameter or environment variable can turn verification off, so a
//!   deployment setting cannot weaken it by accident. The options are plain data (this
//!   module does no I/O): the files are read when a client is created, and a build without
//!   the `tls` cargo feature refuses a TLS config there rather than connecting in plain text;
//! - `credentials.rs`: [`CredentialsProvider`], asked for the credentials at every
//!   handshake and for the scheduled re-`AUTH` (credentials that change: tokens, rotation);
//! - `error.rs`: [`ConfigError`].
//!
//! Secrets: the password is never printed. `Debug` shows `<redacted>`; errors about a URL show
//! it with the password (and any query value other than `db` and `protocol`) replaced by `***`;
//! error reasons are fixed strings, never slices of the input, so a malformed URL cannot leak
//! part of a password through them either.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

mod builder;
pub(crate) mod cache;
mod credentials;
pub mod env;
mod error;
mod tls;
mod url;

pub use builder::ConfigBuilder;
pub use cache::{Admission, CacheConfig, CachedCommand, TrackingMode};
pub(crate) use credentials::ProviderHandle;
pub use credentials::{BoxFuture, Credentials, CredentialsError, CredentialsProvider};
pub use error::ConfigError;
#[cfg(feature = "tls")]
pub use tls::rustls;
pub use tls::{TlsOptions, TlsOptionsBuilder, TlsRoots};

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
/// How long a pooled exclusive connection may sit idle before it is checked with `PING` when
/// it is next taken: 15 s.
pub const DEFAULT_IDLE_CHECK_AFTER: Duration = Duration::from_secs(15);

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

/// The default port of a sentinel.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Client settings: where the server is, how to authenticate, pool size, timeouts.
///
/// A `Config` has passed every check of [`ConfigBuilder::build`]: build one with
/// [`Config::builder`], or read one with [`Config::from_url`] (or `str::parse`) or
/// [`Config::from_env`]. Read settings with the accessors; change them with
/// [`Config::into_builder`]. `Debug` never shows the password.
///
/// [`Config::default`] is the seed document's defaults (`localhost:6379`, db 0, no
/// credentials, 10 connections, 5 s response and connect timeouts, RESP3 preferred) with
/// Redis *enabled*: a config built in code is meant to be used. [`Config::from_env`] instead
/// follows `ENABLE_REDIS`, which defaults to disabled.
///
/// Clients take any [`IntoConfig`]: a `Config`, a [`ConfigBuilder`] or a URL.
///
/// # Examples
///
/// ```
/// use redis_manager::config::{Config, ServerAddr};
///
/// let config = Config::builder().host("cache.internal").port(6380).db(2).build()?;
/// assert_eq!(config.addr().to_string(), "cache.internal:6380");
/// assert_eq!((config.host(), config.port(), config.db()), (Some("cache.internal"), Some(6380), 2));
///
/// let from_url: Config = "redis://app:s3cret@[::1]:6380/2".parse()?;
/// assert_eq!(from_url.addr(), &ServerAddr::Tcp { host: "::1".into(), port: 6380 });
/// assert_eq!(from_url.password(), Some("s3cret"));
/// assert!(!format!("{from_url:?}").contains("s3cret"));
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
    /// `TCP_NODELAY` on TCP connections (see `ConfigBuilder::tcp_nodelay`).
    tcp_nodelay: bool,
    client_name: Option<String>,
    protocol: Protocol,
    /// `None`: the connect timeout.
    pool_acquire_timeout: Option<Duration>,
    reconnect_min_delay: Duration,
    reconnect_max_delay: Duration,
    idle_check_after: Duration,
    /// `None`: plain TCP.
    tls: Option<TlsOptions>,
    /// Seed nodes of a Redis Cluster; empty: not a cluster.
    cluster_nodes: Vec<ServerAddr>,
    /// Cluster reads from replicas (`READONLY`).
    read_from_replicas: bool,
    /// Put `db.query.text` (arguments redacted) on command spans.
    trace_query_text: bool,
    /// Sentinels to ask for the master; empty: no Sentinel.
    sentinels: Vec<ServerAddr>,
    /// The master name the sentinels monitor.
    sentinel_master: Option<String>,
    /// Credentials for the sentinels themselves (their `requirepass` or an ACL user), which
    /// are not the master's.
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    /// Client-side caching; `None`: off.
    cache: Option<CacheConfig>,
    /// Asked for the credentials at every handshake, instead of `username`/`password`.
    credentials_provider: Option<ProviderHandle>,
    /// How often live connections re-send `AUTH` with the provider's credentials.
    reauth_interval: Option<Duration>,
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
            tcp_nodelay: true,
            client_name: None,
            protocol: Protocol::Resp3,
            pool_acquire_timeout: None,
            reconnect_min_delay: DEFAULT_RECONNECT_MIN_DELAY,
            reconnect_max_delay: DEFAULT_RECONNECT_MAX_DELAY,
            idle_check_after: DEFAULT_IDLE_CHECK_AFTER,
            tls: None,
            cluster_nodes: Vec::new(),
            read_from_replicas: false,
            trace_query_text: false,
            sentinels: Vec::new(),
            sentinel_master: None,
            sentinel_username: None,
            sentinel_password: None,
            cache: None,
            credentials_provider: None,
            reauth_interval: None,
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
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("client_name", &self.client_name)
            .field("protocol", &self.protocol)
            .field("pool_acquire_timeout", &self.pool_acquire_timeout())
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("idle_check_after", &self.idle_check_after)
            .field("tls", &self.tls)
            .field("cluster_nodes", &self.cluster_nodes)
            .field("read_from_replicas", &self.read_from_replicas)
            .field("trace_query_text", &self.trace_query_text)
            .field("sentinels", &self.sentinels)
            .field("sentinel_master", &self.sentinel_master)
            .field("sentinel_username", &self.sentinel_username)
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| Redacted),
            )
            .field("cache", &self.cache)
            .field("credentials_provider", &self.credentials_provider)
            .field("reauth_interval", &self.reauth_interval)
            .finish()
    }
}

impl Config {
    /// A builder starting from [`Config::default`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder starting from this config, to change some settings.
    pub fn into_builder(self) -> ConfigBuilder {
        ConfigBuilder::from(self)
    }

    /// Refuses what this build cannot do: TLS without the `tls` cargo feature. Kept apart
    /// from [`ConfigBuilder::build`] so that parsing behaves the same in every build.
    pub(crate) fn check_supported(&self) -> Result<(), ConfigError> {
        if self.tls.is_some() && !cfg!(feature = "tls") {
            return Err(ConfigError::TlsUnavailable);
        }
        Ok(())
    }

    /// This config with Redis disabled: what a manager falls back to when its config is
    /// unusable.
    pub(crate) fn into_disabled(mut self) -> Config {
        self.enabled = false;
        self
    }

    /// The server address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The TCP host, or `None` for a Unix socket.
    pub fn host(&self) -> Option<&str> {
        match &self.addr {
            ServerAddr::Tcp { host, .. } => Some(host),
            ServerAddr::Unix(_) => None,
        }
    }

    /// The TCP port, or `None` for a Unix socket.
    pub fn port(&self) -> Option<u16> {
        match &self.addr {
            ServerAddr::Tcp { port, .. } => Some(*port),
            ServerAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, or `None` for TCP.
    pub fn unix_socket(&self) -> Option<&Path> {
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
    pub fn db(&self) -> i64 {
        self.db
    }

    /// The ACL user name, if any.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, if any. Do not log it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The provider asked for the credentials at every handshake, when one is set
    /// (see [`ConfigBuilder::credentials_provider`]).
    pub fn credentials_provider(&self) -> Option<&Arc<dyn CredentialsProvider>> {
        self.credentials_provider.as_ref().map(|p| &p.0)
    }

    /// How often live connections re-send `AUTH` with the provider's credentials; `None`:
    /// only at handshakes.
    pub fn reauth_interval(&self) -> Option<Duration> {
        self.reauth_interval
    }

    /// The maximum number of pooled connections.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The response timeout per command; `None` waits forever.
    pub fn response_timeout(&self) -> Option<Duration> {
        self.response_timeout
    }

    /// How long a subscriber's connection may stay silent before a `PING`; `None`: never.
    pub fn subscriber_ping_interval(&self) -> Option<Duration> {
        self.subscriber_ping_interval
    }

    /// The bound on connecting plus the handshake.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Whether TCP connections send small writes at once (`TCP_NODELAY`, the default) or
    /// let the kernel hold them back while earlier data is unacknowledged (Nagle).
    pub fn tcp_nodelay(&self) -> bool {
        self.tcp_nodelay
    }

    /// The `CLIENT SETNAME` name, if any.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The protocol choice.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// How long to wait for a free pooled connection (the connect timeout unless set).
    pub fn pool_acquire_timeout(&self) -> Duration {
        self.pool_acquire_timeout.unwrap_or(self.connect_timeout)
    }

    /// The first reconnect delay.
    pub fn reconnect_min_delay(&self) -> Duration {
        self.reconnect_min_delay
    }

    /// The cap on the reconnect delay.
    pub fn reconnect_max_delay(&self) -> Duration {
        self.reconnect_max_delay
    }

    /// True when command spans carry `db.query.text`, the command with every argument
    /// replaced by `?` (see [`ConfigBuilder::trace_query_text`]).
    pub fn is_trace_query_text(&self) -> bool {
        self.trace_query_text
    }

    /// How long a pooled exclusive connection may sit idle before it is checked with `PING`
    /// when it is next taken (and replaced if the check fails).
    pub fn idle_check_after(&self) -> Duration {
        self.idle_check_after
    }

    /// The TLS settings, or `None` for plain text.
    pub fn tls(&self) -> Option<&TlsOptions> {
        self.tls.as_ref()
    }

    /// True when connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The cluster seed nodes; empty when this is not a cluster config.
    pub fn cluster_nodes(&self) -> &[ServerAddr] {
        &self.cluster_nodes
    }

    /// True when a cluster client may read from replicas.
    pub fn is_read_from_replicas(&self) -> bool {
        self.read_from_replicas
    }

    /// The sentinels; empty without Sentinel.
    pub fn sentinels(&self) -> &[ServerAddr] {
        &self.sentinels
    }

    /// The master name the sentinels monitor, when Sentinel is used.
    pub fn sentinel_master(&self) -> Option<&str> {
        self.sentinel_master.as_deref()
    }

    /// The user name for the sentinels, if any.
    pub fn sentinel_username(&self) -> Option<&str> {
        self.sentinel_username.as_deref()
    }

    /// The password for the sentinels, if any. Do not log it.
    pub fn sentinel_password(&self) -> Option<&str> {
        self.sentinel_password.as_deref()
    }

    /// The client-side caching settings, when caching is on.
    pub fn cache(&self) -> Option<&CacheConfig> {
        self.cache.as_ref()
    }
}

/// Parses a URL, as [`Config::from_url`].
impl FromStr for Config {
    type Err = ConfigError;

    fn from_str(url: &str) -> Result<Config, ConfigError> {
        Config::from_url(url)
    }
}

/// Parses a URL, as [`Config::from_url`].
impl TryFrom<&str> for Config {
    type Error = ConfigError;

    fn try_from(url: &str) -> Result<Config, ConfigError> {
        Config::from_url(url)
    }
}

mod sealed {
    /// Keeps [`IntoConfig`](super::IntoConfig) closed to the types listed there.
    pub trait Sealed {}
}

/// What [`Client::new`](crate::Client::new), [`Client::connect`](crate::Client::connect)
/// and [`RedisManager::new`](crate::RedisManager::new) accept: a [`Config`], a
/// [`ConfigBuilder`] (built there, so a call site needs no `.build()?`), or a URL as
/// `&str`, `String` or `&String` (parsed with [`Config::from_url`]).
///
/// Why a trait: a config is checked once, when it is built, and every way of describing
/// one should be as short at the call site as the others. Why sealed: the conversions are
/// part of the configuration rules (validation, URL syntax, redaction), so other types
/// convert by going through one of these, and new implementations here break no one.
///
/// # Examples
///
/// ```no_run
/// use redis_manager::{Client, Config};
///
/// # async fn demo() -> redis_manager::Result<()> {
/// let a = Client::connect("redis://127.0.0.1:6379/1").await?;
/// let b = Client::connect(Config::builder().host("127.0.0.1").db(1)).await?;
/// let c = Client::connect(Config::from_env()?).await?;
/// # let _ = (a, b, c); Ok(()) }
/// ```
pub trait IntoConfig: sealed::Sealed {
    /// The checked config.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`ConfigBuilder::build`] or [`Config::from_url`].
    fn into_config(self) -> Result<Config, ConfigError>;
}

impl sealed::Sealed for Config {}
impl IntoConfig for Config {
    fn into_config(self) -> Result<Config, ConfigError> {
        Ok(self)
    }
}

impl sealed::Sealed for ConfigBuilder {}
impl IntoConfig for ConfigBuilder {
    fn into_config(self) -> Result<Config, ConfigError> {
        self.build()
    }
}

impl sealed::Sealed for &str {}
impl IntoConfig for &str {
    fn into_config(self) -> Result<Config, ConfigError> {
        Config::from_url(self)
    }
}

impl sealed::Sealed for String {}
impl IntoConfig for String {
    fn into_config(self) -> Result<Config, ConfigError> {
        Config::from_url(&self)
    }
}

impl sealed::Sealed for &String {}
impl IntoConfig for &String {
    fn into_config(self) -> Result<Config, ConfigError> {
        Config::from_url(self)
    }
}

#[cfg(test)]
mod testing {
    use super::ServerAddr;
    use std::collections::HashMap;

    pub(super) fn tcp(host: &str, port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: host.to_owned(),
            port,
        }
    }

    pub(super) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::tcp;
    use super::*;

    #[test]
    fn tls_options_show_no_secret_and_danger_is_visible() {
        let t = TlsOptions::builder().danger_accept_invalid_certs().build();
        assert!(t.is_danger_accept_invalid_certs());
        assert!(!TlsOptions::new().is_danger_accept_invalid_certs());
        let c = Config::builder()
            .password("hunter2")
            .tls(t)
            .build()
            .unwrap();
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

    #[test]
    fn urls_convert_through_from_str_try_from_and_into_config() {
        let url = "redis://u:pw@[::1]:6390/2";
        let want = Config::from_url(url).unwrap();
        assert_eq!(url.parse::<Config>(), Ok(want.clone()));
        assert_eq!(Config::try_from(url), Ok(want.clone()));
        assert_eq!(url.into_config(), Ok(want.clone()));
        assert_eq!(url.to_owned().into_config(), Ok(want.clone()));
        assert_eq!((&url.to_owned()).into_config(), Ok(want.clone()));
        assert_eq!(want.clone().into_config(), Ok(want.clone()));
        assert_eq!(want.clone().into_builder().into_config(), Ok(want.clone()));
        let bad = "redis://u:hunter2@h:x";
        for err in [
            bad.parse::<Config>().unwrap_err(),
            Config::try_from(bad).unwrap_err(),
            bad.into_config().unwrap_err(),
        ] {
            assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err:?}");
            assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_builder_converts_by_building_and_keeps_the_password_out_of_debug() {
        let b = Config::builder().port(0).password("hunter2");
        assert!(!format!("{b:?}").contains("hunter2"));
        assert_eq!(
            b.clone().into_config().unwrap_err().variable(),
            "port",
            "into_config runs build's checks"
        );
        let c = b.port(7).into_config().unwrap();
        assert_eq!((c.port(), c.password()), (Some(7), Some("hunter2")));
        assert_eq!(c.clone().into_builder().build(), Ok(c.clone()));
        assert!(!c.into_disabled().is_enabled());
    }
}
