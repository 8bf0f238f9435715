//! Commands: the raw [`cmd`] builder and reply conversions ([`FromReply`]).

mod hashes;
mod keys;
mod lists;
mod pipeline;
mod pubsub;
mod reply;
mod scan;
mod script;
mod server;
mod sets;
mod sorted_sets;
mod streams;
mod strings;
mod transaction;

use bytes::BytesMut;
use resp_codec::{ToArg, encode_array_header, encode_bulk};

pub use keys::ExpireOption;
pub use pipeline::Pipeline;
pub use pubsub::{DEFAULT_SUBSCRIBER_CAPACITY, Message, MessageKind, PubSubEvent, Subscriber};
pub use reply::FromReply;
pub(crate) use reply::check as check_reply;
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

/// Starts a command by name, for anything the typed methods do not cover.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
/// use redis_manager::cmd;
///
/// let n: i64 = client.query(cmd("INCRBY").arg("counter").arg(5)).await?;
/// let info: String = client.query(cmd("CLIENT").arg("INFO")).await?;
/// # let _ = (n, info); Ok(()) }
/// ```
pub fn cmd(name: &str) -> Cmd {
    Cmd::new(name)
}

/// A command and its arguments, already in wire form.
///
/// Arguments are encoded as they are added, so a `Cmd` holds one buffer and no per-argument
/// allocations; sending it copies that buffer into the connection's write queue.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    body: BytesMut,
    argc: usize,
}

impl Cmd {
    /// A command named `name` with no arguments yet.
    pub fn new(name: &str) -> Cmd {
        let mut c = Cmd {
            body: BytesMut::with_capacity(64),
            argc: 0,
        };
        c.push_arg(name);
        c
    }

    /// A command from its encoded arguments (bulk strings, name first) and their count.
    pub(crate) fn from_parts(body: BytesMut, argc: usize) -> Cmd {
        Cmd { body, argc }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl ToArg) -> Cmd {
        self.push_arg(arg);
        self
    }

    /// Adds every argument yielded by `args`.
    pub fn args<I>(mut self, args: I) -> Cmd
    where
        I: IntoIterator,
        I::Item: ToArg,
    {
        for a in args {
            self.push_arg(a);
        }
        self
    }

    /// Adds one argument in place.
    pub fn push_arg(&mut self, arg: impl ToArg) -> &mut Cmd {
        encode_bulk(&mut self.body, &arg.to_arg());
        self.argc += 1;
        self
    }

    /// Number of words, the command name included.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Always false: a command has at least its name.
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// The command name as given, for logs.
    pub fn name(&self) -> &str {
        self.arg_bytes(0)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("?")
    }

    /// The bytes of argument `i` (0 is the command name).
    pub fn arg_bytes(&self, i: usize) -> Option<&[u8]> {
        let mut rest = &self.body[..];
        for n in 0..=i {
            let nl = rest.iter().position(|&b| b == b'\n')?;
            let len: usize = std::str::from_utf8(&rest[1..nl - 1]).ok()?.parse().ok()?;
            let payload = rest.get(nl + 1..nl + 1 + len)?;
            if n == i {
                return Some(payload);
            }
            rest = rest.get(nl + 1 + len + 2..)?;
        }
        None
    }

    /// Appends the whole command in RESP form to `dst`.
    pub fn write_to(&self, dst: &mut BytesMut) {
        dst.reserve(self.body.len() + 16);
        encode_array_header(dst, self.argc);
        dst.extend_from_slice(&self.body);
    }
}

impl std::fmt::Debug for Cmd {
    /// Shows the command name and the number of arguments, never their values: arguments can
    /// be passwords (`AUTH`, `HELLO ... AUTH`, `MIGRATE ... AUTH`) or user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cmd")
            .field("name", &self.name())
            .field("args", &(self.argc.saturating_sub(1)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encodes_as_an_array_of_bulk_strings() {
        let c = cmd("SET").arg("k").arg(42).arg(1.5);
        let mut out = BytesMut::new();
        c.write_to(&mut out);
        assert_eq!(
            &out[..],
            b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$3\r\n1.5\r\n"
        );
        assert_eq!(c.arg_bytes(2), Some(&b"42"[..]));
        assert_eq!(c.arg_bytes(4), None);
        assert_eq!(c.name(), "SET");
    }

    #[test]
    fn debug_never_shows_arguments() {
        let c = cmd("AUTH").arg("user").arg("hunter2");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("AUTH"),
            "{shown}"
        );
    }
}
