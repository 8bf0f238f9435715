//! [`FaultProxy`]: a TCP proxy on 127.0.0.1 whose behaviour a test switches while traffic
//! flows, for the faults a real server cannot produce on demand.
//!
//! Design: one accept task; per accepted connection one task that dials the target and runs
//! both directions (client to server, server to client) in a `select!` beside a "cut" signal,
//! so cutting can set `SO_LINGER 0` on both sockets before dropping them (a reset, not a
//! polite FIN). The [`Mode`] lives in a `watch` channel and is read before every chunk, so a
//! switch applies to the next chunk of every existing connection. Dropping the proxy aborts
//! the accept task and drops the senders; every connection task then sees its channels close
//! and ends. Timing modes use real time: do not combine them with tokio's paused test clock.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the bytes it reads. Applies to both directions unless stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Forward everything as it arrives.
    #[default]
    PassThrough,
    /// Wait this long before forwarding each chunk read.
    Latency(Duration),
    /// Forward at most this many bytes per second, in pieces of about 10 ms worth.
    Throttle {
        /// Bytes per second, at least 1.
        bytes_per_sec: usize,
    },
    /// Forward each chunk in pieces of `size` bytes, each written and flushed on its own
    /// (`TCP_NODELAY` is set), with `pause` between pieces (zero: just yield), so the reader
    /// sees a frame arrive in many reads.
    Rechunk {
        /// Piece size in bytes, at least 1.
        size: usize,
        /// Wait between pieces.
        pause: Duration,
    },
    /// Forward nothing in either direction and keep every socket open, like a network
    /// partition. Nothing is lost: bytes already read are held, the rest waits in the kernel,
    /// and all of it flows again when the mode changes (like TCP after a partition heals).
    /// New connections are accepted and dialled but carry nothing either.
    Blackhole,
    /// Forward requests to the server, discard its replies (lost for good): the server
    /// executes commands whose outcome the client never learns.
    DropReplies,
    /// Forward requests; forward at most this many more bytes of replies on each connection
    /// (counted from when the connection first sees this mode), then close the connection,
    /// cutting a reply in the middle.
    CloseAfter(usize),
}

/// How [`FaultProxy::cut_all`] ends connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// RST on both sockets.
    Reset,
    /// An orderly close (FIN) of both sockets.
    Close,
}

/// Which way bytes flow through a pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// How a pump or a connection ended.
#[derive(Debug)]
enum End {
    /// The source sent EOF; the FIN was passed on.
    Eof,
    /// A read or write failed.
    Failed,
    /// `CloseAfter` ran out.
    Budget,
    /// `cut_all` (or the proxy was dropped).
    Cut(Cut),
}

/// A fault-injecting TCP proxy from `addr()` to a target address. Stops when dropped.
#[derive(Debug)]
pub(crate) struct FaultProxy {
    addr: SocketAddr,
    /// The mode, paired with a generation number so `CloseAfter` can tell a new setting from
    /// the one it already counted down.
    mode: watch::Sender<(u64, Mode)>,
    cut: watch::Sender<(u64, Cut)>,
    counters: Arc<Counters>,
    accept: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicUsize,
    active: AtomicUsize,
}

/// Decrements `active` when a connection task ends, however it ends.
struct ActiveGuard(Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target` (for example
    /// `server.addr()`), in [`Mode::PassThrough`].
    ///
    /// # Panics
    ///
    /// If the listener cannot be bound.
    pub(crate) async fn start(target: impl Into<String>) -> FaultProxy {
        let target: String = target.into();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the proxy on 127.0.0.1:0");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, mode_rx) = watch::channel((0, Mode::PassThrough));
        let (cut, cut_rx) = watch::channel((0, Cut::Close));
        let counters = Arc::new(Counters::default());
        let accept = tokio::spawn(accept_loop(
            listener,
            target,
            mode_rx,
            cut_rx,
            counters.clone(),
        ));
        FaultProxy {
            addr,
            mode,
            cut,
            counters,
            accept,
        }
    }

    /// The address clients should connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients should connect to (on 127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Switches the behaviour; applies to the next chunk on every connection, existing ones
    /// included.
    pub(crate) fn set_mode(&self, mode: Mode) {
        if let Mode::Throttle { bytes_per_sec: 0 } | Mode::Rechunk { size: 0, .. } = mode {
            panic!("{mode:?}: rates and sizes must be at least 1");
        }
        self.mode.send_modify(|(generation, m)| {
            *generation += 1;
            *m = mode;
        });
    }

    /// The current behaviour.
    pub(crate) fn mode(&self) -> Mode {
        self.mode.borrow().1
    }

    /// Resets (RST) every current connection, both the client's and the server's side. New
    /// connections are accepted as usual.
    pub(crate) fn cut_all(&self) {
        self.send_cut(Cut::Reset);
    }

    /// Closes every current connection with an orderly FIN on both sides.
    pub(crate) fn close_all(&self) {
        self.send_cut(Cut::Close);
    }

    fn send_cut(&self, kind: Cut) {
        self.cut.send_modify(|(generation, k)| {
            *generation += 1;
            *k = kind;
        });
    }

    /// Connections open right now.
    pub(crate) fn active_connections(&self) -> usize {
        self.counters.active.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub(crate) fn accepted_connections(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `active_connections()` is `n`, for at most `timeout`; returns whether it
    /// got there. Connection tasks end asynchronously, so tests wait rather than assert.
    pub(crate) async fn wait_for_active(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.active_connections() != n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // The senders drop with `self`: every connection task sees its `cut` channel close
        // and ends, closing its sockets.
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: String,
    mode: watch::Receiver<(u64, Mode)>,
    cut: watch::Receiver<(u64, Cut)>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        counters.accepted.fetch_add(1, Ordering::SeqCst);
        counters.active.fetch_add(1, Ordering::SeqCst);
        let guard = ActiveGuard(counters.clone());
        let target = target.clone();
        let mode = mode.clone();
        let mut cut = cut.clone();
        // Only cuts sent after this connection was accepted apply to it.
        cut.mark_unchanged();
        tokio::spawn(async move {
            let _guard = guard;
            // If the target is down, dropping the client's socket tells it so, as a refused
            // connection would.
            if let Ok(server) = TcpStream::connect(target.as_str()).await {
                proxy_connection(client, server, mode, cut).await;
            }
        });
    }
}

async fn proxy_connection(
    mut client: TcpStream,
    mut server: TcpStream,
    mode: watch::Receiver<(u64, Mode)>,
    mut cut: watch::Receiver<(u64, Cut)>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = pump(client_read, server_write, Direction::ToServer, mode.clone());
        let down = pump(server_read, client_write, Direction::ToClient, mode);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                end = &mut up, if !up_done => match end {
                    End::Eof => up_done = true,
                    other => break other,
                },
                end = &mut down, if !down_done => match end {
                    End::Eof => down_done = true,
                    other => break other,
                },
                changed = cut.changed() => match changed {
                    Ok(()) => break End::Cut(cut.borrow().1),
                    // The proxy was dropped.
                    Err(_) => break End::Cut(Cut::Close),
                },
            }
            if up_done && down_done {
                break End::Eof;
            }
        }
    };
    if matches!(end, End::Cut(Cut::Reset) | End::Failed) {
        // Zero linger: closing sends RST at once and never blocks.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// Copies `from` to `to` chunk by chunk, applying the current mode to each chunk.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    direction: Direction,
    mut mode: watch::Receiver<(u64, Mode)>,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    // (generation of the CloseAfter setting being counted, bytes left)
    let mut budget: Option<(u64, usize)> = None;
    loop {
        // Do not even read while blackholed: the bytes wait in the kernel.
        current_mode(&mut mode).await;
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Failed,
        };
        // The mode may have changed while reading: hold the chunk through a blackhole.
        let (generation, current) = current_mode(&mut mode).await;
        let data = &buf[..n];
        let result = match (current, direction) {
            (Mode::PassThrough | Mode::Blackhole, _)
            | (Mode::DropReplies | Mode::CloseAfter(_), Direction::ToServer) => {
                to.write_all(data).await
            }
            (Mode::Latency(delay), _) => {
                tokio::time::sleep(delay).await;
                to.write_all(data).await
            }
            (Mode::Throttle { bytes_per_sec }, _) => throttle(&mut to, data, bytes_per_sec).await,
            (Mode::Rechunk { size, pause }, _) => rechunk(&mut to, data, size, pause).await,
            (Mode::DropReplies, Direction::ToClient) => Ok(()),
            (Mode::CloseAfter(limit), Direction::ToClient) => {
                let left = match budget {
                    Some((g, left)) if g == generation => left,
                    _ => limit,
                };
                let take = left.min(n);
                budget = Some((generation, left - take));
                let written = to.write_all(&data[..take]).await.and(to.flush().await);
                if take == left {
                    return End::Budget;
                }
                written
            }
        };
        if result.is_err() {
            return End::Failed;
        }
    }
}

/// The current mode, after waiting out any blackhole. If the proxy is gone, pass through:
/// the connection is about to be closed anyway.
async fn current_mode(mode: &mut watch::Receiver<(u64, Mode)>) -> (u64, Mode) {
    loop {
        let current = *mode.borrow_and_update();
        if current.1 != Mode::Blackhole {
            return current;
        }
        if mode.changed().await.is_err() {
            return (current.0, Mode::PassThrough);
        }
    }
}

async fn throttle(
    to: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
    bytes_per_sec: usize,
) -> io::Result<()> {
    let piece = (bytes_per_sec / 100).max(1);
    for chunk in data.chunks(piece) {
        to.write_all(chunk).await?;
        to.flush().await?;
        tokio::time::sleep(Duration::from_secs_f64(
            chunk.len() as f64 / bytes_per_sec as f64,
        ))
        .await;
    }
    Ok(())
}

async fn rechunk(
    to: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
    size: usize,
    pause: Duration,
) -> io::Result<()> {
    for (i, chunk) in data.chunks(size).enumerate() {
        if i > 0 {
            if pause.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pause).await;
            }
        }
        to.write_all(chunk).await?;
        to.flush().await?;
    }
    Ok(())
}
