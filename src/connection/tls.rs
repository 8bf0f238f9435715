//! TLS over TCP with rustls (cargo feature `tls`), and the stand-in without it.
//!
//! A [`Connector`] is built once per client from its [`TlsOptions`]: the trust anchors (the
//! CA file, the compiled-in Mozilla roots of `webpki-roots`, or the platform's store through
//! `rustls-native-certs`), the optional client certificate, and the name to verify (the
//! `server_name` option, else the host); or the caller's own rustls `ClientConfig` with that
//! name. Building it reads the PEM files and the platform store, so a bad file or an empty
//! store is reported when the client is created and then by every connection attempt,
//! without touching the network.
//!
//! Only the `ring` crypto provider is compiled in (aws-lc needs cmake to build). Protocol
//! versions are rustls's safe defaults, TLS 1.2 and 1.3.
//!
//! Without the `tls` feature, [`Connector`] has no values: [`Connector::new`] always fails
//! with [`ConfigError::TlsUnavailable`], so a TLS config can never fall back to plain text.

#[cfg(feature = "tls")]
pub(crate) use with_tls::Connector;
#[cfg(not(feature = "tls"))]
pub(crate) use without_tls::Connector;

#[cfg(feature = "tls")]
mod with_tls {
    use std::fmt;
    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::{self, PemObject};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use tokio::net::TcpStream;
    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::crypto::{
        CryptoProvider, verify_tls12_signature, verify_tls13_signature,
    };
    use tokio_rustls::rustls::{
        self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    };

    use crate::config::{ConfigError, TlsOptions, TlsRoots};
    use crate::connection::stream::Stream;
    use crate::error::Error;

    /// Starts TLS sessions for one client.
    pub(crate) struct Connector {
        connector: tokio_rustls::TlsConnector,
        server_name: ServerName<'static>,
        verified: bool,
    }

    impl fmt::Debug for Connector {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Connector")
                .field("server_name", &self.server_name)
                .field("verified", &self.verified)
                .finish_non_exhaustive()
        }
    }

    impl Connector {
        /// Reads the files `options` names and prepares sessions to `host`.
        ///
        /// # Errors
        ///
        /// [`ConfigError::TlsFile`] for a file that cannot be read or holds no usable PEM
        /// item, [`ConfigError::InvalidValue`] for a server name that is neither a DNS name
        /// nor an IP address, [`ConfigError::TlsNoPlatformRoots`] for an empty platform store,
        /// [`Error::Tls`] for a key that does not match its certificate.
        pub(crate) fn new(options: &TlsOptions, host: &str) -> Result<Connector, Error> {
            let (config, verified) = match options.client_config() {
                // The caller's own: verification is whatever its verifier does.
                Some(config) => (config.clone(), true),
                None => {
                    let verified = !options.is_danger_accept_invalid_certs();
                    (Arc::new(build_config(options)?), verified)
                }
            };
            let (variable, name) = match options.server_name() {
                Some(name) => ("tls_server_name", name),
                None => ("host", host),
            };
            let server_name =
                ServerName::try_from(name.to_owned()).map_err(|_| ConfigError::InvalidValue {
                    variable,
                    value: name.to_owned(),
                    reason: "is not a valid dns name or ip address for tls",
                })?;
            Ok(Connector {
                connector: tokio_rustls::TlsConnector::from(config),
                server_name,
                verified,
            })
        }

        /// Runs the TLS handshake over `tcp`. The caller bounds it in time.
        ///
        /// # Errors
        ///
        /// [`Error::Tls`] when the handshake fails (untrusted or misnamed certificate, an
        /// alert from the server, a peer that does not speak TLS); [`Error::Io`] when the
        /// socket fails.
        pub(crate) async fn connect(&self, tcp: TcpStream) -> Result<Stream, Error> {
            let tls = self
                .connector
                .connect(self.server_name.clone(), tcp)
                .await?;
            Ok(Stream::Tls(Box::new(tls)))
        }
    }

    /// The rustls config `options` describe.
    fn build_config(options: &TlsOptions) -> Result<ClientConfig, Error> {
        // rustls 0.23.48 deprecated the ring provider because it has no post-quantum key
        // exchange; the alternative, aws-lc-rs, needs a C toolchain and minutes of build.
        // Redis's own TLS (OpenSSL) negotiates the classic groups ring offers, so ring
        // stays until it is removed or Redis servers expect post-quantum groups.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(Error::from)?;
        let builder = if options.is_danger_accept_invalid_certs() {
            tracing::warn!(
                "TLS certificate verification is disabled (danger_accept_invalid_certs): \
                 any server can impersonate Redis and read the credentials"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            builder.with_root_certificates(roots(options.ca_file(), options.roots())?)
        };
        Ok(match options.client_cert() {
            Some((cert, key)) => builder
                .with_client_auth_cert(certs("tls_cert_file", cert)?, private_key(key)?)
                .map_err(Error::from)?,
            None => builder.with_no_client_auth(),
        })
    }

    fn roots(ca_file: Option<&Path>, which: TlsRoots) -> Result<RootCertStore, ConfigError> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            None if which == TlsRoots::Platform => {
                let found = rustls_native_certs::load_native_certs();
                // Entries rustls cannot parse are skipped, as a browser would: one odd
                // certificate in the store must not take every connection down.
                let (added, ignored) = roots.add_parsable_certificates(found.certs);
                let errors = found.errors.len() + ignored;
                if added == 0 {
                    return Err(ConfigError::TlsNoPlatformRoots { errors });
                }
                if errors > 0 {
                    tracing::debug!(
                        added,
                        errors,
                        "some platform trust store entries were skipped"
                    );
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                for cert in certs("tls_ca_file", path)? {
                    roots.add(cert).map_err(|_| {
                        file_error("tls_ca_file", path, "holds an unusable ca certificate")
                    })?;
                }
            }
        }
        Ok(roots)
    }

    fn certs(
        variable: &'static str,
        path: &Path,
    ) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error(variable, path, &e, "holds no pem certificate"))?;
        if certs.is_empty() {
            return Err(file_error(variable, path, "holds no pem certificate"));
        }
        Ok(certs)
    }

    fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
        PrivateKeyDer::from_pem_file(path)
            .map_err(|e| pem_error("tls_key_file", path, &e, "holds no pem private key"))
    }

    /// A fixed reason for `e`: never the file's content (it may be a private key).
    fn pem_error(
        variable: &'static str,
        path: &Path,
        e: &pem::Error,
        none_found: &'static str,
    ) -> ConfigError {
        let reason = match e {
            pem::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::NotFound => "file not found",
                std::io::ErrorKind::PermissionDenied => "permission denied",
                _ => "cannot be read",
            },
            pem::Error::NoItemsFound => none_found,
            _ => "is not valid pem",
        };
        file_error(variable, path, reason)
    }

    fn file_error(variable: &'static str, path: &Path, reason: &'static str) -> ConfigError {
        ConfigError::TlsFile {
            variable,
            path: path.to_owned(),
            reason,
        }
    }

    /// The verifier behind [`TlsOptions::danger_accept_invalid_certs`]: any certificate
    /// passes. The handshake signatures are still checked, so the session is at least bound
    /// to the certificate presented.
    #[derive(Debug)]
    struct AcceptAnyCert(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(not(feature = "tls"))]
mod without_tls {
    use tokio::net::TcpStream;

    use crate::config::{ConfigError, TlsOptions};
    use crate::connection::stream::Stream;
    use crate::error::Error;

    /// No TLS in this build: there are no connectors.
    #[derive(Debug)]
    pub(crate) enum Connector {}

    impl Connector {
        /// Always [`ConfigError::TlsUnavailable`].
        pub(crate) fn new(_options: &TlsOptions, _host: &str) -> Result<Connector, Error> {
            Err(ConfigError::TlsUnavailable.into())
        }

        /// Unreachable: no `Connector` exists.
        pub(crate) async fn connect(&self, _tcp: TcpStream) -> Result<Stream, Error> {
            match *self {}
        }
    }
}
