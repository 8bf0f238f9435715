use super::*;
use super::{machine::*, number::*, rules::*};

use crate::encode::encode_frame;

// ---- helpers -------------------------------------------------------------------------------

fn bulk(s: &[u8]) -> Frame {
    Frame::BulkString(Payload::copy_from_slice(s))
}

fn simple(s: &str) -> Frame {
    Frame::SimpleString(Payload::copy_from_slice(s.as_bytes()))
}

/// Decodes `input` (fed whole) with `limits`, expecting exactly one frame and nothing left over.
fn one_with(limits: Limits, input: &[u8]) -> Frame {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::from(input);
    let frame = decoder
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(input)))
        .unwrap_or_else(|| panic!("{:?}: incomplete", String::from_utf8_lossy(input)));
    assert!(
        buf.is_empty(),
        "{:?}: bytes left over",
        String::from_utf8_lossy(input)
    );
    assert!(!decoder.is_mid_frame());
    assert_eq!(decoder.bytes_consumed(), input.len() as u64);
    frame
}

fn one(input: &[u8]) -> Frame {
    one_with(Limits::default(), input)
}

/// Decodes `input` fed whole until it fails; panics if it never does.
fn err_with(limits: Limits, input: &[u8]) -> DecodeError {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::from(input);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{:?}: no error", String::from_utf8_lossy(input)),
            Err(e) => return e,
        }
    }
}

fn err(input: &[u8]) -> DecodeError {
    err_with(Limits::default(), input)
}

fn syntax(offset: u64, expected: Expected, found: u8) -> DecodeError {
    DecodeError::Syntax {
        offset,
        expected,
        found,
    }
}

/// Decodes every frame of `chunks`, fed one after the other, and whether decoding failed.
fn decode_chunks<'a>(
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Frame>, Option<DecodeError>) {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

// ---- every frame type ----------------------------------------------------------------------

#[test]
fn every_resp2_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"+OK\r\n", simple("OK")),
        (b"+\r\n", simple("")),
        (
            b"-ERR unknown command\r\n",
            Frame::SimpleError("ERR unknown command".into()),
        ),
        (b":0\r\n", Frame::Integer(0)),
        (b":42\r\n", Frame::Integer(42)),
        (b":-42\r\n", Frame::Integer(-42)),
        (b":-0\r\n", Frame::Integer(0)),
        (b":9223372036854775807\r\n", Frame::Integer(i64::MAX)),
        (b":-9223372036854775808\r\n", Frame::Integer(i64::MIN)),
        (b"$5\r\nhello\r\n", bulk(b"hello")),
        (b"$0\r\n\r\n", bulk(b"")),
        // The payload is skipped by length, so CR and LF inside it are data.
        (b"$4\r\n\r\n\r\n\r\n", bulk(b"\r\n\r\n")),
        (b"$-1\r\n", Frame::NullBulkString),
        (b"*-1\r\n", Frame::NullArray),
        (b"*0\r\n", Frame::Array(vec![])),
        (
            b"*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n",
            Frame::Array(vec![Frame::Integer(1), bulk(b"foo"), simple("bar")]),
        ),
        (
            b"*2\r\n*1\r\n:1\r\n*0\r\n",
            Frame::Array(vec![
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Array(vec![]),
            ]),
        ),
        (
            b"*3\r\n$-1\r\n*-1\r\n-E\r\n",
            Frame::Array(vec![
                Frame::NullBulkString,
                Frame::NullArray,
                Frame::SimpleError("E".into()),
            ]),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn every_resp3_scalar_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"_\r\n", Frame::Null),
        (b"#t\r\n", Frame::Boolean(true)),
        (b"#f\r\n", Frame::Boolean(false)),
        (b",3.25\r\n", Frame::Double(3.25)),
        (b",-2.5\r\n", Frame::Double(-2.5)),
        (b",+2.5\r\n", Frame::Double(2.5)),
        (b",10\r\n", Frame::Double(10.0)),
        (b",0\r\n", Frame::Double(0.0)),
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            Frame::BigNumber("3492890328409238509324850943850943825024385".into()),
        ),
        (b"(-1\r\n", Frame::BigNumber("-1".into())),
        (b"(+7\r\n", Frame::BigNumber("+7".into())),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            Frame::BulkError("SYNTAX invalid syntax".into()),
        ),
        (
            b"=15\r\ntxt:Some string\r\n",
            Frame::VerbatimString(Verbatim::new(*b"txt", b"Some string")),
        ),
        (
            b"=4\r\nmkd:\r\n",
            Frame::VerbatimString(Verbatim::new(*b"mkd", b"")),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn doubles_accept_infinities_nan_and_exponents() {
    let cases: &[(&[u8], f64)] = &[
        (b",inf\r\n", f64::INFINITY),
        (b",+inf\r\n", f64::INFINITY),
        (b",-inf\r\n", f64::NEG_INFINITY),
        (b",1e10\r\n", 1e10),
        (b",1E10\r\n", 1e10),
        (b",1.5e-3\r\n", 1.5e-3),
        (b",-1.5E+300\r\n", -1.5e300),
        (b",2.2250738585072014e-308\r\n", f64::MIN_POSITIVE),
    ];
    for &(input, value) in cases {
        let Frame::Double(d) = one(input) else {
            panic!("not a double")
        };
        assert_eq!(
            d.to_bits(),
            value.to_bits(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    for nan in [&b",nan\r\n"[..], b",-nan\r\n"] {
        let Frame::Double(d) = one(nan) else {
            panic!("not a double")
        };
        assert!(d.is_nan());
    }
}

#[test]
fn every_resp3_aggregate_type_decodes() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n#t\r\n",
            Frame::Map(vec![
                (simple("a"), Frame::Integer(1)),
                (bulk(b"b"), Frame::Boolean(true)),
            ]),
        ),
        (
            b"~3\r\n:1\r\n:2\r\n:1\r\n",
            Frame::Set(vec![
                Frame::Integer(1),
                Frame::Integer(2),
                Frame::Integer(1),
            ]),
        ),
        (
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            Frame::Push(vec![bulk(b"message"), bulk(b"ch"), bulk(b"hi")]),
        ),
        (
            b"%1\r\n*1\r\n:1\r\n%1\r\n_\r\n~0\r\n",
            Frame::Map(vec![(
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Map(vec![(Frame::Null, Frame::Set(vec![]))]),
            )]),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn empty_aggregates_of_every_type_decode() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"*0\r\n", Frame::Array(vec![])),
        (b"%0\r\n", Frame::Map(vec![])),
        (b"~0\r\n", Frame::Set(vec![])),
        (b">0\r\n", Frame::Push(vec![])),
        (b"*?\r\n.\r\n", Frame::Array(vec![])),
        (b"%?\r\n.\r\n", Frame::Map(vec![])),
        (b"~?\r\n.\r\n", Frame::Set(vec![])),
        (b">?\r\n.\r\n", Frame::Push(vec![])),
        (
            b"|0\r\n:1\r\n",
            Frame::Attribute {
                attributes: vec![],
                data: Box::new(Frame::Integer(1)),
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn streamed_string_chunks_join_into_one_bulk_string() {
    assert_eq!(
        one(b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"),
        bulk(b"Hello word")
    );
    assert_eq!(one(b"$?\r\n;0\r\n"), bulk(b""));
    // Chunk payloads are length-prefixed too: CR, LF and non-UTF-8 are data.
    assert_eq!(one(b"$?\r\n;3\r\n\r\n\xff\r\n;0\r\n"), bulk(b"\r\n\xff"));
}

#[test]
fn streamed_aggregates_end_at_dot() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"*?\r\n:1\r\n:2\r\n.\r\n",
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
        ),
        (
            b"%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n",
            Frame::Map(vec![
                (simple("a"), Frame::Integer(1)),
                (simple("b"), Frame::Integer(2)),
            ]),
        ),
        (b"~?\r\n+x\r\n.\r\n", Frame::Set(vec![simple("x")])),
        (b">?\r\n+x\r\n.\r\n", Frame::Push(vec![simple("x")])),
        // Nested streamed aggregates: each `.` closes the innermost one.
        (
            b"*?\r\n*?\r\n:1\r\n.\r\n*1\r\n$?\r\n;1\r\na\r\n;0\r\n.\r\n",
            Frame::Array(vec![
                Frame::Array(vec![Frame::Integer(1)]),
                Frame::Array(vec![bulk(b"a")]),
            ]),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(one(input), expected, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn top_level_attribute_is_kept_with_its_reply() {
    assert_eq!(
        one(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039\r\n:9543\r\n"),
        Frame::Attribute {
            attributes: vec![(
                simple("key-popularity"),
                Frame::Map(vec![(bulk(b"a"), Frame::Double(0.19))]),
            )],
            data: Box::new(Frame::Array(vec![
                Frame::Integer(2039),
                Frame::Integer(9543)
            ])),
        }
    );
}

#[test]
fn attribute_inside_an_array_element_is_kept_with_that_element() {
    assert_eq!(
        one(b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n"),
        Frame::Array(vec![
            Frame::Integer(1),
            Frame::Attribute {
                attributes: vec![(simple("ttl"), Frame::Integer(3600))],
                data: Box::new(bulk(b"v")),
            },
        ])
    );
    // Also inside a streamed aggregate, and stacked attributes nest.
    assert_eq!(
        one(b"*?\r\n|1\r\n+a\r\n+b\r\n|0\r\n:1\r\n.\r\n"),
        Frame::Array(vec![Frame::Attribute {
            attributes: vec![(simple("a"), simple("b"))],
            data: Box::new(Frame::Attribute {
                attributes: vec![],
                data: Box::new(Frame::Integer(1)),
            }),
        }])
    );
}

#[test]
fn non_utf8_bytes_are_preserved_in_every_string_type() {
    let cases: Vec<(&[u8], Frame)> = vec![
        (
            b"+\xff\xfe\x00\r\n",
            Frame::SimpleString(Payload::from_static(b"\xff\xfe\x00")),
        ),
        (
            b"-\xc3\x28\r\n",
            Frame::SimpleError(Payload::from_static(b"\xc3\x28")),
        ),
        (b"$3\r\n\xff\x00\x80\r\n", bulk(b"\xff\x00\x80")),
        (
            b"!2\r\n\xfe\xff\r\n",
            Frame::BulkError(Payload::from_static(b"\xfe\xff")),
        ),
        (
            b"=6\r\n\xfftx:\x80\x81\r\n",
            Frame::VerbatimString(Verbatim::new(*b"\xfftx", b"\x80\x81")),
        ),
    ];
    for (input, expected) in cases {
        let frame = one(input);
        assert_eq!(frame, expected);
        assert_eq!(frame.as_str(), None);
    }
}

/// Every string length around the inline capacity, as a status line and as a bulk string, at
/// the top level and inside an array, with the next reply after it (so a whole 24-byte block
/// can be read past a short payload) and as the last bytes of the buffer (so it cannot): the
/// payload is the same either way, inline exactly up to the capacity.
#[test]
fn short_strings_decode_the_same_whether_or_not_a_whole_block_follows() {
    for len in 0..=Payload::INLINE_CAPACITY + 8 {
        let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        for ty in [b'+', b'$'] {
            let mut item = Vec::new();
            if ty == b'$' {
                item.extend_from_slice(format!("${len}\r\n").as_bytes());
            } else {
                item.push(b'+');
            }
            item.extend_from_slice(&body);
            item.extend_from_slice(b"\r\n");
            let expected = match ty {
                b'+' => Frame::SimpleString(Payload::copy_from_slice(&body)),
                _ => Frame::BulkString(Payload::copy_from_slice(&body)),
            };
            let mut array = b"*1\r\n".to_vec();
            array.extend_from_slice(&item);
            for (input, nested) in [(&item, false), (&array, true)] {
                for trailing in [&b""[..], &b":1234567890123456789\r\n+OK\r\n"[..]] {
                    let mut buf = BytesMut::from(&input[..]);
                    buf.extend_from_slice(trailing);
                    let frame = Decoder::new().decode(&mut buf).unwrap().unwrap();
                    let got = if nested {
                        let Frame::Array(mut items) = frame else {
                            panic!("not an array")
                        };
                        assert_eq!(items.len(), 1);
                        items.remove(0)
                    } else {
                        frame
                    };
                    let what = format!(
                        "{} len {len} nested {nested} trailing {}",
                        ty as char,
                        trailing.len()
                    );
                    assert_eq!(got, expected, "{what}");
                    let payload = got.as_payload().unwrap();
                    assert_eq!(
                        payload.is_inline(),
                        len <= Payload::INLINE_CAPACITY,
                        "{what}"
                    );
                    assert_eq!(&payload[..], &body[..], "{what}");
                    assert_eq!(buf.len(), trailing.len(), "{what}");
                }
            }
        }
    }
}

#[test]
fn long_payloads_are_slices_of_the_read_buffer_and_short_ones_inline() {
    let long = vec![b'x'; Payload::INLINE_CAPACITY + 1];
    let short = &long[..Payload::INLINE_CAPACITY];
    let mut input = Vec::new();
    for (ty, body) in [
        (b'$', &long[..]),
        (b'$', short),
        (b'!', &long[..]),
        (b'!', short),
    ] {
        input.extend_from_slice(format!("{}{}\r\n", ty as char, body.len()).as_bytes());
        input.extend_from_slice(body);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"*2\r\n");
    let nested_at = input.len() + 5;
    input.extend_from_slice(format!("${}\r\n", long.len()).as_bytes());
    input.extend_from_slice(&long);
    input.extend_from_slice(b"\r\n$1\r\ny\r\n");
    let mut buf = BytesMut::from(&input[..]);
    let base = buf.as_ptr() as usize;
    let mut decoder = Decoder::new();
    let mut next = || decoder.decode(&mut buf).unwrap().unwrap();
    let at = |p: &Payload| p.as_ptr() as usize - base;
    let (long_bulk, short_bulk) = (next(), next());
    let (long_err, short_err) = (next(), next());
    assert_eq!(at(long_bulk.as_payload().unwrap()), 5);
    assert!(!long_bulk.as_payload().unwrap().is_inline());
    assert!(short_bulk.as_payload().unwrap().is_inline());
    assert_eq!(short_bulk.as_payload().unwrap(), short);
    assert!(!long_err.as_payload().unwrap().is_inline());
    assert!(short_err.as_error().unwrap().is_inline());
    let Frame::Array(items) = next() else {
        panic!("expected an array")
    };
    assert_eq!(at(items[0].as_payload().unwrap()), nested_at);
    assert!(items[1].as_payload().unwrap().is_inline());
}

#[test]
fn consecutive_frames_each_consume_exactly_their_bytes() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+OK\r\n:1\r\n$1\r\nx\r\n*1\r\n:2"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(simple("OK")));
    assert_eq!(&buf[..], b":1\r\n$1\r\nx\r\n*1\r\n:2");
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Frame::Integer(1)));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(bulk(b"x")));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(decoder.is_mid_frame());
    buf.extend_from_slice(b"\r\n");
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Frame::Array(vec![Frame::Integer(2)]))
    );
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
}

// ---- splitting -----------------------------------------------------------------------------

/// A stream with every frame type, streamed forms and attributes included.
const MIXED_STREAM: &[u8] = b"+OK\r\n-ERR bad\r\n:-12\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n\
_\r\n#t\r\n,-1.5e3\r\n,nan\r\n(123456789012345678901234567890\r\n!3\r\nERR\r\n\
=7\r\ntxt:abc\r\n%1\r\n+k\r\n*2\r\n:1\r\n~1\r\n_\r\n>2\r\n+p\r\n:9\r\n\
|1\r\n+a\r\n:1\r\n$1\r\nz\r\n*2\r\n|0\r\n#f\r\n$0\r\n\r\n\
$?\r\n;2\r\nab\r\n;1\r\n\r\r\n;0\r\n*?\r\n:1\r\n%?\r\n+x\r\n$?\r\n;1\r\ny\r\n;0\r\n.\r\n.\r\n\
~?\r\n.\r\n>?\r\n:3\r\n.\r\n+\xff\r\n";

fn mixed_frames() -> Vec<Frame> {
    let (frames, error) = decode_chunks(Limits::default(), [MIXED_STREAM]);
    assert_eq!(error, None);
    assert_eq!(frames.len(), 23);
    frames
}

#[test]
fn every_split_point_of_a_stream_gives_the_same_frames() {
    assert_every_split_point_gives(MIXED_STREAM, &mixed_frames());
}

#[test]
fn every_pair_of_split_points_gives_the_same_frames() {
    assert_every_pair_of_splits_gives(MIXED_STREAM, &mixed_frames());
}

/// Feeds `input` in two pieces cut at every point (the first or the second empty included) and
/// checks each gives `expected`.
fn assert_every_split_point_gives(input: &[u8], expected: &[Frame]) {
    let shown = String::from_utf8_lossy(input);
    for i in 0..=input.len() {
        let (frames, error) = decode_chunks(Limits::default(), [&input[..i], &input[i..]]);
        assert_eq!(error, None, "{shown:?} split at {i}");
        assert_eq!(frames, expected, "{shown:?} split at {i}");
    }
}

/// Feeds `input` in three pieces cut at every pair of points and checks each gives `expected`.
fn assert_every_pair_of_splits_gives(input: &[u8], expected: &[Frame]) {
    let n = input.len();
    for i in 0..=n {
        for j in i..=n {
            let chunks = [&input[..i], &input[i..j], &input[j..]];
            let (frames, error) = decode_chunks(Limits::default(), chunks);
            assert_eq!(error, None, "split at {i}, {j}");
            assert_eq!(frames, expected, "split at {i}, {j}");
        }
    }
}

#[test]
fn stream_fed_one_byte_at_a_time_gives_the_same_frames() {
    let (frames, error) = decode_chunks(Limits::default(), MIXED_STREAM.chunks(1));
    assert_eq!(error, None);
    assert_eq!(frames, mixed_frames());
}

/// Aggregates whose children alternate between scalars and nested aggregates, as in XREAD and
/// XRANGE replies: the lane leaves placeholders behind when it stops at a nested aggregate, and
/// the finished child must land in the right one, however the input is split.
#[test]
fn scalars_after_nested_aggregates_land_in_order_at_every_split() {
    let input = b"*4\r\n$1\r\na\r\n*2\r\n$2\r\nid\r\n*2\r\n:1\r\n:2\r\n:3\r\n\
*1\r\n*0\r\n%3\r\n+k\r\n*1\r\n_\r\n*1\r\n:4\r\n:5\r\n+v\r\n%1\r\n:6\r\n*0\r\n";
    let expected = vec![
        Frame::Array(vec![
            bulk(b"a"),
            Frame::Array(vec![
                bulk(b"id"),
                Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
            ]),
            Frame::Integer(3),
            Frame::Array(vec![Frame::Array(vec![])]),
        ]),
        Frame::Map(vec![
            (simple("k"), Frame::Array(vec![Frame::Null])),
            (Frame::Array(vec![Frame::Integer(4)]), Frame::Integer(5)),
            (
                simple("v"),
                Frame::Map(vec![(Frame::Integer(6), Frame::Array(vec![]))]),
            ),
        ]),
    ];
    assert_every_pair_of_splits_gives(input, &expected);
}

/// The lane closes a finished child array straight into its parent when it fills that parent
/// itself; every other parent (a streamed aggregate, which counts its children against the
/// limit, an attribute map, a map waiting for a value) takes the child through the general
/// path. Both must give the same frames at every split, and several levels finished by one
/// element must all close.
#[test]
fn finished_children_land_in_every_kind_of_parent_at_every_split() {
    let input = b"*3\r\n*1\r\n*1\r\n*1\r\n:1\r\n~2\r\n:2\r\n:3\r\n>1\r\n*1\r\n+p\r\n\
*?\r\n*2\r\n:4\r\n:5\r\n*1\r\n*1\r\n:6\r\n.\r\n\
|1\r\n+a\r\n*1\r\n:7\r\n*2\r\n*1\r\n:8\r\n:9\r\n\
%2\r\n*1\r\n:10\r\n*1\r\n*1\r\n:11\r\n+k\r\n*?\r\n*1\r\n:12\r\n.\r\n";
    let array = Frame::Array;
    let int = Frame::Integer;
    let expected = vec![
        array(vec![
            array(vec![array(vec![array(vec![int(1)])])]),
            Frame::Set(vec![int(2), int(3)]),
            Frame::Push(vec![array(vec![simple("p")])]),
        ]),
        array(vec![
            array(vec![int(4), int(5)]),
            array(vec![array(vec![int(6)])]),
        ]),
        Frame::Attribute {
            attributes: vec![(simple("a"), array(vec![int(7)]))],
            data: Box::new(array(vec![array(vec![int(8)]), int(9)])),
        },
        Frame::Map(vec![
            (array(vec![int(10)]), array(vec![array(vec![int(11)])])),
            (simple("k"), array(vec![array(vec![int(12)])])),
        ]),
    ];
    assert_every_pair_of_splits_gives(input, &expected);
    // A streamed parent still counts the children the lane finished for it.
    let limits = Limits::default().max_aggregate_len(2);
    let (frames, error) =
        decode_chunks(limits, [&b"*?\r\n*1\r\n:1\r\n*1\r\n:2\r\n*1\r\n:3\r\n"[..]]);
    assert_eq!(frames, vec![]);
    assert_eq!(error, Some(limit(28, LimitKind::AggregateLen, 3, 2)));
}

/// A top-level array, set or push of scalars is built without a stack level; when an element
/// is something the lane does not take, the elements before it are handed to the general path,
/// which must finish the same frame (or report the same error at the same offset) wherever that
/// element stands and however the input is split.
#[test]
fn top_level_lists_hand_over_at_any_element() {
    let scalars: [(&[u8], Frame); 3] = [
        (b"$3\r\nabc\r\n", bulk(b"abc")),
        (b":-7\r\n", Frame::Integer(-7)),
        (
            b"$30\r\n0123456789abcdefghijklmnopqrst\r\n",
            bulk(b"0123456789abcdefghijklmnopqrst"),
        ),
    ];
    let foreign: [(&[u8], Frame); 5] = [
        (b"*1\r\n:5\r\n", Frame::Array(vec![Frame::Integer(5)])),
        (
            b"-ERR x\r\n",
            Frame::SimpleError(Payload::copy_from_slice(b"ERR x")),
        ),
        (b",1.5\r\n", Frame::Double(1.5)),
        (
            b"%1\r\n+a\r\n:1\r\n",
            Frame::Map(vec![(simple("a"), Frame::Integer(1))]),
        ),
        (
            b"|1\r\n+k\r\n+v\r\n:9\r\n",
            Frame::Attribute {
                attributes: vec![(simple("k"), simple("v"))],
                data: Box::new(Frame::Integer(9)),
            },
        ),
    ];
    for (kind, build) in [
        (b'*', Frame::Array as fn(Vec<Frame>) -> Frame),
        (b'~', Frame::Set),
        (b'>', Frame::Push),
    ] {
        for (odd, odd_frame) in &foreign {
            for at in 0..=scalars.len() {
                let mut input = vec![kind];
                input.extend_from_slice(format!("{}\r\n", scalars.len() + 1).as_bytes());
                let mut items = Vec::new();
                for (i, (bytes, frame)) in scalars.iter().enumerate() {
                    if i == at {
                        input.extend_from_slice(odd);
                        items.push(odd_frame.clone());
                    }
                    input.extend_from_slice(bytes);
                    items.push(frame.clone());
                }
                if at == scalars.len() {
                    input.extend_from_slice(odd);
                    items.push(odd_frame.clone());
                }
                // A scalar after it shows the decoder is idle again afterwards.
                input.extend_from_slice(b"+OK\r\n");
                assert_every_split_point_gives(&input, &[build(items), simple("OK")]);
            }
        }
        // An invalid element after some valid ones is reported at its own offset.
        let mut input = vec![kind];
        input.extend_from_slice(b"3\r\n:1\r\n$2\r\nab\r\n?\r\n");
        assert_eq!(err(&input), syntax(16, Expected::TypeByte, b'?'));
    }
}

/// Top-level maps go through the general path and its lane (a second-tier map path like the
/// lists' measured slower); a foreign element as a key or as a value, wherever it stands and
/// however the input is split, must give the same frame, and a key read before a value the
/// lane does not take must wait for it.
#[test]
fn top_level_maps_hand_over_at_any_key_or_value() {
    let scalars: [(&[u8], Frame); 4] = [
        (b"+k1\r\n", simple("k1")),
        (b":2\r\n", Frame::Integer(2)),
        (
            b"$25\r\nabcdefghijklmnopqrstuvwxy\r\n",
            bulk(b"abcdefghijklmnopqrstuvwxy"),
        ),
        (b"_\r\n", Frame::Null),
    ];
    let foreign: [(&[u8], Frame); 3] = [
        (b"*1\r\n:5\r\n", Frame::Array(vec![Frame::Integer(5)])),
        (b"#t\r\n", Frame::Boolean(true)),
        (
            b"%1\r\n+a\r\n*0\r\n",
            Frame::Map(vec![(simple("a"), Frame::Array(vec![]))]),
        ),
    ];
    for (odd, odd_frame) in &foreign {
        for at in 0..=scalars.len() {
            // Five elements in all: the foreign one at `at`, the scalars around it, and one more
            // scalar to make up the last pair.
            let mut elements: Vec<(&[u8], Frame)> = scalars.to_vec();
            elements.insert(at, (odd, odd_frame.clone()));
            elements.push((b":9\r\n", Frame::Integer(9)));
            let mut input = b"%3\r\n".to_vec();
            for (bytes, _) in &elements {
                input.extend_from_slice(bytes);
            }
            input.extend_from_slice(b"+OK\r\n");
            let pairs = elements
                .chunks(2)
                .map(|p| (p[0].1.clone(), p[1].1.clone()))
                .collect();
            assert_every_split_point_gives(&input, &[Frame::Map(pairs), simple("OK")]);
        }
    }
    // A map of scalars only, and an invalid value after a valid key.
    assert_eq!(
        one(b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n"),
        Frame::Map(vec![
            (simple("a"), Frame::Integer(1)),
            (bulk(b"b"), Frame::Null)
        ])
    );
    assert_eq!(
        err(b"%2\r\n+a\r\n:1\r\n+b\r\n?\r\n"),
        syntax(16, Expected::TypeByte, b'?')
    );
}

#[test]
fn bulk_string_split_at_every_byte_decodes() {
    let input = b"$10\r\n0123\r\n6789\r\n";
    for at in 0..=input.len() {
        let (frames, error) = decode_chunks(Limits::default(), [&input[..at], &input[at..]]);
        assert_eq!(error, None);
        assert_eq!(frames, vec![bulk(b"0123\r\n6789")], "split at {at}");
    }
}

#[test]
fn huge_announced_array_does_not_preallocate() {
    let unbudgeted = Limits::default().max_decoded_size(usize::MAX);
    let mut decoder = Decoder::with_limits(unbudgeted);
    let mut buf = BytesMut::from(&b"*4294967295\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.is_empty(), "the header is consumed into the decoder");
    let Items::List(items) = &decoder.stack[0].items else {
        panic!("an array level")
    };
    assert!(items.capacity() <= Limits::MAX_PREALLOCATED_ELEMENTS);

    let mut decoder = Decoder::with_limits(unbudgeted);
    let mut buf = BytesMut::from(&b"%4294967295\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    let Items::Pairs { pairs, .. } = &decoder.stack[0].items else {
        panic!("a map level")
    };
    assert!(pairs.capacity() <= Limits::MAX_PREALLOCATED_ELEMENTS);
}

#[test]
fn huge_announced_bulk_waits_without_allocating() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$536870912\r\nabc"[..]);
    let capacity_before = buf.capacity();
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() <= capacity_before);
    assert_eq!(&buf[..], b"abc", "only the header is consumed");
}

#[test]
fn partial_bulk_payload_is_not_rescanned_on_every_call() {
    // The pending state remembers the length: feeding the rest in pieces never fails and
    // completes exactly once. The header is consumed once, on the first call, and every later
    // call only compares the buffer's length with the one remembered: the payload (all `\n`
    // here, which a scan for line ends would trip over) is never examined.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"$100000\r\n"[..]);
    let mut frames = 0;
    for i in 1..=100 {
        buf.extend_from_slice(&[b'\n'; 1000]);
        if decoder.decode(&mut buf).unwrap().is_some() {
            frames += 1;
        }
        assert!(matches!(
            decoder.pending,
            Pending::Bulk {
                kind: b'$',
                len: 100_000
            }
        ));
        assert_eq!(decoder.bytes_consumed(), 9, "the header was parsed again");
        assert_eq!(buf.len(), 1000 * i);
    }
    assert_eq!(frames, 0);
    buf.extend_from_slice(b"\r\n");
    let frame = decoder.decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.as_bytes().unwrap().len(), 100_000);
}

#[test]
fn long_line_trickling_in_is_searched_once() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+"[..]);
    for _ in 0..1000 {
        buf.extend_from_slice(b"abcdefgh");
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(decoder.scanned, buf.len());
    }
    buf.extend_from_slice(b"\r");
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\n");
    assert_eq!(
        decoder
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .as_bytes()
            .unwrap()
            .len(),
        8000
    );
}

// ---- syntax errors -------------------------------------------------------------------------

#[test]
fn bare_lf_ending_a_line_is_an_error() {
    assert_eq!(err(b"+OK\n"), syntax(3, Expected::LineEnd, b'\n'));
    assert_eq!(err(b"-ERR\n"), syntax(4, Expected::LineEnd, b'\n'));
    assert_eq!(err(b"_\n"), syntax(1, Expected::LineEnd, b'\n'));
    assert_eq!(err(b":1\n"), syntax(2, Expected::Integer, b'\n'));
    assert_eq!(err(b"$1\n"), syntax(2, Expected::Length, b'\n'));
}

#[test]
fn cr_inside_a_line_is_an_error() {
    assert_eq!(err(b"+O\rK\r\n"), syntax(3, Expected::LineEnd, b'K'));
    assert_eq!(err(b":1\r2\r\n"), syntax(3, Expected::LineEnd, b'2'));
    assert_eq!(err(b"*1\r*\r\n"), syntax(3, Expected::LineEnd, b'*'));
    assert_eq!(err(b"$1\r1\r\n"), syntax(3, Expected::LineEnd, b'1'));
    assert_eq!(err(b",1\rx\r\n"), syntax(3, Expected::LineEnd, b'x'));
}

#[test]
fn wrong_terminator_after_bulk_payload_is_an_error() {
    assert_eq!(err(b"$3\r\nabcXY"), syntax(7, Expected::PayloadEnd, b'X'));
    assert_eq!(err(b"$3\r\nabc\rX"), syntax(8, Expected::PayloadEnd, b'X'));
    assert_eq!(
        err(b"$3\r\nabc\n\r"),
        syntax(7, Expected::PayloadEnd, b'\n')
    );
    assert_eq!(err(b"!1\r\naXX"), syntax(5, Expected::PayloadEnd, b'X'));
    // Also when the payload arrived in a later read than its header.
    let (_, error) = decode_chunks(Limits::default(), [&b"$3\r\n"[..], b"abcd\r\n"]);
    assert_eq!(error, Some(syntax(7, Expected::PayloadEnd, b'd')));
    // And after a streamed string's chunk.
    assert_eq!(
        err(b"$?\r\n;1\r\nab\r\n"),
        syntax(9, Expected::PayloadEnd, b'b')
    );
}

#[test]
fn lengths_reject_signs_spaces_empty_and_overflow() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b"$+3\r\nabc\r\n", syntax(1, Expected::Length, b'+')),
        (b"$ 3\r\nabc\r\n", syntax(1, Expected::Length, b' ')),
        (b"$3 \r\nabc\r\n", syntax(2, Expected::Length, b' ')),
        (b"$\r\n", syntax(1, Expected::Length, b'\r')),
        (b"*\r\n", syntax(1, Expected::Length, b'\r')),
        (b"$-2\r\n", syntax(2, Expected::Length, b'2')),
        (b"$-\r\n", syntax(2, Expected::Length, b'\r')),
        (b"*-10\r\n", syntax(3, Expected::LineEnd, b'0')),
        (b"$1x\r\n", syntax(2, Expected::Length, b'x')),
        (b"*??\r\n", syntax(2, Expected::LineEnd, b'?')),
        (
            b"*99999999999999999999\r\n",
            syntax(20, Expected::Length, b'9'),
        ),
        // Only `$` and `*` have a RESP2 null, and `|` cannot be streamed.
        (b"%-1\r\n", syntax(1, Expected::Length, b'-')),
        (b"!-1\r\n", syntax(1, Expected::Length, b'-')),
        (b"=?\r\n", syntax(1, Expected::Length, b'?')),
        (b"|?\r\n", syntax(1, Expected::Length, b'?')),
    ];
    for (input, expected) in cases {
        assert_eq!(
            &err(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn bulk_lengths_of_every_digit_count_decode_at_the_top_and_in_arrays() {
    // One to three digits take a shortcut past the general length parser; the lengths around
    // its edges must decode the same as longer ones, whole and split anywhere.
    for len in (0..=130).chain([998, 999, 1000, 1001, 1024, 65536]) {
        let payload: Vec<u8> = (0..len).map(|i| b"0123456789\r\n"[i % 12]).collect();
        let mut reply = format!("${len}\r\n").into_bytes();
        reply.extend_from_slice(&payload);
        reply.extend_from_slice(b"\r\n");
        assert_eq!(one(&reply), bulk(&payload), "len {len}");
        let mut array = b"*3\r\n".to_vec();
        array.extend_from_slice(&reply);
        array.extend_from_slice(b":7\r\n");
        array.extend_from_slice(&reply);
        let expected = Frame::Array(vec![bulk(&payload), Frame::Integer(7), bulk(&payload)]);
        assert_eq!(one(&array), expected, "len {len}");
        if len % 17 == 0 || len > 130 {
            let (frames, error) = decode_chunks(Limits::default(), array.chunks(3));
            assert_eq!((frames, error), (vec![expected], None), "len {len}");
        }
    }
    // A leading zero is a digit like any other, as in the general parser.
    assert_eq!(one(b"$05\r\nabcde\r\n"), bulk(b"abcde"));
    assert_eq!(one(b"$0005\r\nabcde\r\n"), bulk(b"abcde"));
}

#[test]
fn short_bulk_headers_that_go_wrong_are_errors_at_the_top_and_in_arrays() {
    let cases: &[(&[u8], u64, Expected, u8)] = &[
        (b"$1\rX", 3, Expected::LineEnd, b'X'),
        (b"$12\rX", 4, Expected::LineEnd, b'X'),
        (b"$123\rX", 5, Expected::LineEnd, b'X'),
        (b"$1x2\r\n", 2, Expected::Length, b'x'),
        (b"$12x\r\n", 3, Expected::Length, b'x'),
        (b"$123x\r\n", 4, Expected::Length, b'x'),
        (b"$1\n", 2, Expected::Length, b'\n'),
        (b"$12\n", 3, Expected::Length, b'\n'),
        (b"$2\r\nab\rX", 7, Expected::PayloadEnd, b'X'),
        (b"$12\r\nabcdefghijkl\nX", 17, Expected::PayloadEnd, b'\n'),
    ];
    for &(input, at, expected, found) in cases {
        let shown = String::from_utf8_lossy(input);
        assert_eq!(err(input), syntax(at, expected, found), "{shown:?}");
        let mut nested = b"*2\r\n:1\r\n".to_vec();
        nested.extend_from_slice(input);
        assert_eq!(
            err(&nested),
            syntax(at + 8, expected, found),
            "in an array: {shown:?}"
        );
    }
}

#[test]
fn integers_reject_signs_spaces_empty_and_overflow() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b":+1\r\n", syntax(1, Expected::Integer, b'+')),
        (b": 1\r\n", syntax(1, Expected::Integer, b' ')),
        (b":1 \r\n", syntax(2, Expected::Integer, b' ')),
        (b":\r\n", syntax(1, Expected::Integer, b'\r')),
        (b":-\r\n", syntax(2, Expected::Integer, b'\r')),
        (b":--1\r\n", syntax(2, Expected::Integer, b'-')),
        (b":1.5\r\n", syntax(2, Expected::Integer, b'.')),
        (
            b":9223372036854775808\r\n",
            syntax(19, Expected::Integer, b'8'),
        ),
        (
            b":-9223372036854775809\r\n",
            syntax(20, Expected::Integer, b'9'),
        ),
        (
            b":99999999999999999999\r\n",
            syntax(19, Expected::Integer, b'9'),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            &err(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        // With more bytes behind the line, the word-at-a-time path reads nineteen digits
        // itself: out of range, it must leave them to the loop, which reports the same error.
        let followed = [&input[..], b"+OK\r\n+OK\r\n"].concat();
        assert_eq!(
            &err(&followed),
            expected,
            "{:?}",
            String::from_utf8_lossy(&followed)
        );
    }
}

#[test]
fn malformed_resp3_scalars_are_errors() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b",\r\n", syntax(1, Expected::Double, b'\r')),
        (b",abc\r\n", syntax(1, Expected::Double, b'a')),
        (b",infinity\r\n", syntax(1, Expected::Double, b'i')),
        (b",.5\r\n", syntax(1, Expected::Double, b'.')),
        (b",1.2.3\r\n", syntax(1, Expected::Double, b'1')),
        (b", 1\r\n", syntax(1, Expected::Double, b' ')),
        // A leading digit leaves `str::parse` only its number grammar; all else is rejected.
        (b",1inf\r\n", syntax(1, Expected::Double, b'1')),
        (b",1nan\r\n", syntax(1, Expected::Double, b'1')),
        (b",1e\r\n", syntax(1, Expected::Double, b'1')),
        (b",1e5e5\r\n", syntax(1, Expected::Double, b'1')),
        (b",1_000\r\n", syntax(1, Expected::Double, b'1')),
        (b",0x10\r\n", syntax(1, Expected::Double, b'0')),
        (b",1 \r\n", syntax(1, Expected::Double, b'1')),
        (b",+-1\r\n", syntax(1, Expected::Double, b'+')),
        (b",-\r\n", syntax(1, Expected::Double, b'-')),
        (b",1\xff\r\n", syntax(1, Expected::Double, b'1')),
        (b"#x\r\n", syntax(1, Expected::Boolean, b'x')),
        (b"#\r\n", syntax(1, Expected::Boolean, b'\r')),
        (b"#tt\r\n", syntax(1, Expected::Boolean, b't')),
        (b"_x\r\n", syntax(1, Expected::Null, b'x')),
        (b"(\r\n", syntax(1, Expected::BigNumber, b'\r')),
        (b"(-\r\n", syntax(1, Expected::BigNumber, b'-')),
        (b"(12a\r\n", syntax(1, Expected::BigNumber, b'1')),
        (b"=3\r\ntxt\r\n", syntax(7, Expected::VerbatimFormat, b'\r')),
        (
            b"=5\r\ntxtxy\r\n",
            syntax(7, Expected::VerbatimFormat, b'x'),
        ),
        (b"=0\r\n\r\n", syntax(4, Expected::VerbatimFormat, b'\r')),
    ];
    for (input, expected) in cases {
        assert_eq!(
            &err(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn unknown_type_byte_is_an_error() {
    for byte in [b'x', b'A', b'0', b' ', b'\r', b'\n', b';', 0u8, 0xff] {
        let input = [byte, b'\r', b'\n'];
        assert_eq!(err(&input), syntax(0, Expected::TypeByte, byte));
    }
    // Inside an aggregate, at the element's offset.
    assert_eq!(
        err(b"*2\r\n:1\r\n?\r\n"),
        syntax(8, Expected::TypeByte, b'?')
    );
}

#[test]
fn dot_outside_a_streamed_aggregate_is_an_error() {
    assert_eq!(err(b".\r\n"), syntax(0, Expected::TypeByte, b'.'));
    assert_eq!(err(b"*1\r\n.\r\n"), syntax(4, Expected::TypeByte, b'.'));
    // The value an attribute annotates cannot be `.` either.
    assert_eq!(
        err(b"*?\r\n|1\r\n+a\r\n+b\r\n.\r\n"),
        syntax(16, Expected::TypeByte, b'.')
    );
    assert_eq!(err(b"*?\r\n.x\r\n"), syntax(5, Expected::LineEnd, b'x'));
}

#[test]
fn streamed_map_ending_between_key_and_value_is_an_error() {
    assert_eq!(
        err(b"%?\r\n+a\r\n:1\r\n+b\r\n.\r\n"),
        syntax(16, Expected::MapValue, b'.')
    );
}

#[test]
fn streamed_string_chunk_headers_are_strict() {
    assert_eq!(
        err(b"$?\r\n$1\r\na\r\n"),
        syntax(4, Expected::ChunkHeader, b'$')
    );
    assert_eq!(
        err(b"$?\r\n;-1\r\n"),
        syntax(5, Expected::ChunkHeader, b'-')
    );
    assert_eq!(err(b"$?\r\n;?\r\n"), syntax(5, Expected::ChunkHeader, b'?'));
    assert_eq!(err(b"$?\r\n;+1\r\n"), syntax(5, Expected::Length, b'+'));
    assert_eq!(err(b"$?\r\n;\r\n"), syntax(5, Expected::Length, b'\r'));
    assert_eq!(err(b"$?x\r\n"), syntax(2, Expected::LineEnd, b'x'));
}

// ---- limits --------------------------------------------------------------------------------

fn limit(offset: u64, limit: LimitKind, value: u64, max: u64) -> DecodeError {
    DecodeError::LimitExceeded {
        offset,
        limit,
        value,
        max,
    }
}

#[test]
fn bulk_length_limit_is_enforced() {
    let limits = Limits::default().max_bulk_len(10);
    assert_eq!(
        one_with(limits, b"$10\r\n0123456789\r\n"),
        bulk(b"0123456789")
    );
    assert_eq!(
        err_with(limits, b"$11\r\n"),
        limit(0, LimitKind::BulkLen, 11, 10)
    );
    assert_eq!(
        err_with(limits, b"+OK\r\n!11\r\n"),
        limit(5, LimitKind::BulkLen, 11, 10)
    );
    assert_eq!(
        err_with(limits, b"=11\r\n"),
        limit(0, LimitKind::BulkLen, 11, 10)
    );
    // Redis's default: 512 MiB.
    assert_eq!(
        err(b"$536870913\r\n"),
        limit(0, LimitKind::BulkLen, 536_870_913, 512 << 20)
    );
}

#[test]
fn streamed_string_total_counts_against_the_bulk_limit() {
    let limits = Limits::default().max_bulk_len(10);
    assert_eq!(
        one_with(limits, b"$?\r\n;5\r\n01234\r\n;5\r\n56789\r\n;0\r\n"),
        bulk(b"0123456789")
    );
    assert_eq!(
        err_with(limits, b"$?\r\n;5\r\n01234\r\n;6\r\n"),
        limit(15, LimitKind::BulkLen, 11, 10)
    );
}

#[test]
fn aggregate_length_limit_is_enforced() {
    let limits = Limits::default().max_aggregate_len(2);
    assert_eq!(
        one_with(limits, b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n"),
        Frame::Map(vec![
            (Frame::Integer(1), Frame::Integer(2)),
            (Frame::Integer(3), Frame::Integer(4)),
        ])
    );
    for ty in [b'*', b'%', b'~', b'>', b'|'] {
        let input = [ty, b'3', b'\r', b'\n'];
        assert_eq!(
            err_with(limits, &input),
            limit(0, LimitKind::AggregateLen, 3, 2),
            "{}",
            ty as char
        );
    }
}

#[test]
fn streamed_aggregate_is_counted_as_elements_arrive() {
    let limits = Limits::default().max_aggregate_len(2);
    assert_eq!(
        one_with(limits, b"*?\r\n:1\r\n:2\r\n.\r\n"),
        Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
    );
    assert_eq!(
        err_with(limits, b"*?\r\n:1\r\n:2\r\n:3\r\n"),
        limit(16, LimitKind::AggregateLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"%?\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n"),
        limit(24, LimitKind::AggregateLen, 3, 2)
    );
}

#[test]
fn line_length_limit_is_enforced() {
    let limits = Limits::default().max_line_len(8);
    assert_eq!(one_with(limits, b"+12345678\r\n"), simple("12345678"));
    assert_eq!(
        err_with(limits, b"+123456789\r\n"),
        limit(0, LimitKind::LineLen, 9, 8)
    );
    // A line that never ends fails as soon as it is too long, without waiting for `\r\n`.
    let (_, error) = decode_chunks(limits, [&b"-1234"[..], b"56789"]);
    assert_eq!(error, Some(limit(0, LimitKind::LineLen, 9, 8)));
    let (_, error) = decode_chunks(limits, [&b":0000"[..], b"000000"]);
    assert!(matches!(
        error,
        Some(DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            ..
        })
    ));
    let (_, error) = decode_chunks(limits, [&b"*0000"[..], b"000000"]);
    assert!(matches!(
        error,
        Some(DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            ..
        })
    ));
    assert_eq!(
        err_with(limits, b",1234567890\r\n"),
        limit(0, LimitKind::LineLen, 10, 8)
    );
}

#[test]
fn default_line_limit_stops_an_endless_line() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+"[..]);
    let chunk = [b'a'; 4096];
    let error = loop {
        buf.extend_from_slice(&chunk);
        match decoder.decode(&mut buf) {
            Ok(None) => assert!(buf.len() < 128 * 1024),
            Ok(Some(_)) => panic!("no frame expected"),
            Err(e) => break e,
        }
    };
    assert!(matches!(
        error,
        DecodeError::LimitExceeded {
            limit: LimitKind::LineLen,
            max: 65536,
            ..
        }
    ));
}

#[test]
fn depth_limit_is_enforced() {
    let limits = Limits::default().max_depth(2);
    assert_eq!(
        one_with(limits, b"*1\r\n*1\r\n:1\r\n"),
        Frame::Array(vec![Frame::Array(vec![Frame::Integer(1)])])
    );
    assert_eq!(
        err_with(limits, b"*1\r\n*1\r\n*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
    // Attributes count as a level, as do empty and streamed aggregates.
    assert_eq!(
        err_with(limits, b"*1\r\n|1\r\n*0\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
    assert_eq!(
        err_with(limits, b"*?\r\n~?\r\n%0\r\n"),
        DecodeError::TooDeep { offset: 8, max: 2 }
    );
}

/// Arrays nested in arrays are opened by the fast lane rather than by `step`: the same limits,
/// offsets and special cases must hold there as at the top level.
#[test]
fn array_headers_obey_every_limit_at_the_top_and_nested() {
    assert_eq!(
        err_with(Limits::default().max_depth(0), b"*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 0, max: 0 }
    );
    assert_eq!(
        err_with(
            Limits::default().max_aggregate_len(2),
            b"*3\r\n:1\r\n:2\r\n:3\r\n"
        ),
        limit(0, LimitKind::AggregateLen, 3, 2)
    );
    assert_eq!(
        err_with(Limits::default().max_line_len(8), b"*000000001\r\n:1\r\n"),
        limit(0, LimitKind::LineLen, 9, 8)
    );
    assert_eq!(
        one_with(Limits::default().max_line_len(8), b"*00000001\r\n:1\r\n"),
        Frame::Array(vec![Frame::Integer(1)])
    );
    let count = Limits::default().max_aggregate_len(2);
    assert_eq!(
        err_with(count, b"*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n"),
        limit(4, LimitKind::AggregateLen, 3, 2)
    );
    let line = Limits::default().max_line_len(8);
    assert_eq!(
        err_with(line, b"*1\r\n*000000001\r\n:1\r\n"),
        limit(4, LimitKind::LineLen, 9, 8)
    );
    assert_eq!(
        one_with(line, b"*1\r\n*00000001\r\n:1\r\n"),
        Frame::Array(vec![Frame::Array(vec![Frame::Integer(1)])])
    );
    let depth = Limits::default().max_depth(3);
    assert_eq!(
        err_with(depth, b"*2\r\n:0\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
        DecodeError::TooDeep { offset: 16, max: 3 }
    );
    // Top-level maps, sets and pushes are opened by the same fast path as arrays, and obey the
    // same limits: a map's count is of pairs.
    for (input, value) in [
        (&b"%3\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n"[..], 3),
        (b"~3\r\n:1\r\n:2\r\n:3\r\n", 3),
        (b">3\r\n:1\r\n:2\r\n:3\r\n", 3),
    ] {
        assert_eq!(
            err_with(count, input),
            limit(0, LimitKind::AggregateLen, value, 2)
        );
        assert_eq!(
            err_with(Limits::default().max_depth(0), input),
            DecodeError::TooDeep { offset: 0, max: 0 }
        );
    }
    assert_eq!(
        one_with(count, b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n"),
        Frame::Map(vec![
            (Frame::Integer(1), Frame::Integer(2)),
            (Frame::Integer(3), Frame::Integer(4))
        ])
    );
    assert_eq!(
        err_with(Limits::default().max_depth(1), b"%1\r\n*1\r\n:1\r\n:2\r\n"),
        DecodeError::TooDeep { offset: 4, max: 1 }
    );
    // Empty, null and long-count arrays, a map and a set among the children.
    let mut input =
        b"*6\r\n*0\r\n*-1\r\n*1\r\n*1\r\n:7\r\n%1\r\n:1\r\n*1\r\n:2\r\n~1\r\n*0\r\n*".to_vec();
    input.extend_from_slice(b"000000000002\r\n+a\r\n+b\r\n");
    assert_eq!(
        one(&input),
        Frame::Array(vec![
            Frame::Array(vec![]),
            Frame::NullArray,
            Frame::Array(vec![Frame::Array(vec![Frame::Integer(7)])]),
            Frame::Map(vec![(
                Frame::Integer(1),
                Frame::Array(vec![Frame::Integer(2)])
            )]),
            Frame::Set(vec![Frame::Array(vec![])]),
            Frame::Array(vec![simple("a"), simple("b")]),
        ])
    );
}

#[test]
fn depth_limit_is_clamped_to_the_ceiling() {
    let limits = Limits::default().max_depth(usize::MAX);
    assert_eq!(limits.depth_limit(), Limits::MAX_DEPTH_CEILING);
}

#[test]
fn deepest_allowed_frame_decodes_and_drops_without_overflowing_the_stack() {
    let depth = Limits::MAX_DEPTH_CEILING;
    let mut input = b"*1\r\n".repeat(depth - 1);
    input.extend_from_slice(b"*0\r\n");
    // Run on a small stack so that recursion proportional to depth would show.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let frame = one_with(Limits::default().max_depth(depth), &input);
            let mut buf = BytesMut::new();
            encode_frame(&mut buf, &frame);
            assert_eq!(&buf[..], &input[..]);
            drop(frame);
            let error = err(&b"*1\r\n".repeat(10_000));
            assert_eq!(
                error,
                DecodeError::TooDeep {
                    offset: 512,
                    max: 128
                }
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---- failure is final, offsets -------------------------------------------------------------

#[test]
fn decoder_stays_failed_and_returns_the_same_error() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"+OK\r\n*2\r\n:1\r\nx\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(simple("OK")));
    let first = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(first, syntax(13, Expected::TypeByte, b'x'));
    assert!(decoder.is_failed());
    assert!(!decoder.is_mid_frame(), "partial state is dropped");
    // Valid input afterwards does not revive it.
    let mut fresh = BytesMut::from(&b"+OK\r\n"[..]);
    assert_eq!(decoder.decode(&mut fresh).unwrap_err(), first);
    assert_eq!(decoder.decode(&mut BytesMut::new()).unwrap_err(), first);
    assert_eq!(&fresh[..], b"+OK\r\n", "a failed decoder consumes nothing");
}

#[test]
fn error_offsets_count_from_the_start_of_the_stream() {
    // Bytes consumed by earlier frames and by earlier calls all count.
    let (frames, error) = decode_chunks(
        Limits::default(),
        [
            &b"+OK\r\n:1\r\n*4\r\n$2\r\nab"[..],
            b"\r\n:2\r\n",
            b"#t\r\n#z\r\n",
        ],
    );
    assert_eq!(frames, vec![simple("OK"), Frame::Integer(1)]);
    assert_eq!(error, Some(syntax(30, Expected::Boolean, b'z')));
    assert_eq!(error.unwrap().offset(), 30);
}

#[test]
fn error_inside_a_pending_bulk_payload_reports_the_stream_offset() {
    let (_, error) = decode_chunks(
        Limits::default(),
        [&b":7\r\n$4\r\n"[..], b"ab", b"cd", b"!!"],
    );
    assert_eq!(error, Some(syntax(12, Expected::PayloadEnd, b'!')));
}

#[test]
fn partial_input_is_not_an_error_at_any_point() {
    for input in [MIXED_STREAM, b"*?\r\n%?\r\n|1\r\n+a\r\n"] {
        for end in 0..input.len() {
            let (_, error) = decode_chunks(Limits::default(), [&input[..end]]);
            assert_eq!(error, None, "prefix of {end} bytes");
        }
    }
}

#[test]
fn number_line_limit_does_not_depend_on_how_the_input_is_split() {
    // Found by the limits property test: a partial number line used to be checked against the
    // line limit while a complete one was not, so splitting changed whether input was valid.
    let limits = Limits::default().max_line_len(2);
    for input in [
        &b":12\r\n"[..],
        b"*12\r\n",
        b"$-1\r\n",
        b"$?\r\n;10\r\n0123456789\r\n;0\r\n",
    ] {
        let whole = decode_chunks(limits, [input]);
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(decode_chunks(limits, [a, b]), whole, "split at {at}");
        }
    }
    assert_eq!(
        err_with(limits, b":123\r\n"),
        limit(0, LimitKind::LineLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"*100\r\n"),
        limit(0, LimitKind::LineLen, 3, 2)
    );
    assert_eq!(
        err_with(limits, b"$?\r\n;100\r\n"),
        limit(4, LimitKind::LineLen, 3, 2)
    );
    // Leading zeros are legal digits but still count.
    assert_eq!(
        err_with(limits, b"$0001\r\n"),
        limit(0, LimitKind::LineLen, 4, 2)
    );
}

#[test]
fn status_replies_equal_their_text_at_top_level_and_nested() {
    for text in ["OK", "QUEUED", "PONG", "OKAY", "O"] {
        let wire = format!("+{text}\r\n*1\r\n+{text}\r\n");
        let (frames, error) = decode_chunks(Limits::default(), [wire.as_bytes()]);
        assert_eq!(error, None);
        assert_eq!(frames, vec![simple(text), Frame::Array(vec![simple(text)])]);
        // Short status lines are held inline: no shared buffer kept alive, nothing to release.
        assert!(frames[0].as_payload().unwrap().is_inline(), "{text}");
    }
}

#[test]
fn fast_path_leaves_limits_and_errors_to_the_general_path() {
    // Each input is a complete top-level scalar that the fast path must not accept.
    let tight = Limits::default().max_line_len(1).max_bulk_len(2);
    assert_eq!(
        err_with(tight, b"+OK\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(
        err_with(tight, b":10\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(
        err_with(tight, b"$3\r\nabc\r\n"),
        limit(0, LimitKind::BulkLen, 3, 2)
    );
    assert_eq!(
        err_with(tight, b"$10\r\n"),
        limit(0, LimitKind::LineLen, 2, 1)
    );
    assert_eq!(err(b"+OK\rX"), syntax(4, Expected::LineEnd, b'X'));
    assert_eq!(err(b"$1\r\nabc"), syntax(5, Expected::PayloadEnd, b'b'));
    // The second tier (errors, RESP3 scalars, bulk errors, verbatim strings).
    for input in [&b"-ER\r\n"[..], b",1.5\r\n", b"(12\r\n", b"#tt\r\n"] {
        assert!(
            matches!(
                err_with(tight, input),
                DecodeError::LimitExceeded {
                    limit: LimitKind::LineLen,
                    ..
                }
            ),
            "{input:?}"
        );
    }
    assert_eq!(
        err_with(tight, b"!3\r\nERR\r\n"),
        limit(0, LimitKind::BulkLen, 3, 2)
    );
    // Lines past the 32-byte window of the first search take a second one bounded by the
    // line limit: one byte over it is still the general path's to report.
    let error = format!("-{}\r\n", "E".repeat(40));
    let big = format!("({}\r\n", "7".repeat(40));
    for line in [&error, &big] {
        let at_limit = Limits::default().max_line_len(40);
        let mut buf = BytesMut::from(line.as_bytes());
        let frame = Decoder::with_limits(at_limit).decode(&mut buf).unwrap();
        assert_eq!(frame.map(|f| f.type_byte()), Some(line.as_bytes()[0]));
        assert!(buf.is_empty());
        assert_eq!(
            err_with(Limits::default().max_line_len(39), line.as_bytes()),
            limit(0, LimitKind::LineLen, 40, 39)
        );
    }
    assert_eq!(
        err(b"-a long error line, longer than thirty-two bytes\n"),
        syntax(48, Expected::LineEnd, b'\n')
    );
    // Empty aggregates at the top level: depth and line limits still apply.
    for input in [&b"*0\r\n"[..], b"%0\r\n", b"~0\r\n", b">0\r\n"] {
        assert_eq!(
            err_with(Limits::default().max_depth(0), input),
            DecodeError::TooDeep { offset: 0, max: 0 }
        );
        assert_eq!(
            err_with(Limits::default().max_line_len(0), input),
            limit(0, LimitKind::LineLen, 1, 0)
        );
    }
    assert_eq!(err(b"*0\r*"), syntax(3, Expected::LineEnd, b'*'));
    assert_eq!(err(b"*0x\r\n"), syntax(2, Expected::Length, b'x'));
    assert_eq!(err(b"_x\r\n"), syntax(1, Expected::Null, b'x'));
    assert_eq!(err(b"#x\r\n"), syntax(1, Expected::Boolean, b'x'));
    assert_eq!(err(b",1.5x\r\n"), syntax(1, Expected::Double, b'1'));
    assert_eq!(err(b"(1x\r\n"), syntax(1, Expected::BigNumber, b'1'));
    assert_eq!(
        err(b"=3\r\ntxt\r\n"),
        syntax(7, Expected::VerbatimFormat, b'\r')
    );
    assert_eq!(
        err(b"=5\r\ntxt-x\r\n"),
        syntax(7, Expected::VerbatimFormat, b'-')
    );
    assert_eq!(err(b"!1\r\nEx\r\n"), syntax(5, Expected::PayloadEnd, b'x'));
}

#[test]
fn second_tier_fast_path_matches_the_general_path() {
    // Each reply decoded at the top level (second-tier fast path) and inside an array
    // (general path and lane) must give the same frame and consume the same bytes.
    let replies: [&[u8]; 16] = [
        b"*0\r\n",
        b"%0\r\n",
        b"~0\r\n",
        b">0\r\n",
        b"*3\r\n$2\r\nab\r\n$-1\r\n:7\r\n",
        b"~2\r\n+a\r\n_\r\n",
        b"-ERR unknown command\r\n",
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        b"_\r\n",
        b"#t\r\n",
        b"#f\r\n",
        b",-35733.11161048209\r\n",
        b",inf\r\n",
        b"(-3492890328409238509324850943850943825024385\r\n",
        b"!21\r\nSYNTAX invalid syntax\r\n",
        b"=15\r\ntxt:Some string\r\n",
    ];
    for reply in replies {
        let mut buf = BytesMut::from(reply);
        buf.extend_from_slice(b"+OK\r\n");
        let mut decoder = Decoder::new();
        let top = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..], b"+OK\r\n", "{reply:?}");
        assert_eq!(decoder.bytes_consumed(), reply.len() as u64);
        let mut nested = BytesMut::from(&b"*1\r\n"[..]);
        nested.extend_from_slice(reply);
        assert_eq!(
            Decoder::new().decode(&mut nested).unwrap(),
            Some(Frame::Array(vec![top.clone()])),
            "{reply:?}"
        );
        assert!(nested.is_empty());
        let mut encoded = BytesMut::new();
        encode_frame(&mut encoded, &top);
        assert_eq!(&encoded[..], reply, "{top:?}");
    }
}

#[test]
fn integers_and_lengths_of_every_digit_count_decode_exactly() {
    // The eight-bytes-at-a-time path handles 1 to 7 digits with 8 bytes readable, 8 to 15
    // with 16 readable and 16 to 19 with 24; the rest take the byte loop. All must agree, whatever follows the
    // line, at the top level and inside an aggregate.
    let mut values: Vec<i64> = vec![0, 1, 9, 10, i64::MAX, i64::MIN, -1];
    let mut p = 1i64;
    for _ in 0..18 {
        p *= 10;
        values.extend([p - 1, p, p + 1, -(p - 1), -p, p / 3 * 2 + 7]);
    }
    for v in values {
        for tail in [
            &b""[..],
            b"+OK\r\n",
            b":1\r\n:2\r\n",
            b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n",
        ] {
            let mut input = format!(":{v}\r\n").into_bytes();
            input.extend_from_slice(tail);
            let mut buf = BytesMut::from(&input[..]);
            assert_eq!(
                Decoder::new().decode(&mut buf).unwrap(),
                Some(Frame::Integer(v))
            );
            assert_eq!(&buf[..], tail);
            let mut input = format!("*2\r\n:{v}\r\n:{v}\r\n").into_bytes();
            input.extend_from_slice(tail);
            let mut buf = BytesMut::from(&input[..]);
            assert_eq!(
                Decoder::new().decode(&mut buf).unwrap(),
                Some(Frame::Array(vec![Frame::Integer(v), Frame::Integer(v)]))
            );
            assert_eq!(&buf[..], tail);
            if v >= 0 {
                let body = vec![b'x'; (v % 300) as usize];
                let mut input = format!("*1\r\n${}\r\n", body.len()).into_bytes();
                input.extend_from_slice(&body);
                input.extend_from_slice(b"\r\n");
                input.extend_from_slice(tail);
                let mut buf = BytesMut::from(&input[..]);
                let want = Frame::Array(vec![bulk(&body)]);
                assert_eq!(Decoder::new().decode(&mut buf).unwrap(), Some(want));
            }
        }
    }
    // Digit runs that end in something other than CRLF are errors on both paths.
    for bad in [
        &b":12x4567\r\n:1\r\n"[..],
        b":1234567\n:1\r\n",
        b":12345678x\r\n:1\r\n:1\r\n",
        b":123456789012\n:1\r\n:1\r\n",
        b":123456789012\r:1\r\n:1\r\n",
        b"$12 \r\nab\r\n:1\r\n",
    ] {
        assert!(
            Decoder::new().decode(&mut BytesMut::from(bad)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn null_inside_an_aggregate_is_held_to_the_line_limit() {
    // The fast lane must check the same limits as the general path: `-1` is a 2-byte line.
    let limits = Limits::default().max_line_len(1);
    for input in [&b"*1\r\n$-1\r\n"[..], b"*2\r\n:1\r\n$-1\r\n", b"$-1\r\n"] {
        let err = Decoder::with_limits(limits)
            .decode(&mut BytesMut::from(input))
            .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::LimitExceeded {
                    limit: LimitKind::LineLen,
                    ..
                }
            ),
            "{input:?}: {err:?}"
        );
    }
    let mut ok = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
    let frame = Decoder::with_limits(Limits::default().max_line_len(2)).decode(&mut ok);
    assert_eq!(
        frame.unwrap(),
        Some(Frame::Array(vec![Frame::NullBulkString]))
    );
}

/// The reference the fast paths must agree with: the grammar check `parse_double` makes before
/// `str::parse`, then `str::parse` itself.
fn double_by_std(line: &[u8]) -> Option<f64> {
    let body = line
        .strip_prefix(b"-")
        .or(line.strip_prefix(b"+"))
        .unwrap_or(line);
    if !body.first()?.is_ascii_digit() {
        return None;
    }
    std::str::from_utf8(line).ok()?.parse().ok()
}

#[test]
fn exact_decimal_doubles_match_std_at_the_edges_of_the_fast_path() {
    let cases: &[&[u8]] = &[
        b"0",
        b"-0",
        b"+0",
        b"-0.0",
        b"9007199254740991",  // 2^53 - 1: the largest exact mantissa
        b"9007199254740992",  // 2^53: left to str::parse
        b"9007199254740993",  // rounds to even
        b"900719925474099.1", // 16 digits, fraction
        b"0.1",
        b"0.3",
        b"-35733.11161048209", // the shape servers send (shortest round trip)
        b"480186.41421343887", // 17 digits: past the fast path
        b"1.0000000000000000000001", // 22 fraction digits, mantissa too big
        b"0.0000000000000000000001", // 22 fraction digits
        b"0.00000000000000000000001", // 23: left to str::parse
        b"1.",
        b"1.5e3",
        b"00012.50",
        b"123456789012345678901234567890",
    ];
    for &line in cases {
        let ours = parse_double(line).map(f64::to_bits);
        assert_eq!(
            ours,
            double_by_std(line).map(f64::to_bits),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

/// Doubles of 17 to 19 significant digits (Redis 7.0 writes `%.17g`) take `nearest_quotient`
/// when the mantissa passes 2^53; it must agree with `str::parse` bit for bit, ties and binade
/// edges included.
#[test]
fn long_mantissa_doubles_match_std() {
    let mut cases: Vec<String> = [
        "4503599627370496.5",  // a tie between 2^52 and 2^52 + 1: to even
        "4503599627370497.5",  // a tie: to even, upwards
        "2251799813685248.25", // ties at 2^51, where the ulp is a half
        "2251799813685248.75",
        "4503599627370495.75", // a tie just below 2^52, where the gap below halves
        "4503599627370495.5",
        "4503599627370495.9", // just below 2^52: rounds up to it
        "4503599627370495.74",
        "4503599627370495.76",
        "9007199254740991.9", // rounds up to 2^53: past the quotient's range
        "0.10000000000000001",
        "0.30000000000000004",
        "3.1400000000000001",
        "1844674407370955161.5", // nineteen digits
        "9.999999999999999999",
        "0.0000000000000000001",
        "18446744073709551615", // twenty digits without a point: left to str::parse
        "1.8446744073709551615",
    ]
    .map(String::from)
    .to_vec();
    // Random doubles written with 17 significant digits, and random digit strings of 17 to 19
    // digits with the point anywhere.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for _ in 0..100_000 {
        let magnitude = 10f64.powi((next() % 24) as i32 - 8);
        let x = (next() >> 11) as f64 / (1u64 << 53) as f64 * magnitude;
        let int_digits = format!("{x:.0}").len();
        let places = 17usize.saturating_sub(int_digits).max(1);
        cases.push(format!("{x:.places$}"));
        let total = 17 + (next() % 3) as usize;
        let digits: String = (0..total)
            .map(|_| char::from(b'0' + (next() % 10) as u8))
            .collect();
        let point = 1 + (next() as usize % (total - 1));
        cases.push(format!("{}.{}", &digits[..point], &digits[point..]));
    }
    for case in &cases {
        for line in [case.clone(), format!("-{case}")] {
            assert_eq!(
                parse_double(line.as_bytes()).map(f64::to_bits),
                double_by_std(line.as_bytes()).map(f64::to_bits),
                "{line}"
            );
        }
    }
    // And the fast paths, not `str::parse`, answered nearly all of them.
    let fast = cases
        .iter()
        .filter(|c| exact_decimal(c.as_bytes()).is_some())
        .count();
    assert!(fast * 100 > cases.len() * 95, "{fast} of {}", cases.len());
}

#[test]
fn big_numbers_need_digits_in_every_byte_of_every_word() {
    assert!(is_big_number(
        b"3492890328409238509324850943850943825024385"
    ));
    assert!(is_big_number(b"-12345678"));
    assert!(is_big_number(b"+1234567890123456"));
    assert!(!is_big_number(b""));
    assert!(!is_big_number(b"-"));
    // One bad byte at every position of a 17-byte number, with the neighbours of `0`-`9`.
    for at in 0..17 {
        for bad in [b'/', b':', b' ', 0x00, 0xFF, 0x3F, 0xB0, b'a'] {
            let mut line = [b'7'; 17];
            line[at] = bad;
            assert!(!is_big_number(&line), "{at} {bad:#x}");
        }
    }
}

proptest::proptest! {
    #[test]
    fn doubles_decode_as_std_parses_them(
        sign in proptest::sample::select(vec!["", "-", "+"]),
        int in "[0-9]{1,20}",
        fraction in proptest::option::of("[0-9]{0,25}"),
        exponent in proptest::option::of("[eE][+-]?[0-9]{1,3}"),
    ) {
        let mut line = format!("{sign}{int}");
        if let Some(f) = fraction {
            line.push('.');
            line.push_str(&f);
        }
        if let Some(e) = exponent {
            line.push_str(&e);
        }
        proptest::prop_assert_eq!(
            parse_double(line.as_bytes()).map(f64::to_bits),
            double_by_std(line.as_bytes()).map(f64::to_bits),
            "{}", line
        );
    }

    #[test]
    fn big_numbers_are_exactly_signed_digit_strings(
        line in proptest::collection::vec(
            proptest::prop_oneof![
                9 => b'0'..=b'9',
                1 => proptest::prelude::any::<u8>(),
            ],
            0..40,
        ),
    ) {
        let body = line.strip_prefix(b"-").or(line.strip_prefix(b"+")).unwrap_or(&line);
        let expected = !body.is_empty() && body.iter().all(u8::is_ascii_digit);
        proptest::prop_assert_eq!(is_big_number(&line), expected);
    }
}

proptest::proptest! {
    #[test]
    fn line_ends_found_by_words_agree_with_the_byte_loop(
        line in proptest::collection::vec(
            proptest::prop_oneof![
                8 => b'0'..=b'9',
                1 => proptest::sample::select(vec![b'\r', b'\n', 0x0C, 0x0E, 0x8D, 0x00]),
            ],
            0..48,
        ),
    ) {
        proptest::prop_assert_eq!(short_line_end(&line), line_end_by_bytes(&line));
    }
}

#[test]
fn line_ends_found_by_words_at_every_position() {
    for len in 0..40 {
        for at in 0..len {
            for (a, b) in [
                (b'\r', b'\n'),
                (b'\r', b'x'),
                (b'\n', b'\r'),
                (b'\r', b'\r'),
            ] {
                let mut line = vec![b'5'; len];
                line[at] = a;
                if at + 1 < len {
                    line[at + 1] = b;
                }
                assert_eq!(
                    short_line_end(&line),
                    line_end_by_bytes(&line),
                    "{len} {at} {a} {b}"
                );
            }
        }
    }
}

// ---- hostile input: time, length arithmetic, memory ------------------------------------------

/// Feeds `input` one byte per call; returns the frames, the error and the work done (bytes
/// examined by the parsing functions, see `work`).
fn trickle(limits: Limits, input: &[u8]) -> (Vec<Frame>, Option<DecodeError>, u64) {
    work::take();
    let (frames, error) = decode_chunks(limits, input.chunks(1));
    (frames, error, work::take())
}

fn padded(prefix: &[u8], fill: u8, n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.resize(prefix.len() + n, fill);
    v.extend_from_slice(suffix);
    v
}

#[test]
fn number_lines_longer_than_their_longest_valid_form_are_errors() {
    let zeros = |n| "0".repeat(n);
    // Twenty bytes, leading zeros included, are accepted.
    assert_eq!(
        one(format!(":{}1\r\n", zeros(19)).as_bytes()),
        Frame::Integer(1)
    );
    assert_eq!(
        one(format!(":-{}7\r\n", zeros(18)).as_bytes()),
        Frame::Integer(-7)
    );
    assert_eq!(
        one(format!("${}3\r\nabc\r\n", zeros(19)).as_bytes()),
        bulk(b"abc")
    );
    assert_eq!(
        one(format!("*{}1\r\n:1\r\n", zeros(19)).as_bytes()),
        Frame::Array(vec![Frame::Integer(1)])
    );
    // A 21st byte is an error where it stands, however the line arrives.
    let cases: Vec<(Vec<u8>, u64, Expected)> = vec![
        (format!(":{}1\r\n", zeros(20)).into(), 21, Expected::Integer),
        (
            format!(":-{}1\r\n", zeros(19)).into(),
            21,
            Expected::Integer,
        ),
        (
            format!("${}1\r\nx\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (
            format!("!{}1\r\nx\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (
            format!("*{}1\r\n:1\r\n", zeros(20)).into(),
            21,
            Expected::Length,
        ),
        (format!("%{}1\r\n", zeros(20)).into(), 21, Expected::Length),
        (format!("|{}1\r\n", zeros(20)).into(), 21, Expected::Length),
        (
            format!("*2\r\n:1\r\n:{}1\r\n", zeros(20)).into(),
            29,
            Expected::Integer,
        ),
        (
            format!("*?\r\n${}1\r\n", zeros(20)).into(),
            25,
            Expected::Length,
        ),
        (
            format!("$?\r\n;{}1\r\n", zeros(20)).into(),
            25,
            Expected::Length,
        ),
    ];
    for (input, offset, expected) in cases {
        let want = syntax(offset, expected, b'1');
        assert_eq!(err(&input), want, "{:?}", String::from_utf8_lossy(&input));
        assert_eq!(trickle(Limits::default(), &input).1, Some(want));
    }
}

/// Lines of every kind, padded with `n` filler bytes, at the top level and inside aggregates.
fn padded_lines(n: usize) -> Vec<Vec<u8>> {
    let lines: Vec<(&[u8], u8, &[u8])> = vec![
        (b"+", b'a', b"\r\n"),
        (b"-", b'a', b"\r\n"),
        (b"(", b'1', b"\r\n"),
        (b",", b'1', b"\r\n"),
        (b"#", b't', b"\r\n"),
        (b"_", b' ', b"\r\n"),
        (b":", b'0', b"1\r\n"),
        (b"$", b'0', b"1\r\nx\r\n"),
        (b"!", b'0', b"1\r\nx\r\n"),
        (b"=", b'0', b"5\r\ntxt:x\r\n"),
        (b"*", b'0', b"1\r\n:1\r\n"),
        (b"%", b'0', b"1\r\n:1\r\n:2\r\n"),
        (b"~", b'0', b"1\r\n:1\r\n"),
        (b">", b'0', b"1\r\n:1\r\n"),
        (b"|", b'0', b"1\r\n:1\r\n:2\r\n:3\r\n"),
        (b"$?\r\n;", b'0', b"1\r\nx\r\n;0\r\n"),
    ];
    let mut out = Vec::new();
    for (prefix, fill, suffix) in lines {
        let line = padded(prefix, fill, n, suffix);
        out.push(line.clone());
        out.push([&b"*2\r\n:1\r\n"[..], &line].concat());
        out.push([&b"*?\r\n:1\r\n"[..], &line, b".\r\n"].concat());
        out.push([&b"%1\r\n+k\r\n"[..], &line].concat());
    }
    out
}

#[test]
fn every_line_kind_fed_one_byte_at_a_time_costs_work_linear_in_its_length() {
    // Padded number lines used to be parsed again from their start on every call: quadratic.
    // Doubling the padding must (about) double the work, not quadruple it.
    let (n, m) = (2_000, 4_000);
    for (short, long) in padded_lines(n).into_iter().zip(padded_lines(m)) {
        let (_, _, w1) = trickle(Limits::default(), &short);
        let (_, _, w2) = trickle(Limits::default(), &long);
        let name = String::from_utf8_lossy(&short[..12]).into_owned();
        assert!(w2 * 4 <= w1 * 9 + 4_000, "{name}: {w1} then {w2}");
        assert!(
            w2 <= 100 * long.len() as u64,
            "{name}: {w2} for {} bytes",
            long.len()
        );
    }
}

#[test]
fn lengths_near_u64_max_are_errors_when_the_bulk_limit_is_lifted() {
    // With the limit at u64::MAX, `$18446744073709551614` used to wrap to an empty string in
    // release builds (and panic in debug builds), and a streamed chunk panicked.
    let unlimited = Limits::default().max_bulk_len(u64::MAX);
    assert_eq!(unlimited.bulk_len_limit(), Limits::MAX_BULK_LEN_CEILING);
    for input in [
        &b"$18446744073709551614\r\n"[..],
        b"!18446744073709551614\r\n",
        b"=18446744073709551615\r\n",
        b"*1\r\n$18446744073709551614\r\n",
        b"%1\r\n+k\r\n$18446744073709551613\r\n",
        b"$?\r\n;18446744073709551615\r\n",
        b"$?\r\n;1\r\nx\r\n;18446744073709551614\r\n",
    ] {
        let name = String::from_utf8_lossy(input).into_owned();
        let whole = err_with(unlimited, input);
        assert!(
            matches!(
                whole,
                DecodeError::LimitExceeded {
                    limit: LimitKind::BulkLen,
                    max: Limits::MAX_BULK_LEN_CEILING,
                    ..
                }
            ),
            "{name}: {whole:?}"
        );
        assert_eq!(trickle(unlimited, input).1, Some(whole), "{name}");
    }
    // At the ceiling, a length is accepted and waits for its payload.
    let mut decoder = Decoder::with_limits(unlimited);
    let mut buf = BytesMut::from(format!("${}\r\nabc", Limits::MAX_BULK_LEN_CEILING).as_bytes());
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(decoder.is_mid_frame());
}

#[test]
fn maps_announcing_more_than_u64_max_items_are_errors() {
    let unlimited = Limits::default()
        .max_aggregate_len(u64::MAX)
        .max_decoded_size(usize::MAX);
    let e = err_with(unlimited, b"%18446744073709551615\r\n");
    assert!(matches!(e, DecodeError::LimitExceeded { .. }), "{e:?}");
}

/// The memory held by the vectors of `frame`, measured by their capacities.
fn structure_bytes(frame: &Frame) -> u64 {
    match frame {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.capacity() as u64 * LIST_SLOT + v.iter().map(structure_bytes).sum::<u64>()
        }
        Frame::Map(pairs) => {
            pairs.capacity() as u64 * PAIR_SLOT
                + pairs
                    .iter()
                    .map(|(k, v)| structure_bytes(k) + structure_bytes(v))
                    .sum::<u64>()
        }
        Frame::Attribute { attributes, data } => {
            attributes.capacity() as u64 * PAIR_SLOT
                + LIST_SLOT
                + structure_bytes(data)
                + attributes
                    .iter()
                    .map(|(k, v)| structure_bytes(k) + structure_bytes(v))
                    .sum::<u64>()
        }
        _ => 0,
    }
}

#[test]
fn a_streamed_aggregate_of_tiny_elements_stops_at_the_decoded_size_budget() {
    // `_\r\n` is 3 bytes on the wire and a 40-byte frame: without a budget such a reply held
    // 13 times its size, bounded only by the input.
    let budget = 64 * 1024;
    let limits = Limits::default().max_decoded_size(budget);
    let mut input = b"*?\r\n".to_vec();
    for _ in 0..10_000 {
        input.extend_from_slice(b"_\r\n");
    }
    let whole = err_with(limits, &input);
    let DecodeError::LimitExceeded {
        limit: LimitKind::DecodedSize,
        offset,
        value,
        max,
    } = whole
    else {
        panic!("{whole:?}")
    };
    assert_eq!(max, budget as u64);
    assert!(value > max);
    // Stopped within the budget's worth of elements, not at the end of the input.
    assert!(
        offset <= 4 + 3 * (budget as u64 / LIST_SLOT + 1),
        "{offset}"
    );
    assert_eq!(trickle(limits, &input).1, Some(whole));

    // Well within the budget, the same reply decodes, and holds no more than the budget.
    let mut input = b"*?\r\n".to_vec();
    for _ in 0..budget / LIST_SLOT as usize / 4 {
        input.extend_from_slice(b"_\r\n");
    }
    input.extend_from_slice(b".\r\n");
    let frame = one_with(limits, &input);
    assert!(structure_bytes(&frame) <= budget as u64);
}

#[test]
fn an_announced_count_over_the_default_budget_fails_at_its_header() {
    let fits = Limits::default().decoded_size_limit() as u64 / LIST_SLOT;
    for ty in ["*", "~", ">"] {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(format!("{ty}{fits}\r\n").as_bytes());
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        let e = err(format!("{ty}{}\r\n", fits + 1).as_bytes());
        assert!(
            matches!(
                e,
                DecodeError::LimitExceeded {
                    limit: LimitKind::DecodedSize,
                    offset: 0,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let pairs = Limits::default().decoded_size_limit() as u64 / PAIR_SLOT;
    assert!(matches!(
        err(format!("%{}\r\n", pairs + 1).as_bytes()),
        DecodeError::LimitExceeded {
            limit: LimitKind::DecodedSize,
            ..
        }
    ));
    // Nested: the children count towards the same frame.
    let parent = format!("*{}\r\n", fits - 1);
    let e = err(format!("{parent}*2\r\n").as_bytes());
    assert!(
        matches!(
            e,
            DecodeError::LimitExceeded {
                limit: LimitKind::DecodedSize,
                offset,
                ..
            } if offset == parent.len() as u64
        ),
        "{e:?}"
    );
}

mod hostile_properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Wire bytes of a frame of small elements, nested, streamed or not.
    fn wire() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(b"_\r\n".to_vec()),
            Just(b":1\r\n".to_vec()),
            Just(b"$1\r\nx\r\n".to_vec()),
            Just(b"+ok\r\n".to_vec()),
        ];
        leaf.prop_recursive(4, 96, 8, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..12).prop_map(|v| [
                    format!("*{}\r\n", v.len()).into_bytes(),
                    v.concat()
                ]
                .concat()),
                vec(inner.clone(), 0..12).prop_map(|v| [
                    b"~?\r\n".to_vec(),
                    v.concat(),
                    b".\r\n".to_vec()
                ]
                .concat()),
                vec((inner.clone(), inner.clone()), 0..6).prop_map(|v| {
                    let mut out = format!("%{}\r\n", v.len()).into_bytes();
                    for (k, x) in v {
                        out.extend(k);
                        out.extend(x);
                    }
                    out
                }),
                vec((inner.clone(), inner.clone()), 0..6).prop_map(|v| {
                    let mut out = b"%?\r\n".to_vec();
                    for (k, x) in v {
                        out.extend(k);
                        out.extend(x);
                    }
                    out.extend(b".\r\n");
                    out
                }),
                (inner.clone(), inner).prop_map(|(a, d)| [b"|1\r\n+a\r\n".to_vec(), a, d].concat()),
            ]
        })
    }

    /// A line of any kind padded with up to `max` filler bytes.
    fn padded_line(max: usize) -> impl Strategy<Value = Vec<u8>> {
        (0..16usize, 0..max).prop_map(|(kind, n)| {
            let lines = padded_lines(n);
            // Only the top-level form of each kind: `padded_lines` gives four per kind.
            lines[kind * 4].clone()
        })
    }

    fn chunks<'a>(input: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
        let mut rest = input;
        let mut sizes = sizes.iter().cycle();
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let n = (*sizes.next()?).clamp(1, rest.len());
            let (a, b) = rest.split_at(n);
            rest = b;
            Some(a)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Work linear in the input under any chunking: padded lines of every kind, valid or
        /// not, each ends the stream at the latest at its first error.
        #[test]
        fn work_is_linear_in_the_input_under_any_chunking(
            lines in vec(padded_line(3_000), 1..6),
            sizes in vec(1..8usize, 1..8),
        ) {
            let input = lines.concat();
            work::take();
            let chunked = decode_chunks(Limits::default(), chunks(&input, &sizes));
            let w = work::take();
            prop_assert!(w <= 100 * input.len() as u64 + 1_000, "{w} for {} bytes", input.len());
            let whole = decode_chunks(Limits::default(), [&input[..]]);
            prop_assert_eq!(whole.0, chunked.0);
            prop_assert_eq!(whole.1.is_some(), chunked.1.is_some());
        }

        /// Memory within the budget at every call, and the same outcome however the input is
        /// split: the budget is charged by announced counts and by a streamed aggregate's
        /// growth, neither of which depends on the split.
        #[test]
        fn held_memory_stays_within_the_budget_under_any_chunking(
            frames in vec(wire(), 1..4),
            budget in 0..6_000usize,
            sizes in vec(1..16usize, 1..8),
        ) {
            let input = frames.concat();
            let limits = Limits::default().max_decoded_size(budget);
            let whole = decode_chunks(limits, [&input[..]]);
            let mut decoder = Decoder::with_limits(limits);
            let mut buf = BytesMut::new();
            let mut got = (Vec::new(), None);
            'feed: for chunk in chunks(&input, &sizes) {
                buf.extend_from_slice(chunk);
                loop {
                    let r = decoder.decode(&mut buf);
                    prop_assert!(decoder.held <= budget as u64);
                    match r {
                        Ok(Some(f)) => {
                            prop_assert!(structure_bytes(&f) <= budget as u64);
                            got.0.push(f);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            got.1 = Some(e);
                            break 'feed;
                        }
                    }
                }
            }
            prop_assert_eq!(got, whole);
        }
    }
}

/// The byte-at-a-time reference for [`short_line_end`].
fn line_end_by_bytes(src: &[u8]) -> Option<usize> {
    let n = src.len().min(32);
    let mut i = 1;
    while i < n {
        match src[i] {
            b'\r' => return (src.get(i + 1) == Some(&b'\n')).then_some(i),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}
