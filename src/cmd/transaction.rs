//! Optimistic transactions: `WATCH` keys, read them, then `MULTI` ... `EXEC` on the same
//! connection; [`Client::transaction`] retries when a watched key changed. The design is
//! described on [`Transaction`], an example is on [`Client::transaction`].

use std::future::Future;
use std::pin::Pin;

use resp_codec::{Frame, ToArg};

use super::pipeline::unwrap_exec;
use super::{Cmd, FromReply, cmd};
use crate::client::Client;
use crate::error::Error;
use crate::observe::Call;
use crate::pool::PooledConnection;
use tracing::Instrument;

/// The future a [`Client::transaction`] closure returns: boxed, borrowing the
/// [`Transaction`] for `'t`.
pub type TransactionFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 't>>;

/// An exclusive connection with watched keys.
///
/// A [`Transaction`] owns an exclusive pooled connection, because `WATCH` is per connection:
/// on the shared multiplexed connection, every other caller's writes would count and its
/// own `EXEC` would be interleaved with theirs. [`Transaction::exec`] writes `MULTI`, the
/// commands and `EXEC` in one batch, so no `MULTI` is ever left open across an await and
/// `DISCARD` is never needed; if the batch fails mid-way, the connection is closed (the
/// pool never hands out a connection with an open `MULTI` or a `WATCH`).
///
/// `EXEC` answers null when a watched key changed after `WATCH`: nothing ran, and
/// [`Transaction::exec`] returns [`Error::TransactionAborted`]. [`Client::transaction`]
/// then watches again and re-runs the closure, up to a bounded number of attempts. On any
/// other error, or when the closure returns without calling `exec`, it sends `UNWATCH` so the
/// connection can go back to the pool.
///
/// Dropping it with keys still watched closes its connection instead of pooling it.
#[derive(Debug)]
pub struct Transaction {
    conn: PooledConnection,
    watching: bool,
}

impl Transaction {
    /// `WATCH key...`, adding to the keys already watched.
    ///
    /// # Errors
    ///
    /// Connection errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the transaction unusable (its connection is closed).
    pub async fn watch<K: ToArg>(&mut self, keys: &[K]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        self.watching = true;
        self.conn.query::<()>(cmd("WATCH").args(keys.iter())).await
    }

    /// `UNWATCH`: forgets every watched key.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn unwatch(&mut self) -> Result<(), Error> {
        self.conn.query::<()>(cmd("UNWATCH")).await?;
        self.watching = false;
        Ok(())
    }

    /// Sends a command on the transaction's connection (to read the watched keys) and
    /// converts its reply.
    ///
    /// # Errors
    ///
    /// As for [`PooledConnection::query`].
    pub async fn query<T: FromReply>(&mut self, cmd: Cmd) -> Result<T, Error> {
        self.conn.query(cmd).await
    }

    /// Runs `cmds` as `MULTI` ... `EXEC` in one write and returns their replies (error
    /// replies included, as frames). The watch ends with it, whatever the outcome.
    ///
    /// # Errors
    ///
    /// [`Error::TransactionAborted`] when a watched key changed (nothing ran);
    /// `EXECABORT` when the server rejected a command while queuing (nothing ran);
    /// connection errors (the outcome is then unknown).
    pub async fn exec(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        let refs: Vec<&Cmd> = cmds.iter().collect();
        self.exec_refs(&refs).await
    }

    async fn exec_refs(&mut self, cmds: &[&Cmd]) -> Result<Vec<Frame>, Error> {
        let (multi, exec) = (cmd("MULTI"), cmd("EXEC"));
        let mut batch = Vec::with_capacity(cmds.len() + 2);
        batch.push(&multi);
        batch.extend(cmds.iter().copied());
        batch.push(&exec);
        let call = {
            let (telemetry, endpoint) = self.conn.telemetry();
            Call::batch(telemetry.clone(), "MULTI", cmds, endpoint)
        };
        let span = call.span().clone();
        let sent = self.conn.send_many(&batch).instrument(span).await;
        call.finish_batch(&sent);
        let frames = sent?;
        self.watching = false;
        // `frames`: MULTI's +OK, one +QUEUED (or error) per command, then EXEC's reply.
        unwrap_exec(frames)
    }

    /// Like [`Transaction::exec`] with the commands of a [`Pipeline`](super::Pipeline)
    /// (typed pipeline methods included; whether the pipeline itself is atomic does not
    /// matter, the transaction always is).
    ///
    /// # Errors
    ///
    /// As for [`Transaction::exec`].
    pub async fn exec_pipeline(&mut self, pipeline: &super::Pipeline) -> Result<Vec<Frame>, Error> {
        let (cmds, local) = pipeline.split()?;
        let replies = self.exec_refs(&cmds).await?;
        Ok(super::pipeline::merge_local(replies, local))
    }

    /// The underlying connection, for anything the methods above do not cover.
    pub fn connection(&mut self) -> &mut PooledConnection {
        &mut self.conn
    }
}

impl Client {
    /// Takes an exclusive connection and `WATCH`es `keys` on it: the first step of a
    /// hand-written optimistic transaction. Most callers want [`Client::transaction`].
    ///
    /// # Errors
    ///
    /// [`Error::PoolTimeout`] when no exclusive connection is free; connection errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection taken before the future was dropped is closed, not reused.
    pub async fn watch<K: ToArg>(&self, keys: &[K]) -> Result<Transaction, Error> {
        let mut tx = Transaction {
            conn: self.exclusive().await?,
            watching: false,
        };
        tx.watch(keys).await?;
        Ok(tx)
    }

    /// Runs an optimistic transaction: watches `keys`, runs `body` (which reads through the
    /// [`Transaction`] and ends with [`Transaction::exec`]), and when `exec` reports
    /// [`Error::TransactionAborted`] because a watched key changed, watches again and re-runs
    /// `body`, at most `max_attempts` times in all (at least once). Returns what `body`
    /// returned.
    ///
    /// The closure must return a boxed future (`|tx| Box::pin(async move { ... })`), because
    /// it borrows the transaction. Values it uses on every attempt must be cloned inside the
    /// closure, before `async move`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
    /// use redis_manager::cmd;
    ///
    /// // Move 10 from one balance to another, only if the first has enough.
    /// let moved = client
    ///     .transaction(&["alice", "bob"], 5, |tx| {
    ///         Box::pin(async move {
    ///             let alice: i64 = tx.query(cmd("GET").arg("alice")).await?;
    ///             if alice < 10 {
    ///                 return Ok(false); // nothing queued: the helper sends UNWATCH
    ///             }
    ///             tx.exec(&[
    ///                 cmd("DECRBY").arg("alice").arg(10),
    ///                 cmd("INCRBY").arg("bob").arg(10),
    ///             ])
    ///             .await?;
    ///             Ok(true)
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = moved; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TransactionAborted`] when every attempt conflicted; the first other error
    /// from `body` or from the connection (after which the keys are unwatched).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the transaction's connection; a batch already written may
    /// or may not have run.
    pub async fn transaction<K, T, F>(
        &self,
        keys: &[K],
        max_attempts: usize,
        mut body: F,
    ) -> Result<T, Error>
    where
        K: ToArg,
        F: for<'t> FnMut(&'t mut Transaction) -> TransactionFuture<'t, T>,
    {
        let mut tx = self.watch(keys).await?;
        let mut attempt = 1;
        loop {
            match body(&mut tx).await {
                Err(Error::TransactionAborted) if attempt < max_attempts => {
                    attempt += 1;
                    tracing::debug!(attempt, "watched key changed; retrying transaction");
                    tx.watch(keys).await?;
                }
                Err(e) => {
                    if tx.watching {
                        // Best effort: if this fails, dropping `tx` closes the connection.
                        let _ = tx.unwatch().await;
                    }
                    return Err(e);
                }
                Ok(v) => {
                    if tx.watching {
                        tx.unwatch().await?;
                    }
                    return Ok(v);
                }
            }
        }
    }
}
