//! The rules every path shares: where a line ends and whether it fits the line limit, integer
//! lines and length headers within it, bulk lengths within their limit, and where a bulk-like
//! payload ends, checked. The state machine turns a rule's refusal into an error; the fast
//! paths leave it to the state machine.

use super::number::*;
use super::*;

/// The index of the `\r` of a well-formed short line starting at `src[0]`, or `None` when the
/// line is not complete, not well formed, or long (past 32 bytes): callers then fall back to
/// the general search. Replies such as `+OK` and `,3.14` are a few bytes, where a `memchr`
/// call's setup dominates. Eight bytes at a time: doubles, big numbers and error messages run
/// to 20 bytes and more, where a byte loop cost five instructions a byte, and even for the
/// `+OK`s of a pipeline this took fewer instructions than the byte loop that was kept for them
/// (callgrind, a stream of `+OK`s: 3 % fewer).
#[inline(always)]
pub(super) fn short_line_end(src: &[u8]) -> Option<usize> {
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
pub(super) fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

/// The `\r` of a complete line of at most `max_len` bytes at the front of `src`, or `None` when
/// there is none (the line is incomplete, too long, or not ended by `\r\n`): [`short_line_end`]
/// with a window as wide as the line limit.
pub(super) fn long_line_end(src: &[u8], max_len: usize) -> Option<usize> {
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
pub(super) fn bulk_extent(s: &[u8], limits: &Limits) -> Option<(usize, usize, usize)> {
    // Each arm finds the payload's end itself: after a merge of the two, the compiler no
    // longer knew that a short length cannot overflow it.
    match short_len(s) {
        // The usual length, with its small types at hand: through `length_line` and its
        // `u64`, the checks below took a tenth more instructions per 16-byte bulk string.
        Some(short) => {
            let (len, end) = short_bulk_header(short, limits)?;
            complete_payload(s, end, len)
        }
        None => match long_length_line(s, limits) {
            Ok(Len::Known { len, end }) => complete_payload(s, end, bulk_len(len, limits)?),
            _ => None,
        },
    }
}

/// A bulk length header of one to four digits ([`short_len`]'s `(len, end)`) within the line
/// and bulk limits, as `(len, end)`; `None` when over either (the general path reports which).
#[inline(always)]
pub(super) fn short_bulk_header((len, end): (u16, u8), limits: &Limits) -> Option<(usize, usize)> {
    let (len, end) = (usize::from(len), usize::from(end));
    (line_fits(end - 3, limits) && len as u64 <= limits.max_bulk_len).then_some((len, end))
}

/// `(end, len, total)` when the payload of `len` bytes at `s[end]` is complete ([`payload_end`]).
#[inline(always)]
fn complete_payload(s: &[u8], end: usize, len: usize) -> Option<(usize, usize, usize)> {
    match payload_end(s, end, len) {
        PayloadEnd::Complete(total) => Some((end, len, total)),
        _ => None,
    }
}

/// Whether a line with `content` bytes between its type byte and `\r\n` is within the line
/// limit. Every path checks every line kind here, text and number lines alike, so that the
/// limit means the same whichever path reads the line.
#[inline(always)]
pub(super) fn line_fits(content: usize, limits: &Limits) -> bool {
    content <= limits.max_line_len
}

/// A bad line or header: where, and what was expected there; or over the line limit, with
/// its content length.
pub(super) enum LineError {
    Syntax(usize, Expected),
    TooLong(usize),
}

/// The integer line (`:`) at the front of `src`, within the line limit: the rule every path
/// applies to integers.
#[inline(always)]
pub(super) fn integer_line(src: &[u8], limits: &Limits) -> Result<Option<(i64, usize)>, LineError> {
    match parse_i64_line_fast(src, 1) {
        IntLine::Done { value, end } if line_fits(end - 3, limits) => Ok(Some((value, end))),
        IntLine::Done { end, .. } => Err(LineError::TooLong(end - 3)),
        IntLine::Incomplete => Ok(None),
        IntLine::Bad { at, expected } => Err(LineError::Syntax(at, expected)),
    }
}

/// The length header (`$ ! = * % ~ > | ;`) at the front of `src`, within the line limit: the
/// rule every path applies to lengths and counts.
#[inline(always)]
pub(super) fn length_line(src: &[u8], limits: &Limits) -> Result<Len, LineError> {
    within_line_limit(parse_len(src), limits)
}

/// [`length_line`] for a header that [`short_len`] has already refused, so that a long length
/// (`$65536`) is not tried twice as a short one.
#[inline(always)]
pub(super) fn long_length_line(src: &[u8], limits: &Limits) -> Result<Len, LineError> {
    within_line_limit(parse_len_general(src), limits)
}

#[inline(always)]
fn within_line_limit(
    parsed: Result<Len, (usize, Expected)>,
    limits: &Limits,
) -> Result<Len, LineError> {
    match parsed {
        Ok(len) => {
            if let Len::Known { end, .. } | Len::Null { end } | Len::Streamed { end } = len {
                if !line_fits(end - 3, limits) {
                    return Err(LineError::TooLong(end - 3));
                }
            }
            Ok(len)
        }
        Err((at, expected)) => Err(LineError::Syntax(at, expected)),
    }
}

/// A bulk length within [`Limits::max_bulk_len`] (so at most `MAX_BULK_LEN_CEILING`, and
/// its payload's end cannot overflow), as a `usize`; `None` when over.
#[inline(always)]
pub(super) fn bulk_len(len: u64, limits: &Limits) -> Option<usize> {
    if len > limits.max_bulk_len {
        return None;
    }
    usize::try_from(len).ok()
}

/// Where a bulk-like payload ends.
pub(super) enum PayloadEnd {
    /// It and its `\r\n` have arrived; the index after them.
    Complete(usize),
    Partial,
    /// The bytes after the payload are not `\r\n`: where they go wrong.
    BadEnd(usize),
    /// Its end does not fit a `usize`.
    Overflow,
}

/// Where the payload of `len` bytes starting at `src[start]` ends, checked: the rule every
/// path applies to bulk strings, bulk errors, verbatim strings and streamed chunks.
#[inline(always)]
pub(super) fn payload_end(src: &[u8], start: usize, len: usize) -> PayloadEnd {
    let Some(total) = payload_total(start, len) else {
        return PayloadEnd::Overflow;
    };
    let Some(ending) = src.get(total - 2..total) else {
        return PayloadEnd::Partial;
    };
    if ending == b"\r\n" {
        PayloadEnd::Complete(total)
    } else if ending[0] == b'\r' {
        PayloadEnd::BadEnd(total - 1)
    } else {
        PayloadEnd::BadEnd(total - 2)
    }
}

/// The length of a bulk-like frame whose header takes `end` bytes and whose payload `len`,
/// with the `\r\n` after the payload; `None` when that does not fit a `usize`. Every path
/// that skips a payload by its announced length computes its end here: with the bulk limit
/// lifted, unchecked arithmetic wrapped and the stream desynchronised.
#[inline(always)]
pub(super) fn payload_total(end: usize, len: usize) -> Option<usize> {
    // `end` is an index into the buffer, far from `usize::MAX`; one check covers the sum.
    len.checked_add(end + 2)
}

/// Whether `s` starts with a complete RESP2 null bulk string `$-1\r\n` within the line limit.
/// Anything else starting `$-` (partial, malformed) is for [`parse_len`], which reports it.
#[inline(always)]
pub(super) fn is_null_bulk(s: &[u8], limits: &Limits) -> bool {
    s.get(1..5) == Some(b"-1\r\n") && line_fits(2, limits)
}
