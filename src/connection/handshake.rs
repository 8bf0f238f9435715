//! Opening a connection: credentials (from the provider, when one is set), transport, then
//! `HELLO`/`AUTH`/`SETNAME`/`SELECT`, each reply checked before the next step, the whole
//! bounded by the connect timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use resp_codec::{Decoder, Frame, ToArg, encode_command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, lookup_host};

use super::NegotiatedProtocol;
use super::stream::Stream;
use super::stream::tls::Connector;
use crate::config::{Config, ConfigError, Credentials, CredentialsProvider, Protocol, ServerAddr};
use crate::error::{Error, ServerError};

/// Everything needed to open and hand-shake one connection.
#[derive(Clone)]
pub(crate) struct ConnectOptions {
    pub(crate) endpoint: ServerAddr,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// Asked at every handshake instead of `username`/`password`.
    pub(crate) credentials: Option<Arc<dyn CredentialsProvider>>,
    /// How often live connections re-send `AUTH` (only with `credentials`).
    pub(crate) reauth_interval: Option<Duration>,
    pub(crate) db: i64,
    pub(crate) client_name: Option<String>,
    /// Try `HELLO 3` first (falling back to RESP2 when the server refuses it).
    pub(crate) resp3: bool,
    pub(crate) connect_timeout: Duration,
    /// `TCP_NODELAY` on a TCP socket.
    pub(crate) tcp_nodelay: bool,
    pub(crate) response_timeout: Option<Duration>,
    /// Silence after which a subscriber pings its connection; `None`: never.
    pub(crate) ping_interval: Option<Duration>,
    /// `None`: plain text. `Some(Err)`: TLS was asked for but cannot be set up (a bad file,
    /// a build without the `tls` feature); every connection attempt returns that error and
    /// none is made in plain text.
    pub(crate) tls: Option<Result<Arc<Connector>, Error>>,
    /// Client-side caching: turn tracking on in the handshake (RESP3), so that it is on
    /// again after every reconnect. Set only on the connections that serve cached reads.
    pub(crate) tracking: Option<Arc<dyn super::Tracking>>,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<provider>"),
            )
            .field("reauth_interval", &self.reauth_interval)
            .field("db", &self.db)
            .field("client_name", &self.client_name)
            .field("resp3", &self.resp3)
            .field("connect_timeout", &self.connect_timeout)
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("response_timeout", &self.response_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("tls", &self.tls)
            .field("tracking", &self.tracking.is_some())
            .finish()
    }
}

impl ConnectOptions {
    pub(crate) fn from_config(config: &Config) -> ConnectOptions {
        ConnectOptions {
            endpoint: config.addr().clone(),
            username: config.username().map(str::to_owned),
            password: config.password().map(str::to_owned),
            credentials: config.credentials_provider().cloned(),
            reauth_interval: config.reauth_interval(),
            db: config.db(),
            client_name: config.client_name().map(str::to_owned),
            resp3: config.protocol() == Protocol::Resp3,
            connect_timeout: config.connect_timeout(),
            tcp_nodelay: config.tcp_nodelay(),
            response_timeout: config.response_timeout(),
            ping_interval: config.subscriber_ping_interval(),
            // Built once per client: it reads the certificate files.
            tls: config.tls().map(|options| {
                Connector::new(options, config.host().unwrap_or_default()).map(Arc::new)
            }),
            tracking: None,
        }
    }
}

/// A connection that finished its handshake.
pub(crate) struct Established {
    pub(crate) stream: Stream,
    pub(crate) decoder: Decoder,
    pub(crate) rbuf: BytesMut,
    pub(crate) protocol: NegotiatedProtocol,
    pub(crate) client_id: Option<i64>,
    /// `CLIENT TRACKING ON` succeeded.
    pub(crate) tracking: bool,
    /// Over RESP2, the connection its invalidations go to.
    pub(crate) redirect: Option<super::Redirect>,
}

/// Connects and hand-shakes, within `opts.connect_timeout`.
pub(crate) async fn establish(opts: &ConnectOptions) -> Result<Established, Error> {
    match tokio::time::timeout(opts.connect_timeout, establish_inner(opts)).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            after: opts.connect_timeout,
            sent: false,
        }),
    }
}

/// Connects the transport: TCP (then TLS when configured) or a Unix socket. The caller
/// bounds it, TLS handshake included, by the connect timeout.
async fn open(opts: &ConnectOptions) -> Result<Stream, Error> {
    let tls = match &opts.tls {
        None => None,
        Some(Ok(connector)) => Some(connector),
        Some(Err(e)) => return Err(e.clone()),
    };
    match &opts.endpoint {
        ServerAddr::Tcp { host, port } => {
            let stream = connect_tcp(host, *port).await?;
            stream.set_nodelay(opts.tcp_nodelay)?;
            crate::observe::record_peer(stream.peer_addr().ok());
            match tls {
                Some(connector) => connector.connect(stream).await,
                None => Ok(Stream::Tcp(stream)),
            }
        }
        // `ConfigBuilder::build` refuses this; never fall back to plain text regardless.
        ServerAddr::Unix(path) if tls.is_some() => Err(ConfigError::InvalidValue {
            variable: "tls",
            value: path.display().to_string(),
            reason: "is not supported over a unix socket",
        }
        .into()),
        #[cfg(unix)]
        ServerAddr::Unix(path) => Ok(Stream::Unix(tokio::net::UnixStream::connect(path).await?)),
        #[cfg(not(unix))]
        ServerAddr::Unix(_) => Err(std::io::Error::from(std::io::ErrorKind::Unsupported).into()),
    }
}

/// True when something accepts a connection at `endpoint` now: a bare connect, no TLS, no
/// handshake, closed at once. The node pool's cheap probe of a server that refused
/// connections, ahead of its backoff schedule.
pub(crate) async fn listens(endpoint: &ServerAddr) -> bool {
    match endpoint {
        ServerAddr::Tcp { host, port } => connect_tcp(host, *port).await.is_ok(),
        #[cfg(unix)]
        ServerAddr::Unix(path) => tokio::net::UnixStream::connect(path).await.is_ok(),
        #[cfg(not(unix))]
        ServerAddr::Unix(_) => false,
    }
}

/// Tries each address `host` resolves to, in order.
async fn connect_tcp(host: &str, port: u16) -> Result<tokio::net::TcpStream, Error> {
    let mut last = None;
    for addr in lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // Keepalive lets the kernel notice a peer that vanished without a FIN while the
        // connection is idle; the response timeout covers the busy case.
        socket.set_keepalive(true)?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "host resolved to nothing")
        })
        .into())
}

struct Handshake {
    stream: Stream,
    decoder: Decoder,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Handshake {
    async fn call(&mut self, args: &[&dyn ToArg]) -> Result<Frame, Error> {
        self.wbuf.clear();
        encode_command(&mut self.wbuf, args);
        self.stream.write_all(&self.wbuf).await?;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.rbuf)? {
                if frame.is_push() {
                    continue;
                }
                return Ok(frame.into_without_attributes());
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
    }
}

fn server_error(frame: &Frame) -> Option<ServerError> {
    frame.as_error().map(|e| ServerError::new(e.to_bytes()))
}

/// True for the replies servers give to bad credentials, or to missing ones.
fn is_auth_failure(e: &ServerError) -> bool {
    matches!(e.code(), "WRONGPASS" | "NOAUTH")
        || e.message().contains("invalid password")
        || e.message().contains("without any password configured")
}

fn check_ok(frame: Frame) -> Result<Frame, Error> {
    match server_error(&frame) {
        Some(e) if is_auth_failure(&e) => Err(Error::Auth(e)),
        Some(e) => Err(Error::Server(e)),
        None => Ok(frame),
    }
}

/// The credentials to authenticate with: the provider's, fetched now (before any socket is
/// opened, so a failing provider costs the server nothing), else the fixed ones.
pub(crate) async fn credentials(opts: &ConnectOptions) -> Result<Option<Credentials>, Error> {
    match &opts.credentials {
        Some(provider) => Ok(Some(
            provider.credentials().await.map_err(Error::Credentials)?,
        )),
        None => Ok(opts.password.as_ref().map(|pass| match &opts.username {
            Some(user) => Credentials::user(user.clone(), pass.clone()),
            None => Credentials::password(pass.clone()),
        })),
    }
}

/// Encodes `AUTH [username] password`.
pub(crate) fn encode_auth(buf: &mut BytesMut, creds: &Credentials) {
    match creds.username() {
        Some(user) => encode_command(buf, &[&"AUTH" as &dyn ToArg, &user, &creds.secret()]),
        None => encode_command(buf, &[&"AUTH" as &dyn ToArg, &creds.secret()]),
    }
}

async fn establish_inner(opts: &ConnectOptions) -> Result<Established, Error> {
    let creds = credentials(opts).await?;
    let stream = open(opts).await?;
    let mut hs = Handshake {
        stream,
        decoder: Decoder::new(),
        rbuf: BytesMut::with_capacity(4096),
        wbuf: BytesMut::with_capacity(256),
    };
    let mut protocol = NegotiatedProtocol::Resp2;
    let mut client_id = None;
    let user = creds
        .as_ref()
        .and_then(Credentials::username)
        .unwrap_or("default");
    let pass = creds.as_ref().map(Credentials::secret);
    let mut authenticated = false;
    let mut named = false;
    if opts.resp3 {
        let mut args: Vec<&dyn ToArg> = vec![&"HELLO", &"3"];
        if let Some(pass) = &pass {
            args.extend([&"AUTH" as &dyn ToArg, &user, pass]);
        }
        if let Some(name) = &opts.client_name {
            args.extend([&"SETNAME" as &dyn ToArg, name]);
        }
        let reply = hs.call(&args).await?;
        match server_error(&reply) {
            None => {
                protocol = NegotiatedProtocol::Resp3;
                authenticated = true;
                named = true;
                client_id = hello_field(&reply, "id").and_then(Frame::as_integer);
            }
            // Servers before 6.0 do not know HELLO; 6.x+ built without RESP3 say NOPROTO.
            Some(e)
                if e.code() == "NOPROTO"
                    || e.message().starts_with("unknown command")
                    || e.message().contains("unknown command") =>
            {
                tracing::debug!("server refused HELLO 3; using RESP2");
            }
            Some(e) if is_auth_failure(&e) => return Err(Error::Auth(e)),
            Some(e) => return Err(Error::Server(e)),
        }
    }
    if !authenticated && let Some(creds) = &creds {
        let reply = match creds.username() {
            Some(u) => hs.call(&[&"AUTH", &u, &creds.secret()]).await?,
            None => hs.call(&[&"AUTH", &creds.secret()]).await?,
        };
        check_ok(reply)?;
    }
    if !named && let Some(name) = &opts.client_name {
        check_ok(hs.call(&[&"CLIENT", &"SETNAME", name]).await?)?;
    }
    if opts.db != 0 {
        check_ok(hs.call(&[&"SELECT", &opts.db]).await?)?;
    }
    // Client-side caching: invalidations come as pushes on this connection over RESP3, and
    // to a subscriber connection over RESP2.
    let mut tracking = false;
    let mut redirect = None;
    if let Some(t) = &opts.tracking
        && let Some(redirect_to) = match protocol {
            NegotiatedProtocol::Resp3 => Some(None),
            // RESP2 has no pushes: invalidations go to a connection of their own. Without
            // one (refused, or unreachable) this connection goes on untracked.
            NegotiatedProtocol::Resp2 => match t.redirect(opts).await {
                Ok(r) => Some(Some(r)),
                Err(e) => {
                    tracing::warn!(error = %e, "no invalidation connection; client-side caching is off on this connection");
                    None
                }
            },
        }
    {
        redirect = redirect_to;
        let options = t.options();
        let mut args: Vec<&dyn ToArg> = vec![&"CLIENT", &"TRACKING", &"ON"];
        args.extend(options.iter().map(|o| o as &dyn ToArg));
        let id = redirect.as_ref().map(|r| r.id);
        if let Some(id) = &id {
            args.extend([&"REDIRECT" as &dyn ToArg, id]);
        }
        let reply = hs.call(&args).await?;
        match server_error(&reply) {
            None => tracking = true,
            // A server without tracking (before 6.0), or a user not allowed `CLIENT`: the
            // connection works untracked, and the cache serves nothing from it.
            Some(e) => {
                tracing::warn!(error = %e, "CLIENT TRACKING refused; client-side caching is off on this connection");
                if let Some(r) = redirect.take() {
                    r.conn.close();
                }
            }
        }
    }
    Ok(Established {
        stream: hs.stream,
        decoder: hs.decoder,
        rbuf: hs.rbuf,
        protocol,
        client_id,
        tracking,
        redirect,
    })
}

/// A field of the map `HELLO` returns.
fn hello_field<'a>(reply: &'a Frame, name: &str) -> Option<&'a Frame> {
    match reply {
        Frame::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_bytes().is_some_and(|b| b == name.as_bytes()))
            .map(|(_, v)| v),
        Frame::Array(items) => items
            .chunks(2)
            .find(|kv| kv[0].as_bytes().is_some_and(|b| b == name.as_bytes()))
            .and_then(|kv| kv.get(1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectOptions, open};
    use crate::Config;
    use crate::connection::stream::Stream;

    /// The socket option follows the configuration both ways (a new socket starts with
    /// Nagle on, so `false` must be left, and `true` set).
    #[tokio::test]
    async fn tcp_nodelay_follows_the_configuration() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        for on in [true, false] {
            let config = Config::builder()
                .host("127.0.0.1")
                .port(port)
                .tcp_nodelay(on)
                .build()
                .unwrap();
            let stream = open(&ConnectOptions::from_config(&config)).await.unwrap();
            let Stream::Tcp(tcp) = stream else {
                panic!("a TCP endpoint gives a TCP stream");
            };
            assert_eq!(tcp.nodelay().unwrap(), on);
            drop(listener.accept().await.unwrap());
        }
    }
}
