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

use resp_codec::Frame;

use super::{Pipeline, Transaction};
use crate::client::Client;
use crate::command::Cmd;
use crate::connection::Wait;
use crate::error::Error;
use crate::pool::PooledConnection;
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
        TypedCmd {
            body: Body::Invalid(Error::InvalidArgument(reason)),
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
    type Run<R: Send + 'static>;

    /// Runs (or queues) `cmd`.
    fn run<R: Send + 'static>(self, cmd: TypedCmd<R>) -> Self::Run<R>;
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
    type Run<R: Send + 'static> = TypedCmd<R>;

    fn run<R: Send + 'static>(self, cmd: TypedCmd<R>) -> TypedCmd<R> {
        cmd
    }
}

/// The future of a typed command run on a client or a connection.
///
/// # Cancel safety
///
/// As for [`Client::query`]: dropping it never affects other callers (on an exclusive
/// connection, dropping it mid-call closes that connection).
#[must_use = "a command does nothing until it is awaited"]
pub struct Reply<'a, R>(Pin<Box<dyn Future<Output = Result<R, Error>> + Send + 'a>>);

impl<R> Future for Reply<'_, R> {
    type Output = Result<R, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<R> std::fmt::Debug for Reply<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

impl<'a> Executor for &'a Client {
    type Run<R: Send + 'static> = Reply<'a, R>;

    fn run<R: Send + 'static>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        Reply(Box::pin(async move {
            let frame = match (c.body, c.wait) {
                (Body::Send(cmd), None) => self.pool.request(&cmd).await?,
                (Body::Send(cmd), Some(wait)) => {
                    // A blocking command gets a connection of its own, so that it never
                    // stalls the shared one; dropped mid-call, that connection is closed.
                    // Its deadline counts from here: taking or opening that connection
                    // is part of the wait.
                    let deadline = self.pool.deadline(wait);
                    let mut conn = self.pool.exclusive(&deadline).await?;
                    conn.send_frame_by(&cmd, &deadline).await?
                }
                (Body::Local(frame), _) => frame,
                (Body::Invalid(e), _) => return Err(e),
            };
            (c.convert)(frame)
        }))
    }
}

impl<'a> Executor for &'a mut PooledConnection {
    type Run<R: Send + 'static> = Reply<'a, R>;

    fn run<R: Send + 'static>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        Reply(Box::pin(async move {
            let frame = match c.body {
                Body::Send(cmd) => self.send_frame(&cmd, c.wait.unwrap_or_default()).await?,
                Body::Local(frame) => frame,
                Body::Invalid(e) => return Err(e),
            };
            (c.convert)(frame)
        }))
    }
}

impl<'a> Executor for &'a mut Transaction {
    type Run<R: Send + 'static> = Reply<'a, R>;

    fn run<R: Send + 'static>(self, c: TypedCmd<R>) -> Reply<'a, R> {
        self.connection().run(c)
    }
}

impl<'a> Executor for &'a mut Pipeline {
    type Run<R: Send + 'static> = &'a mut Pipeline;

    fn run<R: Send + 'static>(self, c: TypedCmd<R>) -> &'a mut Pipeline {
        self.push(c.body)
    }
}
