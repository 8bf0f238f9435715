//! [`Pipeline`]: many commands in one write, replies back in order; optionally atomic
//! (`MULTI` ... `EXEC`).

use resp_codec::{Frame, ToArg};

use super::{Cmd, FromReply, SetOptions, ZAddOptions, check_reply};
use crate::client::Client;
use crate::error::{ConversionError, Error, ServerError};

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
    cmds: Vec<Cmd>,
    atomic: bool,
}

impl std::fmt::Debug for Pipeline {
    /// Shows how many commands are queued, never their arguments: they can hold passwords
    /// (`AUTH`) or user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("commands", &self.cmds.len())
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
        self.cmds.push(cmd);
        self
    }

    /// Queues a command given as a list of arguments, the name first.
    pub fn add_args(&mut self, args: &[&dyn ToArg]) -> &mut Pipeline {
        self.add(Cmd::from_args(args))
    }

    /// Number of queued commands.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// True when no command is queued.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Removes every queued command.
    pub fn clear(&mut self) {
        self.cmds.clear();
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
        if self.cmds.is_empty() {
            return Ok(Vec::new());
        }
        if !self.atomic {
            let batch: Vec<&Cmd> = self.cmds.iter().collect();
            return client.pool.request_many(&batch).await;
        }
        let (multi, exec) = (Cmd::new("MULTI"), Cmd::new("EXEC"));
        let mut batch = Vec::with_capacity(self.cmds.len() + 2);
        batch.push(&multi);
        batch.extend(self.cmds.iter());
        batch.push(&exec);
        unwrap_exec(client.pool.request_many(&batch).await?)
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

/// Typed commands, queued. They mirror the `Client` methods of the same names; the replies
/// come back from [`Pipeline::query`] (convert them with the tuple or `Vec` you ask for) or
/// [`Pipeline::execute`].
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::{Pipeline, SetOptions};
///
/// let mut pipe = Pipeline::atomic();
/// pipe.set_with("session:1", "data", SetOptions::new().ex(60))
///     .hset("user:1", "last_seen", 1_700_000_000)
///     .incr("logins")
///     .get("session:1");
/// let (stored, _, logins, data): (bool, i64, i64, Option<String>) = pipe.query(&client).await?;
/// # let _ = (stored, logins, data); Ok(()) }
/// ```
impl Pipeline {
    /// Queues `GET key` (reply: `Option<Bytes>`/`Option<String>`).
    pub fn get(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"GET", &key])
    }

    /// Queues `SET key value` (reply: `()`).
    pub fn set(&mut self, key: impl ToArg, value: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"SET", &key, &value])
    }

    /// Queues `SET key value` with options (reply: `bool`, false when NX/XX prevented it).
    pub fn set_with(
        &mut self,
        key: impl ToArg,
        value: impl ToArg,
        options: SetOptions,
    ) -> &mut Pipeline {
        let mut args: Vec<&dyn ToArg> = vec![&"SET", &key, &value];
        options.push_args(&mut args);
        self.add_args(&args)
    }

    /// Queues `MGET keys...` (reply: `Vec<Option<Bytes>>`).
    pub fn mget<K: ToArg>(&mut self, keys: &[K]) -> &mut Pipeline {
        self.variadic(&[&"MGET"], keys)
    }

    /// Queues `DEL keys...` (reply: `i64`, how many existed).
    pub fn del<K: ToArg>(&mut self, keys: &[K]) -> &mut Pipeline {
        self.variadic(&[&"DEL"], keys)
    }

    /// Queues `EXISTS key` (reply: `bool`).
    pub fn exists(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"EXISTS", &key])
    }

    /// Queues `EXPIRE key secs` (reply: `bool`).
    pub fn expire(&mut self, key: impl ToArg, secs: i64) -> &mut Pipeline {
        self.add_args(&[&"EXPIRE", &key, &secs])
    }

    /// Queues `TTL key` (reply: `i64`).
    pub fn ttl(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"TTL", &key])
    }

    /// Queues `INCR key` (reply: `i64`).
    pub fn incr(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"INCR", &key])
    }

    /// Queues `INCRBY key by` (reply: `i64`).
    pub fn incrby(&mut self, key: impl ToArg, by: i64) -> &mut Pipeline {
        self.add_args(&[&"INCRBY", &key, &by])
    }

    /// Queues `DECR key` (reply: `i64`).
    pub fn decr(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"DECR", &key])
    }

    /// Queues `HSET key field value` (reply: `i64`, fields added).
    pub fn hset(&mut self, key: impl ToArg, field: impl ToArg, value: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"HSET", &key, &field, &value])
    }

    /// Queues `HGET key field` (reply: `Option<Bytes>`).
    pub fn hget(&mut self, key: impl ToArg, field: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"HGET", &key, &field])
    }

    /// Queues `HGETALL key` (reply: a map; RESP2 and RESP3 convert alike).
    pub fn hgetall(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"HGETALL", &key])
    }

    /// Queues `HDEL key fields...` (reply: `i64`).
    pub fn hdel<F: ToArg>(&mut self, key: impl ToArg, fields: &[F]) -> &mut Pipeline {
        self.variadic(&[&"HDEL", &key], fields)
    }

    /// Queues `LPUSH key values...` (reply: `i64`, the new length).
    pub fn lpush<V: ToArg>(&mut self, key: impl ToArg, values: &[V]) -> &mut Pipeline {
        self.variadic(&[&"LPUSH", &key], values)
    }

    /// Queues `RPUSH key values...` (reply: `i64`, the new length).
    pub fn rpush<V: ToArg>(&mut self, key: impl ToArg, values: &[V]) -> &mut Pipeline {
        self.variadic(&[&"RPUSH", &key], values)
    }

    /// Queues `LRANGE key start stop` (reply: `Vec<Bytes>`).
    pub fn lrange(&mut self, key: impl ToArg, start: i64, stop: i64) -> &mut Pipeline {
        self.add_args(&[&"LRANGE", &key, &start, &stop])
    }

    /// Queues `SADD key members...` (reply: `i64`, members added).
    pub fn sadd<M: ToArg>(&mut self, key: impl ToArg, members: &[M]) -> &mut Pipeline {
        self.variadic(&[&"SADD", &key], members)
    }

    /// Queues `SMEMBERS key` (reply: `HashSet<Bytes>` or `Vec<Bytes>`).
    pub fn smembers(&mut self, key: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"SMEMBERS", &key])
    }

    /// Queues `ZADD key [options] score member ...` (reply: `i64`).
    pub fn zadd_with<M: ToArg>(
        &mut self,
        key: impl ToArg,
        members: &[(f64, M)],
        options: ZAddOptions,
    ) -> &mut Pipeline {
        let mut args: Vec<&dyn ToArg> = vec![&"ZADD", &key];
        options.push_args(&mut args);
        for (score, member) in members {
            args.extend([score as &dyn ToArg, member]);
        }
        self.add_args(&args)
    }

    /// Queues `ZADD key score member ...` (reply: `i64`, members added).
    pub fn zadd<M: ToArg>(&mut self, key: impl ToArg, members: &[(f64, M)]) -> &mut Pipeline {
        self.zadd_with(key, members, ZAddOptions::default())
    }

    /// Queues `ZSCORE key member` (reply: `Option<f64>`).
    pub fn zscore(&mut self, key: impl ToArg, member: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"ZSCORE", &key, &member])
    }

    /// Queues `PUBLISH channel payload` (reply: `i64`, receivers).
    pub fn publish(&mut self, channel: impl ToArg, payload: impl ToArg) -> &mut Pipeline {
        self.add_args(&[&"PUBLISH", &channel, &payload])
    }

    fn variadic<A: ToArg>(&mut self, head: &[&dyn ToArg], tail: &[A]) -> &mut Pipeline {
        let mut args: Vec<&dyn ToArg> = Vec::with_capacity(head.len() + tail.len());
        args.extend_from_slice(head);
        args.extend(tail.iter().map(|a| a as &dyn ToArg));
        self.add_args(&args)
    }

    /// The queued commands, for transactions that send them on their own connection.
    pub(crate) fn cmds(&self) -> &[Cmd] {
        &self.cmds
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
