//! Passwords never leak: not in `Debug` of any type, not in an error (its `Display`, `Debug`
//! or sources), not in a log line at any level. Every test records all `tracing` output at
//! TRACE level, formatted by `tracing-subscriber` exactly as an application's log would be,
//! and searches it for its own secret: a failed `AUTH`, an ACL user's wrong password, a URL
//! with credentials, the manager's connect-failure logs, and `AUTH`/`HELLO` sent as ordinary
//! (traced) commands. Spans are printed whole when they open and close; with `db.query.text`
//! on, no argument value may appear in them either, nor (feature `metrics`) in a metric.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis_manager::config::{Config, ConfigBuilder, Protocol, TlsOptions};
use redis_manager::{Client, Error, Pipeline, RedisManager, cmd};
use support::RedisServer;

/// Every formatted log line of this test binary, from every thread.
fn logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            // Every span's fields, printed when it opens and closes (values recorded late,
            // such as an error's, included).
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init()
            .expect("no other subscriber is installed in this test binary");
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Panics, showing where, if `text` contains `secret` or a long piece of it.
#[track_caller]
fn assert_hidden(secret: &str, what: &str, text: &str) {
    let piece = &secret[..secret.len() / 2];
    assert!(
        !text.contains(secret) && !text.contains(piece),
        "{what} shows the secret {secret:?}:\n{text}"
    );
}

/// `Display`, `Debug` and every source of `err`.
fn everything_about(err: &Error) -> String {
    let mut out = format!("{err} | {err:?} | {err:#?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    out
}

fn config(server: &RedisServer) -> ConfigBuilder {
    Config::builder()
        .host("127.0.0.1")
        .port(server.port())
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Some(Duration::from_secs(2)))
        .reconnect_delays(Duration::from_millis(10), Duration::from_millis(100))
}

#[tokio::test]
async fn configs_clients_and_url_errors_never_show_the_password() {
    logs();
    let secret = "Cfg-Secret-7f3a9c2e";
    let mut shown = Vec::new();
    let built = Config::builder()
        .username("app")
        .password(secret)
        .tls(TlsOptions::new());
    shown.push(format!("{built:?} {built:#?}"));
    for url in [
        format!("redis://app:{secret}@h:6379/1"),
        format!("rediss://:{secret}@h"),
        format!("redis://h?user=app&password={secret}"),
        format!("unix://app:{secret}@/run/redis.sock"),
    ] {
        let c = Config::from_url(&url).unwrap();
        assert_eq!(c.password(), Some(secret), "{url}");
        shown.push(format!("{c:?}"));
        shown.push(format!(
            "{:?}",
            Client::new(c.clone().into_builder().no_tls()).unwrap()
        ));
        shown.push(format!("{:?}", RedisManager::new(c)));
    }
    for url in [
        format!("redis://app:{secret}@h:notaport"),
        format!("rediss://:{secret}@h/x"),
        format!("redis://h?password={secret}&bogus=1"),
        format!("ftp://app:{secret}@h"),
    ] {
        let err = Config::from_url(&url).unwrap_err();
        shown.push(format!("{err} {err:?}"));
        let env = Config::from_lookup(|name| (name == "REDIS_URL").then(|| url.clone()));
        let err = Error::from(env.unwrap_err());
        shown.push(everything_about(&err));
    }
    let env = Config::from_lookup(|name| match name {
        "REDIS_USERNAME" => Some("app".into()),
        "REDIS_PASSWORD" => Some(secret.into()),
        _ => None,
    })
    .unwrap();
    shown.push(format!("{env:?}"));
    let client = Client::new(env.into_builder().enabled(true)).unwrap();
    shown.push(format!("{client:?} {client:#?}"));
    for text in &shown {
        assert_hidden(secret, "debug output or error", text);
    }
    assert_hidden(secret, "the log", &logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_auth_shows_the_password_nowhere() {
    logs();
    let secret = "Wrong-Password-51d2e8b4";
    let server = RedisServer::with_args(&["--requirepass", "the-right-one"]);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let c = config(&server).password(secret).protocol(protocol);
        let client = Client::new(c.clone()).unwrap();
        let err = client.ping().await.unwrap_err();
        assert!(err.is_auth_error(), "{err:?}");
        assert_hidden(secret, "the auth error", &everything_about(&err));
        assert_hidden(secret, "the client", &format!("{client:?}"));
        // The same through a URL with credentials.
        let url = format!("redis://:{secret}@127.0.0.1:{}", server.port());
        let err = Client::connect(
            Config::from_url(&url)
                .unwrap()
                .into_builder()
                .protocol(protocol),
        )
        .await
        .unwrap_err();
        assert!(err.is_auth_error(), "{err:?}");
        assert_hidden(secret, "the auth error", &everything_about(&err));
        // The manager logs the failure (and keeps probing in the background).
        let manager = RedisManager::new(c);
        assert!(!manager.initialize().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_hidden(secret, "the manager", &format!("{manager:?}"));
        manager.disconnect().await;
    }
    let log = logs();
    assert!(
        log.contains("connect failed"),
        "nothing was captured:\n{log}"
    );
    assert_hidden(secret, "the log", &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_and_password_pair_shows_nowhere() {
    logs();
    let right = "Acl-Right-Password-90c1aa7e";
    let wrong = "Acl-Wrong-Password-2b77f0d3";
    let server = RedisServer::start();
    server.cli(&[
        "ACL",
        "SETUSER",
        "app",
        "on",
        &format!(">{right}"),
        "~*",
        "+@all",
    ]);
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        let bad = config(&server)
            .username("app")
            .password(wrong)
            .protocol(protocol);
        let err = Client::connect(bad).await.unwrap_err();
        assert!(err.is_auth_error(), "{err:?}");
        assert_hidden(wrong, "the auth error", &everything_about(&err));

        let good = config(&server)
            .username("app")
            .password(right)
            .protocol(protocol);
        let client = Client::connect(good).await.unwrap();
        assert_hidden(right, "the client", &format!("{client:?}"));
        // AUTH and HELLO ... AUTH sent as ordinary commands: traced like any other, and
        // failing with a server error that must not echo them.
        for command in [
            cmd("AUTH").arg("app").arg(wrong),
            cmd("HELLO").arg(3).arg("AUTH").arg("app").arg(wrong),
            cmd("AUTH").arg(wrong),
        ] {
            assert_hidden(wrong, "Cmd's Debug", &format!("{command:?} {command:#?}"));
            let err = client.query::<()>(command).await.unwrap_err();
            assert_hidden(wrong, "the command's error", &everything_about(&err));
        }
        let ok = cmd("AUTH").arg("app").arg(right);
        assert_hidden(right, "Cmd's Debug", &format!("{ok:?}"));
        client.query::<()>(ok).await.unwrap();
    }
    let log = logs();
    assert_hidden(wrong, "the log", &log);
    assert_hidden(right, "the log", &log);
}

#[test]
fn a_pipeline_does_not_show_its_arguments() {
    let secret = "Pipeline-Secret-c0ffee11";
    let mut pipe = Pipeline::new();
    pipe.add(cmd("AUTH").arg("app").arg(secret));
    assert_hidden(secret, "Pipeline's Debug", &format!("{pipe:?}"));
}

/// The arguments of traced commands, `AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH` and `CONFIG
/// SET requirepass` among them, appear in no span field or event even with `db.query.text`
/// on: only the command names and one `?` per argument do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traced_commands_show_no_argument_value_with_query_text_on() {
    logs();
    let password = "Traced-Password-5e1f09aa";
    let key = "Traced-Key-77b2c4d1";
    let value = "Traced-Value-a9d03e6f";
    let server = RedisServer::start();
    let client = Client::connect(config(&server).trace_query_text(true))
        .await
        .unwrap();
    client
        .query::<()>(cmd("SET").key(key).arg(value))
        .await
        .unwrap();
    let _ = client.query::<()>(cmd("AUTH").arg(password)).await;
    let _ = client
        .query::<()>(cmd("HELLO").arg(3).arg("AUTH").arg("default").arg(password))
        .await;
    let migrate = cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(1)
        .arg("")
        .arg(0)
        .arg(100)
        .arg("AUTH")
        .arg(password)
        .arg("KEYS")
        .arg(key);
    let _ = client.query::<()>(migrate).await;
    // A failing command with a value in it.
    let _ = client.query::<()>(cmd("LPUSH").key(key).arg(value)).await;
    let mut pipe = Pipeline::new();
    pipe.add(cmd("SET").key(key).arg(value))
        .add(cmd("AUTH").arg("app").arg(password));
    let _ = pipe.execute(&client).await;
    let mut atomic = Pipeline::atomic();
    atomic.add(cmd("GET").key(key));
    let _ = atomic.execute(&client).await;
    let mut conn = client.exclusive().await.unwrap();
    let _ = conn.query::<()>(cmd("AUTH").arg(password)).await;
    drop(conn);
    client
        .query::<()>(cmd("CONFIG").arg("SET").arg("requirepass").arg(password))
        .await
        .unwrap();
    let log = logs();
    assert!(
        log.contains("db.query.text=\"CONFIG ? ? ?\"") || log.contains("CONFIG ? ? ?"),
        "the query text is on"
    );
    for secret in [password, key, value] {
        assert_hidden(secret, "the log", &log);
    }
}

/// No metric label carries an argument or a password (feature `metrics`).
#[cfg(feature = "metrics")]
#[test]
fn metric_labels_show_no_argument_value() {
    use metrics_util::debugging::DebuggingRecorder;

    let password = "Metric-Password-3c8e71b0";
    let value = "Metric-Value-d41f2a96";
    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        support::runtime().block_on(async {
            let client = Client::new(config(&server).trace_query_text(true)).unwrap();
            client
                .query::<()>(cmd("SET").key(value).arg(value))
                .await
                .unwrap();
            let _ = client.query::<()>(cmd("AUTH").arg(password)).await;
            let _ = client.query::<()>(cmd("LPUSH").key(value).arg(value)).await;
        })
    });
    let mut labels = String::new();
    for (key, ..) in snapshotter.snapshot().into_vec() {
        labels.push_str(&format!("{:?}\n", key.key()));
    }
    assert!(labels.contains("db.client.operation.duration"), "{labels}");
    for secret in [password, value] {
        assert_hidden(secret, "the metric labels", &labels);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credentials_providers_tokens_show_nowhere() {
    use redis_manager::config::{Credentials, CredentialsError};
    logs();
    let right = "Provider-Right-Token-4e1f9a07";
    let wrong = "Provider-Wrong-Token-8d2c3b55";
    let server = RedisServer::start();
    server.cli(&[
        "ACL",
        "SETUSER",
        "app",
        "on",
        &format!(">{right}"),
        "~*",
        "+@all",
    ]);
    let creds = Credentials::user("app", wrong);
    assert_hidden(
        wrong,
        "Credentials' Debug",
        &format!("{creds:?} {creds:#?}"),
    );
    for protocol in [Protocol::Resp3, Protocol::Resp2] {
        // A refused handshake.
        let bad = config(&server)
            .protocol(protocol)
            .credentials_fn(move || async move { Ok(Credentials::user("app", wrong)) });
        assert_hidden(wrong, "the config", &format!("{bad:?} {bad:#?}"));
        let err = Client::connect(bad).await.unwrap_err();
        assert!(err.is_auth_error(), "{err:?}");
        assert_hidden(wrong, "the auth error", &everything_about(&err));
        // A provider's own error, quoting its token.
        let failing = config(&server)
            .protocol(protocol)
            .credentials_fn(move || async move {
                Err(CredentialsError::new(format!("token {wrong} was revoked")))
            });
        let err = Client::connect(failing).await.unwrap_err();
        assert!(matches!(err, Error::Credentials(_)), "{err:?}");
        assert_hidden(wrong, "the provider error's Display", &err.to_string());
        // Accepted at the handshake, then refused by scheduled re-AUTHs (logged).
        let flip = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let provider_flip = flip.clone();
        let good = config(&server)
            .protocol(protocol)
            .reauth_interval(Some(Duration::from_millis(50)))
            .credentials_fn(move || {
                let token = if provider_flip.load(std::sync::atomic::Ordering::SeqCst) {
                    wrong
                } else {
                    right
                };
                async move { Ok(Credentials::user("app", token)) }
            });
        let client = Client::connect(good).await.unwrap();
        client.ping().await.unwrap();
        assert_hidden(right, "the client", &format!("{client:?}"));
        flip.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.ping().await.unwrap();
    }
    let log = logs();
    assert!(
        log.contains("scheduled re-authentication failed"),
        "the refused re-AUTH was not logged:\n{log}"
    );
    assert_hidden(wrong, "the log", &log);
    assert_hidden(right, "the log", &log);
}
