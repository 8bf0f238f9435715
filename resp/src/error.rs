//! [`DecodeError`]: why a byte stream is not valid RESP.

use thiserror::Error;

/// What the decoder expected to find where the input went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// A type byte (`+ - : $ * _ , # ( ! = % ~ | >`).
    TypeByte,
    /// `\r\n` ending a line (found a bare `\n`, or `\r` followed by something else).
    LineEnd,
    /// `\r\n` right after a bulk payload of the announced length.
    PayloadEnd,
    /// A length: decimal digits, `-1` for a RESP2 null, or `?` for a streamed value.
    Length,
    /// A signed 64-bit decimal integer.
    Integer,
    /// A double: a decimal number with optional exponent, `inf`, `-inf` or `nan`.
    Double,
    /// Decimal digits with an optional sign.
    BigNumber,
    /// `t` or `f`.
    Boolean,
    /// Nothing between `_` and `\r\n`.
    Null,
    /// A three-byte format and `:` at the start of a verbatim string.
    VerbatimFormat,
    /// A `;len` chunk header inside a streamed string.
    ChunkHeader,
    /// A streamed map ended (`.`) between a key and its value.
    MapValue,
}

/// The limit that an input exceeded; see [`Limits`](crate::Limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_bulk_len`](crate::Limits::max_bulk_len).
    BulkLen,
    /// [`Limits::max_aggregate_len`](crate::Limits::max_aggregate_len).
    AggregateLen,
    /// [`Limits::max_line_len`](crate::Limits::max_line_len).
    LineLen,
    /// [`Limits::max_decoded_size`](crate::Limits::max_decoded_size).
    DecodedSize,
}

/// Why decoding failed. Offsets count bytes from the first byte this decoder was ever given.
///
/// A decode error is final: the stream position is lost, so the decoder returns the same error
/// from then on, and the connection it reads must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes at `offset` do not have the expected form.
    #[error("invalid RESP at byte {offset}: expected {expected:?}, found byte {found:#04x}")]
    Syntax {
        /// Where the problem starts.
        offset: u64,
        /// What should have been there.
        expected: Expected,
        /// The first offending byte.
        found: u8,
    },
    /// A length or count exceeded a configured limit.
    #[error("RESP {limit:?} limit exceeded at byte {offset}: {value} > {max}")]
    LimitExceeded {
        /// Where the offending header starts.
        offset: u64,
        /// Which limit.
        limit: LimitKind,
        /// The announced (or accumulated) value.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Aggregates nested deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("RESP nesting deeper than {max} at byte {offset}")]
    TooDeep {
        /// Where the aggregate that went too deep starts.
        offset: u64,
        /// The configured maximum depth.
        max: usize,
    },
}

impl DecodeError {
    /// The stream offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            DecodeError::Syntax { offset, .. }
            | DecodeError::LimitExceeded { offset, .. }
            | DecodeError::TooDeep { offset, .. } => *offset,
        }
    }
}
