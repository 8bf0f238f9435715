//! Shard channels on a cluster: a subscriber's `SSUBSCRIBE`s go to
//! the master serving each channel's slot, over extra connections that deliver into the
//! subscriber's one message channel.
//!
//! The links hold only a weak sender of that channel between calls, so the subscriber still
//! sees its channel close when its main connection dies. A link that dies, or a server that
//! drops shard subscriptions because their slot moved (an unsolicited `sunsubscribe`), makes
//! the subscriber reconnect everything and subscribe again where the slots are now.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use resp_codec::Frame;
use tokio::sync::mpsc;

use super::{Cluster, slot};
use crate::config::ServerAddr;
use crate::connection::{Connection, PushSink};
use crate::error::Error;

/// A subscriber's connections to shard masters.
#[derive(Default)]
pub(crate) struct ShardLinks {
    links: Vec<(ServerAddr, Connection)>,
    tx: Option<mpsc::WeakSender<Frame>>,
    dropped: Option<Arc<AtomicU64>>,
}

impl ShardLinks {
    /// Closes the links and remembers where new ones deliver: `sink`'s channel.
    pub(crate) fn reset(&mut self, sink: &PushSink) {
        self.close_all();
        self.tx = Some(sink.tx.downgrade());
        self.dropped = Some(sink.dropped.clone());
    }

    /// True when there are no links.
    pub(crate) fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// True when a link has failed.
    pub(crate) fn any_closed(&self) -> bool {
        self.links.iter().any(|(_, c)| c.is_closed())
    }

    /// Sends `PING` on every link, for the subscriber's health check: each answers with a
    /// `pong` into the subscriber's channel. Returns how many were sent.
    ///
    /// # Errors
    ///
    /// A link that is closed.
    pub(crate) fn ping_all(&self) -> Result<usize, Error> {
        for (_, conn) in &self.links {
            conn.send_unanswered(|b| resp_codec::encode_command(b, &["PING"]))?;
        }
        Ok(self.links.len())
    }

    /// Closes every link.
    pub(crate) fn close_all(&mut self) {
        for (_, c) in self.links.drain(..) {
            c.close();
        }
    }

    /// The connection for each group of `names` (indexes into it) in one slot, opening links
    /// to the slots' masters as needed: a server refuses `SSUBSCRIBE` across slots. With no
    /// names (unsubscribe from all), every link.
    ///
    /// # Errors
    ///
    /// Connect errors, or a lost-connection error when the subscriber's channel is gone.
    pub(crate) async fn targets(
        &mut self,
        cluster: &Cluster,
        names: &[Bytes],
    ) -> Result<Vec<(Connection, Vec<usize>)>, Error> {
        if names.is_empty() {
            return Ok(self
                .links
                .iter()
                .map(|(_, c)| (c.clone(), Vec::new()))
                .collect());
        }
        let mut out: Vec<(u16, Connection, Vec<usize>)> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let s = slot::key_slot(name);
            if let Some((_, _, idx)) = out.iter_mut().find(|(o, _, _)| *o == s) {
                idx.push(i);
                continue;
            }
            let addr = cluster.master_for(s).await?;
            let conn = match self
                .links
                .iter()
                .find(|(a, c)| *a == addr && !c.is_closed())
            {
                Some((_, c)) => c.clone(),
                None => {
                    let lost = || Error::ConnectionClosed {
                        sent: false,
                        cause: None,
                    };
                    let tx = self
                        .tx
                        .as_ref()
                        .and_then(|w| w.upgrade())
                        .ok_or_else(lost)?;
                    let sink = PushSink {
                        tx,
                        all_frames: true,
                        dropped: self.dropped.clone().ok_or_else(lost)?,
                    };
                    let (addr, conn) = cluster.open_for_slot(s, Some(sink)).await?;
                    self.links.push((addr, conn.clone()));
                    conn
                }
            };
            out.push((s, conn, vec![i]));
        }
        Ok(out.into_iter().map(|(_, c, idx)| (c, idx)).collect())
    }
}
