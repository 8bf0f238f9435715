//! Lua scripts: [`Script`] runs with `EVALSHA`, loading the script when the server does not
//! have it; [`ScriptPipeline`] does the same inside a pipeline. The design is described on
//! [`Script`].
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! use redis_manager::cmd::Script;
//!
//! // Set a key only if it holds the expected value (compare-and-set).
//! let cas = Script::new(
//!     "if redis.call('GET', KEYS[1]) == ARGV[1] then \
//!        redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end",
//! );
//! let swapped: i64 = cas.key("config").arg("v1").arg("v2").invoke(&client).await?;
//! // The same, with slices.
//! let again: i64 = cas.invoke(&client, &[&"config"], &[&"v2", &"v3"]).await?;
//! # let _ = (swapped, again); Ok(()) }
//! ```

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use resp_codec::{Frame, ToArg};

use super::{Cmd, FromReply, Pipeline, check_reply, cmd};
use crate::client::Client;
use crate::error::{Error, ServerError};

/// A Lua script, run by hash with a fallback to loading it.
///
/// The client computes no hash (this crate has no SHA-1): the first use sends `SCRIPT LOAD`,
/// whose reply is the hash, and caches it in the [`Script`] (shared by its clones). Every
/// invocation then sends `EVALSHA hash numkeys keys... args...`. When the server answers
/// `NOSCRIPT` (its script cache was flushed, or it restarted, or this is another server),
/// the script is loaded again and the `EVALSHA` retried once. Retrying is safe: `NOSCRIPT`
/// means the script did not run.
///
/// In a non-atomic [`ScriptPipeline`], an invocation answered with `NOSCRIPT` is re-run on
/// its own after the pipeline, so its effects come after those of the commands queued
/// behind it; the other commands are never sent twice. An atomic pipeline cannot re-run one
/// command without breaking atomicity, so it sends `EVAL` with the script's source instead:
/// no `NOSCRIPT` is possible there.
///
/// Cheap to clone; clones share the cached hash.
#[derive(Clone)]
pub struct Script {
    inner: Arc<ScriptInner>,
}

struct ScriptInner {
    code: String,
    /// The hash `SCRIPT LOAD` returned, once known. A std mutex: held only to copy the
    /// string, never across an await.
    sha: Mutex<Option<String>>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("sha", &self.sha())
            .field("len", &self.inner.code.len())
            .finish()
    }
}

impl Script {
    /// A script with this Lua source. Nothing is sent until it is first used.
    pub fn new(code: impl Into<String>) -> Script {
        Script {
            inner: Arc::new(ScriptInner {
                code: code.into(),
                sha: Mutex::new(None),
            }),
        }
    }

    /// The Lua source.
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// The SHA-1 hash the server reported, once the script was loaded.
    pub fn sha(&self) -> Option<String> {
        self.inner
            .sha
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `SCRIPT LOAD`: puts the script in the server's cache and remembers its hash.
    ///
    /// # Errors
    ///
    /// Connection errors; a server error for a script that does not compile.
    pub async fn load(&self, client: &Client) -> Result<String, Error> {
        let sha: String = client
            .call(&[&"SCRIPT", &"LOAD", &self.inner.code.as_str()])
            .await?;
        *self.inner.sha.lock().unwrap_or_else(|e| e.into_inner()) = Some(sha.clone());
        Ok(sha)
    }

    /// Starts an invocation with one key; add more with [`ScriptInvocation::key`] and
    /// [`ScriptInvocation::arg`].
    pub fn key(&self, key: impl ToArg) -> ScriptInvocation<'_> {
        self.prepare_invoke().key(key)
    }

    /// Starts an invocation with one argument and no key yet.
    pub fn arg(&self, arg: impl ToArg) -> ScriptInvocation<'_> {
        self.prepare_invoke().arg(arg)
    }

    /// Starts an invocation with no keys and no arguments.
    pub fn prepare_invoke(&self) -> ScriptInvocation<'_> {
        ScriptInvocation {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Runs the script with `keys` (`KEYS[1]`, ...) and `args` (`ARGV[1]`, ...), converting
    /// its result into `T`.
    ///
    /// # Errors
    ///
    /// Connection errors; a server error raised by the script (or for a script that does
    /// not compile); a conversion error when the result does not fit `T`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave the script run or not run, as for any command.
    pub async fn invoke<T: FromReply>(
        &self,
        client: &Client,
        keys: &[&dyn ToArg],
        args: &[&dyn ToArg],
    ) -> Result<T, Error> {
        T::from_reply(self.run(client, keys, args).await?)
    }

    /// `EVALSHA`, loading first when the hash is unknown and once more on `NOSCRIPT`.
    async fn run(
        &self,
        client: &Client,
        keys: &[&dyn ToArg],
        args: &[&dyn ToArg],
    ) -> Result<Frame, Error> {
        let sha = match self.sha() {
            Some(sha) => sha,
            None => self.load(client).await?,
        };
        match self.evalsha(client, &sha, keys, args).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                let sha = self.load(client).await?;
                self.evalsha(client, &sha, keys, args).await
            }
            r => r,
        }
    }

    async fn evalsha(
        &self,
        client: &Client,
        sha: &str,
        keys: &[&dyn ToArg],
        args: &[&dyn ToArg],
    ) -> Result<Frame, Error> {
        let tail: Vec<&dyn ToArg> = keys.iter().chain(args).copied().collect();
        let reply: Frame = client
            .call_with(&[&"EVALSHA", &sha, &keys.len()], &tail)
            .await?;
        check_reply(reply)
    }
}

/// `EVAL source` or `EVALSHA hash` with its keys and arguments.
fn script_cmd(name: &str, body: &str, keys: &[Bytes], args: &[Bytes]) -> Cmd {
    cmd(name)
        .arg(body)
        .arg(keys.len())
        .args(keys.iter())
        .args(args.iter())
}

/// One invocation of a [`Script`] being built: its keys and arguments (copied).
#[derive(Debug, Clone)]
pub struct ScriptInvocation<'s> {
    script: &'s Script,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
}

impl<'s> ScriptInvocation<'s> {
    /// Adds a key (`KEYS[n]`).
    pub fn key(mut self, key: impl ToArg) -> ScriptInvocation<'s> {
        self.keys.push(Bytes::copy_from_slice(&key.to_arg()));
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub fn arg(mut self, arg: impl ToArg) -> ScriptInvocation<'s> {
        self.args.push(Bytes::copy_from_slice(&arg.to_arg()));
        self
    }

    /// Runs the script (see [`Script::invoke`]).
    ///
    /// # Errors
    ///
    /// As for [`Script::invoke`].
    ///
    /// # Cancel safety
    ///
    /// As for [`Script::invoke`].
    pub async fn invoke<T: FromReply>(&self, client: &Client) -> Result<T, Error> {
        T::from_reply(self.run(client).await?)
    }

    async fn run(&self, client: &Client) -> Result<Frame, Error> {
        let keys: Vec<&dyn ToArg> = self.keys.iter().map(|k| k as &dyn ToArg).collect();
        let args: Vec<&dyn ToArg> = self.args.iter().map(|a| a as &dyn ToArg).collect();
        self.script.run(client, &keys, &args).await
    }

    /// One `EVALSHA sha` of this invocation, no retry.
    async fn evalsha(&self, client: &Client, sha: &str) -> Result<Frame, Error> {
        let keys: Vec<&dyn ToArg> = self.keys.iter().map(|k| k as &dyn ToArg).collect();
        let args: Vec<&dyn ToArg> = self.args.iter().map(|a| a as &dyn ToArg).collect();
        self.script.evalsha(client, sha, &keys, &args).await
    }
}

/// A pipeline that can hold script invocations and recovers from `NOSCRIPT`.
///
/// Non-atomic: an invocation answered with `NOSCRIPT` is loaded and re-run on its own after
/// the pipeline (so its effects come after those of the commands queued behind it); the
/// other commands are never sent twice. Atomic ([`ScriptPipeline::atomic`]): scripts are
/// sent with `EVAL` and their source, so `NOSCRIPT` cannot happen inside `MULTI`/`EXEC`.
///
/// Commands are kept until [`ScriptPipeline::execute`], which first loads any script whose
/// hash is not yet known, then sends everything in one write.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::cmd;
/// use redis_manager::cmd::{Script, ScriptPipeline};
///
/// let double = Script::new("return redis.call('INCRBY', KEYS[1], redis.call('GET', KEYS[1]))");
/// let mut pipe = ScriptPipeline::new();
/// pipe.add(cmd("SET").arg("n").arg(21))
///     .add_script(double.key("n"))
///     .add(cmd("GET").arg("n"));
/// let ((), doubled, text): ((), i64, String) = pipe.query(&client).await?;
/// assert_eq!((doubled, text.as_str()), (42, "42"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScriptPipeline<'s> {
    entries: Vec<Entry<'s>>,
    atomic: bool,
}

#[derive(Debug, Clone)]
enum Entry<'s> {
    Command(Cmd),
    Script(ScriptInvocation<'s>),
}

impl<'s> ScriptPipeline<'s> {
    /// An empty, non-atomic pipeline.
    pub fn new() -> ScriptPipeline<'s> {
        ScriptPipeline::default()
    }

    /// An empty pipeline run as one `MULTI`/`EXEC` transaction; its scripts are sent with
    /// `EVAL` (the source), so they cannot fail with `NOSCRIPT`.
    pub fn atomic() -> ScriptPipeline<'s> {
        ScriptPipeline {
            entries: Vec::new(),
            atomic: true,
        }
    }

    /// Queues a command.
    pub fn add(&mut self, cmd: Cmd) -> &mut ScriptPipeline<'s> {
        self.entries.push(Entry::Command(cmd));
        self
    }

    /// Queues a script invocation.
    pub fn add_script(&mut self, invocation: ScriptInvocation<'s>) -> &mut ScriptPipeline<'s> {
        self.entries.push(Entry::Script(invocation));
        self
    }

    /// Number of queued commands and invocations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sends everything and returns one reply frame per entry, error replies included. A
    /// script answered with `NOSCRIPT` is loaded and re-run once, on its own, and its frame
    /// replaced by the new result.
    ///
    /// # Errors
    ///
    /// Connection errors; a server error when loading a script fails; for atomic pipelines
    /// the `EXEC` error ([`Error::TransactionAborted`] cannot happen: nothing is watched).
    ///
    /// # Cancel safety
    ///
    /// As for [`Pipeline::execute`]; a dropped future may have run some commands.
    pub async fn execute(&self, client: &Client) -> Result<Vec<Frame>, Error> {
        let mut pipe = if self.atomic {
            Pipeline::atomic()
        } else {
            Pipeline::new()
        };
        for entry in &self.entries {
            match entry {
                Entry::Command(c) => {
                    pipe.add(c.clone());
                }
                Entry::Script(inv) if self.atomic => {
                    pipe.add(script_cmd("EVAL", inv.script.code(), &inv.keys, &inv.args));
                }
                Entry::Script(inv) => {
                    let sha = match inv.script.sha() {
                        Some(sha) => sha,
                        None => inv.script.load(client).await?,
                    };
                    pipe.add(script_cmd("EVALSHA", &sha, &inv.keys, &inv.args));
                }
            }
        }
        let mut frames = pipe.execute(client).await?;
        if self.atomic {
            return Ok(frames);
        }
        // Each script answered NOSCRIPT is loaded once, and each such invocation re-run once
        // with EVALSHA: a second NOSCRIPT (the cache flushed again meanwhile) is its answer.
        let mut reloaded: Vec<String> = Vec::new();
        for (entry, frame) in self.entries.iter().zip(frames.iter_mut()) {
            let Entry::Script(inv) = entry else { continue };
            let is_noscript = frame
                .as_error()
                .is_some_and(|e| ServerError::new(e.to_bytes()).code() == "NOSCRIPT");
            if !is_noscript {
                continue;
            }
            let retried = async {
                let sha = match inv.script.sha() {
                    Some(sha) if reloaded.contains(&sha) => sha,
                    _ => {
                        let sha = inv.script.load(client).await?;
                        reloaded.push(sha.clone());
                        sha
                    }
                };
                inv.evalsha(client, &sha).await
            };
            *frame = match retried.await {
                Ok(f) => f,
                Err(Error::Server(e)) => Frame::SimpleError(e.as_bytes().clone().into()),
                Err(e) => return Err(e),
            };
        }
        Ok(frames)
    }

    /// Sends everything and converts all replies at once into `T` (a tuple or a `Vec`).
    ///
    /// # Errors
    ///
    /// As for [`ScriptPipeline::execute`]; the first error reply as [`Error::Server`]; a
    /// conversion error.
    pub async fn query<T: FromReply>(&self, client: &Client) -> Result<T, Error> {
        let frames = self.execute(client).await?;
        if let Some(e) = frames.iter().find_map(Frame::as_error) {
            return Err(Error::Server(ServerError::new(e.to_bytes())));
        }
        T::from_reply(Frame::Array(frames))
    }
}
