//! TLS against private `redis-server --tls-port` processes, with a CA and certificates made
//! by the `openssl` command at test time: success over both protocols, and a prompt typed
//! error (never a hang, never plain text) for every way verification or the handshake can
//! fail.
//!
//! Run with `cargo test --features tls --test tls` (or `--all-features`).

#![cfg(feature = "tls")]

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::sync::Arc;

use redis_manager::config::{
    Config, ConfigBuilder, ConfigError, Protocol, TlsOptions, TlsOptionsBuilder, TlsRoots, rustls,
};
use redis_manager::{Client, Error, NegotiatedProtocol, TlsErrorKind, cmd};
use support::RedisServer;

/// The connect timeout of every client here. A failure must come well before it: it proves
/// the error is the handshake's, not the timeout's.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

const NO_OPENSSL: &str = "the `openssl` command was not found: the TLS tests make their \
     certificates with it. Install it (Debian/Ubuntu: `apt-get install -y openssl`; macOS: \
     `brew install openssl`) and run the tests again";

/// The certificates, made once per test binary in a temp dir (removed when it exits
/// normally; a leftover is only a few small files).
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA that signed every certificate below.
    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA that signed nothing the servers use.
    fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(make_certs)
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): {NO_OPENSSL}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA `name` (self-signed, P-256).
fn make_ca(dir: &Path, name: &str) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN=redis-manager test {name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf certificate `name` signed by `ca.pem`, with the extensions in `ext`.
fn make_leaf(dir: &Path, name: &str, serial: &str, ext: &str) {
    let (key, csr, pem, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&extfile), ext).expect("write the extensions file");
    let subj = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &extfile,
        ],
    );
}

fn make_certs() -> Certs {
    let dir = std::env::temp_dir().join(format!("rm-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the certificate dir");
    make_ca(&dir, "ca");
    make_ca(&dir, "other-ca");
    let leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n";
    make_leaf(
        &dir,
        "server",
        "1001",
        &format!("{leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"),
    );
    make_leaf(
        &dir,
        "wrong-name",
        "1002",
        &format!("{leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example\n"),
    );
    make_leaf(
        &dir,
        "client",
        "1003",
        &format!("{leaf}extendedKeyUsage=clientAuth\n"),
    );
    Certs { dir }
}

/// A server whose TLS port presents `cert` (`server` or `wrong-name`), signed by `ca.pem`;
/// with `require_client_cert`, it refuses clients without a certificate from that CA.
fn tls_server(cert: &str, require_client_cert: bool, extra: &[&str]) -> RedisServer {
    let c = certs();
    let (pem, key, ca) = (
        c.path(&format!("{cert}.pem")),
        c.path(&format!("{cert}.key")),
        c.ca(),
    );
    let mut args = vec![
        "--tls-cert-file",
        pem.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-ca-cert-file",
        ca.to_str().unwrap(),
        "--tls-auth-clients",
        if require_client_cert { "yes" } else { "no" },
    ];
    args.extend_from_slice(extra);
    RedisServer::with_tls(&args)
}

fn base(host: &str, port: u16) -> ConfigBuilder {
    Config::builder()
        .host(host)
        .port(port)
        .connect_timeout(CONNECT_TIMEOUT)
        .response_timeout(Some(Duration::from_secs(5)))
}

fn trusting_ca() -> TlsOptionsBuilder {
    TlsOptions::builder().ca_file(certs().ca())
}

/// Variables for `Config::from_lookup`.
fn from_vars(vars: &[(&str, String)]) -> ConfigBuilder {
    let map: HashMap<&str, String> = vars.iter().cloned().collect();
    Config::from_lookup(|name| map.get(name).cloned())
        .unwrap()
        .into_builder()
        .connect_timeout(CONNECT_TIMEOUT)
}

/// Connects with `config`, expecting a failure well before the connect timeout.
async fn connect_fails_promptly(config: ConfigBuilder) -> Error {
    let started = Instant::now();
    let result = Client::connect(config).await;
    let took = started.elapsed();
    let err = result.expect_err("connecting should fail");
    assert!(
        took < CONNECT_TIMEOUT / 2,
        "took {took:?} (a timeout, not a prompt error): {err:?}"
    );
    assert!(!err.is_timeout(), "{err:?}");
    err
}

/// The kind of TLS error `err` is, or that closed the connection under it.
fn tls_error(err: &Error) -> TlsErrorKind {
    match err {
        Error::Tls(e) => {
            // The rustls error stays reachable for detail, without being in the type.
            let source = std::error::Error::source(e).expect("the rustls error is the source");
            assert!(source.downcast_ref::<rustls::Error>().is_some(), "{e:?}");
            e.kind()
        }
        Error::ConnectionClosed {
            cause: Some(cause), ..
        } => tls_error(cause),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn queries_work_over_tls_with_resp2_and_resp3() {
    let server = tls_server("server", false, &["--requirepass", "s3cret"]);
    for (host, protocol, negotiated) in [
        ("127.0.0.1", Protocol::Resp3, NegotiatedProtocol::Resp3),
        ("localhost", Protocol::Resp2, NegotiatedProtocol::Resp2),
    ] {
        let config = base(host, server.tls_port())
            .password("s3cret")
            .protocol(protocol)
            .db(1)
            .tls(trusting_ca());
        let client = Client::connect(config).await.unwrap();
        assert_eq!(client.protocol(), Some(negotiated));
        let key = format!("k-{protocol:?}");
        // Large enough that rustls splits it into many records and the socket buffers fill:
        // a request or reply left in the TLS buffer would hang here.
        let big = "x".repeat(3 << 20);
        client
            .query::<()>(cmd("SET").arg(&key).arg(&big))
            .await
            .unwrap();
        let back: String = client.query(cmd("GET").arg(&key)).await.unwrap();
        assert_eq!(back.len(), big.len());
        let n: i64 = client.query(cmd("INCR").arg("n")).await.unwrap();
        assert!(n >= 1);
        let conns = server.cli(&["CLIENT", "LIST"]);
        assert!(conns.contains("db=1"), "{conns}");
    }
}

#[tokio::test]
async fn a_large_request_completes_when_a_stalled_server_resumes() {
    let mut server = tls_server("server", false, &[]);
    let config = base("127.0.0.1", server.tls_port()).tls(trusting_ca());
    let client = Client::connect(config).await.unwrap();
    // While the server is stopped the socket fills up, so the TLS layer holds ciphertext
    // that only a later flush sends (see the design note in src/connection/stream.rs; the
    // exact moment the socket fills varies, so this is a stress test, not a proof).
    server.pause();
    let big = "y".repeat(16 << 20);
    let set = {
        let client = client.clone();
        let big = big.clone();
        tokio::spawn(async move { client.query::<()>(cmd("SET").arg("big").arg(big)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.resume();
    set.await.unwrap().unwrap();
    let len: i64 = client.query(cmd("STRLEN").arg("big")).await.unwrap();
    assert_eq!(len as usize, big.len());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let server = tls_server("server", false, &[]);
    let config =
        base("127.0.0.1", server.tls_port()).tls(TlsOptions::builder().ca_file(certs().other_ca()));
    let err = connect_fails_promptly(config).await;
    assert_eq!(tls_error(&err), TlsErrorKind::UnknownIssuer, "{err:?}");
    assert!(err.is_connection_error());
}

#[tokio::test]
async fn verification_against_the_default_roots_is_on_by_default() {
    let server = tls_server("server", false, &[]);
    // rediss:// with no CA file: the private CA is not among the default roots.
    let config = Config::from_url(&format!("rediss://localhost:{}", server.tls_port()))
        .unwrap()
        .into_builder()
        .connect_timeout(CONNECT_TIMEOUT);
    let err = connect_fails_promptly(config).await;
    assert_eq!(tls_error(&err), TlsErrorKind::UnknownIssuer, "{err:?}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let server = tls_server("wrong-name", false, &[]);
    for host in ["127.0.0.1", "localhost"] {
        let config = base(host, server.tls_port()).tls(trusting_ca());
        let err = connect_fails_promptly(config).await;
        assert_eq!(
            tls_error(&err),
            TlsErrorKind::NotValidForName,
            "{host}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_server_name_setting_overrides_the_host() {
    let server = tls_server("wrong-name", false, &[]);
    let c = certs();
    let config = from_vars(&[
        ("REDIS_HOST", "127.0.0.1".into()),
        ("REDIS_PORT", server.tls_port().to_string()),
        ("REDIS_TLS", "true".into()),
        ("REDIS_TLS_CA_FILE", c.ca().display().to_string()),
        ("REDIS_TLS_SERVER_NAME", "wrong.example".into()),
    ]);
    let client = Client::connect(config).await.unwrap();
    client
        .query::<()>(cmd("SET").arg("a").arg(1))
        .await
        .unwrap();
    // And a name the certificate does not have fails even though the address would match.
    let server = tls_server("server", false, &[]);
    let config =
        base("127.0.0.1", server.tls_port()).tls(trusting_ca().server_name("other.example"));
    let err = connect_fails_promptly(config).await;
    assert_eq!(tls_error(&err), TlsErrorKind::NotValidForName, "{err:?}");
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let server = tls_server("server", true, &[]);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = base("127.0.0.1", server.tls_port())
            .protocol(protocol)
            .tls(trusting_ca());
        let err = connect_fails_promptly(config).await;
        // TLS 1.3: the server's alert arrives after the client's side of the handshake is
        // done, on the first read: inside the connection handshake when it reads a reply
        // (HELLO under RESP3), else as the cause of the first command's lost connection
        // (RESP2 with nothing to set up). TLS 1.2 fails inside the TLS handshake.
        // TLS 1.3 servers say `certificate_required`; TLS 1.2 ones `handshake_failure`.
        assert!(
            matches!(
                tls_error(&err),
                TlsErrorKind::CertificateRequired | TlsErrorKind::AlertReceived
            ),
            "{protocol:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate_works() {
    let server = tls_server("server", true, &[]);
    let c = certs();
    let config = from_vars(&[
        (
            "REDIS_URL",
            format!("rediss://localhost:{}/2", server.tls_port()),
        ),
        ("REDIS_TLS_CA_FILE", c.ca().display().to_string()),
        (
            "REDIS_TLS_CERT_FILE",
            c.path("client.pem").display().to_string(),
        ),
        (
            "REDIS_TLS_KEY_FILE",
            c.path("client.key").display().to_string(),
        ),
    ]);
    let client = Client::connect(config).await.unwrap();
    client
        .query::<()>(cmd("SET").arg("m").arg("tls"))
        .await
        .unwrap();
    let v: String = client.query(cmd("GET").arg("m")).await.unwrap();
    assert_eq!(v, "tls");
}

#[tokio::test]
async fn a_tls_client_against_a_plain_port_fails_within_the_connect_timeout() {
    let server = tls_server("server", false, &[]);
    let timeout = Duration::from_millis(500);
    for _ in 0..3 {
        let config = base("127.0.0.1", server.port())
            .connect_timeout(timeout)
            .tls(trusting_ca());
        let started = Instant::now();
        let err = Client::connect(config).await.unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}: {err:?}");
        // Redis reads the ClientHello as an inline command: when its random bytes hold a
        // line feed it answers with a RESP error line, which is no TLS record; otherwise it
        // waits for the rest of the line, and only the connect timeout ends the wait.
        assert!(
            matches!(err, Error::Tls(_) | Error::Timeout { sent: false, .. }),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_plain_client_against_a_tls_port_fails_promptly() {
    let server = tls_server("server", false, &[]);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let config = base("127.0.0.1", server.tls_port()).protocol(protocol);
        let err = connect_fails_promptly(config).await;
        assert!(err.is_connection_error(), "{protocol:?}: {err:?}");
    }
}

#[tokio::test]
async fn unusable_tls_files_are_config_errors_before_any_connection() {
    let c = certs();
    let missing = c.path("missing.pem");
    // Port 1 on loopback: nothing listens, but the file errors come first.
    let cases = [
        (
            TlsOptions::builder().ca_file(&missing),
            "tls_ca_file",
            "file not found",
        ),
        (
            TlsOptions::builder().ca_file(c.path("server.ext")),
            "tls_ca_file",
            "holds no pem certificate",
        ),
        (
            trusting_ca().client_cert(c.path("client.pem"), c.path("client.pem")),
            "tls_key_file",
            "holds no pem private key",
        ),
        (
            trusting_ca().client_cert(&missing, c.path("client.key")),
            "tls_cert_file",
            "file not found",
        ),
    ];
    for (options, setting, why) in cases {
        let client = Client::new(base("127.0.0.1", 1).tls(options)).unwrap();
        let err = client.ping().await.expect_err(setting);
        match &err {
            Error::Config(ConfigError::TlsFile {
                variable, reason, ..
            }) => assert_eq!((*variable, *reason), (setting, why), "{err}"),
            other => panic!("{setting}: {other:?}"),
        }
    }
    // A key that does not belong to the certificate.
    let mismatched = trusting_ca().client_cert(c.path("client.pem"), c.path("server.key"));
    let client = Client::new(base("127.0.0.1", 1).tls(mismatched)).unwrap();
    let err = client.ping().await.unwrap_err();
    assert_eq!(tls_error(&err), TlsErrorKind::Config, "{err:?}");
}

#[tokio::test]
async fn danger_accept_invalid_certs_skips_verification() {
    let server = tls_server("wrong-name", false, &[]);
    let config = base("127.0.0.1", server.tls_port())
        .tls(TlsOptions::builder().danger_accept_invalid_certs());
    let client = Client::connect(config).await.unwrap();
    client
        .query::<()>(cmd("SET").arg("d").arg(1))
        .await
        .unwrap();
}

/// A rustls config trusting only the PEM certificates in `ca` (none: trusts nothing).
fn rustls_config(ca: Option<&Path>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    #[allow(deprecated)] // rustls's ring provider; see src/connection/tls.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test]
async fn a_callers_rustls_config_is_used_for_the_handshake() {
    let server = tls_server("server", false, &[]);
    // Trusting the test CA: connects, over both protocols and through the pool.
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let tls = TlsOptions::builder().client_config(rustls_config(Some(&certs().ca())));
        let config = base("localhost", server.tls_port())
            .protocol(protocol)
            .tls(tls);
        let client = Client::connect(config).await.unwrap();
        client
            .query::<()>(cmd("SET").arg("own").arg("config"))
            .await
            .unwrap();
        let v: String = client.query(cmd("GET").arg("own")).await.unwrap();
        assert_eq!(v, "config");
    }
    // Trusting another CA, or nothing: the handshake's typed refusal, promptly.
    for ca in [Some(certs().other_ca()), None] {
        let tls = TlsOptions::builder().client_config(rustls_config(ca.as_deref()));
        let err = connect_fails_promptly(base("localhost", server.tls_port()).tls(tls)).await;
        assert_eq!(
            tls_error(&err),
            TlsErrorKind::UnknownIssuer,
            "{ca:?}: {err:?}"
        );
        assert!(err.is_connection_error());
    }
    // The server name setting still applies to a caller's config.
    let tls = TlsOptions::builder()
        .client_config(rustls_config(Some(&certs().ca())))
        .server_name("other.example");
    let err = connect_fails_promptly(base("127.0.0.1", server.tls_port()).tls(tls)).await;
    assert_eq!(tls_error(&err), TlsErrorKind::NotValidForName, "{err:?}");
}

#[test]
fn a_callers_rustls_config_cannot_be_combined_with_the_settings_it_replaces() {
    let own = || TlsOptions::builder().client_config(rustls_config(None));
    for options in [
        own().ca_file(certs().ca()),
        own().roots(TlsRoots::Platform),
        own().client_cert("/c.pem", "/c.key"),
        own().danger_accept_invalid_certs(),
    ] {
        let err = base("localhost", 6380).tls(options).build().unwrap_err();
        assert_eq!(err.variable(), "tls_client_config", "{err}");
    }
    let config = base("localhost", 6380)
        .tls(own().server_name("n"))
        .build()
        .unwrap();
    // Its Debug names the config without showing it (it may hold a private key).
    assert!(format!("{config:?}").contains("ClientConfig { .. }"));
}

/// Set in the child processes of [`the_platform_trust_store_is_read_when_asked_for`]: which
/// case the child checks.
const PLATFORM_CASE: &str = "REDIS_MANAGER_TEST_PLATFORM_CASE";
const PLATFORM_PORT: &str = "REDIS_MANAGER_TEST_PLATFORM_PORT";

/// `TlsRoots::Platform` (and `REDIS_TLS_ROOTS=platform`), three ways: with this machine's
/// store, which does not hold the test CA (refused as an unknown issuer, or, on a machine
/// with no store at all, a typed config error); and in child processes of this test binary
/// whose `SSL_CERT_FILE` names the test CA (trusted: connects) or an empty file (no roots:
/// a typed config error, no panic). Children, because the store's location is process
/// environment, which a test must not change under its siblings.
#[tokio::test]
async fn the_platform_trust_store_is_read_when_asked_for() {
    if let Ok(case) = std::env::var(PLATFORM_CASE) {
        let port: u16 = std::env::var(PLATFORM_PORT).unwrap().parse().unwrap();
        let platform = TlsOptions::builder().roots(TlsRoots::Platform);
        let config = base("localhost", port).tls(platform);
        match case.as_str() {
            "trusted" => {
                let client = Client::connect(config).await.unwrap();
                client.ping().await.unwrap();
            }
            "empty" => {
                let err = connect_fails_promptly(config).await;
                assert!(
                    matches!(err, Error::Config(ConfigError::TlsNoPlatformRoots { .. })),
                    "{err:?}"
                );
                assert!(err.to_string().contains("trust store"), "{err}");
            }
            other => panic!("unknown case {other}"),
        }
        return;
    }
    let server = tls_server("server", false, &[]);
    let config = from_vars(&[
        (
            "REDIS_URL",
            format!("rediss://localhost:{}", server.tls_port()),
        ),
        ("REDIS_TLS_ROOTS", "platform".into()),
    ]);
    let err = connect_fails_promptly(config).await;
    match &err {
        Error::Config(ConfigError::TlsNoPlatformRoots { .. }) => {}
        other => assert_eq!(tls_error(other), TlsErrorKind::UnknownIssuer, "{err:?}"),
    }

    let empty_dir = certs().path("empty-store");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let empty_file = certs().path("empty-store.pem");
    std::fs::write(&empty_file, "").unwrap();
    for (case, file) in [("trusted", certs().ca()), ("empty", empty_file)] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "the_platform_trust_store_is_read_when_asked_for",
                "--nocapture",
            ])
            .env(PLATFORM_CASE, case)
            .env(PLATFORM_PORT, server.tls_port().to_string())
            .env("SSL_CERT_FILE", &file)
            .env("SSL_CERT_DIR", &empty_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{case}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
