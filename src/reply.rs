//! [`FromReply`]: from a decoded [`Frame`] into Rust types, the same for RESP2 and RESP3.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;
use resp_codec::{Frame, Payload};

use crate::error::{ConversionError, Error, ServerError};

/// Conversion from a server reply into a Rust value.
///
/// RESP2 and RESP3 replies convert to the same value: `$-1`, `*-1` and `_` are all `None`; a
/// RESP2 flat array `[k1, v1, k2, v2]` converts into a map like a RESP3 `%` map does; RESP3
/// attributes are skipped. An error reply is an [`Error::Server`] carrying its code; a reply of
/// the wrong shape is an [`Error::Conversion`], never a panic.
///
/// # Examples
///
/// ```
/// use redis_manager::{FromReply, Frame};
///
/// let reply = Frame::Array(vec![Frame::from("a"), Frame::Integer(1)]);
/// let map: std::collections::HashMap<String, i64> = FromReply::from_reply(reply).unwrap();
/// assert_eq!(map["a"], 1);
/// ```
pub trait FromReply: Sized {
    /// Converts `frame`.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] for an error reply, [`Error::Conversion`] for a reply of another shape.
    fn from_reply(frame: Frame) -> Result<Self, Error>;
}

/// The kind of a frame, for conversion errors.
fn kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::SimpleString(_) => "simple string",
        Frame::SimpleError(_) | Frame::BulkError(_) => "error",
        Frame::Integer(_) => "integer",
        Frame::BulkString(_) => "bulk string",
        Frame::Null | Frame::NullBulkString | Frame::NullArray => "null",
        Frame::Double(_) => "double",
        Frame::Boolean(_) => "boolean",
        Frame::BigNumber(_) => "big number",
        Frame::VerbatimString(_) => "verbatim string",
        Frame::Array(_) => "array",
        Frame::Map(_) => "map",
        Frame::Set(_) => "set",
        Frame::Attribute { .. } => "attribute",
        Frame::Push(_) => "push",
    }
}

fn mismatch<T>(expected: &'static str, frame: &Frame) -> Result<T, Error> {
    Err(Error::Conversion(ConversionError {
        expected,
        got: kind(frame),
    }))
}

/// Strips attributes and turns error replies into errors.
///
/// `NOAUTH` (credentials required but none given) and `WRONGPASS` become [`Error::Auth`]
/// whichever command received them: without RESP3's `HELLO`, the first command is where a
/// missing password shows.
pub(crate) fn check(frame: Frame) -> Result<Frame, Error> {
    match frame.into_without_attributes() {
        Frame::SimpleError(e) | Frame::BulkError(e) => {
            let e = ServerError::new(e.into_bytes());
            if matches!(e.code(), "NOAUTH" | "WRONGPASS") {
                Err(Error::Auth(e))
            } else {
                Err(Error::Server(e))
            }
        }
        f => Ok(f),
    }
}

impl FromReply for Frame {
    /// The reply as it is, error replies included (they are data here, not failures).
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        Ok(frame)
    }
}

impl FromReply for () {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        check(frame).map(|_| ())
    }
}

impl FromReply for bool {
    /// `1`/`0` integers, RESP3 booleans, `OK` (true), nulls (false), and `"1"`/`"0"` strings.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        match check(frame)? {
            Frame::Boolean(b) => Ok(b),
            Frame::Integer(i) => Ok(i != 0),
            Frame::SimpleString(s) if &s[..] == b"OK" => Ok(true),
            Frame::Null | Frame::NullBulkString | Frame::NullArray => Ok(false),
            Frame::BulkString(s) | Frame::SimpleString(s) if &s[..] == b"1" => Ok(true),
            Frame::BulkString(s) | Frame::SimpleString(s) if &s[..] == b"0" => Ok(false),
            f => mismatch("bool", &f),
        }
    }
}

fn parse_text<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

macro_rules! int_reply {
    ($($t:ty),*) => {$(
        impl FromReply for $t {
            /// Integers, and strings or doubles holding an integer in range.
            fn from_reply(frame: Frame) -> Result<Self, Error> {
                let f = check(frame)?;
                let v = match &f {
                    Frame::Integer(i) => <$t>::try_from(*i).ok(),
                    Frame::BulkString(b) | Frame::SimpleString(b) | Frame::BigNumber(b) => {
                        parse_text::<$t>(b)
                    }
                    Frame::Double(d) if d.fract() == 0.0 => {
                        parse_text::<$t>(format!("{d:.0}").as_bytes())
                    }
                    Frame::Boolean(b) => Some(<$t>::from(*b)),
                    _ => None,
                };
                match v {
                    Some(v) => Ok(v),
                    None => mismatch(stringify!($t), &f),
                }
            }
        }
    )*};
}
// No `u8`: `Vec<u8>` must mean the bytes of a string reply, and an impl for `u8` would make it
// also mean a list of small numbers (the two impls would overlap).
int_reply!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl FromReply for f64 {
    /// Doubles, integers, and strings holding a number (`inf` and `-inf` included).
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let f = check(frame)?;
        let v = match &f {
            Frame::Double(d) => Some(*d),
            Frame::Integer(i) => Some(*i as f64),
            Frame::BulkString(b) | Frame::SimpleString(b) | Frame::BigNumber(b) => {
                parse_text::<f64>(b)
            }
            _ => None,
        };
        match v {
            Some(v) => Ok(v),
            None => mismatch("f64", &f),
        }
    }
}

impl FromReply for f32 {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        f64::from_reply(frame).map(|v| v as f32)
    }
}

/// The bytes of a string-like reply; numbers in their text form.
fn into_payload(frame: Frame, expected: &'static str) -> Result<Payload, Error> {
    match check(frame)? {
        Frame::BulkString(b) | Frame::SimpleString(b) | Frame::BigNumber(b) => Ok(b),
        Frame::VerbatimString(v) => Ok(v.into_text()),
        Frame::Integer(i) => Ok(Payload::from(i.to_string())),
        Frame::Double(d) => Ok(Payload::copy_from_slice(&resp_codec::ToArg::to_arg(&d))),
        Frame::Boolean(b) => Ok(Payload::from_static(if b { b"1" } else { b"0" })),
        f => mismatch(expected, &f),
    }
}

impl FromReply for Bytes {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        // The common reply (every `GET` hit of the client-side cache) first, past the checks
        // for errors, attributes and other string-like frames.
        if let Frame::BulkString(b) = frame {
            return Ok(b.into_bytes());
        }
        into_payload(frame, "Bytes").map(Payload::into_bytes)
    }
}

impl FromReply for Vec<u8> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_payload(frame, "Vec<u8>").map(Payload::into_vec)
    }
}

impl FromReply for String {
    /// String-like replies holding UTF-8 (non-UTF-8 data is a conversion error).
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let b = into_payload(frame, "String")?;
        String::from_utf8(b.into_vec()).map_err(|_| {
            Error::Conversion(ConversionError {
                expected: "String",
                got: "non-UTF-8 bytes",
            })
        })
    }
}

impl<T: FromReply> FromReply for Option<T> {
    /// `None` for any null, otherwise `Some` of the converted value.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        match frame {
            Frame::Null | Frame::NullBulkString | Frame::NullArray => Ok(None),
            // The common reply, neither an error nor wrapped in attributes: `check` would
            // hand it back unchanged, so it goes to `T` without that extra move.
            f if !f.is_error() && !matches!(f, Frame::Attribute { .. }) => {
                T::from_reply(f).map(Some)
            }
            f => match check(f)? {
                Frame::Null | Frame::NullBulkString | Frame::NullArray => Ok(None),
                f => T::from_reply(f).map(Some),
            },
        }
    }
}

/// The elements of an aggregate reply; a map is flattened to `k1, v1, k2, v2`; null is empty.
fn into_items(frame: Frame, expected: &'static str) -> Result<Vec<Frame>, Error> {
    match check(frame)? {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Ok(v),
        Frame::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Frame::Null | Frame::NullArray | Frame::NullBulkString => Ok(Vec::new()),
        f => mismatch(expected, &f),
    }
}

/// Key/value pairs of a RESP3 map or a RESP2 flat array.
pub(crate) fn into_pairs(
    frame: Frame,
    expected: &'static str,
) -> Result<Vec<(Frame, Frame)>, Error> {
    match check(frame)? {
        Frame::Map(pairs) => Ok(pairs),
        Frame::Array(v) if v.len() % 2 == 0 => {
            let mut it = v.into_iter();
            let mut pairs = Vec::with_capacity(it.len() / 2);
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Ok(pairs)
        }
        Frame::Null | Frame::NullArray => Ok(Vec::new()),
        f => mismatch(expected, &f),
    }
}

impl<T: FromReply> FromReply for Vec<T> {
    /// Arrays, sets and pushes element by element; nulls as empty.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_items(frame, "Vec")?
            .into_iter()
            .map(T::from_reply)
            .collect()
    }
}

impl<T: FromReply + Eq + Hash, S: BuildHasher + Default> FromReply for HashSet<T, S> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_items(frame, "HashSet")?
            .into_iter()
            .map(T::from_reply)
            .collect()
    }
}

impl<T: FromReply + Ord> FromReply for BTreeSet<T> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_items(frame, "BTreeSet")?
            .into_iter()
            .map(T::from_reply)
            .collect()
    }
}

impl<K: FromReply + Eq + Hash, V: FromReply, S: BuildHasher + Default> FromReply
    for HashMap<K, V, S>
{
    /// RESP3 maps, and RESP2 flat arrays of alternating keys and values.
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_pairs(frame, "HashMap")?
            .into_iter()
            .map(|(k, v)| Ok((K::from_reply(k)?, V::from_reply(v)?)))
            .collect()
    }
}

impl<K: FromReply + Ord, V: FromReply> FromReply for BTreeMap<K, V> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        into_pairs(frame, "BTreeMap")?
            .into_iter()
            .map(|(k, v)| Ok((K::from_reply(k)?, V::from_reply(v)?)))
            .collect()
    }
}

macro_rules! tuple_reply {
    ($n:literal; $($t:ident),+) => {
        impl<$($t: FromReply),+> FromReply for ($($t,)+) {
            /// An aggregate of exactly this many elements.
            fn from_reply(frame: Frame) -> Result<Self, Error> {
                let items = into_items(frame, concat!("tuple of ", $n))?;
                if items.len() != $n {
                    return Err(Error::Conversion(ConversionError {
                        expected: concat!("tuple of ", $n),
                        got: "aggregate of another length",
                    }));
                }
                let mut it = items.into_iter();
                Ok(($($t::from_reply(it.next().expect("length checked"))?,)+))
            }
        }
    };
}
tuple_reply!(1; A);
tuple_reply!(2; A, B);
tuple_reply!(3; A, B, C);
tuple_reply!(4; A, B, C, D);
tuple_reply!(5; A, B, C, D, E);
tuple_reply!(6; A, B, C, D, E, F);
tuple_reply!(7; A, B, C, D, E, F, G);
tuple_reply!(8; A, B, C, D, E, F, G, H);
tuple_reply!(9; A, B, C, D, E, F, G, H, I);
tuple_reply!(10; A, B, C, D, E, F, G, H, I, J);
tuple_reply!(11; A, B, C, D, E, F, G, H, I, J, K);
tuple_reply!(12; A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &'static str) -> Frame {
        Frame::from(s)
    }

    #[test]
    fn nulls_of_both_protocols_are_none() {
        for null in [Frame::Null, Frame::NullBulkString, Frame::NullArray] {
            assert_eq!(Option::<String>::from_reply(null.clone()).unwrap(), None);
            assert!(Vec::<String>::from_reply(null).unwrap().is_empty());
        }
    }

    #[test]
    fn optional_replies_see_through_attributes_and_fail_on_errors() {
        let wrap = |data: Frame| Frame::Attribute {
            attributes: vec![(bulk("ttl"), Frame::Integer(3))],
            data: Box::new(data),
        };
        assert_eq!(
            Option::<String>::from_reply(wrap(Frame::Null)).unwrap(),
            None
        );
        let some = Option::<String>::from_reply(wrap(bulk("v"))).unwrap();
        assert_eq!(some.as_deref(), Some("v"));
        // Even `Frame`, which takes an error reply as data, fails when optional.
        let e = Option::<Frame>::from_reply(Frame::SimpleError("ERR x".into())).unwrap_err();
        assert_eq!(e.code(), Some("ERR"));
        let e = Option::<Bytes>::from_reply(wrap(Frame::BulkError("NOPE y".into()))).unwrap_err();
        assert_eq!(e.code(), Some("NOPE"));
    }

    #[test]
    fn resp2_flat_array_and_resp3_map_give_the_same_map() {
        let resp2 = Frame::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        let resp3 = Frame::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]);
        let m2: HashMap<String, i64> = FromReply::from_reply(resp2).unwrap();
        let m3: HashMap<String, i64> = FromReply::from_reply(resp3).unwrap();
        assert_eq!(m2, m3);
        assert_eq!(m2["b"], 2);
    }

    #[test]
    fn error_replies_become_server_errors_with_code() {
        let e = i64::from_reply(Frame::SimpleError("WRONGTYPE bad".into())).unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"));
        let e = String::from_reply(Frame::BulkError("NOSCRIPT x".into())).unwrap_err();
        assert_eq!(e.code(), Some("NOSCRIPT"));
    }

    #[test]
    fn wrong_shapes_are_conversion_errors_not_panics() {
        let cases: Vec<(Frame, &str)> = vec![
            (Frame::Array(vec![]), "i64"),
            (bulk("abc"), "i64"),
            (Frame::Integer(70000), "u16"),
            (Frame::Array(vec![Frame::Integer(1)]), "pair"),
            (
                Frame::BulkString(Payload::from_static(b"\xff\xfe")),
                "String",
            ),
        ];
        for (frame, what) in cases {
            let r = match what {
                "i64" => i64::from_reply(frame).map(|_| ()),
                "u16" => u16::from_reply(frame).map(|_| ()),
                "pair" => <(i64, i64)>::from_reply(frame).map(|_| ()),
                _ => String::from_reply(frame).map(|_| ()),
            };
            assert!(matches!(r, Err(Error::Conversion(_))), "{what}: {r:?}");
        }
    }

    #[test]
    fn scalars_convert_across_representations() {
        assert!(bool::from_reply(Frame::Integer(1)).unwrap());
        assert!(bool::from_reply(Frame::SimpleString("OK".into())).unwrap());
        assert!(!bool::from_reply(Frame::Boolean(false)).unwrap());
        assert_eq!(i64::from_reply(bulk("-12")).unwrap(), -12);
        assert_eq!(f64::from_reply(bulk("1.5")).unwrap(), 1.5);
        assert_eq!(
            f64::from_reply(Frame::Double(f64::INFINITY)).unwrap(),
            f64::INFINITY
        );
        assert_eq!(String::from_reply(Frame::Integer(7)).unwrap(), "7");
        let t: (String, i64, Option<String>) = FromReply::from_reply(Frame::Array(vec![
            bulk("x"),
            Frame::Integer(2),
            Frame::Null,
        ]))
        .unwrap();
        assert_eq!(t, ("x".to_string(), 2, None));
        let attr = Frame::Attribute {
            attributes: vec![],
            data: Box::new(Frame::Integer(5)),
        };
        assert_eq!(u32::from_reply(attr).unwrap(), 5);
    }
}
