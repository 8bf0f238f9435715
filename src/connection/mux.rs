//! The multiplexer: one task owns the socket, writes queued requests in batches and hands each
//! reply to the request it answers.
//!
//! # Design
//!
//! Callers never touch the socket. A request is encoded straight into the shared write queue
//! under a short lock, together with a `Queued` entry holding its reply channel. The queue is a
//! FIFO of segments (the closed ones in `Queue::segs`, then `Queue::open`), each its own
//! allocation: small requests coalesce into the open segment until it holds [`WRITE_BATCH`]
//! bytes; a request that takes it past that is split off into a segment of its own, both are
//! closed, and a fresh open segment takes the next request. The I/O task ([`IoTask`], a
//! hand-written future) takes the front segment whole, so every small request that arrived
//! while it was busy goes out in one `write` (automatic pipelining), and moves the entries
//! into `in_flight`, the FIFO that replies are matched against. Why
//! segments: with one contiguous queue, a batch cut off its front shared the allocation with
//! the rest, so the next caller's append reallocated and copied everything queued behind a
//! large value (at 512 callers of 1 MiB, most of the client's CPU); now a large value is
//! never moved again once queued.
//!
//! A command of `command::SHARE_MIN` bytes or more (8 KiB) is not copied into the queue at
//! all: its caller writes the array header through [`Out`] and hands over the arguments as a
//! shared `Bytes` ([`Out::put_shared`]; the command keeps a reference, so a retry or a
//! redirection sends the same buffer again). A segment ([`Seg`]) is therefore a list of
//! parts followed by a copied tail: a shared part freezes the tail so far (earlier requests'
//! bytes and its own header) into a part and is appended after it, and the bytes that follow
//! go into the tail again. So small and mid-size requests still coalesce into one segment,
//! written with vectored writes (up to [`WRITE_SLICES`] parts per `writev`, the tail with
//! them; one part per `write` on a stream without them). The batch rule is the same for
//! every request: one that takes the open segment past [`WRITE_BATCH`] is split off at its
//! start into a segment of its own (cutting a part in two when the earlier bytes were
//! frozen with its header), so a 1 MiB value is still written alone. Measured, 1 MiB values:
//! 2.17 M → 1.12 M client instructions per SET + GET; 16 KiB values: see `PERF.md`.
//!
//! Invariants, which together make cancellation and failure safe:
//!
//! - `in_flight` holds exactly one entry per request written, in write order. Every non-push
//!   frame read completes the front entry; if its caller has gone, the frame is dropped. So a
//!   cancelled caller's reply is read and discarded, never delivered to anyone else.
//! - A request whose caller has gone before the I/O task takes it is removed with its bytes:
//!   it is never sent (`Shared::cancel` when its future is dropped, and the `is_closed` check at
//!   take time). So is one whose deadline passed while it was queued; its caller gets
//!   `Timeout { sent: false }` and the connection is unaffected.
//! - The task writes whole segments from its own buffers (`wparts` then `wbuf`: a segment's
//!   parts, then its tail); a request's bytes never span two segments (the split happens at
//!   its start), so they are never split between the queue and the socket, and nothing is
//!   left half written by a cancelled caller. Nothing ever writes to a shared part (removal
//!   and splitting cut `Bytes` views of it), so sharing it with the command is safe.
//! - Each `Queued` names its segment by number (`seg`, counted from `first_seg`, the number of
//!   `segs.front()`; the open segment, `Queue::open`, comes after `segs`) and its end within
//!   it; entries are in segment order, so a segment's entries are a run of `queued`. A
//!   segment leaves the queue only from the front, whole, with its run of entries (the open
//!   one by a swap with the emptied write buffer, the common case with small requests);
//!   removing a request removes its bytes from its segment only, which may leave an empty
//!   segment in place (skipped at take time) so numbers stay valid. Offsets (`end`) count
//!   across a segment's parts and tail alike; `Seg::remove` cuts a range out of either (the
//!   tail in place when the range lies in it, the common case; otherwise the list of parts
//!   is rebuilt from views that leave the range out).
//! - What must change together: `Out` and `Seg::put_shared` (how a request's bytes are laid
//!   out), `submit` and `Seg::split_off` (which segment they go to), `Seg::remove` (how they
//!   are taken back), `take_queued` and `poll_write_parts` (how they are written).
//! - Push frames (RESP3 `>`) are routed to the push sink before matching, never taken as a
//!   reply.
//! - When the task ends, for whatever reason, every queued request fails with
//!   `ConnectionClosed { sent: false }` and every in-flight one with `sent: true` (or the error
//!   that killed the connection), and the queue is closed to new requests. Nothing waits forever.
//! - Scheduling: woken from idle, the task first steps behind the tasks ready now, so that
//!   every ready caller queues before it writes; and it wakes at most `dispatch_batch` callers
//!   per turn before letting them run, so their next requests go out while it hands out the
//!   rest. The server then works on one batch while the client works on another instead of
//!   the two taking turns. Both steps are a self-wake (`wake_by_ref` inside `poll`), which
//!   tokio answers by putting the task at the back of the run queue; never `yield_now`, whose
//!   task waits until the worker has polled the I/O driver: one `epoll_wait` per turn, which
//!   with 8 callers was 0.9 syscalls per operation.
//! - Reading: a read is given `read_chunk` bytes of room, doubled while reads fill it and
//!   halved when they use little of it (`next_read_chunk`), so a busy stream of mid-size
//!   replies costs a few replies per syscall and an idle connection keeps a small buffer.
//!   `rbuf` grows geometrically, except under a large top-level bulk reply (64 KiB
//!   to 16 MiB): once its header is consumed, what has arrived of it moves to an allocation
//!   of exactly its size (`bulk_want`, `dedicated`), so it is not copied again as the buffer
//!   doubles, and `rbuf` lets go of that allocation when the frame is complete, before the
//!   frame is handed over, so the caller owns it alone and takes it as a `Vec<u8>` or
//!   `String` without a copy. An announced length is trusted only up to 16 MiB: a header
//!   alone must not make a connection reserve more. Both fields are reset whenever a frame
//!   completes.
//! - A response timeout fails the whole connection: after it, the reply order can no longer be
//!   trusted by anyone outside this task, and a silent server (SIGSTOP, blackhole) must not hold
//!   requests hostage. A request's deadline here counts from when it was queued (so time
//!   spent behind other writes is part of it) and is the whole budget of its call: the
//!   connection's judgement of the server. The caller's own wait, which started earlier (at
//!   the call, before a reconnect), is bounded in `Connection::wait`; a caller out of time
//!   withdraws a queued request or abandons a written one (its reply is read and dropped)
//!   without failing the connection for others. The timer is one `Sleep` for
//!   the connection, re-armed lazily to the deadline of the oldest in-flight request (and,
//!   while a write is unfinished, of the requests queued behind it), so there is no timer per
//!   request.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use resp_codec::{Decoder, Frame};
use std::io::IoSlice;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use crate::error::Error;

/// Where a reply goes.
pub(crate) enum ReplyTx {
    One(oneshot::Sender<Result<Frame, Error>>),
    Many(oneshot::Sender<Result<Vec<Frame>, Error>>),
    /// Nobody waits: the frames are read and dropped (subscriber commands use pushes instead).
    None,
}

impl ReplyTx {
    fn is_closed(&self) -> bool {
        match self {
            ReplyTx::One(tx) => tx.is_closed(),
            ReplyTx::Many(tx) => tx.is_closed(),
            ReplyTx::None => false,
        }
    }

    fn fail(self, err: Error) {
        match self {
            ReplyTx::One(tx) => drop(tx.send(Err(err))),
            ReplyTx::Many(tx) => drop(tx.send(Err(err))),
            ReplyTx::None => {}
        }
    }
}

/// A request queued but not yet taken by the I/O task.
struct Queued {
    id: u64,
    /// The number of the segment holding this request's bytes (see `Queue::first_seg`).
    seg: u64,
    /// End of this request's bytes in its segment.
    end: usize,
    replies: usize,
    timeout: Option<Duration>,
    /// When the caller's response timeout runs out, counted from `submit`: time spent queued
    /// behind other writes is part of the wait the caller asked to bound.
    deadline: Option<Instant>,
    tx: ReplyTx,
}

/// A request written to the socket, waiting for its replies.
struct InFlight {
    replies: usize,
    timeout: Duration,
    frames: Vec<Frame>,
    deadline: Option<Instant>,
    tx: ReplyTx,
}

/// A segment of the write queue: shared parts (`Bytes`, never copied), then `tail`, the bytes
/// copied in after the last of them. A segment of small requests only has no parts and is
/// one buffer; a command with a shared part (see [`Out::put_shared`]) freezes what `tail`
/// held before it into a part, then adds its own.
#[derive(Default)]
struct Seg {
    parts: VecDeque<Bytes>,
    /// The total length of `parts`.
    parts_len: usize,
    tail: BytesMut,
}

impl Seg {
    fn from_buf(tail: BytesMut) -> Seg {
        Seg {
            parts: VecDeque::new(),
            parts_len: 0,
            tail,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.parts_len + self.tail.len()
    }

    fn clear(&mut self) {
        self.parts.clear();
        self.parts_len = 0;
        self.tail.clear();
    }

    /// Adds `part` after everything in the segment, without copying it.
    fn put_shared(&mut self, part: Bytes) {
        if part.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            // The bytes copied so far (earlier requests', this one's header) go first; the
            // tail keeps its spare capacity for what follows.
            let head = self.tail.split().freeze();
            self.parts_len += head.len();
            self.parts.push_back(head);
        }
        self.parts_len += part.len();
        self.parts.push_back(part);
    }

    /// Removes the bytes `start..end`. Shared parts are cut, never written to.
    fn remove(&mut self, start: usize, end: usize) {
        if start >= self.parts_len {
            // Only copied bytes (every request of a segment without parts).
            let (start, end) = (start - self.parts_len, end - self.parts_len);
            if start == 0 && end == self.tail.len() && end >= WRITE_BATCH {
                // The request is the whole segment (a large one): let go of its allocation.
                self.tail = BytesMut::new();
            } else {
                let mut rest = self.tail.split_off(start);
                rest.advance(end - start);
                self.tail.unsplit(rest);
            }
            return;
        }
        // The range touches a shared part (rare: a withdrawn request with one): rebuild the
        // list of parts without it, the copied tail included as a part.
        let tail = self.tail.split().freeze();
        let mut kept = VecDeque::with_capacity(self.parts.len() + 1);
        let mut at = 0;
        for part in self.parts.drain(..).chain(Some(tail)) {
            let (from, to) = (at, at + part.len());
            at = to;
            if start > from {
                kept.push_back(part.slice(..start.min(to) - from));
            }
            if end < to {
                kept.push_back(part.slice(end.max(from) - from..));
            }
        }
        kept.retain(|p| !p.is_empty());
        self.parts_len = kept.iter().map(Bytes::len).sum();
        self.parts = kept;
    }

    /// Splits the segment at `at`: `self` keeps what is before it.
    fn split_off(&mut self, at: usize) -> Seg {
        if at >= self.parts_len {
            return Seg::from_buf(self.tail.split_off(at - self.parts_len));
        }
        let mut after = Seg::default();
        let mut from = self.parts_len;
        while let Some(mut part) = self.parts.pop_back() {
            from -= part.len();
            if from < at {
                let second = part.split_off(at - from);
                self.parts.push_back(part);
                after.parts.push_front(second);
                break;
            }
            after.parts.push_front(part);
        }
        after.parts.retain(|p| !p.is_empty());
        after.parts_len = after.parts.iter().map(Bytes::len).sum();
        self.parts_len -= after.parts_len;
        after.tail = std::mem::take(&mut self.tail);
        after
    }
}

struct Queue {
    /// Queued bytes, one allocation per segment, in write order (see the design note).
    /// The closed segments before `open`.
    segs: VecDeque<Seg>,
    /// The segment new requests are encoded into, numbered `first_seg + segs.len()`.
    open: Seg,
    /// The number of `segs.front()` (of `open` when `segs` is empty); numbers only grow.
    first_seg: u64,
    /// An emptied write buffer kept for the next segment, so that a steady flow of small
    /// requests reuses two allocations instead of making one per batch.
    spare: Option<BytesMut>,
    queued: VecDeque<Queued>,
    next_id: u64,
    /// The I/O task's waker, present while it is idle waiting for requests.
    waker: Option<Waker>,
    /// Set once the connection is finished; new requests fail with it.
    closed: Option<Error>,
    /// Set by a caller whose reply timed out, or by `close`: the task must end.
    abort: Option<Error>,
    /// No later than the earliest deadline in `queued` (it may be stale, and then early:
    /// `expire_queued` makes it exact), so a stalled write need not scan the queue per wake.
    earliest: Option<Instant>,
}

/// State shared between request handles and the I/O task.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    /// Mirrors `closed.is_some() || abort.is_some()` so the pool can check health per request
    /// without taking the lock.
    done: AtomicBool,
    /// Client-side caching's hook on a tracked connection (set before the task starts): it
    /// takes invalidation pushes in wire order with the replies, and is told at once when
    /// the connection ends, so that nothing read through it is served afterwards.
    hook: OnceLock<Arc<dyn super::PushHook>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock can only come from a bug in this module; the queue
        // is still structurally valid, so keep going rather than poisoning every caller.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a request: `encode` appends its bytes. Returns its id for cancellation.
    pub(crate) fn submit(
        &self,
        encode: impl FnOnce(&mut Out<'_>),
        replies: usize,
        timeout: Option<Duration>,
        tx: ReplyTx,
    ) -> Result<u64, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut guard = self.lock();
        if let Some(err) = &guard.closed {
            return Err(err.lost(false));
        }
        let q = &mut *guard;
        let start = q.open.len();
        encode(&mut Out { seg: &mut q.open });
        let mut end = q.open.len();
        let mut seg = q.first_seg + q.segs.len() as u64;
        if end >= WRITE_BATCH {
            if start > 0 {
                // This request goes in a segment of its own, so that the one before stays a
                // batch of at most WRITE_BATCH bytes and neither is copied again.
                let own = q.open.split_off(start);
                let before = std::mem::replace(&mut q.open, own);
                q.segs.push_back(before);
                end -= start;
                seg += 1;
            }
            let next = Seg::from_buf(q.spare.take().unwrap_or_default());
            let full = std::mem::replace(&mut q.open, next);
            q.segs.push_back(full);
        }
        let id = q.next_id;
        q.next_id += 1;
        q.queued.push_back(Queued {
            id,
            seg,
            end,
            replies,
            timeout,
            deadline,
            tx,
        });
        if let Some(d) = deadline {
            q.earliest = Some(q.earliest.map_or(d, |e| e.min(d)));
        }
        let waker = q.waker.take();
        drop(guard);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(id)
    }

    /// Removes request `id` if it has not been taken for writing. True when removed: it will
    /// never be sent.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let mut q = self.lock();
        let Some(pos) = q.queued.iter().position(|r| r.id == id) else {
            return false;
        };
        remove_queued(&mut q, pos);
        true
    }

    /// Asks the I/O task to end the connection, failing what is outstanding with `err`.
    pub(crate) fn abort(&self, err: Error) {
        self.done.store(true, Ordering::Release);
        // From here on no invalidation is read: the hook must forget this connection now,
        // not when the task gets round to ending.
        self.hook_closed();
        let mut q = self.lock();
        if q.abort.is_none() {
            q.abort = Some(err);
        }
        let waker = q.waker.take();
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once the connection has ended (or is ending).
    pub(crate) fn is_closed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Installs the push hook; before the I/O task is spawned.
    pub(crate) fn set_hook(&self, hook: Arc<dyn super::PushHook>) {
        let _ = self.hook.set(hook);
    }

    fn hook_closed(&self) {
        if let Some(hook) = self.hook.get() {
            hook.closed();
        }
    }
}

/// Where a request's bytes go while it is encoded, under the queue's lock: the open segment's
/// copied tail (through `Deref`), and its shared parts ([`Out::put_shared`]: a command's
/// arguments when it is [`crate::command::SHARE_MIN`] long or more), in the order written.
pub(crate) struct Out<'a> {
    seg: &'a mut Seg,
}

impl Out<'_> {
    /// Adds `part` after what the request wrote so far, without copying it.
    pub(crate) fn put_shared(&mut self, part: Bytes) {
        self.seg.put_shared(part);
    }
}

impl std::ops::Deref for Out<'_> {
    type Target = BytesMut;

    #[inline]
    fn deref(&self) -> &BytesMut {
        &self.seg.tail
    }
}

impl std::ops::DerefMut for Out<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.seg.tail
    }
}

/// Removes `q.queued[pos]` and its bytes from the queue (from its segment; an emptied
/// segment stays, so that segment numbers stay valid).
fn remove_queued(q: &mut Queue, pos: usize) -> Queued {
    let seg = q.queued[pos].seg;
    let start = match pos.checked_sub(1).map(|p| &q.queued[p]) {
        Some(prev) if prev.seg == seg => prev.end,
        _ => 0,
    };
    let end = q.queued[pos].end;
    let removed = end - start;
    let idx = usize::try_from(seg - q.first_seg).expect("segment in range");
    let buf = if idx == q.segs.len() {
        &mut q.open
    } else {
        &mut q.segs[idx]
    };
    buf.remove(start, end);
    let gone = q.queued.remove(pos).expect("pos is in range");
    if q.queued.is_empty() {
        // Every segment is empty now: drop them rather than let a run of withdrawn requests
        // leave a trail of them.
        q.first_seg += q.segs.len() as u64;
        q.segs.clear();
        return gone;
    }
    for later in q.queued.iter_mut().skip(pos) {
        if later.seg != seg {
            break;
        }
        later.end -= removed;
    }
    gone
}

/// Removes the queued requests that must not be written: those whose caller has gone, and
/// those whose deadline has passed while they waited (their callers get a timeout that says
/// nothing was sent; the connection is unaffected, as nothing of theirs is on the wire).
/// Returns the earliest deadline among the requests left.
fn expire_queued(q: &mut Queue, now: Instant) -> Option<Instant> {
    let mut earliest: Option<Instant> = None;
    let mut i = 0;
    while i < q.queued.len() {
        let r = &q.queued[i];
        if r.tx.is_closed() {
            remove_queued(q, i);
        } else if r.deadline.is_some_and(|d| d <= now) {
            let r = remove_queued(q, i);
            r.tx.fail(Error::Timeout {
                after: r.timeout.unwrap_or_default(),
                sent: false,
            });
        } else {
            if let Some(d) = r.deadline {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            i += 1;
        }
    }
    q.earliest = earliest;
    earliest
}

/// Before a batch is taken: the whole queue is pruned ([`expire_queued`]) when a deadline may
/// have passed (`Queue::earliest`), otherwise only the requests the batch takes
/// ([`drop_abandoned`]); the rest are looked at when their turn comes. (A whole scan per batch
/// made a request's cost grow with the queue behind it: at 512 callers of 16 KiB values, 29 %
/// of the client's instructions per operation.)
fn prune_queued(q: &mut Queue, now: Instant) {
    if q.earliest.is_some_and(|e| e <= now) {
        expire_queued(q, now);
    } else {
        drop_abandoned(q);
    }
}

/// Removes, from the front of the queue, the requests whose callers have gone, up to the end
/// of the first segment that has a request left: the requests the next batch takes.
fn drop_abandoned(q: &mut Queue) {
    let mut kept_seg = None;
    let mut i = 0;
    while let Some(r) = q.queued.get(i) {
        if kept_seg.is_some_and(|s| s != r.seg) {
            break;
        }
        if r.tx.is_closed() {
            remove_queued(q, i);
        } else {
            kept_seg = Some(r.seg);
            i += 1;
        }
    }
}

/// Where push frames go.
pub(crate) struct PushSink {
    pub(crate) tx: mpsc::Sender<Frame>,
    /// When true every frame is a push: a RESP2 subscriber receives messages as plain arrays,
    /// and subscription confirmations arrive as messages, not replies.
    pub(crate) all_frames: bool,
    /// Frames dropped because the consumer's buffer was full.
    pub(crate) dropped: Arc<AtomicU64>,
}

/// The future that owns a connection's socket. Spawn it; it ends when the connection does.
pub(crate) struct IoTask<S> {
    stream: S,
    shared: Arc<Shared>,
    decoder: Decoder,
    rbuf: BytesMut,
    /// The segment being written, when it is a buffer: empty otherwise.
    wbuf: BytesMut,
    /// The segment being written, when it is a request's parts: empty otherwise.
    wparts: VecDeque<Bytes>,
    in_flight: VecDeque<InFlight>,
    push: Option<PushSink>,
    sleep: Pin<Box<Sleep>>,
    sleep_armed: bool,
    /// Set when the task goes idle: the next wake-up (usually a caller queueing a request)
    /// first yields once, see `poll`.
    yield_first: bool,
    /// The last dispatch stopped at its batch size: complete replies may be buffered.
    backlog: bool,
    /// While a large top-level bulk reply arrives: the bytes `rbuf` must hold for it to be
    /// complete (its payload and CRLF; the header is already consumed). 0 otherwise.
    bulk_want: usize,
    /// `rbuf` is an allocation made for one large bulk reply (see `poll_read`).
    dedicated: bool,
    /// How much room a read is given (see [`next_read_chunk`]).
    read_chunk: usize,
    /// `finish` has run: every caller has its answer.
    finished: bool,
}

/// Callers woken per turn before the task lets them run (see `poll_inner`): a quarter of the
/// requests in flight, so that about four waves of requests overlap between client and
/// server, then from 16 in flight on four or an eighth, whichever is more; at least one,
/// and at most 32 so that the first callers of a turn write again soon.
///
/// Why it scales: each turn's callers queue their next requests as one write, and the server
/// answers them as one batch. Too large a turn for the concurrency and client and server take
/// turns instead of overlapping: a floor of 8 gave 0.5–0.8× redis-rs's ops/s with 8 callers.
/// Too small a turn and every request is a write of its own: an eighth (one caller per turn
/// up to 15 in flight) gave 0.75–0.77× with 8 callers and 1.05–1.07× with 16, where a
/// quarter gives 1.35–1.36× and 1.54–1.58×, and half 1.28–1.32× and 1.74–1.79× but less at
/// 64 (2.5–2.8× against a quarter's 2.8–2.9×; peer comparison, 100 B values, two runs of
/// each on a quiet machine). A turn does not yield to the I/O driver (see the design note),
/// so a small turn costs no `epoll_wait`.
///
/// Past 32 in flight, an eighth: on another machine (100 B values, five interleaved reps,
/// the quarter and the eighth one after the other) the eighth gave 0.95–0.99× against
/// 0.74–0.80× with 32 callers and 2.21–2.26× against 1.51–1.61× with 64, and the same at 16
/// and 512. More waves keep both sides busy: a server or client that runs out of work
/// between two waves sleeps, and on a virtual machine the wakeup after it is dear.
fn dispatch_batch(in_flight: usize) -> usize {
    let batch = if in_flight < 16 {
        in_flight / 4
    } else {
        (in_flight / 8).max(4)
    };
    batch.clamp(1, 32)
}

/// Bytes of queued requests taken into one write batch, unless the first request alone is
/// larger: enough that batching loses nothing (a pipeline of a thousand small commands fits),
/// small enough that the requests behind a large value stay withdrawable until it is out.
const WRITE_BATCH: usize = 64 * 1024;

/// The most parts given to one vectored write: a pipeline of 32 large values (a header and a
/// value each) per syscall, and a stack array small enough to build per call. (Linux takes up
/// to 1024.)
const WRITE_SLICES: usize = 64;

/// Top-level bulk replies at least this long get a read allocation of their own, sized to
/// them (see `poll_read`); shorter ones are not worth the extra allocation.
const DEDICATED_MIN: usize = 64 * 1024;

/// The largest bulk reply whose announced length is reserved before its bytes arrive: a
/// header alone (a hostile or broken server) can make a connection allocate this much, no
/// more. Longer replies grow the buffer geometrically as their bytes arrive.
const DEDICATED_MAX: usize = 16 * 1024 * 1024;

/// The bytes a bulk reply starting `buf` needs after its header (payload and CRLF), when its
/// header is complete and announces between [`DEDICATED_MIN`] and [`DEDICATED_MAX`] bytes; 0
/// otherwise. The decoder validates the header itself: this only sizes the buffer.
#[inline]
fn announced_bulk(buf: &[u8]) -> usize {
    // A sixth byte that is a digit means five digits at least (a length of 10000 or more):
    // checked first, so that any other reply costs a few comparisons per frame.
    match buf.get(..8) {
        Some(&[b'$', .., d5, _, _]) if d5.is_ascii_digit() => {}
        _ => return 0,
    }
    let mut len: usize = 0;
    for &b in buf[1..].iter().take(9) {
        match b {
            b'0'..=b'9' => len = len * 10 + usize::from(b - b'0'),
            b'\r' => {
                return if (DEDICATED_MIN..=DEDICATED_MAX).contains(&len) {
                    len + 2
                } else {
                    0
                };
            }
            _ => return 0,
        }
    }
    0
}

/// Read buffer growth step: big enough that a burst of small replies is one syscall, small
/// enough to not matter per connection.
const READ_CHUNK: usize = 16 * 1024;

/// The most room a read is given when the replies keep filling it (see [`next_read_chunk`]).
const READ_CHUNK_MAX: usize = 128 * 1024;

/// The room for the next read, after a read that got `n` bytes into `room` with `chunk` the
/// room asked for. A read that fills its room says the socket holds more: the next one gets
/// twice as much, up to [`READ_CHUNK_MAX`], so that a stream of replies of several KiB is read
/// a few replies per syscall (64 tasks reading 16 KiB values made one `recvfrom` per reply
/// with a fixed 16 KiB). A read that uses less than an eighth halves it again, down to
/// [`READ_CHUNK`]: a reply handed out as a slice of the buffer keeps the buffer's allocation
/// alive, so connections that are not busy keep theirs small.
fn next_read_chunk(chunk: usize, n: usize, room: usize) -> usize {
    if n >= room {
        (chunk * 2).min(READ_CHUNK_MAX)
    } else if n < chunk / 8 {
        (chunk / 2).max(READ_CHUNK)
    } else {
        chunk
    }
}

pub(crate) fn new_shared() -> Arc<Shared> {
    Arc::new(Shared {
        queue: Mutex::new(Queue {
            segs: VecDeque::new(),
            open: Seg::from_buf(BytesMut::with_capacity(4096)),
            first_seg: 0,
            spare: None,
            queued: VecDeque::new(),
            next_id: 0,
            waker: None,
            closed: None,
            abort: None,
            earliest: None,
        }),
        done: AtomicBool::new(false),
        hook: OnceLock::new(),
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> IoTask<S> {
    /// An I/O task over an established (handshaken) stream. `rbuf` holds bytes already read.
    pub(crate) fn new(
        stream: S,
        shared: Arc<Shared>,
        decoder: Decoder,
        rbuf: BytesMut,
        push: Option<PushSink>,
    ) -> Self {
        IoTask {
            stream,
            shared,
            decoder,
            rbuf,
            wbuf: BytesMut::with_capacity(4096),
            wparts: VecDeque::new(),
            in_flight: VecDeque::new(),
            push,
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
            sleep_armed: false,
            yield_first: false,
            backlog: false,
            bulk_want: 0,
            dedicated: false,
            read_chunk: READ_CHUNK,
            finished: false,
        }
    }

    /// Takes queued requests into the write buffer: all of them, or, when they hold more than
    /// [`WRITE_BATCH`] bytes, the first ones up to that (at least one). Returns an error when
    /// the task must end (abort requested). Registers the waker when there is nothing to take.
    fn take_queued(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        let mut q = self.shared.lock();
        if let Some(err) = q.abort.take() {
            return Err(err);
        }
        if self.is_writing() {
            // Still writing the previous batch; the queue keeps growing and goes next. A
            // request queued meanwhile wakes the task, so that its deadline is watched.
            q.waker = Some(cx.waker().clone());
            return Ok(());
        }
        if q.queued.is_empty() {
            q.waker = Some(cx.waker().clone());
            return Ok(());
        }
        // Drop requests whose callers are gone, or whose time ran out while they waited,
        // before they cost anything on the wire.
        prune_queued(&mut q, Instant::now());
        if q.queued.is_empty() {
            q.waker = Some(cx.waker().clone());
            return Ok(());
        }
        // A request taken into the write buffer is sent with its batch, whatever becomes of its
        // caller. Behind a large write that the server is slow to read, that could be long
        // after the caller gave up; so a batch is one segment (at most WRITE_BATCH bytes, or
        // one larger request), and what follows stays queued, where a caller that leaves
        // withdraws it. Segments emptied by removals are dropped on the way.
        let first = q.queued.front().expect("not empty").seg;
        while q.first_seg < first {
            q.segs.pop_front();
            q.first_seg += 1;
        }
        let take = if q.segs.is_empty() {
            // The common case, small requests only: swap the open segment's buffer with the
            // emptied write buffer, which becomes the open segment's.
            std::mem::swap(&mut q.open.tail, &mut self.wbuf);
            self.wparts = std::mem::take(&mut q.open.parts);
            q.open.parts_len = 0;
            q.queued.len()
        } else {
            let seg = q.segs.pop_front().expect("the segment of a queued request");
            self.wparts = seg.parts;
            let done = std::mem::replace(&mut self.wbuf, seg.tail);
            if q.spare.is_none() && done.capacity() > 0 {
                q.spare = Some(done);
            }
            q.queued.iter().take_while(|r| r.seg == first).count()
        };
        q.first_seg += 1;
        for r in q.queued.drain(..take) {
            if r.replies == 0 {
                continue;
            }
            self.in_flight.push_back(InFlight {
                replies: r.replies,
                // Pipelines collect their replies here; sized up front (bounded, since the count
                // comes from the caller) so a 100-command batch does not regrow seven times.
                frames: if r.replies > 1 {
                    Vec::with_capacity(r.replies.min(4096))
                } else {
                    Vec::new()
                },
                timeout: r.timeout.unwrap_or_default(),
                deadline: r.deadline,
                tx: r.tx,
            });
        }
        Ok(())
    }

    /// True while a segment taken from the queue is not all written.
    fn is_writing(&self) -> bool {
        !self.wbuf.is_empty() || !self.wparts.is_empty()
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progressed = false;
        if !self.wparts.is_empty() {
            progressed = self.poll_write_parts(cx)?;
            if !self.wparts.is_empty() {
                return Ok(progressed);
            }
        }
        while !self.wbuf.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Pending => break,
            }
        }
        if self.wbuf.is_empty() {
            // Reuse the allocation: clear() keeps capacity once the buffer is unique again.
            self.wbuf.clear();
        }
        Ok(progressed)
    }

    /// Writes a segment's shared parts, and its copied tail (`wbuf`) with them: as many per
    /// `writev` as [`WRITE_SLICES`] when the stream takes vectored writes, so a batch of
    /// shared values is one syscall, not one per part; one part at a time otherwise (then
    /// `poll_write` writes the tail).
    fn poll_write_parts(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        let mut progressed = false;
        let vectored = self.stream.is_write_vectored();
        while !self.wparts.is_empty() {
            let polled = if vectored {
                let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
                let tail = (!self.wbuf.is_empty()).then_some(&self.wbuf[..]);
                let n = slices
                    .iter_mut()
                    .zip(self.wparts.iter().map(|p| &p[..]).chain(tail))
                    .map(|(slice, part)| *slice = IoSlice::new(part))
                    .count();
                Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..n])
            } else {
                Pin::new(&mut self.stream).poll_write(cx, &self.wparts[0])
            };
            match polled {
                Poll::Ready(Ok(0)) => {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
                Poll::Ready(Ok(mut n)) => {
                    progressed = true;
                    // Drop what went out whole; the rest of a part cut short goes next.
                    while let Some(front) = self.wparts.front_mut() {
                        if n < front.len() {
                            front.advance(n);
                            break;
                        }
                        n -= front.len();
                        self.wparts.pop_front();
                    }
                    if self.wparts.is_empty() {
                        // What is left went out of the tail, written with the parts.
                        self.wbuf.advance(n);
                    }
                }
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Pending => break,
            }
        }
        Ok(progressed)
    }

    /// Reads what is available and dispatches every complete frame. Ok(false) when the read
    /// would block.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        if self.bulk_want > self.rbuf.capacity() && self.decoder.is_mid_frame() {
            // The start of a large bulk reply is buffered, and the rest will not fit: move it
            // to an allocation of its exact size, once, rather than doubling towards it (a
            // copy of everything so far per doubling). The payload then starts that
            // allocation, and when the frame is handed over `rbuf` lets go of it, so the
            // caller owns it alone and can take it as a `Vec` without copying.
            let mut own = BytesMut::with_capacity(self.bulk_want);
            own.extend_from_slice(&self.rbuf);
            self.rbuf = own;
            self.dedicated = true;
        } else if !self.dedicated && self.rbuf.capacity() - self.rbuf.len() < self.read_chunk / 4 {
            // Grow geometrically while a large reply accumulates, so a 64 MiB bulk costs a
            // logarithmic number of reallocations, not one per read. (A dedicated buffer is
            // never full: it is its reply's exact size, let go of once the reply is complete.)
            self.rbuf.reserve(self.read_chunk.max(self.rbuf.len()));
        }
        let room = self.rbuf.capacity() - self.rbuf.len();
        // `read_buf` reads into the spare capacity without zeroing it; its future holds no
        // state between polls, so polling a fresh one each time is equivalent to `poll_read`.
        let read = std::pin::pin!(self.stream.read_buf(&mut self.rbuf));
        match read.poll(cx) {
            Poll::Ready(Ok(0)) => {
                Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into())
            }
            Poll::Ready(Ok(n)) => {
                if !self.dedicated {
                    self.read_chunk = next_read_chunk(self.read_chunk, n, room);
                }
                self.backlog = self.dispatch()?;
                Ok(true)
            }
            Poll::Ready(Err(e)) => Err(e.into()),
            Poll::Pending => Ok(false),
        }
    }

    /// Decodes buffered replies until [`dispatch_batch`] callers have been woken (a pipeline's
    /// frames wake one). True when more may be waiting in the read buffer.
    fn dispatch(&mut self) -> Result<bool, Error> {
        let mut woken = 0;
        let batch = dispatch_batch(self.in_flight.len());
        while woken < batch {
            // Only a top-level bulk, whose header the decoder is about to consume: inside an
            // unfinished frame, these bytes are not at a frame's start.
            let mut announced = announced_bulk(&self.rbuf);
            if announced != 0 && self.decoder.is_mid_frame() {
                announced = 0;
            }
            match self.decoder.decode(&mut self.rbuf)? {
                Some(frame) => {
                    self.bulk_want = 0;
                    if self.dedicated {
                        self.dedicated = false;
                        if self.rbuf.is_empty() {
                            self.rbuf = BytesMut::new();
                        }
                    }
                    woken += usize::from(self.route(frame)?);
                }
                None => {
                    if announced != 0 && self.decoder.is_mid_frame() {
                        self.bulk_want = announced;
                    }
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Routes one frame: to the push sink, or to the request it answers. True when it
    /// completed a request (woke a caller).
    fn route(&mut self, frame: Frame) -> Result<bool, Error> {
        // Client-side caching: an invalidation goes to the cache here, in wire order with
        // the replies around it (see `cache`'s design note).
        if let Some(hook) = self.shared.hook.get()
            && frame.without_attributes().is_push()
            && hook.push(frame.without_attributes())
        {
            return Ok(false);
        }
        if let Some(push) = &self.push {
            if push.all_frames || frame.without_attributes().is_push() {
                if push.tx.try_send(frame).is_err() {
                    // The consumer is slow or gone: drop the message rather than block the
                    // connection, and count it so the consumer can be told what it missed.
                    push.dropped.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(false);
            }
        } else if frame.without_attributes().is_push() {
            tracing::debug!("unsolicited push frame discarded");
            return Ok(false);
        }
        let Some(front) = self.in_flight.front_mut() else {
            return Err(Error::UnexpectedReply);
        };
        if front.replies > 1 || !front.frames.is_empty() {
            front.frames.push(frame);
            if front.frames.len() < front.replies {
                return Ok(false);
            }
            let done = self.in_flight.pop_front().expect("front exists");
            match done.tx {
                ReplyTx::Many(tx) => drop(tx.send(Ok(done.frames))),
                ReplyTx::One(tx) => {
                    let last = done.frames.into_iter().last().expect("non-empty");
                    drop(tx.send(Ok(last)))
                }
                ReplyTx::None => {}
            }
        } else {
            let done = self.in_flight.pop_front().expect("front exists");
            match done.tx {
                ReplyTx::One(tx) => drop(tx.send(Ok(frame))),
                ReplyTx::Many(tx) => drop(tx.send(Ok(vec![frame]))),
                ReplyTx::None => {}
            }
        }
        Ok(true)
    }

    /// Checks the oldest in-flight request's deadline, and while a write is still going out,
    /// those of the requests queued behind it; re-arms the timer lazily.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        let front = self.in_flight.front().and_then(|f| f.deadline);
        let stalled = self.is_writing();
        if front.is_none() && !stalled {
            self.sleep_armed = false;
            return Ok(());
        }
        let now = Instant::now();
        if front.is_some_and(|d| d <= now) {
            let after = self
                .in_flight
                .front()
                .map(|f| f.timeout)
                .unwrap_or_default();
            return Err(Error::Timeout { after, sent: true });
        }
        // Requests queued behind an unfinished write cannot be taken yet, and the oldest
        // in-flight request's deadline does not bound their wait when its own is later (a
        // probe with a short timeout behind a long-running request).
        let queued = if stalled {
            let mut q = self.shared.lock();
            match q.earliest {
                Some(e) if e <= now => expire_queued(&mut q, now),
                e => e,
            }
        } else {
            None
        };
        let Some(deadline) = front.into_iter().chain(queued).min() else {
            self.sleep_armed = false;
            return Ok(());
        };
        if !self.sleep_armed || self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
            self.sleep_armed = true;
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.sleep_armed = false;
            // Fired for an older deadline (that request has since completed): re-arm for the
            // current front on the next turn.
            cx.waker().wake_by_ref();
        }
        Ok(())
    }

    /// One turn of work. `Ok(true)` when the task went idle (everything waits on the socket,
    /// the queue or the timer), `Ok(false)` when it yielded with work left.
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Result<bool, Error> {
        // Bounded work per poll so one busy connection cannot starve the executor thread.
        for _ in 0..32 {
            self.take_queued(cx)?;
            let wrote = self.poll_write(cx)?;
            let read = if self.backlog {
                self.backlog = self.dispatch()?;
                true
            } else {
                self.poll_read(cx)?
            };
            if self.backlog {
                // Replies are still waiting in the buffer. Let the callers just handed theirs
                // run first: they queue their next requests, which go out on the next turn
                // while this one hands out the rest. The server then works on one batch
                // while the client works on another, instead of the two taking turns.
                cx.waker().wake_by_ref();
                return Ok(false);
            }
            if !wrote && !read {
                self.poll_deadline(cx)?;
                return Ok(true);
            }
        }
        cx.waker().wake_by_ref();
        Ok(false)
    }
}

impl<S> IoTask<S> {
    /// Fails everything outstanding and closes the queue.
    fn finish(&mut self, err: Error) {
        self.finished = true;
        self.shared.done.store(true, Ordering::Release);
        self.shared.hook_closed();
        let queued = {
            let mut q = self.shared.lock();
            q.closed = Some(err.clone());
            q.waker = None;
            q.segs.clear();
            q.open.clear();
            q.spare = None;
            std::mem::take(&mut q.queued)
        };
        for r in queued {
            r.tx.fail(err.lost(false));
        }
        for f in self.in_flight.drain(..) {
            let e = match &err {
                Error::Protocol(_) | Error::UnexpectedReply => err.clone(),
                Error::Timeout { after, .. } => Error::Timeout {
                    after: *after,
                    sent: true,
                },
                other => other.lost(true),
            };
            f.tx.fail(e);
        }
    }
}

/// The task can be dropped without having ended the connection: its runtime shut down (a
/// client kept in a `static` and used from one `#[tokio::test]` runtime after another), or the
/// task was aborted. Nothing would then answer the callers it owes, nor time them out, and new
/// requests would queue forever on a connection that looks healthy; fail them all instead, so
/// that the pool replaces the connection.
impl<S> Drop for IoTask<S> {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!("connection task dropped before the connection ended");
            self.finish(Error::Io(Arc::new(std::io::Error::other(
                "the connection's task was dropped (its runtime shut down)",
            ))));
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for IoTask<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.yield_first {
            // Woken from idle, typically by the first of many callers queueing a request.
            // The scheduler runs a freshly woken task next, before the other callers that
            // are ready to queue theirs; going to the back of the run queue once lets them
            // all queue first, so they share one write instead of each paying a syscall (and
            // the server a read). See the design note for why this is a self-wake.
            this.yield_first = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.poll_inner(cx) {
            Ok(idle) => {
                this.yield_first = idle;
                Poll::Pending
            }
            Err(err) => {
                match &err {
                    Error::Closed => tracing::debug!("connection closed by the client"),
                    e => {
                        tracing::warn!(error = %e, cause = ?std::error::Error::source(e), "connection failed")
                    }
                }
                this.finish(err);
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{
        DEDICATED_MAX, DEDICATED_MIN, READ_CHUNK, READ_CHUNK_MAX, ReplyTx, WRITE_BATCH,
        announced_bulk, dispatch_batch, new_shared, next_read_chunk,
    };

    /// Every queued byte in write order, and the kind of each closed segment: `b` a buffer,
    /// `p` one with shared parts; the open segment's kind last, after a `|`.
    fn queued_bytes(shared: &super::Shared) -> (Vec<u8>, String) {
        let q = shared.lock();
        let mut all = Vec::new();
        let mut kinds = String::new();
        for (i, s) in q.segs.iter().chain(Some(&q.open)).enumerate() {
            if i == q.segs.len() {
                kinds.push('|');
            }
            kinds.push(if s.parts.is_empty() { 'b' } else { 'p' });
            assert_eq!(s.parts_len, s.parts.iter().map(Bytes::len).sum::<usize>());
            s.parts.iter().for_each(|p| all.extend_from_slice(p));
            all.extend_from_slice(&s.tail);
        }
        (all, kinds)
    }

    /// Queues a request made of copied pieces (`Ok`) and shared parts (`Err`).
    fn submit(shared: &super::Shared, pieces: &[Result<&[u8], Bytes>]) -> u64 {
        shared
            .submit(
                |out| {
                    for p in pieces {
                        match p {
                            Ok(b) => out.extend_from_slice(b),
                            Err(part) => out.put_shared(part.clone()),
                        }
                    }
                },
                0,
                None,
                ReplyTx::None,
            )
            .unwrap()
    }

    #[test]
    fn a_large_request_gets_its_own_segment_and_leaves_it_with_its_bytes() {
        let shared = new_shared();
        let big = vec![b'b'; WRITE_BATCH + 10];
        let a = submit(&shared, &[Ok(b"aaa")]);
        let b = submit(&shared, &[Ok(&big)]);
        let _c = submit(&shared, &[Ok(b"ccc")]);
        let (all, kinds) = queued_bytes(&shared);
        // "aaa" closed before the large request, which is closed alone; "ccc" is open.
        assert_eq!(kinds, "bb|b");
        assert_eq!(all, [&b"aaa"[..], &big, b"ccc"].concat());
        assert!(shared.cancel(b));
        assert_eq!(queued_bytes(&shared).0, b"aaaccc");
        assert!(shared.cancel(a));
        assert_eq!(queued_bytes(&shared).0, b"ccc");
        let q = shared.lock();
        let c = q.queued.front().unwrap();
        // The remaining request still points at its own bytes in the open segment.
        assert_eq!((c.seg, c.end), (q.first_seg + q.segs.len() as u64, 3));
    }

    /// Before a batch is taken, the requests it takes are checked for callers that left; the
    /// rest of the queue only once a queued deadline has passed, and then all of it: a
    /// request past its deadline fails with a timeout that says it was not sent, and nothing
    /// else queued is touched.
    #[test]
    fn a_batch_prunes_its_own_requests_and_the_whole_queue_once_a_deadline_passed() {
        use std::time::Duration;

        use tokio::sync::oneshot;
        use tokio::time::Instant;

        use super::prune_queued;
        use crate::error::Error;

        let shared = new_shared();
        let queue = |bytes: &[u8], timeout: Option<Duration>| {
            let (tx, rx) = oneshot::channel();
            shared
                .submit(
                    |out| out.extend_from_slice(bytes),
                    1,
                    timeout,
                    ReplyTx::One(tx),
                )
                .unwrap();
            rx
        };
        let big = vec![b'b'; WRITE_BATCH + 10];
        let _a = queue(b"aaa", None);
        drop(queue(&big, None));
        let _c = queue(b"ccc", None);
        let now = Instant::now();
        // The next batch is "aaa" alone (the large request closed its segment): its caller
        // waits, and the large one, in the next segment, is not looked at yet.
        prune_queued(&mut shared.lock(), now);
        assert_eq!(
            queued_bytes(&shared).0,
            [&b"aaa"[..], &big, b"ccc"].concat()
        );
        // A request whose deadline has passed makes the next batch prune the whole queue.
        let mut d = queue(b"ddd", Some(Duration::ZERO));
        prune_queued(&mut shared.lock(), Instant::now());
        assert_eq!(queued_bytes(&shared).0, b"aaaccc");
        assert!(matches!(
            d.try_recv(),
            Ok(Err(Error::Timeout { sent: false, .. }))
        ));
        assert_eq!(shared.lock().earliest, None);
    }

    #[test]
    fn a_request_with_a_large_shared_part_is_a_segment_of_its_own_and_leaves_it_whole() {
        let shared = new_shared();
        let big = Bytes::from(vec![b'b'; 100_000]);
        let a = submit(&shared, &[Ok(b"aaa")]);
        let with_parts = |head: &'static [u8]| {
            let pieces = [
                Ok(head),
                Err(big.clone()),
                Ok(b"-mid-"),
                Err(big.clone()),
                Ok(b"-end"),
            ];
            submit(&shared, &pieces)
        };
        let b = with_parts(b"head");
        let c = submit(&shared, &[Ok(b"ccc")]);
        let d = with_parts(b"again");
        let whole = |head: &[u8]| [head, &big, b"-mid-", &big, b"-end"].concat();
        let (all, kinds) = queued_bytes(&shared);
        // "aaa" closed before the first request with parts, "ccc" alone before the second
        // (each cut off a part that held the next request's header too).
        assert_eq!(kinds, "pppp|b");
        assert_eq!(
            all,
            [&b"aaa"[..], &whole(b"head"), b"ccc", &whole(b"again")].concat()
        );
        {
            // The shared value is referenced, not copied: same allocation.
            let q = shared.lock();
            assert_eq!(q.segs[1].parts.len(), 4);
            assert_eq!(q.segs[1].parts[1].as_ptr(), big.as_ptr());
        }
        assert!(shared.cancel(b));
        assert_eq!(
            queued_bytes(&shared).0,
            [&b"aaa"[..], b"ccc", &whole(b"again")].concat()
        );
        assert!(shared.cancel(c));
        assert!(shared.cancel(a));
        assert_eq!(queued_bytes(&shared).0, whole(b"again"));
        {
            let q = shared.lock();
            let r = q.queued.front().unwrap();
            assert_eq!(r.end, whole(b"again").len());
            let idx = usize::try_from(r.seg - q.first_seg).unwrap();
            assert!(!q.segs[idx].parts.is_empty());
        }
        assert!(shared.cancel(d));
        assert!(queued_bytes(&shared).0.is_empty());
        // Small requests coalesce into the open segment again.
        submit(&shared, &[Ok(b"eee")]);
        submit(&shared, &[Ok(b"fff")]);
        assert_eq!(queued_bytes(&shared).0, b"eeefff");
    }

    /// Distinct values, so that a part out of place or left behind changes the bytes.
    fn value(n: usize, seed: u8) -> Bytes {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn mid_size_shared_parts_stay_in_the_open_segment_in_order() {
        let shared = new_shared();
        let (v1, v2, v3) = (value(20_000, 1), value(17_000, 2), value(9_000, 3));
        submit(&shared, &[Ok(b"small-1;")]);
        submit(&shared, &[Ok(b"*3;"), Err(v1.clone()), Ok(b";tail-1")]);
        submit(&shared, &[Ok(b"small-2;")]);
        submit(&shared, &[Ok(b"*2;"), Err(v2.clone()), Err(v3.clone())]);
        submit(&shared, &[Ok(b"small-3;")]);
        let (all, kinds) = queued_bytes(&shared);
        // Nothing closed: one batch, its values shared, not copied.
        assert_eq!(kinds, "|p");
        let expected = [
            &b"small-1;*3;"[..],
            &v1,
            b";tail-1small-2;*2;",
            &v2,
            &v3,
            b"small-3;",
        ]
        .concat();
        assert_eq!(all, expected);
        let q = shared.lock();
        let ptrs: Vec<_> = q.open.parts.iter().map(|p| p.as_ptr()).collect();
        assert!(ptrs.contains(&v1.as_ptr()) && ptrs.contains(&v2.as_ptr()));
        assert!(ptrs.contains(&v3.as_ptr()));
    }

    #[test]
    fn a_withdrawn_request_takes_exactly_its_bytes_out_of_a_segment_with_parts() {
        let (v1, v2, v3) = (value(20_000, 1), value(17_000, 2), value(9_000, 3));
        let requests: Vec<Vec<Result<&[u8], Bytes>>> = vec![
            vec![Ok(b"small-1;")],
            vec![Ok(b"*3;"), Err(v1.clone()), Ok(b";tail-1")],
            vec![Ok(b"small-2;")],
            vec![Ok(b"*2;"), Err(v2.clone()), Err(v3.clone())],
            vec![Err(v3.clone()), Ok(b"after-v3;")],
            vec![Ok(b"small-3;")],
        ];
        let bytes_of = |r: &[Result<&[u8], Bytes>]| -> Vec<u8> {
            r.iter()
                .flat_map(|p| match p {
                    Ok(b) => b.to_vec(),
                    Err(v) => v.to_vec(),
                })
                .collect()
        };
        // Every order of withdrawal of every subset: what is left is exactly the rest, in order.
        for mask in 0u32..(1 << requests.len()) {
            let shared = new_shared();
            let ids: Vec<u64> = requests.iter().map(|r| submit(&shared, r)).collect();
            for (i, id) in ids.iter().enumerate().rev() {
                if mask & (1 << i) != 0 {
                    assert!(shared.cancel(*id));
                }
            }
            let kept: Vec<u8> = (0..requests.len())
                .filter(|i| mask & (1 << i) == 0)
                .flat_map(|i| bytes_of(&requests[i]))
                .collect();
            assert_eq!(queued_bytes(&shared).0, kept, "withdrawn {mask:b}");
            // The requests left still end where their bytes do: withdrawing them one by one
            // from the front empties the queue exactly.
            let left: Vec<usize> = (0..requests.len())
                .filter(|i| mask & (1 << i) == 0)
                .collect();
            let mut rest = kept.clone();
            for i in left {
                assert!(shared.cancel(ids[i]));
                rest.drain(..bytes_of(&requests[i]).len());
                assert_eq!(
                    queued_bytes(&shared).0,
                    rest,
                    "withdrawn {mask:b}, then {i}"
                );
            }
        }
    }

    #[test]
    fn a_request_past_the_batch_size_is_split_off_at_its_start_parts_and_all() {
        let shared = new_shared();
        let (v1, v2) = (value(40_000, 1), value(40_000, 2));
        submit(&shared, &[Ok(b"small-1;")]);
        submit(&shared, &[Ok(b"*2;"), Err(v1.clone()), Ok(b";t1")]);
        let b = submit(&shared, &[Ok(b"*2;"), Err(v2.clone()), Ok(b";t2")]);
        submit(&shared, &[Ok(b"small-2;")]);
        let (all, kinds) = queued_bytes(&shared);
        // The first two requests are one batch; the one that went past WRITE_BATCH is its
        // own segment, "*2;" included; the next small request opens a fresh segment.
        assert_eq!(kinds, "pp|b");
        let first = [&b"small-1;*2;"[..], &v1, b";t1"].concat();
        let second = [&b"*2;"[..], &v2, b";t2"].concat();
        assert_eq!(all, [&first[..], &second, b"small-2;"].concat());
        assert_eq!(queued_bytes(&shared).0.len(), all.len());
        {
            let q = shared.lock();
            assert_eq!(q.segs[0].len(), first.len());
            assert_eq!(q.segs[1].len(), second.len());
        }
        assert!(shared.cancel(b));
        assert_eq!(queued_bytes(&shared).0, [&first[..], b"small-2;"].concat());
    }

    #[test]
    fn only_a_complete_header_of_a_large_bulk_sizes_the_read_buffer() {
        let header = |n: usize| format!("${n}\r\n").into_bytes();
        // Payload and CRLF, for lengths in range.
        assert_eq!(announced_bulk(&header(DEDICATED_MIN)), DEDICATED_MIN + 2);
        assert_eq!(announced_bulk(&header(1 << 20)), (1 << 20) + 2);
        assert_eq!(announced_bulk(&header(DEDICATED_MAX)), DEDICATED_MAX + 2);
        // Too short to matter, too long to reserve before the bytes arrive.
        for n in [
            0,
            100,
            10_000,
            DEDICATED_MIN - 1,
            DEDICATED_MAX + 1,
            999_999_999,
        ] {
            assert_eq!(announced_bulk(&header(n)), 0, "{n}");
        }
        // Not (yet) a whole bulk header: a cut line, another type, a null, a sign, garbage.
        for bad in [
            &b"$1048576"[..],
            b"$104857",
            b"*1048576\r\n",
            b"$-1\r\n",
            b"$+1048576\r\n",
            b"$10485x6\r\n",
            b"$1048576\n\r",
            b"$9999999999999999999999\r\n",
            b"",
        ] {
            assert_eq!(announced_bulk(bad), 0, "{bad:?}");
        }
    }

    #[test]
    fn a_turn_wakes_a_quarter_then_an_eighth_of_the_requests_in_flight_between_1_and_32() {
        // Few callers: one per turn, so client and server overlap instead of taking turns.
        assert_eq!(dispatch_batch(0), 1);
        assert_eq!(dispatch_batch(7), 1);
        assert_eq!(dispatch_batch(8), 2);
        assert_eq!(dispatch_batch(15), 3);
        assert_eq!(dispatch_batch(16), 4);
        assert_eq!(dispatch_batch(32), 4);
        assert_eq!(dispatch_batch(64), 8);
        assert_eq!(dispatch_batch(256), 32);
        // Thousands of callers: a turn stays short enough for the first ones to write again.
        assert_eq!(dispatch_batch(10_000), 32);
        assert!((0..2_000).all(|n| (1..=32).contains(&dispatch_batch(n))));
        // Never fewer for more in flight.
        assert!((1..2_000).all(|n| dispatch_batch(n) >= dispatch_batch(n - 1)));
    }

    #[test]
    fn reads_get_more_room_while_they_fill_it_and_less_when_they_do_not() {
        // Full reads double the room, up to the cap.
        let mut chunk = READ_CHUNK;
        let mut sizes = vec![chunk];
        while chunk < READ_CHUNK_MAX {
            chunk = next_read_chunk(chunk, chunk, chunk);
            sizes.push(chunk);
        }
        assert_eq!(sizes.len(), 4, "{sizes:?}");
        assert_eq!(next_read_chunk(chunk, chunk, chunk), READ_CHUNK_MAX);
        // The room is what the buffer had, which may be less than asked for.
        assert_eq!(next_read_chunk(READ_CHUNK, 5_000, 5_000), 2 * READ_CHUNK);
        // A read of a fair share of the room keeps it.
        assert_eq!(next_read_chunk(chunk, chunk / 4, chunk), chunk);
        // Small reads shrink it back, never below the floor.
        while chunk > READ_CHUNK {
            chunk = next_read_chunk(chunk, 100, chunk);
        }
        assert_eq!(chunk, READ_CHUNK);
        assert_eq!(next_read_chunk(READ_CHUNK, 0, READ_CHUNK), READ_CHUNK);
    }
}
