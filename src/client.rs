//! [`Client`]: the handle applications use: cheap to clone, `Send + Sync`, backed by a pool.

use std::sync::Arc;

use resp_codec::{Frame, ToArg};

use crate::command::Cmd;
use crate::config::IntoConfig;
use crate::connection::NegotiatedProtocol;
use crate::error::Error;
use crate::pool::{Pool, PooledConnection};
use crate::reply::FromReply;

/// A Redis client: a pool of connections to one server.
///
/// Clones share the pool. Ordinary commands from any number of tasks are multiplexed over one
/// connection and written in batches; commands that need a connection to themselves go through
/// [`Client::exclusive`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> redis_manager::Result<()> {
/// use redis_manager::{cmd, Client, Config};
///
/// let client = Client::new(Config::builder().host("127.0.0.1").port(6379))?;
/// client.query::<()>(cmd("SET").arg("greeting").arg("hello")).await?;
/// let v: Option<String> = client.query(cmd("GET").arg("greeting")).await?;
/// assert_eq!(v.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) pool: Arc<Pool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", self.pool.connect_options())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server `config` describes: a [`Config`](crate::Config), a
    /// [`ConfigBuilder`](crate::config::ConfigBuilder) or a URL (see [`IntoConfig`]). No I/O
    /// happens here: the first command connects (or call [`Client::ping`] to connect now).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `config` is invalid (see
    /// [`ConfigBuilder::build`](crate::config::ConfigBuilder::build) and
    /// [`Config::from_url`](crate::Config::from_url)), or asks for TLS in a build without
    /// the `tls` feature.
    pub fn new(config: impl IntoConfig) -> Result<Client, Error> {
        let config = config.into_config()?;
        config.check_supported()?;
        Ok(Client {
            pool: Pool::from_config(&config),
        })
    }

    /// Like [`Client::new`], then connects and checks the server with `PING`.
    ///
    /// # Errors
    ///
    /// The configuration, connect, handshake (authentication, database selection) or `PING`
    /// error.
    pub async fn connect(config: impl IntoConfig) -> Result<Client, Error> {
        let client = Client::new(config)?;
        client.ping().await?;
        Ok(client)
    }

    /// Sends `cmd` and converts its reply into `T`, within the response timeout counted from
    /// this call (a reconnect and a retry included).
    ///
    /// # Errors
    ///
    /// Connection errors ([`Error::Io`], [`Error::Timeout`], [`Error::ConnectionClosed`],
    /// [`Error::Backoff`], ...),
    /// [`Error::Server`] for an error reply, [`Error::Conversion`] when the reply does not fit
    /// `T`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future never affects other callers: an unsent command is withdrawn, and
    /// the reply of a sent one is read and discarded.
    pub async fn query<T: FromReply>(&self, cmd: Cmd) -> Result<T, Error> {
        T::from_reply(self.pool.request(&cmd).await?)
    }

    /// Sends `cmd` and returns its raw reply frame; an error reply is an `Err`.
    ///
    /// # Errors
    ///
    /// As for [`Client::query`].
    pub async fn send(&self, cmd: Cmd) -> Result<Frame, Error> {
        crate::reply::check(self.pool.request(&cmd).await?)
    }

    /// Runs a typed command given as its words, the name first.
    pub(crate) async fn call<T: FromReply>(&self, args: &[&dyn ToArg]) -> Result<T, Error> {
        self.query(Cmd::from_args(args)).await
    }

    /// Like [`Client::call`] with a command name followed by a variable list of arguments.
    pub(crate) async fn call_with<T: FromReply>(
        &self,
        head: &[&dyn ToArg],
        tail: &[&dyn ToArg],
    ) -> Result<T, Error> {
        let mut cmd = Cmd::from_args(head);
        for a in tail {
            cmd.push_arg(a);
        }
        self.query(cmd).await
    }

    /// Takes a connection for exclusive use (blocking commands, transactions), waiting at most
    /// the pool's acquire timeout.
    ///
    /// # Errors
    ///
    /// [`Error::PoolTimeout`] when none became free in time; connection errors when a new one
    /// had to be opened and could not be.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is taken unless the future completes.
    pub async fn exclusive(&self) -> Result<PooledConnection, Error> {
        self.pool
            .exclusive(&crate::connection::Deadline::unbounded())
            .await
    }

    /// Connects the shared connection now (instead of on first use) and checks it with `PING`.
    ///
    /// # Errors
    ///
    /// The connect or handshake error.
    pub async fn ping(&self) -> Result<(), Error> {
        let reply: Frame = self.call(&[&"PING"]).await?;
        crate::reply::check(reply).map(|_| ())
    }

    /// The protocol the shared connection negotiated, once it is connected.
    pub fn protocol(&self) -> Option<NegotiatedProtocol> {
        self.pool.protocol()
    }

    /// Closes every connection. Outstanding and later requests fail with [`Error::Closed`]
    /// (or a lost-connection error naming it).
    pub fn close(&self) {
        self.pool.close();
    }

    /// True once [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}
