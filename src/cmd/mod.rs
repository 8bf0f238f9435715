//! Commands: the raw [`cmd`] builder and reply conversions ([`FromReply`]).

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

pub use crate::command::{Cmd, cmd};
pub use crate::reply::FromReply;
pub(crate) use crate::reply::check as check_reply;
pub use keys::ExpireOption;
pub use pipeline::Pipeline;
pub use pubsub::{DEFAULT_SUBSCRIBER_CAPACITY, Message, MessageKind, PubSubEvent, Subscriber};
pub use scan::{ScanOptions, ScanStream};
pub use script::{Script, ScriptInvocation, ScriptPipeline};
pub use server::Info;
pub use sorted_sets::{ZAddOptions, ZRangeOptions};
pub use streams::{
    AutoClaim, PendingEntry, PendingSummary, StreamBatch, StreamEntry, StreamTrim, XAddOptions,
    XPendingOptions, XReadOptions,
};
pub use strings::{GetExOption, SetOptions};
pub use transaction::{Transaction, TransactionFuture};
