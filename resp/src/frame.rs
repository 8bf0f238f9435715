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
    VerbatimString {
        /// The format, for example `*b"txt"`.
        format: [u8; 3],
        /// The text after the `xxx:` prefix.
        text: Payload,
    },
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
            (
                VerbatimString {
                    format: fa,
                    text: ta,
                },
                VerbatimString {
                    format: fb,
                    text: tb,
                },
            ) => fa == fb && ta == tb,
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
            Frame::VerbatimString { .. } => b'=',
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

    /// The payload of a string-like frame: simple and bulk strings, verbatim text, errors and
    /// big numbers.
    pub fn as_bytes(&self) -> Option<&Payload> {
        match self {
            Frame::SimpleString(b)
            | Frame::SimpleError(b)
            | Frame::BulkString(b)
            | Frame::BigNumber(b)
            | Frame::BulkError(b)
            | Frame::VerbatimString { text: b, .. } => Some(b),
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
