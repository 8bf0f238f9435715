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
/// What a frame in progress holds beyond the bytes received is bounded by
/// [`Limits::max_decoded_size`].
///
/// Length and integer lines are never longer than [`Limits::MAX_NUMBER_LINE`] bytes, whatever
/// [`Limits::max_line_len`] allows.
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
    pub(crate) max_decoded_size: usize,
}

impl Limits {
    /// The deepest nesting any configuration may allow. Frames are dropped, compared and
    /// encoded recursively, so nesting is capped well below what a thread's stack can hold.
    pub const MAX_DEPTH_CEILING: usize = 1024;

    /// The most elements an aggregate header may pre-allocate room for, whatever it announces.
    pub const MAX_PREALLOCATED_ELEMENTS: usize = 1024;

    /// The largest bulk length any configuration may allow: half the address space. No payload
    /// can be larger, and below it the decoder's offset arithmetic cannot overflow, so
    /// `max_bulk_len(u64::MAX)` means "no limit" safely.
    pub const MAX_BULK_LEN_CEILING: u64 = (isize::MAX as u64) >> 1;

    /// The most bytes between the type byte and `\r\n` of an integer (`:`), a length header
    /// (`$ * % ~ > | ! = ;`) or a streamed chunk header: the longest valid form,
    /// `-9223372036854775808` or a 20-digit length. Leading zeros are accepted within it. A
    /// longer line is a syntax error ([`Expected::Integer`](crate::Expected::Integer) or
    /// [`Expected::Length`](crate::Expected::Length)) at its 21st byte, so that a number line
    /// trickling in costs constant work per read, however it is padded.
    pub const MAX_NUMBER_LINE: usize = 20;

    /// Default limits, suitable for talking to a real Redis server.
    pub const fn new() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: u32::MAX as u64,
            max_depth: 128,
            max_line_len: 64 * 1024,
            max_decoded_size: 512 * 1024 * 1024,
        }
    }

    /// Largest bulk string, bulk error or verbatim string, and largest total of a streamed
    /// string. Default 512 MiB, Redis's own `proto-max-bulk-len`.
    ///
    /// Stops: a peer announcing (or streaming) a payload bigger than memory.
    /// Values above [`Limits::MAX_BULK_LEN_CEILING`] are clamped to it.
    pub const fn max_bulk_len(mut self, bytes: u64) -> Self {
        self.max_bulk_len = if bytes > Self::MAX_BULK_LEN_CEILING {
            Self::MAX_BULK_LEN_CEILING
        } else {
            bytes
        };
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

    /// Most memory, in bytes, that the elements of one frame in progress may take: every
    /// element, map key and value and attribute of an aggregate is a [`Frame`](crate::Frame)
    /// value (40 bytes on 64-bit targets) in a vector, and each vector's whole capacity is
    /// counted, checked before it grows. Default 512 MiB, as for strings.
    ///
    /// Stops: a reply of tiny elements (`_\r\n` is 3 bytes on the wire and a 40-byte frame)
    /// taking many times its size in memory. String payloads are not counted: each is inline in
    /// its frame, or holds bytes that were received (at most [`Limits::max_bulk_len`]). So a
    /// frame in progress holds at most the bytes received for it plus this budget.
    pub const fn max_decoded_size(mut self, bytes: usize) -> Self {
        self.max_decoded_size = bytes;
        self
    }

    /// The configured decoded-size budget.
    pub const fn decoded_size_limit(&self) -> usize {
        self.max_decoded_size
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
