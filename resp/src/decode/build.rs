//! The frame builders both decoding paths share: the state machine (`machine.rs`) and the
//! fast paths (`fast.rs`) write elements and finished lists into their aggregates with these,
//! and charge the decoded-size budget by the same slot sizes. Kept below both, so that
//! neither path imports the other's internals.

use super::*;

/// Writes `frame` over `slot`, which is always a placeholder (`Frame::Null`, which owns
/// nothing), without running the frame's drop glue: an out-of-line call and a jump-table branch
/// per element otherwise.
#[inline(always)]
pub(super) fn put(slot: &mut Frame, frame: Frame) {
    debug_assert!(matches!(slot, Frame::Null));
    std::mem::forget(std::mem::replace(slot, frame));
}

/// What one element of an array, set or push, and one pair of a map, take in memory, for
/// [`Limits::max_decoded_size`].
pub(super) const LIST_SLOT: u64 = size_of::<Frame>() as u64;

pub(super) const PAIR_SLOT: u64 = size_of::<(Frame, Frame)>() as u64;

/// Grows `v` to `len` elements made by `f`, its capacity doubling but never past `total`, the
/// count its aggregate announced and was charged for.
#[inline(always)]
pub(super) fn extend_within<T>(v: &mut Vec<T>, len: usize, total: usize, f: impl FnMut() -> T) {
    if len > v.capacity() {
        grow_within(v, len, total);
    }
    v.resize_with(len, f);
}

/// The growth of [`extend_within`], out of line: most aggregates fit the capacity reserved
/// when they opened.
#[cold]
#[inline(never)]
fn grow_within<T>(v: &mut Vec<T>, len: usize, total: usize) {
    let want = v.capacity().saturating_mul(2).min(total).max(len);
    v.reserve_exact(want - v.len());
}

/// Writes an array, set or push (by `kind`) holding `items` over the placeholder `out`, leaving
/// `items` empty. Stored empty and its vector swapped in afterwards: see [`Level::take_into`].
#[inline(always)]
pub(super) fn put_list(out: &mut Frame, kind: u8, items: &mut Vec<Frame>) {
    put(
        out,
        match kind {
            b'~' => Frame::Set(Vec::new()),
            b'>' => Frame::Push(Vec::new()),
            _ => Frame::Array(Vec::new()),
        },
    );
    if let Frame::Array(slot) | Frame::Set(slot) | Frame::Push(slot) = out {
        std::mem::swap(slot, items);
    }
}
