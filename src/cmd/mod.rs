//! Commands: the raw [`cmd`] builder, the typed commands and reply conversions
//! ([`FromReply`]).
//!
//! Each typed command is declared once, as a provided method of a command-group trait
//! ([`StringCommands`], [`KeyCommands`], [`HashCommands`], [`ListCommands`],
//! [`SetCommands`], [`SortedSetCommands`], [`StreamCommands`], [`ServerCommands`],
//! [`PubSubCommands`]), and runs
//! on any [`Executor`]: a [`Client`](crate::client::Client), a
//! [`PooledConnection`](crate::pool::PooledConnection), a [`Transaction`] or a [`Pipeline`]. Bring
//! them into scope with `use redis_manager::prelude::*`.

mod hash_serde;
mod hashes;
mod keys;
mod lists;
mod pipeline;
mod pubsub;
mod scan;
mod script;
mod server;
mod sets;
mod sorted_sets;
mod streams;
mod strings;
mod transaction;
mod typed;

pub use crate::command::{Cmd, cmd};
pub use crate::error::HashStructError;
pub use crate::reply::FromReply;
pub(crate) use crate::reply::check as check_reply;
pub use hashes::HashCommands;
pub use keys::{ExpireOption, KeyCommands};
pub use lists::ListCommands;
pub use pipeline::Pipeline;
pub use pubsub::{
    DEFAULT_SUBSCRIBER_CAPACITY, Message, MessageKind, PubSubCommands, PubSubEvent, Subscriber,
};
pub use scan::{ScanOptions, ScanStream};
pub use script::{Script, ScriptInvocation, ScriptPipeline};
pub use server::{Info, ServerCommands};
pub use sets::SetCommands;
pub use sorted_sets::{SortedSetCommands, ZAddOptions, ZRangeOptions};
pub use streams::{
    AutoClaim, PendingEntry, PendingSummary, StreamBatch, StreamCommands, StreamEntry, StreamTrim,
    XAddOptions, XPendingOptions, XReadOptions,
};
pub use strings::{GetExOption, SetOptions, StringCommands};
pub use transaction::{Transaction, TransactionFuture};
pub use typed::{Executor, Prepare, Reply, TypedCmd};
