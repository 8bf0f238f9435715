//! TLS: a server with a private CA, reached three ways (a CA file, your own rustls
//! `ClientConfig`, the platform's trust store), and what a refused certificate looks like.
//!
//! ```text
//! cargo run --example tls --features tls
//! REDIS_URL=rediss://cache.example.com:6380 cargo run --example tls --features tls
//! ```
//!
//! With a TLS server in the environment (a `rediss://` `REDIS_URL`, or `REDIS_TLS=true`,
//! with `REDIS_TLS_CA_FILE`, `REDIS_TLS_CERT_FILE`/`REDIS_TLS_KEY_FILE`,
//! `REDIS_TLS_SERVER_NAME`, `REDIS_TLS_ROOTS=platform` as needed), it connects to it and
//! pings. Otherwise it makes a CA and a server certificate with the `openssl` command in a
//! temp dir, starts a private `redis-server --tls-port` (Redis built with TLS, as Debian's
//! and Homebrew's are), runs the tour, and removes everything at the end.
#![allow(clippy::print_stdout)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use redis_manager::config::{TlsOptions, TlsRoots, rustls};
use redis_manager::prelude::*;
use redis_manager::{Client, Config, ConfigBuilder, Error, Result};

#[tokio::main]
async fn main() {
    if let Some(config) = common::env_config().filter(Config::is_tls) {
        println!("Using {} over TLS.", common::describe(&config));
        match Client::connect(config).await {
            Ok(client) => match client.ping().await {
                Ok(()) => println!("PING over TLS: ok"),
                Err(e) => println!("PING failed: {e}"),
            },
            Err(e) => explain("connecting", &e),
        }
        return;
    }
    let Some(certs) = Certs::make() else {
        println!("No TLS server in the environment and no `openssl` command to make one.");
        return;
    };
    let tls_port = common::free_port();
    let port = tls_port.to_string();
    let (cert, key, ca) = (
        certs.path("server.pem"),
        certs.path("server.key"),
        certs.ca(),
    );
    let args = [
        "--tls-port",
        &port,
        "--tls-cert-file",
        cert.to_str().unwrap_or_default(),
        "--tls-key-file",
        key.to_str().unwrap_or_default(),
        "--tls-ca-cert-file",
        ca.to_str().unwrap_or_default(),
        "--tls-auth-clients",
        "no",
    ];
    let Some(_server) = common::start_server(&args, None).await else {
        println!("redis-server (built with TLS) is not on PATH.");
        return;
    };
    println!(
        "Started a private redis-server with TLS on localhost:{tls_port} (stopped at the end)."
    );
    if let Err(e) = run(tls_port, &certs).await {
        explain("the tour", &e);
    }
}

async fn run(tls_port: u16, certs: &Certs) -> Result<()> {
    let server = || {
        Config::builder()
            .host("localhost")
            .port(tls_port)
            .connect_timeout(Duration::from_secs(2))
    };

    // 1. A CA file: the usual setting for a private CA. The same from the environment:
    //    REDIS_URL=rediss://localhost:PORT REDIS_TLS_CA_FILE=ca.pem
    let client = Client::connect(server().tls(TlsOptions::builder().ca_file(certs.ca()))).await?;
    client.set("example:tls", "encrypted").await?;
    let value = client
        .get("example:tls")
        .await?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    println!("1. CA file: GET -> {value:?}");
    client.del(&["example:tls"]).await?;

    // 2. Your own rustls ClientConfig (built with the re-exported rustls, so the versions
    //    match): custom verifiers, client certificate resolvers, key logging...
    let own = TlsOptions::builder().client_config(client_config(&certs.ca())?);
    let client = Client::connect(server().tls(own)).await?;
    client.ping().await?;
    println!("2. own rustls ClientConfig: PING ok");

    // 3. The platform's trust store (REDIS_TLS_ROOTS=platform): the private CA is not
    //    installed there, so the certificate is refused, with a typed error.
    let platform = TlsOptions::builder().roots(TlsRoots::Platform);
    try_connect("3. platform trust store", server().tls(platform)).await;

    // 4. The default: Mozilla's roots, compiled in. Refused the same way.
    try_connect("4. built-in roots", server().tls(TlsOptions::new())).await;
    Ok(())
}

async fn try_connect(what: &str, config: ConfigBuilder) {
    match Client::connect(config).await {
        Ok(_) => println!("{what}: connected"),
        Err(e) => explain(what, &e),
    }
}

/// Prints an error the way an application would match on it.
fn explain(what: &str, e: &Error) {
    match e {
        Error::Tls(tls) => println!("{what}: refused, {tls} ({:?})", tls.kind()),
        Error::Config(config) => println!("{what}: configuration: {config}"),
        other => println!("{what}: {other}"),
    }
}

/// A rustls config trusting the CA certificates in `ca`.
fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let invalid = |_| Error::InvalidArgument("unusable CA file");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(invalid)? {
        roots.add(cert.map_err(invalid)?)?;
    }
    // The ring provider, as the client's own TLS uses (rustls deprecated it for lack of
    // post-quantum key exchange; any provider works here).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A CA and a server certificate for `localhost` and 127.0.0.1, made by `openssl` in a temp
/// dir (removed when dropped).
struct Certs {
    dir: PathBuf,
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Certs {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn make() -> Option<Certs> {
        let dir =
            std::env::temp_dir().join(format!("redis-manager-example-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let certs = Certs { dir };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                   extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
        std::fs::write(certs.path("server.ext"), ext).ok()?;
        let steps: [&[&str]; 3] = [
            &[
                &["req", "-x509", "-new", "-nodes"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "1"],
                &["-subj", "/CN=redis-manager example CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign"],
            ]
            .concat(),
            &[
                &["req", "-new", "-nodes"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-subj", "/CN=localhost"],
            ]
            .concat(),
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "1",
                "-days",
                "1",
                "-out",
                "server.pem",
                "-extfile",
                "server.ext",
            ],
        ];
        for args in steps {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(&certs.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        Some(certs)
    }
}
