//! The same bytes fed whole and in arbitrary chunks (down to one byte per read) decode to the
//! same frames, and fail (or not) alike: splitting must never change the result. Under any
//! chunking the work stays linear in the input and the frames within the decoded-size budget.
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use resp_codec::{DecodeError, Decoder, Frame, Limits};

#[path = "common.rs"]
mod common;

#[derive(Debug, Arbitrary)]
struct Input {
    /// Picks the limits (see `common::limits`).
    limits: u8,
    /// Chunk sizes, used in turn (0 is read as 1).
    sizes: Vec<u8>,
    data: Vec<u8>,
}

fn decode<'a>(
    limits: Limits,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (Vec<Frame>, Option<DecodeError>) {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => {
                    common::check_bounds(&limits, &f);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|input: Input| {
    let limits = common::limits(input.limits);
    let whole = decode(limits, std::iter::once(&input.data[..]));
    let mut rest = &input.data[..];
    let mut sizes = input.sizes.iter().cycle();
    let chunks = std::iter::from_fn(|| {
        if rest.is_empty() {
            return None;
        }
        let n = sizes.next().map_or(1, |&n| usize::from(n)).clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    });
    resp_codec::take_work_count();
    let chunked = decode(limits, chunks);
    common::check_work(input.data.len());
    assert_eq!(whole.0, chunked.0, "frames differ");
    // Both fail or neither. Which error is reported may differ: a line that has grown past the
    // line limit fails as soon as that is seen, while the whole input may first show a bare LF
    // further on. The frames before the failure are the same either way.
    assert_eq!(whole.1.is_some(), chunked.1.is_some(), "{:?} vs {:?}", whole.1, chunked.1);
});
