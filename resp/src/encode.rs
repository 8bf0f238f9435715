//! Encoding: commands (arrays of bulk strings) and any [`Frame`], straight into a `BytesMut`.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::Frame;

/// The bytes of one command argument, borrowed or formatted inline (numbers), never allocated.
#[derive(Debug, Clone, Copy)]
pub enum ArgBytes<'a> {
    /// Bytes borrowed from the argument.
    Borrowed(&'a [u8]),
    /// A number formatted on the stack.
    Inline(InlineArg),
}

impl std::ops::Deref for ArgBytes<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            ArgBytes::Borrowed(b) => b,
            ArgBytes::Inline(i) => i.as_bytes(),
        }
    }
}

/// A number formatted into a fixed stack buffer.
#[derive(Debug, Clone, Copy)]
pub struct InlineArg {
    buf: [u8; 32],
    len: u8,
}

impl InlineArg {
    /// The formatted bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    #[inline]
    fn from_u64(mut n: u64, negative: bool) -> Self {
        let mut buf = [0u8; 32];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            i -= 1;
            buf[i] = b'-';
        }
        let len = buf.len() - i;
        buf.copy_within(i.., 0);
        InlineArg {
            buf,
            len: len as u8,
        }
    }

    #[inline]
    fn from_i64(n: i64) -> Self {
        Self::from_u64(n.unsigned_abs(), n < 0)
    }

    /// Formats a double so that parsing the text gives the same value back: the shortest
    /// round-tripping digits, in plain notation for everyday magnitudes and in exponent notation
    /// otherwise (plain notation of `1e300` would take 301 bytes). Infinities are `inf` and
    /// `-inf`, which Redis accepts (for example in `ZADD`); NaN is `nan`.
    pub fn from_f64(f: f64) -> Self {
        let mut w = InlineWriter {
            buf: [0u8; 32],
            len: 0,
        };
        if f.is_nan() {
            w.buf[..3].copy_from_slice(b"nan");
            w.len = 3;
        } else if f.is_infinite() {
            let s: &[u8] = if f > 0.0 { b"inf" } else { b"-inf" };
            w.buf[..s.len()].copy_from_slice(s);
            w.len = s.len();
        } else {
            let a = f.abs();
            // Both forms of any finite f64 fit in 32 bytes: at most 17 significant digits, plus
            // sign, point, and either up to 4 leading zeros or an exponent of up to 5 bytes.
            let _ = if a == 0.0 || (1e-4..1e16).contains(&a) {
                write!(w, "{f}")
            } else {
                write!(w, "{f:e}")
            };
        }
        InlineArg {
            buf: w.buf,
            len: w.len as u8,
        }
    }
}

struct InlineWriter {
    buf: [u8; 32],
    len: usize,
}

impl std::fmt::Write for InlineWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A value that can be sent as one command argument.
///
/// Implemented for byte and text types (sent as they are) and for numbers (sent in decimal,
/// formatted on the stack without allocating).
///
/// `Sync` is required so that futures holding `&dyn ToArg` argument lists across an `.await`
/// stay `Send`.
///
/// # Examples
///
/// ```
/// use resp_codec::ToArg;
///
/// assert_eq!(&*42i64.to_arg(), b"42");
/// assert_eq!(&*1.5f64.to_arg(), b"1.5");
/// assert_eq!(&*"key".to_arg(), b"key");
/// ```
pub trait ToArg: Sync {
    /// This argument's bytes.
    fn to_arg(&self) -> ArgBytes<'_>;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    #[inline]
    fn to_arg(&self) -> ArgBytes<'_> {
        (**self).to_arg()
    }
}

macro_rules! bytes_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            #[inline]
            fn to_arg(&self) -> ArgBytes<'_> {
                ArgBytes::Borrowed(self.as_ref())
            }
        }
    )*};
}
bytes_arg!([u8], str, String, Vec<u8>, Bytes, BytesMut);

impl<const N: usize> ToArg for [u8; N] {
    #[inline]
    fn to_arg(&self) -> ArgBytes<'_> {
        ArgBytes::Borrowed(self)
    }
}

macro_rules! signed_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            #[inline]
            fn to_arg(&self) -> ArgBytes<'_> {
                ArgBytes::Inline(InlineArg::from_i64(*self as i64))
            }
        }
    )*};
}
signed_arg!(i8, i16, i32, i64, isize);

macro_rules! unsigned_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            #[inline]
            fn to_arg(&self) -> ArgBytes<'_> {
                ArgBytes::Inline(InlineArg::from_u64(*self as u64, false))
            }
        }
    )*};
}
unsigned_arg!(u8, u16, u32, u64, usize);

impl ToArg for f64 {
    #[inline]
    fn to_arg(&self) -> ArgBytes<'_> {
        ArgBytes::Inline(InlineArg::from_f64(*self))
    }
}

impl ToArg for f32 {
    #[inline]
    fn to_arg(&self) -> ArgBytes<'_> {
        // Through the shortest text of the f32, so 0.1f32 is sent as "0.1", not as the f64
        // widening 0.10000000149011612.
        let mut w = InlineWriter {
            buf: [0u8; 32],
            len: 0,
        };
        if self.is_finite() {
            let a = self.abs();
            let _ = if a == 0.0 || (1e-4..1e16).contains(&a) {
                write!(w, "{self}")
            } else {
                write!(w, "{self:e}")
            };
            ArgBytes::Inline(InlineArg {
                buf: w.buf,
                len: w.len as u8,
            })
        } else {
            ArgBytes::Inline(InlineArg::from_f64(f64::from(*self)))
        }
    }
}

/// Number of decimal digits in `n`.
#[inline]
fn digits(n: usize) -> usize {
    let mut d = 1;
    let mut n = n / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

#[inline]
fn put_usize(dst: &mut BytesMut, n: usize) {
    if n < 10 {
        dst.put_u8(b'0' + n as u8);
    } else {
        dst.extend_from_slice(InlineArg::from_u64(n as u64, false).as_bytes());
    }
}

#[inline]
fn put_header(dst: &mut BytesMut, ty: u8, n: usize) {
    dst.put_u8(ty);
    put_usize(dst, n);
    dst.extend_from_slice(b"\r\n");
}

/// Bytes that [`encode_command`] writes for a command with arguments `args`.
#[inline]
pub fn command_len<A: ToArg>(args: &[A]) -> usize {
    let mut len = 3 + digits(args.len());
    for a in args {
        len += bulk_len(a.to_arg().len());
    }
    len
}

/// Bytes that one bulk string of `n` payload bytes takes on the wire.
#[inline]
pub fn bulk_len(n: usize) -> usize {
    5 + digits(n) + n
}

/// Appends `payload` as one RESP bulk string (`$len\r\npayload\r\n`).
#[inline]
pub fn encode_bulk(dst: &mut BytesMut, payload: &[u8]) {
    put_header(dst, b'$', payload.len());
    dst.extend_from_slice(payload);
    dst.extend_from_slice(b"\r\n");
}

/// Appends the header of an array of `n` elements (`*n\r\n`).
#[inline]
pub fn encode_array_header(dst: &mut BytesMut, n: usize) {
    put_header(dst, b'*', n);
}

/// Appends a command, an array of bulk strings, to `dst`, growing it once.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use resp_codec::encode_command;
///
/// let mut buf = BytesMut::new();
/// encode_command(&mut buf, &[&b"GET"[..], b"key"]);
/// assert_eq!(&buf[..], b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
///
/// // Mixed argument types go through `&dyn ToArg`.
/// use resp_codec::ToArg;
/// let mut buf = BytesMut::new();
/// encode_command(&mut buf, &[&"EXPIRE" as &dyn ToArg, &"key", &60]);
/// assert_eq!(&buf[..], b"*3\r\n$6\r\nEXPIRE\r\n$3\r\nkey\r\n$2\r\n60\r\n");
/// ```
#[inline]
pub fn encode_command<A: ToArg>(dst: &mut BytesMut, args: &[A]) {
    let start = dst.len();
    let len = command_bound(args);
    // Grow once, to a bound on the size, then fill the new bytes through a cursor: one
    // capacity check for the whole command instead of one per piece. The bound leaves room
    // for headers to be stored as whole 8-byte words built in a register (see
    // `Cursor::header`); what is left over is cut off at the end. Zeroing the region first
    // costs less than per-piece checks, and needs no `unsafe`.
    if len <= SMALL_COMMAND {
        // Fixed sizes for the common commands, so that the zeroing is a few inline stores
        // rather than a `memset` call (GET: an eighth of its time).
        dst.extend_from_slice(&[0; SMALL_COMMAND]);
    } else if len <= MID_COMMAND {
        dst.extend_from_slice(&[0; MID_COMMAND]);
    } else {
        dst.resize(start + len, 0);
    }
    let mut out = Cursor {
        buf: &mut dst[start..],
        pos: 0,
        overflow: false,
    };
    out.header(b'*', args.len());
    for a in args {
        let arg = a.to_arg();
        out.header(b'$', arg.len());
        out.put(&arg);
        out.crlf();
    }
    let (written, overflow) = (out.pos, out.overflow);
    if overflow {
        // A `ToArg` returned longer bytes the second time it was asked (the in-tree ones are
        // deterministic; a user's might not be). Never panic: start over, growing as we go.
        dst.truncate(start);
        encode_array_header(dst, args.len());
        for a in args {
            encode_bulk(dst, &a.to_arg());
        }
    } else {
        dst.truncate(start + written);
    }
}

/// Commands whose size bound is at most this many bytes (a `GET`, an `INCR`, a `SET` of short
/// values) are given a region of exactly this size to fill.
const SMALL_COMMAND: usize = 64;

/// The same for commands up to this bound (a `SET` of a 100-byte value). A single tier of 128
/// bytes left such a `SET` on the `memset` path; one of 192 or 256 slowed a `GET` by 6–14 %.
const MID_COMMAND: usize = 192;

/// At least the bytes [`encode_command`] writes for `args`, plus room for its 8-byte header
/// stores; cheaper to compute than the exact size ([`command_len`]), since header lengths need
/// no digit count: a length below 100,000 has a header (`$`, digits, CRLF) of at most 8 bytes.
#[inline]
fn command_bound<A: ToArg>(args: &[A]) -> usize {
    let header = |n: usize| if n < 100_000 { 8 } else { 24 };
    let mut len = header(args.len());
    for a in args {
        let n = a.to_arg().len();
        len += header(n) + n + 2;
    }
    len + Cursor::SLACK
}

/// Writes into a pre-sized slice with [`Cursor::SLACK`] spare bytes at its end; notes when
/// something did not fit instead of panicking.
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl Cursor<'_> {
    /// Bytes beyond the exact size that headers may scribble on.
    const SLACK: usize = 8;

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(dst) => {
                copy_short(dst, bytes);
                self.pos += bytes.len();
            }
            None => self.overflow = true,
        }
    }

    #[inline(always)]
    fn crlf(&mut self) {
        match self.buf.get_mut(self.pos..self.pos + 2) {
            Some(dst) => {
                dst.copy_from_slice(b"\r\n");
                self.pos += 2;
            }
            None => self.overflow = true,
        }
    }

    /// `ty`, `n` in decimal, `\r\n`. Lengths below 100,000 (all but huge payloads) are
    /// assembled in a register and stored as one 8-byte word: writing the header byte by byte
    /// to the stack and copying it out made the copy wait on those stores, which was most of
    /// the cost of encoding a short command.
    #[inline(always)]
    fn header(&mut self, ty: u8, n: usize) {
        if n < 100_000 {
            // The digits, most significant in the low byte, without a loop for the usual
            // short lengths.
            let d = |v: usize| u64::from(b'0' + (v % 10) as u8);
            let (text, digits) = match n {
                0..10 => (d(n), 1),
                10..100 => (d(n / 10) | d(n) << 8, 2),
                100..1000 => (d(n / 100) | d(n / 10) << 8 | d(n) << 16, 3),
                1000..10_000 => (
                    d(n / 1000) | d(n / 100) << 8 | d(n / 10) << 16 | d(n) << 24,
                    4,
                ),
                _ => (
                    d(n / 10_000)
                        | d(n / 1000) << 8
                        | d(n / 100) << 16
                        | d(n / 10) << 24
                        | d(n) << 32,
                    5,
                ),
            };
            let word = u64::from(ty)
                | text << 8
                | u64::from(u16::from_le_bytes(*b"\r\n")) << (8 * (digits + 1));
            match self.buf.get_mut(self.pos..self.pos + 8) {
                Some(dst) => {
                    dst.copy_from_slice(&word.to_le_bytes());
                    self.pos += digits + 3;
                }
                None => self.overflow = true,
            }
            return;
        }
        let mut buf = [0u8; 24];
        let mut i = buf.len() - 2;
        buf[i..].copy_from_slice(b"\r\n");
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        i -= 1;
        buf[i] = ty;
        self.put(&buf[i..]);
    }
}

/// `dst.copy_from_slice(src)` (the lengths are equal), with arguments of up to 128 bytes
/// (command names, keys, fields, numbers, small values) copied as two overlapping fixed-size
/// blocks, which compile to a few register moves. A `memcpy` call per argument was a fifth of
/// the time of encoding `GET key`; for the 100-byte value of a `SET` the blocks measured 1-2 %
/// faster than the call.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        0 => {}
        1..4 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..8 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        16..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
        33..=64 => {
            dst[..32].copy_from_slice(&src[..32]);
            dst[n - 32..].copy_from_slice(&src[n - 32..]);
        }
        65..=128 => {
            dst[..64].copy_from_slice(&src[..64]);
            dst[n - 64..].copy_from_slice(&src[n - 64..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// Appends `frame` in its RESP wire form (RESP3 types as RESP3; RESP2 nulls as `$-1`/`*-1`).
///
/// Streamed forms are never produced: a frame is written length-prefixed. Encoding recursion
/// follows the frame's nesting, which the decoder bounds by
/// [`Limits::max_depth`](crate::Limits::max_depth).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use resp_codec::{encode_frame, Frame};
///
/// let mut buf = BytesMut::new();
/// encode_frame(&mut buf, &Frame::Map(vec![(Frame::from("a"), Frame::Boolean(true))]));
/// assert_eq!(&buf[..], b"%1\r\n$1\r\na\r\n#t\r\n");
/// ```
pub fn encode_frame(dst: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::SimpleString(b) => line(dst, b'+', b),
        Frame::SimpleError(b) => line(dst, b'-', b),
        Frame::Integer(i) => line(dst, b':', InlineArg::from_i64(*i).as_bytes()),
        Frame::BulkString(b) => encode_bulk(dst, b),
        Frame::Null => dst.extend_from_slice(b"_\r\n"),
        Frame::NullBulkString => dst.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray => dst.extend_from_slice(b"*-1\r\n"),
        Frame::Double(d) => line(dst, b',', InlineArg::from_f64(*d).as_bytes()),
        Frame::Boolean(b) => dst.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(b) => line(dst, b'(', b),
        Frame::BulkError(b) => {
            put_header(dst, b'!', b.len());
            dst.extend_from_slice(b);
            dst.extend_from_slice(b"\r\n");
        }
        Frame::VerbatimString(v) => {
            let raw = v.as_raw();
            put_header(dst, b'=', raw.len());
            dst.extend_from_slice(raw);
            dst.extend_from_slice(b"\r\n");
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            put_header(dst, frame.type_byte(), items.len());
            for item in items {
                encode_frame(dst, item);
            }
        }
        Frame::Map(pairs) => pairs_frame(dst, b'%', pairs),
        Frame::Attribute { attributes, data } => {
            pairs_frame(dst, b'|', attributes);
            encode_frame(dst, data);
        }
    }
}

fn pairs_frame(dst: &mut BytesMut, ty: u8, pairs: &[(Frame, Frame)]) {
    put_header(dst, ty, pairs.len());
    for (k, v) in pairs {
        encode_frame(dst, k);
        encode_frame(dst, v);
    }
}

fn line(dst: &mut BytesMut, ty: u8, body: &[u8]) {
    dst.reserve(body.len() + 3);
    dst.put_u8(ty);
    dst.extend_from_slice(body);
    dst.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn integers_format_like_display() {
        for n in [0i64, 7, -7, 10, 99, 100, i64::MAX, i64::MIN, -1] {
            assert_eq!(n.to_arg().to_vec(), n.to_string().into_bytes(), "{n}");
        }
        for n in [0u64, 9, u64::MAX] {
            assert_eq!(n.to_arg().to_vec(), n.to_string().into_bytes(), "{n}");
        }
    }

    #[test]
    fn doubles_round_trip_through_their_text() {
        let cases = [
            0.0,
            -0.0,
            1.5,
            -2.25,
            0.1,
            1e-4,
            1.2345678901234567e-5,
            1e16,
            9.999999999999998e15,
            1e300,
            -1e-300,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            5e-324,
        ];
        for f in cases {
            let arg = f.to_arg();
            let text = std::str::from_utf8(&arg).unwrap();
            let back: f64 = text.parse().unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{f} as {text}");
        }
        assert_eq!(&*f64::INFINITY.to_arg(), b"inf");
        assert_eq!(&*f64::NEG_INFINITY.to_arg(), b"-inf");
        assert_eq!(&*f64::NAN.to_arg(), b"nan");
        assert_eq!(&*0.1f32.to_arg(), b"0.1");
    }

    /// Returns one byte more each time it is asked, like a badly written `ToArg`.
    struct Growing(AtomicUsize);

    impl ToArg for Growing {
        fn to_arg(&self) -> ArgBytes<'_> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            ArgBytes::Borrowed(&b"xxxxxxxxxx"[..(n + 1).min(10)])
        }
    }

    #[test]
    fn an_argument_that_changes_between_calls_does_not_panic() {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let arg = Growing(AtomicUsize::new(0));
        encode_command(&mut buf, &[&arg as &dyn ToArg, &"k"]);
        // The command is well formed (with whatever the argument said last).
        let frame = crate::Decoder::new()
            .decode(&mut buf.split_off(6))
            .unwrap()
            .unwrap();
        assert_eq!(frame.as_slice().map(<[_]>::len), Some(2));
        assert_eq!(&buf[..], b"prefix");
    }

    /// Short when its size is taken, then `long` bytes: more than any slack in the bound.
    struct Liar {
        asked: AtomicUsize,
        long: usize,
    }

    impl ToArg for Liar {
        fn to_arg(&self) -> ArgBytes<'_> {
            let first = self.asked.fetch_add(1, Ordering::Relaxed) == 0;
            static LONG: [u8; 5000] = [b'y'; 5000];
            ArgBytes::Borrowed(&LONG[..if first { 1 } else { self.long }])
        }
    }

    #[test]
    fn an_argument_that_grows_past_the_bound_is_written_whole() {
        // A command in each size tier (the two fixed-size regions, then one sized to its
        // bound), each with an argument that outgrows the region after its size was taken:
        // the fallback rewrites the command with what the argument said last.
        for (other, long) in [(8, 300), (100, 300), (200, 5000)] {
            let liar = Liar {
                asked: AtomicUsize::new(0),
                long,
            };
            let other = vec![b'o'; other];
            let mut buf = BytesMut::from(&b"prefix"[..]);
            encode_command(&mut buf, &[&"SET" as &dyn ToArg, &liar, &other]);
            assert!(liar.asked.load(Ordering::Relaxed) >= 3);
            let mut rest = buf.split_off(6);
            let frame = crate::Decoder::new().decode(&mut rest).unwrap().unwrap();
            assert!(rest.is_empty());
            let items = frame.as_slice().unwrap();
            assert_eq!(items[1].as_bytes(), Some(&vec![b'y'; long][..]));
            assert_eq!(items[2].as_bytes(), Some(&other[..]));
            assert_eq!(&buf[..], b"prefix");
        }
    }

    #[test]
    fn command_length_is_exact() {
        let args: [&dyn ToArg; 4] = [&"SET", &"k", &vec![b'x'; 1000], &-12i32];
        let mut buf = BytesMut::new();
        encode_command(&mut buf, &args);
        assert_eq!(buf.len(), command_len(&args));
        assert!(buf.starts_with(b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\nxxx"));
        assert!(buf.ends_with(b"$3\r\n-12\r\n"));
    }

    #[test]
    fn arguments_of_every_short_length_are_copied_exactly() {
        // Lengths around each block size of `copy_short`, with distinct bytes so that a copy
        // from the wrong offset shows.
        for n in 0..=140usize {
            let arg: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let mut buf = BytesMut::from(&b"prefix"[..]);
            encode_command(&mut buf, &[&b"GET"[..], &arg[..], &arg[..n / 2]]);
            let mut want = format!("prefix*3\r\n$3\r\nGET\r\n${n}\r\n").into_bytes();
            want.extend_from_slice(&arg);
            want.extend_from_slice(format!("\r\n${}\r\n", n / 2).as_bytes());
            want.extend_from_slice(&arg[..n / 2]);
            want.extend_from_slice(b"\r\n");
            assert_eq!(&buf[..], &want[..], "length {n}");
        }
    }

    #[test]
    fn encoding_a_command_into_an_empty_buffer_allocates_once() {
        let mut buf = BytesMut::new();
        let value = [b'v'; 100];
        encode_command(&mut buf, &[&b"SET"[..], &[b'k'; 16], &value[..]]);
        let bound = command_bound(&[&b"SET"[..], &[b'k'; 16], &value[..]]);
        assert!(bound > SMALL_COMMAND && bound <= MID_COMMAND);
        assert!(buf.capacity() <= MID_COMMAND);
        assert_eq!(
            buf.len(),
            command_len(&[&b"SET"[..], &[b'k'; 16], &value[..]])
        );
        let mut buf = BytesMut::new();
        encode_command(&mut buf, &[&b"GET"[..], &[b'k'; 16]]);
        assert_eq!(&buf[..], b"*2\r\n$3\r\nGET\r\n$16\r\nkkkkkkkkkkkkkkkk\r\n");
        assert!(buf.capacity() <= SMALL_COMMAND);
    }
}
