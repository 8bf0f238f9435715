//! Connections: transport, handshake, and the multiplexed request handle.
//!
//! A [`Connection`] is one socket to one server, shared by any number of concurrent callers.
//! Its socket belongs to a spawned I/O task (see `mux`); the handle only queues requests and
//! waits for replies, so dropping a caller's future at any point is harmless to everyone else.
//!
//! A caller's wait is bounded by a [`Deadline`] fixed when its call started, which may be
//! before this connection existed (a reconnect, a retry): see [`Connection::request_by`].

mod handshake;
mod mux;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use resp_codec::Frame;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub(crate) use handshake::{ConnectOptions, credentials, encode_auth, listens};
pub(crate) use mux::{Out, PushSink};
use mux::{ReplyTx, Shared};

use crate::error::Error;

/// The protocol a connection ended up speaking after its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiatedProtocol {
    /// RESP2: no HELLO, or the server refused `HELLO 3`.
    Resp2,
    /// RESP3, after a successful `HELLO 3`.
    Resp3,
}

/// Told about a tracked connection's push frames and its end: how client-side caching
/// learns of invalidations without this layer knowing about caches.
pub(crate) trait PushHook: Send + Sync {
    /// Offers a push frame, in wire order with the replies; true when it was consumed.
    fn push(&self, frame: &Frame) -> bool;
    /// The connection ended or is ending: called as soon as that is known (possibly more
    /// than once), before any later request could be written to another connection.
    fn closed(&self);
}

/// Server-assisted tracking a connection sets up in its handshake: RESP3 pushes on the
/// connection itself, or, over RESP2, `REDIRECT` to a connection of its own.
pub(crate) trait Tracking: Send + Sync {
    /// The words after `CLIENT TRACKING ON` (`BCAST`, `PREFIX p`, `OPTIN`, ...).
    fn options(&self) -> Vec<bytes::Bytes>;
    /// RESP2: opens the connection that receives the invalidations of a connection made
    /// with `opts` and returns it, for `REDIRECT`.
    fn redirect<'a>(
        &'a self,
        opts: &'a ConnectOptions,
    ) -> futures_core::future::BoxFuture<'a, Result<Redirect, Error>>;
    /// A connection with tracking on is about to serve requests: its hook. `close` ends
    /// that connection (called when its invalidations can no longer arrive).
    fn opened(
        &self,
        redirect: Option<Redirect>,
        close: Box<dyn Fn() + Send + Sync>,
    ) -> Arc<dyn PushHook>;
}

/// The connection a RESP2 connection's invalidations are redirected to.
pub(crate) struct Redirect {
    /// Its server-side id, for `CLIENT TRACKING ON REDIRECT id`.
    pub(crate) id: i64,
    /// The connection itself, closed if the server refuses tracking.
    pub(crate) conn: Connection,
    /// What keeps it open: owned by the tracked connection's hook.
    pub(crate) guard: Box<dyn std::any::Any + Send + Sync>,
}

/// One multiplexed connection to a server.
///
/// Cheap to clone: clones share the socket. When the last clone is dropped, the connection
/// closes and requests still outstanding fail with [`Error::ConnectionClosed`].
#[derive(Clone)]
pub(crate) struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    protocol: NegotiatedProtocol,
    timeout: Option<Duration>,
    server_id: Option<i64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.abort(Error::Closed);
    }
}

/// Removes a queued request when its caller's future is dropped before the request is written.
struct CancelOnDrop<'a> {
    shared: &'a Shared,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancel(self.id);
        }
    }
}

impl Connection {
    /// Connects, performs the handshake and spawns the I/O task (on the current runtime).
    pub(crate) async fn connect(
        opts: &ConnectOptions,
        push: Option<PushSink>,
    ) -> Result<Connection, Error> {
        let established = handshake::establish(opts).await?;
        let shared = mux::new_shared();
        if established.tracking
            && let Some(tracking) = &opts.tracking
        {
            let weak = Arc::downgrade(&shared);
            let close = Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.abort(Error::Io(Arc::new(std::io::Error::other(
                        "the connection receiving its invalidations was lost",
                    ))));
                }
            });
            shared.set_hook(tracking.opened(established.redirect, close));
        }
        let task = mux::IoTask::new(
            established.stream,
            shared.clone(),
            established.decoder,
            established.rbuf,
            push,
        );
        tokio::spawn(task);
        Ok(Connection::from_parts(
            shared,
            established.protocol,
            opts.response_timeout,
            established.client_id,
        ))
    }

    fn from_parts(
        shared: Arc<Shared>,
        protocol: NegotiatedProtocol,
        timeout: Option<Duration>,
        server_id: Option<i64>,
    ) -> Connection {
        Connection {
            inner: Arc::new(Inner {
                shared,
                protocol,
                timeout,
                server_id,
            }),
        }
    }

    /// The protocol negotiated by the handshake.
    pub(crate) fn protocol(&self) -> NegotiatedProtocol {
        self.inner.protocol
    }

    /// The server-side client id (`CLIENT ID`), when the handshake learned it.
    pub(crate) fn client_id(&self) -> Option<i64> {
        self.inner.server_id
    }

    /// True once the connection has failed or closed; it will never work again.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Closes the connection now, failing what is outstanding.
    pub(crate) fn close(&self) {
        self.inner.shared.abort(Error::Closed);
    }

    /// Sends one command (already encoded by `encode`) and waits for its reply, within the
    /// connection's response timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the request is written removes it (it is never sent);
    /// dropping it later discards the reply when it arrives. No other caller is affected.
    pub(crate) async fn request(&self, encode: impl FnOnce(&mut Out<'_>)) -> Result<Frame, Error> {
        self.request_with(encode, Wait::Default).await
    }

    /// Like [`Connection::request`], waiting as `wait` says: for blocking commands, whose
    /// server-side timeout adds to the default, or a caller's own limit.
    pub(crate) async fn request_with(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        wait: Wait,
    ) -> Result<Frame, Error> {
        self.request_by(encode, &Deadline::start(wait, self.inner.timeout))
            .await
    }

    /// Like [`Connection::request`], answered by `deadline`: the caller's wait was counted
    /// from its call, before this connection was found or made.
    ///
    /// The connection itself still judges the server by the whole budget, counted from
    /// now: a caller with little time left gives up (`Timeout`, its reply discarded when it
    /// comes) without failing the connection for everyone else.
    pub(crate) async fn request_by(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        deadline: &Deadline,
    ) -> Result<Frame, Error> {
        let (tx, rx) = oneshot::channel();
        self.wait(encode, 1, deadline, ReplyTx::One(tx), rx).await
    }

    /// Sends several commands in one write and waits for `replies` frames by `deadline`
    /// (see [`Connection::request_by`]).
    ///
    /// # Cancel safety
    ///
    /// As for [`Connection::request`]: the batch is sent whole or not at all.
    pub(crate) async fn request_many_by(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        replies: usize,
        deadline: &Deadline,
    ) -> Result<Vec<Frame>, Error> {
        if replies == 0 {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.wait(encode, replies, deadline, ReplyTx::Many(tx), rx)
            .await
    }

    /// Queues a request and waits for its reply until `deadline`; withdraws it if dropped or
    /// out of time before it is taken.
    async fn wait<T>(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        replies: usize,
        deadline: &Deadline,
        tx: ReplyTx,
        rx: oneshot::Receiver<Result<T, Error>>,
    ) -> Result<T, Error> {
        if deadline.is_past() {
            return Err(deadline.expired(false));
        }
        let shared = &*self.inner.shared;
        let queued = Instant::now();
        let id = shared.submit(encode, replies, deadline.budget, tx)?;
        let mut guard = CancelOnDrop {
            shared,
            id,
            armed: true,
        };
        // The connection fails the request once its whole budget has passed since it was
        // queued. The caller's own timer is needed only when its wait ends sooner: when time
        // went by before the request was queued (waiting for a connection, a redirection).
        // Within a millisecond, the timer's own resolution, the connection's deadline serves,
        // and the common request arms no timer.
        let caller_timer = deadline.at.filter(|&at| {
            deadline
                .budget
                .is_some_and(|b| at + TIMER_SLACK < queued + b)
        });
        let reply = match caller_timer {
            None => rx.await,
            Some(at) => match tokio::time::timeout_at(at, rx).await {
                Ok(reply) => reply,
                Err(_) => {
                    // Out of time. Still queued: withdrawn, never sent. Taken: it may have
                    // been written; its reply will be read and dropped.
                    guard.armed = false;
                    let sent = !shared.cancel(id);
                    return Err(deadline.expired(sent));
                }
            },
        };
        guard.armed = false;
        match reply {
            Ok(result) => result,
            // The I/O task always answers before dropping a sender; this is a last resort.
            Err(_) => Err(Error::ConnectionClosed {
                sent: true,
                cause: None,
            }),
        }
    }

    /// Queues one request now and returns the future of its reply: [`Connection::request`]
    /// without an `async` state machine around it, so that a caller can name its type.
    ///
    /// # Errors
    ///
    /// The connection is closed.
    pub(crate) fn submit(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        wait: Wait,
    ) -> Result<Pending, Error> {
        let (tx, rx) = oneshot::channel();
        let timeout = wait.resolve(self.inner.timeout);
        let id = self
            .inner
            .shared
            .submit(encode, 1, timeout, ReplyTx::One(tx))?;
        Ok(Pending {
            shared: self.inner.shared.clone(),
            id,
            armed: true,
            rx,
        })
    }

    /// Writes a command whose answers arrive as pushes (subscriber commands): nothing waits
    /// for a reply.
    pub(crate) fn send_unanswered(&self, encode: impl FnOnce(&mut Out<'_>)) -> Result<(), Error> {
        self.inner
            .shared
            .submit(encode, 0, None, ReplyTx::None)
            .map(|_| ())
    }

    /// The response timeout requests on this connection get by default: for a subscriber,
    /// which reads its confirmations as pushes rather than through a request.
    pub(crate) fn response_timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }
}

/// The reply of a request queued by [`Connection::submit`].
///
/// # Cancel safety
///
/// As for [`Connection::request`]: dropped before the request is written, it withdraws it;
/// later, the reply is read and discarded when it arrives.
pub(crate) struct Pending {
    shared: Arc<Shared>,
    id: u64,
    armed: bool,
    rx: oneshot::Receiver<Result<Frame, Error>>,
}

impl std::future::Future for Pending {
    type Output = Result<Frame, Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let reply = std::task::ready!(std::pin::Pin::new(&mut self.rx).poll(cx));
        self.armed = false;
        std::task::Poll::Ready(match reply {
            Ok(result) => result,
            // The I/O task always answers before dropping a sender; this is a last resort.
            Err(_) => Err(Error::ConnectionClosed {
                sent: true,
                cause: None,
            }),
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancel(self.id);
        }
    }
}

/// How long a request waits for its reply. The connection owns the default (the configured
/// response timeout); a caller says only how its command differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Wait {
    /// The connection's response timeout.
    #[default]
    Default,
    /// The response timeout plus this long: a command that blocks on the server up to it.
    Plus(Duration),
    /// Exactly this long, or forever (`None`): a caller's own choice, or a command that
    /// blocks on the server until it is answered.
    Exactly(Option<Duration>),
}

impl Wait {
    /// The timeout to apply, given the connection's default.
    fn resolve(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            Wait::Default => default,
            Wait::Plus(extra) => default.map(|d| d.saturating_add(extra)),
            Wait::Exactly(t) => t,
        }
    }
}

/// When a call must be answered: fixed when the call starts and carried through every step
/// of it (waiting for a connection, reconnecting, the retry of a request that was never
/// sent, cluster redirections), so that the timeout bounds the caller's whole wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// `None`: no limit.
    at: Option<Instant>,
    /// The whole budget: reported in [`Error::Timeout`], and the connection's own limit for
    /// the request once it is queued.
    budget: Option<Duration>,
}

impl Deadline {
    /// A deadline starting now, `wait` resolved against the response timeout `default`.
    pub(crate) fn start(wait: Wait, default: Option<Duration>) -> Deadline {
        let budget = wait.resolve(default);
        Deadline {
            at: budget.and_then(|b| Instant::now().checked_add(b)),
            budget,
        }
    }

    /// No limit from a caller: for opening connections outside any call (subscribers,
    /// topology refreshes), which the connect timeout bounds anyway. Never used to send.
    pub(crate) fn unbounded() -> Deadline {
        Deadline {
            at: None,
            budget: None,
        }
    }

    /// The instant the caller's wait ends, if it is bounded.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// The time left, if bounded (zero once past).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn is_past(&self) -> bool {
        self.at.is_some_and(|at| at <= Instant::now())
    }

    /// The error of a call whose deadline passed; `sent` says whether its request may have
    /// been written.
    pub(crate) fn expired(&self, sent: bool) -> Error {
        Error::Timeout {
            after: self.budget.unwrap_or_default(),
            sent,
        }
    }

    /// Runs `step`, which sends nothing (waiting for a connection, connecting), failing with
    /// `Timeout { sent: false }` if the deadline passes first.
    pub(crate) async fn bound<T>(
        &self,
        step: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(at) = self.at else {
            return step.await;
        };
        // Most steps are ready at once (a connection that is up, a slot whose master is
        // known): those get no timer, whose setup and teardown cost more than the step.
        let mut step = std::pin::pin!(step);
        if let Poll::Ready(done) =
            std::future::poll_fn(|cx| Poll::Ready(step.as_mut().poll(cx))).await
        {
            return done;
        }
        tokio::time::timeout_at(at, step)
            .await
            .unwrap_or_else(|_| Err(self.expired(false)))
    }
}

/// How much sooner than the connection's deadline for a request its caller's must end to
/// get a timer of its own (see `Connection::wait`).
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// A bounded channel for push frames, and its receiving end.
pub(crate) fn push_channel(
    capacity: usize,
    all_frames: bool,
    dropped: Arc<std::sync::atomic::AtomicU64>,
) -> (PushSink, mpsc::Receiver<Frame>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        PushSink {
            tx,
            all_frames,
            dropped,
        },
        rx,
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::BytesMut;
    use resp_codec::{Decoder, encode_command};
    use tokio::io::AsyncReadExt;

    use super::*;

    /// A pipe end that does not take vectored writes (as a stream without `writev` would).
    struct Unvectored(tokio::io::DuplexStream);

    impl tokio::io::AsyncRead for Unvectored {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Unvectored {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// A RESP2 connection whose I/O task runs over `stream` (no handshake).
    fn over<S>(stream: S) -> Connection
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = mux::new_shared();
        tokio::spawn(mux::IoTask::new(
            stream,
            shared.clone(),
            Decoder::new(),
            BytesMut::new(),
            None,
        ));
        Connection::from_parts(shared, NegotiatedProtocol::Resp2, None, None)
    }

    /// Requests with shared parts written through a pipe that takes a few hundred bytes at a
    /// time, with vectored writes and without: every part goes out whole, in order, with the
    /// small requests around it, and nothing else.
    #[tokio::test]
    async fn shared_parts_go_out_in_order_through_short_writes() {
        let (ours, peer) = tokio::io::duplex(777);
        assert!(tokio::io::AsyncWrite::is_write_vectored(&ours));
        shared_parts_go_out_in_order(ours, peer).await;
        let (ours, peer) = tokio::io::duplex(777);
        shared_parts_go_out_in_order(Unvectored(ours), peer).await;
    }

    async fn shared_parts_go_out_in_order<S>(ours: S, mut peer: tokio::io::DuplexStream)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let conn = over(ours);
        let value = |n: usize, seed: u8| -> bytes::Bytes {
            (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
        };
        let (one, two, three) = (value(300_000, 1), value(70_000, 2), value(1 << 20, 3));
        let mut expected = Vec::new();
        let mut send = |pieces: Vec<Result<&'static [u8], bytes::Bytes>>| {
            for p in &pieces {
                match p {
                    Ok(b) => expected.extend_from_slice(b),
                    Err(shared) => expected.extend_from_slice(shared),
                }
            }
            conn.send_unanswered(move |out| {
                for p in pieces {
                    match p {
                        Ok(b) => out.extend_from_slice(b),
                        Err(shared) => out.put_shared(shared),
                    }
                }
            })
            .unwrap();
        };
        send(vec![Ok(b"small-1;")]);
        send(vec![Ok(b"head;"), Err(one.clone()), Ok(b";tail;")]);
        send(vec![Ok(b"small-2;")]);
        // More parts than one vectored write takes.
        let mut many = Vec::new();
        for _ in 0..40 {
            many.extend([Err(two.clone()), Ok(&b";"[..])]);
        }
        many.extend([Err(three.clone()), Err(one.clone())]);
        send(many);
        // Values below a segment's size share one with the small requests around them: the
        // shared parts and the copied bytes between them go out in one vectored write.
        let (four, five) = (value(20_000, 4), value(9_000, 5));
        send(vec![Ok(b"*2;"), Err(four.clone()), Ok(b";t4;")]);
        send(vec![Ok(b"small-4;")]);
        send(vec![Err(five.clone()), Err(four.clone()), Ok(b";t5;")]);
        send(vec![Err(five.clone())]);
        send(vec![Ok(b"small-3;")]);
        let mut received = vec![0; expected.len()];
        peer.read_exact(&mut received).await.unwrap();
        assert!(received == expected, "the bytes written differ");
        let mut more = [0u8; 64];
        let extra = tokio::time::timeout(Duration::from_millis(200), peer.read(&mut more)).await;
        assert!(extra.is_err(), "more was written: {extra:?}");
    }

    /// The deadline of a request queued behind a write that does not finish: only the
    /// transport matters here, so the peer is an in-memory pipe that stops reading (nothing
    /// answers, so nothing pretends to be a server).
    #[tokio::test]
    async fn a_request_queued_behind_a_stalled_write_times_out_unsent() {
        let (ours, mut peer) = tokio::io::duplex(64 * 1024);
        let conn = over(ours);

        // A 1 MiB value with a long timeout fills the pipe and stalls.
        let value = vec![b'v'; 1 << 20];
        let mut expected = BytesMut::new();
        encode_command(&mut expected, &[&b"SET"[..], b"big", &value]);
        let big = {
            let conn = conn.clone();
            tokio::spawn(async move {
                conn.request_with(
                    |b| encode_command(b, &[&b"SET"[..], b"big", &value]),
                    Wait::Exactly(Some(Duration::from_secs(600))),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!big.is_finished());

        // Queued behind it with a short timeout (as the pool's health probe is): its deadline
        // counts from now, not from when it could be written, ten minutes from now.
        let started = Instant::now();
        let small = tokio::time::timeout(
            Duration::from_secs(10),
            conn.request_with(
                |b| encode_command(b, &["INCR", "counter"]),
                Wait::Exactly(Some(Duration::from_millis(200))),
            ),
        )
        .await
        .expect("the queued request waited for the stalled write's deadline");
        let waited = started.elapsed();
        assert!(
            matches!(small, Err(Error::Timeout { sent: false, .. })),
            "{small:?}"
        );
        assert!(waited >= Duration::from_millis(200), "{waited:?}");

        // The connection goes on: the large write completes once the peer reads, and the
        // timed-out request was never written.
        let mut received = vec![0; expected.len()];
        peer.read_exact(&mut received).await.unwrap();
        assert_eq!(received, &expected[..]);
        let mut more = [0u8; 64];
        let extra = tokio::time::timeout(Duration::from_millis(200), peer.read(&mut more)).await;
        assert!(extra.is_err(), "more was written: {extra:?}");
        assert!(!big.is_finished(), "the large request has no reply yet");
        assert!(!conn.is_closed());
    }
}
