//! [`Limits`]: the bounds a [`Decoder`](crate::Decoder) enforces on untrusted input.

/// Hard bounds on what one reply may announce or contain.
///
/// A server (or anything pretending to be one) controls every length on the wire. Each field
/// stops one way a hostile or broken peer could exhaust memory, CPU or stack. Exceeding any of
/// them is a [`DecodeError::LimitExceeded`](crate::DecodeError::LimitExceeded) or
/// [`DecodeError::TooDeep`](crate::DecodeError::TooDeep), and the decoder stays failed.
///
/// Independently of these limits, the decoder never reserves memory in proportion to an
/// announced length: an aggregate header reserves room for at most
/// [`Limits::MAX_PREALLOCATED_ELEMENTS`] elements, and bulk payloads are only sliced out of bytes
/// that have actually arrived. So a 12-byte `*4294967295\r\n` costs a few bytes, not gigabytes.
///
/// # Examples
///
/// ```
/// use resp_codec::{Decoder, Limits};
///
/// let limits = Limits::default().max_bulk_len(1 << 20).max_depth(16);
/// let decoder = Decoder::with_limits(limits);
/// # let _ = decoder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_bulk_len: u64,
    pub(crate) max_aggregate_len: u64,
    pub(crate) max_depth: usize,
    pub(crate) max_line_len: usize,
}

impl Limits {
    /// The deepest nesting any configuration may allow. Frames are dropped, compared and
    /// encoded recursively, so nesting is capped well below what a thread's stack can hold.
    pub const MAX_DEPTH_CEILING: usize = 1024;

    /// The most elements an aggregate header may pre-allocate room for, whatever it announces.
    pub const MAX_PREALLOCATED_ELEMENTS: usize = 1024;

    /// Default limits, suitable for talking to a real Redis server.
    pub const fn new() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: u32::MAX as u64,
            max_depth: 128,
            max_line_len: 64 * 1024,
        }
    }

    /// Largest bulk string, bulk error or verbatim string, and largest total of a streamed
    /// string. Default 512 MiB, Redis's own `proto-max-bulk-len`.
    ///
    /// Stops: a peer announcing (or streaming) a payload bigger than memory.
    pub const fn max_bulk_len(mut self, bytes: u64) -> Self {
        self.max_bulk_len = bytes;
        self
    }

    /// Most elements in one array, set or push, or pairs in one map or attribute, counted as
    /// they arrive for streamed aggregates. Default 4,294,967,295 (2^32 - 1), like hiredis.
    ///
    /// Stops: an endless streamed aggregate. Memory for announced counts is not reserved up
    /// front, so the default can be generous; lower it where replies are known to be small.
    pub const fn max_aggregate_len(mut self, elements: u64) -> Self {
        self.max_aggregate_len = elements;
        self
    }

    /// Deepest nesting of aggregates (attributes count as a level). Default 128; values above
    /// [`Limits::MAX_DEPTH_CEILING`] are clamped to it.
    ///
    /// Stops: stack exhaustion when a deeply nested frame is used or dropped.
    pub const fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = if depth > Self::MAX_DEPTH_CEILING {
            Self::MAX_DEPTH_CEILING
        } else {
            depth
        };
        self
    }

    /// Longest line: simple strings, simple errors, integers, doubles, big numbers and length
    /// headers. Default 64 KiB.
    ///
    /// Stops: a peer that never sends a line terminator, making the read buffer grow forever.
    pub const fn max_line_len(mut self, bytes: usize) -> Self {
        self.max_line_len = bytes;
        self
    }

    /// The configured bulk length limit.
    pub const fn bulk_len_limit(&self) -> u64 {
        self.max_bulk_len
    }

    /// The configured aggregate length limit.
    pub const fn aggregate_len_limit(&self) -> u64 {
        self.max_aggregate_len
    }

    /// The configured depth limit.
    pub const fn depth_limit(&self) -> usize {
        self.max_depth
    }

    /// The configured line length limit.
    pub const fn line_len_limit(&self) -> usize {
        self.max_line_len
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}
