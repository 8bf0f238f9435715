//! Number parsing: integer lines, length headers, doubles and big numbers. The word-at-a-time
//! (SWAR) digit parsing and the exact double parser are tested against `str::parse` in the
//! tests below and in `tests/parsers.rs`.

use super::*;

pub(super) enum IntLine {
    Incomplete,
    Done { value: i64, end: usize },
    Bad { at: usize, expected: Expected },
}

/// The length and header end of a header of one to four digits (`$8\r\n`, `*128\r\n`,
/// `$1024\r\n`) at the front of `s`, or `None` for anything else, which the rest of
/// [`parse_len`] then parses (and reports).
/// Most bulk strings in replies are that short, and the loop in `parse_len` spent a third of
/// an array element's instructions on them. Four digits cover values of up to 9,999 bytes:
/// through `parse_len_general`, a 1 KiB bulk string took a fifth more instructions.
///
/// The narrow types tell the compiler how small both are, so that the checked arithmetic on
/// a payload's end (`payload_total`) folds away after it: 4 instructions of a 16-byte bulk
/// string's 46 in an array (callgrind).
#[inline(always)]
pub(super) fn short_len(s: &[u8]) -> Option<(u16, u8)> {
    work::note(7);
    let &[_, a, b, c, ..] = s else {
        return None;
    };
    let high = a.wrapping_sub(b'0');
    if high > 9 {
        return None;
    }
    if b == b'\r' {
        return (c == b'\n').then_some((u16::from(high), 4));
    }
    let mid = b.wrapping_sub(b'0');
    if mid > 9 {
        return None;
    }
    let two = u16::from(high * 10 + mid);
    if c == b'\r' {
        return (s.get(4) == Some(&b'\n')).then_some((two, 5));
    }
    let low = c.wrapping_sub(b'0');
    if low > 9 {
        return None;
    }
    let three = two * 10 + u16::from(low);
    match s.get(4..6)? {
        b"\r\n" => Some((three, 6)),
        &[d, b'\r'] if d.is_ascii_digit() && s.get(6) == Some(&b'\n') => {
            Some((three * 10 + u16::from(d - b'0'), 7))
        }
        _ => None,
    }
}

/// The value and count of the leading decimal digits of `src`, when there are 1 to 19 of them
/// followed by `\r\n` and the bytes examined (8, 16 for more than 7 digits, 24 for more than
/// 15) can be read; `None` otherwise (callers then take the byte-at-a-time path, which also
/// reports errors). Nineteen digits always fit a `u64`.
///
/// Eight bytes are examined at once: a byte-per-iteration loop ends on a branch whose outcome
/// depends on the number's length, mispredicted on integer replies of mixed sizes, and that
/// dominated their cost. Lengths of one to four digits are read by position instead
/// ([`short_len`]); longer ones come here too.
#[inline(always)]
pub(super) fn short_digits(src: &[u8]) -> Option<(u64, usize)> {
    work::note(24);
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
    let high = digits_value(x, 8);
    if m < 8 {
        if src.get(8 + m..10 + m) != Some(b"\r\n") {
            return None;
        }
        let value = if m == 0 {
            high
        } else {
            high * POW10[m] + digits_value(y, m)
        };
        return Some((value, 8 + m));
    }
    // Sixteen to nineteen digits: hashes and other full-range 64-bit values. The byte loop
    // took 13 instructions a digit for them, a third of a reply mix's integer time.
    let (z, k) = digit_run(u64::from_le_bytes(*src.get(16..)?.first_chunk::<8>()?));
    if k > 3 || src.get(16 + k..18 + k) != Some(b"\r\n") {
        return None;
    }
    let sixteen = high * POW10[8] + digits_value(y, 8);
    let value = if k == 0 {
        sixteen
    } else {
        sixteen * POW10[k] + digits_value(z, k)
    };
    Some((value, 16 + k))
}

/// Powers of ten up to 10^19, for joining runs of digits.
pub(super) const POW10: [u64; 20] = {
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
pub(super) fn digit_run(word: u64) -> (u64, usize) {
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
pub(super) fn digits_value(x: u64, n: usize) -> u64 {
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
pub(super) fn parse_i64_line_fast(src: &[u8], start: usize) -> IntLine {
    let negative = src.get(start) == Some(&b'-');
    let digits = start + usize::from(negative);
    if let Some((value, n)) = src.get(digits..).and_then(short_digits) {
        // Nineteen digits may be out of range: those are left to the loop, which reports it.
        let value = if negative {
            0i64.checked_sub_unsigned(value)
        } else {
            i64::try_from(value).ok()
        };
        if let Some(value) = value {
            return IntLine::Done {
                value,
                end: digits + n + 2,
            };
        }
    }
    parse_i64_line(src, start)
}

/// Parses `[-]digits\r\n` starting at `src[start]`, in one pass, without a separate search for
/// the line end. Rejects `+`, spaces, an empty number and overflow.
#[inline]
pub(super) fn parse_i64_line(src: &[u8], start: usize) -> IntLine {
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

/// A parsed length header.
pub(super) enum Len {
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

/// Parses a length header after the type byte at `src[0]`: digits, `-1` or `?`, then `\r\n`.
/// Callers go through [`length_line`], which adds the line limit.
#[inline(always)]
pub(super) fn parse_len(src: &[u8]) -> Result<Len, (usize, Expected)> {
    if let Some((len, end)) = short_len(src) {
        return Ok(Len::Known {
            len: u64::from(len),
            end: usize::from(end),
        });
    }
    parse_len_general(src)
}

/// [`parse_len`] for everything but one to four digits (through `long_length_line` where
/// `short_len` has been tried already). Out of line: inlined into the lane's
/// loop with the short case, it made the lane's elements 15 % more instructions (callgrind,
/// a RESP3 map of 100 bulk-string pairs).
#[inline(never)]
pub(super) fn parse_len_general(src: &[u8]) -> Result<Len, (usize, Expected)> {
    // Lengths of five digits and more (`$65536`), as integers are read: the byte loop below
    // took a hundred instructions for `$1024\r\n`.
    if let Some((len, n)) = src.get(1..).and_then(short_digits) {
        return Ok(Len::Known { len, end: n + 3 });
    }
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
pub(super) fn is_big_number(line: &[u8]) -> bool {
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
pub(super) fn all_ascii_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    word & HIGH == THREES && word.wrapping_add(0x0606_0606_0606_0606) & HIGH == THREES
}

/// A RESP3 boolean's text: `t` or `f`.
pub(super) fn parse_boolean(line: &[u8]) -> Option<bool> {
    match line {
        b"t" => Some(true),
        b"f" => Some(false),
        _ => None,
    }
}

/// Parses a RESP3 double: `[+-]digits[.digits][(e|E)[+-]digits]`, `inf`, `-inf`, `nan`.
pub(super) fn parse_double(line: &[u8]) -> Option<f64> {
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
pub(super) fn exact_decimal(body: &[u8]) -> Option<f64> {
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
pub(super) fn leading_digits(s: &[u8], start: usize) -> (u64, usize) {
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
pub(super) fn nearest_quotient(m: u64, k: usize, power: f64) -> Option<f64> {
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

/// The specialised parsers against `str::parse`: the word-at-a-time integer path
/// (`short_digits`), the positional lengths (`short_len`) and the byte loops behind them must
/// agree with it on every line, padded or not, and reject what it rejects.
#[cfg(test)]
mod differential {
    use super::*;
    use proptest::prelude::*;

    /// What `str::parse` makes of a line's text, with RESP's own rules: no `+`, at most
    /// `MAX_NUMBER_LINE` bytes.
    fn std_i64(text: &str) -> Option<i64> {
        if text.starts_with('+') || text.len() > Limits::MAX_NUMBER_LINE {
            return None;
        }
        text.parse().ok()
    }

    fn std_u64(text: &str) -> Option<u64> {
        if text.starts_with('+') || text.len() > Limits::MAX_NUMBER_LINE {
            return None;
        }
        text.parse().ok()
    }

    proptest! {
        #[test]
        fn integer_lines_parse_as_std_does(
            text in "-?0{0,6}[0-9]{0,21}|-?[0-9]{0,3}[ +a]?[0-9]{0,3}",
            tail in prop::sample::select(vec!["\r\n", "\r\n:1\r\n", "\r\n$5\r\nhello\r\n"]),
        ) {
            let line = format!(":{text}{tail}");
            let got = match parse_i64_line_fast(line.as_bytes(), 1) {
                IntLine::Done { value, end } => {
                    prop_assert_eq!(end, text.len() + 3);
                    Some(value)
                }
                IntLine::Bad { .. } => None,
                IntLine::Incomplete => panic!("{line:?}: a complete line read as incomplete"),
            };
            prop_assert_eq!(got, std_i64(&text), "{:?}", line);
        }

        #[test]
        fn lengths_parse_as_std_does(
            text in "0{0,6}[0-9]{0,21}|[0-9]{0,3}[ +a-]?[0-9]{0,3}",
            tail in prop::sample::select(vec!["\r\n", "\r\nabc\r\n", "\r\n*1\r\n:1\r\n"]),
        ) {
            let line = format!("${text}{tail}");
            let got = match parse_len(line.as_bytes()) {
                Ok(Len::Known { len, end }) => {
                    prop_assert_eq!(end, text.len() + 3);
                    Some(len)
                }
                Ok(Len::Null { .. }) => Some(u64::MAX),
                Ok(Len::Streamed { .. } | Len::Incomplete) => panic!("{line:?}"),
                Err(_) => None,
            };
            let want = if text == "-1" { Some(u64::MAX) } else { std_u64(&text) };
            prop_assert_eq!(got, want, "{:?}", line);
        }
    }
}
