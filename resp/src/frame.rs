//! [`Frame`]: one decoded RESP2 or RESP3 value, and its accessors. Data only; no parsing here.

use crate::payload::Payload;

/// One RESP2 or RESP3 value.
///
/// Variant names follow the RESP3 specification. Every string payload is a [`Payload`]: short
/// strings held inline, longer ones a zero-copy `Bytes` slice of the buffer they were decoded
/// from. Either way the bytes are kept as received: non-UTF-8 data is preserved.
///
/// Streamed forms (`$?` strings, `*?`/`%?`/`~?`/`>?` aggregates) decode into the same variant as
/// their length-prefixed forms, so callers never see the difference.
///
/// Equality compares doubles by value, except that NaN equals NaN, so a decoded frame always
/// equals the frame it was encoded from.
///
/// # Layout
///
/// A frame is five words: the tag as a whole word, then at most four words of data. The
/// `repr(u64)` tag, and a verbatim string kept as one [`Verbatim`] payload rather than a format
/// next to the tag, are deliberate: with a one-byte tag, a field in bytes 1 to 7 (a `bool`, the
/// format) made the compiler move *every* frame as a byte, an odd-offset 7-byte block and
/// words, and the decoder store its tag as one byte that later word-sized loads could not be
/// forwarded from. Frames are moved wherever they are returned, stored or mapped (`map_err` on
/// [`Decoder::decode`](crate::Decoder::decode)'s result); with a word-sized tag each move is
/// five word copies. Measured with both layouts built into one process and run alternately
/// (so both see the same machine): `+OK` 7 to 17 % faster (read in 16 KiB pieces through a
/// `map_err`: 14 to 26 %), integers 5 to 15 %, 16-byte bulk strings in 16 KiB pieces 16 to
/// 21 %, the application pipeline mix 3 to 14 %, XREAD-shaped replies 2 to 4 %; 100-pair maps
/// within ±4 %.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use resp_codec::{Decoder, Frame};
///
/// let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n:42\r\n"[..]);
/// let frame = Decoder::new().decode(&mut buf).unwrap().unwrap();
/// assert_eq!(
///     frame,
///     Frame::Array(vec![Frame::BulkString("GET".into()), Frame::Integer(42)])
/// );
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone)]
#[repr(u64)]
pub enum Frame {
    /// `+OK\r\n`: a short status line.
    SimpleString(Payload),
    /// `-ERR message\r\n`: an error line; its first word is the error code.
    SimpleError(Payload),
    /// `:42\r\n`: a signed 64-bit integer.
    Integer(i64),
    /// `$5\r\nhello\r\n`: a binary-safe string (also the result of a streamed `$?` string).
    BulkString(Payload),
    /// RESP3 `_\r\n`.
    Null,
    /// RESP2 `$-1\r\n`: a missing bulk string.
    NullBulkString,
    /// RESP2 `*-1\r\n`: a missing array (for example a `BLPOP` that timed out).
    NullArray,
    /// RESP3 `,3.14\r\n`, including `inf`, `-inf` and `nan`.
    Double(f64),
    /// RESP3 `#t\r\n` / `#f\r\n`.
    Boolean(bool),
    /// RESP3 `(3492890328409238509324850943850943825024385\r\n`: the decimal digits, with an
    /// optional leading sign, exactly as received.
    BigNumber(Payload),
    /// RESP3 `!21\r\nSYNTAX invalid syntax\r\n`: a binary-safe error.
    BulkError(Payload),
    /// RESP3 `=15\r\ntxt:Some string\r\n`: a string with a three-byte format such as `txt` or
    /// `mkd`.
    VerbatimString(Verbatim),
    /// `*2\r\n...`: an ordered list.
    Array(Vec<Frame>),
    /// RESP3 `%2\r\n...`: key/value pairs in the order the server sent them.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~2\r\n...`: an unordered collection, kept in wire order.
    Set(Vec<Frame>),
    /// RESP3 `|1\r\n...`: attributes together with the value they annotate.
    ///
    /// The specification sends attributes in front of a reply (or of an element inside one); the
    /// decoder keeps them with that value instead of dropping them.
    Attribute {
        /// The attribute pairs.
        attributes: Vec<(Frame, Frame)>,
        /// The value the attributes annotate.
        data: Box<Frame>,
    },
    /// RESP3 `>3\r\n...`: out-of-band data such as a pub/sub message or an invalidation.
    Push(Vec<Frame>),
}

/// A RESP3 verbatim string: its three-byte format (`txt`, `mkd`), a `:` and the text, held as
/// received in one [`Payload`] (see [`Frame`]'s layout notes for why not two fields).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use resp_codec::{Decoder, Frame, Verbatim};
///
/// let mut buf = BytesMut::from(&b"=8\r\ntxt:abcd\r\n"[..]);
/// let Some(Frame::VerbatimString(v)) = Decoder::new().decode(&mut buf).unwrap() else {
///     unreachable!()
/// };
/// assert_eq!(v.format(), *b"txt");
/// assert_eq!(v.text(), b"abcd");
/// assert_eq!(v, Verbatim::new(*b"txt", b"abcd"));
/// assert_eq!(&v.into_text()[..], b"abcd");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Verbatim(Payload);

impl Verbatim {
    /// A verbatim string of `text` in `format`.
    pub fn new(format: [u8; 3], text: &[u8]) -> Verbatim {
        let mut raw = Vec::with_capacity(4 + text.len());
        raw.extend_from_slice(&format);
        raw.push(b':');
        raw.extend_from_slice(text);
        // Stored like a decoded one: inline when short.
        match Payload::inline(&raw) {
            Some(inline) => Verbatim(inline),
            None => Verbatim(Payload::from(raw)),
        }
    }

    /// A verbatim string from its wire form `xxx:text`, or `None` when `raw` does not start
    /// with a three-byte format and `:`.
    pub fn from_raw(raw: Payload) -> Option<Verbatim> {
        Verbatim::is_wire_form(&raw).then_some(Verbatim(raw))
    }

    /// Whether `raw` starts with a three-byte format and `:`, as a verbatim string's payload
    /// must.
    #[inline]
    pub(crate) fn is_wire_form(raw: &[u8]) -> bool {
        raw.len() >= 4 && raw[3] == b':'
    }

    /// A verbatim string from a wire form the decoder has already checked.
    #[inline]
    pub(crate) fn from_checked(raw: Payload) -> Verbatim {
        debug_assert!(Verbatim::is_wire_form(&raw));
        Verbatim(raw)
    }

    /// The format, for example `*b"txt"`.
    pub fn format(&self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// The text after the `xxx:` prefix.
    pub fn text(&self) -> &[u8] {
        &self.0[4..]
    }

    /// The wire form, `xxx:text`.
    pub fn as_raw(&self) -> &Payload {
        &self.0
    }

    /// The text after the `xxx:` prefix, as a payload: zero-copy when shared.
    pub fn into_text(self) -> Payload {
        self.0.into_tail(4)
    }
}

impl std::fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verbatim")
            .field("format", &self.format().escape_ascii().to_string())
            .field("text", &self.text().escape_ascii().to_string())
            .finish()
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        use Frame::*;
        match (self, other) {
            (SimpleString(a), SimpleString(b))
            | (SimpleError(a), SimpleError(b))
            | (BulkString(a), BulkString(b))
            | (BigNumber(a), BigNumber(b))
            | (BulkError(a), BulkError(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Null, Null) | (NullBulkString, NullBulkString) | (NullArray, NullArray) => true,
            (Double(a), Double(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Boolean(a), Boolean(b)) => a == b,
            (VerbatimString(a), VerbatimString(b)) => a == b,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (
                Attribute {
                    attributes: aa,
                    data: da,
                },
                Attribute {
                    attributes: ab,
                    data: db,
                },
            ) => aa == ab && da == db,
            _ => false,
        }
    }
}

impl Frame {
    /// The RESP type byte that introduces this frame on the wire (`+`, `$`, `%`, ...).
    ///
    /// RESP2 nulls report `$` and `*`, the bytes they are written with.
    pub fn type_byte(&self) -> u8 {
        match self {
            Frame::SimpleString(_) => b'+',
            Frame::SimpleError(_) => b'-',
            Frame::Integer(_) => b':',
            Frame::BulkString(_) | Frame::NullBulkString => b'$',
            Frame::Null => b'_',
            Frame::NullArray | Frame::Array(_) => b'*',
            Frame::Double(_) => b',',
            Frame::Boolean(_) => b'#',
            Frame::BigNumber(_) => b'(',
            Frame::BulkError(_) => b'!',
            Frame::VerbatimString(_) => b'=',
            Frame::Map(_) => b'%',
            Frame::Set(_) => b'~',
            Frame::Attribute { .. } => b'|',
            Frame::Push(_) => b'>',
        }
    }

    /// True for every null: RESP3 `_`, RESP2 `$-1` and `*-1`.
    pub fn is_null(&self) -> bool {
        matches!(self, Frame::Null | Frame::NullBulkString | Frame::NullArray)
    }

    /// True for `-ERR ...` and `!len` error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::SimpleError(_) | Frame::BulkError(_))
    }

    /// True for a RESP3 push (`>`), which is never the reply to a command.
    pub fn is_push(&self) -> bool {
        matches!(self, Frame::Push(_))
    }

    /// The bytes of a string-like frame: simple and bulk strings, verbatim text (without its
    /// format), errors and big numbers.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::VerbatimString(v) => Some(v.text()),
            _ => self.as_payload().map(|p| &p[..]),
        }
    }

    /// The [`Payload`] of a simple or bulk string, an error or a big number. A verbatim string
    /// holds its format and text in one payload: see [`Verbatim`].
    pub fn as_payload(&self) -> Option<&Payload> {
        match self {
            Frame::SimpleString(b)
            | Frame::SimpleError(b)
            | Frame::BulkString(b)
            | Frame::BigNumber(b)
            | Frame::BulkError(b) => Some(b),
            _ => None,
        }
    }

    /// The payload as UTF-8 text, for string-like frames whose bytes are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The value of an `Integer` frame.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Frame::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of an array, set or push.
    pub fn as_slice(&self) -> Option<&[Frame]> {
        match self {
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The value an `Attribute` annotates, or the frame itself for every other variant.
    pub fn without_attributes(&self) -> &Frame {
        let mut f = self;
        while let Frame::Attribute { data, .. } = f {
            f = data;
        }
        f
    }

    /// Removes any attributes, returning the annotated value (the frame itself otherwise).
    pub fn into_without_attributes(self) -> Frame {
        let mut f = self;
        while let Frame::Attribute { data, .. } = f {
            f = *data;
        }
        f
    }

    /// The message of an error frame, if this is one.
    pub fn as_error(&self) -> Option<&Payload> {
        match self {
            Frame::SimpleError(b) | Frame::BulkError(b) => Some(b),
            _ => None,
        }
    }
}

impl From<&'static str> for Frame {
    /// A bulk string holding the text.
    fn from(s: &'static str) -> Self {
        Frame::BulkString(Payload::from_static(s.as_bytes()))
    }
}

impl From<i64> for Frame {
    fn from(i: i64) -> Self {
        Frame::Integer(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;
    use bytes::Bytes;
    use std::mem::size_of;

    /// The layout [`Frame`]'s notes rely on; `Option` and the decoder's `Result` must not grow
    /// it either (they use the tag's spare values).
    #[test]
    fn frames_are_five_words() {
        assert_eq!(size_of::<Frame>(), 40);
        assert_eq!(size_of::<Option<Frame>>(), 40);
        assert_eq!(size_of::<Result<Option<Frame>, DecodeError>>(), 40);
        assert_eq!(size_of::<Verbatim>(), size_of::<Payload>());
    }

    #[test]
    fn verbatim_strings_keep_format_and_text_in_one_payload() {
        let short = Verbatim::new(*b"mkd", b"# hi");
        assert_eq!((short.format(), short.text()), (*b"mkd", &b"# hi"[..]));
        assert_eq!(&short.as_raw()[..], b"mkd:# hi");
        assert_eq!(&short.clone().into_text()[..], b"# hi");
        assert_eq!(
            format!("{short:?}"),
            r##"Verbatim { format: "mkd", text: "# hi" }"##
        );

        let raw = Bytes::from(format!("txt:{}", "x".repeat(100)));
        let text_at = raw.as_ptr() as usize + 4;
        let long = Verbatim::from_raw(Payload::from(raw)).unwrap();
        assert_eq!(long.text().len(), 100);
        let text = long.into_text();
        assert!(!text.is_inline());
        assert_eq!(text.as_ptr() as usize, text_at, "the text was copied");

        assert_eq!(Verbatim::from_raw(Payload::from_static(b"txt")), None);
        assert_eq!(Verbatim::from_raw(Payload::from_static(b"txt-abc")), None);
        assert_eq!(
            Verbatim::from_raw(Payload::from_static(b"txt:")).map(|v| v.text().len()),
            Some(0)
        );
        assert_eq!(
            Frame::VerbatimString(Verbatim::new(*b"txt", b"t")).as_bytes(),
            Some(&b"t"[..])
        );
        assert_eq!(
            Frame::VerbatimString(Verbatim::new(*b"txt", b"t")).as_payload(),
            None
        );
    }

    #[test]
    fn nan_doubles_compare_equal_so_round_trips_can_be_checked() {
        assert_eq!(Frame::Double(f64::NAN), Frame::Double(f64::NAN));
        assert_ne!(Frame::Double(1.0), Frame::Double(2.0));
    }

    #[test]
    fn attributes_are_peeled_off_nested_layers() {
        let f = Frame::Attribute {
            attributes: vec![],
            data: Box::new(Frame::Attribute {
                attributes: vec![(Frame::from("k"), Frame::Integer(1))],
                data: Box::new(Frame::Integer(7)),
            }),
        };
        assert_eq!(f.without_attributes(), &Frame::Integer(7));
        assert_eq!(f.into_without_attributes(), Frame::Integer(7));
    }

    #[test]
    fn type_bytes_match_the_wire() {
        let cases = [
            (Frame::SimpleString(Payload::new()), b'+'),
            (Frame::NullBulkString, b'$'),
            (Frame::NullArray, b'*'),
            (Frame::Null, b'_'),
            (Frame::Map(vec![]), b'%'),
            (Frame::Push(vec![]), b'>'),
        ];
        for (frame, byte) in cases {
            assert_eq!(frame.type_byte(), byte, "{frame:?}");
        }
    }
}
