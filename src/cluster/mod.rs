//! Redis Cluster: key-slot routing over one [`NodePool`] per node.
//!
//! # Design
//!
//! Commands arrive as [`Cmd`] values, which record where each argument lies and, when their
//! builder knew them, which arguments are keys. The router takes those keys, or finds them
//! by applying the server's `COMMAND` key specifications ([`keys`]: fetched once, with a
//! built-in table until then) to the recorded arguments; it hashes the keys to slots
//! ([`slot`]) and sends the command, unchanged, to the node serving that slot
//! ([`topology`]). Nothing is parsed back from encoded bytes.
//!
//! State:
//!
//! - `topology`: an immutable [`Topology`] snapshot behind a lock, replaced whole. A `MOVED`
//!   patches one slot at once (copy, change, swap), then a full refresh runs in the
//!   background. Requests read the snapshot once per attempt and never hold the lock across
//!   an `await`.
//! - `nodes`: one [`NodePool`] per node address, created on first use, so every node has one
//!   multiplexed connection (plus exclusive ones on demand); `replicas` likewise for replica
//!   reads, whose connections send `READONLY` first.
//! - Refreshes (`CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers before 7.0) are serialized
//!   by `refresh_lock`; a caller that waited for a refresh finished by someone else returns
//!   without asking again (`refreshes` counts completed ones), so a burst of redirections
//!   costs one refresh. They also run periodically, started lazily by requests.
//!
//! Invariants:
//!
//! - A command is sent again only when it certainly did not run: after `MOVED`, `ASK`,
//!   `TRYAGAIN`, `CLUSTERDOWN` or `LOADING` replies (the server refused it), or when its
//!   connection failed before it was written. A command whose outcome is unknown returns
//!   that error, as on one server (at most once).
//! - Redirections are bounded ([`MAX_REDIRECTS`]), and waiting for the cluster to recover
//!   (`TRYAGAIN`, `CLUSTERDOWN`, a node that refuses connections during a failover) is bounded
//!   by the retry window: the response timeout (30 s without one).
//! - `ASK` is one-shot: `ASKING` and the command go in one batch on the target's shared
//!   connection, so nothing can come between them, and the slot map is not changed.
//! - Batches (`request_many`) are split by node and put back in order; each command's error
//!   reply stays its own. A `MULTI` ... `EXEC` batch must have all its keys in one slot
//!   ([`Error::CrossSlot`] otherwise) and is retried whole only when `EXEC` was refused.
//! - A command whose keys span slots is split when that keeps its meaning (`MGET`, `DEL`,
//!   `EXISTS`, `UNLINK`, `TOUCH`: one command per slot, results merged), and refused with
//!   [`Error::CrossSlot`] otherwise; it never reaches a server that would answer
//!   `CROSSSLOT`. Inside a pipeline it is split the same way, its parts taking its place so
//!   that commands on one node still run in pipeline order, and one that cannot be split gets
//!   the server's `CROSSSLOT` error as its own reply; commands for every master (below) are
//!   sent to every master there too.
//!
//! Keyless commands go to some master, except those that act on the whole data set, which go
//! to every master: `FLUSHALL`, `FLUSHDB`, `SCRIPT LOAD|FLUSH`, `FUNCTION LOAD|DELETE|FLUSH|
//! RESTORE` (so `EVALSHA` finds its script on whichever node serves its keys), `DBSIZE`
//! (summed) and `KEYS` (concatenated).

pub(crate) mod keys;
mod shard_pubsub;
pub(crate) mod slot;
pub(crate) mod topology;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_core::future::BoxFuture;
use resp_codec::{Frame, encode_command};
use smallvec::SmallVec;
use tokio::time::Instant;
use tracing::Instrument;

use self::keys::{CommandInfo, CommandTable};
use self::topology::{Topology, parse_target};
use crate::command::Cmd;
use crate::config::ServerAddr;
use crate::connection::{ConnectOptions, Connection, Deadline, NegotiatedProtocol, PushSink, Wait};
use crate::error::Error;
use crate::node::{NodePool, PoolOptions, put_cmd};

pub(crate) use shard_pubsub::ShardLinks;

/// Redirections (`MOVED`/`ASK`) one command may follow before its last reply is returned.
pub(crate) const MAX_REDIRECTS: u32 = 16;
/// How often the slot map is read again even when nothing suggests it changed.
const REFRESH_EVERY: Duration = Duration::from_secs(15);
/// The retry window without a response timeout.
const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(30);
/// Backoff between attempts while the cluster recovers: from the first to the cap.
const RETRY_MIN: Duration = Duration::from_millis(20);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// Held by the background refresh task: clears `background_refresh` when the refresh ends,
/// also when the task is dropped unfinished because its runtime shut down (a client kept in a
/// `static`); a flag left set would stop every later background refresh.
struct RefreshRunning(Arc<Cluster>);

impl Drop for RefreshRunning {
    fn drop(&mut self) {
        self.0.background_refresh.store(false, Ordering::Release);
    }
}

/// The router of a cluster client.
pub(crate) struct Cluster {
    /// Every node's connect options are this, with the node's address.
    template: ConnectOptions,
    /// Client-side caching: told when a slot changes owner (a `MOVED`, or a refresh that
    /// says so), since the new owner was never asked to track what the old one served.
    pub(crate) on_owner_change: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    popts: PoolOptions,
    seeds: Vec<ServerAddr>,
    read_from_replicas: bool,
    topology: RwLock<Arc<Topology>>,
    /// Looked up for every command routed: hashed with foldhash (SipHash took about 300
    /// instructions a command).
    nodes: Mutex<NodeMap>,
    replicas: Mutex<NodeMap>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Completed refreshes, to collapse concurrent ones.
    refreshes: AtomicU64,
    last_refresh: Mutex<Option<Instant>>,
    background_refresh: AtomicBool,
    commands: RwLock<Option<Arc<CommandTable>>>,
    commands_asked: AtomicBool,
    builtin: CommandTable,
    closed: AtomicBool,
    /// Round-robin counter for keyless commands and replica choice.
    next: AtomicUsize,
    me: Weak<Cluster>,
}

/// How a reply asks for the command to be sent again.
#[derive(Debug, PartialEq)]
enum Redirect {
    Moved {
        slot: u16,
        to: ServerAddr,
    },
    Ask {
        to: ServerAddr,
    },
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`: wait, then send again.
    Wait,
}

impl Redirect {
    fn of(frame: &Frame, origin: &ServerAddr) -> Option<Redirect> {
        let text = frame.as_error()?;
        let text = std::str::from_utf8(text).ok()?;
        let mut words = text.split_ascii_whitespace();
        match words.next()? {
            "MOVED" => {
                let slot = words.next()?.parse().ok()?;
                let to = parse_target(words.next()?, origin)?;
                Some(Redirect::Moved { slot, to })
            }
            "ASK" => {
                let _slot = words.next()?;
                let to = parse_target(words.next()?, origin)?;
                Some(Redirect::Ask { to })
            }
            "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN" => Some(Redirect::Wait),
            _ => None,
        }
    }
}

type NodeMap = HashMap<ServerAddr, Arc<NodePool>, foldhash::fast::RandomState>;

/// `word` in upper case, in `buf`; empty when longer than `buf`, which no command name that
/// routing matches on is.
fn upper<'b>(word: &[u8], buf: &'b mut [u8; 16]) -> &'b [u8] {
    let Some(out) = buf.get_mut(..word.len()) else {
        return &[];
    };
    out.copy_from_slice(word);
    out.make_ascii_uppercase();
    out
}

/// Where one command goes.
#[derive(Debug, PartialEq)]
enum Route {
    /// The node serving this slot; `readonly` commands may use a replica (the flag is looked
    /// up only where it can matter: for commands without marked keys, or when replicas serve
    /// reads).
    Slot { slot: u16, readonly: bool },
    /// Any master.
    Any,
    /// Every master, the replies combined.
    AllMasters(Combine),
    /// One command per slot, the replies combined (the keys are in several slots).
    Split(Combine),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Combine {
    /// Every reply must succeed; the first one is returned.
    First,
    /// Integers summed.
    Sum,
    /// Arrays concatenated.
    Concat,
    /// `MGET`: each slot's values put back at their keys' positions.
    Positions,
}

/// A pipeline as sent ([`Cluster::expand_pipeline`]): the commands (split ones as their
/// parts), the slot each goes to, and how to get each original command's reply back.
struct Expanded<'a> {
    cmds: Vec<Cow<'a, Cmd>>,
    slots: Vec<Option<u16>>,
    plan: Vec<Sent>,
}

/// How one command of a pipeline was sent.
enum Sent {
    /// As it is, at this index of the sent commands.
    Whole(usize),
    /// As these parts, whose replies are combined.
    Parts {
        range: std::ops::Range<usize>,
        combine: Combine,
        positions: Vec<Vec<usize>>,
    },
}

/// The bytes of one attempt, sent as they are or after `ASKING`.
enum Attempt {
    Plain,
    Asking,
}

impl Cluster {
    pub(crate) fn new(
        template: ConnectOptions,
        popts: PoolOptions,
        seeds: Vec<ServerAddr>,
        read_from_replicas: bool,
    ) -> Arc<Cluster> {
        Arc::new_cyclic(|me| Cluster {
            template,
            on_owner_change: std::sync::OnceLock::new(),
            popts,
            seeds,
            read_from_replicas,
            topology: RwLock::new(Arc::new(Topology::default())),
            nodes: Mutex::new(NodeMap::default()),
            replicas: Mutex::new(NodeMap::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
            refreshes: AtomicU64::new(0),
            last_refresh: Mutex::new(None),
            background_refresh: AtomicBool::new(false),
            commands: RwLock::new(None),
            commands_asked: AtomicBool::new(false),
            builtin: CommandTable::builtin(),
            closed: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            me: me.clone(),
        })
    }

    pub(crate) fn connect_options(&self) -> &ConnectOptions {
        &self.template
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes every node's connections; later requests fail with [`Error::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for pool in lock(&self.nodes)
            .values()
            .chain(lock(&self.replicas).values())
        {
            pool.close();
        }
    }

    /// The protocol of some connected node.
    pub(crate) fn protocol(&self) -> Option<NegotiatedProtocol> {
        lock(&self.nodes).values().find_map(|p| p.protocol())
    }

    /// When every known node's breaker is open: the earliest time one allows a connect.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        let nodes = lock(&self.nodes);
        let mut earliest: Option<Instant> = None;
        for pool in nodes.values() {
            let at = pool.retry_at()?;
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        earliest
    }

    fn snapshot(&self) -> Arc<Topology> {
        self.topology
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The pool of the node at `addr`, created on first use.
    pub(crate) fn node(&self, addr: &ServerAddr) -> Arc<NodePool> {
        let mut nodes = lock(&self.nodes);
        if let Some(p) = nodes.get(addr) {
            return p.clone();
        }
        let mut opts = self.template.clone();
        opts.endpoint = addr.clone();
        let pool = NodePool::new(opts, self.popts.clone());
        if self.is_closed() {
            pool.close();
        }
        nodes.insert(addr.clone(), pool.clone());
        pool
    }

    fn replica(&self, addr: &ServerAddr) -> Arc<NodePool> {
        let mut replicas = lock(&self.replicas);
        replicas
            .entry(addr.clone())
            .or_insert_with(|| {
                let mut opts = self.template.clone();
                opts.endpoint = addr.clone();
                NodePool::new_readonly(opts, self.popts.clone())
            })
            .clone()
    }

    // ----- topology -----

    /// Reads the slot map now, unless a refresh that started after the caller's last look
    /// completes first. `prefer` is asked first (the target of a `MOVED` knows the news).
    ///
    /// Boxed: its future is about 3 KB, and every command's future that may need a refresh
    /// (most: an unknown slot, an empty map) would otherwise hold it inline and be moved
    /// with it at each step, while refreshing is rare.
    fn refresh<'a>(&'a self, prefer: Option<&'a ServerAddr>) -> BoxFuture<'a, Result<(), Error>> {
        // A span of its own: inside the command that waits for it, or alone when it runs
        // in the background.
        let span = tracing::debug_span!(target: "redis_manager::cluster", "redis.cluster.refresh");
        Box::pin(self.refresh_now(prefer).instrument(span))
    }

    async fn refresh_now(&self, prefer: Option<&ServerAddr>) -> Result<(), Error> {
        let seen = self.refreshes.load(Ordering::Acquire);
        let _one_at_a_time = self.refresh_lock.lock().await;
        if self.refreshes.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        let mut candidates: Vec<ServerAddr> = Vec::new();
        let mut push = |a: &ServerAddr| {
            if !candidates.contains(a) {
                candidates.push(a.clone());
            }
        };
        if let Some(p) = prefer {
            push(p);
        }
        let current = self.snapshot();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let shards = current.shards();
        for i in 0..shards.len() {
            push(&shards[(start + i) % shards.len()].master);
        }
        for s in &self.seeds {
            push(s);
        }
        let mut last_error = None;
        for addr in &candidates {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            match self.fetch_topology(addr).await {
                Ok(t) => {
                    self.install(t);
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(node = %addr, error = %e, "cluster topology refresh failed on a node");
                    last_error = Some(e);
                }
            }
        }
        // Counted even when it failed, so that waiters do not retry at once in a loop.
        self.refreshes.fetch_add(1, Ordering::AcqRel);
        *lock(&self.last_refresh) = Some(Instant::now());
        Err(last_error.unwrap_or(Error::Closed))
    }

    fn install(&self, t: Topology) {
        let masters: Vec<ServerAddr> = t.shards().iter().map(|s| s.master.clone()).collect();
        // Nodes that left the cluster keep no pool: a long-lived client would otherwise hold
        // their connections (and reconnect to them) forever. Only the map's reference goes;
        // a command still using such a pool finishes, and the connections close with the
        // last reference. A seed outside the map gets a new pool if a refresh needs it.
        let member = |addr: &ServerAddr| {
            t.shards()
                .iter()
                .any(|s| &s.master == addr || s.replicas.contains(addr))
        };
        let departed: Vec<ServerAddr> = {
            let mut nodes = lock(&self.nodes);
            let mut replicas = lock(&self.replicas);
            let mut gone: Vec<ServerAddr> = nodes.keys().filter(|a| !member(a)).cloned().collect();
            gone.extend(replicas.keys().filter(|a| !member(a)).cloned());
            nodes.retain(|a, _| member(a));
            replicas.retain(|a, _| member(a));
            gone
        };
        if !departed.is_empty() {
            tracing::info!(nodes = ?departed, "cluster nodes left the slot map; their pools are released");
        }
        let t = Arc::new(t);
        let old = std::mem::replace(
            &mut *self.topology.write().unwrap_or_else(|e| e.into_inner()),
            t.clone(),
        );
        if (0..16384).any(|slot| old.master_for(slot) != t.master_for(slot)) {
            self.owner_changed();
        }
        self.refreshes.fetch_add(1, Ordering::AcqRel);
        *lock(&self.last_refresh) = Some(Instant::now());
        self.popts.telemetry.stats.topology_refreshed();
        tracing::debug!(masters = masters.len(), "cluster topology refreshed");
    }

    async fn fetch_topology(&self, addr: &ServerAddr) -> Result<Topology, Error> {
        let pool = self.node(addr);
        // Outside any call (a refresh may run in the background): the connect timeout and the
        // response timeout bound it.
        let conn = pool.shared(&Deadline::unbounded()).await?;
        let tls = self.template.tls.is_some();
        let reply = conn
            .request(|b| encode_command(b, &["CLUSTER", "SHARDS"]))
            .await?;
        let topology = if reply.is_error() {
            // Servers before 7.0 have no CLUSTER SHARDS.
            let reply = conn
                .request(|b| encode_command(b, &["CLUSTER", "SLOTS"]))
                .await?;
            let reply = crate::reply::check(reply)?;
            Topology::from_slots(&reply, addr)
        } else {
            Topology::from_shards(&reply, addr, tls)
        };
        let topology = topology.filter(|t| !t.is_empty()).ok_or(Error::Conversion(
            crate::error::ConversionError {
                expected: "cluster slot map",
                got: "a reply without assigned slots",
            },
        ))?;
        if !self.commands_asked.swap(true, Ordering::AcqRel) {
            // Once per client: the key specifications of every command the server knows.
            match conn.request(|b| encode_command(b, &["COMMAND"])).await {
                Ok(reply) => {
                    if let Some(table) = CommandTable::from_command_reply(&reply) {
                        *self.commands.write().unwrap_or_else(|e| e.into_inner()) =
                            Some(Arc::new(table));
                    }
                }
                Err(_) => self.commands_asked.store(false, Ordering::Release),
            }
        }
        Ok(topology)
    }

    /// Makes sure a slot map is known, and starts a periodic refresh when it is old.
    async fn ensure_topology(&self) -> Result<Arc<Topology>, Error> {
        let t = self.snapshot();
        if t.is_empty() {
            self.refresh(None).await?;
            return Ok(self.snapshot());
        }
        let stale = lock(&self.last_refresh).is_none_or(|at| at.elapsed() >= REFRESH_EVERY);
        if stale {
            self.refresh_in_background(None);
        }
        Ok(t)
    }

    /// Starts one background refresh, unless one is running.
    fn refresh_in_background(&self, prefer: Option<ServerAddr>) {
        if self.background_refresh.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            self.background_refresh.store(false, Ordering::Release);
            return;
        };
        // Made before the task, so that it is dropped with the task even if never polled.
        let running = RefreshRunning(me);
        tokio::spawn(async move {
            let _ = running.0.refresh(prefer.as_ref()).await;
        });
    }

    /// The client's counters and span settings.
    pub(crate) fn telemetry(&self) -> &std::sync::Arc<crate::observe::Telemetry> {
        &self.popts.telemetry
    }

    /// Corrects the slot map from `MOVED` replies that came back on an exclusive connection
    /// to `origin`. Such a connection does not follow them (its state, a `WATCH` or an open
    /// `MULTI`, belongs to that node), but the next one should bind to the slot's new owner
    /// rather than wait for the periodic refresh.
    pub(crate) fn learn_moved(&self, origin: &ServerAddr, frames: &[Frame]) {
        for frame in frames.iter().filter(|f| f.is_error()) {
            if let Some(Redirect::Moved { slot, to }) = Redirect::of(frame, origin) {
                self.apply_moved(slot, &to);
            }
        }
    }

    fn apply_moved(&self, slot: u16, to: &ServerAddr) {
        let changed = {
            let mut t = self.topology.write().unwrap_or_else(|e| e.into_inner());
            let changed = t.master_for(slot) != Some(to);
            if changed {
                *t = Arc::new(t.with_moved(slot, to));
            }
            changed
        };
        if changed {
            self.owner_changed();
        }
        self.refresh_in_background(Some(to.clone()));
    }

    fn owner_changed(&self) {
        if let Some(hook) = self.on_owner_change.get() {
            hook();
        }
    }

    // ----- routing -----

    fn command_info(&self, cmd: &Cmd) -> Option<CommandInfo> {
        let head: SmallVec<[&[u8]; 2]> = cmd.arg_list().take(2).collect();
        let server = self.commands.read().unwrap_or_else(|e| e.into_inner());
        server
            .as_deref()
            .and_then(|t| t.lookup(&head))
            .or_else(|| self.builtin.lookup(&head))
            .cloned()
    }

    /// The table's entry for `cmd` when routing needs it: for its keys when its builder
    /// did not mark them, or for its `readonly` flag when replicas may serve reads. (A typed
    /// command on a cluster without replica reads is routed without a lookup.)
    fn info_for_routing(&self, cmd: &Cmd) -> Option<CommandInfo> {
        if cmd.marked_keys().is_some() && !self.read_from_replicas {
            return None;
        }
        self.command_info(cmd)
    }

    /// The indices of `cmd`'s keys: the ones its builder marked, else the server's key
    /// specifications (`info`) applied to its recorded arguments.
    fn key_indices(cmd: &Cmd, info: Option<&CommandInfo>) -> SmallVec<[usize; 4]> {
        if let Some(marked) = cmd.marked_keys() {
            return marked.collect();
        }
        let Some(info) = info else {
            return SmallVec::new();
        };
        let args: SmallVec<[&[u8]; 8]> = cmd.arg_list().collect();
        info.key_indices(&args)
    }

    /// The slot of the argument of `cmd` at `index`.
    fn slot_at(cmd: &Cmd, index: usize) -> u16 {
        slot::key_slot(cmd.arg_bytes(index).unwrap_or_default())
    }

    /// The slot of `cmd`'s first key, if it has a key.
    pub(crate) fn slot_of(&self, cmd: &Cmd) -> Option<u16> {
        let info = self.info_for_routing(cmd);
        Self::key_indices(cmd, info.as_ref())
            .first()
            .map(|&k| Self::slot_at(cmd, k))
    }

    fn route(&self, cmd: &Cmd) -> Result<Route, Error> {
        let (mut name_buf, mut sub_buf) = ([0; 16], [0; 16]);
        let name = upper(cmd.name_bytes(), &mut name_buf);
        let sub = cmd.arg_bytes(1).map(|s| upper(s, &mut sub_buf));
        let everywhere = match (name, sub) {
            (b"FLUSHALL" | b"FLUSHDB", _)
            | (b"SCRIPT", Some(b"LOAD" | b"FLUSH"))
            | (b"FUNCTION", Some(b"LOAD" | b"DELETE" | b"FLUSH" | b"RESTORE")) => {
                Some(Combine::First)
            }
            (b"DBSIZE", _) => Some(Combine::Sum),
            (b"KEYS", _) => Some(Combine::Concat),
            _ => None,
        };
        if let Some(combine) = everywhere {
            return Ok(Route::AllMasters(combine));
        }
        let info = self.info_for_routing(cmd);
        let keys = Self::key_indices(cmd, info.as_ref());
        let Some(&first) = keys.first() else {
            return Ok(Route::Any);
        };
        let slot = Self::slot_at(cmd, first);
        if keys[1..].iter().all(|&k| Self::slot_at(cmd, k) == slot) {
            return Ok(Route::Slot {
                slot,
                readonly: info.is_some_and(|i| i.readonly),
            });
        }
        match name {
            b"MGET" => Ok(Route::Split(Combine::Positions)),
            b"DEL" | b"EXISTS" | b"UNLINK" | b"TOUCH" => Ok(Route::Split(Combine::Sum)),
            _ => Err(Error::CrossSlot {
                command: cmd.name().to_ascii_uppercase(),
            }),
        }
    }

    /// The slot of a batch's keyed commands when they all share one, `Ok(None)` when none
    /// has a key.
    fn single_slot(&self, cmds: &[&Cmd]) -> Result<Option<u16>, Error> {
        let mut found: Option<u16> = None;
        for c in cmds {
            let info = self.info_for_routing(c);
            for k in Self::key_indices(c, info.as_ref()) {
                let s = Self::slot_at(c, k);
                match found {
                    None => found = Some(s),
                    Some(f) if f != s => {
                        return Err(Error::CrossSlot {
                            command: c.name().to_ascii_uppercase(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(found)
    }

    /// The master serving `slot`, refreshing the map if no node serves it.
    pub(crate) async fn master_for(&self, slot: u16) -> Result<ServerAddr, Error> {
        if let Some(a) = self.snapshot().master_for(slot) {
            return Ok(a.clone());
        }
        self.refresh(None).await?;
        self.snapshot().master_for(slot).cloned().ok_or_else(|| {
            Error::Server(crate::error::ServerError::new(Bytes::from(format!(
                "CLUSTERDOWN Hash slot {slot} not served"
            ))))
        })
    }

    /// The pool of the master serving `slot`, refreshing the map (by `d`) if no node serves
    /// it. The address is looked up in place, not copied.
    async fn master_pool(&self, slot: u16, d: &Deadline) -> Result<Arc<NodePool>, Error> {
        if let Some(a) = self.snapshot().master_for(slot) {
            return Ok(self.node(a));
        }
        let a = d.bound(self.master_for(slot)).await?;
        Ok(self.node(&a))
    }

    /// Some master, in turn.
    fn any_master(&self) -> Option<ServerAddr> {
        let t = self.snapshot();
        let shards = t.serving_shards();
        if shards.is_empty() {
            return self.seeds.first().cloned();
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % shards.len();
        Some(shards[i].master.clone())
    }

    /// The node an exclusive connection binds to: the master of `slot`, or any master.
    pub(crate) async fn node_for_exclusive(
        &self,
        slot: Option<u16>,
    ) -> Result<Arc<NodePool>, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        self.ensure_topology().await?;
        let addr = match slot {
            Some(s) => self.master_for(s).await?,
            None => self.any_master().ok_or(Error::Closed)?,
        };
        Ok(self.node(&addr))
    }

    /// Opens a new connection to some master (subscribers).
    pub(crate) async fn open_any(&self, push: Option<PushSink>) -> Result<Connection, Error> {
        let node = self.node_for_exclusive(None).await?;
        node.open(push, &Deadline::unbounded()).await
    }

    /// Opens a new connection to the master serving `slot` (shard-channel subscribers);
    /// returns its address too.
    pub(crate) async fn open_for_slot(
        &self,
        slot: u16,
        push: Option<PushSink>,
    ) -> Result<(ServerAddr, Connection), Error> {
        self.ensure_topology().await?;
        let addr = self.master_for(slot).await?;
        let conn = self.node(&addr).open(push, &Deadline::unbounded()).await?;
        Ok((addr, conn))
    }

    /// The master serving each slot's shard, one per shard, in a stable order (whole-cluster
    /// iteration such as `SCAN`).
    pub(crate) async fn masters(&self) -> Result<Vec<ServerAddr>, Error> {
        let t = self.ensure_topology().await?;
        Ok(t.serving_shards()
            .iter()
            .map(|s| s.master.clone())
            .collect())
    }

    /// The masters serving slots after a fresh read of the slot map (not the cached one):
    /// a whole-cluster `SCAN` checks at its end whether slots moved while it ran.
    pub(crate) async fn refreshed_masters(&self) -> Result<Vec<ServerAddr>, Error> {
        self.refresh(None).await?;
        self.masters().await
    }

    /// The slots the master at `addr` holds by its own account (served or being imported),
    /// from its `CLUSTER NODES`.
    pub(crate) async fn held_slots(&self, addr: &ServerAddr) -> Result<slot::SlotSet, Error> {
        let reply = self
            .request_on(addr, &Cmd::new("CLUSTER").arg("NODES"))
            .await?;
        let text = <String as crate::reply::FromReply>::from_reply(reply)?;
        slot::SlotSet::held_by_myself(&text).ok_or(Error::UnexpectedReply)
    }

    /// Sends one command to the master at `addr` (no redirection: for node-wide commands).
    pub(crate) async fn request_on(&self, addr: &ServerAddr, cmd: &Cmd) -> Result<Frame, Error> {
        let pool = self.node(addr);
        let deadline = pool.deadline(Wait::Default);
        pool.request(cmd, &deadline).await
    }

    // ----- sending -----

    /// One command: routed, redirected, and for split commands merged, all by `d`.
    pub(crate) async fn request(&self, cmd: &Cmd, d: &Deadline) -> Result<Frame, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        d.bound(self.ensure_topology()).await?;
        match self.route(cmd)? {
            Route::Slot { slot, readonly } => {
                self.run_in_slot(slot, readonly && self.read_from_replicas, cmd, d)
                    .await
            }
            Route::Any => self.run_anywhere(cmd, d).await,
            Route::AllMasters(combine) => self.run_on_all_masters(cmd, combine, d).await,
            Route::Split(combine) => self.run_split(cmd, combine, d).await,
        }
    }

    /// Until when redirections and retries may go on: the call's deadline, or
    /// [`DEFAULT_RETRY_WINDOW`] from now when the call has none.
    fn retry_deadline(d: &Deadline) -> Instant {
        d.at()
            .unwrap_or_else(|| Instant::now() + DEFAULT_RETRY_WINDOW)
    }

    /// Sends `cmd` to the node serving `slot`, following redirections.
    async fn run_in_slot(
        &self,
        slot: u16,
        replica_ok: bool,
        cmd: &Cmd,
        d: &Deadline,
    ) -> Result<Frame, Error> {
        let deadline = Self::retry_deadline(d);
        let mut redirects = 0;
        let mut waits = 0;
        let mut ask: Option<ServerAddr> = None;
        let mut use_replica = replica_ok;
        loop {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            let (pool, attempt) = match ask.take() {
                Some(to) => (self.node(&to), Attempt::Asking),
                None => {
                    let replica = if use_replica {
                        self.pick_replica(slot)
                    } else {
                        None
                    };
                    match replica {
                        Some(r) => (self.replica(&r), Attempt::Plain),
                        None => (self.master_pool(slot, d).await?, Attempt::Plain),
                    }
                }
            };
            let addr = pool.endpoint();
            crate::observe::record_node(addr);
            let result = send(&pool, cmd, attempt, d).await;
            match result {
                Ok(frame) => match Redirect::of(&frame, addr) {
                    None => return Ok(frame),
                    Some(_) if redirects >= MAX_REDIRECTS => return Ok(frame),
                    Some(Redirect::Moved { slot: s, to }) => {
                        tracing::debug!(slot = s, from = %addr, to = %to, "MOVED: following");
                        self.popts.telemetry.stats.redirected(false);
                        redirects += 1;
                        self.apply_moved(s, &to);
                        if !self
                            .settle_after_moved(redirects, &mut waits, deadline)
                            .await
                        {
                            return Ok(frame);
                        }
                    }
                    Some(Redirect::Ask { to }) => {
                        tracing::debug!(from = %addr, to = %to, "ASK: following once");
                        self.popts.telemetry.stats.redirected(true);
                        redirects += 1;
                        ask = Some(to);
                    }
                    Some(Redirect::Wait) if use_replica => {
                        // A replica still loading its data: read from the master.
                        use_replica = false;
                    }
                    Some(Redirect::Wait) => {
                        if !self.wait(&mut waits, deadline).await {
                            return Ok(frame);
                        }
                        self.refresh_in_background(None);
                    }
                },
                Err(e) if use_replica && e.is_connection_error() && !e.is_outcome_unknown() => {
                    // A replica that cannot be reached: read from the master instead.
                    use_replica = false;
                }
                Err(e) if is_retryable(&e) => {
                    if !self.wait(&mut waits, deadline).await {
                        return Err(e);
                    }
                    // The node may be gone (a failover): learn the new map, off the path.
                    self.refresh_in_background(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// After the second MOVED for one command, waits before following it: the nodes disagree
    /// about the slot's owner (a hand-over in progress, gossip not yet settled) and would
    /// otherwise bounce the command between them until the redirect limit, within a
    /// millisecond. False when waiting would pass `deadline`.
    async fn settle_after_moved(&self, redirects: u32, waits: &mut u32, deadline: Instant) -> bool {
        redirects < 2 || self.wait(waits, deadline).await
    }

    /// Sleeps before the next attempt, backing off; false when that would pass `deadline`.
    async fn wait(&self, waits: &mut u32, deadline: Instant) -> bool {
        let delay = RETRY_MIN
            .saturating_mul(1 << (*waits).min(8))
            .min(RETRY_MAX);
        *waits += 1;
        if Instant::now() + delay > deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }

    fn pick_replica(&self, slot: u16) -> Option<ServerAddr> {
        let t = self.snapshot();
        let replicas = &t.shard_for(slot)?.replicas;
        if replicas.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % replicas.len();
        Some(replicas[i].clone())
    }

    /// Sends a keyless command to some master, trying others when one cannot be reached.
    async fn run_anywhere(&self, cmd: &Cmd, d: &Deadline) -> Result<Frame, Error> {
        let deadline = Self::retry_deadline(d);
        let mut waits = 0;
        loop {
            let addr = self.any_master().ok_or(Error::Closed)?;
            match send(&self.node(&addr), cmd, Attempt::Plain, d).await {
                Err(e) if is_retryable(&e) => {
                    if !self.wait(&mut waits, deadline).await {
                        return Err(e);
                    }
                    self.refresh_in_background(None);
                }
                r => return r,
            }
        }
    }

    async fn run_on_all_masters(
        &self,
        cmd: &Cmd,
        combine: Combine,
        d: &Deadline,
    ) -> Result<Frame, Error> {
        let masters = d.bound(self.masters()).await?;
        let futures: Vec<_> = masters
            .iter()
            .map(|a| {
                let pool = self.node(a);
                async move { send(&pool, cmd, Attempt::Plain, d).await }
            })
            .collect();
        let replies = join_all(futures)
            .await
            .into_iter()
            .collect::<Result<Vec<Frame>, Error>>()?;
        Ok(combine_replies(replies, combine, &[]))
    }

    /// A multi-key command (`MGET`, `DEL`, ...) as one command per slot of its keys, each with
    /// its slot, and the positions (in key order) of each part's keys.
    fn split_parts(&self, cmd: &Cmd) -> (Vec<(u16, Cmd)>, Vec<Vec<usize>>) {
        let info = self.command_info(cmd);
        let keys = Self::key_indices(cmd, info.as_ref());
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            let s = Self::slot_at(cmd, k);
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, v)) => v.push(i),
                None => groups.push((s, vec![i])),
            }
        }
        let parts = groups
            .iter()
            .map(|(s, positions)| {
                let part = Cmd::from_args(&[&cmd.name_bytes()]).keys(
                    positions
                        .iter()
                        .map(|&p| cmd.arg_bytes(keys[p]).unwrap_or_default()),
                );
                (*s, part)
            })
            .collect();
        (parts, groups.into_iter().map(|(_, p)| p).collect())
    }

    /// A pipeline's commands as they are sent, each with the slot it goes to: a command whose
    /// keys span slots and that can be split (`MGET`, `DEL`, ...) becomes one part per slot,
    /// and a command for every master (`FLUSHDB`, `DBSIZE`, ...) one part per master (sent to
    /// a slot that master serves), exactly as when the command is sent alone. Each part keeps
    /// its place in the pipeline, so commands on one node still run in order.
    fn expand_pipeline<'a>(&self, cmds: &[&'a Cmd]) -> Expanded<'a> {
        let topology = self.snapshot();
        let mut out = Expanded {
            cmds: Vec::with_capacity(cmds.len()),
            slots: Vec::with_capacity(cmds.len()),
            plan: Vec::with_capacity(cmds.len()),
        };
        for &cmd in cmds {
            // Where a command sent whole goes: its route's slot, already computed.
            let mut whole_slot = None;
            let parts = match self.route(cmd) {
                Ok(Route::Split(combine)) => {
                    let (parts, positions) = self.split_parts(cmd);
                    let parts: Vec<(u16, Cow<'a, Cmd>)> =
                        parts.into_iter().map(|(s, c)| (s, Cow::Owned(c))).collect();
                    Some((parts, combine, positions))
                }
                Ok(Route::AllMasters(combine)) => {
                    let parts: Vec<(u16, Cow<'a, Cmd>)> = topology
                        .serving_shards()
                        .iter()
                        .filter_map(|s| topology.first_slot_of(&s.master))
                        .map(|slot| (slot, Cow::Borrowed(cmd)))
                        .collect();
                    (!parts.is_empty()).then_some((parts, combine, Vec::new()))
                }
                Ok(Route::Slot { slot, .. }) => {
                    whole_slot = Some(slot);
                    None
                }
                Ok(Route::Any) => None,
                Err(_) => {
                    // A cross-slot command that cannot be split goes to its first key's slot
                    // and gets the server's CROSSSLOT error as its own reply.
                    whole_slot = self.slot_of(cmd);
                    None
                }
            };
            match parts {
                Some((parts, combine, positions)) => {
                    let start = out.cmds.len();
                    for (slot, part) in parts {
                        out.cmds.push(part);
                        out.slots.push(Some(slot));
                    }
                    out.plan.push(Sent::Parts {
                        range: start..out.cmds.len(),
                        combine,
                        positions,
                    });
                }
                None => {
                    out.plan.push(Sent::Whole(out.cmds.len()));
                    out.cmds.push(Cow::Borrowed(cmd));
                    out.slots.push(whole_slot);
                }
            }
        }
        out
    }

    /// A multi-key command split into one command per slot; the replies combined.
    async fn run_split(&self, cmd: &Cmd, combine: Combine, d: &Deadline) -> Result<Frame, Error> {
        let readonly =
            self.read_from_replicas && self.command_info(cmd).is_some_and(|i| i.readonly);
        let (parts, positions) = self.split_parts(cmd);
        let futures: Vec<_> = parts
            .iter()
            .map(|(slot, part)| {
                let readonly = readonly && self.read_from_replicas;
                async move { self.run_in_slot(*slot, readonly, part, d).await }
            })
            .collect();
        let replies = join_all(futures)
            .await
            .into_iter()
            .collect::<Result<Vec<Frame>, Error>>()?;
        Ok(combine_replies(replies, combine, &positions))
    }

    /// A batch: a `MULTI` ... `EXEC` block goes whole to one slot's node; anything else is
    /// split by node and put back in order.
    pub(crate) async fn request_many(
        &self,
        cmds: &[&Cmd],
        d: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        d.bound(self.ensure_topology()).await?;
        let is_transaction = cmds.len() >= 2
            && cmds.first().is_some_and(|c| c.is("MULTI"))
            && cmds.last().is_some_and(|c| c.is("EXEC"));
        if is_transaction {
            // A transaction must go whole to one node.
            let slot = self.single_slot(cmds)?;
            return self.run_batch_whole(slot, cmds, is_transaction, d).await;
        }
        let expanded = self.expand_pipeline(cmds);
        let frames = self
            .run_pipeline(&expanded.cmds, &expanded.slots, d)
            .await?;
        let mut frames: Vec<Option<Frame>> = frames.into_iter().map(Some).collect();
        let mut take = |i: usize| frames[i].take().unwrap_or(Frame::Null);
        Ok(expanded
            .plan
            .into_iter()
            .map(|sent| match sent {
                Sent::Whole(i) => take(i),
                Sent::Parts {
                    range,
                    combine,
                    positions,
                } => combine_replies(range.map(&mut take).collect(), combine, &positions),
            })
            .collect())
    }

    /// See [`Pool::request_tracked`](crate::pool::Pool::request_tracked): `optin` and `cmd`
    /// to the master of `cmd`'s slot as one batch. A redirection of the read is applied by
    /// the batch's own loop; a read answered with any error (a redirection above all) then
    /// goes again alone, by the usual routing, and is not tracked (`ASKING` and `CLIENT
    /// CACHING` each last for one command only, so the two cannot both precede it; an error
    /// reply is never stored, and a cached command only reads, so asking again is safe).
    pub(crate) async fn request_tracked(
        &self,
        optin: &Cmd,
        cmd: &Cmd,
        d: &Deadline,
    ) -> Result<(Frame, bool), Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        d.bound(self.ensure_topology()).await?;
        if let Ok(Some(slot)) = self.single_slot(&[cmd]) {
            let frames = self
                .run_batch_whole(Some(slot), &[optin, cmd], false, d)
                .await?;
            if let Ok([caching, reply]) = <[Frame; 2]>::try_from(frames)
                && !caching.is_error()
                && !reply.is_error()
            {
                return Ok((reply, true));
            }
        }
        Ok((self.request(cmd, d).await?, false))
    }

    /// Sends a whole batch to the node of `slot` (any node without one). A transaction is
    /// sent again after redirections only when `EXEC` was refused, so nothing ran.
    async fn run_batch_whole(
        &self,
        slot: Option<u16>,
        cmds: &[&Cmd],
        transaction: bool,
        d: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        let deadline = Self::retry_deadline(d);
        let mut waits = 0;
        let mut redirects = 0;
        loop {
            let addr = match slot {
                Some(s) => d.bound(self.master_for(s)).await?,
                None => self.any_master().ok_or(Error::Closed)?,
            };
            let pool = self.node(&addr);
            let frames = match send_many(&pool, cmds.iter().copied(), d).await {
                Ok(f) => f,
                Err(e) if is_retryable(&e) => {
                    if !self.wait(&mut waits, deadline).await {
                        return Err(e);
                    }
                    self.refresh_in_background(None);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let refused = !transaction || frames.last().is_some_and(Frame::is_error);
            let redirect = frames.iter().find_map(|f| Redirect::of(f, &addr));
            match redirect {
                Some(r) if refused && redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    match r {
                        Redirect::Moved { slot, to } => {
                            self.apply_moved(slot, &to);
                            if !self
                                .settle_after_moved(redirects, &mut waits, deadline)
                                .await
                            {
                                return Ok(frames);
                            }
                        }
                        // An ASK inside a transaction: the slot is migrating; wait until the
                        // keys have moved and the slot map says where.
                        Redirect::Ask { .. } | Redirect::Wait => {
                            if !self.wait(&mut waits, deadline).await {
                                return Ok(frames);
                            }
                        }
                    }
                    if !transaction {
                        // A non-transaction batch that cannot be split: sent again whole
                        // only if every reply was a redirection (nothing ran).
                        if !frames.iter().all(|f| Redirect::of(f, &addr).is_some()) {
                            return Ok(frames);
                        }
                    }
                }
                _ => return Ok(frames),
            }
        }
    }

    /// A pipeline split by node; each command's reply put back at its position.
    async fn run_pipeline(
        &self,
        cmds: &[Cow<'_, Cmd>],
        slots: &[Option<u16>],
        d: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        let n = cmds.len();
        let default_slot = slots.iter().flatten().next().copied();
        let mut out: Vec<Option<Frame>> = vec![None; n];
        let mut pending: Vec<usize> = (0..n).collect();
        let mut one_by_one: Vec<usize> = Vec::new();
        let deadline = Self::retry_deadline(d);
        let mut waits = 0;
        let mut round = 0;
        while !pending.is_empty() {
            round += 1;
            // Group by node, keeping each node's commands in pipeline order.
            let mut groups: Vec<(ServerAddr, Vec<usize>)> = Vec::new();
            // Consecutive commands of one slot (a pipeline of one hash tag, most often) find
            // their master and its group once.
            let mut last: Option<(Option<u16>, usize)> = None;
            for &i in &pending {
                let slot = slots[i].or(default_slot);
                let group = match last {
                    Some((at, group)) if at == slot => group,
                    _ => {
                        let addr = match slot {
                            Some(s) => d.bound(self.master_for(s)).await?,
                            None => self.any_master().ok_or(Error::Closed)?,
                        };
                        let group = match groups.iter().position(|(a, _)| *a == addr) {
                            Some(g) => g,
                            None => {
                                groups.push((addr, Vec::new()));
                                groups.len() - 1
                            }
                        };
                        last = Some((slot, group));
                        group
                    }
                };
                groups[group].1.push(i);
            }
            let futures: Vec<_> = groups
                .iter()
                .map(|(addr, idx)| {
                    let pool = self.node(addr);
                    async move { send_many(&pool, idx.iter().map(|&i| &*cmds[i]), d).await }
                })
                .collect();
            let results = join_all(futures).await;
            let mut next = Vec::new();
            let mut failed = None;
            for ((addr, idx), result) in groups.into_iter().zip(results) {
                match result {
                    Ok(frames) => {
                        for (i, frame) in idx.into_iter().zip(frames) {
                            match Redirect::of(&frame, &addr) {
                                None => out[i] = Some(frame),
                                Some(Redirect::Moved { slot, to }) if round < 3 => {
                                    self.apply_moved(slot, &to);
                                    next.push(i);
                                }
                                Some(_) => {
                                    out[i] = Some(frame);
                                    one_by_one.push(i);
                                }
                            }
                        }
                    }
                    Err(e) if is_retryable(&e) => {
                        next.extend(idx);
                        failed = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = failed {
                if !self.wait(&mut waits, deadline).await {
                    return Err(e);
                }
                self.refresh_in_background(None);
            }
            next.sort_unstable();
            pending = next;
        }
        // ASK, TRYAGAIN and repeated MOVED: each command on its own, with the full
        // redirection handling.
        if !one_by_one.is_empty() {
            one_by_one.sort_unstable();
            let futures: Vec<_> = one_by_one
                .iter()
                .map(|&i| {
                    let (cmd, slot) = (&*cmds[i], slots[i]);
                    async move {
                        match slot {
                            Some(s) => self.run_in_slot(s, false, cmd, d).await,
                            None => self.run_anywhere(cmd, d).await,
                        }
                    }
                })
                .collect();
            for (i, r) in one_by_one.iter().zip(join_all(futures).await) {
                out[*i] = Some(r?);
            }
        }
        Ok(out
            .into_iter()
            .map(|f| f.expect("every command has a reply"))
            .collect())
    }
}

/// True for failures after which sending again cannot run the command twice: the connection
/// could not be made, or failed before the command was written.
fn is_retryable(e: &Error) -> bool {
    match e {
        Error::Io(_) | Error::PoolTimeout { .. } | Error::Backoff { .. } => true,
        Error::Timeout { sent, .. } | Error::ConnectionClosed { sent, .. } => !sent,
        _ => false,
    }
}

/// Sends `cmd` (after `ASKING` for an ASK redirection) on `pool`'s shared connection.
///
/// Connect errors come back as they are: `Io` and unsent errors mean nothing was written.
/// An `Io` error from the request itself cannot happen: the connection reports failures of
/// written requests as `ConnectionClosed { sent: true }`.
async fn send(pool: &NodePool, cmd: &Cmd, attempt: Attempt, d: &Deadline) -> Result<Frame, Error> {
    let conn = pool.shared(d).await?;
    match attempt {
        Attempt::Plain => conn.request_by(|out| put_cmd(out, cmd), d).await,
        Attempt::Asking => {
            let mut frames = conn
                .request_many_by(
                    |out| {
                        encode_command(out, &["ASKING"]);
                        put_cmd(out, cmd);
                    },
                    2,
                    d,
                )
                .await?;
            Ok(frames.pop().unwrap_or(Frame::Null))
        }
    }
}

async fn send_many<'c>(
    pool: &NodePool,
    cmds: impl Iterator<Item = &'c Cmd> + Clone,
    d: &Deadline,
) -> Result<Vec<Frame>, Error> {
    let conn = pool.shared(d).await?;
    let replies = cmds.clone().count();
    conn.request_many_by(|out| cmds.clone().for_each(|c| put_cmd(out, c)), replies, d)
        .await
}

/// Combines the replies of a command sent to several nodes or slots. The first error reply
/// wins.
fn combine_replies(replies: Vec<Frame>, combine: Combine, positions: &[Vec<usize>]) -> Frame {
    if let Some(e) = replies.iter().find(|f| f.is_error()) {
        return e.clone();
    }
    match combine {
        Combine::First => replies.into_iter().next().unwrap_or(Frame::Null),
        Combine::Sum => Frame::Integer(replies.iter().filter_map(Frame::as_integer).sum()),
        Combine::Concat => Frame::Array(
            replies
                .into_iter()
                .flat_map(|f| match f.into_without_attributes() {
                    Frame::Array(v) | Frame::Set(v) => v,
                    _ => Vec::new(),
                })
                .collect(),
        ),
        Combine::Positions => {
            let total = positions.iter().map(Vec::len).sum();
            let mut out = vec![Frame::Null; total];
            for (reply, pos) in replies.into_iter().zip(positions) {
                if let Frame::Array(values) = reply.into_without_attributes() {
                    for (v, &p) in values.into_iter().zip(pos) {
                        out[p] = v;
                    }
                }
            }
            Frame::Array(out)
        }
    }
}

/// Polls every future until all are done, on the caller's task: no spawning, so dropping the
/// caller drops them all (nothing is sent for a caller that has gone).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// A background refresh whose task is dropped with its runtime (a client kept in a
    /// `static`) must not leave the flag that stops every later one set.
    #[test]
    fn a_refresh_dropped_with_its_runtime_does_not_block_the_next() {
        let config = crate::Config::from_url("redis://127.0.0.1:1").unwrap();
        let cluster = Cluster::new(
            ConnectOptions::from_config(&config),
            PoolOptions::from_config(&config),
            vec![tcp(1)],
            false,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Spawned, never polled: `block_on` returns first.
        runtime.block_on(async { cluster.refresh_in_background(None) });
        assert!(cluster.background_refresh.load(Ordering::Acquire));
        drop(runtime);
        assert!(
            !cluster.background_refresh.load(Ordering::Acquire),
            "the dropped refresh left its flag set"
        );
    }

    #[test]
    fn redirections_are_recognised() {
        let err =
            |s: &'static str| Frame::SimpleError(resp_codec::Payload::from_static(s.as_bytes()));
        assert_eq!(
            Redirect::of(&err("MOVED 3999 127.0.0.1:6381"), &tcp(1)),
            Some(Redirect::Moved {
                slot: 3999,
                to: tcp(6381)
            })
        );
        assert_eq!(
            Redirect::of(&err("ASK 3999 :6381"), &tcp(1)),
            Some(Redirect::Ask { to: tcp(6381) })
        );
        for wait in [
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "LOADING Redis is loading the dataset in memory",
        ] {
            assert_eq!(Redirect::of(&err(wait), &tcp(1)), Some(Redirect::Wait));
        }
        assert_eq!(Redirect::of(&err("ERR nope"), &tcp(1)), None);
        assert_eq!(Redirect::of(&Frame::Integer(1), &tcp(1)), None);
    }

    #[test]
    fn split_replies_are_merged() {
        let b = |s: &'static str| Frame::BulkString(resp_codec::Payload::from_static(s.as_bytes()));
        let merged = combine_replies(
            vec![
                Frame::Array(vec![b("a"), b("c")]),
                Frame::Array(vec![b("b")]),
            ],
            Combine::Positions,
            &[vec![0, 2], vec![1]],
        );
        assert_eq!(merged, Frame::Array(vec![b("a"), b("b"), b("c")]));
        let sum = combine_replies(
            vec![Frame::Integer(2), Frame::Integer(3)],
            Combine::Sum,
            &[],
        );
        assert_eq!(sum, Frame::Integer(5));
        let err = Frame::SimpleError(resp_codec::Payload::from_static(b"ERR x"));
        assert_eq!(
            combine_replies(vec![Frame::Integer(1), err.clone()], Combine::Sum, &[]),
            err
        );
    }

    #[tokio::test]
    async fn join_all_keeps_order() {
        let futures: Vec<_> = (0..5u64)
            .map(|i| async move {
                tokio::time::sleep(Duration::from_millis(10 * (5 - i))).await;
                i
            })
            .collect();
        assert_eq!(join_all(futures).await, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn routes_follow_keys() {
        let c = Cluster::new(
            ConnectOptions::from_config(&crate::Config::default()),
            PoolOptions {
                max_connections: 2,
                acquire_timeout: Duration::from_secs(1),
                reconnect_min: Duration::from_millis(10),
                reconnect_max: Duration::from_millis(100),
                idle_check_after: crate::config::DEFAULT_IDLE_CHECK_AFTER,
                telemetry: Default::default(),
            },
            vec![tcp(7000)],
            false,
        );
        let parse = |words: &[&str]| crate::command::cmd(words[0]).args(&words[1..]);
        assert_eq!(
            c.route(&parse(&["GET", "foo"])).unwrap(),
            Route::Slot {
                slot: 12182,
                readonly: true
            }
        );
        assert_eq!(
            c.route(&parse(&["MSET", "{u}a", "1", "{u}b", "2"]))
                .unwrap(),
            Route::Slot {
                slot: slot::key_slot(b"u"),
                readonly: false
            }
        );
        assert_eq!(c.route(&parse(&["PING"])).unwrap(), Route::Any);
        assert_eq!(
            c.route(&parse(&["MGET", "a", "b"])).unwrap(),
            Route::Split(Combine::Positions)
        );
        assert_eq!(
            c.route(&parse(&["DEL", "a", "b"])).unwrap(),
            Route::Split(Combine::Sum)
        );
        assert!(matches!(
            c.route(&parse(&["MSET", "a", "1", "b", "2"])),
            Err(Error::CrossSlot { .. })
        ));
        assert_eq!(
            c.route(&parse(&["SCRIPT", "LOAD", "return 1"])).unwrap(),
            Route::AllMasters(Combine::First)
        );
        assert_eq!(
            c.route(&parse(&["DBSIZE"])).unwrap(),
            Route::AllMasters(Combine::Sum)
        );
        assert!(matches!(
            c.single_slot(&[
                &parse(&["MULTI"]),
                &parse(&["SET", "a", "1"]),
                &parse(&["SET", "b", "1"])
            ]),
            Err(Error::CrossSlot { .. })
        ));
    }
}
