//! Property tests: encode → decode gives the frame back, any chunking of a stream gives the same
//! frames, arbitrary bytes never panic, and every limit is enforced at exactly its value.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use resp_codec::{
    DecodeError, Decoder, Frame, InlineArg, LimitKind, Limits, Payload, Verbatim, encode_frame,
};

// ---- strategies ----------------------------------------------------------------------------

/// Bytes that may appear in a simple string or error line: anything but CR and LF.
fn line_bytes() -> impl Strategy<Value = Payload> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..32,
    )
    .prop_map(payload)
}

/// Lengths on both sides of `Payload::INLINE_CAPACITY`, stored either way.
fn any_bytes() -> impl Strategy<Value = Payload> {
    prop::collection::vec(any::<u8>(), 0..48).prop_map(payload)
}

fn payload(v: Vec<u8>) -> Payload {
    if v.len() % 2 == 0 {
        Payload::copy_from_slice(&v)
    } else {
        Payload::from(Bytes::from(v))
    }
}

fn big_number() -> impl Strategy<Value = Payload> {
    ("[-+]?", "[0-9]{1,60}").prop_map(|(sign, digits)| Payload::from(format!("{sign}{digits}")))
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        Just(0.0),
        Just(-0.0),
        (-1e6f64..1e6),
    ]
}

fn scalar() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_bytes().prop_map(Frame::SimpleString),
        line_bytes().prop_map(Frame::SimpleError),
        any::<i64>().prop_map(Frame::Integer),
        any_bytes().prop_map(Frame::BulkString),
        Just(Frame::Null),
        Just(Frame::NullBulkString),
        Just(Frame::NullArray),
        double().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        big_number().prop_map(Frame::BigNumber),
        any_bytes().prop_map(Frame::BulkError),
        (any::<[u8; 3]>(), any_bytes())
            .prop_map(|(format, text)| Frame::VerbatimString(Verbatim::new(format, &text))),
    ]
}

/// Any frame the encoder can produce, nested at most a few levels.
fn frame() -> impl Strategy<Value = Frame> {
    scalar().prop_recursive(4, 64, 6, |inner| {
        let list = prop::collection::vec(inner.clone(), 0..6);
        let pairs = prop::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            list.clone().prop_map(Frame::Array),
            list.clone().prop_map(Frame::Set),
            list.prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            (pairs, inner).prop_map(|(attributes, data)| Frame::Attribute {
                attributes,
                data: Box::new(data),
            }),
        ]
    })
}

// ---- helpers -------------------------------------------------------------------------------

fn encode_all(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for f in frames {
        encode_frame(&mut buf, f);
    }
    buf
}

/// Feeds `chunks` in order, collecting frames until the input is exhausted or an error.
fn decode_chunks<'a>(
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = decoder.decode(&mut buf)? {
            frames.push(f);
        }
    }
    Ok(frames)
}

/// Splits `bytes` into consecutive chunks of the given sizes (cycled), each at least one byte.
fn chunked<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

/// What a frame needs from each limit: the values at which decoding it just succeeds.
#[derive(Default, Debug)]
struct Needs {
    bulk: u64,
    aggregate: u64,
    depth: usize,
    line: usize,
}

fn needs(frame: &Frame) -> Needs {
    let mut n = Needs::default();
    walk(frame, 0, &mut n);
    n
}

/// Decimal digits of `n`: the content of a length header.
fn digits(n: usize) -> usize {
    n.to_string().len()
}

fn walk(frame: &Frame, depth: usize, n: &mut Needs) {
    // Every line counts: text lines, number lines and length headers alike.
    let mut line = |len: usize| n.line = n.line.max(len);
    match frame {
        Frame::SimpleString(b) | Frame::SimpleError(b) | Frame::BigNumber(b) => line(b.len()),
        Frame::Integer(i) => line(i.to_string().len()),
        Frame::Double(d) => line(InlineArg::from_f64(*d).as_bytes().len()),
        Frame::Boolean(_) => line(1),
        Frame::Null => {}
        Frame::NullBulkString | Frame::NullArray => line(2),
        Frame::BulkString(b) | Frame::BulkError(b) => {
            line(digits(b.len()));
            n.bulk = n.bulk.max(b.len() as u64);
        }
        Frame::VerbatimString(v) => {
            let len = v.as_raw().len();
            line(digits(len));
            n.bulk = n.bulk.max(len as u64);
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            line(digits(items.len()));
            n.depth = n.depth.max(depth + 1);
            n.aggregate = n.aggregate.max(items.len() as u64);
            for item in items {
                walk(item, depth + 1, n);
            }
        }
        Frame::Map(pairs) => {
            line(digits(pairs.len()));
            n.depth = n.depth.max(depth + 1);
            n.aggregate = n.aggregate.max(pairs.len() as u64);
            for (k, v) in pairs {
                walk(k, depth + 1, n);
                walk(v, depth + 1, n);
            }
        }
        // The attribute map is one level; the value it annotates is decoded inside it.
        Frame::Attribute { attributes, data } => {
            line(digits(attributes.len()));
            n.depth = n.depth.max(depth + 1);
            n.aggregate = n.aggregate.max(attributes.len() as u64);
            for (k, v) in attributes {
                walk(k, depth + 1, n);
                walk(v, depth + 1, n);
            }
            walk(data, depth + 1, n);
        }
    }
}

// ---- properties ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoded_frame_decodes_back_to_itself(frame in frame()) {
        let mut buf = encode_all(std::slice::from_ref(&frame));
        let len = buf.len() as u64;
        let mut decoder = Decoder::new();
        let decoded = decoder.decode(&mut buf).unwrap().expect("a whole frame");
        prop_assert_eq!(&decoded, &frame);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoder.bytes_consumed(), len);
        // Doubles come back bit for bit (0.0 == -0.0 would hide a lost sign).
        if let (Frame::Double(a), Frame::Double(b)) = (&decoded, &frame) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
    }

    #[test]
    fn any_chunking_of_a_stream_gives_the_same_frames(
        frames in prop::collection::vec(frame(), 1..8),
        sizes in prop::collection::vec(1usize..64, 1..16),
    ) {
        let bytes = encode_all(&frames);
        let whole = decode_chunks(Limits::default(), [&bytes[..]]).unwrap();
        prop_assert_eq!(&whole, &frames);
        let pieces = decode_chunks(Limits::default(), chunked(&bytes, &sizes)).unwrap();
        prop_assert_eq!(&pieces, &frames);
    }

    #[test]
    fn stream_fed_one_byte_at_a_time_gives_the_same_frames(
        frames in prop::collection::vec(frame(), 1..4),
    ) {
        let bytes = encode_all(&frames);
        let decoded = decode_chunks(Limits::default(), bytes.chunks(1)).unwrap();
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        sizes in prop::collection::vec(1usize..32, 1..8),
    ) {
        let tight = Limits::default().max_bulk_len(64).max_aggregate_len(16).max_depth(8).max_line_len(32);
        for limits in [Limits::default(), tight] {
            let whole = decode_chunks(limits, [&bytes[..]]);
            let pieces = decode_chunks(limits, chunked(&bytes, &sizes));
            // Chunking changes neither the frames nor whether the input is valid.
            match (&whole, &pieces) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "whole {:?} vs chunked {:?}", whole, pieces),
            }
        }
    }

    #[test]
    fn corrupted_encodings_never_panic(
        frames in prop::collection::vec(frame(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_all(&frames).to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let whole = decode_chunks(Limits::default(), [&bytes[..]]);
        let pieces = decode_chunks(Limits::default(), bytes.chunks(3));
        prop_assert_eq!(whole.is_ok(), pieces.is_ok());
        if let (Ok(a), Ok(b)) = (whole, pieces) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn every_limit_is_enforced_at_exactly_its_value(frame in frame()) {
        let bytes = encode_all(std::slice::from_ref(&frame));
        let n = needs(&frame);
        let exact = Limits::default()
            .max_bulk_len(n.bulk)
            .max_aggregate_len(n.aggregate)
            .max_depth(n.depth)
            .max_line_len(n.line);
        prop_assert_eq!(decode_chunks(exact, [&bytes[..]]).unwrap(), vec![frame.clone()]);
        prop_assert_eq!(decode_chunks(exact, bytes.chunks(5)).unwrap(), vec![frame.clone()]);

        let over = |limits: Limits| decode_chunks(limits, [&bytes[..]]).unwrap_err();
        if n.bulk > 0 {
            let e = over(Limits::default().max_bulk_len(n.bulk - 1));
            prop_assert!(matches!(e, DecodeError::LimitExceeded { limit: LimitKind::BulkLen, .. }), "{e:?}");
        }
        if n.aggregate > 0 {
            let e = over(Limits::default().max_aggregate_len(n.aggregate - 1));
            prop_assert!(matches!(e, DecodeError::LimitExceeded { limit: LimitKind::AggregateLen, .. }), "{e:?}");
        }
        if n.depth > 0 {
            let e = over(Limits::default().max_depth(n.depth - 1));
            prop_assert!(matches!(e, DecodeError::TooDeep { .. }), "{e:?}");
        }
        if n.line > 0 {
            let e = over(Limits::default().max_line_len(n.line - 1));
            prop_assert!(matches!(e, DecodeError::LimitExceeded { limit: LimitKind::LineLen, .. }), "{e:?}");
        }
    }
}
