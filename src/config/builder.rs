//! [`ConfigBuilder`]: settings in code, checked once by [`ConfigBuilder::build`].

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::credentials::FnProvider;
use super::error::invalid;
use super::{
    CacheConfig, Config, ConfigError, Credentials, CredentialsError, CredentialsProvider,
    DEFAULT_HOST, DEFAULT_PORT, Protocol, ProviderHandle, ServerAddr, TlsOptions,
};

/// Builds a [`Config`]: consuming setters that accept any value, then
/// [`ConfigBuilder::build`] checks them all at once, so a chain never panics and never
/// needs `?` at every step.
///
/// Start from [`Config::builder`] (the defaults), or from an existing config with
/// [`Config::into_builder`] (say, one read by [`Config::from_url`]). `Debug` never shows
/// a password.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_manager::config::{Config, Protocol, ServerAddr};
///
/// let config = Config::builder()
///     .host("cache.internal")
///     .port(6380)
///     .db(2)
///     .username("app")
///     .password("s3cret")
///     .max_connections(4)
///     .response_timeout(Some(Duration::from_millis(500)))
///     .protocol(Protocol::Resp2)
///     .build()?;
/// assert_eq!(config.addr().to_string(), "cache.internal:6380");
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// // A URL, then settings a URL cannot give:
/// let from_url = Config::from_url("redis://app:s3cret@cache.internal:6380/2")?
///     .into_builder()
///     .max_connections(4)
///     .build()?;
/// assert_eq!(from_url.password(), Some("s3cret"));
/// assert_eq!(from_url.db(), 2);
///
/// let unix = Config::from_url("unix:///run/redis.sock?db=1")?;
/// assert_eq!(unix.addr(), &ServerAddr::Unix("/run/redis.sock".into()));
/// # Ok::<(), redis_manager::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use = "a builder does nothing until `build` is called or it is passed to a client"]
pub struct ConfigBuilder {
    config: Config,
}

impl From<Config> for ConfigBuilder {
    fn from(config: Config) -> ConfigBuilder {
        ConfigBuilder { config }
    }
}

impl ConfigBuilder {
    /// Checks the settings and returns the config.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] naming the setting: an empty host, port 0, a negative
    /// db, `max_connections` 0, a zero connect or response timeout (use `None` for no
    /// response timeout), a zero acquire timeout, ping interval or minimum reconnect delay,
    /// a minimum reconnect delay above the maximum, a client name with spaces or line breaks
    /// (which `CLIENT SETNAME` refuses), TLS over a Unix socket, an empty TLS file name or
    /// server name, a rustls `ClientConfig` combined with the TLS settings it replaces, a
    /// database other than 0 on a cluster, cluster and Sentinel together, a Sentinel
    /// setting without a master name or sentinels, a zero re-`AUTH` interval or one
    /// without a credentials provider, or a cache budget under 1024 bytes, a zero cache age
    /// limit, overlapping broadcast prefixes, or opt-in tracking on a cluster.
    ///
    /// A TLS config is accepted even by a build without the `tls` cargo feature, so that
    /// configs behave the same in every build; creating a client from it then fails with
    /// [`ConfigError::TlsUnavailable`] instead of connecting in plain text.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.check_settings()?;
        Ok(self.config)
    }

    /// Connects over TCP to `host`, keeping the current port (6379 if the address was a
    /// Unix socket). An IPv6 address is given without brackets (`"::1"`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        let port = self.config.port().unwrap_or(DEFAULT_PORT);
        self.config.addr = ServerAddr::Tcp {
            host: host.into(),
            port,
        };
        self
    }

    /// Connects over TCP to `port`, keeping the current host (`localhost` if the address was
    /// a Unix socket).
    pub fn port(mut self, port: u16) -> Self {
        let host = self.config.host().unwrap_or(DEFAULT_HOST).to_owned();
        self.config.addr = ServerAddr::Tcp { host, port };
        self
    }

    /// Connects to the Unix domain socket at `path`.
    pub fn unix_socket(self, path: impl Into<PathBuf>) -> Self {
        self.addr(ServerAddr::Unix(path.into()))
    }

    /// Sets the server address.
    pub fn addr(mut self, addr: ServerAddr) -> Self {
        self.config.addr = addr;
        self
    }

    /// Enables or disables Redis (`ENABLE_REDIS`). The client itself ignores this; the
    /// manager uses it to decide whether to connect at all.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// Selects database `db` (`SELECT`) on every connection.
    pub fn db(mut self, db: i64) -> Self {
        self.config.db = db;
        self
    }

    /// Authenticates as the ACL user `username` (requires a password).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.config.username = Some(username.into());
        self
    }

    /// Authenticates with `password` (as user `default` unless a user name is set).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.config.password = Some(password.into());
        self
    }

    /// Removes the user name and password (and any credentials provider).
    pub fn no_auth(mut self) -> Self {
        self.config.username = None;
        self.config.password = None;
        self.config.credentials_provider = None;
        self
    }

    /// Asks `provider` for the user name and password at every handshake (the first
    /// connection, every reconnect, every pooled connection, cluster nodes,
    /// Sentinel-resolved masters), instead of the fixed [`username`](Self::username) and
    /// [`password`](Self::password), which it replaces. For credentials that change: rotated
    /// passwords, cloud providers' short-lived tokens. With
    /// [`reauth_interval`](Self::reauth_interval), live connections also re-send `AUTH`.
    /// The sentinels keep their own credentials ([`sentinel_password`](Self::sentinel_password)).
    pub fn credentials_provider(mut self, provider: impl CredentialsProvider + 'static) -> Self {
        self.config.credentials_provider = Some(ProviderHandle(Arc::new(provider)));
        self
    }

    /// [`credentials_provider`](Self::credentials_provider) from an async closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_manager::config::{Config, Credentials, CredentialsError};
    ///
    /// let config = Config::builder()
    ///     .credentials_fn(|| async {
    ///         let token = std::env::var("REDIS_TOKEN").map_err(CredentialsError::new)?;
    ///         Ok(Credentials::user("app", token))
    ///     })
    ///     .build()?;
    /// assert!(config.credentials_provider().is_some());
    /// # Ok::<(), redis_manager::ConfigError>(())
    /// ```
    pub fn credentials_fn<F, Fut>(self, provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, CredentialsError>> + Send + 'static,
    {
        self.credentials_provider(FnProvider(provider))
    }

    /// Re-sends `AUTH`, with fresh credentials from the
    /// [`credentials_provider`](Self::credentials_provider), every `interval` on the live
    /// connections (the shared one and the idle pooled ones; a connection in use by a
    /// subscriber or a transaction is re-authenticated when it reconnects or returns to
    /// the pool): a token-authenticated connection then never outlives its token. Set it
    /// comfortably below the token's lifetime. `None` (the default) authenticates at
    /// handshakes only. Needs a provider.
    pub fn reauth_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.reauth_interval = interval;
        self
    }

    /// Allows at most `max` pooled connections (at least 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max;
        self
    }

    /// Fails a command with a timeout error when no reply arrives within `timeout`; `None`
    /// waits forever.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.response_timeout = timeout;
        self
    }

    /// Checks a subscriber's connection with `PING` after it has been silent for `interval`
    /// (default [`DEFAULT_SUBSCRIBER_PING_INTERVAL`](super::DEFAULT_SUBSCRIBER_PING_INTERVAL));
    /// without an answer within the response timeout the subscriber reconnects and
    /// resubscribes. A subscriber only reads, so without this a connection that died without
    /// a FIN (a dropped route, a frozen server) would go unnoticed for as long as the
    /// kernel's keepalive takes, hours by default. `None` never pings.
    ///
    /// On a cluster, a subscriber to shard channels has a connection to each of their masters
    /// besides its own; it pings all of them every `interval`, busy or not, and reconnects
    /// everything when one does not answer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = redis_manager::Config::builder()
    ///     .subscriber_ping_interval(Some(Duration::from_secs(10)))
    ///     .build()?;
    /// assert_eq!(config.subscriber_ping_interval(), Some(Duration::from_secs(10)));
    /// # Ok::<(), redis_manager::ConfigError>(())
    /// ```
    pub fn subscriber_ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.subscriber_ping_interval = interval;
        self
    }

    /// Bounds connecting plus the handshake (`HELLO`, `AUTH`, `SELECT`, ...).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Sets `TCP_NODELAY` on TCP connections (default `true`: every write is sent at once).
    ///
    /// The client already gathers the requests of concurrent callers into one write, so
    /// with `TCP_NODELAY` a request never waits for anything but the socket. With `false`,
    /// the kernel's Nagle algorithm holds a small write back while an earlier one is
    /// unacknowledged, and sends what gathered meanwhile as one packet, usually when the
    /// server's reply (which carries the acknowledgement) arrives. On loopback, with 4–8
    /// tasks sending 100-byte values, that cut this client's kernel time per operation by a
    /// quarter to a third at the same throughput. The price is latency: a small write can
    /// wait for an acknowledgement that the server's kernel delays, by up to 40 ms on Linux,
    /// while the server has nothing to send back (the last packet of a large value, a
    /// request behind a slow one). Keep the default unless you measured your workload both
    /// ways.
    ///
    /// ```
    /// let config = redis_manager::Config::builder().tcp_nodelay(false).build()?;
    /// assert!(!config.tcp_nodelay());
    /// # Ok::<(), redis_manager::ConfigError>(())
    /// ```
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.config.tcp_nodelay = on;
        self
    }

    /// Names each connection with `CLIENT SETNAME` (no spaces allowed).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.config.client_name = Some(name.into());
        self
    }

    /// Chooses RESP3-with-fallback or RESP2 only.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// Waits at most `timeout` for a free pooled connection (default: the connect timeout).
    pub fn pool_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.config.pool_acquire_timeout = Some(timeout);
        self
    }

    /// Sets the reconnect backoff: the first delay `min`, doubling (with jitter) up to `max`.
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.config.reconnect_min_delay = min;
        self.config.reconnect_max_delay = max;
        self
    }

    /// Checks a pooled exclusive connection with `PING` before reusing it when it has been
    /// idle for `after` or longer (default [`DEFAULT_IDLE_CHECK_AFTER`](super::DEFAULT_IDLE_CHECK_AFTER));
    /// one that fails the check is closed and another taken or opened. `Duration::ZERO`
    /// checks every reuse.
    pub fn idle_check_after(mut self, after: Duration) -> Self {
        self.config.idle_check_after = after;
        self
    }

    /// Puts `db.query.text` on every command span (default: off, as OpenTelemetry's
    /// conventions ask): the command name followed by one `?` per argument, `SET ? ?`. No
    /// argument value is ever recorded, so keys, values and passwords stay out of traces.
    pub fn trace_query_text(mut self, enabled: bool) -> Self {
        self.config.trace_query_text = enabled;
        self
    }

    /// Connects over TLS with `options`: [`TlsOptions::new`] for full verification against
    /// the default roots, or a [`TlsOptionsBuilder`](super::TlsOptionsBuilder) directly.
    pub fn tls(mut self, options: impl Into<TlsOptions>) -> Self {
        self.config.tls = Some(options.into());
        self
    }

    /// Connects in plain text (the default).
    pub fn no_tls(mut self) -> Self {
        self.config.tls = None;
        self
    }

    /// Connects to a Redis Cluster through these seed nodes (any reachable one is enough:
    /// the client reads the whole topology from it). The address set by `host`/`port` is
    /// then only used in logs; it becomes the first seed.
    pub fn cluster_nodes(mut self, nodes: impl IntoIterator<Item = ServerAddr>) -> Self {
        self.config.cluster_nodes = nodes.into_iter().collect();
        if let Some(first) = self.config.cluster_nodes.first() {
            self.config.addr = first.clone();
        }
        self
    }

    /// On a cluster, lets read-only commands go to replicas (which may lag behind their
    /// master). Off by default.
    pub fn read_from_replicas(mut self, enabled: bool) -> Self {
        self.config.read_from_replicas = enabled;
        self
    }

    /// Finds the master named `master` through these sentinels, and follows its failovers.
    /// The address set by `host`/`port` is not used.
    pub fn sentinel(
        mut self,
        master: impl Into<String>,
        sentinels: impl IntoIterator<Item = ServerAddr>,
    ) -> Self {
        self.config.sentinel_master = Some(master.into());
        self.config.sentinels = sentinels.into_iter().collect();
        self
    }

    /// Authenticates to the sentinels with `password` (their `requirepass`), as user
    /// `default` unless [`ConfigBuilder::sentinel_username`] is set. The master's own
    /// credentials ([`ConfigBuilder::password`]) are never sent to the sentinels.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_manager::{Config, ServerAddr};
    ///
    /// let sentinel = ServerAddr::Tcp { host: "10.0.0.5".into(), port: 26379 };
    /// let config = Config::builder()
    ///     .sentinel("mymaster", [sentinel])
    ///     .sentinel_password("sentinel-secret")
    ///     .password("master-secret")
    ///     .build()?;
    /// assert_eq!(config.sentinel_password(), Some("sentinel-secret"));
    /// # Ok::<(), redis_manager::ConfigError>(())
    /// ```
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.config.sentinel_password = Some(password.into());
        self
    }

    /// Authenticates to the sentinels as this ACL user (with
    /// [`ConfigBuilder::sentinel_password`]).
    pub fn sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.config.sentinel_username = Some(username.into());
        self
    }

    /// Turns on server-assisted client-side caching (see [`crate::cache`]): replies of the
    /// cached read commands are kept in memory and dropped when the server says their keys
    /// changed (Redis 6 or later: over RESP3 on the connection itself, over RESP2 through a
    /// second connection subscribed to `__redis__:invalidate`).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.config.cache = Some(cache);
        self
    }

    /// Turns client-side caching off (the default).
    pub fn no_cache(mut self) -> Self {
        self.config.cache = None;
        self
    }
}

impl Config {
    /// Every check of [`ConfigBuilder::build`].
    pub(super) fn check_settings(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, variable: &'static str, value: &dyn fmt::Debug, reason| {
            if ok {
                Ok(())
            } else {
                Err(invalid(variable, &format!("{value:?}"), reason))
            }
        };
        let not_empty = |path: &Path, variable| {
            check(
                !path.as_os_str().is_empty(),
                variable,
                &path,
                "must not be empty",
            )
        };
        match &self.addr {
            ServerAddr::Tcp { host, port } => {
                check(!host.is_empty(), "host", host, "must not be empty")?;
                check(*port != 0, "port", port, "must be from 1 to 65535")?;
            }
            ServerAddr::Unix(path) => not_empty(path, "unix_socket")?,
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
        let durations: [(bool, &'static str, &dyn fmt::Debug, &'static str); 6] = [
            (
                self.response_timeout != Some(Duration::ZERO),
                "response_timeout",
                &self.response_timeout,
                "must be greater than zero (use None for no timeout)",
            ),
            (
                self.subscriber_ping_interval != Some(Duration::ZERO),
                "subscriber_ping_interval",
                &self.subscriber_ping_interval,
                "must be greater than zero (use None to never ping)",
            ),
            (
                !self.connect_timeout.is_zero(),
                "connect_timeout",
                &self.connect_timeout,
                "must be greater than zero",
            ),
            (
                self.pool_acquire_timeout != Some(Duration::ZERO),
                "pool_acquire_timeout",
                &self.pool_acquire_timeout,
                "must be greater than zero",
            ),
            (
                !self.reconnect_min_delay.is_zero(),
                "reconnect_min_delay",
                &self.reconnect_min_delay,
                "must be greater than zero",
            ),
            (
                self.reconnect_min_delay <= self.reconnect_max_delay,
                "reconnect_max_delay",
                &self.reconnect_max_delay,
                "must not be less than reconnect_min_delay",
            ),
        ];
        for (ok, variable, value, reason) in durations {
            check(ok, variable, value, reason)?;
        }
        if let Some(cache) = &self.cache {
            check(
                cache.max_bytes() >= 1024,
                "cache_max_bytes",
                &cache.max_bytes(),
                "must be at least 1024",
            )?;
            check(
                cache.max_age_limit() != Some(Duration::ZERO),
                "cache_max_age",
                &cache.max_age_limit(),
                "must be greater than zero",
            )?;
            if let Some((a, b)) = cache.tracking_mode().overlapping() {
                check(
                    false,
                    "cache_mode",
                    &(String::from_utf8_lossy(a), String::from_utf8_lossy(b)),
                    "has overlapping broadcast prefixes, which the server refuses",
                )?;
            }
        }
        if let Some(interval) = self.reauth_interval {
            check(
                !interval.is_zero(),
                "reauth_interval",
                &interval,
                "must be greater than zero (use None to authenticate at handshakes only)",
            )?;
            check(
                self.credentials_provider.is_some(),
                "reauth_interval",
                &interval,
                "needs a credentials provider",
            )?;
        }
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
            if let Some(path) = tls.ca_file() {
                not_empty(path, "tls_ca_file")?;
            }
            if let Some((cert, key)) = tls.client_cert() {
                not_empty(cert, "tls_cert_file")?;
                not_empty(key, "tls_key_file")?;
            }
            if tls.has_client_config() {
                let combined = tls.ca_file().is_some()
                    || tls.client_cert().is_some()
                    || tls.roots() != super::TlsRoots::Builtin
                    || tls.is_danger_accept_invalid_certs();
                check(
                    !combined,
                    "tls_client_config",
                    &"ClientConfig { .. }",
                    "replaces the ca file, client certificate, roots and verification settings: set them in the ClientConfig",
                )?;
            }
            if let Some(name) = tls.server_name() {
                check(
                    !name.is_empty(),
                    "tls_server_name",
                    &name,
                    "must not be empty",
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsOptionsBuilder;
    use crate::config::testing::tcp;

    #[test]
    fn validate_rejects_unusable_settings() {
        let bad: &[(ConfigBuilder, &str)] = &[
            (Config::builder().host(""), "host"),
            (Config::builder().port(0), "port"),
            (Config::builder().unix_socket(""), "unix_socket"),
            (Config::builder().db(-1), "db"),
            (Config::builder().max_connections(0), "max_connections"),
            (
                Config::builder().response_timeout(Some(Duration::ZERO)),
                "response_timeout",
            ),
            (
                Config::builder().subscriber_ping_interval(Some(Duration::ZERO)),
                "subscriber_ping_interval",
            ),
            (
                Config::builder().connect_timeout(Duration::ZERO),
                "connect_timeout",
            ),
            (
                Config::builder().pool_acquire_timeout(Duration::ZERO),
                "pool_acquire_timeout",
            ),
            (
                Config::builder().reconnect_delays(Duration::ZERO, Duration::from_secs(1)),
                "reconnect_min_delay",
            ),
            (
                Config::builder().reconnect_delays(Duration::from_secs(2), Duration::from_secs(1)),
                "reconnect_max_delay",
            ),
            (Config::builder().client_name("a b"), "client_name"),
            (Config::builder().client_name("a\nb"), "client_name"),
            (
                Config::builder().reauth_interval(Some(Duration::from_secs(1))),
                "reauth_interval",
            ),
            (
                Config::builder()
                    .credentials_fn(|| async { Ok(Credentials::password("p")) })
                    .reauth_interval(Some(Duration::ZERO)),
                "reauth_interval",
            ),
        ];
        for (config, setting) in bad {
            let err = config.clone().build().expect_err(setting);
            assert_eq!(err.variable(), *setting, "{err}");
        }
        Config::builder().build().unwrap();
        Config::builder()
            .response_timeout(None)
            .client_name("worker-1")
            .build()
            .unwrap();
    }

    #[test]
    fn builders_switch_between_tcp_and_unix() {
        let c = Config::builder()
            .unix_socket("/s")
            .port(7000)
            .build()
            .unwrap();
        assert_eq!(c.addr(), &tcp("localhost", 7000));
        let c = Config::builder()
            .port(7000)
            .unix_socket("/s")
            .host("h")
            .build()
            .unwrap();
        assert_eq!(c.addr(), &tcp("h", 6379));
        let c = Config::builder().port(7000).host("h").build().unwrap();
        assert_eq!(c.addr(), &tcp("h", 7000));
        assert_eq!(c.unix_socket(), None);
        let c = Config::builder().unix_socket("/s").build().unwrap();
        assert_eq!((c.host(), c.port()), (None, None));
        assert_eq!(c.unix_socket(), Some(Path::new("/s")));
    }

    #[test]
    fn tls_settings_are_validated() {
        let tls = |t: TlsOptionsBuilder| Config::builder().tls(t);
        let bad: &[(ConfigBuilder, &str)] = &[
            (tls(TlsOptions::builder()).unix_socket("/s"), "tls"),
            (tls(TlsOptions::builder().ca_file("")), "tls_ca_file"),
            (
                tls(TlsOptions::builder().client_cert("", "/k")),
                "tls_cert_file",
            ),
            (
                tls(TlsOptions::builder().client_cert("/c", "")),
                "tls_key_file",
            ),
            (
                tls(TlsOptions::builder().server_name("")),
                "tls_server_name",
            ),
        ];
        for (config, setting) in bad {
            let err = config.clone().build().expect_err(setting);
            assert_eq!(err.variable(), *setting, "{err}");
        }
        let ok = tls(TlsOptions::builder().ca_file("/ca").server_name("n"));
        let ok = ok.build().unwrap();
        assert!(
            Config::builder()
                .tls(TlsOptions::new())
                .no_tls()
                .build()
                .unwrap()
                .tls()
                .is_none()
        );
        // A build without the feature refuses TLS instead of connecting in plain text.
        if cfg!(feature = "tls") {
            ok.check_supported().unwrap();
        } else {
            assert_eq!(ok.check_supported(), Err(ConfigError::TlsUnavailable));
        }
    }
}
