//! [`Pipeline`]: many commands in one write, replies back in order; optionally atomic
//! (`MULTI` ... `EXEC`).

use bytes::BytesMut;
use resp_codec::{Frame, ToArg};

use super::typed::Body;
use super::{Cmd, FromReply, check_reply};
use crate::client::Client;
use crate::error::{ConversionError, Error, ServerError};
use crate::observe::Call;
use tracing::Instrument;

/// Commands queued to be sent together in one write.
///
/// Each command is kept as the [`Cmd`] value it was built as, so that a cluster client can
/// route each by its keys. [`Pipeline::query`] converts all
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
    /// In order: commands to send, and typed commands answered (or refused) locally.
    entries: Vec<Body>,
    atomic: bool,
    /// Spare capacity that commands given as words are encoded into and split off, so that
    /// they share allocations.
    arena: BytesMut,
}

impl std::fmt::Debug for Pipeline {
    /// Shows how many commands are queued, never their arguments: they can hold passwords
    /// (`AUTH`) or user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("commands", &self.entries.len())
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
        self.push(Body::Send(cmd))
    }

    /// Queues what a typed command sends (or its local answer).
    pub(crate) fn push(&mut self, body: Body) -> &mut Pipeline {
        self.entries.push(body);
        self
    }

    /// Queues a command given as a list of arguments, the name first.
    pub fn add_args(&mut self, args: &[&dyn ToArg]) -> &mut Pipeline {
        if self.arena.capacity() < 256 {
            self.arena = BytesMut::with_capacity(16 * 1024);
        }
        let cmd = Cmd::encoded_in(&mut self.arena, args);
        self.add(cmd)
    }

    /// Number of queued commands.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no command is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every queued command.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The commands to send, in order, and the local answers with the positions they take
    /// among the replies.
    ///
    /// # Errors
    ///
    /// The first typed command refused before sending.
    pub(crate) fn split(&self) -> Result<Split<'_>, Error> {
        let mut sent = Vec::with_capacity(self.entries.len());
        let mut local = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            match e {
                Body::Send(c) => sent.push(c),
                Body::Local(f) => local.push((i, f.clone())),
                Body::Invalid(err) => return Err(err.clone()),
            }
        }
        Ok((sent, local))
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
        let (cmds, local) = self.split()?;
        // One span for the batch, not one per command.
        let operation = if self.atomic { "MULTI" } else { "PIPELINE" };
        let pool = &client.pool;
        let call = Call::batch(pool.telemetry(), operation, &cmds, pool.fixed_endpoint());
        let span = call.span().clone();
        let result = self.send(client, (cmds, local)).instrument(span).await;
        call.finish_batch(&result);
        result
    }

    async fn send(&self, client: &Client, (cmds, local): Split<'_>) -> Result<Vec<Frame>, Error> {
        let replies = if cmds.is_empty() {
            Vec::new()
        } else if !self.atomic {
            client.pool.request_many(&cmds).await?
        } else {
            let (multi, exec) = (Cmd::new("MULTI"), Cmd::new("EXEC"));
            let mut batch = Vec::with_capacity(cmds.len() + 2);
            batch.push(&multi);
            batch.extend(cmds);
            batch.push(&exec);
            unwrap_exec(client.pool.request_many(&batch).await?)?
        };
        Ok(merge_local(replies, local))
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
                return Err(Error::Server(ServerError::new(e.to_bytes())));
            }
        }
        T::from_reply(Frame::Array(frames))
    }
}

/// A pipeline's commands to send, and its local answers with their reply positions.
pub(crate) type Split<'a> = (Vec<&'a Cmd>, Vec<(usize, Frame)>);

/// Puts the locally answered replies back at their positions among the server's.
pub(crate) fn merge_local(mut replies: Vec<Frame>, local: Vec<(usize, Frame)>) -> Vec<Frame> {
    for (at, frame) in local {
        replies.insert(at.min(replies.len()), frame);
    }
    replies
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
