//! A structured arbitrary frame, encoded, decodes back to itself (whole and byte by byte).
#![no_main]

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use resp_codec::{Decoder, Frame, Payload, Verbatim, encode_frame};

/// Nesting bound: deep enough for every shape, far below the decoder's default depth limit.
const MAX_DEPTH: u32 = 6;

fn line(u: &mut Unstructured<'_>) -> arbitrary::Result<Payload> {
    let v: Vec<u8> = u.arbitrary()?;
    payload(u, v.into_iter().filter(|b| *b != b'\r' && *b != b'\n').collect())
}

fn bytes(u: &mut Unstructured<'_>) -> arbitrary::Result<Payload> {
    let v = u.arbitrary::<Vec<u8>>()?;
    payload(u, v)
}

/// Either storage of a payload: inline when it fits, or shared.
fn payload(u: &mut Unstructured<'_>, v: Vec<u8>) -> arbitrary::Result<Payload> {
    Ok(if u.arbitrary()? {
        Payload::copy_from_slice(&v)
    } else {
        Payload::from(Bytes::from(v))
    })
}

fn list(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Vec<Frame>> {
    let n = u.int_in_range(0..=4)?;
    (0..n).map(|_| frame(u, depth + 1)).collect()
}

fn pairs(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Vec<(Frame, Frame)>> {
    let n = u.int_in_range(0..=3)?;
    (0..n)
        .map(|_| Ok((frame(u, depth + 1)?, frame(u, depth + 1)?)))
        .collect()
}

fn frame(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Frame> {
    let kinds = if depth >= MAX_DEPTH { 12 } else { 17 };
    Ok(match u.choose_index(kinds)? {
        0 => Frame::SimpleString(line(u)?),
        1 => Frame::SimpleError(line(u)?),
        2 => Frame::Integer(u.arbitrary()?),
        3 => Frame::BulkString(bytes(u)?),
        4 => Frame::Null,
        5 => Frame::NullBulkString,
        6 => Frame::NullArray,
        7 => Frame::Double(f64::from_bits(u.arbitrary()?)),
        8 => Frame::Boolean(u.arbitrary()?),
        9 => {
            let digits: Vec<u8> = u.arbitrary()?;
            let mut text: Vec<u8> = match u.choose_index(3)? {
                0 => b"-".to_vec(),
                1 => b"+".to_vec(),
                _ => Vec::new(),
            };
            text.extend(digits.iter().map(|d| b'0' + d % 10));
            if text.last().is_none_or(|b| !b.is_ascii_digit()) {
                text.push(b'0');
            }
            Frame::BigNumber(text.into())
        }
        10 => Frame::BulkError(bytes(u)?),
        11 => Frame::VerbatimString(Verbatim::new(u.arbitrary()?, &bytes(u)?)),
        12 => Frame::Array(list(u, depth)?),
        13 => Frame::Set(list(u, depth)?),
        14 => Frame::Push(list(u, depth)?),
        15 => Frame::Map(pairs(u, depth)?),
        _ => Frame::Attribute {
            attributes: pairs(u, depth)?,
            data: Box::new(frame(u, depth + 1)?),
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(frame) = frame(&mut u, 0) else {
        return;
    };
    let mut encoded = BytesMut::new();
    encode_frame(&mut encoded, &frame);
    let wire = encoded.clone().freeze();

    let mut decoder = Decoder::new();
    let decoded = decoder.decode(&mut encoded).expect("valid").expect("whole");
    assert_eq!(decoded, frame);
    assert!(encoded.is_empty());
    if let (Frame::Double(a), Frame::Double(b)) = (&decoded, &frame) {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    }

    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut out = None;
    for byte in wire.iter() {
        buf.extend_from_slice(&[*byte]);
        if let Some(f) = decoder.decode(&mut buf).expect("valid") {
            out = Some(f);
        }
    }
    assert_eq!(out.as_ref(), Some(&frame));
});
