//! Arbitrary bytes into one decoder: every call returns a frame, asks for more, or fails, and
//! never panics, loops or allocates beyond the (tight) limits.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use resp_codec::{Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default()
        .max_bulk_len(1 << 16)
        .max_aggregate_len(1 << 10)
        .max_depth(32)
        .max_line_len(1 << 10);
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(_)) => assert!(buf.len() < before, "a frame consumes bytes"),
            Ok(None) => break,
            Err(err) => {
                assert!(decoder.is_failed());
                assert!(err.offset() <= data.len() as u64, "{err:?}");
                // Failure is final: the same error again, nothing consumed.
                let left = buf.len();
                assert_eq!(decoder.decode(&mut buf), Err(err));
                assert_eq!(buf.len(), left);
                break;
            }
        }
    }
});
