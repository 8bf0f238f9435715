//! [`futures_core::Stream`] for the types that yield items with an `async fn next`:
//! [`Subscriber`] and [`ScanStream`], through [`IntoStream`].
//!
//! Their `next` methods are async functions borrowing `&mut self`; a `Stream` must keep the
//! future of the call in progress between polls, and a future borrowing its own owner cannot be
//! stored in that owner. [`IntoStream`] owns the source instead and keeps the call in progress,
//! so the `StreamExt` combinators of `futures-util` and `tokio-stream`, `select!` on
//! `stream.next()`, and anything else taking a `Stream` work as with any other stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::Mutex;

use crate::cmd::{PubSubEvent, ScanStream, Subscriber};
use crate::error::Error;

mod sealed {
    /// Keeps [`NextSource`](super::NextSource) implemented by this crate's types only.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// A type with a cancel-safe `async fn next`, which [`IntoStream`] turns into a
/// [`Stream`]: [`Subscriber`] and [`ScanStream`].
pub trait NextSource: sealed::Sealed + Send + 'static {
    /// What `next` yields.
    type Item: Send + 'static;

    #[doc(hidden)]
    fn next_item(&mut self) -> impl Future<Output = Option<Self::Item>> + Send + '_;
}

impl sealed::Sealed for Subscriber {}

impl NextSource for Subscriber {
    type Item = Result<PubSubEvent, Error>;

    fn next_item(&mut self) -> impl Future<Output = Option<Self::Item>> + Send + '_ {
        self.next()
    }
}

impl<T: Send + 'static> sealed::Sealed for ScanStream<T> {}

impl<T: Send + 'static> NextSource for ScanStream<T> {
    type Item = Result<T, Error>;

    fn next_item(&mut self) -> impl Future<Output = Option<Self::Item>> + Send + '_ {
        self.next()
    }
}

type Pending<S> = Pin<Box<dyn Future<Output = Option<<S as NextSource>::Item>> + Send>>;

/// A [`Subscriber`] or a [`ScanStream`] as a [`futures_core::Stream`]: from
/// [`Subscriber::into_stream`] or [`ScanStream::into_stream`].
///
/// Each item is what the source's `next` returns; the stream ends when `next` returns `None`.
/// [`get_mut`](IntoStream::get_mut) and [`into_inner`](IntoStream::into_inner) give the
/// source back (to subscribe to more channels, say); a `next` still in progress is cancelled,
/// which loses nothing, as both sources' `next` is cancel-safe. Dropping the future of
/// `stream.next()` (in a `select!` that chose another branch) keeps the call in progress for
/// the next poll.
///
/// # Examples
///
/// ```no_run
/// use futures_util::StreamExt as _;
/// use redis_manager::{Client, Config, ScanOptions};
///
/// # async fn demo() -> redis_manager::Result<()> {
/// let client = Client::connect(Config::default()).await?;
/// let keys: Vec<_> = client
///     .scan(ScanOptions::default().pattern("user:*"))
///     .into_stream()
///     .filter_map(|key| async move { key.ok() })
///     .take(10)
///     .collect()
///     .await;
/// # drop(keys);
/// # Ok(()) }
/// ```
pub struct IntoStream<S: NextSource> {
    /// Shared with the call in progress, which holds the lock until it finishes.
    source: Arc<Mutex<S>>,
    pending: Option<Pending<S>>,
}

impl<S: NextSource> IntoStream<S> {
    /// The stream of `source`'s items.
    pub fn new(source: S) -> IntoStream<S> {
        IntoStream {
            source: Arc::new(Mutex::new(source)),
            pending: None,
        }
    }

    /// The source, after cancelling the `next` in progress, if any.
    pub fn get_mut(&mut self) -> &mut S {
        self.pending = None;
        Arc::get_mut(&mut self.source)
            .expect("only the cancelled call shared the source")
            .get_mut()
    }

    /// The source, after cancelling the `next` in progress, if any.
    pub fn into_inner(mut self) -> S {
        self.pending = None;
        Arc::try_unwrap(self.source)
            .ok()
            .expect("only the cancelled call shared the source")
            .into_inner()
    }
}

impl<S: NextSource> Stream for IntoStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        let source = &this.source;
        let pending = this.pending.get_or_insert_with(|| {
            let source = Arc::clone(source);
            Box::pin(async move { source.lock_owned().await.next_item().await })
        });
        let item = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(item)
    }
}

impl<S: NextSource + fmt::Debug> fmt::Debug for IntoStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("IntoStream");
        match self.source.try_lock() {
            Ok(source) => d.field("source", &*source),
            Err(_) => d.field("source", &"<in next>"),
        };
        d.field("in_next", &self.pending.is_some()).finish()
    }
}

impl Subscriber {
    /// This subscriber as a [`futures_core::Stream`] of what [`Subscriber::next`] returns.
    /// [`IntoStream::get_mut`] reaches the subscriber again, to subscribe to more channels.
    pub fn into_stream(self) -> IntoStream<Subscriber> {
        IntoStream::new(self)
    }
}

impl<T: Send + 'static> ScanStream<T> {
    /// This scan as a [`futures_core::Stream`] of what [`ScanStream::next`] returns.
    pub fn into_stream(self) -> IntoStream<ScanStream<T>> {
        IntoStream::new(self)
    }
}
