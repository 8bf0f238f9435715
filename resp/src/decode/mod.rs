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
//!   of nested arrays of such scalars is one pass.
//!
//! A third, at the top of `decode_general`, is for read boundaries: a top-level bulk string
//! cut by the end of a read (its header consumed by `bulk`, its payload pending) is returned
//! directly once the payload has arrived, without `step`.
//!
//! The fast paths do not repeat the grammar: each rule is one function in `rules.rs` or
//! `number.rs` that all three paths call (`integer_line`, `length_line`, `line_fits`,
//! `bulk_len`, `payload_end`, `parse_double`, `is_big_number`, the line-end finders), and the
//! frames of line-typed and bulk-like values are built by `Decoder::line_frame` and
//! `Decoder::bulk_frame` whichever path found them. The line search has two forms: the fast
//! paths' one, bounded by the line limit, and `Decoder::line_end`, which resumes where it
//! stopped; the resumable one in the fast paths too cost a reply mix of RESP3 scalars 3.6 %
//! more instructions (callgrind). A fast path takes what a rule accepts and leaves everything
//! else, including every error, to the state machine, which reports it from the same rule's
//! answer. The property tests feed every input whole and in every split, which sends the same
//! bytes through all the paths.
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
//! - A rule's limit checks and the fast paths' acceptance go together: a fast path may only
//!   accept what the state machine would, so a new check goes into the rule, never into one
//!   path.
//! - Every call consumes bytes, returns `Ok(None)` having examined all it was given, or fails.
//!   A failure is stored in `failed` and returned again by every later call: after an error the
//!   stream position is unknown, so the connection must be closed.
//!
//! Files, by concern:
//!
//! - `mod.rs`: the decoder's state and public API, and the helpers that consume bytes.
//! - `machine.rs`: the general path (`step`, the stack of open aggregates, every error).
//! - `fast.rs`: the two fast paths described above.
//! - `rules.rs` and `number.rs`: the grammar's rules (line ends, payload ends, integers,
//!   lengths, doubles, big numbers), each written once and called by every path.
//! - `tests/`: the unit tests and properties, a file per concern (see `tests/mod.rs`).
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
use number::{is_big_number, parse_boolean, parse_double};

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

    /// How many bytes the buffer given to the next call must hold, from its front, for the
    /// frame in progress to get past the bulk payload it is waiting for: `Some(n)` once the
    /// header of a bulk string, bulk error, verbatim string or streamed-string chunk has been
    /// consumed and its payload and the `\r\n` after it have not all arrived; `None` when the
    /// decoder is waiting for nothing of known size (between frames, within a line).
    ///
    /// For a read loop that sizes its buffer: a large payload can be read into an allocation
    /// of its own size, made once, instead of a buffer that doubles towards it and copies what
    /// it holds at each doubling. `n` is what the server announced, within
    /// [`Limits::max_bulk_len`]: cap what you reserve on its word.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use resp_codec::Decoder;
    ///
    /// let mut decoder = Decoder::new();
    /// let mut buf = BytesMut::from(&b"$100000\r\nabc"[..]);
    /// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    /// // The header is consumed: the buffer starts with the payload.
    /// let want = decoder.pending_payload().unwrap();
    /// assert_eq!(want, 100_002);
    /// if want > buf.capacity() {
    ///     let mut sized = BytesMut::with_capacity(want);
    ///     sized.extend_from_slice(&buf);
    ///     buf = sized;
    /// }
    /// ```
    pub fn pending_payload(&self) -> Option<usize> {
        match self.pending {
            Pending::Bulk { len, .. }
            | Pending::Streamed {
                chunk: Some(len), ..
            } => Some(len.saturating_add(2)),
            _ => None,
        }
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
        // The general path hands its frame back through `out`, not as its return value.
        // Returned, it was written straight into this function's result and merged there
        // with the fast path's frame, which the caller's moves then read in 16-byte pieces,
        // each straddling two of the fast path's 8-byte stores: a stall on store-to-load
        // forwarding every reply, most of a `+OK`'s time (peer harness: 19-21 -> 7.5-10 ns
        // a `+OK`, 23-28 -> 18-19 ns an integer).
        let mut out = None;
        self.decode_general(src, &mut out)?;
        Ok(out)
    }

    #[inline]
    fn is_idle(&self) -> bool {
        self.failed.is_none() && self.depth == 0 && matches!(self.pending, Pending::None)
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

    /// Consumes the complete line of type `ty` (`+ - , # _ (`) whose `\r` is at `cr` and
    /// returns its value: the rule for line-typed values, which every path applies once it has
    /// found the line's end. `Err` says what the text should have been, with nothing consumed:
    /// the fast path then leaves the line to the state machine, which reports it.
    ///
    /// Each arm returns its frame directly: building it into a local first made the compiler
    /// copy it to the result field by field, and that copy stalled.
    #[inline(always)]
    fn line_frame(&mut self, src: &mut BytesMut, ty: u8, cr: usize) -> Result<Frame, Expected> {
        let line = &src[1..cr];
        match ty {
            b'+' => Ok(Frame::SimpleString(self.status_line(src, cr))),
            b'-' => Ok(Frame::SimpleError(self.take_payload(
                src,
                1,
                cr - 1,
                cr + 2,
            ))),
            b'(' if is_big_number(line) => {
                Ok(Frame::BigNumber(self.take_payload(src, 1, cr - 1, cr + 2)))
            }
            b'(' => Err(Expected::BigNumber),
            b',' => {
                let value = parse_double(line).ok_or(Expected::Double)?;
                self.skip(src, cr + 2);
                Ok(Frame::Double(value))
            }
            b'#' => {
                let value = parse_boolean(line).ok_or(Expected::Boolean)?;
                self.skip(src, cr + 2);
                Ok(Frame::Boolean(value))
            }
            _ if line.is_empty() => {
                self.skip(src, cr + 2);
                Ok(Frame::Null)
            }
            _ => Err(Expected::Null),
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

mod build;
mod fast;
mod machine;
mod number;
mod rules;
#[cfg(test)]
mod tests;
