//! Pub/sub: [`Client::publish`] and the [`Subscriber`], which survives reconnects.
//!
//! # Design
//!
//! A subscriber owns a dedicated connection whose every frame goes to a bounded channel
//! (RESP2 subscribers receive messages as plain arrays, RESP3 ones as pushes; both look the
//! same here). The connection's I/O task never waits for the consumer: when the channel is
//! full the newest message is dropped and counted, so a slow consumer loses its own messages
//! and nobody else's. The next call to [`Subscriber::next`] reports the loss as
//! [`PubSubEvent::Lagged`] before any further message.
//!
//! The subscriber remembers what it was asked to subscribe to. When its connection dies it
//! reconnects (with the pool's backoff, trying every `RECONNECT_POLL` meanwhile so that the
//! pool's probe can notice a restarted server early; rejections by the breaker are not
//! reported, real connect failures are), subscribes to everything again, and yields
//! [`PubSubEvent::Reconnected`]: messages published during the gap are lost, and the consumer
//! is told so.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use resp_codec::{Frame, Payload, ToArg, encode_array_header, encode_bulk};
use tokio::sync::mpsc;

use super::typed::{Executor, TypedCmd};
use crate::client::Client;
use crate::command::cmd;
use crate::connection::{Connection, push_channel};
use crate::error::{ConversionError, Error, ServerError};

/// Messages a subscriber buffers before it starts dropping (see [`Subscriber`]).
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 4096;

/// How often a subscriber that lost its connection tries again while the pool backs off (a
/// try during the backoff costs no I/O, or the pool's rate-limited bare-connect probe).
const RECONNECT_POLL: Duration = Duration::from_millis(50);

/// Publishing, declared once: it runs on any [`Executor`]. Subscribing needs a connection
/// of its own: see [`Client::subscriber`].
pub trait PubSubCommands: Executor {
    /// `PUBLISH channel payload`: how many subscribers received it.
    ///
    /// # Errors
    ///
    /// Connection and server errors.
    fn publish(self, channel: impl ToArg, payload: impl ToArg) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("PUBLISH").arg(channel).arg(payload)))
    }

    /// `SPUBLISH channel payload` (Redis 7): publishes on a shard channel, which a cluster
    /// routes by the channel's slot; returns the receiver count.
    ///
    /// # Errors
    ///
    /// Connection and server errors.
    fn spublish(self, channel: impl ToArg, payload: impl ToArg) -> Self::Run<i64> {
        // The shard channel hashes to a slot like a key.
        self.run(TypedCmd::new(cmd("SPUBLISH").key(channel).arg(payload)))
    }
}

impl<E: Executor> PubSubCommands for E {}

impl Client {
    /// A subscriber on a dedicated connection, buffering up to
    /// [`DEFAULT_SUBSCRIBER_CAPACITY`] messages.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn subscriber(&self) -> Result<Subscriber, Error> {
        self.subscriber_with_capacity(DEFAULT_SUBSCRIBER_CAPACITY)
            .await
    }

    /// A subscriber that buffers up to `capacity` messages before dropping new ones.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn subscriber_with_capacity(&self, capacity: usize) -> Result<Subscriber, Error> {
        let mut s = Subscriber {
            client: self.clone(),
            capacity: capacity.max(1),
            conn: None,
            rx: None,
            wanted: Wanted::default(),
            dropped: Arc::new(AtomicU64::new(0)),
            reported_dropped: 0,
            ready: VecDeque::new(),
            total_dropped: 0,
            closed: false,
            heard: tokio::time::Instant::now(),
            pinged: None,
            pongs_owed: 0,
            shard_links: Default::default(),
        };
        s.connect().await?;
        Ok(s)
    }
}

/// Which kind of subscription a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `SUBSCRIBE`.
    Channel,
    /// `PSUBSCRIBE`.
    Pattern,
    /// `SSUBSCRIBE`.
    Shard,
}

/// A published message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// How it was subscribed to.
    pub kind: MessageKind,
    /// The channel it was published on.
    pub channel: Bytes,
    /// The pattern that matched, for pattern subscriptions.
    pub pattern: Option<Bytes>,
    /// The payload, as published.
    pub payload: Bytes,
}

impl Message {
    /// The channel name as text (lossy for non-UTF-8 names).
    pub fn channel_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.channel)
    }

    /// The payload as UTF-8 text.
    ///
    /// # Errors
    ///
    /// [`Error::Conversion`] when the payload is not UTF-8.
    pub fn payload_str(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload).map_err(|_| {
            Error::Conversion(ConversionError {
                expected: "UTF-8 payload",
                got: "non-UTF-8 bytes",
            })
        })
    }

    /// The payload decoded as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Conversion`] when the payload is not valid JSON for `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|_| {
            Error::Conversion(ConversionError {
                expected: std::any::type_name::<T>(),
                got: "payload that is not valid JSON for it",
            })
        })
    }
}

/// What a [`Subscriber`] yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PubSubEvent {
    /// A message.
    Message(Message),
    /// Messages were dropped because the consumer fell behind: `dropped` since the last report.
    Lagged {
        /// How many messages were lost.
        dropped: u64,
    },
    /// The connection was lost and re-established, and every subscription re-issued. Messages
    /// published in between were missed.
    Reconnected,
}

#[derive(Debug, Default, Clone)]
struct Wanted {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shards: BTreeSet<Bytes>,
}

/// A pub/sub subscriber on its own connection.
///
/// Read it with [`Subscriber::next`]. Buffering is bounded: when more than its capacity of
/// messages are waiting, new ones are dropped (the connection is never blocked by a slow
/// consumer) and [`PubSubEvent::Lagged`] reports how many. After a reconnect it resubscribes
/// to everything and yields [`PubSubEvent::Reconnected`].
///
/// # Examples
///
/// ```no_run
/// # use redis_manager::prelude::*;
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::cmd::PubSubEvent;
///
/// let mut sub = client.subscriber().await?;
/// sub.subscribe(&["news"]).await?;
/// sub.psubscribe(&["alerts:*"]).await?;
/// client.publish("news", "hello").await?;
/// while let Some(event) = sub.next().await {
///     match event? {
///         PubSubEvent::Message(m) => println!("{}: {}", m.channel_str(), m.payload_str()?),
///         PubSubEvent::Lagged { dropped } => eprintln!("missed {dropped} messages"),
///         PubSubEvent::Reconnected => eprintln!("reconnected; messages may have been missed"),
///         _ => {}
///     }
/// #   break;
/// }
/// # Ok(()) }
/// ```
pub struct Subscriber {
    client: Client,
    capacity: usize,
    conn: Option<Connection>,
    rx: Option<mpsc::Receiver<Frame>>,
    wanted: Wanted,
    dropped: Arc<AtomicU64>,
    reported_dropped: u64,
    ready: VecDeque<PubSubEvent>,
    total_dropped: u64,
    closed: bool,
    /// When the current connection last delivered anything (or was opened). Kept across
    /// `next()` calls, so that a caller polling with short timeouts still gets health checks.
    heard: tokio::time::Instant,
    /// When the outstanding health-check `PING` was sent, if one is.
    pinged: Option<tokio::time::Instant>,
    /// With cluster shard links: the `pong`s still due for the outstanding `PING`s, one per
    /// connection (see [`Subscriber::heard_from`]).
    pongs_owed: usize,
    /// On a cluster: the connections to the masters of subscribed shard channels.
    shard_links: crate::cluster::ShardLinks,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("channels", &self.wanted.channels.len())
            .field("patterns", &self.wanted.patterns.len())
            .field("shards", &self.wanted.shards.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// A parsed pub/sub frame.
enum Incoming {
    Message(Message),
    /// A (un)subscribe confirmation, by its kind word.
    Confirm(&'static str),
    Pong,
    Error(ServerError),
    Other,
}

fn parse(frame: Frame) -> Incoming {
    let items = match frame.into_without_attributes() {
        Frame::Array(v) | Frame::Push(v) => v,
        Frame::SimpleError(e) | Frame::BulkError(e) => {
            return Incoming::Error(ServerError::new(e.into_bytes()));
        }
        Frame::SimpleString(s) if s.eq_ignore_ascii_case(b"PONG") => return Incoming::Pong,
        _ => return Incoming::Other,
    };
    let mut it = items.into_iter();
    let Some(kind) = it.next().and_then(|k| k.as_payload().cloned()) else {
        return Incoming::Other;
    };
    let mut next = || {
        it.next()
            .and_then(|f| f.as_payload().map(Payload::to_bytes))
    };
    let kind_lower = kind.to_ascii_lowercase();
    match &kind_lower[..] {
        b"message" | b"smessage" => match (next(), next()) {
            (Some(channel), Some(payload)) => Incoming::Message(Message {
                kind: if &kind_lower[..] == b"message" {
                    MessageKind::Channel
                } else {
                    MessageKind::Shard
                },
                channel,
                pattern: None,
                payload,
            }),
            _ => Incoming::Other,
        },
        b"pmessage" => match (next(), next(), next()) {
            (Some(pattern), Some(channel), Some(payload)) => Incoming::Message(Message {
                kind: MessageKind::Pattern,
                channel,
                pattern: Some(pattern),
                payload,
            }),
            _ => Incoming::Other,
        },
        b"pong" => Incoming::Pong,
        k => {
            let word = match k {
                b"subscribe" => "subscribe",
                b"psubscribe" => "psubscribe",
                b"ssubscribe" => "ssubscribe",
                b"unsubscribe" => "unsubscribe",
                b"punsubscribe" => "punsubscribe",
                b"sunsubscribe" => "sunsubscribe",
                _ => return Incoming::Other,
            };
            Incoming::Confirm(word)
        }
    }
}

impl Subscriber {
    async fn connect(&mut self) -> Result<(), Error> {
        let (sink, rx) = push_channel(self.capacity, true, self.dropped.clone());
        self.shard_links.reset(&sink);
        let conn = self.client.pool.dedicated(sink).await?;
        self.conn = Some(conn);
        self.rx = Some(rx);
        self.heard = tokio::time::Instant::now();
        self.pinged = None;
        self.pongs_owed = 0;
        let wanted = self.wanted.clone();
        for (verb, set) in [
            ("SUBSCRIBE", &wanted.channels),
            ("PSUBSCRIBE", &wanted.patterns),
            ("SSUBSCRIBE", &wanted.shards),
        ] {
            if !set.is_empty() {
                let names: Vec<&Bytes> = set.iter().collect();
                self.command(verb, &names, true).await?;
            }
        }
        Ok(())
    }

    /// Sends a (un)subscribe command and, when `wait`, reads until every name is confirmed,
    /// keeping messages that arrive meanwhile for [`Subscriber::next`].
    async fn command<A: ToArg>(
        &mut self,
        verb: &str,
        names: &[A],
        wait: bool,
    ) -> Result<(), Error> {
        let conn = self.conn.clone().ok_or(Error::Closed)?;
        let limit = conn.response_timeout();
        // On a cluster, shard channels go to the masters serving their slots.
        let targets = match self.client.pool.cluster() {
            Some(cluster) if verb.starts_with("SSUB") || verb.starts_with("SUNSUB") => {
                let owned: Vec<Bytes> = names
                    .iter()
                    .map(|n| Bytes::copy_from_slice(&n.to_arg()))
                    .collect();
                self.shard_links.targets(cluster, &owned).await?
            }
            _ => vec![(conn, (0..names.len()).collect())],
        };
        // Unsubscribing from "everything" confirms once per subscription (or once with a null
        // channel when there were none); names given explicitly confirm once each.
        let mut expected = 0;
        for (conn, idx) in &targets {
            conn.send_unanswered(|b| {
                encode_array_header(b, idx.len() + 1);
                encode_bulk(b, verb.as_bytes());
                for &i in idx {
                    encode_bulk(b, &names[i].to_arg());
                }
            })?;
            expected += idx.len().max(1);
        }
        if !wait {
            return Ok(());
        }
        let confirm = verb.to_ascii_lowercase();
        // Confirmations come as pushes, which no response timeout covers: bound the wait here,
        // or a frozen server would hold the caller forever.
        let deadline = limit.map(|after| (tokio::time::Instant::now() + after, after));
        while expected > 0 {
            let rx = self.rx.as_mut().ok_or(Error::Closed)?;
            let received = match deadline {
                Some((at, after)) => match tokio::time::timeout_at(at, rx.recv()).await {
                    Ok(received) => received,
                    Err(_) => {
                        // What the server has subscribed is now unknown: drop the connection.
                        // The next `next()` reconnects and subscribes to everything wanted.
                        tracing::warn!(
                            ?after,
                            "no subscription confirmation in time; reconnecting"
                        );
                        self.drop_connection();
                        return Err(Error::Timeout { after, sent: true });
                    }
                },
                None => rx.recv().await,
            };
            let Some(frame) = received else {
                return Err(Error::ConnectionClosed {
                    sent: true,
                    cause: None,
                });
            };
            let incoming = parse(frame);
            // A health check's answer can arrive here, while a (un)subscribe waits: counted,
            // or the check would take the connection for dead.
            self.heard_from(matches!(incoming, Incoming::Pong));
            match incoming {
                Incoming::Confirm(word) if word == confirm => expected -= 1,
                Incoming::Message(m) => self.ready.push_back(PubSubEvent::Message(m)),
                Incoming::Error(e) => return Err(Error::Server(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Subscribes to channels (`SUBSCRIBE`), returning once the server confirmed each.
    ///
    /// # Errors
    ///
    /// Connection errors, or the server's error (for example `NOPERM`).
    pub async fn subscribe<A: ToArg>(&mut self, channels: &[A]) -> Result<(), Error> {
        for c in channels {
            self.wanted
                .channels
                .insert(Bytes::copy_from_slice(&c.to_arg()));
        }
        self.command("SUBSCRIBE", channels, true).await
    }

    /// Subscribes to glob-style patterns (`PSUBSCRIBE`).
    ///
    /// # Errors
    ///
    /// As for [`Subscriber::subscribe`].
    pub async fn psubscribe<A: ToArg>(&mut self, patterns: &[A]) -> Result<(), Error> {
        for p in patterns {
            self.wanted
                .patterns
                .insert(Bytes::copy_from_slice(&p.to_arg()));
        }
        self.command("PSUBSCRIBE", patterns, true).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`, Redis 7).
    ///
    /// # Errors
    ///
    /// As for [`Subscriber::subscribe`].
    pub async fn ssubscribe<A: ToArg>(&mut self, channels: &[A]) -> Result<(), Error> {
        for c in channels {
            self.wanted
                .shards
                .insert(Bytes::copy_from_slice(&c.to_arg()));
        }
        self.command("SSUBSCRIBE", channels, true).await
    }

    /// Unsubscribes from `channels`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn unsubscribe<A: ToArg>(&mut self, channels: &[A]) -> Result<(), Error> {
        for c in channels {
            self.wanted.channels.remove(&c.to_arg()[..]);
        }
        self.command("UNSUBSCRIBE", channels, true).await
    }

    /// Unsubscribes from `patterns`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn punsubscribe<A: ToArg>(&mut self, patterns: &[A]) -> Result<(), Error> {
        for p in patterns {
            self.wanted.patterns.remove(&p.to_arg()[..]);
        }
        self.command("PUNSUBSCRIBE", patterns, true).await
    }

    /// Unsubscribes from shard `channels`.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn sunsubscribe<A: ToArg>(&mut self, channels: &[A]) -> Result<(), Error> {
        for c in channels {
            self.wanted.shards.remove(&c.to_arg()[..]);
        }
        self.command("SUNSUBSCRIBE", channels, true).await
    }

    /// Unsubscribes from every channel, pattern and shard channel, waiting for the server to
    /// confirm each: once it returns, publishers no longer count this subscriber.
    ///
    /// # Errors
    ///
    /// Connection errors (the subscriptions are forgotten anyway).
    pub async fn unsubscribe_all(&mut self) -> Result<(), Error> {
        let wanted = std::mem::take(&mut self.wanted);
        for (verb, set) in [
            ("UNSUBSCRIBE", &wanted.channels),
            ("PUNSUBSCRIBE", &wanted.patterns),
            ("SUNSUBSCRIBE", &wanted.shards),
        ] {
            if !set.is_empty() && self.conn.is_some() {
                let names: Vec<&Bytes> = set.iter().collect();
                self.command(verb, &names, true).await?;
            }
        }
        Ok(())
    }

    /// Messages dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.total_dropped + self.dropped.load(Ordering::Relaxed) - self.reported_dropped
    }

    /// The server-side id of the current connection, when known (RESP3 connections), e.g. to
    /// aim `CLIENT KILL ID` at it in tests.
    pub fn client_id(&self) -> Option<i64> {
        self.conn.as_ref().and_then(Connection::client_id)
    }

    /// The next event: a message, a report of dropped messages, or a reconnection.
    ///
    /// Returns `None` only after [`Subscriber::close`]. Connection failures are handled
    /// inside (reconnect, resubscribe, [`PubSubEvent::Reconnected`]); `Some(Err(_))` reports an
    /// error reply from the server or a failed reconnect attempt (the next call tries again,
    /// after the pool's backoff).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is only taken from the buffer when it is returned.
    pub async fn next(&mut self) -> Option<Result<PubSubEvent, Error>> {
        loop {
            let dropped = self.dropped.load(Ordering::Relaxed);
            if dropped > self.reported_dropped {
                let n = dropped - self.reported_dropped;
                self.reported_dropped = dropped;
                self.total_dropped += n;
                self.client.pool.telemetry().stats.pubsub_dropped(n);
                return Some(Ok(PubSubEvent::Lagged { dropped: n }));
            }
            if let Some(e) = self.ready.pop_front() {
                return Some(Ok(e));
            }
            if self.closed || (self.client.is_closed() && self.conn.is_none()) {
                return None;
            }
            let silence = self.silence_deadline();
            let Some(rx) = self.rx.as_mut() else {
                // Reconnect, waiting out the breaker's backoff rather than spinning, but trying
                // again every RECONNECT_POLL meanwhile: the pool's cheap probe may find a
                // restarted server long before the backoff ends. A rejection by the breaker
                // is no news (nothing was attempted) and is not reported.
                loop {
                    if let Some(at) = self.client.pool.retry_at() {
                        let poll = tokio::time::Instant::now() + RECONNECT_POLL;
                        tokio::time::sleep_until(at.min(poll)).await;
                    }
                    return Some(match self.connect().await {
                        Ok(()) => {
                            tracing::info!("subscriber reconnected and subscribed again");
                            self.client.pool.telemetry().stats.pubsub_resubscribed();
                            Ok(PubSubEvent::Reconnected)
                        }
                        Err(e) if e.is_backoff() => continue,
                        Err(e) => {
                            self.conn = None;
                            self.rx = None;
                            if matches!(e, Error::Closed) {
                                return None;
                            }
                            Err(e)
                        }
                    });
                }
            };
            // Cluster shard links deliver into this channel too but cannot close it: check
            // them now and then.
            let links_check = (!self.shard_links.is_empty())
                .then(|| tokio::time::Instant::now() + Duration::from_secs(1));
            let wake = silence.into_iter().chain(links_check).min();
            let received = match wake {
                None => rx.recv().await,
                Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                    Ok(received) => received,
                    Err(_) if self.shard_links.any_closed() => None,
                    Err(_) => {
                        if silence.is_some_and(|s| s <= tokio::time::Instant::now()) {
                            self.on_silence();
                        }
                        continue;
                    }
                },
            };
            let incoming = received.map(parse);
            if let Some(incoming) = &incoming {
                self.heard_from(matches!(incoming, Incoming::Pong));
            }
            match incoming {
                Some(Incoming::Message(m)) => return Some(Ok(PubSubEvent::Message(m))),
                Some(Incoming::Error(e)) => return Some(Err(Error::Server(e))),
                // A shard subscription the server dropped because its slot moved.
                Some(Incoming::Confirm("sunsubscribe")) if !self.shard_links.is_empty() => {
                    tracing::info!("shard channel slot moved; resubscribing");
                    self.drop_connection();
                }
                Some(Incoming::Confirm(_) | Incoming::Pong | Incoming::Other) => {}
                None => {
                    tracing::warn!("subscriber connection lost; resubscribing");
                    self.shard_links.close_all();
                    self.conn = None;
                    self.rx = None;
                }
            }
        }
    }

    /// Notes a frame from the server for the health check. On one connection anything the
    /// server sends shows it is alive. With cluster shard links, frames from all connections
    /// share one channel and one live link would vouch for a dead one, so only a `pong` from
    /// each connection, after a `PING` to each, counts: such a subscriber pings every interval,
    /// however busy it is.
    fn heard_from(&mut self, pong: bool) {
        if self.shard_links.is_empty() {
            self.heard = tokio::time::Instant::now();
            self.pinged = None;
        } else if pong && self.pinged.is_some() {
            self.pongs_owed = self.pongs_owed.saturating_sub(1);
            if self.pongs_owed == 0 {
                self.heard = tokio::time::Instant::now();
                self.pinged = None;
            }
        }
    }

    /// When to act on the connection's silence (see
    /// [`Config::subscriber_ping_interval`](crate::Config::subscriber_ping_interval)): the ping
    /// interval after the last frame, or, once a `PING` is out, the response timeout after it.
    fn silence_deadline(&self) -> Option<tokio::time::Instant> {
        let options = self.client.pool.connect_options();
        let interval: Duration = options.ping_interval?;
        Some(match self.pinged {
            Some(at) => at + options.response_timeout.unwrap_or(interval),
            None => self.heard + interval,
        })
    }

    /// The connection has been silent until [`Subscriber::silence_deadline`]: ping it, or,
    /// when the `PING` went unanswered, give it up so that the next turn reconnects.
    fn on_silence(&mut self) {
        if self.pinged.is_some() {
            tracing::warn!("subscriber connection did not answer PING; reconnecting");
            self.drop_connection();
            return;
        }
        let sent = self.conn.as_ref().map(|conn| {
            conn.send_unanswered(|b| {
                encode_array_header(b, 1);
                encode_bulk(b, b"PING");
            })
        });
        let links = self.shard_links.ping_all();
        match (sent, links) {
            (Some(Ok(())), Ok(links)) => {
                self.pinged = Some(tokio::time::Instant::now());
                self.pongs_owed = 1 + links;
            }
            _ => self.drop_connection(),
        }
    }

    /// Closes the connection (and any shard links) so that the next [`Subscriber::next`]
    /// reconnects and subscribes again to everything wanted.
    fn drop_connection(&mut self) {
        self.pinged = None;
        self.shard_links.close_all();
        if let Some(c) = self.conn.take() {
            c.close();
        }
        self.rx = None;
    }

    /// Closes the subscriber's connection. Later [`Subscriber::next`] calls return `None`.
    pub fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close();
        }
        self.shard_links.close_all();
        self.rx = None;
        self.ready.clear();
        self.closed = true;
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close();
        }
        self.shard_links.close_all();
    }
}
