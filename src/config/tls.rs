//! [`TlsOptions`]: which certificates to trust, an optional client certificate, the name to
//! verify; built with [`TlsOptionsBuilder`].

use std::path::{Path, PathBuf};
#[cfg(feature = "tls")]
use std::sync::Arc;

/// The rustls crate this client is built with (feature `tls`), for
/// [`TlsOptionsBuilder::client_config`]: build the `ClientConfig` with this re-export, so its
/// version is always the one the client uses.
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tokio_rustls::rustls;

/// Which certificates verify the server when no CA file is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root certificates, compiled into the client (the `webpki-roots` crate): the
    /// same on every machine, updated with the crate. The default.
    #[default]
    Builtin,
    /// The platform's trust store, read when a client is created (the
    /// `rustls-native-certs` crate): the system certificate files and directories on Linux
    /// (`SSL_CERT_FILE` and `SSL_CERT_DIR` replace them when set), the keychain on macOS, the
    /// system store on Windows. For a corporate CA installed on the machines. A store with no
    /// usable certificate fails every connection attempt with
    /// [`ConfigError::TlsNoPlatformRoots`](super::ConfigError::TlsNoPlatformRoots).
    Platform,
}

/// TLS settings: which certificates to trust, an optional client certificate, the name to
/// verify.
///
/// [`TlsOptions::new`] verifies the server's certificate chain against the Mozilla root
/// certificates compiled into the client (the `webpki-roots` crate) and checks that the
/// certificate is valid for the host being connected to. Nothing can turn either check off
/// except [`TlsOptionsBuilder::danger_accept_invalid_certs`].
///
/// The files are PEM and are read when a [`Client`](crate::Client) is created; a file that
/// cannot be read or holds no usable PEM item fails every connection attempt with
/// [`ConfigError::TlsFile`](super::ConfigError::TlsFile).
///
/// # Examples
///
/// ```
/// use redis_manager::config::{Config, TlsOptions};
///
/// // A private CA, mutual TLS, and a certificate issued for a name other than the address:
/// let config = Config::builder()
///     .host("10.0.0.7")
///     .port(6380)
///     .tls(
///         TlsOptions::builder()
///             .ca_file("/etc/redis/ca.pem")
///             .client_cert("/etc/redis/client.pem", "/etc/redis/client.key")
///             .server_name("redis.internal"),
///     )
///     .build()?;
/// let tls = config.tls().expect("tls is on");
/// assert_eq!(tls.server_name(), Some("redis.internal"));
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
    roots: TlsRoots,
    client_cert: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
    danger_accept_invalid_certs: bool,
    #[cfg(feature = "tls")]
    client_config: Option<UserClientConfig>,
}

/// A caller's rustls config: compared by identity (rustls configs have no equality), shown
/// without its contents (it may hold a private key).
#[cfg(feature = "tls")]
#[derive(Clone)]
struct UserClientConfig(Arc<rustls::ClientConfig>);

#[cfg(feature = "tls")]
impl PartialEq for UserClientConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(feature = "tls")]
impl Eq for UserClientConfig {}

#[cfg(feature = "tls")]
impl std::fmt::Debug for UserClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientConfig { .. }")
    }
}

impl TlsOptions {
    /// TLS with full verification against the default roots, no client certificate, and the
    /// host as the name to verify.
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// A builder starting from [`TlsOptions::new`].
    pub fn builder() -> TlsOptionsBuilder {
        TlsOptionsBuilder::default()
    }

    /// The CA file, if one replaces the default roots.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Which certificates verify the server when no CA file is given.
    pub fn roots(&self) -> TlsRoots {
        self.roots
    }

    /// The caller's own rustls config, when [`TlsOptionsBuilder::client_config`] gave one.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn client_config(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.client_config.as_ref().map(|c| &c.0)
    }

    /// True when a caller's rustls config replaces the settings above (in every build, so
    /// that the checks are the same).
    pub(super) fn has_client_config(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.client_config.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Sets the roots `REDIS_TLS_ROOTS` names.
    pub(super) fn set_roots(&mut self, roots: TlsRoots) {
        self.roots = roots;
    }

    /// The client certificate and key files, for mutual TLS.
    pub fn client_cert(&self) -> Option<(&Path, &Path)> {
        self.client_cert
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path()))
    }

    /// The name verified against the certificate, when it is not the host.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// True when certificate verification is switched off by
    /// [`TlsOptionsBuilder::danger_accept_invalid_certs`].
    pub fn is_danger_accept_invalid_certs(&self) -> bool {
        self.danger_accept_invalid_certs
    }

    /// Replaces the settings the `REDIS_TLS_*` variables give; `None` keeps the current one.
    pub(super) fn set_files(
        &mut self,
        ca_file: Option<String>,
        client_cert: Option<(String, String)>,
        server_name: Option<String>,
    ) {
        if let Some(ca) = ca_file {
            self.ca_file = Some(ca.into());
        }
        if let Some((cert, key)) = client_cert {
            self.client_cert = Some((cert.into(), key.into()));
        }
        if server_name.is_some() {
            self.server_name = server_name;
        }
    }
}

/// Builds [`TlsOptions`]. Never fails: the settings are checked with the rest of the
/// config by [`ConfigBuilder::build`](super::ConfigBuilder::build), which takes this
/// builder directly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptionsBuilder {
    options: TlsOptions,
}

impl TlsOptionsBuilder {
    /// Trusts only the CA certificates in the PEM file at `path` (one or more), instead of
    /// the default roots: the usual setting for a server with a private CA.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.ca_file = Some(path.into());
        self
    }

    /// Verifies the server against `roots` when no CA file is given: the compiled-in
    /// Mozilla roots ([`TlsRoots::Builtin`], the default) or the platform's trust store
    /// ([`TlsRoots::Platform`]; also `REDIS_TLS_ROOTS=platform`).
    pub fn roots(mut self, roots: TlsRoots) -> Self {
        self.options.roots = roots;
        self
    }

    /// Uses the caller's own rustls `ClientConfig` for every TLS session (feature `tls`):
    /// its trust anchors or custom verifier, client certificate resolver, protocol
    /// versions, crypto provider, key log. Build it with the re-exported
    /// [`rustls`](crate::config::rustls), so its version is the client's.
    ///
    /// It replaces every other setting of this builder except
    /// [`server_name`](TlsOptionsBuilder::server_name) (the name verified and sent as SNI,
    /// by default the host); combining it with a CA file, client certificate, roots or
    /// [`danger_accept_invalid_certs`](TlsOptionsBuilder::danger_accept_invalid_certs) is
    /// refused by [`ConfigBuilder::build`](super::ConfigBuilder::build) rather than silently
    /// ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use redis_manager::config::{rustls, Config, TlsOptions};
    ///
    /// let mut roots = rustls::RootCertStore::empty();
    /// // roots.add(...) with the certificates to trust
    /// # let _ = &mut roots;
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let config = Config::builder()
    ///     .host("redis.internal")
    ///     .tls(TlsOptions::builder().client_config(Arc::new(tls)))
    ///     .build()?;
    /// assert!(config.tls().and_then(|t| t.client_config()).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn client_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.options.client_config = Some(UserClientConfig(config));
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
        self.options.client_cert = Some((cert_file.into(), key_file.into()));
        self
    }

    /// Verifies the server's certificate against `name` (a DNS name or an IP address) and
    /// sends it as SNI, instead of the host connected to. For a server reached by an address
    /// its certificate does not name (an IP, a tunnel, a load balancer).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.options.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts any certificate, from any issuer, for any name, expired or
    /// not. The connection is still encrypted, but anyone on the path can impersonate the
    /// server and read the password and every command. For throwaway test setups only; a
    /// warning is logged for every client built with it. There is deliberately no URL
    /// parameter or environment variable for this.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.options.danger_accept_invalid_certs = true;
        self
    }

    /// The options.
    pub fn build(self) -> TlsOptions {
        self.options
    }
}

impl From<TlsOptionsBuilder> for TlsOptions {
    fn from(builder: TlsOptionsBuilder) -> TlsOptions {
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_sets_each_option_and_new_verifies_everything() {
        let t = TlsOptions::new();
        assert_eq!(
            (t.ca_file(), t.client_cert(), t.server_name()),
            (None, None, None)
        );
        assert!(!t.is_danger_accept_invalid_certs());
        assert_eq!(t.roots(), TlsRoots::Builtin);
        assert!(!t.has_client_config());
        let t = TlsOptions::builder()
            .roots(TlsRoots::Platform)
            .ca_file("/ca")
            .client_cert("/c", "/k")
            .server_name("n")
            .build();
        assert_eq!(t.ca_file(), Some(Path::new("/ca")));
        assert_eq!(t.client_cert(), Some((Path::new("/c"), Path::new("/k"))));
        assert_eq!(t.server_name(), Some("n"));
        assert!(!t.is_danger_accept_invalid_certs());
        assert_eq!(t.roots(), TlsRoots::Platform);
        let mut t = t;
        t.set_files(None, None, Some("m".into()));
        assert_eq!(
            (t.ca_file(), t.server_name()),
            (Some(Path::new("/ca")), Some("m"))
        );
    }
}
