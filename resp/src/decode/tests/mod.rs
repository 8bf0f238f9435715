//! The decoder's unit tests and properties, by concern: `frames` (values of every RESP2
//! type, payloads), `resp3` (RESP3 types, attributes, streamed forms), `chunking`
//! (resumability under any split), `errors` (syntax errors, offsets, failure is final),
//! `limits` (every bound), `fast_paths` (they agree with the state machine), `parsers`
//! (the specialised parsers against their references), `hostile` (time, length
//! arithmetic and memory under hostile input). This file holds the helpers they share.

use super::*;
use super::{build::*, number::*, rules::*};

use crate::encode::encode_frame;

mod chunking;
mod errors;
mod fast_paths;
mod frames;
mod hostile;
mod limits;
mod parsers;
mod resp3;

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

/// Asserts that each input decodes, whole, to its frame.
fn assert_decodes(cases: &[(&[u8], Frame)]) {
    for (input, expected) in cases {
        assert_eq!(
            &one(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Asserts that each input fails with its error.
fn assert_rejects(cases: &[(&[u8], DecodeError)]) {
    for (input, expected) in cases {
        assert_eq!(
            &err(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
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

fn limit(offset: u64, limit: LimitKind, value: u64, max: u64) -> DecodeError {
    DecodeError::LimitExceeded {
        offset,
        limit,
        value,
        max,
    }
}

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
