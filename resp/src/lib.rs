//! A hand-written RESP2 + RESP3 codec over [`bytes`].
//!
//! - [`Frame`]: every RESP2 and RESP3 reply type. String payloads are [`Payload`]s: short ones
//!   inline, the rest zero-copy [`Bytes`] slices of the read buffer.
//! - [`Decoder`]: an incremental decoder that resumes exactly where input ran out (linear time
//!   however the bytes are split), with hard [`Limits`] on hostile input and typed
//!   [`DecodeError`]s that carry the stream offset.
//! - [`encode_command`] and [`encode_frame`]: commands and frames straight into a `BytesMut`.
//!
//! This crate does no I/O and knows nothing of sockets or async runtimes: a connection reads
//! bytes into a `BytesMut` and hands them to a [`Decoder`].
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use resp_codec::{encode_command, Decoder, Frame};
//!
//! // What a client writes...
//! let mut out = BytesMut::new();
//! encode_command(&mut out, &["SET", "greeting", "hello"]);
//! assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n");
//!
//! // ...and what it reads back, here a RESP3 map arriving in two pieces.
//! let mut decoder = Decoder::new();
//! let mut input = BytesMut::from(&b"%1\r\n+role\r\n$6\r\nmas"[..]);
//! assert_eq!(decoder.decode(&mut input)?, None);
//! input.extend_from_slice(b"ter\r\n");
//! let frame = decoder.decode(&mut input)?.expect("complete");
//! assert_eq!(frame, Frame::Map(vec![(Frame::SimpleString("role".into()), Frame::from("master"))]));
//! # Ok::<(), resp_codec::DecodeError>(())
//! ```

pub use bytes::{Bytes, BytesMut};

mod decode;
mod encode;
mod error;
mod frame;
mod limits;
mod payload;

pub use decode::Decoder;
pub use encode::{
    ArgBytes, InlineArg, ToArg, bulk_len, command_len, encode_array_header, encode_bulk,
    encode_command, encode_frame,
};
pub use error::{DecodeError, Expected, LimitKind};
pub use frame::{Frame, Verbatim};
pub use limits::Limits;
pub use payload::Payload;

/// The bytes the decoder's parsing functions have examined on this thread since the last call,
/// for fuzz targets to check that work stays linear in the input. Only with the
/// `work-counter` feature, which is not for production builds: it costs a thread-local update
/// per parsing call.
#[cfg(feature = "work-counter")]
#[doc(hidden)]
pub fn take_work_count() -> u64 {
    decode::work::take()
}
