//! `Pool`: the façade the rest of the crate talks to, and [`PooledConnection`], the guard of
//! an exclusive connection.
//!
//! Behind a `Pool` is one of three topologies, side by side: one server (a `NodePool`), a
//! Sentinel-managed master (a node pool whose `MasterSource` is a `Sentinel`), or a
//! `Cluster`, which routes each command to a node pool per cluster node. The methods keep the
//! same meaning in every mode; cluster-specific ones say so. This is the only module that
//! knows all three: it wires a Sentinel to the pool it serves, in both directions, through
//! two narrow traits.

use std::sync::Arc;
use std::time::Duration;

use resp_codec::Frame;
use tokio::time::Instant;

use crate::cache::{AfterReply, Cache, CacheTracking, Written};
use crate::cluster::Cluster;
use crate::command::Cmd;
use crate::config::Config;
use crate::connection::{
    ConnectOptions, Connection, Deadline, NegotiatedProtocol, Pending, PushSink, Wait,
};
use crate::error::Error;
use crate::node::{NodeConnection, NodePool, PoolOptions};
use crate::observe::Telemetry;
use crate::reply::{FromReply, check as check_reply};
use crate::sentinel::{Sentinel, SwitchListener};

impl SwitchListener for NodePool {
    fn master_switched(&self) {
        self.forget_master();
    }

    fn is_closed(&self) -> bool {
        NodePool::is_closed(self)
    }
}

/// The connection pool behind a `Client`: one server, a Sentinel-managed
/// master, or a cluster.
pub(crate) struct Pool {
    kind: Kind,
    /// Client-side caching, when the config asks for it: its tracking is set up on each
    /// node pool's shared connection.
    pub(crate) cache: Option<Arc<Cache>>,
    /// The counters and span settings every node pool of this client shares.
    telemetry: Arc<Telemetry>,
}

enum Kind {
    /// One server; also a Sentinel-resolved master.
    Node(Arc<NodePool>),
    /// A Redis Cluster: commands are routed by key slot to per-node pools.
    Cluster(Arc<Cluster>),
}

impl Pool {
    /// The pool `config` asks for: a cluster when it names cluster nodes, a Sentinel-managed
    /// master when it names sentinels, otherwise one server. No I/O happens here.
    pub(crate) fn from_config(config: &Config) -> Arc<Pool> {
        let mut opts = ConnectOptions::from_config(config);
        let cache = config.cache().map(|c| Arc::new(Cache::new(c.clone())));
        // Set after the sentinels took their copy of the options: only the node pools'
        // shared connections are tracked (see `NodePool::tracked`).
        let tracking = cache
            .clone()
            .map(|c| Arc::new(CacheTracking(c)) as Arc<dyn crate::connection::Tracking>);
        let popts = PoolOptions::from_config(config);
        let telemetry = popts.telemetry.clone();
        let kind = if !config.cluster_nodes().is_empty() {
            opts.tracking = tracking;
            let cluster = Cluster::new(
                opts,
                popts,
                config.cluster_nodes().to_vec(),
                config.is_read_from_replicas(),
            );
            // Each node's shared connection tracks what it served; a slot that changes
            // owner leaves entries nobody will invalidate, so they all go.
            if let Some(cache) = &cache {
                let cache = Arc::downgrade(cache);
                let _ = cluster.on_owner_change.set(Box::new(move || {
                    if let Some(c) = cache.upgrade() {
                        c.flush();
                    }
                }));
            }
            Kind::Cluster(cluster)
        } else if let Some(master) = config.sentinel_master() {
            let credentials = (
                config.sentinel_username().map(str::to_owned),
                config.sentinel_password().map(str::to_owned),
            );
            let sentinel = Sentinel::new(master, config.sentinels().to_vec(), &opts, credentials);
            opts.tracking = tracking;
            let pool = NodePool::new_with_master(opts, popts, Arc::new(sentinel.clone()));
            let listener: Arc<dyn SwitchListener> = pool.clone();
            sentinel.attach(Arc::downgrade(&listener));
            Kind::Node(pool)
        } else {
            opts.tracking = tracking;
            Kind::Node(NodePool::new(opts, popts))
        };
        Arc::new(Pool {
            kind,
            telemetry,
            cache,
        })
    }

    /// The client's counters and span settings.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The server every command goes to, when that is known before routing (one server;
    /// not a cluster, and not Sentinel, whose master may move).
    pub(crate) fn fixed_endpoint(&self) -> Option<&crate::config::ServerAddr> {
        match &self.kind {
            Kind::Node(n) if !n.is_sentinel() => Some(n.endpoint()),
            _ => None,
        }
    }

    /// The cluster router, in cluster mode.
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        match &self.kind {
            Kind::Cluster(c) => Some(c),
            Kind::Node(_) => None,
        }
    }

    /// The connect options (in cluster mode, the template every node's options copy).
    pub(crate) fn connect_options(&self) -> &ConnectOptions {
        match &self.kind {
            Kind::Node(n) => n.connect_options(),
            Kind::Cluster(c) => c.connect_options(),
        }
    }

    /// Opens a new connection (in cluster mode, to some master).
    pub(crate) async fn open(&self, push: Option<PushSink>) -> Result<Connection, Error> {
        match &self.kind {
            Kind::Node(n) => n.open(push, &Deadline::unbounded()).await,
            Kind::Cluster(c) => c.open_any(push).await,
        }
    }

    /// When the breaker will next allow a connection attempt, if it is open (in cluster mode:
    /// only when it is open for every known node).
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Node(n) => n.retry_at(),
            Kind::Cluster(c) => c.retry_at(),
        }
    }

    /// A deadline for a call starting now: `wait` resolved against the response timeout.
    /// Every step of the call (a connection, a reconnect, a retry, a redirection) ends by it.
    pub(crate) fn deadline(&self, wait: Wait) -> Deadline {
        Deadline::start(wait, self.connect_options().response_timeout)
    }

    /// Sends one command and returns its reply (error replies are `Ok` frames), by
    /// `deadline`, which the caller fixed when its call started. In cluster mode the command
    /// is routed by its keys, following redirections.
    pub(crate) async fn request_by(&self, cmd: &Cmd, deadline: &Deadline) -> Result<Frame, Error> {
        match &self.kind {
            Kind::Node(n) => n.request(cmd, deadline).await,
            Kind::Cluster(c) => c.request(cmd, deadline).await,
        }
    }

    /// Queues `cmd` at once on a standalone server's shared connection when it is up, for a
    /// reply future with a name; `None` when the command must go through
    /// [`Pool::request_by`] (a reconnect, Sentinel, a cluster).
    pub(crate) fn try_submit(&self, cmd: &Cmd) -> Option<Pending> {
        match &self.kind {
            Kind::Node(n) => n.try_submit(cmd),
            Kind::Cluster(_) => None,
        }
    }

    /// Sends a batch and returns one reply frame per command, in order, within the response
    /// timeout counted from now. In cluster mode the batch is split by node (a `MULTI` ...
    /// `EXEC` batch must stay in one slot).
    pub(crate) async fn request_many(&self, cmds: &[&Cmd]) -> Result<Vec<Frame>, Error> {
        let deadline = self.deadline(Wait::Default);
        match &self.kind {
            Kind::Node(n) => n.request_many(cmds, &deadline).await,
            Kind::Cluster(c) => c.request_many(cmds, &deadline).await,
        }
    }

    /// A cached read in opt-in tracking mode: `CLIENT CACHING yes` and `cmd` adjacent on one
    /// connection, so that the server tracks this read. The reply, and whether the server
    /// tracks it (only then may it be stored): `CLIENT CACHING` succeeded and, on a cluster,
    /// the read ran where it was sent; a read whose keys span slots, or that was redirected
    /// (answered with an error), is sent again alone, untracked.
    pub(crate) async fn request_tracked(&self, cmd: &Cmd) -> Result<(Frame, bool), Error> {
        let deadline = self.deadline(Wait::Default);
        let optin = Cmd::new("CLIENT").arg("CACHING").arg("yes");
        match &self.kind {
            Kind::Node(n) => {
                let mut frames = n.request_many(&[&optin, cmd], &deadline).await?;
                let reply = frames.pop().ok_or(Error::UnexpectedReply)?;
                let tracked = frames.first().is_some_and(|f| !f.is_error());
                Ok((reply, tracked))
            }
            Kind::Cluster(c) => c.request_tracked(&optin, cmd, &deadline).await,
        }
    }

    /// Takes an exclusive connection, by `deadline` (a blocking command's, counted from its
    /// call; [`Deadline::unbounded`] for a guard handed to the user, which the acquire and
    /// connect timeouts bound). In cluster mode it binds to a node lazily, at its first
    /// command with a key.
    pub(crate) async fn exclusive(
        self: &Arc<Self>,
        deadline: &Deadline,
    ) -> Result<PooledConnection, Error> {
        match &self.kind {
            Kind::Node(n) => Ok(PooledConnection {
                binding: Binding::Bound(n.exclusive(deadline).await?),
                cluster: None,
                cache: self.cache.clone(),
                queued_writes: None,
            }),
            Kind::Cluster(c) => {
                if c.is_closed() {
                    return Err(Error::Closed);
                }
                Ok(PooledConnection {
                    binding: Binding::Unbound {
                        cluster: c.clone(),
                        deferred_multi: false,
                    },
                    cluster: Some(c.clone()),
                    cache: self.cache.clone(),
                    queued_writes: None,
                })
            }
        }
    }

    /// A dedicated connection with a push sink (subscribers); in cluster mode, to some
    /// master.
    pub(crate) async fn dedicated(&self, push: PushSink) -> Result<Connection, Error> {
        self.open(Some(push)).await
    }

    /// Closes every connection; later requests fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        match &self.kind {
            Kind::Node(n) => n.close(),
            Kind::Cluster(c) => c.close(),
        }
    }

    /// True once [`Pool::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.kind {
            Kind::Node(n) => n.is_closed(),
            Kind::Cluster(c) => c.is_closed(),
        }
    }

    /// The protocol of a connected shared connection, if any is up.
    pub(crate) fn protocol(&self) -> Option<NegotiatedProtocol> {
        match &self.kind {
            Kind::Node(n) => n.protocol(),
            Kind::Cluster(c) => c.protocol(),
        }
    }
}

/// A connection taken from the pool for exclusive use; it goes back when dropped, if clean.
///
/// Use it for commands that change connection state or block: `BLPOP`, `WATCH`/`MULTI`/`EXEC`,
/// `CLIENT` settings. The connection is closed instead of reused when the guard is dropped
/// while one of its calls is still running (the call's future was cancelled), after a call
/// failed at the connection level, inside an unfinished `MULTI` or `WATCH`, or after a command
/// that changes the connection for good (`SELECT`, `SUBSCRIBE`, `CLIENT ...`, `HELLO`, ...).
///
/// On a cluster the guard starts unbound and takes a connection to the node serving the slot
/// of its first command with a key (a `MULTI` sent before that is held back and sent just
/// before it), so `WATCH k`/`MULTI`/`SET k v`/`EXEC` and `BLPOP k 0` go where `k` lives.
/// Every later command uses that node, whatever its keys: keys of the other slots get the
/// server's `MOVED` or `CROSSSLOT` error, as transactions on a cluster require. A `MOVED`
/// seen here still corrects the client's slot map, so the next guard binds to the new owner.
pub struct PooledConnection {
    binding: Binding,
    /// The router, in cluster mode: told about `MOVED` replies seen on this connection.
    cluster: Option<Arc<Cluster>>,
    /// The client's cache: writes made here drop its copies of their keys at once.
    cache: Option<Arc<Cache>>,
    /// Inside a `MULTI` sent command by command: the keys its writes touch, dropped again
    /// when `EXEC` has run them.
    queued_writes: Option<Vec<bytes::Bytes>>,
}

enum Binding {
    Bound(NodeConnection),
    /// Cluster mode, before the first keyed command.
    Unbound {
        cluster: Arc<Cluster>,
        /// A `MULTI` was acknowledged locally and is still to be sent.
        deferred_multi: bool,
    },
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PooledConnection");
        match &self.binding {
            Binding::Bound(n) => d.field("busy", &n.is_busy()),
            Binding::Unbound { .. } => d.field("bound", &false),
        };
        d.finish_non_exhaustive()
    }
}

impl PooledConnection {
    /// Binds an unbound cluster guard for `cmds`, when one of them has a key, or when none
    /// can be answered locally. Returns the reply when the commands were answered here: a
    /// `MULTI` (deferred until a key is known), or the `EXEC`/`DISCARD` of an empty
    /// deferred transaction.
    async fn bind_for(
        &mut self,
        cmds: &[&Cmd],
        local: bool,
        deadline: &Deadline,
    ) -> Result<Option<Frame>, Error> {
        let Binding::Unbound {
            cluster,
            deferred_multi,
        } = &mut self.binding
        else {
            return Ok(None);
        };
        let slot = cmds.iter().find_map(|c| cluster.slot_of(c));
        if slot.is_none()
            && local
            && let [one] = cmds
        {
            if one.is("MULTI") && !*deferred_multi {
                *deferred_multi = true;
                return Ok(Some(Frame::SimpleString("OK".into())));
            }
            if one.is("EXEC") && *deferred_multi {
                *deferred_multi = false;
                return Ok(Some(Frame::Array(Vec::new())));
            }
            if one.is("DISCARD") && *deferred_multi {
                *deferred_multi = false;
                return Ok(Some(Frame::SimpleString("OK".into())));
            }
        }
        let multi = *deferred_multi;
        let node = deadline.bound(cluster.node_for_exclusive(slot)).await?;
        let mut bound = node.exclusive(deadline).await?;
        if multi {
            let reply = bound.send_frame(&Cmd::new("MULTI"), deadline).await?;
            check_reply(reply)?;
        }
        self.binding = Binding::Bound(bound);
        Ok(None)
    }

    fn bound(&mut self) -> &mut NodeConnection {
        match &mut self.binding {
            Binding::Bound(n) => n,
            Binding::Unbound { .. } => unreachable!("bind_for binds or answers"),
        }
    }

    /// Sends `cmd` and converts its reply.
    ///
    /// # Errors
    ///
    /// Connection errors, [`Error::Server`] for an error reply, [`Error::Conversion`] when the
    /// reply does not fit `T`.
    ///
    /// # Cancel safety
    ///
    /// Cancelling is safe for other users: the connection is then discarded, never reused.
    pub async fn query<T: FromReply>(&mut self, cmd: Cmd) -> Result<T, Error> {
        let frame = self.send_frame(&cmd, Wait::Default).await?;
        T::from_reply(frame)
    }

    /// Sends `cmd` with its own response timeout (`None`: wait as long as it takes), for
    /// blocking commands whose server-side timeout is longer than the default.
    ///
    /// # Errors
    ///
    /// As for [`PooledConnection::query`].
    pub async fn query_with_timeout<T: FromReply>(
        &mut self,
        cmd: Cmd,
        timeout: Option<Duration>,
    ) -> Result<T, Error> {
        let frame = self.send_frame(&cmd, Wait::Exactly(timeout)).await?;
        T::from_reply(frame)
    }

    /// Sends `cmd`, waiting for its reply as `wait` says (a blocking command adds its block
    /// time to the connection's timeout).
    pub(crate) async fn send_frame(&mut self, cmd: &Cmd, wait: Wait) -> Result<Frame, Error> {
        let deadline = self.deadline(wait);
        self.send_frame_by(cmd, &deadline).await
    }

    /// The deadline of a call on this connection starting now.
    fn deadline(&self, wait: Wait) -> Deadline {
        let default = match &self.binding {
            Binding::Bound(n) => n.response_timeout(),
            Binding::Unbound { cluster, .. } => cluster.connect_options().response_timeout,
        };
        Deadline::start(wait, default)
    }

    /// Sends `cmd` and waits for its reply by `deadline`, which may have started before this
    /// connection was taken (a blocking command run on a client).
    pub(crate) async fn send_frame_by(
        &mut self,
        cmd: &Cmd,
        deadline: &Deadline,
    ) -> Result<Frame, Error> {
        if let Some(reply) = self.bind_for(&[cmd], true, deadline).await? {
            return Ok(reply);
        }
        let cache = self.cache.clone();
        let written = cache.as_deref().and_then(|c| c.write(cmd));
        let reply = self.bound().send_frame(cmd, deadline).await;
        if let Some(cache) = &cache {
            self.track_transaction(cache, cmd, written);
        }
        if let Ok(frame) = &reply {
            self.learn_from(std::slice::from_ref(frame));
        }
        reply
    }

    /// Client-side caching: drops a write's keys again now that it ran, or, inside a
    /// `MULTI`, when `EXEC` has run it.
    fn track_transaction(&mut self, cache: &Cache, cmd: &Cmd, written: Option<Written<'_>>) {
        if cmd.is("MULTI") {
            self.queued_writes = Some(Vec::new());
        }
        if let Some(w) = written {
            if let Some(queued) = &mut self.queued_writes {
                queued.extend(w.keys().iter().cloned());
            }
            AfterReply::Invalidate(Box::new(w)).complete(Err(()));
        }
        if cmd.is("EXEC") || cmd.is("DISCARD") {
            for key in self.queued_writes.take().unwrap_or_default() {
                cache.forget(&key);
            }
        }
    }

    /// Tells the cluster router about `MOVED` replies among `frames`.
    fn learn_from(&self, frames: &[Frame]) {
        if let (Some(cluster), Binding::Bound(n)) = (&self.cluster, &self.binding) {
            cluster.learn_moved(n.endpoint(), frames);
        }
    }

    /// Sends several commands in one write and returns their raw replies in order.
    ///
    /// # Errors
    ///
    /// Connection errors only; error replies are returned as frames.
    pub(crate) async fn send_many(&mut self, cmds: &[&Cmd]) -> Result<Vec<Frame>, Error> {
        let deadline = self.deadline(Wait::Default);
        // A batch is never answered locally: it binds even when no command has a key.
        self.bind_for(cmds, false, &deadline).await?;
        let cache = self.cache.clone();
        let written: Vec<_> = match cache.as_deref() {
            Some(c) => cmds.iter().filter_map(|cmd| c.write(cmd)).collect(),
            None => Vec::new(),
        };
        let replies = self.bound().send_many(cmds, &deadline).await;
        // A `MULTI` ... `EXEC` batch has run its writes once its replies are in.
        for w in written {
            AfterReply::Invalidate(Box::new(w)).complete(Err(()));
        }
        if let Ok(frames) = &replies {
            self.learn_from(frames);
        }
        replies
    }

    /// Marks the connection as not reusable: it is closed when the guard drops (for example
    /// after a transaction was left open).
    pub fn discard(&mut self) {
        match &mut self.binding {
            Binding::Bound(n) => n.discard(),
            Binding::Unbound { deferred_multi, .. } => *deferred_multi = false,
        }
    }

    /// The client's telemetry, and the node this connection is bound to (if it is).
    pub(crate) fn telemetry(&self) -> (&Arc<Telemetry>, Option<&crate::config::ServerAddr>) {
        match &self.binding {
            Binding::Bound(n) => (n.telemetry(), Some(n.endpoint())),
            Binding::Unbound { cluster, .. } => (cluster.telemetry(), None),
        }
    }

    /// The server-side client id of this connection, when known (RESP3 handshakes learn it);
    /// `None` for a cluster guard not bound to a node yet.
    pub fn client_id(&self) -> Option<i64> {
        match &self.binding {
            Binding::Bound(n) => n.conn().client_id(),
            Binding::Unbound { .. } => None,
        }
    }
}
