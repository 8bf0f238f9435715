//! [`PubSubManager`]: JSON messages over Redis pub/sub, handled by an async function in a
//! background task that survives bad messages, failing handlers and reconnects.
//!
//! # Design
//!
//! [`PubSubManager::subscribe`] subscribes on a dedicated [`Subscriber`] connection, waits for
//! the server's confirmation (so a message published after it returns is delivered), then
//! hands the subscriber to a spawned task. That task decodes each message from JSON and awaits
//! the handler, one message at a time, so messages are handled in the order they were
//! published. Each handler call runs in its own task: a panic is caught there, logged, and the
//! next message is handled (the seed's `try/except` around the handler). Payloads that are not
//! valid JSON for the handler's type are logged and skipped. The [`Subscriber`] reconnects and
//! resubscribes by itself; the task logs the gap and the messages dropped because the handler
//! fell behind (the subscriber's buffer is bounded: a slow handler loses its own messages,
//! never blocks the connection).
//!
//! A subscription asked of a manager that is enabled but cannot reach Redis right now (its
//! health flag is clear, or subscribing fails with a connection-level error) is not refused:
//! [`PubSubManager::subscribe`] returns a pending [`Subscription`] whose task waits for the
//! manager to find Redis again (a cheap look at its health flag every
//! [`PENDING_POLL`], no I/O of its own: the manager's recovery task probes), then subscribes
//! and runs as usual. It logs that it started late, and [`Subscription::started_late`] says
//! so. A disabled manager and a plain [`Client`] still fail at once.
//!
//! The task stops when told to (a oneshot channel, from [`Subscription::stop`] or from dropping
//! the [`Subscription`]), after the message being handled, and closes its connection.
//!
//! Redis errors (publishing, connecting, subscribing, and those the running subscription
//! reports) go through the manager's one fallback (`fallback.rs`): logged once, and the
//! manager's health updated; `publish` then returns its default, 0. Handler errors, panics
//! and payloads that do not decode are the application's, not Redis's: they are logged here.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::RedisManager;
use super::fallback::Backend;
use crate::client::Client;
use crate::cmd::{DEFAULT_SUBSCRIBER_CAPACITY, PubSubCommands, PubSubEvent, Subscriber};
use crate::error::Error;

/// How often a pending subscription looks at its manager's health flag (no I/O).
const PENDING_POLL: Duration = Duration::from_millis(25);

/// A subscription's progress, shared between its task and its [`Subscription`].
const PENDING: u8 = 0;
const STARTED: u8 = 1;
const STARTED_LATE: u8 = 2;

/// What a [`PubSubManager::subscribe`] handler returns: `()`, or a `Result` whose error is
/// logged (the subscription goes on either way).
pub trait HandlerResult {
    /// The error to log, if the handler failed.
    fn into_error_message(self) -> Option<String>;
}

impl HandlerResult for () {
    fn into_error_message(self) -> Option<String> {
        None
    }
}

impl<E: Display> HandlerResult for Result<(), E> {
    fn into_error_message(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Pub/sub with JSON payloads: the seed's `PubSubManager`.
///
/// Cheap to clone. Built on a [`RedisManager`] (publishing returns the manager's default, 0,
/// while Redis is unavailable) or a plain [`Client`].
///
/// # Examples
///
/// ```no_run
/// use redis_manager::redis_manager;
/// use redis_manager::manager::PubSubManager;
/// use serde_json::{json, Value};
///
/// # async fn demo() -> redis_manager::Result<()> {
/// let pubsub = PubSubManager::new(redis_manager());
/// let subscription = pubsub
///     .subscribe(&["notifications"], |channel: String, data: Value| async move {
///         println!("Received notification on {channel}: {data}");
///     })
///     .await?;
/// pubsub
///     .publish("notifications", &json!({"type": "user_login", "user_id": 123}))
///     .await;
/// subscription.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PubSubManager {
    backend: Backend,
    capacity: usize,
}

impl PubSubManager {
    /// Pub/sub through `manager`'s client.
    pub fn new(manager: &RedisManager) -> PubSubManager {
        PubSubManager::with_backend(Backend::Manager(manager.clone()))
    }

    /// Pub/sub through a plain [`Client`].
    pub fn from_client(client: Client) -> PubSubManager {
        PubSubManager::with_backend(Backend::Client(client))
    }

    fn with_backend(backend: Backend) -> PubSubManager {
        PubSubManager {
            backend,
            capacity: DEFAULT_SUBSCRIBER_CAPACITY,
        }
    }

    /// How many messages a subscription buffers while its handler is busy, before it drops
    /// new ones (logged with their count). Default [`DEFAULT_SUBSCRIBER_CAPACITY`].
    pub fn capacity(mut self, capacity: usize) -> PubSubManager {
        self.capacity = capacity.max(1);
        self
    }

    /// Publishes `message` as JSON on `channel`; returns how many subscribers received it.
    ///
    /// Like the manager's operations, never fails: 0 also when Redis is disabled or
    /// unavailable, or when `message` cannot be encoded, and the error is logged (with the
    /// channel, never the message). Use [`PubSubCommands::publish`](crate::cmd::PubSubCommands::publish) to get the error instead.
    ///
    /// # Cancel safety
    ///
    /// If cancelled after the command was sent, the message may have been published.
    pub async fn publish<T: Serialize + ?Sized>(&self, channel: &str, message: &T) -> i64 {
        let json = match serde_json::to_vec(message) {
            Ok(j) => j,
            Err(e) => return self.backend.fallback("publish", channel, Err(e), 0),
        };
        self.backend
            .run("publish", channel, 0, |client| async move {
                client.publish(channel, json).await
            })
            .await
    }

    /// Subscribes to `channels` and calls `handler(channel, data)` for each message, with the
    /// payload decoded from JSON into `T` (`serde_json::Value` for anything).
    ///
    /// Returns once the server confirmed the subscriptions; the handler then runs in a
    /// background task until [`Subscription::stop`] or the [`Subscription`] is dropped.
    /// Messages are handled one at a time, in order. A handler that returns an error or
    /// panics, and a payload that does not decode into `T`, are logged and the next message
    /// is handled. After a reconnect the subscriptions are restored by themselves (messages
    /// published meanwhile are lost, and logged as such).
    ///
    /// On a [`RedisManager`] that is enabled but cannot reach Redis now, the subscription is
    /// not refused: it is returned pending, and starts by itself once the manager finds Redis
    /// again ([`Subscription::is_started`], [`Subscription::started_late`]; a warning is
    /// logged). Messages published before it started are not delivered.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the manager is disabled (or was disconnected); through a plain
    /// [`Client`], the connect or server error when subscribing failed; on a manager, a
    /// server error refusing the subscription.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a cancelled call leaves nothing running (its connection is closed).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(pubsub: redis_manager::manager::PubSubManager) -> redis_manager::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Order { id: u64 }
    ///
    /// let subscription = pubsub
    ///     .subscribe(&["orders"], |_channel, order: Order| async move {
    ///         if order.id == 0 {
    ///             return Err(format!("order without id")); // logged; the next one is handled
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # drop(subscription); Ok(()) }
    /// ```
    pub async fn subscribe<T, F, Fut>(
        &self,
        channels: &[&str],
        handler: F,
    ) -> Result<Subscription, Error>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerResult + Send,
    {
        self.start(Names::Channels(owned(channels)), handler).await
    }

    /// Like [`PubSubManager::subscribe`], for glob-style patterns (`PSUBSCRIBE`, e.g.
    /// `"events:*"`); the handler receives the channel each message was published on.
    ///
    /// # Errors
    ///
    /// As for [`PubSubManager::subscribe`].
    ///
    /// # Cancel safety
    ///
    /// As for [`PubSubManager::subscribe`].
    pub async fn psubscribe<T, F, Fut>(
        &self,
        patterns: &[&str],
        handler: F,
    ) -> Result<Subscription, Error>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerResult + Send,
    {
        self.start(Names::Patterns(owned(patterns)), handler).await
    }

    /// Subscribes now, or, when a manager cannot reach Redis now, returns a pending
    /// subscription that starts when it can.
    async fn start<T, F, Fut>(&self, names: Names, handler: F) -> Result<Subscription, Error>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerResult + Send,
    {
        match subscribe_now(&self.backend, self.capacity, &names).await {
            Ok(sub) => Ok(Subscription::spawn(
                Start::Now(Box::new(sub)),
                handler,
                self.backend.clone(),
            )),
            Err(e) if self.may_wait(&e) => {
                tracing::warn!(
                    what = %names,
                    error = %e,
                    "Redis is unavailable; the subscription will start when it answers"
                );
                Ok(Subscription::spawn(
                    Start::Later {
                        names,
                        capacity: self.capacity,
                    },
                    handler,
                    self.backend.clone(),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// True when a subscription that failed with `e` should wait for Redis instead: on an
    /// enabled, initialized manager, for unavailability (not a server's refusal).
    fn may_wait(&self, e: &Error) -> bool {
        let Backend::Manager(m) = &self.backend else {
            return false;
        };
        m.inner.config.is_enabled()
            && m.inner.current_client().is_some_and(|c| !c.is_closed())
            && (matches!(e, Error::Closed) || e.is_connection_error() || e.is_timeout())
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// What a subscription is for.
#[derive(Debug, Clone)]
enum Names {
    Channels(Vec<String>),
    Patterns(Vec<String>),
}

impl Display for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Names::Channels(c) => write!(f, "channels {}", c.join(",")),
            Names::Patterns(p) => write!(f, "patterns {}", p.join(",")),
        }
    }
}

/// How the subscription task begins: with a confirmed subscriber, or by waiting for Redis.
enum Start {
    Now(Box<Subscriber>),
    Later { names: Names, capacity: usize },
}

/// Opens a subscriber and subscribes it to `names`, waiting for the confirmation; a failure
/// goes through the fallback (logged, the manager's health updated).
async fn subscribe_now(
    backend: &Backend,
    capacity: usize,
    names: &Names,
) -> Result<Subscriber, Error> {
    let attempt = async {
        let client = backend.client().ok_or(Error::Closed)?;
        let mut sub = client.subscriber_with_capacity(capacity).await?;
        match names {
            Names::Channels(c) => sub.subscribe(c).await?,
            Names::Patterns(p) => sub.psubscribe(p).await?,
        }
        Ok(sub)
    };
    attempt
        .await
        .inspect_err(|e: &Error| backend.note_failure("subscribe", "", e.clone()))
}

/// A running subscription from [`PubSubManager::subscribe`]. Dropping it stops the
/// subscription too, without waiting.
#[derive(Debug)]
#[must_use = "dropping a Subscription stops it"]
pub struct Subscription {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    state: Arc<AtomicU8>,
}

impl Subscription {
    fn spawn<T, F, Fut>(start: Start, handler: F, backend: Backend) -> Subscription
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(String, T) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerResult + Send,
    {
        let (stop, mut stopped) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(PENDING));
        let task = match start {
            Start::Now(sub) => {
                state.store(STARTED, Ordering::Release);
                tokio::spawn(listen(*sub, handler, backend, stopped))
            }
            Start::Later { names, capacity } => {
                let state = state.clone();
                tokio::spawn(async move {
                    let waiting = wait_for_redis(&backend, capacity, &names);
                    let sub = tokio::select! {
                        biased;
                        _ = &mut stopped => return,
                        sub = waiting => sub,
                    };
                    state.store(STARTED_LATE, Ordering::Release);
                    tracing::warn!(
                        what = %names,
                        "subscription started late: Redis was unavailable when it was asked for; messages published before now were missed"
                    );
                    listen(sub, handler, backend, stopped).await;
                })
            }
        };
        Subscription {
            stop: Some(stop),
            task: Some(task),
            state,
        }
    }

    /// True once the server confirmed the subscriptions (at once for a subscription made
    /// while Redis was reachable; later for one that waited for it).
    pub fn is_started(&self) -> bool {
        self.state.load(Ordering::Acquire) != PENDING
    }

    /// True when the subscription was asked for while Redis was unavailable and started only
    /// when it came back: messages published in between were not delivered.
    pub fn started_late(&self) -> bool {
        self.state.load(Ordering::Acquire) == STARTED_LATE
    }

    /// Stops the subscription: lets the handler finish the message in progress, then
    /// unsubscribes by closing the connection. Returns once the task has ended.
    ///
    /// # Cancel safety
    ///
    /// A cancelled `stop` still stops the subscription (dropping it sends the signal), only
    /// without waiting for the task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The task catches handler panics itself; a JoinError here can only be a
            // cancellation at runtime shutdown.
            let _ = task.await;
        }
    }

    /// True once the background task has ended (stopped, or its client was closed).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until the manager behind `backend` can reach Redis (its health flag; its recovery
/// task does the probing) and subscribes; tries again after each failure.
async fn wait_for_redis(backend: &Backend, capacity: usize, names: &Names) -> Subscriber {
    // After a failed attempt (logged by the fallback), wait longer each time, up to a
    // second: a server that refuses the subscription must not be asked 40 times a second.
    let mut pause = PENDING_POLL;
    loop {
        if backend.client().is_some() {
            match subscribe_now(backend, capacity, names).await {
                Ok(sub) => return sub,
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        }
        tokio::time::sleep(PENDING_POLL).await;
    }
}

/// The subscription task: reads events until stopped, decoding and handling messages.
async fn listen<T, F, Fut>(
    mut sub: Subscriber,
    handler: F,
    backend: Backend,
    mut stopped: oneshot::Receiver<()>,
) where
    T: DeserializeOwned + Send + 'static,
    F: Fn(String, T) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: HandlerResult + Send,
{
    // Pause after a failed reconnect attempt (the subscriber already waits for the pool's
    // breaker; this only guards against a tight loop if it has none to wait for).
    let mut pause = Duration::from_millis(50);
    loop {
        let event = tokio::select! {
            biased;
            _ = &mut stopped => {
                // Leave the channels before closing, so that once `stop` returns publishers
                // no longer count this subscriber (closing alone is noticed by the server
                // some time later). Bounded: a dead connection must not delay the stop.
                let _ = tokio::time::timeout(Duration::from_secs(1), sub.unsubscribe_all()).await;
                break;
            }
            e = sub.next() => e,
        };
        match event {
            None => break,
            Some(Ok(PubSubEvent::Message(m))) => {
                pause = Duration::from_millis(50);
                let channel = m.channel_str().into_owned();
                let data = match serde_json::from_slice::<T>(&m.payload) {
                    Ok(d) => d,
                    Err(e) => {
                        // Category and position only: the message can quote the payload.
                        tracing::warn!(
                            channel,
                            json_error = ?e.classify(),
                            line = e.line(),
                            column = e.column(),
                            "pub/sub message is not valid JSON for the handler; skipped"
                        );
                        continue;
                    }
                };
                // Its own task, so a panic is caught at the JoinHandle.
                match tokio::spawn(handler(channel.clone(), data)).await {
                    Ok(outcome) => {
                        if let Some(error) = outcome.into_error_message() {
                            tracing::error!(channel, error, "error handling pub/sub message");
                        }
                    }
                    Err(e) if e.is_panic() => {
                        tracing::error!(channel, "pub/sub handler panicked; continuing");
                    }
                    Err(_) => break,
                }
            }
            Some(Ok(PubSubEvent::Lagged { dropped })) => {
                tracing::warn!(
                    dropped,
                    "pub/sub handler fell behind; messages were dropped"
                );
            }
            Some(Ok(PubSubEvent::Reconnected)) => {
                pause = Duration::from_millis(50);
                tracing::warn!(
                    "pub/sub reconnected and resubscribed; messages published meanwhile were missed"
                );
            }
            Some(Err(e)) => {
                // Through the one fallback (logged, the manager's health updated); the
                // subscriber reconnects by itself, so this loop only waits and reads on.
                backend.note_failure("subscription", "", e);
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                // Capped low: the subscriber already waits for the pool's breaker, and a long
                // pause here would delay noticing a server that is back.
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }
    sub.close();
}
