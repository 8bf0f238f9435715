//! Typed commands as values: each is declared once and runs on any [`Executor`].
//!
//! # Design
//!
//! A typed command (`get`, `hset`, `zadd`, ...) is one provided method of a command-group
//! trait ([`StringCommands`](super::StringCommands), [`KeyCommands`](super::KeyCommands),
//! ...). It builds a [`TypedCmd<R>`]: the [`Cmd`] with its keys marked, how to turn the reply
//! into `R`, and whether it blocks on the server. It then hands that value to its executor's
//! [`Executor::run`], and what `run` gives is the executor's business:
//!
//! | executor | `run` gives |
//! |---|---|
//! | `&Client` | a [`Reply`] future: the shared connection, or an exclusive one for blocking commands |
//! | `&mut PooledConnection` | a [`Reply`] future on that connection |
//! | `&mut Transaction` | a [`Reply`] future on its watched connection (reads before `exec`) |
//! | `&mut Pipeline` | the pipeline, with the command queued (for chaining) |
//! | [`Prepare`] | the [`TypedCmd`] value itself, to run later |
//!
//! So every typed command works in every place a command can run, with one definition, and
//! a command's reply type is the same everywhere: in a pipeline, convert the frame it gets
//! back with the same `R` (or ask [`Pipeline::query`] for a tuple of them).
//!
//! Some commands are answered without a round trip (an `MGET` of no keys is an empty list)
//! or are refused before sending (a negative block time): their value carries that answer or
//! that error instead of a command, and every executor honours it in the command's place.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use resp_codec::{Frame, ToArg};

use super::{Pipeline, Transaction};
use crate::cache::{AfterReply, CachedCommand, Lookup};
use crate::client::Client;
use crate::command::Cmd;
use crate::connection::{Deadline, Pending, Wait};
use crate::error::Error;
use crate::observe::Call;
use crate::pool::{Pool, PooledConnection};
use crate::reply::FromReply;

/// A command whose reply converts into `R`: what every typed command method builds.
pub struct TypedCmd<R> {
    pub(crate) body: Body,
    /// Set for commands that block on the server: they run on an exclusive connection and
    /// wait this long.
    pub(crate) wait: Option<Wait>,
    convert: fn(Frame) -> Result<R, Error>,
    _reply: PhantomData<fn() -> R>,
}

/// What a typed command sends, or how it is answered without sending.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Sent to the server.
    Send(Cmd),
    /// Answered here, as if the server had replied this.
    Local(Frame),
    /// Refused before sending.
    Invalid(Error),
}

impl<R: FromReply> TypedCmd<R> {
    /// A typed command sending `cmd`, its reply converted with [`FromReply`].
    pub fn new(cmd: Cmd) -> TypedCmd<R> {
        TypedCmd::with(cmd, R::from_reply)
    }

    /// A command answered without a round trip, as if the server had replied `frame`.
    pub(crate) fn local(frame: Frame) -> TypedCmd<R> {
        TypedCmd {
            body: Body::Local(frame),
            wait: None,
            convert: R::from_reply,
            _reply: PhantomData,
        }
    }
}

impl<R> TypedCmd<R> {
    /// A typed command sending `cmd`, its reply converted by `convert`.
    pub fn with(cmd: Cmd, convert: fn(Frame) -> Result<R, Error>) -> TypedCmd<R> {
        TypedCmd {
            body: Body::Send(cmd),
            wait: None,
            convert,
            _reply: PhantomData,
        }
    }

    /// A command refused before it is sent.
    pub(crate) fn invalid(reason: &'static str) -> TypedCmd<R> {
        TypedCmd::refused(Error::InvalidArgument(reason))
    }

    /// A command refused before it is sent, with `error`.
    pub(crate) fn refused(error: Error) -> TypedCmd<R> {
        TypedCmd {
            body: Body::Invalid(error),
            wait: None,
            // Never called: nothing is sent, so no reply comes back.
            convert: |_| Err(Error::UnexpectedReply),
            _reply: PhantomData,
        }
    }

    /// Marks a command that blocks on the server (`BLPOP`, `XREAD BLOCK`, ...).
    pub(crate) fn blocking(mut self, wait: Wait) -> TypedCmd<R> {
        self.wait = Some(wait);
        self
    }

    /// The command this sends, if it is sent at all.
    pub fn cmd(&self) -> Option<&Cmd> {
        match &self.body {
            Body::Send(c) => Some(c),
            Body::Local(_) | Body::Invalid(_) => None,
        }
    }

    /// Converts a reply to this command.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] for an error reply; [`Error::Conversion`] for a reply of another
    /// shape.
    pub fn convert(&self, frame: Frame) -> Result<R, Error> {
        (self.convert)(frame)
    }
}

impl<R> Clone for TypedCmd<R> {
    fn clone(&self) -> TypedCmd<R> {
        TypedCmd {
            body: self.body.clone(),
            wait: self.wait,
            convert: self.convert,
            _reply: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for TypedCmd<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCmd")
            .field("body", &self.body)
            .field("blocking", &self.wait.is_some())
            .finish()
    }
}

/// Something a typed command runs on: a client, a pooled connection, a transaction's
/// connection, or a pipeline that queues it.
pub trait Executor: Sized {
    /// What running a command with reply type `R` gives: a future of `R`, or the pipeline
    /// itself for chaining.
    type Run<R>;

    /// Runs (or queues) `cmd`.
    fn run<R>(self, cmd: TypedCmd<R>) -> Self::Run<R>;

    /// Runs (or queues) the single-key read `command` of `key` with the other arguments
    /// `args`, which `build` makes into its command ([`TypedCmd::new`] of it, the key
    /// marked). A client whose cache holds the reply answers from it without building the
    /// command; everywhere else, and on a miss, this is `self.run(build())`.
    ///
    /// Hidden: the typed read methods call it with a `build` that matches `command`, `key`
    /// and `args`; a caller passing ones that do not match would be answered from another
    /// command's cache entry. Call the typed methods (or [`Executor::run`]) instead.
    #[doc(hidden)]
    fn run_read<R: FromReply>(
        self,
        command: CachedCommand,
        key: &[u8],
        args: &[&[u8]],
        build: impl FnOnce() -> TypedCmd<R>,
    ) -> Self::Run<R> {
        let _ = (command, key, args);
        self.run(build())
    }
}

/// The executor that runs nothing: a typed command called on it gives back its
/// [`TypedCmd`] value, to keep, inspect, or run later on any executor.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use redis_manager::prelude::*;
/// use redis_manager::{Prepare, TypedCmd};
///
/// let get: TypedCmd<Option<Bytes>> = Prepare.get("user:1");
/// assert_eq!(get.cmd().map(|c| c.name()), Some("GET"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Prepare;

impl Executor for Prepare {
    type Run<R> = TypedCmd<R>;

    fn run<R>(self, cmd: TypedCmd<R>) -> TypedCmd<R> {
        cmd
    }
}

/// The future of a typed command run on a client or a connection.
///
/// On a standalone client whose shared connection is up, the command is queued on it at
/// once and this future only waits for the reply: no allocation beyond the command's own.
/// Anything that needs decisions first (a reconnect, Sentinel, a cluster, an exclusive
/// connection) runs as a boxed future behind the same type.
///
/// # Cancel safety
///
/// As for [`Client::query`]: dropping it never affects other callers (on an exclusive
/// connection, dropping it mid-call closes that connection).
#[must_use = "a command does nothing until it is awaited"]
pub struct Reply<'a, R> {
    state: State<'a>,
    convert: fn(Frame) -> Result<R, Error>,
    /// Client-side caching: store a read's reply, or drop a write's keys again.
    after: AfterReply<'a>,
    /// The command's span and counters; `None` for an answer given without a round trip.
    call: Option<Call<'a>>,
}

enum State<'a> {
    /// Queued on a shared connection. If it turns out it was never written (its connection
    /// died first), it is sent again through the pool, which reconnects: at most once.
    Queued {
        pending: Pending,
        resend: Option<(&'a Pool, Cmd, Deadline)>,
    },
    Running(Pin<Box<dyn Future<Output = Result<Frame, Error>> + Send + 'a>>),
    /// Answered without a round trip (a local reply, or an argument error); taken once.
    Done(Option<Result<Frame, Error>>),
}

impl<'a, R> Reply<'a, R> {
    fn running(
        f: impl Future<Output = Result<Frame, Error>> + Send + 'a,
        convert: fn(Frame) -> Result<R, Error>,
        call: Call<'a>,
    ) -> Reply<'a, R> {
        Reply {
            state: State::Running(Box::pin(f)),
            convert,
            after: AfterReply::Nothing,
            call: Some(call),
        }
    }

    fn done(answer: Result<Frame, Error>, convert: fn(Frame) -> Result<R, Error>) -> Self {
        Reply {
            state: State::Done(Some(answer)),
            convert,
            after: AfterReply::Nothing,
            call: None,
        }
    }
}

impl<R> Future for Reply<'_, R> {
    type Output = Result<R, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Events of the pool (a reconnect, a redirection) nest in the command's span.
        let _entered = this.call.as_ref().map(|c| c.span().enter());
        loop {
            let frame = match &mut this.state {
                State::Queued { pending, resend } => {
                    match std::task::ready!(Pin::new(pending).poll(cx)) {
                        Err(e) if e.is_unsent() && resend.is_some() => {
                            if let Some((pool, cmd, deadline)) = resend.take() {
                                this.state = State::Running(Box::pin(async move {
                                    pool.request_by(&cmd, &deadline).await
                                }));
                            }
                            continue;
                        }
                        r => r,
                    }
                }
                State::Running(f) => std::task::ready!(f.as_mut().poll(cx)),
                // Answered without a round trip (a cache hit, a local answer): it still spends
                // the task's tokio budget, or a loop of such calls would never yield and could
                // starve the runtime's other tasks and timers. Polled again after it completed:
                // a caller's bug, answered with an error.
                State::Done(answer) => {
                    std::task::ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
                    answer.take().unwrap_or(Err(Error::UnexpectedReply))
                }
            };
            this.after.complete(frame.as_ref().map_err(|_| ()));
            let Some(call) = &this.call else {
                return Poll::Ready(frame.and_then(this.convert));
            };
            call.finish(&frame);
            let answered = frame.as_ref().is_ok_and(|f| f.as_error().is_none());
            let reply = frame.and_then(this.convert);
            if answered && reply.is_err() {
                call.conversion_failed();
            }
            return Poll::Ready(reply);
        }
    }
}

impl<R> std::fmt::Debug for Reply<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

impl<'a, R> TypedCmd<R> {
    /// The reply future of this command: `send` sends it (with its wait, if it blocks); a
    /// local answer or an argument error needs no sending.
    fn reply(
        self,
        send: impl FnOnce(Cmd, Option<Wait>, fn(Frame) -> Result<R, Error>) -> Reply<'a, R>,
    ) -> Reply<'a, R> {
        match self.body {
            Body::Send(cmd) => send(cmd, self.wait, self.convert),
            Body::Local(frame) => Reply::done(Ok(frame), self.convert),
            Body::Invalid(e) => Reply::done(Err(e), self.convert),
        }
    }
}

impl<'a> Executor for &'a Client {
    type Run<R> = Reply<'a, R>;

    fn run_read<R: FromReply>(
        self,
        command: CachedCommand,
        key: &[u8],
        args: &[&[u8]],
        build: impl FnOnce() -> TypedCmd<R>,
    ) -> Reply<'a, R> {
        // A hit needs no command: nothing is encoded, allocated or sent, and no span opened
        // (the cache counts it). A miss builds the command once, to send it with the ticket
        // that stores its reply.
        let Some(lookup) = self
            .pool
            .cache
            .as_ref()
            .and_then(|c| c.lookup(command, key, args))
        else {
            return self.run(build());
        };
        let ticket = match lookup {
            Lookup::Hit(frame) => return Reply::done(Ok(frame), R::from_reply),
            Lookup::Miss(ticket) => ticket,
        };
        build().reply(|cmd, wait, convert| {
            let after = match ticket {
                Some(ticket) if wait.is_none() => AfterReply::Fill(ticket),
                _ => AfterReply::Nothing,
            };
            self.send_with(cmd, wait, convert, after)
        })
    }

    fn run<R>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        c.reply(|cmd, wait, convert| {
            // Client-side caching: a hit answers here; a miss carries its ticket to the
            // reply; a write drops its keys now and again when its reply comes.
            let after = match &self.pool.cache {
                None => AfterReply::Nothing,
                Some(cache) => match cache.read(&cmd) {
                    Some(Lookup::Hit(frame)) if wait.is_none() => {
                        return Reply::done(Ok(frame), convert);
                    }
                    Some(Lookup::Miss(Some(ticket))) if wait.is_none() => AfterReply::Fill(ticket),
                    Some(_) => AfterReply::Nothing,
                    None => cache
                        .write(&cmd)
                        .map_or(AfterReply::Nothing, |w| AfterReply::Invalidate(Box::new(w))),
                },
            };
            self.send_with(cmd, wait, convert, after)
        })
    }
}

impl Client {
    /// Sends `cmd` for a typed reply, `after` done when the reply arrives.
    fn send_with<'a, R>(
        &'a self,
        cmd: Cmd,
        wait: Option<Wait>,
        convert: fn(Frame) -> Result<R, Error>,
        after: AfterReply<'a>,
    ) -> Reply<'a, R> {
        let call = Call::command(self.pool.telemetry(), &cmd, self.pool.fixed_endpoint());
        if self.pool.cache.as_ref().is_some_and(|c| c.is_opt_in())
            && let AfterReply::Fill(ticket) = after
        {
            // Opt-in tracking: the server tracks the read that follows `CLIENT CACHING
            // yes` on the same connection; one batch keeps the two together. A read the
            // server does not track is not stored.
            let pool = &self.pool;
            return Reply::running(
                async move {
                    let (frame, tracked) = pool.request_tracked(&cmd).await?;
                    if tracked {
                        ticket.fill(&frame);
                    }
                    Ok(frame)
                },
                convert,
                call,
            );
        }
        let mut reply = self.submit(cmd, wait, convert, call);
        reply.after = after;
        reply
    }
}

impl Client {
    /// Sends `cmd` for a typed reply: queued at once on a standalone server's shared
    /// connection when it is up, or through the pool.
    fn submit<'a, R>(
        &'a self,
        cmd: Cmd,
        wait: Option<Wait>,
        convert: fn(Frame) -> Result<R, Error>,
        call: Call<'a>,
    ) -> Reply<'a, R> {
        match wait {
            None => {
                // Counted from the call: the resend of a command that was never written, if
                // it comes to that, ends by it too.
                let deadline = self.pool.deadline(Wait::Default);
                match self.pool.try_submit(&cmd) {
                    Some(pending) => Reply {
                        state: State::Queued {
                            pending,
                            resend: Some((&self.pool, cmd, deadline)),
                        },
                        convert,
                        call: Some(call),
                        after: AfterReply::Nothing,
                    },
                    None => Reply::running(
                        async move { self.pool.request_by(&cmd, &deadline).await },
                        convert,
                        call,
                    ),
                }
            }
            Some(wait) => Reply::running(
                async move {
                    // A blocking command gets a connection of its own, so that it never
                    // stalls the shared one; dropped mid-call, that connection is closed.
                    // Its deadline counts from here: taking or opening that connection
                    // is part of the wait.
                    let deadline = self.pool.deadline(wait);
                    let mut conn = self.pool.exclusive(&deadline).await?;
                    conn.send_frame_by(&cmd, &deadline).await
                },
                convert,
                call,
            ),
        }
    }
}

impl<'a> Executor for &'a mut PooledConnection {
    type Run<R> = Reply<'a, R>;

    fn run<R>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        c.reply(|cmd, wait, convert| {
            let call = {
                let (telemetry, endpoint) = self.telemetry();
                Call::command(telemetry.clone(), &cmd, endpoint)
            };
            Reply::running(
                async move { self.send_frame(&cmd, wait.unwrap_or_default()).await },
                convert,
                call,
            )
        })
    }
}

impl<'a> Executor for &'a mut Transaction {
    type Run<R> = Reply<'a, R>;

    fn run<R>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        self.connection().run(c)
    }
}

impl<'a> Executor for &'a mut Pipeline {
    type Run<R> = &'a mut Pipeline;

    fn run<R>(self, c: TypedCmd<R>) -> &'a mut Pipeline {
        self.push(c.body)
    }
}

/// Raw commands on a client: the same path as the typed ones.
impl Client {
    /// Sends `cmd` and converts its reply into `T`, within the response timeout counted from
    /// this call (a reconnect and a retry included).
    ///
    /// # Errors
    ///
    /// Connection errors ([`Error::Io`], [`Error::Timeout`], [`Error::ConnectionClosed`],
    /// [`Error::Backoff`], ...),
    /// [`Error::Server`] for an error reply, [`Error::Conversion`] when the reply does not fit
    /// `T`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future never affects other callers: an unsent command is withdrawn, and
    /// the reply of a sent one is read and discarded.
    pub async fn query<T: FromReply>(&self, cmd: Cmd) -> Result<T, Error> {
        // The typed commands' path: queued at once when the shared connection is up.
        self.run(TypedCmd::new(cmd)).await
    }

    /// Sends `cmd` and returns its raw reply frame; an error reply is an `Err`.
    ///
    /// # Errors
    ///
    /// As for [`Client::query`].
    pub async fn send(&self, cmd: Cmd) -> Result<Frame, Error> {
        crate::reply::check(self.query::<Frame>(cmd).await?)
    }

    /// Runs a command given as its words, the name first.
    pub(crate) async fn call<T: FromReply>(&self, args: &[&dyn ToArg]) -> Result<T, Error> {
        self.query(Cmd::from_args(args)).await
    }

    /// Like [`Client::call`] with a command name followed by a variable list of arguments.
    pub(crate) async fn call_with<T: FromReply>(
        &self,
        head: &[&dyn ToArg],
        tail: &[&dyn ToArg],
    ) -> Result<T, Error> {
        let mut cmd = Cmd::from_args(head);
        for a in tail {
            cmd.push_arg(a);
        }
        self.query(cmd).await
    }

    /// Connects the shared connection now (instead of on first use) and checks it with `PING`.
    ///
    /// # Errors
    ///
    /// The connect or handshake error.
    pub async fn ping(&self) -> Result<(), Error> {
        self.send(Cmd::new("PING")).await.map(|_| ())
    }
}
