//! [`Client`]: the handle applications use: cheap to clone, `Send + Sync`, backed by a pool.

use std::sync::Arc;

use crate::cache::CacheStats;
use crate::config::IntoConfig;
use crate::connection::NegotiatedProtocol;
use crate::error::Error;
use crate::pool::{Pool, PooledConnection};

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

    /// What the client-side cache counted (hits, misses, invalidations, ...), when caching
    /// is on (see [`ConfigBuilder::cache`](crate::config::ConfigBuilder::cache)). A plain
    /// snapshot: cheap enough to poll for metrics, each counter read under its shard's lock.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.pool.cache.as_ref().map(|c| c.stats())
    }

    /// A snapshot of this client's counters (shared by its clones): commands, failures,
    /// timeouts, reconnects, redirections, dropped pub/sub messages, and the client-side
    /// cache's hits, misses, invalidations, evictions and refusals. For services with no
    /// metrics stack; the `metrics` feature sends the same events to a `metrics` recorder.
    pub fn stats(&self) -> crate::observe::ClientStats {
        let mut stats = self.pool.telemetry().stats.snapshot();
        if let Some(cache) = self.cache_stats() {
            stats.cache_hits = cache.hits;
            stats.cache_misses = cache.misses;
            stats.cache_invalidations = cache.invalidations;
            stats.cache_evictions = cache.evictions;
            stats.cache_refused = cache.refused;
        }
        stats
    }
}
