//! Observability: a `tracing` span per command and per batch in OpenTelemetry's database
//! conventions, counters for [`Client::stats`](crate::Client::stats), and (feature
//! `metrics`) the same numbers through the `metrics` facade.
//!
//! # Design
//!
//! The executors (the client's, a pooled connection's, a pipeline's, a transaction's) open
//! a `Call` where a command is submitted and finish it with the raw reply; everything
//! below them (the pool, the cluster router, the connection) only adds events, or records
//! the node it chose on the span that is current. Nothing here reads encoded bytes: the
//! span's name and attributes come from the [`Cmd`] value.
//!
//! Cost rules, which must hold together:
//!
//! - With no subscriber interested, a command pays one callsite check (a relaxed load) for
//!   its span and one relaxed atomic add for the counters; no field value is built, no string
//!   formatted, no clock read. Field values are expressions inside the span macro (evaluated
//!   only when the span is enabled) or guarded by [`Span::is_disabled`].
//! - The clock is read only for the `metrics` feature's duration histogram.
//! - `db.query.text` exists only when the configuration opts in, and then holds the command
//!   name followed by one `?` per argument: no argument value ever reaches a span, an event
//!   or a metric label, so `AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH` and `CONFIG SET
//!   requirepass` need no special case.
//! - Span fields are all declared at the callsite (tracing cannot add fields later), empty
//!   until known: a cluster call learns its node while routing, an outcome at the end.
//!
//! The spans are at `DEBUG` level, target `redis_manager::command`: a production filter at
//! `INFO` costs nothing per command; enable `redis_manager::command=debug` (or give an
//! OpenTelemetry layer its own filter) to export them. Every span carries `otel.name` (the
//! command name, which `tracing-opentelemetry` uses as the span name: tracing's own span
//! names are fixed at the callsite) and `otel.kind = "client"`.

//! # What is recorded
//!
//! | span (`otel.name`) | level | attributes |
//! |---|---|---|
//! | `redis.command` (the command: `GET`) | DEBUG | `db.system.name`, `db.operation.name`, `db.namespace`, `server.address`, `server.port` (the node, for a cluster), `db.query.text` (opt-in); on failure `error.type`, `db.response.status_code`, `otel.status_code` |
//! | `redis.batch` (`PIPELINE` or `MULTI`) | DEBUG | the same, and `db.operation.batch.size` (the user's commands) |
//! | `redis.connect` | INFO | `server.address`, `server.port`, `network.peer.address`, `network.peer.port` (the IP reached) |
//! | `redis.cluster.refresh` | DEBUG | reading the slot map; its events name nodes that failed |
//! | `redis.manager` (the manager's operation: `get_json`) | DEBUG | `redis.manager.operation`, `redis.manager.fallback` |
//!
//! Events: `reconnected` (INFO), `connect failed` (WARN), `MOVED`/`ASK` followed (DEBUG,
//! inside the command's span), cluster topology refreshes, sentinel master switches and a
//! demoted master (INFO), a subscriber's resubscription (INFO), a manager fallback (WARN).
//!
//! Metrics (feature `metrics`, through the `metrics` facade; names from OpenTelemetry's
//! database client conventions where one exists):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `db.client.operation.duration` (seconds) | histogram | `db.system.name`, `db.operation.name`; on failure `error.type`, `db.response.status_code` |
//! | `db.client.connection.count` | gauge | `db.system.name`, `db.client.connection.state` (`idle`, `used`) |
//! | `db.client.connection.wait_time` (seconds) | histogram | `db.system.name`: waiting for an exclusive connection |
//! | `db.client.connection.timeouts` | counter | `db.system.name`: that wait ran out |
//! | `redis.client.pending_requests` | gauge | commands sent or queued, not yet answered |
//! | `redis.client.connects`, `redis.client.reconnects`, `redis.client.connect_failures` | counter | |
//! | `redis.client.timeouts` | counter | `sent` (`true`: the outcome is unknown) |
//! | `redis.client.redirects` | counter | `kind` (`moved`, `ask`) |
//! | `redis.client.topology_refreshes` | counter | |
//! | `redis.client.pubsub.dropped`, `redis.client.pubsub.resubscribes` | counter | |
//! | `redis.client.cache.events` | counter | `event` (`hit`, `miss`, `invalidation`, `eviction`, `flush`, `refused`) |
//!
//! Install the recorder before creating clients: a client registers its per-call metric
//! handles with the recorder of its creation, once, so that a command builds no metric
//! key (a client made earlier reports its commands' durations to no recorder).
//!
//! [`Client::stats`](crate::Client::stats) counts the same events without any metrics stack.

mod stats;

#[cfg(feature = "metrics")]
use std::borrow::Cow;
use std::sync::Arc;

use resp_codec::Frame;
use tracing::Span;
use tracing::field::Empty;

pub use stats::ClientStats;
pub(crate) use stats::Stats;

use crate::command::Cmd;
use crate::config::ServerAddr;
use crate::error::Error;

/// The target of the command and batch spans, for filters.
pub const SPAN_TARGET: &str = "redis_manager::command";

/// The name of the command spans (`otel.name` holds the command name).
pub const COMMAND_SPAN: &str = "redis.command";

/// The name of the connect spans.
pub const CONNECT_SPAN: &str = "redis.connect";

/// The name of the pipeline and transaction spans.
pub const BATCH_SPAN: &str = "redis.batch";

/// What every call of one client shares: its counters and its span settings.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    pub(crate) stats: Stats,
    /// Record `db.query.text` (redacted) on spans.
    pub(crate) query_text: bool,
    /// The database index as text, `db.namespace` (the conventions make it a string),
    /// formatted once per client rather than per call.
    pub(crate) db: String,
    /// Metric handles registered once, with the recorder installed when the client was
    /// made (the `metrics` crate's advice for hot paths: no key is built per call).
    #[cfg(feature = "metrics")]
    pub(crate) metrics: stats::Handles,
}

/// The telemetry a call reports to: borrowed from the client for the duration of the call,
/// or shared (a call on a pooled connection, which the call borrows mutably).
pub(crate) enum Shared<'a> {
    Borrowed(&'a Telemetry),
    Owned(Arc<Telemetry>),
}

impl std::ops::Deref for Shared<'_> {
    type Target = Telemetry;

    fn deref(&self) -> &Telemetry {
        match self {
            Shared::Borrowed(t) => t,
            Shared::Owned(t) => t,
        }
    }
}

impl<'a> From<&'a Telemetry> for Shared<'a> {
    fn from(t: &'a Telemetry) -> Shared<'a> {
        Shared::Borrowed(t)
    }
}

impl From<Arc<Telemetry>> for Shared<'_> {
    fn from(t: Arc<Telemetry>) -> Self {
        Shared::Owned(t)
    }
}

/// One command or batch in flight, from submission to its outcome: its span, and what the
/// counters need at the end. Dropped unfinished (a cancelled call), it closes its span with
/// no outcome recorded.
pub(crate) struct Call<'a> {
    span: Span,
    telemetry: Shared<'a>,
    #[cfg(feature = "metrics")]
    metrics: stats::Timing,
}

impl<'a> Call<'a> {
    /// A call of one command sent to `endpoint` (`None` when routing decides it later).
    #[inline]
    pub(crate) fn command(
        telemetry: impl Into<Shared<'a>>,
        cmd: &Cmd,
        endpoint: Option<&ServerAddr>,
    ) -> Call<'a> {
        let telemetry = telemetry.into();
        let span = tracing::debug_span!(
            target: SPAN_TARGET,
            COMMAND_SPAN,
            otel.name = operation_name(cmd),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = "redis",
            db.operation.name = operation_name(cmd),
            db.namespace = telemetry.db.as_str(),
            db.query.text = Empty,
            server.address = endpoint.and_then(host),
            server.port = endpoint.and_then(port),
            error.type = Empty,
            db.response.status_code = Empty,
        );
        if telemetry.query_text && !span.is_disabled() {
            span.record("db.query.text", query_text(cmd).as_str());
        }
        #[cfg(feature = "metrics")]
        let metrics = stats::Timing::start(&telemetry.metrics, stats::op_label(cmd));
        Call {
            span,
            telemetry,
            #[cfg(feature = "metrics")]
            metrics,
        }
    }

    /// A call of a batch: a pipeline (`PIPELINE`) or a transaction (`MULTI`), of the user's
    /// `cmds` (`MULTI` and `EXEC` not counted).
    pub(crate) fn batch(
        telemetry: impl Into<Shared<'a>>,
        operation: &'static str,
        cmds: &[&Cmd],
        endpoint: Option<&ServerAddr>,
    ) -> Call<'a> {
        let telemetry = telemetry.into();
        let span = tracing::debug_span!(
            target: SPAN_TARGET,
            BATCH_SPAN,
            otel.name = operation,
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = "redis",
            db.operation.name = operation,
            db.operation.batch.size = cmds.len(),
            db.namespace = telemetry.db.as_str(),
            db.query.text = Empty,
            server.address = endpoint.and_then(host),
            server.port = endpoint.and_then(port),
            error.type = Empty,
            db.response.status_code = Empty,
        );
        if telemetry.query_text && !span.is_disabled() {
            span.record("db.query.text", batch_query_text(cmds).as_str());
        }
        #[cfg(feature = "metrics")]
        let metrics = stats::Timing::start(
            &telemetry.metrics,
            stats::op_label_of(Cow::Borrowed(operation)),
        );
        Call {
            span,
            telemetry,
            #[cfg(feature = "metrics")]
            metrics,
        }
    }

    /// The call's span: enter it while the call runs, so that the pool's events nest in it.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the outcome of a command: its raw reply (an error reply is an `Ok` frame).
    #[inline]
    pub(crate) fn finish(&self, reply: &Result<Frame, Error>) {
        let failure = match reply {
            Ok(Frame::SimpleError(e) | Frame::BulkError(e)) => Some(Failure::Server(e)),
            Ok(_) => None,
            Err(e) => Some(Failure::Client(e)),
        };
        self.end(failure);
    }

    /// Records the outcome of a batch: `Err` when the call failed as a whole (replies that
    /// are errors leave it a success, as they do for the caller).
    pub(crate) fn finish_batch<T>(&self, result: &Result<T, Error>) {
        self.end(result.as_ref().err().map(Failure::Client));
    }

    /// Records that a reply arrived but did not convert to what the caller asked for.
    pub(crate) fn conversion_failed(&self) {
        if !self.span.is_disabled() {
            self.span.record("error.type", "conversion");
            self.span.record("otel.status_code", "ERROR");
        }
    }

    fn end(&self, failure: Option<Failure<'_>>) {
        let t = &self.telemetry.stats;
        t.command();
        let Some(failure) = failure else {
            #[cfg(feature = "metrics")]
            self.metrics.finish(&self.telemetry.metrics, None, None);
            return;
        };
        let (kind, code) = failure.classify();
        t.failure(&failure);
        if !self.span.is_disabled() {
            self.span.record("error.type", kind);
            self.span.record("otel.status_code", "ERROR");
            if let Some(code) = code {
                self.span.record("db.response.status_code", code);
            }
        }
        #[cfg(feature = "metrics")]
        self.metrics
            .finish(&self.telemetry.metrics, Some(kind), code);
    }
}

#[cfg(feature = "metrics")]
impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.telemetry.metrics.pending.decrement(1.0);
    }
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Call")
    }
}

/// How a call failed.
pub(crate) enum Failure<'a> {
    /// An error reply, its text.
    Server(&'a [u8]),
    /// A client-side error: I/O, timeout, pool, ...
    Client(&'a Error),
}

impl Failure<'_> {
    /// `error.type` and, for server errors, `db.response.status_code`.
    fn classify(&self) -> (&str, Option<&str>) {
        match self {
            Failure::Server(text) => {
                let code = status_code(text);
                (code, Some(code))
            }
            Failure::Client(e) => match e.server_error() {
                Some(s) => {
                    let code = status_code(s.code().as_bytes());
                    (code, Some(code))
                }
                None => (error_type(e), None),
            },
        }
    }
}

/// The server error's prefix (`ERR`, `WRONGTYPE`, `MOVED`...): its first word when that
/// looks like an error code (upper-case letters, digits, `_` and `-`, at most 32 bytes),
/// otherwise `ERR`. The rest of an error reply may quote user data; a prefix that is not a
/// code (a script's `error_reply` with free text) is not passed on.
pub(crate) fn status_code(text: &[u8]) -> &str {
    let word = text.split(|&b| b == b' ').next().unwrap_or_default();
    let is_code = !word.is_empty()
        && word.len() <= 32
        && word
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    match std::str::from_utf8(word) {
        Ok(w) if is_code => w,
        _ => "ERR",
    }
}

/// `error.type` of a client-side error: a short, stable, low-cardinality class.
pub(crate) fn error_type(e: &Error) -> &'static str {
    match e {
        Error::Io(_) => "io",
        Error::Protocol(_) => "protocol",
        Error::Server(_) | Error::Auth(_) => "server",
        Error::Timeout { .. } => "timeout",
        Error::ConnectionClosed { .. } => "connection_closed",
        Error::UnexpectedReply => "unexpected_reply",
        Error::PoolTimeout { .. } => "pool_timeout",
        Error::Backoff { .. } => "backoff",
        Error::Closed => "closed",
        Error::Config(_) => "config",
        Error::Conversion(_) => "conversion",
        Error::TransactionAborted => "transaction_aborted",
        Error::HashStruct(_) => "hash_struct",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::CrossSlot { .. } => "cross_slot",
        Error::NoMaster { .. } => "no_master",
        Error::ScanUnsettled { .. } => "scan_unsettled",
        Error::Credentials(_) => "credentials",
        Error::Tls(_) => "tls",
    }
}

/// `db.operation.name`: the command name as given, when it looks like one (letters,
/// digits, `.`, `_`, `-`, `|`, at most 64 bytes; module commands are `JSON.GET`), else
/// `UNKNOWN`. A `cmd("SET key value")` written as one word must not put its value here.
pub(crate) fn operation_name(cmd: &Cmd) -> &str {
    let name = cmd.name_bytes();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'|'));
    if ok { cmd.name() } else { "UNKNOWN" }
}

/// `db.query.text` of one command: its name, then `?` for every argument.
pub(crate) fn query_text(cmd: &Cmd) -> String {
    let mut text = String::with_capacity(16 + 2 * cmd.len());
    push_query_text(&mut text, cmd);
    text
}

/// Batches longer than this show their first commands and a count of the rest.
const BATCH_TEXT_COMMANDS: usize = 32;

/// `db.query.text` of a batch: its commands' texts joined by `; `.
fn batch_query_text(cmds: &[&Cmd]) -> String {
    let mut text = String::new();
    for (i, c) in cmds.iter().take(BATCH_TEXT_COMMANDS).enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        push_query_text(&mut text, c);
    }
    if cmds.len() > BATCH_TEXT_COMMANDS {
        use std::fmt::Write;
        let _ = write!(text, "; … {} more", cmds.len() - BATCH_TEXT_COMMANDS);
    }
    text
}

fn push_query_text(text: &mut String, cmd: &Cmd) {
    text.push_str(operation_name(cmd));
    for _ in 1..cmd.len() {
        text.push_str(" ?");
    }
}

fn host(e: &ServerAddr) -> Option<&str> {
    match e {
        ServerAddr::Tcp { host, .. } => Some(host),
        ServerAddr::Unix(path) => path.to_str(),
    }
}

fn port(e: &ServerAddr) -> Option<u16> {
    match e {
        ServerAddr::Tcp { port, .. } => Some(*port),
        ServerAddr::Unix(_) => None,
    }
}

/// The span of one connect and handshake to `endpoint` (`INFO`: connects are rare, and a
/// slow one explains a slow command).
pub(crate) fn connect_span(endpoint: &ServerAddr) -> Span {
    tracing::info_span!(
        target: "redis_manager::connection",
        CONNECT_SPAN,
        otel.kind = "client",
        db.system.name = "redis",
        server.address = host(endpoint),
        server.port = port(endpoint),
        network.peer.address = Empty,
        network.peer.port = Empty,
    )
}

/// Records on the current connect span the address the TCP connection reached (the
/// resolved IP of `server.address`).
pub(crate) fn record_peer(peer: Option<std::net::SocketAddr>) {
    let span = Span::current();
    if let Some(peer) = peer
        && span.metadata().is_some_and(|m| m.name() == CONNECT_SPAN)
    {
        span.record("network.peer.address", peer.ip().to_string().as_str());
        span.record("network.peer.port", peer.port());
    }
}

/// The span of one manager operation (`get_json`, `acquire_lock`, ...), named `op`: its
/// commands' spans nest in it, and a fallback to the default is an event on it (with
/// `redis.manager.fallback = true`).
pub(crate) fn manager_span(op: &'static str) -> Span {
    tracing::debug_span!(
        target: "redis_manager::manager",
        "redis.manager",
        otel.name = op,
        redis.manager.operation = op,
        redis.manager.fallback = Empty,
    )
}

/// Records on the current command span the node a cluster call was routed to (the last
/// one, after redirections). A no-op when no command span is current.
pub(crate) fn record_node(addr: &ServerAddr) {
    let span = Span::current();
    if span.metadata().is_some_and(|m| m.target() == SPAN_TARGET) {
        span.record("server.address", host(addr));
        span.record("server.port", port(addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::cmd;

    #[test]
    fn query_text_replaces_every_argument() {
        let cases = [
            (cmd("GET").arg("k"), "GET ?"),
            (cmd("AUTH").arg("user").arg("pw"), "AUTH ? ?"),
            (
                cmd("CONFIG").arg("SET").arg("requirepass").arg("pw"),
                "CONFIG ? ? ?",
            ),
            (cmd("PING"), "PING"),
            (cmd("SET secret value"), "UNKNOWN"),
        ];
        for (c, want) in cases {
            assert_eq!(query_text(&c), want);
        }
    }

    #[test]
    fn batch_text_is_capped() {
        let cmds: Vec<Cmd> = (0..40).map(|i| cmd("GET").arg(i)).collect();
        let refs: Vec<&Cmd> = cmds.iter().collect();
        let text = batch_query_text(&refs);
        assert!(text.starts_with("GET ?; GET ?"));
        assert!(text.ends_with("… 8 more"), "{text}");
    }

    #[test]
    fn status_code_is_the_prefix_when_it_looks_like_one() {
        let cases: [(&[u8], &str); 5] = [
            (b"WRONGTYPE Operation against a key", "WRONGTYPE"),
            (b"ERR unknown command", "ERR"),
            (b"MOVED 3999 127.0.0.1:6381", "MOVED"),
            (b"my secret text", "ERR"),
            (b"", "ERR"),
        ];
        for (text, want) in cases {
            assert_eq!(status_code(text), want);
        }
    }
}
