//! The clients under comparison, each driven through its own idiomatic API with exactly the
//! same work: the same keys, values, command order, and the same check of each reply (the
//! GET reply is present and has the value's length; nothing else is compared).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use redis_manager::prelude::*;

/// `--peer-nodelay`: the peers' connections get `TCP_NODELAY`, as ours have by default.
/// Without it each client runs with its own default: redis-rs and fred leave Nagle's
/// algorithm on, which at a few concurrent small requests moves part of its sending into
/// the server's receive path and cuts its kernel time per operation (see the README).
pub static PEER_NODELAY: AtomicBool = AtomicBool::new(false);

/// How long any client waits for a reply before failing the run: long enough for the
/// largest point (hundreds of MiB in flight), the same for every client.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A client under test.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `redis_manager::Client` on one server.
    Ours,
    /// `redis_manager::Client` on one server with its client-side cache on (default
    /// `CacheConfig`).
    OursCached,
    /// `redis_manager::Client` on one server with its client-side cache on in broadcast
    /// mode for every key (`BCAST`, no prefix): the server remembers nothing per read.
    OursCachedBcast,
    /// `redis_manager::Client` on one server with a client-side cache of 1 KiB (default
    /// tracking): it keeps a few 100-byte values at most, so nearly every read misses and
    /// every store evicts.
    OursCachedSmall,
    /// `redis_manager::Client` on one server with its client-side cache on, opt-in tracking
    /// and `Admission::Frequent`: a key's reply is stored (and the server tracks the key)
    /// only from its second read.
    OursCachedFrequent,
    /// As `OursCachedFrequent`, in a cache of 1 KiB (see `OursCachedSmall`).
    OursCachedSmallFrequent,
    /// `redis_manager::Client` on one server without a cache, its connection tracked by the
    /// server (`CLIENT TRACKING on`): the server's share of the cache's miss path.
    OursTracked,
    /// redis-rs `MultiplexedConnection`, cloned into every task.
    RedisRs,
    /// fred `Client` (one auto-pipelined connection).
    #[cfg(feature = "fred")]
    Fred,
    /// `redis_manager::Client` on a Redis Cluster.
    OursCluster,
    /// redis-rs `cluster_async::ClusterConnection`.
    RedisRsCluster,
    /// redis-rs `MultiplexedConnection` over RESP3 with its client-side cache (`cache-aio`).
    RedisRsCached,
}

impl Kind {
    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours | Kind::OursCluster => "ours",
            Kind::OursCached => "ours cached",
            Kind::OursTracked => "ours, server tracking only",
            Kind::OursCachedBcast => "ours cached, broadcast",
            Kind::OursCachedSmall => "ours cached in 1 KiB",
            Kind::OursCachedFrequent => "ours cached, opt-in, frequent",
            Kind::OursCachedSmallFrequent => "ours cached in 1 KiB, opt-in, frequent",
            Kind::RedisRs | Kind::RedisRsCluster => "redis-rs",
            #[cfg(feature = "fred")]
            Kind::Fred => "fred",
            Kind::RedisRsCached => "redis-rs cache-aio",
        }
    }

    /// True for the clients with a client-side cache.
    pub fn caches(self) -> bool {
        self == Kind::RedisRsCached || self.our_cache().is_some()
    }

    /// The cache configuration of our cached kinds.
    fn our_cache(self) -> Option<redis_manager::CacheConfig> {
        use redis_manager::{
            CacheConfig,
            config::{Admission, TrackingMode},
        };
        let frequent = |c: CacheConfig| c.mode(TrackingMode::OptIn).admission(Admission::Frequent);
        match self {
            Kind::OursCached => Some(CacheConfig::default()),
            Kind::OursCachedBcast => {
                Some(CacheConfig::default().mode(TrackingMode::broadcast(Vec::<Vec<u8>>::new())))
            }
            Kind::OursCachedSmall => Some(CacheConfig::new(1024)),
            Kind::OursCachedFrequent => Some(frequent(CacheConfig::default())),
            Kind::OursCachedSmallFrequent => Some(frequent(CacheConfig::new(1024))),
            _ => None,
        }
    }
}

/// Where the clients connect.
#[derive(Clone, Debug)]
pub enum Target {
    /// One server on this loopback port.
    Single(u16),
    /// Cluster seeds, `host:port`.
    Cluster(Vec<String>),
}

/// What each task does per round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// `SET key value` then `GET key` (two operations), or with `pipeline > 1`, one pipeline
    /// of `pipeline / 2` such pairs.
    SetGet,
    /// `GET key` of a key written before the run (one operation): the read-mostly traffic a
    /// client-side cache is for.
    GetOnly,
}

/// The work of one measured run, identical for every client.
pub struct Work {
    /// Concurrent tasks sharing the client.
    pub tasks: usize,
    /// Commands per pipeline; 1: one command at a time.
    pub pipeline: usize,
    /// What a round is.
    pub op: Op,
    /// Rounds per task.
    pub rounds: usize,
    /// The value written.
    pub value: Bytes,
    /// Each task's own keys (16 bytes each), used in turn.
    pub keys: Arc<Vec<Arc<[String]>>>,
    /// The keys are read cold: a client with a cache is not warmed up first.
    pub cold: bool,
}

impl Work {
    /// SET+GET pairs per pipeline.
    pub fn pairs(&self) -> usize {
        (self.pipeline / 2).max(1)
    }

    /// Operations per task and round.
    pub fn ops_per_round(&self) -> usize {
        match self.op {
            Op::GetOnly => 1,
            Op::SetGet if self.pipeline > 1 => 2 * self.pairs(),
            Op::SetGet => 2,
        }
    }

    /// Operations in the whole run.
    pub fn ops(&self) -> u64 {
        (self.tasks * self.rounds * self.ops_per_round()) as u64
    }
}

/// A 16-byte key, distinct per task and index.
pub fn key(task: usize, i: usize) -> String {
    format!("t{:04}:{:010}", task % 10_000, i % 10_000_000_000)
}

/// A key distinct per task and index whose hash tag is the task's: all of a task's keys
/// are in one slot.
pub fn tagged_key(task: usize, i: usize) -> String {
    format!("{{t{:04}}}:{:010}", task % 10_000, i % 10_000_000_000)
}

/// The check both sides make on every GET reply.
fn check(got: Option<usize>, want: usize) -> Result<(), String> {
    match got {
        Some(n) if n == want => Ok(()),
        Some(n) => Err(format!("GET returned {n} bytes, expected {want}")),
        None => Err("GET returned no value".into()),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A connected client.
pub enum Conn {
    /// Ours, standalone or cluster.
    Ours(redis_manager::Client),
    /// redis-rs multiplexed (cached or not).
    RedisMux(redis::aio::MultiplexedConnection),
    /// redis-rs cluster.
    RedisCluster(redis::cluster_async::ClusterConnection),
    /// fred.
    #[cfg(feature = "fred")]
    Fred(fred::clients::Client),
}

impl Conn {
    /// Connects `kind` to `target`, and makes one round trip so that nothing of the
    /// connection's setup is left for the measured run.
    ///
    /// # Errors
    ///
    /// The client's error, as text.
    pub async fn open(kind: Kind, target: &Target) -> Result<Conn, String> {
        let conn = match (kind, target) {
            (
                Kind::Ours
                | Kind::OursCached
                | Kind::OursCachedBcast
                | Kind::OursCachedSmall
                | Kind::OursCachedFrequent
                | Kind::OursCachedSmallFrequent
                | Kind::OursTracked,
                Target::Single(port),
            ) => {
                let mut config = redis_manager::Config::builder()
                    .host("127.0.0.1")
                    .port(*port)
                    .response_timeout(Some(RESPONSE_TIMEOUT));
                if let Some(cache) = kind.our_cache() {
                    config = config.cache(cache);
                }
                let client = redis_manager::Client::connect(config).await.map_err(err)?;
                if kind == Kind::OursTracked {
                    // On the client's one multiplexed connection, which every command of a
                    // run uses (a reconnect would turn it off: none happens in a run).
                    client
                        .query::<String>(redis_manager::cmd("CLIENT").arg("TRACKING").arg("on"))
                        .await
                        .map_err(err)?;
                }
                Conn::Ours(client)
            }
            (Kind::OursCluster, Target::Cluster(seeds)) => {
                let url = format!("redis+cluster://{}", seeds.join(","));
                let config = redis_manager::Config::from_url(&url).map_err(err)?;
                let config = redis_manager::ConfigBuilder::from(config)
                    .response_timeout(Some(RESPONSE_TIMEOUT));
                Conn::Ours(redis_manager::Client::connect(config).await.map_err(err)?)
            }
            (Kind::RedisRs | Kind::RedisRsCached, Target::Single(port)) => {
                let mut url = format!("redis://127.0.0.1:{port}/");
                let mut config = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                if kind == Kind::RedisRsCached {
                    // Its cache needs RESP3 (invalidations arrive as pushes).
                    url.push_str("?protocol=resp3");
                    config = config.set_cache_config(redis::caching::CacheConfig::new());
                }
                let mut info =
                    redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(err)?;
                if PEER_NODELAY.load(Ordering::Relaxed) {
                    info = info
                        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
                }
                let client = redis::Client::open(info).map_err(err)?;
                Conn::RedisMux(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map_err(err)?,
                )
            }
            (Kind::RedisRsCluster, Target::Cluster(seeds)) => {
                let urls: Vec<String> = seeds.iter().map(|s| format!("redis://{s}/")).collect();
                let client = redis::cluster::ClusterClient::builder(urls)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .build()
                    .map_err(err)?;
                Conn::RedisCluster(client.get_async_connection().await.map_err(err)?)
            }
            #[cfg(feature = "fred")]
            (Kind::Fred, Target::Single(port)) => {
                use fred::prelude::*;
                let config =
                    Config::from_url(&format!("redis://127.0.0.1:{port}/")).map_err(err)?;
                let mut builder = Builder::from_config(config);
                if PEER_NODELAY.load(Ordering::Relaxed) {
                    builder.with_connection_config(|c| c.tcp.nodelay = Some(true));
                }
                let client = builder.build().map_err(err)?;
                client.init().await.map_err(err)?;
                Conn::Fred(client)
            }
            (kind, target) => return Err(format!("{kind:?} cannot connect to {target:?}")),
        };
        conn.ping().await?;
        Ok(conn)
    }

    async fn ping(&self) -> Result<(), String> {
        match self {
            Conn::Ours(c) => c
                .query::<String>(redis_manager::cmd("PING"))
                .await
                .map(drop)
                .map_err(err),
            Conn::RedisMux(c) => redis::cmd("PING")
                .query_async::<String>(&mut c.clone())
                .await
                .map(drop)
                .map_err(err),
            Conn::RedisCluster(c) => redis::cmd("PING")
                .query_async::<String>(&mut c.clone())
                .await
                .map(drop)
                .map_err(err),
            #[cfg(feature = "fred")]
            Conn::Fred(c) => {
                use fred::prelude::*;
                c.ping::<String>(None).await.map(drop).map_err(err)
            }
        }
    }

    /// Closes the client, so that none of its background work runs into the next
    /// measurement.
    pub async fn close(self) {
        match self {
            Conn::Ours(c) => c.close(),
            Conn::RedisMux(c) => drop(c),
            Conn::RedisCluster(c) => drop(c),
            #[cfg(feature = "fred")]
            Conn::Fred(c) => {
                use fred::prelude::*;
                let _ = c.quit().await;
            }
        }
    }

    /// Empties the server (`FLUSHALL`) through our client.
    pub async fn flushall(&self) -> Result<(), String> {
        let Conn::Ours(c) = self else {
            return Err("flushing goes through our client".into());
        };
        c.query::<String>(redis_manager::cmd("FLUSHALL"))
            .await
            .map(drop)
            .map_err(err)
    }

    /// Writes every key of `work` with its value (untimed set-up of [`Op::GetOnly`] runs),
    /// through our client's pipelines.
    pub async fn preload(&self, work: &Work) -> Result<(), String> {
        let Conn::Ours(c) = self else {
            return Err("preloading goes through our client".into());
        };
        for keys in work.keys.iter() {
            for chunk in keys.chunks(100) {
                let mut pipe = redis_manager::Pipeline::new();
                for k in chunk {
                    pipe.set(k.as_str(), &work.value);
                }
                pipe.execute(c).await.map_err(err)?;
            }
        }
        Ok(())
    }

    /// Runs `work`: one task per `work.tasks`, all sharing this client; the first error
    /// ends the run.
    pub async fn run(&self, work: &Arc<Work>) -> Result<(), String> {
        let mut handles = Vec::with_capacity(work.tasks);
        for t in 0..work.tasks {
            let w = Arc::clone(work);
            handles.push(match self {
                Conn::Ours(c) => tokio::spawn(ours_task(c.clone(), w, t)),
                Conn::RedisMux(c) => tokio::spawn(redis_task(c.clone(), w, t)),
                Conn::RedisCluster(c) => tokio::spawn(redis_task(c.clone(), w, t)),
                #[cfg(feature = "fred")]
                Conn::Fred(c) => tokio::spawn(fred_task(c.clone(), w, t)),
            });
        }
        let mut first_error = None;
        for h in handles {
            let r = h
                .await
                .map_err(|e| format!("task failed: {e}"))
                .and_then(|r| r);
            if let (Err(e), None) = (r, &first_error) {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

async fn ours_task(c: redis_manager::Client, w: Arc<Work>, task: usize) -> Result<(), String> {
    let keys = &w.keys[task];
    let want = w.value.len();
    for r in 0..w.rounds {
        match w.op {
            Op::GetOnly => {
                let got = c.get(keys[r % keys.len()].as_str()).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet if w.pipeline <= 1 => {
                let k = keys[r % keys.len()].as_str();
                c.set(k, &w.value).await.map_err(err)?;
                let got = c.get(k).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet => {
                let pairs = w.pairs();
                let mut pipe = redis_manager::Pipeline::new();
                for i in 0..pairs {
                    let k = keys[(r * pairs + i) % keys.len()].as_str();
                    pipe.set(k, &w.value).get(k);
                }
                let replies = pipe.execute(&c).await.map_err(err)?;
                if replies.len() != 2 * pairs {
                    return Err(format!(
                        "{} replies to {} commands",
                        replies.len(),
                        2 * pairs
                    ));
                }
                for pair in replies.chunks(2) {
                    check(pair[1].as_bytes().map(<[u8]>::len), want)?;
                }
            }
        }
    }
    Ok(())
}

async fn redis_task<C>(mut c: C, w: Arc<Work>, task: usize) -> Result<(), String>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    use redis::AsyncCommands;
    let keys = &w.keys[task];
    let want = w.value.len();
    for r in 0..w.rounds {
        match w.op {
            Op::GetOnly => {
                let got: Option<Bytes> = c.get(keys[r % keys.len()].as_str()).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet if w.pipeline <= 1 => {
                let k = keys[r % keys.len()].as_str();
                let () = c.set(k, &w.value[..]).await.map_err(err)?;
                let got: Option<Bytes> = c.get(k).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet => {
                let pairs = w.pairs();
                let mut pipe = redis::pipe();
                for i in 0..pairs {
                    let k = keys[(r * pairs + i) % keys.len()].as_str();
                    pipe.set(k, &w.value[..]).get(k);
                }
                let replies: Vec<redis::Value> = pipe.query_async(&mut c).await.map_err(err)?;
                if replies.len() != 2 * pairs {
                    return Err(format!(
                        "{} replies to {} commands",
                        replies.len(),
                        2 * pairs
                    ));
                }
                for pair in replies.chunks(2) {
                    let got = match &pair[1] {
                        redis::Value::BulkString(b) => Some(b.len()),
                        _ => None,
                    };
                    check(got, want)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(feature = "fred")]
async fn fred_task(c: fred::clients::Client, w: Arc<Work>, task: usize) -> Result<(), String> {
    use fred::prelude::*;
    let keys = &w.keys[task];
    let want = w.value.len();
    for r in 0..w.rounds {
        match w.op {
            Op::GetOnly => {
                let got: Option<Bytes> = c.get(keys[r % keys.len()].as_str()).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet if w.pipeline <= 1 => {
                let k = keys[r % keys.len()].as_str();
                let () = c
                    .set(k, w.value.clone(), None, None, false)
                    .await
                    .map_err(err)?;
                let got: Option<Bytes> = c.get(k).await.map_err(err)?;
                check(got.as_ref().map(Bytes::len), want)?;
            }
            Op::SetGet => {
                let pairs = w.pairs();
                let pipe = c.pipeline();
                for i in 0..pairs {
                    let k = keys[(r * pairs + i) % keys.len()].as_str();
                    let () = pipe
                        .set(k, w.value.clone(), None, None, false)
                        .await
                        .map_err(err)?;
                    let () = pipe.get(k).await.map_err(err)?;
                }
                let replies: Vec<fred::types::Value> = pipe.all().await.map_err(err)?;
                if replies.len() != 2 * pairs {
                    return Err(format!(
                        "{} replies to {} commands",
                        replies.len(),
                        2 * pairs
                    ));
                }
                for pair in replies.chunks(2) {
                    check(pair[1].as_bytes().map(<[u8]>::len), want)?;
                }
            }
        }
    }
    Ok(())
}
