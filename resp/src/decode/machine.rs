//! The general path: the state machine that parses one element per `step`, keeps open
//! aggregates on the decoder's stack and reports every error. See the design note in `mod.rs`.

use super::build::{LIST_SLOT, PAIR_SLOT, extend_within, put, put_list};
use super::fast::Fill;
use super::number::*;
use super::rules::*;
use super::*;

impl Decoder {
    /// Everything [`Decoder::decode`]'s fast path leaves: the frame, if one is complete, goes
    /// into `out` (see `decode` for why not in the return value).
    #[inline(never)]
    pub(super) fn decode_general(
        &mut self,
        src: &mut BytesMut,
        out: &mut Option<Frame>,
    ) -> Result<(), DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.is_idle() {
            if let Some(frame) = self.top_level_other(src) {
                *out = Some(frame);
                return Ok(());
            }
        }
        // A top-level bulk string cut by the end of a read, whose header the call before
        // consumed, and whose payload has now arrived: its frame goes straight into `out`.
        // Through `step` and `decode_inner` it was moved three more times, and those moves
        // stalled (a 1 KiB bulk string in two pieces: 70 -> 32 ns more than whole).
        if let (0, Pending::Bulk { kind: b'$', len }) = (self.depth, &self.pending) {
            let len = *len;
            if let PayloadEnd::Complete(total) = payload_end(src, 0, len) {
                self.pending = Pending::None;
                *out = Some(Frame::BulkString(self.take_payload(src, 0, len, total)));
                return Ok(());
            }
        }
        // With no aggregate open and none starting, the reply is one `step`: the lane (`fill`)
        // would find nothing to do. A `$` here is one the fast path did not take (cut by the
        // end of a read, most often: `bulk` consumes its header and leaves it pending), so it
        // goes to `bulk`; `step` would try the fast path's rule again.
        let top_level_scalar = self.depth == 0
            && (!matches!(self.pending, Pending::None)
                || !matches!(src.first(), Some(b'*' | b'%' | b'~' | b'>' | b'|')));
        let result = if top_level_scalar {
            let step = match self.pending {
                Pending::None if src.first() == Some(&b'$') => self.bulk(src, b'$'),
                _ => self.step(src),
            };
            step.map(|step| match step {
                Step::Value(frame) => Some(frame),
                // `Opened` needs an aggregate's type byte, `Complete` an open aggregate.
                _ => None,
            })
        } else {
            self.decode_inner(src)
        };
        match result {
            Ok(frame) => {
                *out = frame;
                Ok(())
            }
            Err(err) => {
                self.failed = Some(err.clone());
                self.stack = Vec::new();
                self.depth = 0;
                self.pending = Pending::None;
                Err(err)
            }
        }
    }

    pub(super) fn decode_inner(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<Frame>, DecodeError> {
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
    pub(super) fn deliver(&mut self, frame: Frame) -> Result<bool, DecodeError> {
        self.make_room(self.depth - 1)?;
        put(self.stack[self.depth - 1].slot(), frame);
        self.check_received()
    }

    /// Whether the innermost open aggregate is complete, after a value was added to it; a
    /// streamed aggregate that has now received too many is an error.
    #[inline]
    pub(super) fn check_received(&self) -> Result<bool, DecodeError> {
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
    pub(super) fn close(&mut self) -> Result<Option<Frame>, DecodeError> {
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
    pub(super) fn push_level(
        &mut self,
        kind: u8,
        remaining: u64,
        max_items: u64,
        streamed: bool,
        cap: usize,
    ) {
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

    /// Parses one element at the front of `src`: a scalar, or an aggregate header.
    #[inline]
    pub(super) fn step(&mut self, src: &mut BytesMut) -> Result<Step, DecodeError> {
        if !matches!(self.pending, Pending::None) {
            return self.resume_pending(src);
        }
        let Some(&ty) = src.first() else {
            return Ok(Step::Incomplete);
        };
        match ty {
            b':' => match integer_line(src, &self.limits) {
                Ok(Some((value, end))) => {
                    self.skip(src, end);
                    Ok(Step::Value(Frame::Integer(value)))
                }
                Ok(None) => self.incomplete_line(src),
                Err(e) => Err(self.line_error(src, e)),
            },
            b'$' => match self.complete_bulk(src) {
                Some(payload) => Ok(Step::Value(Frame::BulkString(payload))),
                None => self.bulk(src, ty),
            },
            b'!' | b'=' => self.bulk(src, ty),
            b'*' | b'%' | b'~' | b'>' | b'|' => self.open(src, ty),
            b'+' | b'-' | b',' | b'#' | b'_' | b'(' | b'.' => {
                let Some(cr) = self.line_end(src)? else {
                    return Ok(Step::Incomplete);
                };
                if ty == b'.' {
                    return self.stream_end(src, cr);
                }
                match self.line_frame(src, ty, cr) {
                    Ok(frame) => Ok(Step::Value(frame)),
                    Err(expected) => Err(self.syntax(src, 1, expected)),
                }
            }
            _ => Err(self.syntax(src, 0, Expected::TypeByte)),
        }
    }

    /// `.\r\n`: closes the innermost streamed aggregate.
    pub(super) fn stream_end(
        &mut self,
        src: &mut BytesMut,
        cr: usize,
    ) -> Result<Step, DecodeError> {
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
    pub(super) fn bulk(&mut self, src: &mut BytesMut, ty: u8) -> Result<Step, DecodeError> {
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
        let Some(len) = bulk_len(len, &self.limits) else {
            return Err(self.limit(0, LimitKind::BulkLen, len));
        };
        let Some(total) = self.payload(src, end, len)? else {
            self.skip(src, end);
            self.pending = Pending::Bulk { kind: ty, len };
            return Ok(Step::Incomplete);
        };
        self.check_verbatim(src, ty, end, len)?;
        Ok(Step::Value(self.bulk_frame(src, ty, end, len, total)))
    }

    /// The end of the payload of `len` bytes at `src[start]` ([`payload_end`]), `None` until
    /// it has arrived, or the error where it goes wrong.
    #[inline]
    pub(super) fn payload(
        &self,
        src: &[u8],
        start: usize,
        len: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match payload_end(src, start, len) {
            PayloadEnd::Complete(total) => Ok(Some(total)),
            PayloadEnd::Partial => Ok(None),
            PayloadEnd::BadEnd(at) => Err(self.syntax(src, at, Expected::PayloadEnd)),
            PayloadEnd::Overflow => Err(self.limit(0, LimitKind::BulkLen, len as u64)),
        }
    }

    /// A verbatim string's payload must start with a three-byte format and `:`
    /// ([`Verbatim::is_wire_form`]).
    pub(super) fn check_verbatim(
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
    pub(super) fn resume_pending(&mut self, src: &mut BytesMut) -> Result<Step, DecodeError> {
        if let Pending::Bulk { kind, len } = self.pending {
            let Some(total) = self.payload(src, 0, len)? else {
                return Ok(Step::Incomplete);
            };
            self.check_verbatim(src, kind, 0, len)?;
            self.pending = Pending::None;
            return Ok(Step::Value(self.bulk_frame(src, kind, 0, len, total)));
        }
        loop {
            let Pending::Streamed { chunk, .. } = &self.pending else {
                unreachable!("pending is Streamed here");
            };
            if let Some(len) = *chunk {
                let Some(total) = self.payload(src, 0, len)? else {
                    return Ok(Step::Incomplete);
                };
                let Pending::Streamed { buf, chunk, .. } = &mut self.pending else {
                    unreachable!("pending is Streamed here");
                };
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
            let (true, Some(chunk_len)) = (new_total <= max, bulk_len(len, &self.limits)) else {
                return Err(self.limit(0, LimitKind::BulkLen, new_total));
            };
            *total = new_total;
            *chunk = Some(chunk_len);
            self.skip(src, end);
        }
    }

    /// An aggregate header: pushes a level (or returns an empty / null aggregate at once).
    pub(super) fn open(&mut self, src: &mut BytesMut, ty: u8) -> Result<Step, DecodeError> {
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
    pub(super) fn line_end(&mut self, src: &[u8]) -> Result<Option<usize>, DecodeError> {
        if self.scanned == 0 {
            if let Some(cr) = short_line_end(src) {
                if line_fits(cr - 1, &self.limits) {
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
                if !line_fits(cr - 1, &self.limits) {
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
                if !line_fits(src.len() - 1, &self.limits) {
                    return Err(self.limit(0, LimitKind::LineLen, (src.len() - 1) as u64));
                }
                Ok(None)
            }
        }
    }

    /// A number line without its `\r\n` yet: only the line limit needs checking. It counts the
    /// same bytes as a complete line ([`line_fits`]), a trailing `\r` excluded, so that how the
    /// input is split never changes whether it is accepted.
    pub(super) fn incomplete_line(&mut self, src: &[u8]) -> Result<Step, DecodeError> {
        let content = src.len() - 1 - usize::from(src.last() == Some(&b'\r'));
        if !line_fits(content, &self.limits) {
            return Err(self.limit(0, LimitKind::LineLen, content as u64));
        }
        Ok(Step::Incomplete)
    }

    /// The error for a bad line or header at the front of `src`.
    #[cold]
    pub(super) fn line_error(&self, src: &[u8], error: LineError) -> DecodeError {
        match error {
            LineError::Syntax(at, expected) => self.syntax(src, at, expected),
            LineError::TooLong(content) => self.limit(0, LimitKind::LineLen, content as u64),
        }
    }

    /// The length header at the front of `src` ([`length_line`]).
    #[inline]
    pub(super) fn header(&self, src: &[u8]) -> Result<Len, DecodeError> {
        length_line(src, &self.limits).map_err(|e| self.line_error(src, e))
    }

    /// Charges `bytes` of element memory to the frame in progress, which starts afresh when no
    /// aggregate is open; false, with nothing charged, when that would exceed
    /// [`Limits::max_decoded_size`]. An aggregate of known count is charged in full at its header
    /// (its vector never grows past that count, see `extend_within`), a streamed one as its
    /// vector grows (`make_room`): both are independent of how the input is split.
    #[inline]
    pub(super) fn charge(&mut self, bytes: u64) -> bool {
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

    /// The bytes the decoded-size budget has left for the frame in progress.
    #[inline(always)]
    pub(super) fn budget_left(&self) -> u64 {
        let held = if self.depth == 0 { 0 } else { self.held };
        (self.limits.max_decoded_size as u64).saturating_sub(held)
    }

    /// Before a child is stored in the streamed level `stack[d]`: grows its vector when full,
    /// doubling it, once the budget allows the capacity added.
    pub(super) fn make_room(&mut self, d: usize) -> Result<(), DecodeError> {
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
}

/// What one step of parsing produced.
pub(super) enum Step {
    Value(Frame),
    /// An aggregate header was pushed onto the stack.
    Opened,
    /// The innermost open aggregate has received its last element.
    Complete,
    Incomplete,
}

/// Elements (pairs for maps, counting a pair whose key has arrived) a streamed level has
/// received, for error reports.
pub(super) fn top_count(level: &Level) -> u64 {
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
    pub(super) fn refill(&mut self, paired: bool, cap: usize) -> bool {
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
    pub(super) fn owns_nothing(&self) -> bool {
        match self {
            Items::List(v) => v.capacity() == 0,
            Items::Pairs { pairs, key: None } => pairs.capacity() == 0,
            _ => false,
        }
    }
}

impl Level {
    /// An unused stack slot.
    pub(super) fn spare() -> Level {
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
    pub(super) fn slot(&mut self) -> &mut Frame {
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
    pub(super) fn take_frame(&mut self) -> Frame {
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
    pub(super) fn take_into(&mut self, out: &mut Frame) {
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
