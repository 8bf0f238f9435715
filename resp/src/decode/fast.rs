//! The fast paths in front of the state machine (`machine.rs`): complete top-level replies
//! returned in one pass, and the lane that moves the common scalars of an open aggregate
//! straight into it. They only ever take input that the state machine would accept the same
//! way, by calling the same rules (`rules.rs`, `number.rs`); anything else, including every
//! error, is left to the state machine untouched.

use super::build::{LIST_SLOT, PAIR_SLOT, extend_within, put, put_list};
use super::number::*;
use super::rules::*;
use super::*;

impl Decoder {
    /// A complete and valid `+`, `-`, `:` or `$` frame at the front of `src`, or `None` (with
    /// nothing consumed) for everything else.
    #[inline(always)]
    pub(super) fn top_level_scalar(&mut self, src: &mut BytesMut) -> Option<Frame> {
        match *src.first()? {
            b'+' => {
                // `+OK\r\n` is the reply of every command that only succeeds, and most of
                // what a pipeline of writes reads: compared whole, it skips the line scan and
                // the payload copy (callgrind, a stream of them: 151 -> 102 instructions a
                // reply). Any other status line takes the rule below.
                if src.starts_with(b"+OK\r\n") && line_fits(2, &self.limits) {
                    work::note(5);
                    self.skip(src, 5);
                    return Some(Frame::SimpleString(Payload::OK));
                }
                let cr = short_line_end(src)?;
                if !line_fits(cr - 1, &self.limits) {
                    return None;
                }
                self.line_frame(src, b'+', cr).ok()
            }
            b':' => match integer_line(src, &self.limits) {
                Ok(Some((value, end))) => {
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
    pub(super) fn top_level_other(&mut self, src: &mut BytesMut) -> Option<Frame> {
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
        let cr = match short_line_end(src) {
            Some(cr) => cr,
            None if self.scanned == 0 => long_line_end(src, self.limits.max_line_len)?,
            None => return None,
        };
        if !line_fits(cr - 1, &self.limits) {
            return None;
        }
        self.line_frame(src, ty, cr).ok()
    }

    /// A top-level `*0`, `%0`, `~0` or `>0` (an empty `LRANGE`, `HGETALL` or `SMEMBERS`), or
    /// `None` with nothing consumed. `open` would return it through `step`, moving it twice.
    #[inline]
    pub(super) fn empty_aggregate(&mut self, src: &mut BytesMut, ty: u8) -> Option<Frame> {
        let limits = &self.limits;
        if src.get(1..4) != Some(b"0\r\n") || limits.max_depth == 0 || !line_fits(1, limits) {
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
    #[inline(never)]
    pub(super) fn top_level_list(&mut self, src: &mut BytesMut, kind: u8) -> Option<Frame> {
        let limits = self.limits;
        if limits.max_depth == 0 {
            return None;
        }
        let mut cur = Lane::new(limits);
        let count = cur.count(src, LIST_SLOT, self.budget_left())?;
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
    pub(super) fn adopt_list(
        &mut self,
        kind: u8,
        items: Vec<Frame>,
        received: u64,
        remaining: u64,
    ) {
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
    pub(super) fn complete_bulk(&mut self, src: &mut BytesMut) -> Option<Payload> {
        let (end, len, total) = bulk_extent(src, &self.limits)?;
        Some(self.take_payload(src, end, len, total))
    }

    /// Opens a length-prefixed aggregate of type `kind` (`*`, `~`, `>` or `%`) and `count`
    /// elements or pairs, whose header the lane has read, in the next stack slot. The spare
    /// level there is usually one of the same shape, emptied when it closed: it is refilled in
    /// place rather than through `push_level`'s call. Called with a constant `kind` for the
    /// nested arrays the lane opens, so the checks of the type fold away there. The caller has
    /// checked its cost against the decoded-size budget and charges it.
    #[inline(always)]
    pub(super) fn open_aggregate(&mut self, kind: u8, count: u64) {
        let cap = (count as usize).min(Limits::MAX_PREALLOCATED_ELEMENTS);
        let max = self.limits.max_aggregate_len;
        let per = if kind == b'%' { 2 } else { 1 };
        if let Some(level) = self.stack.get_mut(self.depth) {
            if level.items.refill(per == 2, cap) {
                // The lane checked `count` times an element's size against the budget, so
                // doubling cannot overflow.
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
    pub(super) fn fill(&mut self, src: &mut BytesMut) -> Fill {
        if !matches!(self.pending, Pending::None) {
            return Fill::Stopped;
        }
        let limits = self.limits;
        let mut cur = Lane::new(limits);
        // What the decoded-size budget has left, kept here while the lane opens aggregates and
        // written back to `held` once at the end: per nested array, that was a tenth of its
        // instructions.
        let mut left = self.budget_left();
        // A top-level array (MGET, LRANGE, HGETALL in RESP2, XREAD) is opened the same way as a
        // nested one, rather than through `step` and `open`.
        if self.depth == 0 {
            if limits.max_depth == 0 {
                return Fill::Stopped;
            }
            let Some((kind, count)) = cur.aggregate_header(src, left) else {
                return Fill::Stopped;
            };
            left -= count * if kind == b'%' { PAIR_SLOT } else { LIST_SLOT };
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
                if let Some(count) = cur.array_header(src, left) {
                    left -= count * LIST_SLOT;
                    self.open_aggregate(b'*', count);
                    continue;
                }
            }
            break Fill::Stopped;
        };
        self.settle(&mut cur, src);
        self.held = limits.max_decoded_size as u64 - left;
        outcome
    }

    /// Removes the bytes the lane `cur` parsed from `src` and counts them as consumed.
    #[inline(always)]
    pub(super) fn settle(&mut self, cur: &mut Lane, src: &mut BytesMut) {
        cur.finish(src);
        if cur.consumed > 0 {
            self.consumed += cur.consumed;
            self.scanned = 0;
        }
    }
}

/// Where [`Decoder::fill`] stopped.
pub(super) enum Fill {
    /// The innermost open aggregate has received its last element.
    Complete,
    /// At anything else, for [`Decoder::step`].
    Stopped,
}

/// Placeholders [`Decoder::fill`] adds to an array at a time.
pub(super) const FILL_BATCH: u64 = 64;

/// A cursor over complete scalars at the front of a buffer, for [`Decoder::fill`]. Bytes before
/// `pos` have been parsed but not yet removed from the buffer: removing them once, at the end,
/// is cheaper than once per element.
pub(super) struct Lane {
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
            b':' => match integer_line(s, &self.limits) {
                Ok(Some((value, end))) => {
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
                if !line_fits(cr - 1, &self.limits) {
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
    /// aggregates, attributes, and counts over a limit), which [`Decoder::step`]
    /// handles and reports. The caller checks the depth limit.
    #[inline(always)]
    fn aggregate_header(&mut self, src: &[u8], left: u64) -> Option<(u8, u64)> {
        let s = &src[self.pos..];
        let kind = *s.first()?;
        if !matches!(kind, b'*' | b'%' | b'~' | b'>') {
            return None;
        }
        let slot = if kind == b'%' { PAIR_SLOT } else { LIST_SLOT };
        Some((kind, self.count(s, slot, left)?))
    }

    /// [`Lane::aggregate_header`] for arrays only: the nested aggregates of common replies are
    /// arrays, and opening them is cheaper when their type is known.
    #[inline(always)]
    fn array_header(&mut self, src: &[u8], left: u64) -> Option<u64> {
        let s = &src[self.pos..];
        if s.first() != Some(&b'*') {
            return None;
        }
        self.count(s, LIST_SLOT, left)
    }

    /// The count of the aggregate header `s` starts with, consumed, for the two functions above;
    /// `None` too for a count whose elements of `slot` bytes take more than `left`, what the
    /// decoded-size budget has left (a multiplication: a division here was a tenth of the cost
    /// of opening a nested array).
    #[inline(always)]
    fn count(&mut self, s: &[u8], slot: u64, left: u64) -> Option<u64> {
        let Ok(Len::Known { len: count, end }) = length_line(s, &self.limits) else {
            return None;
        };
        if count == 0
            || count > self.limits.max_aggregate_len
            || count.checked_mul(slot).is_none_or(|bytes| bytes > left)
        {
            return None;
        }
        self.pos += end;
        Some(count)
    }

    /// Consumes the `total` bytes at `pos` and puts `len` of them from `start` (relative to
    /// `pos`), as a zero-copy slice in a simple or bulk string, into `out`, removing the bytes
    /// parsed before them too. The frame is built here rather than returned: a payload
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
        // One `split_to` takes the bytes parsed before the payload with it: removing them
        // first (`finish`) cost a second adjustment of the buffer per payload.
        let end = self.pos + total;
        self.consumed += end as u64;
        let mut payload = src.split_to(end);
        payload.advance(self.pos + start);
        self.pos = 0;
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

impl Level {
    /// Moves the complete common scalars at the lane's position into this level, as
    /// [`Decoder::fill`] describes. False when the level takes no lane (a map whose key is
    /// waiting for its value, an attribute's annotated value).
    #[inline(always)]
    pub(super) fn fill_from(&mut self, cur: &mut Lane, src: &mut BytesMut) -> bool {
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
                        extend_within(items, n + batch, n + self.remaining as usize, || {
                            Frame::Null
                        });
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
                        extend_within(pairs, n + batch, n + (self.remaining / 2) as usize, || {
                            (Frame::Null, Frame::Null)
                        });
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
}
