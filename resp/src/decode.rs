//! [`Decoder`]: an incremental RESP2 + RESP3 decoder that resumes where input ran out.
//!
//! # Design
//!
//! The decoder is a push parser whose whole state lives in the struct, so a reply that arrives
//! over many reads is parsed once, not once per read:
//!
//! - `stack[..depth]` holds one [`Level`] per open aggregate, each with the children completed
//!   so far. Nesting is handled by this explicit stack, never by recursion, and bounded by
//!   [`Limits::max_depth`]. Slots above `depth` are kept as spares, so opening an aggregate
//!   writes its level in place, and a finished aggregate is written straight into a
//!   placeholder in its parent (`Decoder::close`): frames and levels are never assembled on
//!   the stack and then copied, which stalled on store-to-load forwarding.
//! - `pending` holds a scalar whose header has been consumed but whose payload has not fully
//!   arrived: a bulk payload (waited for by its declared length, never scanned) or a streamed
//!   string being assembled chunk by chunk.
//! - `scanned` remembers how far the current, unterminated line has been searched for its
//!   `\r\n`, so a long line trickling in is not searched again from its start. Number lines
//!   (integers, lengths) are parsed again from their start on each call instead, which costs
//!   constant work because they are capped at [`Limits::MAX_NUMBER_LINE`] bytes.
//! - `held` is the element memory charged to the frame in progress against
//!   [`Limits::max_decoded_size`]: an aggregate of known count is charged in full at its header
//!   (and its vector never grows past that count), a streamed one as its vector doubles. Both
//!   are independent of how the input is split, so whether a reply fits never depends on it.
//!
//! Two fast paths sit in front of that machinery, and both only ever take input that the
//! general path would accept the same way; anything else falls through to it untouched:
//!
//! - [`Decoder::decode`] returns a complete top-level `+`, `:` or `$` reply directly; a second,
//!   out-of-line tier (`top_level_other`) does the same for errors, RESP3 scalars, bulk errors
//!   and verbatim strings before the general path is entered.
//! - `fill` (the "lane") moves the complete `$`, `:`, `+` and `_` elements at the front of the
//!   buffer straight into the innermost open array or map, writing over placeholders and
//!   removing their bytes from the buffer once, instead of one `step` per element. It opens the
//!   nested arrays it meets and closes each finished one into its parent's slot, so a reply
//!   of nested arrays of such scalars is one pass. Its checks mirror `step`'s; the property
//!   tests feed every input whole and in every split, which sends the same bytes through both
//!   paths.
//!
//! Invariants that must change together:
//!
//! - Every byte before `src[0]` belongs to the decoder: completed elements of an unfinished
//!   aggregate are moved out of the caller's buffer into `stack`, and a consumed bulk header into
//!   `pending`. So on `Ok(None)` the buffer may have shrunk, and the rest of the stream must be
//!   fed to the same decoder. `consumed` counts those bytes so errors carry stream offsets.
//! - `scanned` is relative to `src[0]` and is reset whenever bytes are consumed.
//! - Every offset computed from an announced length goes through `payload_total`, checked;
//!   [`Limits::MAX_BULK_LEN_CEILING`] keeps them far from overflow in the first place.
//! - Every call consumes bytes, returns `Ok(None)` having examined all it was given, or fails.
//!   A failure is stored in `failed` and returned again by every later call: after an error the
//!   stream position is unknown, so the connection must be closed.
//!
//! Payloads longer than [`Payload::INLINE_CAPACITY`] become `Bytes` slices of the read buffer
//! (`BytesMut::split_to` + `freeze`): one reference-count increment per string, no copy.
//! Shorter ones are copied into the [`Payload`] itself, which is cheaper than that reference
//! count (see [`Payload`]). Streamed strings (`$?`) are always copied, because their chunks are
//! not contiguous on the wire.

use bytes::{Buf, BytesMut};

use crate::error::{DecodeError, Expected, LimitKind};
use crate::frame::{Frame, Verbatim};
use crate::limits::Limits;
use crate::payload::Payload;

/// An incremental RESP2 + RESP3 decoder.
///
/// Feed it the bytes read from a connection, in as many pieces as they arrive; it returns each
/// complete [`Frame`] once, and `Ok(None)` when it needs more bytes. Both protocol versions are
/// accepted at all times, since their type bytes do not overlap.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use resp_codec::{Decoder, Frame};
///
/// let mut decoder = Decoder::new();
/// let mut buf = BytesMut::from(&b"$5\r\nhel"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // need more bytes
/// buf.extend_from_slice(b"lo\r\n+OK\r\n");
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::BulkString("hello".into())));
/// assert_eq!(
///     decoder.decode(&mut buf).unwrap(),
///     Some(Frame::SimpleString("OK".into()))
/// );
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
/// ```
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// Open aggregates are `stack[..depth]`; the slots above are spares kept for reuse.
    stack: Vec<Level>,
    depth: usize,
    pending: Pending,
    consumed: u64,
    scanned: usize,
    /// Bytes of element memory charged to the frame in progress (see `Decoder::charge`).
    held: u64,
    failed: Option<DecodeError>,
}

/// A scalar whose header has been consumed, waiting for the rest of its bytes.
#[derive(Debug)]
enum Pending {
    None,
    /// A bulk-like payload of `len` bytes plus `\r\n`.
    Bulk {
        kind: u8,
        len: usize,
    },
    /// A streamed string: chunks so far in `buf`; `chunk` is the length of a chunk whose
    /// header was consumed and whose payload has not fully arrived.
    Streamed {
        buf: BytesMut,
        total: u64,
        chunk: Option<usize>,
    },
}

/// One open aggregate.
#[derive(Debug)]
struct Level {
    /// The aggregate's type byte.
    kind: u8,
    /// Items (not pairs) still expected; unused when `streamed`.
    remaining: u64,
    /// Items received so far, checked against `max_items` for streamed aggregates.
    received: u64,
    max_items: u64,
    streamed: bool,
    items: Items,
}

/// The children of an open aggregate. The vectors may run ahead of what has arrived: the
/// first `Level::received` items (pairs: half that, rounded down) are filled, and the rest are
/// placeholders (`Frame::Null`), never more than the aggregate still expects, so the vector
/// is exactly full when the aggregate completes. Keeping placeholders between calls, instead of
/// trimming them when the lane stops at a nested aggregate, spares a resize per child.
#[derive(Debug)]
enum Items {
    List(Vec<Frame>),
    Pairs {
        pairs: Vec<(Frame, Frame)>,
        key: Option<Frame>,
    },
    /// The attributes of an `|` that has been read, waiting for the value they annotate.
    Annotated {
        attributes: Vec<(Frame, Frame)>,
        data: Option<Frame>,
    },
}

/// What one step of parsing produced.
enum Step {
    Value(Frame),
    /// An aggregate header was pushed onto the stack.
    Opened,
    /// The innermost open aggregate has received its last element.
    Complete,
    Incomplete,
}

/// Where [`Decoder::fill`] stopped.
enum Fill {
    /// The innermost open aggregate has received its last element.
    Complete,
    /// At anything else, for [`Decoder::step`].
    Stopped,
}

/// A parsed length header.
enum Len {
    Incomplete,
    /// `-1`: a RESP2 null.
    Null {
        end: usize,
    },
    /// `?`: a streamed value.
    Streamed {
        end: usize,
    },
    /// A length; `end` is the index after the header's `\r\n`.
    Known {
        len: u64,
        end: usize,
    },
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Decoder::with_limits(Limits::default())
    }

    /// A decoder enforcing `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            limits,
            stack: Vec::new(),
            depth: 0,
            pending: Pending::None,
            consumed: 0,
            scanned: 0,
            held: 0,
            failed: None,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True when the decoder holds part of a frame (bytes it consumed from an earlier call that
    /// belong to a frame not yet returned).
    pub fn is_mid_frame(&self) -> bool {
        self.depth != 0 || !matches!(self.pending, Pending::None)
    }

    /// True once a call has failed; every later call returns the same error.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Total bytes consumed from the stream so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Decodes the next frame from the front of `src`.
    ///
    /// Returns `Ok(Some(frame))` and removes the frame's bytes from `src` when a whole frame is
    /// available, and `Ok(None)` when more bytes are needed. On `Ok(None)` the decoder may have
    /// moved the complete parts of an unfinished frame out of `src` into its own state: append
    /// the next bytes read to the same buffer (or any buffer) and call again with the same
    /// decoder; nothing already examined is parsed twice.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the input is not valid RESP or exceeds a [`Limits`] bound. The
    /// decoder is then failed for good and returns the same error from every later call: the
    /// position in the stream is lost, so the connection it reads must be closed.
    #[inline(always)]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        // Fast path: most replies are one complete scalar at the top level. Decode those in
        // one pass and return the frame directly; anything else (aggregates, partial input,
        // anything invalid) takes the general path, which re-examines it from the start.
        if self.is_idle() {
            if let Some(frame) = self.top_level_scalar(src) {
                return Ok(Some(frame));
            }
        }
        self.decode_general(src)
    }

    #[inline]
    fn is_idle(&self) -> bool {
        self.failed.is_none() && self.depth == 0 && matches!(self.pending, Pending::None)
    }

    /// A complete and valid `+`, `-`, `:` or `$` frame at the front of `src`, or `None` (with
    /// nothing consumed) for everything else.
    #[inline(always)]
    fn top_level_scalar(&mut self, src: &mut BytesMut) -> Option<Frame> {
        match *src.first()? {
            b'+' => {
                let cr = short_line_end(src)?;
                if cr - 1 > self.limits.max_line_len {
                    return None;
                }
                Some(Frame::SimpleString(self.status_line(src, cr)))
            }
            b':' => match parse_i64_line_fast(src, 1) {
                IntLine::Done { value, end } if end - 3 <= self.limits.max_line_len => {
                    self.skip(src, end);
                    Some(Frame::Integer(value))
                }
                _ => None,
            },
            b'$' if src.get(1) == Some(&b'-') => {
                if !is_null_bulk(src, &self.limits) {
                    return None;
                }
                self.skip(src, 5);
                Some(Frame::NullBulkString)
            }
            b'$' => self.complete_bulk(src).map(Frame::BulkString),
            _ => None,
        }
    }

    /// A complete and valid top-level error, RESP3 scalar (`_`, `#`, `,`, `(`), bulk error or
    /// verbatim string at the front of `src`, or `None` with nothing consumed. The second tier
    /// of the fast path, out of line so that it does not slow the common replies: the general
    /// path would hand such a frame through `step` and `decode_inner`, and every one of those
    /// moves of a just-built frame stalled on store-to-load forwarding. Anything partial,
    /// invalid or over a limit is left to the general path, which reports it.
    #[inline]
    fn top_level_other(&mut self, src: &mut BytesMut) -> Option<Frame> {
        let ty = *src.first()?;
        if matches!(ty, b'!' | b'=') {
            let (end, len, total) = bulk_extent(src, &self.limits)?;
            if ty == b'=' && !Verbatim::is_wire_form(&src[end..end + len]) {
                return None;
            }
            return Some(self.bulk_frame(src, ty, end, len, total));
        }
        if matches!(ty, b'*' | b'%' | b'~' | b'>') {
            if let Some(frame) = self.empty_aggregate(src, ty) {
                return Some(frame);
            }
            if ty == b'%' {
                return None;
            }
            return self.top_level_list(src, ty);
        }
        if !matches!(ty, b'-' | b'_' | b'#' | b',' | b'(') {
            return None;
        }
        // Error messages and big numbers often run past `short_line_end`'s window. A line the
        // general path has already begun to search (`scanned`) is left to it, so that a long
        // line arriving in many pieces is not searched again from its start on every call.
        let cr = match short_line_end_by_words(src) {
            Some(cr) => cr,
            None if self.scanned == 0 => long_line_end(src, self.limits.max_line_len)?,
            None => return None,
        };
        if cr - 1 > self.limits.max_line_len {
            return None;
        }
        // Each arm returns its frame directly: building it into a local first made the
        // compiler copy it to the result field by field, and that copy stalled.
        let line = &src[1..cr];
        match ty {
            b'-' => Some(Frame::SimpleError(self.take_payload(
                src,
                1,
                cr - 1,
                cr + 2,
            ))),
            b'(' if is_big_number(line) => {
                Some(Frame::BigNumber(self.take_payload(src, 1, cr - 1, cr + 2)))
            }
            b',' => {
                let value = parse_double(line)?;
                self.skip(src, cr + 2);
                Some(Frame::Double(value))
            }
            b'#' => {
                let value = parse_boolean(line)?;
                self.skip(src, cr + 2);
                Some(Frame::Boolean(value))
            }
            b'_' if line.is_empty() => {
                self.skip(src, cr + 2);
                Some(Frame::Null)
            }
            _ => None,
        }
    }

    /// A top-level `*0`, `%0`, `~0` or `>0` (an empty `LRANGE`, `HGETALL` or `SMEMBERS`), or
    /// `None` with nothing consumed. `open` would return it through `step`, moving it twice.
    #[inline]
    fn empty_aggregate(&mut self, src: &mut BytesMut, ty: u8) -> Option<Frame> {
        let limits = &self.limits;
        if src.get(1..4) != Some(b"0\r\n") || limits.max_depth == 0 || limits.max_line_len == 0 {
            return None;
        }
        self.skip(src, 4);
        Some(match ty {
            b'*' => Frame::Array(Vec::new()),
            b'%' => Frame::Map(Vec::new()),
            b'~' => Frame::Set(Vec::new()),
            _ => Frame::Push(Vec::new()),
        })
    }

    /// A complete top-level array, set or push (by `kind`) of scalars the lane takes (an
    /// `MGET`, `LRANGE`, `SMEMBERS`, a RESP2 `HGETALL`, a pub/sub message), built in one pass
    /// without a stack level; `None` otherwise. When an element is something else (a nested
    /// aggregate, partial input, an error to report), the elements read so far are handed to
    /// the general path as its open top-level aggregate, which carries on from there; `None`
    /// with nothing consumed when there are none. Through the general path's level such a
    /// reply took a tenth more instructions (callgrind, a `*1` of one bulk string: 665 against
    /// 598 per reply, of which `malloc` and `free` are about 150).
    #[inline]
    fn top_level_list(&mut self, src: &mut BytesMut, kind: u8) -> Option<Frame> {
        let limits = self.limits;
        if limits.max_depth == 0 {
            return None;
        }
        let mut cur = Lane::new(limits);
        let count = cur.count(src, self.room(LIST_SLOT))?;
        // A first element the lane does not take (XREAD's streams, EXEC's nested replies) is
        // left to the general path before anything is allocated.
        if !matches!(src.get(cur.pos), Some(b'$' | b':' | b'+' | b'_')) {
            return None;
        }
        let cap = (count as usize).min(Limits::MAX_PREALLOCATED_ELEMENTS);
        let mut items = Vec::with_capacity(cap);
        let mut n = 0;
        while (n as u64) < count {
            if n == items.len() {
                let batch = (count - n as u64).min(FILL_BATCH) as usize;
                extend_within(&mut items, n + batch, count as usize, || Frame::Null);
            }
            if !cur.scalar_with(src, &mut items[n]) {
                break;
            }
            n += 1;
        }
        let received = n as u64;
        if received == 0 {
            // Nothing consumed (the header is only counted in `cur.pos`): the general path
            // starts the reply afresh.
            return None;
        }
        self.settle(&mut cur, src);
        if received == count {
            let mut out = Frame::Null;
            put_list(&mut out, kind, &mut items);
            return Some(out);
        }
        self.adopt_list(kind, items, received, count - received);
        None
    }

    /// Makes `items`, of which the first `received` are read, the open top-level aggregate of
    /// type `kind`, waiting for `remaining` more; see [`Decoder::top_level_list`].
    #[cold]
    fn adopt_list(&mut self, kind: u8, items: Vec<Frame>, received: u64, remaining: u64) {
        if self.stack.is_empty() {
            self.stack.push(Level::spare());
        }
        self.held = (received + remaining) * LIST_SLOT;
        let level = &mut self.stack[0];
        level.kind = kind;
        level.remaining = remaining;
        level.received = received;
        level.max_items = self.limits.max_aggregate_len;
        level.streamed = false;
        level.items = Items::List(items);
        self.depth = 1;
    }

    /// A whole, valid `$len\r\npayload\r\n` with a plain length at the front of `src`, or
    /// `None` with nothing consumed (nulls, streamed strings, partial or invalid input are left
    /// to [`Decoder::bulk`]).
    #[inline(always)]
    fn complete_bulk(&mut self, src: &mut BytesMut) -> Option<Payload> {
        let (end, len, total) = bulk_extent(src, &self.limits)?;
        Some(self.take_payload(src, end, len, total))
    }

    /// Consumes the first `total` bytes of `src`, a bulk-like frame of type `ty` whose
    /// (already validated) payload is the `len` bytes from `start`. A verbatim string's text is
    /// what follows its `xxx:` format.
    #[inline]
    fn bulk_frame(
        &mut self,
        src: &mut BytesMut,
        ty: u8,
        start: usize,
        len: usize,
        total: usize,
    ) -> Frame {
        match ty {
            b'$' => Frame::BulkString(self.take_payload(src, start, len, total)),
            b'!' => Frame::BulkError(self.take_payload(src, start, len, total)),
            // `Verbatim::is_wire_form` has been checked, so its invariant holds.
            _ => Frame::VerbatimString(Verbatim::from_checked(
                self.take_payload(src, start, len, total),
            )),
        }
    }

    /// Consumes the first `total` bytes of `src` and returns `len` of them from `start`:
    /// copied inline when short, otherwise a zero-copy slice (see [`Payload`] for why).
    #[inline(always)]
    fn take_payload(
        &mut self,
        src: &mut BytesMut,
        start: usize,
        len: usize,
        total: usize,
    ) -> Payload {
        if let Some(window) = Payload::inline_window(&src[start..], len) {
            let p = Payload::inline_block(window, len);
            self.skip(src, total);
            return p;
        }
        if let Some(p) = Payload::inline_from(&src[start..], len) {
            self.skip(src, total);
            return p;
        }
        // Written out rather than shared with `Lane::split`: an out-of-line call from here made
        // the top-level fast path it is inlined into measurably slower (`+OK`: 14 -> 20 ns).
        let mut payload = self.take(src, total);
        payload.advance(start);
        payload.truncate(len);
        Payload::from(payload.freeze())
    }

    /// Consumes the `+` line ending with the `\r` at `cr` and returns its text.
    #[inline(always)]
    fn status_line(&mut self, src: &mut BytesMut, cr: usize) -> Payload {
        self.take_payload(src, 1, cr - 1, cr + 2)
    }

    #[inline(never)]
    fn decode_general(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.is_idle() {
            if let Some(frame) = self.top_level_other(src) {
                return Ok(Some(frame));
            }
        }
        match self.decode_inner(src) {
            Ok(frame) => Ok(frame),
            Err(err) => {
                self.failed = Some(err.clone());
                self.stack = Vec::new();
                self.depth = 0;
                self.pending = Pending::None;
                Err(err)
            }
        }
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        loop {
            let complete = match self.fill(src) {
                Fill::Complete => true,
                Fill::Stopped => match self.step(src)? {
                    Step::Value(frame) => {
                        if self.depth == 0 {
                            return Ok(Some(frame));
                        }
                        self.deliver(frame)?
                    }
                    Step::Opened => false,
                    Step::Complete => true,
                    Step::Incomplete => return Ok(None),
                },
            };
            if complete {
                // A finished top-level aggregate is built in the return value: through `close`
                // it was moved twice more, and each move stalled on store-to-load forwarding.
                if self.depth == 1 && self.stack[0].kind != b'|' {
                    self.depth = 0;
                    return Ok(Some(self.stack[0].take_frame()));
                }
                if let Some(frame) = self.close()? {
                    return Ok(Some(frame));
                }
            }
        }
    }

    /// Hands a value to the innermost open aggregate; true when that completes it.
    #[inline]
    fn deliver(&mut self, frame: Frame) -> Result<bool, DecodeError> {
        self.make_room(self.depth - 1)?;
        put(self.stack[self.depth - 1].slot(), frame);
        self.check_received()
    }

    /// Whether the innermost open aggregate is complete, after a value was added to it; a
    /// streamed aggregate that has now received too many is an error.
    #[inline]
    fn check_received(&self) -> Result<bool, DecodeError> {
        let top = &self.stack[self.depth - 1];
        if top.streamed {
            if top.received > top.max_items {
                return Err(self.limit(0, LimitKind::AggregateLen, top_count(top)));
            }
            return Ok(false);
        }
        Ok(top.remaining == 0)
    }

    /// Closes the innermost open aggregate, which is complete, and every enclosing one it
    /// completes in turn. Each finished aggregate is written straight into its parent's slot
    /// rather than moved through the stack: a frame or level assembled field by field and
    /// then copied as a block stalled on store-to-load forwarding. Returns the top-level frame
    /// once there is one.
    fn close(&mut self) -> Result<Option<Frame>, DecodeError> {
        loop {
            let d = self.depth - 1;
            let level = &mut self.stack[d];
            if let (b'|', Items::Pairs { pairs, .. }) = (level.kind, &mut level.items) {
                // An attribute map is complete: now wait for the value it annotates.
                let attributes = std::mem::take(pairs);
                level.items = Items::Annotated {
                    attributes,
                    data: None,
                };
                level.remaining = 1;
                level.received = 0;
                level.max_items = 1;
                return Ok(None);
            }
            self.depth = d;
            if d == 0 {
                let mut out = Frame::Null;
                level.take_into(&mut out);
                return Ok(Some(out));
            }
            self.make_room(d - 1)?;
            let (below, rest) = self.stack.split_at_mut(d);
            rest[0].take_into(below[d - 1].slot());
            if !self.check_received()? {
                return Ok(None);
            }
        }
    }

    /// Opens an aggregate in the next stack slot, reusing a spare one when there is one so
    /// that the level is written in place.
    #[inline]
    fn push_level(&mut self, kind: u8, remaining: u64, max_items: u64, streamed: bool, cap: usize) {
        if self.depth == self.stack.len() {
            self.stack.push(Level::spare());
        }
        let level = &mut self.stack[self.depth];
        self.depth += 1;
        level.kind = kind;
        level.remaining = remaining;
        level.received = 0;
        level.max_items = max_items;
        level.streamed = streamed;
        let paired = matches!(kind, b'%' | b'|');
        if level.items.refill(paired, cap) {
            return;
        }
        let items = if paired {
            Items::Pairs {
                pairs: Vec::with_capacity(cap),
                key: None,
            }
        } else {
            Items::List(Vec::with_capacity(cap))
        };
        let old = std::mem::replace(&mut level.items, items);
        // A spare level's items were taken when it closed, so there is nothing to free; the
        // out-of-line drop glue for `Items` cost more than the rest of this function.
        if old.owns_nothing() {
            std::mem::forget(old);
        }
    }

    /// Opens a length-prefixed aggregate of type `kind` (`*`, `~`, `>` or `%`) and `count`
    /// elements or pairs, whose header the lane has read, in the next stack slot. The spare
    /// level there is usually one of the same shape, emptied when it closed: it is refilled in
    /// place rather than through `push_level`'s call. Called with a constant `kind` for the
    /// nested arrays the lane opens, so the checks of the type fold away there.
    #[inline(always)]
    fn open_aggregate(&mut self, kind: u8, count: u64) {
        let cap = (count as usize).min(Limits::MAX_PREALLOCATED_ELEMENTS);
        let max = self.limits.max_aggregate_len;
        let per = if kind == b'%' { 2 } else { 1 };
        // The lane checked the count against `room`.
        let charged = self.charge(count * per * LIST_SLOT);
        debug_assert!(charged);
        if let Some(level) = self.stack.get_mut(self.depth) {
            if level.items.refill(per == 2, cap) {
                // Counts are at most 15 digits, so doubling cannot overflow.
                level.kind = kind;
                level.remaining = count * per;
                level.received = 0;
                level.max_items = max.saturating_mul(per);
                level.streamed = false;
                self.depth += 1;
                return;
            }
        }
        self.push_level(kind, count * per, max.saturating_mul(per), false, cap);
    }

    /// The fast lane for aggregates: moves the complete, valid, common scalars at the front of
    /// `src` straight into the innermost open array, set, push or map, without a [`Step`] per
    /// element, and consumes their bytes in one go. It also walks nested arrays (XREAD entries,
    /// EXEC results) in the same pass: it opens one when it meets its header, fills it, and
    /// closes it into its parent's slot when it is complete, so a whole reply of nested arrays
    /// of scalars costs one call. Returns [`Fill::Complete`] once the innermost open aggregate
    /// is complete and is one that [`Decoder::close`] must finish (the top level, or a child of
    /// an attribute or a streamed aggregate). [`Fill::Stopped`] means anything else (partial or
    /// invalid input, a limit, another type), which [`Decoder::step`] then handles exactly as if
    /// this lane did not exist.
    #[inline]
    fn fill(&mut self, src: &mut BytesMut) -> Fill {
        if !matches!(self.pending, Pending::None) {
            return Fill::Stopped;
        }
        let limits = self.limits;
        let mut cur = Lane::new(limits);
        // A top-level array (MGET, LRANGE, HGETALL in RESP2, XREAD) is opened the same way as a
        // nested one, rather than through `step` and `open`.
        if self.depth == 0 {
            if limits.max_depth == 0 {
                return Fill::Stopped;
            }
            let Some((kind, count)) = cur.aggregate_header(src, self.limits.max_decoded_size)
            else {
                return Fill::Stopped;
            };
            self.open_aggregate(kind, count);
        }
        // Bytes parsed stay in the buffer until the lane stops (`cur.finish`): moving levels
        // in and out of the stack needs none of them removed, and removing them once per
        // reply rather than once per level was a tenth of an XREAD reply's instructions.
        let outcome = loop {
            let depth = self.depth;
            let level = &mut self.stack[depth - 1];
            // Attribute maps finish into a level that waits for the annotated value: `step`
            // does that bookkeeping.
            if level.streamed || level.kind == b'|' {
                break Fill::Stopped;
            }
            if !level.fill_from(&mut cur, src) {
                break Fill::Stopped;
            }
            if level.remaining == 0 {
                // Complete. A child of an array or map this lane fills goes straight into its
                // parent's slot, and the lane carries on with the parent; anything else is for
                // `close` (which also builds a top-level frame in the return value).
                if depth >= 2 {
                    let (below, rest) = self.stack.split_at_mut(depth - 1);
                    let parent = &mut below[depth - 2];
                    if !parent.streamed && parent.kind != b'|' {
                        let child = &mut rest[0];
                        // An array's next slot is a placeholder the lane added (it stopped at
                        // this child's header); anything else goes through `slot`.
                        match (&mut parent.items, &mut child.items) {
                            (Items::List(siblings), Items::List(items))
                                if (parent.received as usize) < siblings.len() =>
                            {
                                let slot = &mut siblings[parent.received as usize];
                                parent.received += 1;
                                parent.remaining -= 1;
                                put_list(slot, child.kind, items);
                            }
                            _ => child.take_into(parent.slot()),
                        }
                        self.depth = depth - 1;
                        continue;
                    }
                }
                break Fill::Complete;
            }
            // A nested array is opened here: through `step` and `open` it cost a dispatch and
            // a `Result` per level. The child is counted in this level when it closes, as it
            // would be had `step` opened it.
            if depth < limits.max_depth {
                if let Some(count) = cur.array_header(src, self.room(LIST_SLOT)) {
                    self.open_aggregate(b'*', count);
                    continue;
                }
            }
            break Fill::Stopped;
        };
        self.settle(&mut cur, src);
        outcome
    }

    /// Removes the bytes the lane `cur` parsed from `src` and counts them as consumed.
    #[inline(always)]
    fn settle(&mut self, cur: &mut Lane, src: &mut BytesMut) {
        cur.finish(src);
        if cur.consumed > 0 {
            self.consumed += cur.consumed;
            self.scanned = 0;
        }
    }

    /// Parses one element at the front of `src`: a scalar, or an aggregate header.
    #[inline]
    fn step(&mut self, src: &mut BytesMut) -> Result<Step, DecodeError> {
        if !matches!(self.pending, Pending::None) {
            return self.resume_pending(src);
        }
        let Some(&ty) = src.first() else {
            return Ok(Step::Incomplete);
        };
        match ty {
            b'+' | b'-' => {
                let Some(cr) = self.line_end(src)? else {
                    return Ok(Step::Incomplete);
                };
                if ty == b'+' {
                    return Ok(Step::Value(Frame::SimpleString(self.status_line(src, cr))));
                }
                let line = self.take_payload(src, 1, cr - 1, cr + 2);
                Ok(Step::Value(Frame::SimpleError(line)))
            }
            b':' => match parse_i64_line_fast(src, 1) {
                IntLine::Done { value, end } => {
                    self.check_number_line(end)?;
                    self.skip(src, end);
                    Ok(Step::Value(Frame::Integer(value)))
                }
                IntLine::Incomplete => self.incomplete_line(src),
                IntLine::Bad { at, expected } => Err(self.syntax(src, at, expected)),
            },
            b'$' => match self.complete_bulk(src) {
                Some(payload) => Ok(Step::Value(Frame::BulkString(payload))),
                None => self.bulk(src, ty),
            },
            b'!' | b'=' => self.bulk(src, ty),
            b'*' | b'%' | b'~' | b'>' | b'|' => self.open(src, ty),
            b',' | b'#' | b'_' | b'(' | b'.' => {
                let Some(cr) = self.line_end(src)? else {
                    return Ok(Step::Incomplete);
                };
                self.small_line(src, ty, cr)
            }
            _ => Err(self.syntax(src, 0, Expected::TypeByte)),
        }
    }

    /// Doubles, booleans, nulls, big numbers and the streamed-aggregate end `.`.
    fn small_line(&mut self, src: &mut BytesMut, ty: u8, cr: usize) -> Result<Step, DecodeError> {
        let line = &src[1..cr];
        let frame = match ty {
            b',' => match parse_double(line) {
                Some(d) => Frame::Double(d),
                None => return Err(self.syntax(src, 1, Expected::Double)),
            },
            b'#' => match parse_boolean(line) {
                Some(b) => Frame::Boolean(b),
                None => return Err(self.syntax(src, 1, Expected::Boolean)),
            },
            b'_' => {
                if !line.is_empty() {
                    return Err(self.syntax(src, 1, Expected::Null));
                }
                Frame::Null
            }
            b'(' => {
                if !is_big_number(line) {
                    return Err(self.syntax(src, 1, Expected::BigNumber));
                }
                let line = self.take_payload(src, 1, cr - 1, cr + 2);
                return Ok(Step::Value(Frame::BigNumber(line)));
            }
            _ => return self.stream_end(src, cr),
        };
        self.skip(src, cr + 2);
        Ok(Step::Value(frame))
    }

    /// `.\r\n`: closes the innermost streamed aggregate.
    fn stream_end(&mut self, src: &mut BytesMut, cr: usize) -> Result<Step, DecodeError> {
        if cr != 1 {
            return Err(self.syntax(src, 1, Expected::LineEnd));
        }
        match self.depth.checked_sub(1).map(|d| &self.stack[d]) {
            Some(level) if level.streamed => {
                if let Items::Pairs { key: Some(_), .. } = level.items {
                    return Err(self.syntax(src, 0, Expected::MapValue));
                }
            }
            _ => return Err(self.syntax(src, 0, Expected::TypeByte)),
        }
        self.skip(src, cr + 2);
        // Streamed attributes are not allowed (see `open`), so a streamed level always
        // closes into a value.
        Ok(Step::Complete)
    }

    /// `$`, `!` and `=`: a length header, then that many bytes and `\r\n`.
    fn bulk(&mut self, src: &mut BytesMut, ty: u8) -> Result<Step, DecodeError> {
        let (len, end) = match self.header(src)? {
            Len::Known { len, end } => (len, end),
            Len::Incomplete => return self.incomplete_line(src),
            Len::Null { end } if ty == b'$' => {
                self.skip(src, end);
                return Ok(Step::Value(Frame::NullBulkString));
            }
            Len::Streamed { end } if ty == b'$' => {
                self.skip(src, end);
                self.pending = Pending::Streamed {
                    buf: BytesMut::new(),
                    total: 0,
                    chunk: None,
                };
                return self.resume_pending(src);
            }
            Len::Null { .. } | Len::Streamed { .. } => {
                return Err(self.syntax(src, 1, Expected::Length));
            }
        };
        if len > self.limits.max_bulk_len {
            return Err(self.limit(0, LimitKind::BulkLen, len));
        }
        // `len` fits in usize: it is at most `max_bulk_len`, and a longer payload could never
        // be held in memory anyway.
        let Ok(len) = usize::try_from(len) else {
            return Err(self.limit(0, LimitKind::BulkLen, len));
        };
        let Some(total) = payload_total(end, len) else {
            return Err(self.limit(0, LimitKind::BulkLen, len as u64));
        };
        if src.len() < total {
            self.skip(src, end);
            self.pending = Pending::Bulk { kind: ty, len };
            return Ok(Step::Incomplete);
        }
        if &src[end + len..total] != b"\r\n" {
            let at = if src[end + len] == b'\r' {
                end + len + 1
            } else {
                end + len
            };
            return Err(self.syntax(src, at, Expected::PayloadEnd));
        }
        self.check_verbatim(src, ty, end, len)?;
        Ok(Step::Value(self.bulk_frame(src, ty, end, len, total)))
    }

    /// A verbatim string's payload must start with a three-byte format and `:`
    /// ([`Verbatim::is_wire_form`]).
    fn check_verbatim(
        &self,
        src: &[u8],
        ty: u8,
        start: usize,
        len: usize,
    ) -> Result<(), DecodeError> {
        if ty == b'=' && !Verbatim::is_wire_form(&src[start..start + len]) {
            return Err(self.syntax(src, start + len.min(3), Expected::VerbatimFormat));
        }
        Ok(())
    }

    /// Continues a bulk payload or streamed string whose header was consumed earlier.
    fn resume_pending(&mut self, src: &mut BytesMut) -> Result<Step, DecodeError> {
        if let Pending::Bulk { kind, len } = self.pending {
            // Checked when the header was read.
            let total = payload_total(0, len).unwrap_or(usize::MAX);
            if src.len() < total {
                return Ok(Step::Incomplete);
            }
            if &src[len..total] != b"\r\n" {
                let at = if src[len] == b'\r' { len + 1 } else { len };
                return Err(self.syntax(src, at, Expected::PayloadEnd));
            }
            self.check_verbatim(src, kind, 0, len)?;
            self.pending = Pending::None;
            return Ok(Step::Value(self.bulk_frame(src, kind, 0, len, total)));
        }
        loop {
            let Pending::Streamed { buf, chunk, .. } = &mut self.pending else {
                unreachable!("pending is Streamed here");
            };
            if let Some(len) = *chunk {
                // Checked when the chunk header was read.
                let total = payload_total(0, len).unwrap_or(usize::MAX);
                if src.len() < total {
                    return Ok(Step::Incomplete);
                }
                if &src[len..total] != b"\r\n" {
                    let at = if src[len] == b'\r' { len + 1 } else { len };
                    return Err(self.syntax(src, at, Expected::PayloadEnd));
                }
                buf.extend_from_slice(&src[..len]);
                *chunk = None;
                self.skip(src, total);
                continue;
            }
            let Some(&first) = src.first() else {
                return Ok(Step::Incomplete);
            };
            if first != b';' {
                return Err(self.syntax(src, 0, Expected::ChunkHeader));
            }
            let (len, end) = match self.header(src)? {
                Len::Known { len, end } => (len, end),
                Len::Incomplete => return self.incomplete_line(src),
                _ => return Err(self.syntax(src, 1, Expected::ChunkHeader)),
            };
            if len == 0 {
                let Pending::Streamed { buf, .. } =
                    std::mem::replace(&mut self.pending, Pending::None)
                else {
                    unreachable!("pending is Streamed here");
                };
                self.skip(src, end);
                return Ok(Step::Value(Frame::BulkString(Payload::from(buf))));
            }
            let max = self.limits.max_bulk_len;
            let Pending::Streamed { total, chunk, .. } = &mut self.pending else {
                unreachable!("pending is Streamed here");
            };
            let new_total = total.saturating_add(len);
            // `max` is at most `MAX_BULK_LEN_CEILING`, so the chunk's length plus its `\r\n`
            // fits a `usize`; checked anyway, since a failure here would desync the stream.
            let chunk_len = usize::try_from(len)
                .ok()
                .filter(|&n| payload_total(0, n).is_some());
            let (true, Some(chunk_len)) = (new_total <= max, chunk_len) else {
                return Err(self.limit(0, LimitKind::BulkLen, new_total));
            };
            *total = new_total;
            *chunk = Some(chunk_len);
            self.skip(src, end);
        }
    }

    /// An aggregate header: pushes a level (or returns an empty / null aggregate at once).
    fn open(&mut self, src: &mut BytesMut, ty: u8) -> Result<Step, DecodeError> {
        let (count, streamed, end) = match self.header(src)? {
            Len::Known { len, end } => (len, false, end),
            Len::Incomplete => return self.incomplete_line(src),
            Len::Null { end } if ty == b'*' => {
                self.skip(src, end);
                return Ok(Step::Value(Frame::NullArray));
            }
            Len::Streamed { end } if ty != b'|' => (0, true, end),
            Len::Null { .. } | Len::Streamed { .. } => {
                return Err(self.syntax(src, 1, Expected::Length));
            }
        };
        if count > self.limits.max_aggregate_len {
            return Err(self.limit(0, LimitKind::AggregateLen, count));
        }
        // An attribute's annotated value is boxed. Streamed aggregates are charged as they grow.
        let slot = if matches!(ty, b'%' | b'|') {
            PAIR_SLOT
        } else {
            LIST_SLOT
        };
        let boxed = if ty == b'|' { LIST_SLOT } else { 0 };
        let cost = count.saturating_mul(slot).saturating_add(boxed);
        if self.depth < self.limits.max_depth && !self.charge(cost) {
            let held = if self.depth == 0 { 0 } else { self.held };
            return Err(self.limit(0, LimitKind::DecodedSize, held.saturating_add(cost)));
        }
        if self.depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                offset: self.consumed,
                max: self.limits.max_depth,
            });
        }
        self.skip(src, end);
        let paired = matches!(ty, b'%' | b'|');
        if count == 0 && !streamed {
            return Ok(match ty {
                b'*' => Step::Value(Frame::Array(Vec::new())),
                b'~' => Step::Value(Frame::Set(Vec::new())),
                b'>' => Step::Value(Frame::Push(Vec::new())),
                b'%' => Step::Value(Frame::Map(Vec::new())),
                _ => {
                    // No attributes: an attribute map that is already complete, which `close`
                    // turns into a level waiting for the annotated value.
                    self.push_level(b'|', 0, 0, false, 0);
                    Step::Complete
                }
            });
        }
        // Never trust an announced count for memory: reserve at most a small amount and let
        // the vector grow as elements actually arrive.
        let cap = (count as usize).min(Limits::MAX_PREALLOCATED_ELEMENTS);
        let per = if paired { 2 } else { 1 };
        // A map of more than 2^63 pairs is over any budget; the count of its items must not wrap.
        let Some(items) = count.checked_mul(per) else {
            return Err(self.limit(0, LimitKind::AggregateLen, count));
        };
        self.push_level(
            ty,
            items,
            self.limits.max_aggregate_len.saturating_mul(per),
            streamed,
            cap,
        );
        Ok(Step::Opened)
    }

    /// Finds the `\r` ending the line that starts at `src[0]`, resuming the search where the
    /// previous call stopped.
    #[inline]
    fn line_end(&mut self, src: &[u8]) -> Result<Option<usize>, DecodeError> {
        if self.scanned == 0 {
            if let Some(cr) = short_line_end(src) {
                if cr - 1 <= self.limits.max_line_len {
                    return Ok(Some(cr));
                }
            }
        }
        let from = self.scanned.max(1);
        let found = memchr::memchr2(b'\r', b'\n', &src[from..]);
        work::note(found.map_or(src.len() - from, |i| i + 1));
        match found {
            Some(i) => {
                let cr = from + i;
                if src[cr] == b'\n' {
                    return Err(self.syntax(src, cr, Expected::LineEnd));
                }
                if cr - 1 > self.limits.max_line_len {
                    return Err(self.limit(0, LimitKind::LineLen, (cr - 1) as u64));
                }
                match src.get(cr + 1) {
                    Some(b'\n') => Ok(Some(cr)),
                    Some(_) => Err(self.syntax(src, cr + 1, Expected::LineEnd)),
                    None => {
                        self.scanned = cr;
                        Ok(None)
                    }
                }
            }
            None => {
                self.scanned = src.len();
                if src.len() - 1 > self.limits.max_line_len {
                    return Err(self.limit(0, LimitKind::LineLen, (src.len() - 1) as u64));
                }
                Ok(None)
            }
        }
    }

    /// A number line without its `\r\n` yet: only the line limit needs checking (leading
    /// zeros can make a valid number line arbitrarily long). It counts the same bytes as
    /// [`Decoder::check_number_line`], a trailing `\r` excluded, so that how the input is
    /// split never changes whether it is accepted.
    fn incomplete_line(&mut self, src: &[u8]) -> Result<Step, DecodeError> {
        let content = src.len() - 1 - usize::from(src.last() == Some(&b'\r'));
        if content > self.limits.max_line_len {
            return Err(self.limit(0, LimitKind::LineLen, content as u64));
        }
        Ok(Step::Incomplete)
    }

    /// Checks a complete number line or length header ending at `end` (past its `\r\n`)
    /// against the line limit.
    #[inline]
    fn check_number_line(&self, end: usize) -> Result<(), DecodeError> {
        let content = end - 3;
        if content > self.limits.max_line_len {
            return Err(self.limit(0, LimitKind::LineLen, content as u64));
        }
        Ok(())
    }

    /// Parses the length header at the front of `src` and checks it against the line limit.
    #[inline]
    fn header(&self, src: &[u8]) -> Result<Len, DecodeError> {
        match parse_len(src) {
            Ok(len) => {
                if let Len::Known { end, .. } | Len::Null { end } | Len::Streamed { end } = len {
                    self.check_number_line(end)?;
                }
                Ok(len)
            }
            Err((at, expected)) => Err(self.syntax(src, at, expected)),
        }
    }

    /// Charges `bytes` of element memory to the frame in progress, which starts afresh when no
    /// aggregate is open; false, with nothing charged, when that would exceed
    /// [`Limits::max_decoded_size`]. An aggregate of known count is charged in full at its header
    /// (its vector never grows past that count, see `extend_within`), a streamed one as its
    /// vector grows (`make_room`): both are independent of how the input is split.
    #[inline]
    fn charge(&mut self, bytes: u64) -> bool {
        if self.depth == 0 {
            self.held = 0;
        }
        match self.held.checked_add(bytes) {
            Some(held) if held <= self.limits.max_decoded_size as u64 => {
                self.held = held;
                true
            }
            _ => false,
        }
    }

    /// How many elements of `slot` bytes the budget still has room for.
    #[inline(always)]
    fn room(&self, slot: u64) -> u64 {
        let held = if self.depth == 0 { 0 } else { self.held };
        (self.limits.max_decoded_size as u64).saturating_sub(held) / slot
    }

    /// Before a child is stored in the streamed level `stack[d]`: grows its vector when full,
    /// doubling it, once the budget allows the capacity added.
    fn make_room(&mut self, d: usize) -> Result<(), DecodeError> {
        let level = &self.stack[d];
        if !level.streamed {
            return Ok(());
        }
        let (len, cap, slot) = match &level.items {
            Items::List(v) => (v.len(), v.capacity(), LIST_SLOT),
            Items::Pairs {
                pairs,
                key: Some(_),
            } => (pairs.len(), pairs.capacity(), PAIR_SLOT),
            // A key waits in the level itself.
            _ => return Ok(()),
        };
        if len < cap {
            return Ok(());
        }
        let more = cap.max(4);
        let cost = more as u64 * slot;
        if !self.charge(cost) {
            return Err(self.limit(0, LimitKind::DecodedSize, self.held.saturating_add(cost)));
        }
        match &mut self.stack[d].items {
            Items::List(v) => v.reserve_exact(more),
            Items::Pairs { pairs, .. } => pairs.reserve_exact(more),
            Items::Annotated { .. } => {}
        }
        Ok(())
    }

    /// Removes the first `n` bytes of `src` and returns them.
    #[inline]
    fn take(&mut self, src: &mut BytesMut, n: usize) -> BytesMut {
        self.consumed += n as u64;
        self.scanned = 0;
        src.split_to(n)
    }

    /// Drops the first `n` bytes of `src`.
    #[inline]
    fn skip(&mut self, src: &mut BytesMut, n: usize) {
        self.consumed += n as u64;
        self.scanned = 0;
        src.advance(n);
    }

    fn syntax(&self, src: &[u8], at: usize, expected: Expected) -> DecodeError {
        DecodeError::Syntax {
            offset: self.consumed + at as u64,
            expected,
            found: src.get(at).copied().unwrap_or(0),
        }
    }

    fn limit(&self, at: usize, limit: LimitKind, value: u64) -> DecodeError {
        let max = match limit {
            LimitKind::BulkLen => self.limits.max_bulk_len,
            LimitKind::AggregateLen => self.limits.max_aggregate_len,
            LimitKind::LineLen => self.limits.max_line_len as u64,
            LimitKind::DecodedSize => self.limits.max_decoded_size as u64,
        };
        DecodeError::LimitExceeded {
            offset: self.consumed + at as u64,
            limit,
            value,
            max,
        }
    }
}

/// Writes `frame` over `slot`, which is always a placeholder (`Frame::Null`, which owns
/// nothing), without running the frame's drop glue: an out-of-line call and a jump-table branch
/// per element otherwise.
#[inline(always)]
fn put(slot: &mut Frame, frame: Frame) {
    debug_assert!(matches!(slot, Frame::Null));
    std::mem::forget(std::mem::replace(slot, frame));
}

/// What one element of an array, set or push, and one pair of a map, take in memory, for
/// [`Limits::max_decoded_size`].
const LIST_SLOT: u64 = size_of::<Frame>() as u64;
const PAIR_SLOT: u64 = size_of::<(Frame, Frame)>() as u64;

/// Grows `v` to `len` elements made by `f`, its capacity doubling but never past `total`, the
/// count its aggregate announced and was charged for.
#[inline(always)]
fn extend_within<T>(v: &mut Vec<T>, len: usize, total: usize, f: impl FnMut() -> T) {
    if len > v.capacity() {
        let want = v.capacity().saturating_mul(2).min(total).max(len);
        v.reserve_exact(want - v.len());
    }
    v.resize_with(len, f);
}

/// Placeholders [`Decoder::fill`] adds to an array at a time.
const FILL_BATCH: u64 = 64;

/// A cursor over complete scalars at the front of a buffer, for [`Decoder::fill`]. Bytes before
/// `pos` have been parsed but not yet removed from the buffer: removing them once, at the end,
/// is cheaper than once per element.
struct Lane {
    pos: usize,
    consumed: u64,
    limits: Limits,
}

impl Lane {
    /// A lane at the front of the buffer.
    #[inline(always)]
    fn new(limits: Limits) -> Lane {
        Lane {
            pos: 0,
            consumed: 0,
            limits,
        }
    }

    /// Puts the complete and valid `$` (including `$-1`), `:`, `+` or `_` frame at `pos` into
    /// `out` and returns true; returns false, having consumed nothing, for anything else: those
    /// are left to [`Decoder::step`], which also reports every error. The checks mirror the
    /// ones `step` makes. Each arm builds its frame right where it is stored, which spares a
    /// move of the frame through the stack (measured: a third of the time per element of a
    /// large array).
    #[inline(always)]
    fn scalar_with(&mut self, src: &mut BytesMut, out: &mut Frame) -> bool {
        let s = &src[self.pos..];
        let Some(&ty) = s.first() else {
            return false;
        };
        match ty {
            b'$' => {
                if s.get(1) == Some(&b'-') {
                    if !is_null_bulk(s, &self.limits) {
                        return false;
                    }
                    self.pos += 5;
                    put(out, Frame::NullBulkString);
                    return true;
                }
                let Some((end, len, total)) = bulk_extent(s, &self.limits) else {
                    return false;
                };
                if let Some(window) = Payload::inline_window(&s[end..], len) {
                    self.pos += total;
                    put(out, Frame::BulkString(Payload::inline_block(window, len)));
                    return true;
                }
                match Payload::inline_from(&s[end..], len) {
                    Some(p) => {
                        self.pos += total;
                        put(out, Frame::BulkString(p));
                    }
                    None => self.split(src, end, len, total, out, false),
                }
                true
            }
            b':' => match parse_i64_line_fast(s, 1) {
                IntLine::Done { value, end } if end - 3 <= self.limits.max_line_len => {
                    self.pos += end;
                    put(out, Frame::Integer(value));
                    true
                }
                _ => false,
            },
            b'+' => {
                let Some(cr) = short_line_end(s) else {
                    return false;
                };
                if cr - 1 > self.limits.max_line_len {
                    return false;
                }
                if let Some(window) = Payload::inline_window(&s[1..], cr - 1) {
                    self.pos += cr + 2;
                    put(
                        out,
                        Frame::SimpleString(Payload::inline_block(window, cr - 1)),
                    );
                    return true;
                }
                match Payload::inline_from(&s[1..], cr - 1) {
                    Some(p) => {
                        self.pos += cr + 2;
                        put(out, Frame::SimpleString(p));
                    }
                    None => self.split(src, 1, cr - 1, cr + 2, out, true),
                }
                true
            }
            b'_' if s.get(1..3) == Some(b"\r\n") => {
                self.pos += 3;
                put(out, Frame::Null);
                true
            }
            _ => false,
        }
    }

    /// The type byte and element count (pairs for a map) of the complete header of a
    /// non-empty length-prefixed array, set, push or map at `pos` within the limits, consumed;
    /// `None`, having consumed nothing, for anything else (including empty, null and streamed
    /// aggregates, attributes, and counts of sixteen digits or more), which [`Decoder::step`]
    /// handles and reports. The caller checks the depth limit.
    #[inline(always)]
    fn aggregate_header(&mut self, src: &[u8], budget: usize) -> Option<(u8, u64)> {
        let s = &src[self.pos..];
        let kind = *s.first()?;
        if !matches!(kind, b'*' | b'%' | b'~' | b'>') {
            return None;
        }
        let slot = if kind == b'%' { PAIR_SLOT } else { LIST_SLOT };
        Some((kind, self.count(s, budget as u64 / slot)?))
    }

    /// [`Lane::aggregate_header`] for arrays only: the nested aggregates of common replies are
    /// arrays, and opening them is cheaper when their type is known.
    #[inline(always)]
    fn array_header(&mut self, src: &[u8], room: u64) -> Option<u64> {
        let s = &src[self.pos..];
        if s.first() != Some(&b'*') {
            return None;
        }
        self.count(s, room)
    }

    /// The count of the aggregate header `s` starts with, consumed, for the two functions above;
    /// `None` too for a count over `room`, the elements the decoded-size budget has room for.
    #[inline(always)]
    fn count(&mut self, s: &[u8], room: u64) -> Option<u64> {
        // One digit (a stream's two fields, an entry's field list) is the usual count of a
        // nested array, and is checked without the word-wide digit scan.
        let (count, digits) = match s.get(1..4) {
            Some(&[d @ b'1'..=b'9', b'\r', b'\n']) => (u64::from(d - b'0'), 1),
            _ => short_digits(&s[1..])?,
        };
        if count == 0
            || count > self.limits.max_aggregate_len
            || count > room
            || digits > self.limits.max_line_len
        {
            return None;
        }
        self.pos += digits + 3;
        Some(count)
    }

    /// Consumes the `total` bytes at `pos` and puts `len` of them from `start` (relative to
    /// `pos`), as a zero-copy slice in a simple or bulk string, into `out`, having first removed the
    /// bytes parsed before them. The frame is built here rather than returned: a payload
    /// returned through memory and then copied into the frame stalled on store-to-load
    /// forwarding.
    #[inline(never)]
    fn split(
        &mut self,
        src: &mut BytesMut,
        start: usize,
        len: usize,
        total: usize,
        out: &mut Frame,
        simple: bool,
    ) {
        self.finish(src);
        self.consumed += total as u64;
        let mut payload = src.split_to(total);
        payload.advance(start);
        payload.truncate(len);
        let payload = Payload::from(payload.freeze());
        if simple {
            put(out, Frame::SimpleString(payload));
        } else {
            put(out, Frame::BulkString(payload));
        }
    }

    /// Removes the bytes parsed so far from the buffer.
    #[inline]
    fn finish(&mut self, src: &mut BytesMut) {
        if self.pos > 0 {
            src.advance(self.pos);
            self.consumed += self.pos as u64;
            self.pos = 0;
        }
    }
}

/// Elements (pairs for maps, counting a pair whose key has arrived) a streamed level has
/// received, for error reports.
fn top_count(level: &Level) -> u64 {
    match level.items {
        Items::Pairs { .. } => level.received.div_ceil(2),
        _ => level.received,
    }
}

impl Items {
    /// Refills a spare level's items of the right shape in place with room for `cap`: its
    /// vector was taken when it closed, so assigning over it frees nothing, and the level is not
    /// copied out and back. False (nothing changed) when the shape differs or something is held.
    ///
    /// The empty vector replaced is forgotten rather than dropped: it owns nothing, and an
    /// assignment called its out-of-line drop glue (25 instructions per aggregate).
    #[inline(always)]
    fn refill(&mut self, paired: bool, cap: usize) -> bool {
        match self {
            Items::List(v) if !paired && v.capacity() == 0 => {
                std::mem::forget(std::mem::replace(v, Vec::with_capacity(cap)));
            }
            Items::Pairs { pairs, key: None } if paired && pairs.capacity() == 0 => {
                std::mem::forget(std::mem::replace(pairs, Vec::with_capacity(cap)));
            }
            _ => return false,
        }
        true
    }

    /// Whether these items own no allocation, so that dropping them does nothing.
    #[inline(always)]
    fn owns_nothing(&self) -> bool {
        match self {
            Items::List(v) => v.capacity() == 0,
            Items::Pairs { pairs, key: None } => pairs.capacity() == 0,
            _ => false,
        }
    }
}

impl Level {
    /// Moves the complete common scalars at the lane's position into this level, as
    /// [`Decoder::fill`] describes. False when the level takes no lane (a map whose key is
    /// waiting for its value, an attribute's annotated value).
    #[inline(always)]
    fn fill_from(&mut self, cur: &mut Lane, src: &mut BytesMut) -> bool {
        match &mut self.items {
            Items::List(items) => {
                // Elements are written over placeholders rather than pushed: `Vec::push` is
                // not inlined into this large function, and handing it a frame built on the
                // stack stalled every element on a store-to-load forwarding failure. The
                // first `received` items are filled; placeholders past them stay for the
                // next call or for `slot` (see `Level::items`). `Decoder::top_level_list`
                // keeps a copy of this loop over locals: one shared function, inlined into
                // both, cost 0.7 to 2.8 % more instructions (callgrind).
                let mut n = self.received as usize;
                while self.remaining > 0 {
                    if n == items.len() {
                        let batch = self.remaining.min(FILL_BATCH) as usize;
                        let total = n + self.remaining as usize;
                        extend_within(items, n + batch, total, || Frame::Null);
                    }
                    if !cur.scalar_with(src, &mut items[n]) {
                        break;
                    }
                    n += 1;
                    self.remaining -= 1;
                    self.received += 1;
                }
                true
            }
            Items::Pairs { pairs, key } if key.is_none() => {
                // Placeholders as for arrays: a pair assembled on the stack and pushed stalled
                // the same way.
                // No key is waiting, so `received` is even.
                let mut n = (self.received / 2) as usize;
                while self.remaining >= 2 {
                    if n == pairs.len() {
                        let batch = (self.remaining / 2).min(FILL_BATCH) as usize;
                        let total = n + (self.remaining / 2) as usize;
                        extend_within(pairs, n + batch, total, || (Frame::Null, Frame::Null));
                    }
                    let pair = &mut pairs[n];
                    if !cur.scalar_with(src, &mut pair.0) {
                        break;
                    }
                    if !cur.scalar_with(src, &mut pair.1) {
                        // The value is for `step`; the key waits in the level, as it would had
                        // `step` read it.
                        *key = Some(std::mem::replace(&mut pair.0, Frame::Null));
                        self.remaining -= 1;
                        self.received += 1;
                        break;
                    }
                    n += 1;
                    self.remaining -= 2;
                    self.received += 2;
                }
                true
            }
            _ => false,
        }
    }

    /// An unused stack slot.
    fn spare() -> Level {
        Level {
            kind: 0,
            remaining: 0,
            received: 0,
            max_items: 0,
            streamed: false,
            items: Items::List(Vec::new()),
        }
    }

    /// Counts one more child and returns the place to write it: a placeholder that the caller
    /// overwrites in place.
    ///
    /// Placeholders are added with `resize_with`, which writes them in place: `push(Frame::Null)`
    /// wrote the tag on the stack and copied the whole frame from there, stalling on
    /// store-to-load forwarding.
    #[inline]
    fn slot(&mut self) -> &mut Frame {
        let i = self.received as usize;
        self.received += 1;
        if !self.streamed {
            self.remaining -= 1;
        }
        match &mut self.items {
            Items::List(v) => {
                if i == v.len() {
                    // A streamed level's room was made by `Decoder::make_room`; `remaining` is
                    // not counted for one, which keeps the capacity as it is.
                    let total = i + 1 + self.remaining as usize;
                    extend_within(v, i + 1, total, || Frame::Null);
                }
                &mut v[i]
            }
            Items::Pairs { pairs, key } => match key.take() {
                None => key.insert(Frame::Null),
                Some(k) => {
                    let i = i / 2;
                    if i == pairs.len() {
                        let total = i + 1 + (self.remaining / 2) as usize;
                        extend_within(pairs, i + 1, total, || (Frame::Null, Frame::Null));
                    }
                    let pair = &mut pairs[i];
                    put(&mut pair.0, k);
                    &mut pair.1
                }
            },
            Items::Annotated { data, .. } => data.insert(Frame::Null),
        }
    }

    /// The finished frame, leaving this level empty for reuse; as [`Level::take_into`], for a
    /// frame returned rather than stored.
    #[inline(always)]
    fn take_frame(&mut self) -> Frame {
        match &mut self.items {
            Items::List(items) => {
                let items = std::mem::take(items);
                match self.kind {
                    b'~' => Frame::Set(items),
                    b'>' => Frame::Push(items),
                    _ => Frame::Array(items),
                }
            }
            Items::Pairs { pairs, .. } => Frame::Map(std::mem::take(pairs)),
            Items::Annotated { .. } => {
                let mut out = Frame::Null;
                self.take_into(&mut out);
                out
            }
        }
    }

    /// Writes the finished frame over the placeholder `out`, leaving this level empty for
    /// reuse. Never called on an attribute map, which turns into an `Annotated` level instead
    /// (see [`Decoder::close`]).
    ///
    /// The frame is stored as an empty aggregate and its vector swapped in afterwards: storing
    /// `Frame::Array(vec)` in one go made the compiler assemble the frame on the stack at an
    /// odd offset and copy it, which stalled on store-to-load forwarding (a tenth of the time
    /// of XREAD-shaped replies).
    #[inline]
    fn take_into(&mut self, out: &mut Frame) {
        match &mut self.items {
            Items::Annotated { attributes, data } => put(
                out,
                Frame::Attribute {
                    attributes: std::mem::take(attributes),
                    data: Box::new(data.take().unwrap_or(Frame::Null)),
                },
            ),
            Items::Pairs { pairs, .. } => {
                debug_assert_eq!(pairs.len() as u64, self.received / 2, "placeholders left");
                put(out, Frame::Map(Vec::new()));
                if let Frame::Map(slot) = out {
                    std::mem::swap(slot, pairs);
                }
            }
            Items::List(v) => {
                debug_assert_eq!(v.len() as u64, self.received, "placeholders left");
                put_list(out, self.kind, v);
            }
        }
    }
}

/// Writes an array, set or push (by `kind`) holding `items` over the placeholder `out`, leaving
/// `items` empty. Stored empty and its vector swapped in afterwards: see [`Level::take_into`].
#[inline(always)]
fn put_list(out: &mut Frame, kind: u8, items: &mut Vec<Frame>) {
    put(
        out,
        match kind {
            b'~' => Frame::Set(Vec::new()),
            b'>' => Frame::Push(Vec::new()),
            _ => Frame::Array(Vec::new()),
        },
    );
    if let Frame::Array(slot) | Frame::Set(slot) | Frame::Push(slot) = out {
        std::mem::swap(slot, items);
    }
}

/// The index of the `\r` of a well-formed short line starting at `src[0]`, or `None` when the
/// line is not complete, not well formed, or long. Replies such as `+OK` and `,3.14` are a few
/// bytes: a byte loop finds their end faster than a `memchr` call, whose setup dominates on
/// short inputs. Callers fall back to the general search on `None`.
#[inline(always)]
fn short_line_end(src: &[u8]) -> Option<usize> {
    let n = src.len().min(32);
    work::note(n);
    let mut i = 1;
    while i < n {
        match src[i] {
            b'\r' => return (src.get(i + 1) == Some(&b'\n')).then_some(i),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// [`short_line_end`] eight bytes at a time. The second tier's lines (doubles, big numbers,
/// error messages) run to 20 bytes and more, where the byte loop cost five instructions a byte;
/// the `+OK`s of the first tier end within a few bytes, where the byte loop is as fast.
#[inline(always)]
fn short_line_end_by_words(src: &[u8]) -> Option<usize> {
    let n = src.len().min(32);
    work::note(n);
    let mut i = 1;
    while i + 8 <= n {
        let word = &src[i..i + 8];
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let found = zero_bytes(w ^ 0x0D0D_0D0D_0D0D_0D0D) | zero_bytes(w ^ 0x0A0A_0A0A_0A0A_0A0A);
        if found != 0 {
            // The lowest flag is exact (a false flag can only follow a true one).
            let at = i + (found.trailing_zeros() / 8) as usize;
            return (src[at] == b'\r' && src.get(at + 1) == Some(&b'\n')).then_some(at);
        }
        i += 8;
    }
    while i < n {
        match src[i] {
            b'\r' => return (src.get(i + 1) == Some(&b'\n')).then_some(i),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// The high bit of each byte of `w` that is zero, plus possibly of bytes above the lowest one
/// (the classic test: a borrow can only travel upwards from a true zero).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

/// The `\r` of a complete line of at most `max_len` bytes at the front of `src`, or `None` when
/// there is none (the line is incomplete, too long, or not ended by `\r\n`): [`short_line_end`]
/// with a window as wide as the line limit.
fn long_line_end(src: &[u8], max_len: usize) -> Option<usize> {
    let window = src.get(1..src.len().min(max_len.saturating_add(2)))?;
    let found = memchr::memchr2(b'\r', b'\n', window);
    work::note(found.map_or(window.len(), |i| i + 1));
    let cr = 1 + found?;
    (src[cr] == b'\r' && src.get(cr + 1) == Some(&b'\n')).then_some(cr)
}

/// Where the payload of a complete, valid `$len\r\npayload\r\n` at the front of `s` lies:
/// `(end of header, payload length, total length)`. `None` for anything else, including nulls,
/// streamed strings, partial input and limits exceeded, which the general path handles.
#[inline(always)]
fn bulk_extent(s: &[u8], limits: &Limits) -> Option<(usize, usize, usize)> {
    if let Some((len, end)) = short_len(s) {
        // At most 999 bytes after a header of at most 6: no overflow to check.
        if len as u64 > limits.max_bulk_len || end - 3 > limits.max_line_len {
            return None;
        }
        let total = end + len + 2;
        return (s.get(total - 2..total)? == b"\r\n").then_some((end, len, total));
    }
    let (len, end) = match parse_len(s) {
        Ok(Len::Known { len, end }) => (len, end),
        _ => return None,
    };
    if len > limits.max_bulk_len || end - 3 > limits.max_line_len {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    let total = payload_total(end, len)?;
    (s.get(total - 2..total)? == b"\r\n").then_some((end, len, total))
}

/// The length of a bulk-like frame whose header takes `end` bytes and whose payload `len`,
/// with the `\r\n` after the payload; `None` when that does not fit a `usize`. Every path
/// that skips a payload by its announced length computes its end here: with the bulk limit
/// lifted, unchecked arithmetic wrapped and the stream desynchronised.
#[inline(always)]
fn payload_total(end: usize, len: usize) -> Option<usize> {
    end.checked_add(len)?.checked_add(2)
}

/// Whether `s` starts with a complete RESP2 null bulk string `$-1\r\n` within the line limit.
/// Anything else starting `$-` (partial, malformed) is for [`parse_len`], which reports it.
#[inline(always)]
fn is_null_bulk(s: &[u8], limits: &Limits) -> bool {
    s.get(1..5) == Some(b"-1\r\n") && limits.max_line_len >= 2
}

/// The length and header end of a `$` header of one to three digits (`$8\r\n`, `$128\r\n`) at the
/// front of `s`, or `None` for anything else, which [`parse_len`] then parses (and reports).
/// Most bulk strings in replies are that short, and the loop in `parse_len` spent a third of
/// an array element's instructions on them.
#[inline(always)]
fn short_len(s: &[u8]) -> Option<(usize, usize)> {
    work::note(6);
    let &[_, a, b, c, ..] = s else {
        return None;
    };
    let high = a.wrapping_sub(b'0');
    if high > 9 {
        return None;
    }
    if b == b'\r' {
        return (c == b'\n').then_some((usize::from(high), 4));
    }
    let mid = b.wrapping_sub(b'0');
    if mid > 9 {
        return None;
    }
    let two = usize::from(high * 10 + mid);
    if c == b'\r' {
        return (s.get(4) == Some(&b'\n')).then_some((two, 5));
    }
    let low = c.wrapping_sub(b'0');
    if low > 9 || s.get(4..6) != Some(b"\r\n") {
        return None;
    }
    Some((two * 10 + usize::from(low), 6))
}

enum IntLine {
    Incomplete,
    Done { value: i64, end: usize },
    Bad { at: usize, expected: Expected },
}

/// The value and count of the leading decimal digits of `src`, when there are 1 to 15 of them
/// followed by `\r\n` and the bytes examined (8, or 16 for more than 7 digits) can be read;
/// `None` otherwise (callers then take the byte-at-a-time path, which also reports errors).
///
/// Eight bytes are examined at once: a byte-per-iteration loop ends on a branch whose outcome
/// depends on the number's length, mispredicted on integer replies of mixed sizes, and that
/// dominated their cost. Bulk and aggregate lengths keep the loop: they repeat (an `LRANGE` of
/// same-sized members), so its branches are predicted, and there the loop measured faster.
#[inline(always)]
fn short_digits(src: &[u8]) -> Option<(u64, usize)> {
    work::note(16);
    let (x, n) = digit_run(u64::from_le_bytes(*src.first_chunk::<8>()?));
    if n == 0 {
        return None;
    }
    if n < 8 {
        if src.get(n..n + 2) != Some(b"\r\n") {
            return None;
        }
        return Some((digits_value(x, n), n));
    }
    // Eight digits and more: Unix timestamps in milliseconds, large counters, IDs.
    let (y, m) = digit_run(u64::from_le_bytes(*src.get(8..)?.first_chunk::<8>()?));
    if m == 8 || src.get(8 + m..10 + m) != Some(b"\r\n") {
        return None;
    }
    let high = digits_value(x, 8);
    let value = if m == 0 {
        high
    } else {
        high * POW10[m] + digits_value(y, m)
    };
    Some((value, 8 + m))
}

/// Powers of ten up to 10^19, for joining runs of digits.
const POW10: [u64; 20] = {
    let mut powers = [1; 20];
    let mut i = 1;
    while i < 20 {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// Eight bytes with the ASCII digit offset removed (digits become 0..=9), and how many of the
/// first of them are digits (8 when all are).
#[inline(always)]
fn digit_run(word: u64) -> (u64, usize) {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (0x30 * LOW);
    // High bit set in each byte that is not a digit. A carry out of a non-digit byte can only
    // disturb later bytes, and only the first non-digit matters.
    let non_digit = (x | x.wrapping_add(0x76 * LOW)) & HIGH;
    (x, (non_digit.trailing_zeros() / 8) as usize)
}

/// The value of the first `n` (1 to 8) digits of a [`digit_run`] word.
#[inline(always)]
fn digits_value(x: u64, n: usize) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    // Keep the n digits, most significant first in the low byte, moved to the top so the
    // bytes below them are zeros (leading zeros of an 8-digit number), then combine pairs,
    // quads and halves.
    let digits = (x << (64 - 8 * n)) & (0x0f * LOW);
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xffff_ffff
}

/// [`parse_i64_line`] for the common short integers, falling back to it for the rest.
#[inline(always)]
fn parse_i64_line_fast(src: &[u8], start: usize) -> IntLine {
    let negative = src.get(start) == Some(&b'-');
    let digits = start + usize::from(negative);
    if let Some((value, n)) = src.get(digits..).and_then(short_digits) {
        let value = value as i64;
        return IntLine::Done {
            value: if negative { -value } else { value },
            end: digits + n + 2,
        };
    }
    parse_i64_line(src, start)
}

/// Parses `[-]digits\r\n` starting at `src[start]`, in one pass, without a separate search for
/// the line end. Rejects `+`, spaces, an empty number and overflow.
#[inline]
fn parse_i64_line(src: &[u8], start: usize) -> IntLine {
    // The most bytes the loop below can examine, thanks to the number line's cap.
    work::note(src.len().min(start + Limits::MAX_NUMBER_LINE + 2));
    let mut i = start;
    let negative = src.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let digits_start = i;
    // Accumulate as a negative number so i64::MIN parses too.
    let mut acc: i64 = 0;
    loop {
        let Some(&b) = src.get(i) else {
            return IntLine::Incomplete;
        };
        match b {
            b'0'..=b'9' if i - start >= Limits::MAX_NUMBER_LINE => {
                return IntLine::Bad {
                    at: i,
                    expected: Expected::Integer,
                };
            }
            b'0'..=b'9' => {
                let d = i64::from(b - b'0');
                acc = match acc.checked_mul(10).and_then(|a| a.checked_sub(d)) {
                    Some(a) => a,
                    None => {
                        return IntLine::Bad {
                            at: i,
                            expected: Expected::Integer,
                        };
                    }
                };
                i += 1;
            }
            b'\r' => {
                if i == digits_start {
                    return IntLine::Bad {
                        at: i,
                        expected: Expected::Integer,
                    };
                }
                return match src.get(i + 1) {
                    None => IntLine::Incomplete,
                    Some(b'\n') => {
                        let value = if negative {
                            acc
                        } else {
                            match acc.checked_neg() {
                                Some(v) => v,
                                None => {
                                    return IntLine::Bad {
                                        at: i - 1,
                                        expected: Expected::Integer,
                                    };
                                }
                            }
                        };
                        IntLine::Done { value, end: i + 2 }
                    }
                    Some(_) => IntLine::Bad {
                        at: i + 1,
                        expected: Expected::LineEnd,
                    },
                };
            }
            _ => {
                return IntLine::Bad {
                    at: i,
                    expected: Expected::Integer,
                };
            }
        }
    }
}

/// Parses a length header after the type byte at `src[0]`: digits, `-1` or `?`, then `\r\n`.
#[inline]
fn parse_len(src: &[u8]) -> Result<Len, (usize, Expected)> {
    // The most bytes this can examine, thanks to the number line's cap.
    work::note(src.len().min(1 + Limits::MAX_NUMBER_LINE + 2));
    match src.get(1) {
        None => return Ok(Len::Incomplete),
        Some(b'?') | Some(b'-') => {
            let streamed = src[1] == b'?';
            let want: &[u8] = if streamed { b"?\r\n" } else { b"-1\r\n" };
            let have = &src[1..src.len().min(1 + want.len())];
            if let Some(bad) = have.iter().zip(want).position(|(a, b)| a != b) {
                let expected = if want[bad] == b'\r' || want[bad] == b'\n' {
                    Expected::LineEnd
                } else {
                    Expected::Length
                };
                return Err((1 + bad, expected));
            }
            if have.len() < want.len() {
                return Ok(Len::Incomplete);
            }
            let end = 1 + want.len();
            return Ok(if streamed {
                Len::Streamed { end }
            } else {
                Len::Null { end }
            });
        }
        _ => {}
    }
    let mut i = 1;
    let mut len: u64 = 0;
    loop {
        let Some(&b) = src.get(i) else {
            return Ok(Len::Incomplete);
        };
        match b {
            b'0'..=b'9' if i > Limits::MAX_NUMBER_LINE => return Err((i, Expected::Length)),
            b'0'..=b'9' => {
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(u64::from(b - b'0')))
                    .ok_or((i, Expected::Length))?;
                i += 1;
            }
            b'\r' if i > 1 => {
                return match src.get(i + 1) {
                    None => Ok(Len::Incomplete),
                    Some(b'\n') => Ok(Len::Known { len, end: i + 2 }),
                    Some(_) => Err((i + 1, Expected::LineEnd)),
                };
            }
            _ => return Err((i, Expected::Length)),
        }
    }
}

/// A RESP3 big number's text: digits with an optional leading sign.
fn is_big_number(line: &[u8]) -> bool {
    work::note(line.len());
    let digits = match line.first() {
        Some(b'-' | b'+') => &line[1..],
        _ => line,
    };
    // Eight digits per step: big numbers run to dozens of digits, and a byte-at-a-time check
    // took a tenth of the time of a RESP3 reply mix's big numbers.
    let mut words = digits.chunks_exact(8);
    let words_ok = words.by_ref().all(|w| {
        all_ascii_digits(u64::from_le_bytes([
            w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
        ]))
    });
    !digits.is_empty() && words_ok && words.remainder().iter().all(u8::is_ascii_digit)
}

/// True when each of the eight bytes of `word` is an ASCII digit. A byte is one exactly when
/// its high nibble is 3 and adding 6 leaves it there (`0x30..=0x39`); once every high nibble
/// is 3, no byte can carry into the next.
#[inline]
fn all_ascii_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    word & HIGH == THREES && word.wrapping_add(0x0606_0606_0606_0606) & HIGH == THREES
}

/// A RESP3 boolean's text: `t` or `f`.
fn parse_boolean(line: &[u8]) -> Option<bool> {
    match line {
        b"t" => Some(true),
        b"f" => Some(false),
        _ => None,
    }
}

/// Parses a RESP3 double: `[+-]digits[.digits][(e|E)[+-]digits]`, `inf`, `-inf`, `nan`.
fn parse_double(line: &[u8]) -> Option<f64> {
    work::note(line.len());
    match line {
        b"inf" | b"+inf" => return Some(f64::INFINITY),
        b"-inf" => return Some(f64::NEG_INFINITY),
        b"nan" | b"-nan" | b"+nan" => return Some(f64::NAN),
        _ => {}
    }
    let body = match line.first()? {
        b'+' | b'-' => &line[1..],
        _ => line,
    };
    // `str::parse` also accepts words such as "infinity" and a leading `.`. Requiring a digit
    // first leaves it only its number grammar (digits, `.`, an exponent), which is RESP's.
    if !body.first()?.is_ascii_digit() {
        return None;
    }
    if let Some(value) = exact_decimal(body) {
        return Some(if line[0] == b'-' { -value } else { value });
    }
    std::str::from_utf8(line).ok()?.parse().ok()
}

/// `digits[.digits]` with at most 19 digits, or `None` for anything else (which `str::parse`
/// then takes). Read as one integer, the digits are the `mantissa` of `mantissa / 10^k`, `k`
/// being the number of digits after the point. Below 2^53 the mantissa and the power of ten are both exact
/// doubles, so one division gives the correctly rounded value (Clinger's fast path); larger
/// mantissas, as in the 17 significant digits Redis 7.0 writes (`%.17g`), go to
/// [`nearest_quotient`]. Either way it is what `str::parse` computes, without its UTF-8 check
/// and general grammar, which cost several times more for the doubles servers send.
fn exact_decimal(body: &[u8]) -> Option<f64> {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    // Nineteen digits cannot overflow a `u64`: the count is checked before the parts are joined.
    if body.len() > 20 {
        return None;
    }
    let (whole, whole_digits) = leading_digits(body, 0);
    let (mantissa, exponent) = match body.get(whole_digits) {
        None if whole_digits <= 19 => (whole, 0),
        Some(b'.') => {
            let (part, digits) = leading_digits(body, whole_digits + 1);
            if digits == 0 || whole_digits + 1 + digits != body.len() || whole_digits + digits > 19
            {
                return None;
            }
            (whole * POW10[digits] + part, digits)
        }
        _ => return None,
    };
    if mantissa < 1 << 53 {
        return Some(mantissa as f64 / *POWERS.get(exponent)?);
    }
    if exponent == 0 {
        // A `u64` converts to the nearest double, ties to even, as `str::parse` rounds.
        return Some(mantissa as f64);
    }
    nearest_quotient(mantissa, exponent, POWERS[exponent])
}

/// The value and number of the ASCII digits that start at `s[start]` (up to 20; the value
/// wraps past 19 digits, which the caller rejects), eight at a time. A tail shorter than a word
/// is read as the last word of `s` shifted down, when `s` has one: a byte loop there, ending on
/// a branch that depends on the number's length, cost more than the rest of the parse.
#[inline(always)]
fn leading_digits(s: &[u8], start: usize) -> (u64, usize) {
    let mut value: u64 = 0;
    let mut count = 0;
    let mut rest = s.get(start..).unwrap_or_default();
    while !rest.is_empty() {
        let word = match (rest.first_chunk::<8>(), s.last_chunk::<8>()) {
            (Some(chunk), _) => u64::from_le_bytes(*chunk),
            // `rest` is the last 1 to 7 bytes of `s`: move them to the bottom, zeros above.
            (None, Some(last)) => u64::from_le_bytes(*last) >> (8 * (8 - rest.len())),
            (None, None) => {
                for &b in rest {
                    if !b.is_ascii_digit() {
                        break;
                    }
                    value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                    count += 1;
                }
                return (value, count);
            }
        };
        let (x, n) = digit_run(word);
        if n > 0 {
            value = value
                .wrapping_mul(POW10[n])
                .wrapping_add(digits_value(x, n));
            count += n;
        }
        if n < 8 {
            break;
        }
        rest = &rest[8..];
    }
    (value, count)
}

/// The double nearest `m / 10^k` (ties to even) for `m` of at least 2^53 and `k` from 1 to 19,
/// when the quotient is below 2^53; `None` when that is not so or the answer is not settled by
/// two checks (`str::parse` then decides).
///
/// The quotient of the two doubles nearest `m` and `10^k` (`power`) is within about an ulp of
/// the true value. A candidate `M * 2^e` is the nearest double when it is less than half an
/// ulp (`2^e / 2`) away: `|m / 10^k - M * 2^e| < 2^(e-1)`, that is
/// `2 * |m * 2^-e - M * 10^k| < 10^k`, in integers that fit 128 bits (`-e` is at most 64, and
/// `M * 10^k` is below 2^117). Otherwise the neighbour towards the true value is tried. At the
/// bottom of a binade the gap below is half as wide, so a candidate there above the true value
/// is left to `str::parse`.
fn nearest_quotient(m: u64, k: usize, power: f64) -> Option<f64> {
    const HIDDEN: u64 = 1 << 52;
    let divisor = u128::from(*POW10.get(k)?);
    let bits = (m as f64 / power).to_bits();
    let biased = bits >> 52;
    // The value is `M * 2^(biased - 1075)`; only exponents from -64 to 0 are handled here.
    let shift = 1075u64.checked_sub(biased)?;
    if shift > 64 {
        return None;
    }
    let scaled = u128::from(m) << shift;
    let mut candidate = (bits & (HIDDEN - 1)) | HIDDEN;
    for _ in 0..2 {
        let product = u128::from(candidate) * divisor;
        let above = product > scaled;
        let twice_gap = scaled.abs_diff(product).saturating_mul(2);
        if above && candidate == HIDDEN && twice_gap != 0 {
            return None;
        }
        if twice_gap < divisor || (twice_gap == divisor && candidate % 2 == 0) {
            return Some(f64::from_bits((biased << 52) | (candidate & (HIDDEN - 1))));
        }
        candidate = if above { candidate - 1 } else { candidate + 1 };
        if !(HIDDEN..2 * HIDDEN).contains(&candidate) {
            return None;
        }
    }
    None
}

/// Bytes examined by the parsing functions, counted in tests only: a deterministic measure of
/// the work done, to check that it stays linear in the input however the input is split.
#[cfg(any(test, feature = "work-counter"))]
pub(crate) mod work {
    use std::cell::Cell;

    thread_local! {
        static BYTES: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn note(n: usize) {
        BYTES.with(|b| b.set(b.get() + n as u64));
    }

    /// The count so far on this thread, reset to zero.
    pub(crate) fn take() -> u64 {
        BYTES.with(|b| b.replace(0))
    }
}

#[cfg(not(any(test, feature = "work-counter")))]
mod work {
    #[inline(always)]
    pub(super) fn note(_: usize) {}
}

#[cfg(test)]
mod tests;
