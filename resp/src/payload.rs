//! [`Payload`]: the bytes of a string-like frame, held inline when short.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::{Bytes, BytesMut};

/// The bytes of a string-like [`Frame`](crate::Frame): a bulk string, a status line, an error,
/// a big number or verbatim text.
///
/// Strings of up to [`Payload::INLINE_CAPACITY`] bytes are stored inside the value itself;
/// longer ones are a zero-copy [`Bytes`] slice of the read buffer.
///
/// Why not always `Bytes`: a `Bytes` slice costs an atomic reference-count increment when it is
/// made and an atomic decrement through a function pointer when it is dropped. For the short
/// keys, fields and values that dominate real replies (an `LRANGE` of 16-byte members, an
/// `HGETALL` of short fields) that bookkeeping costs more than copying the bytes; measured on the
/// decoder, it was about half the time per element. Copying at most 23 bytes keeps
/// [`Frame`](crate::Frame) at 40 bytes and touches no shared state, while payloads of any real
/// size stay zero-copy.
///
/// A `Payload` dereferences to `[u8]` and compares, hashes and orders by content, whichever way
/// it is stored.
///
/// # Examples
///
/// ```
/// use resp_codec::{Bytes, Payload};
///
/// let short = Payload::copy_from_slice(b"member:1");
/// assert!(short.is_inline());
/// assert_eq!(&short[..], b"member:1");
///
/// let long = Payload::from(Bytes::from(vec![b'x'; 100]));
/// assert!(!long.is_inline());
/// assert_eq!(long.len(), 100);
///
/// // Content decides equality, not storage.
/// assert_eq!(Payload::from(Bytes::from_static(b"member:1")), short);
/// let bytes: Bytes = short.into_bytes();
/// assert_eq!(bytes, "member:1");
/// ```
#[derive(Clone)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Inline(Inline),
    Shared(Bytes),
}

/// Up to 23 bytes and, in the last byte, their length. One aligned 24-byte block, so it is
/// built and moved with two register-sized copies: a separate length field or an odd-sized
/// array made the compiler assemble it on the stack with mismatched loads and stores, which
/// cost more than the reference count it replaces.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Inline([u8; Payload::INLINE_CAPACITY + 1]);

impl Inline {
    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        &self.0[..usize::from(self.0[Payload::INLINE_CAPACITY])]
    }
}

impl Payload {
    /// The longest string stored inline. It is the most that keeps `Payload` as small as a
    /// `Bytes` (32 bytes).
    pub const INLINE_CAPACITY: usize = 23;

    /// `OK`, inline: the decoder's answer to the commonest status line, built without a copy.
    pub(crate) const OK: Payload = {
        let mut block = [0; Payload::INLINE_CAPACITY + 1];
        block[0] = b'O';
        block[1] = b'K';
        block[Payload::INLINE_CAPACITY] = 2;
        Payload(Repr::Inline(Inline(block)))
    };

    /// An empty payload.
    pub const fn new() -> Self {
        Payload(Repr::Inline(Inline([0; Payload::INLINE_CAPACITY + 1])))
    }

    /// A payload pointing at static bytes: no copy, no reference count.
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Payload(Repr::Shared(Bytes::from_static(bytes)))
    }

    /// A payload holding a copy of `bytes`: inline when it fits, otherwise in a new buffer.
    #[inline]
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        match Payload::inline(bytes) {
            Some(p) => p,
            None => Payload(Repr::Shared(Bytes::copy_from_slice(bytes))),
        }
    }

    /// `bytes` stored inline, or `None` when it is longer than [`Payload::INLINE_CAPACITY`].
    #[inline]
    pub fn inline(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > Payload::INLINE_CAPACITY {
            return None;
        }
        Payload::inline_from(bytes, bytes.len())
    }

    /// The first `len` bytes of `window` stored inline, or `None` when `len` is more than
    /// [`Payload::INLINE_CAPACITY`]. When `window` holds 24 bytes, they are copied as a fixed
    /// block (the bytes past `len` are never read back), which compiles to a few register
    /// moves instead of a `memcpy` call.
    #[inline(always)]
    pub(crate) fn inline_from(window: &[u8], len: usize) -> Option<Self> {
        const N: usize = Payload::INLINE_CAPACITY + 1;
        if len > Payload::INLINE_CAPACITY {
            return None;
        }
        let mut block = [0u8; N];
        match window.first_chunk::<N>() {
            Some(fixed) => {
                let head = u128::from_le_bytes(*fixed.first_chunk::<16>().expect("24 > 16"));
                let tail = u64::from_le_bytes(*fixed.last_chunk::<8>().expect("24 > 8"));
                // The length goes in the last byte, over whatever followed the payload.
                let tail = (tail & (u64::MAX >> 8)) | ((len as u64) << 56);
                block[..16].copy_from_slice(&head.to_le_bytes());
                block[16..].copy_from_slice(&tail.to_le_bytes());
            }
            None => {
                block[..len].copy_from_slice(&window[..len]);
                block[Payload::INLINE_CAPACITY] = len as u8;
            }
        }
        Some(Payload(Repr::Inline(Inline(block))))
    }

    /// The 24 bytes at the front of `bytes` when its first `len` can be stored inline by
    /// [`Payload::inline_block`]: `len` is at most [`Payload::INLINE_CAPACITY`] and 24 bytes
    /// are there to read (the block is copied whole; the bytes past `len` are never read back).
    #[inline(always)]
    pub(crate) fn inline_window(bytes: &[u8], len: usize) -> Option<&[u8; 24]> {
        if len > Payload::INLINE_CAPACITY {
            return None;
        }
        bytes.first_chunk()
    }

    /// The first `len` bytes of `window` stored inline, for `len` at most
    /// [`Payload::INLINE_CAPACITY`] (see [`Payload::inline_window`]).
    ///
    /// The decoder's fast paths build their short strings with this rather than with
    /// [`Payload::inline_from`]: a payload returned inside an `Option` was assembled on the
    /// stack and copied twice on its way into the frame. Built plainly, measured with both
    /// builds in one binary, alternating, in both slot orders (2026-12-03): 100-pair maps
    /// 12 to 13 % faster, 1,000-element arrays 9 to 10 %, XREAD-shaped replies 3 to 4 %, the
    /// application pipeline mix 3.5 to 5.5 % (RESP3: 4 %); read in 16 KiB pieces, `+OK` 14 %
    /// and 16-byte bulk strings 9 %; whole `+OK`, integers and 16-byte strings within ±1.5 %.
    #[inline(always)]
    pub(crate) fn inline_block(window: &[u8; 24], len: usize) -> Self {
        debug_assert!(len <= Payload::INLINE_CAPACITY);
        let head = u128::from_le_bytes(*window.first_chunk::<16>().expect("24 > 16"));
        let tail = u64::from_le_bytes(*window.last_chunk::<8>().expect("24 > 8"));
        let tail = (tail & (u64::MAX >> 8)) | ((len as u64) << 56);
        let mut block = [0u8; Payload::INLINE_CAPACITY + 1];
        block[..16].copy_from_slice(&head.to_le_bytes());
        block[16..].copy_from_slice(&tail.to_le_bytes());
        Payload(Repr::Inline(Inline(block)))
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_slice(),
            Repr::Shared(b) => b,
        }
    }

    /// The bytes from `start` on, without a copy when shared (the slice moves, the reference
    /// count does not).
    ///
    /// ```
    /// use resp_codec::Payload;
    ///
    /// assert_eq!(&Payload::from_static(b"txt:hello").into_tail(4)[..], b"hello");
    /// ```
    ///
    /// # Panics
    ///
    /// When `start` is past the end.
    pub fn into_tail(self, start: usize) -> Payload {
        match self.0 {
            Repr::Inline(inline) => Payload::copy_from_slice(&inline.as_slice()[start..]),
            Repr::Shared(mut b) => {
                bytes::Buf::advance(&mut b, start);
                Payload::from(b)
            }
        }
    }

    /// True when the bytes are stored inside the value rather than in a shared buffer.
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// The bytes as [`Bytes`]: free for a shared payload, one small allocation for an inline
    /// one.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline(inline) => Bytes::copy_from_slice(inline.as_slice()),
            Repr::Shared(b) => b,
        }
    }

    /// The bytes as [`Bytes`], leaving `self` as it is (see [`Payload::into_bytes`]).
    pub fn to_bytes(&self) -> Bytes {
        self.clone().into_bytes()
    }

    /// The bytes as an owned `Vec`.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline(inline) => inline.as_slice().to_vec(),
            Repr::Shared(b) => Vec::from(b),
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::new()
    }
}

impl Deref for Payload {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Payload {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Payload {
    /// Formats like `Bytes` does: `b"text\r\n"` with non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.as_slice() {
            match b {
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", char::from(b))?,
                0x20..0x7f => write!(f, "{}", char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Payload {}

impl Hash for Payload {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for Payload {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Payload {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Payload {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<str> for Payload {
    fn eq(&self, other: &str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<&str> for Payload {
    fn eq(&self, other: &&str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<Bytes> for Payload {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == &other[..]
    }
}

impl From<Bytes> for Payload {
    /// Keeps the `Bytes` as it is: no copy, even when it is short.
    fn from(b: Bytes) -> Self {
        Payload(Repr::Shared(b))
    }
}

impl From<BytesMut> for Payload {
    fn from(b: BytesMut) -> Self {
        Payload(Repr::Shared(b.freeze()))
    }
}

impl From<&'static [u8]> for Payload {
    fn from(b: &'static [u8]) -> Self {
        Payload::from_static(b)
    }
}

impl From<&'static str> for Payload {
    fn from(s: &'static str) -> Self {
        Payload::from_static(s.as_bytes())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(Repr::Shared(Bytes::from(v)))
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload(Repr::Shared(Bytes::from(s)))
    }
}

impl From<Payload> for Bytes {
    fn from(p: Payload) -> Self {
        p.into_bytes()
    }
}

impl From<Payload> for Vec<u8> {
    fn from(p: Payload) -> Self {
        p.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_no_bigger_than_bytes() {
        assert_eq!(size_of::<Payload>(), size_of::<Bytes>());
        assert_eq!(size_of::<crate::Frame>(), 40);
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        for len in 0..=64 {
            let data: Vec<u8> = (0..len as u8).collect();
            let p = Payload::copy_from_slice(&data);
            assert_eq!(p.is_inline(), len <= Payload::INLINE_CAPACITY, "len {len}");
            assert_eq!(&p[..], &data[..]);
            assert_eq!(p.len(), len);
            assert_eq!(p.clone().into_bytes(), &data[..]);
            assert_eq!(p.into_vec(), data);
        }
    }

    #[test]
    fn equality_hash_and_order_ignore_storage() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |p: &Payload| {
            let mut h = DefaultHasher::new();
            p.hash(&mut h);
            h.finish()
        };
        let inline = Payload::copy_from_slice(b"abc");
        let shared = Payload::from(Bytes::from_static(b"abc"));
        assert!(inline.is_inline() && !shared.is_inline());
        assert_eq!(inline, shared);
        assert_eq!(hash(&inline), hash(&shared));
        assert_eq!(inline.cmp(&shared), Ordering::Equal);
        assert!(Payload::copy_from_slice(b"abd").cmp(&inline) == Ordering::Greater);
        assert_eq!(inline, "abc");
        assert_eq!(inline, b"abc");
        assert_eq!(inline, Bytes::from_static(b"abc"));
    }

    #[test]
    fn debug_matches_bytes() {
        let p = Payload::copy_from_slice(b"a'\r\n\t\x7f\xff\"\\");
        let b = Bytes::from_static(b"a'\r\n\t\x7f\xff\"\\");
        assert_eq!(format!("{p:?}"), format!("{b:?}"));
    }
}
