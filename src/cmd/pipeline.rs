//! [`Pipeline`]: many commands in one write, replies back in order; optionally atomic
//! (`MULTI` ... `EXEC`).

use bytes::BytesMut;
use resp_codec::{Frame, ToArg, encode_command};

use super::{Cmd, FromReply, check_reply};
use crate::client::Client;
use crate::error::{ConversionError, Error, ServerError};

/// Commands queued to be sent together in one write.
///
/// Commands are encoded as they are added, into one buffer. [`Pipeline::query`] converts all
/// replies at once (failing on the first error reply); [`Pipeline::execute`] returns every
/// reply as a frame, so one failing command does not hide the others' results.
///
/// An atomic pipeline ([`Pipeline::atomic`]) wraps the commands in `MULTI`/`EXEC`: the server
/// runs them with no other client's command in between. It needs no exclusive connection,
/// because the whole block is written contiguously.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::{cmd, Pipeline};
///
/// let mut pipe = Pipeline::new();
/// pipe.add(cmd("SET").arg("a").arg(1))
///     .add(cmd("INCR").arg("a"))
///     .add(cmd("GET").arg("a"));
/// let ((), n, v): ((), i64, String) = pipe.query(&client).await?;
/// assert_eq!((n, v.as_str()), (2, "2"));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Pipeline {
    buf: BytesMut,
    count: usize,
    atomic: bool,
}

impl std::fmt::Debug for Pipeline {
    /// Shows how many commands are queued, never their arguments: they can hold passwords
    /// (`AUTH`) or user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("commands", &self.count)
            .field("atomic", &self.atomic)
            .finish()
    }
}

impl Pipeline {
    /// An empty, non-atomic pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// An empty pipeline whose commands run as one `MULTI`/`EXEC` transaction.
    pub fn atomic() -> Pipeline {
        Pipeline {
            atomic: true,
            ..Pipeline::default()
        }
    }

    /// Queues `cmd`.
    pub fn add(&mut self, cmd: Cmd) -> &mut Pipeline {
        cmd.write_to(&mut self.buf);
        self.count += 1;
        self
    }

    /// Queues a command given as a list of arguments, encoded straight into the pipeline.
    pub fn add_args(&mut self, args: &[&dyn ToArg]) -> &mut Pipeline {
        encode_command(&mut self.buf, args);
        self.count += 1;
        self
    }

    /// Number of queued commands.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no command is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every queued command, keeping the buffer for reuse.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Sends the commands and returns one reply frame per command, error replies included.
    ///
    /// For an atomic pipeline these are the results inside `EXEC`'s reply. If the transaction
    /// was aborted (`EXECABORT`, because a command was rejected while queuing), that error is
    /// returned.
    ///
    /// # Errors
    ///
    /// Connection errors; for atomic pipelines, the `EXEC` error.
    ///
    /// # Cancel safety
    ///
    /// The batch is written whole or not at all; dropping the future discards the replies.
    pub async fn execute(&self, client: &Client) -> Result<Vec<Frame>, Error> {
        if self.count == 0 {
            return Ok(Vec::new());
        }
        let extra = if self.atomic { 2 } else { 0 };
        let frames = client
            .pool
            .request_many(
                |b| {
                    if self.atomic {
                        encode_command(b, &["MULTI"]);
                    }
                    b.extend_from_slice(&self.buf);
                    if self.atomic {
                        encode_command(b, &["EXEC"]);
                    }
                },
                self.count + extra,
            )
            .await?;
        if self.atomic {
            unwrap_exec(frames)
        } else {
            Ok(frames)
        }
    }

    /// Sends the commands and converts all replies at once into `T`: a tuple with one element
    /// per command, or a `Vec`.
    ///
    /// # Errors
    ///
    /// Connection errors, the first error reply as [`Error::Server`], or a conversion error.
    pub async fn query<T: FromReply>(&self, client: &Client) -> Result<T, Error> {
        let frames = self.execute(client).await?;
        for f in &frames {
            if let Some(e) = f.as_error() {
                return Err(Error::Server(ServerError::new(e.clone())));
            }
        }
        T::from_reply(Frame::Array(frames))
    }
}

/// The results of a `MULTI` ... `EXEC` batch: `frames` holds `+OK`, one `+QUEUED` (or error)
/// per command, then `EXEC`'s reply.
pub(crate) fn unwrap_exec(mut frames: Vec<Frame>) -> Result<Vec<Frame>, Error> {
    let exec = frames.pop().ok_or(Error::Conversion(ConversionError {
        expected: "EXEC reply",
        got: "nothing",
    }))?;
    match check_reply(exec)? {
        Frame::Array(results) => Ok(results),
        // A WATCHed key changed: the transaction did not run.
        Frame::Null | Frame::NullArray => Err(Error::TransactionAborted),
        other => Err(Error::Conversion(ConversionError {
            expected: "EXEC array",
            got: if other.is_null() {
                "null"
            } else {
                "other reply"
            },
        })),
    }
}
