//! What the decoding targets share: the limits they run under, and the bounds they check.

use resp_codec::{Frame, Limits};

/// Limits picked by a byte of the input. Tight ones reach every limit error; the defaults let
/// number lines be padded up to their cap and lines run to 64 KiB; lifted ones (`u64::MAX`
/// lengths) reach the length arithmetic near overflow, with a small decoded-size budget that
/// replies of tiny elements exceed, or with none.
pub fn limits(selector: u8) -> Limits {
    let lifted = Limits::default()
        .max_bulk_len(u64::MAX)
        .max_aggregate_len(u64::MAX);
    match selector % 4 {
        0 => Limits::default()
            .max_bulk_len(1 << 16)
            .max_aggregate_len(1 << 10)
            .max_depth(32)
            .max_line_len(64),
        1 => Limits::default(),
        2 => lifted.max_decoded_size(4096),
        _ => lifted.max_decoded_size(usize::MAX),
    }
}

/// Memory held by the vectors of `frame`, by their capacities, as `Limits::max_decoded_size`
/// counts it.
pub fn structure_bytes(frame: &Frame) -> u64 {
    const SLOT: u64 = size_of::<Frame>() as u64;
    let pairs = |p: &Vec<(Frame, Frame)>| {
        p.capacity() as u64 * 2 * SLOT
            + p.iter()
                .map(|(k, v)| structure_bytes(k) + structure_bytes(v))
                .sum::<u64>()
    };
    match frame {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.capacity() as u64 * SLOT + v.iter().map(structure_bytes).sum::<u64>()
        }
        Frame::Map(p) => pairs(p),
        Frame::Attribute { attributes, data } => pairs(attributes) + SLOT + structure_bytes(data),
        _ => 0,
    }
}

/// Checks a decoded frame against the decoded-size budget.
pub fn check_bounds(limits: &Limits, frame: &Frame) {
    let held = structure_bytes(frame);
    assert!(held <= limits.decoded_size_limit() as u64, "{held} bytes held");
}

/// Checks the work done since it was last taken (bytes examined, counted by the
/// `work-counter` feature) against the input's length: linear, whatever the chunking.
pub fn check_work(input_len: usize) {
    let work = resp_codec::take_work_count();
    assert!(
        work <= 100 * input_len as u64 + 1_000,
        "{work} bytes examined for {input_len} bytes of input"
    );
}
