//! Arbitrary bytes into one decoder (the first byte picks the limits): every call returns a
//! frame, asks for more, or fails, and never panics, loops, does more than linear work or holds
//! more than the decoded-size budget.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use resp_codec::Decoder;

#[path = "common.rs"]
mod common;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let limits = common::limits(selector);
    resp_codec::take_work_count();
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                assert!(buf.len() < before, "a frame consumes bytes");
                common::check_bounds(&limits, &frame);
            }
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
    common::check_work(data.len());
});
