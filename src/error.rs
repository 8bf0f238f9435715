//! [`Error`]: every way a Redis operation can fail, split by origin, with predicates.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use resp_codec::DecodeError;

pub use crate::config::{ConfigError, CredentialsError};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed.
///
/// Cloneable, because one connection failure is reported to every request that was waiting on
/// that connection. The variants say where the failure came from; the predicates
/// ([`Error::is_timeout`], [`Error::is_outcome_unknown`], ...) answer the questions callers
/// usually ask.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the socket failed, or connecting did.
    #[error("i/o error")]
    Io(#[source] Arc<io::Error>),
    /// The server sent bytes that are not valid RESP (or exceed the decoder's limits). The
    /// connection is closed.
    #[error("protocol error")]
    Protocol(#[source] DecodeError),
    /// The server answered with an error reply.
    #[error(transparent)]
    Server(ServerError),
    /// The server rejected the credentials (`WRONGPASS`, or `ERR invalid password` from old
    /// servers).
    #[error("authentication failed")]
    Auth(#[source] ServerError),
    /// The call's timeout ran out, counted from the call: no reply arrived in time, or (with
    /// `sent: false`) the connection it needed could not be made or taken in time. If the
    /// request had been written, its outcome is unknown: the server may or may not have
    /// executed it.
    #[error("timed out after {after:?}")]
    Timeout {
        /// The timeout that expired.
        after: Duration,
        /// True when the request was (or may have been) written before the timeout.
        sent: bool,
    },
    /// The connection closed or failed while the request was outstanding. `cause` says why
    /// (an I/O or protocol error, a timeout of another request, a shutdown).
    #[error("connection lost")]
    ConnectionClosed {
        /// True when the request was (or may have been) written: its outcome is unknown.
        sent: bool,
        /// What ended the connection, when known.
        #[source]
        cause: Option<Box<Error>>,
    },
    /// The server sent a reply when no request was waiting for one. The connection is closed.
    #[error("unexpected reply from server")]
    UnexpectedReply,
    /// No pooled connection became free within the acquire timeout.
    #[error("no connection available within {waited:?}")]
    PoolTimeout {
        /// How long the caller waited.
        waited: Duration,
    },
    /// Connecting to `endpoint` failed moments ago and the client is backing off before it
    /// tries again (a circuit breaker): the call failed at once, without a connect attempt
    /// and without waiting. Nothing was sent. Not a timeout, even when `cause` is one.
    #[error("not connecting to {endpoint}: down for {failures} attempt(s), backing off")]
    Backoff {
        /// The server that could not be reached.
        endpoint: crate::config::ServerAddr,
        /// When the first of the consecutive failed connect attempts started.
        since: std::time::Instant,
        /// When the next connect attempt will be allowed (earlier, if a probe finds the
        /// server listening again).
        retry_at: std::time::Instant,
        /// How many connect attempts in a row have failed.
        failures: u32,
        /// The error of the last connect attempt.
        #[source]
        cause: Box<Error>,
    },
    /// The client was shut down.
    #[error("client is closed")]
    Closed,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A reply did not have the shape the caller asked for.
    #[error(transparent)]
    Conversion(#[from] ConversionError),
    /// A `MULTI`/`EXEC` transaction did not run because a `WATCH`ed key changed (`EXEC`
    /// returned null). Nothing in it was executed; it is safe to retry.
    #[error("transaction aborted: a watched key changed")]
    TransactionAborted,
    /// A struct could not be written as a hash, or a hash read into a struct
    /// ([`HashCommands::hset_struct`](crate::HashCommands::hset_struct),
    /// [`HashCommands::hgetall_struct`](crate::HashCommands::hgetall_struct)).
    #[error(transparent)]
    HashStruct(HashStructError),
    /// An argument given to a command is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// On a cluster, the keys of one command (or of one transaction) are in different hash
    /// slots, and the command cannot be split into one per slot. Nothing was sent. Put the
    /// keys in one slot with a hash tag: `{user1}:a` and `{user1}:b` share a slot.
    #[error("keys of {command} are in different cluster slots")]
    CrossSlot {
        /// The command, in upper case (`MSET`, `EVALSHA`, `MULTI`...).
        command: String,
    },
    /// No sentinel named a reachable master for the monitored name, or the node it named
    /// is not a master (a failover in progress). Nothing was sent; retrying later is safe.
    #[error("no master found for {name} through the sentinels")]
    NoMaster {
        /// The master name the sentinels monitor (`REDIS_SENTINEL_MASTER`).
        name: String,
    },
    /// A cluster-wide `SCAN` found slots still moving between masters after
    /// [`rechecks`](Error::ScanUnsettled::rechecks) rounds of rescanning the nodes they moved
    /// to, so keys that moved during the scan may have been missed. The keys already returned
    /// are valid; a new scan once the resharding is over is complete.
    #[error("slots kept moving during a cluster SCAN ({rechecks} rechecks)")]
    ScanUnsettled {
        /// How many times the scan re-read the slot map and rescanned.
        rechecks: u32,
    },
    /// The [`CredentialsProvider`](crate::config::CredentialsProvider) could not give
    /// credentials for a handshake: nothing was sent on that connection, and it was closed.
    #[error(transparent)]
    Credentials(CredentialsError),
    /// The TLS handshake or session failed (feature `tls`); [`TlsError::kind`] says why (an
    /// untrusted CA, a certificate for another name, a server that wants a client
    /// certificate, a peer that does not speak TLS...). The connection is closed.
    #[error("tls error")]
    Tls(#[source] TlsError),
}

/// Why a TLS handshake or session failed: [`TlsError::kind`] to match on, and the TLS
/// library's own error as [`source`](std::error::Error::source) (a
/// [`rustls::Error`](crate::config::rustls::Error) to downcast to for the finest detail).
/// The type of this crate's errors does not change with the TLS library's version.
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    /// The TLS library's error. Shared: errors are cloned to every waiting request.
    inner: Arc<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind.describe())
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The error itself, not the Arc around it, so that callers can downcast it.
        Some(&*self.inner)
    }
}

/// The kinds of [`TlsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate was not issued by a trusted CA (a private CA not given
    /// with a CA file, or the platform roots that do not hold it).
    UnknownIssuer,
    /// The server's certificate is not valid for the name verified (the host, or the
    /// `server_name` setting).
    NotValidForName,
    /// The server's certificate has expired or is not valid yet.
    Expired,
    /// The server's certificate was refused for another reason (revoked, bad signature,
    /// wrong usage...).
    InvalidCertificate,
    /// The server asked for a client certificate and got none (or one it refused): set
    /// one with [`TlsOptionsBuilder::client_cert`](crate::config::TlsOptionsBuilder::client_cert).
    CertificateRequired,
    /// The server ended the handshake with another TLS alert.
    AlertReceived,
    /// The peer does not speak TLS (a plain-text port?), or broke the protocol.
    Protocol,
    /// The TLS configuration cannot be used: a private key that does not match its
    /// certificate.
    Config,
    /// Anything else the TLS library reports.
    Other,
}

impl TlsErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TlsErrorKind::UnknownIssuer => "certificate issued by an untrusted ca",
            TlsErrorKind::NotValidForName => "certificate not valid for the server name",
            TlsErrorKind::Expired => "certificate expired or not yet valid",
            TlsErrorKind::InvalidCertificate => "invalid certificate",
            TlsErrorKind::CertificateRequired => "the server requires a client certificate",
            TlsErrorKind::AlertReceived => "alert received from the server",
            TlsErrorKind::Protocol => "the peer does not speak tls",
            TlsErrorKind::Config => "unusable tls configuration",
            TlsErrorKind::Other => "tls failure",
        }
    }
}

impl TlsError {
    /// Why the handshake or session failed.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }
}

#[cfg(feature = "tls")]
impl From<tokio_rustls::rustls::Error> for TlsError {
    fn from(e: tokio_rustls::rustls::Error) -> TlsError {
        use tokio_rustls::rustls::{AlertDescription as A, CertificateError as C, Error as E};
        let kind = match &e {
            E::InvalidCertificate(C::UnknownIssuer) => TlsErrorKind::UnknownIssuer,
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                TlsErrorKind::NotValidForName
            }
            E::InvalidCertificate(
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. },
            ) => TlsErrorKind::Expired,
            E::InvalidCertificate(_) | E::NoCertificatesPresented => {
                TlsErrorKind::InvalidCertificate
            }
            E::AlertReceived(A::CertificateRequired) => TlsErrorKind::CertificateRequired,
            E::AlertReceived(_) => TlsErrorKind::AlertReceived,
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. } => TlsErrorKind::Protocol,
            E::InconsistentKeys(_) => TlsErrorKind::Config,
            _ => TlsErrorKind::Other,
        };
        TlsError {
            kind,
            inner: Arc::new(e),
        }
    }
}

#[cfg(feature = "tls")]
impl From<tokio_rustls::rustls::Error> for Error {
    fn from(e: tokio_rustls::rustls::Error) -> Error {
        Error::Tls(e.into())
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Error {
        Error::Tls(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // tokio-rustls reports TLS failures (handshake and later alerts) as I/O errors
        // wrapping the rustls error; give them their own variant so callers can match them.
        #[cfg(feature = "tls")]
        if let Some(tls) = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<tokio_rustls::rustls::Error>())
        {
            return Error::Tls(tls.clone().into());
        }
        Error::Io(Arc::new(e))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Protocol(e)
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        Error::Server(e)
    }
}

impl Error {
    /// True for a response or connect timeout: this call waited its whole timeout. Not for
    /// [`Error::Backoff`], which fails at once (see [`Error::is_backoff`]).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Io(e) => e.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// True when the call failed at once because the client is backing off from a server it
    /// could not reach moments ago ([`Error::Backoff`]); the last connect error is its
    /// `cause` (see [`std::error::Error::source`]).
    pub fn is_backoff(&self) -> bool {
        matches!(self, Error::Backoff { .. })
    }

    /// True when a request may have reached the server but no reply was received: retrying
    /// it could execute it twice.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            Error::Timeout { sent: true, .. } | Error::ConnectionClosed { sent: true, .. }
        )
    }

    /// True for failures of the connection itself (I/O, TLS, protocol, closed, no master
    /// found through Sentinel, backing off from an unreachable server, no credentials from
    /// the provider), as opposed to a server error reply or a conversion error.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Tls(_)
                | Error::Credentials(_)
                | Error::Protocol(_)
                | Error::ConnectionClosed { .. }
                | Error::Timeout { .. }
                | Error::Closed
                | Error::UnexpectedReply
                | Error::NoMaster { .. }
                | Error::Backoff { .. }
        )
    }

    /// True when the server sent invalid RESP, on this request's connection (directly or as
    /// the cause of a lost connection).
    pub fn is_protocol_error(&self) -> bool {
        match self {
            Error::Protocol(_) | Error::UnexpectedReply => true,
            Error::ConnectionClosed { cause: Some(c), .. } => c.is_protocol_error(),
            _ => false,
        }
    }

    /// True for requests that were never written to any server: retrying them cannot execute
    /// anything twice.
    pub fn is_unsent(&self) -> bool {
        matches!(
            self,
            Error::ConnectionClosed { sent: false, .. }
                | Error::Timeout { sent: false, .. }
                | Error::NoMaster { .. }
                | Error::Backoff { .. }
        )
    }

    /// A lost-connection error for a request, keeping `self` as the cause.
    pub(crate) fn lost(&self, sent: bool) -> Error {
        match self {
            Error::ConnectionClosed { cause, .. } => Error::ConnectionClosed {
                sent,
                cause: cause.clone(),
            },
            other => Error::ConnectionClosed {
                sent,
                cause: Some(Box::new(other.clone())),
            },
        }
    }

    /// The server error, for error replies and authentication failures.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) | Error::Auth(e) => Some(e),
            _ => None,
        }
    }

    /// The server's error code (`WRONGTYPE`, `NOSCRIPT`, `NOPERM`, ...), if this is a server
    /// error.
    pub fn code(&self) -> Option<&str> {
        self.server_error().map(ServerError::code)
    }

    /// True when the server rejected the credentials.
    pub fn is_auth_error(&self) -> bool {
        matches!(self, Error::Auth(_))
    }

    /// True when an ACL rule denied the command (`NOPERM`).
    pub fn is_permission_error(&self) -> bool {
        self.code() == Some("NOPERM")
    }
}

/// An error reply from the server: `-CODE message` or a RESP3 bulk error.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("server error {code}: {message}", code = self.code(), message = self.message())]
pub struct ServerError {
    text: Bytes,
    code_len: usize,
}

impl ServerError {
    /// Parses the text of an error reply; the code is its first word.
    pub fn new(text: Bytes) -> Self {
        let code_len = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        ServerError { text, code_len }
    }

    /// The error code, the first word of the reply (`ERR`, `WRONGTYPE`, `MOVED`, ...).
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.text[..self.code_len]).unwrap_or("ERR")
    }

    /// The text after the code.
    pub fn message(&self) -> &str {
        let rest = self.text.get(self.code_len + 1..).unwrap_or_default();
        std::str::from_utf8(rest).unwrap_or("<non-utf8 error message>")
    }

    /// The whole reply text, code included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.text
    }
}

impl std::fmt::Debug for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerError")
            .field("code", &self.code())
            .field("message", &self.message())
            .finish()
    }
}

/// A reply could not be converted into the requested Rust type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot convert {got} reply into {expected}")]
#[non_exhaustive]
pub struct ConversionError {
    /// The Rust type (or shape) that was asked for.
    pub expected: &'static str,
    /// The kind of reply received.
    pub got: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_splits_code_and_message() {
        let e = ServerError::new(Bytes::from_static(b"WRONGTYPE Operation against a key"));
        assert_eq!(e.code(), "WRONGTYPE");
        assert_eq!(e.message(), "Operation against a key");
        let e = ServerError::new(Bytes::from_static(b"NOSCRIPT"));
        assert_eq!((e.code(), e.message()), ("NOSCRIPT", ""));
        assert!(Error::Server(ServerError::new("NOPERM no".into())).is_permission_error());
    }

    #[test]
    fn only_sent_requests_have_unknown_outcomes() {
        let lost =
            Error::Protocol(resp_codec::DecodeError::TooDeep { offset: 0, max: 1 }).lost(true);
        assert!(lost.is_outcome_unknown() && lost.is_protocol_error());
        assert!(!Error::Closed.lost(false).is_outcome_unknown());
        assert!(Error::Closed.lost(false).is_unsent());
        let t = Error::Timeout {
            after: Duration::from_secs(1),
            sent: true,
        };
        assert!(t.is_timeout() && t.is_outcome_unknown());
    }
}

/// Why a struct could not be written as a hash, or a hash read into a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashStructError {
    /// The value written is not a struct (a map, a sequence, a number, ...).
    NotAStruct {
        /// What it is instead (`"map"`, `"sequence"`, `"i64"`, ...).
        kind: &'static str,
    },
    /// A field's type has no flat representation: a nested struct, a map, a sequence, a
    /// tuple, an enum variant with data or a unit.
    Unsupported {
        /// The struct field.
        field: String,
        /// What the field holds (`"struct"`, `"sequence"`, ...).
        kind: &'static str,
    },
    /// A value in the hash does not parse as its field's type.
    Invalid {
        /// The hash field.
        field: String,
        /// The type it should have held (`"integer"`, `"bool"`, ...).
        expected: &'static str,
    },
    /// Reported by the struct's `Deserialize`/`Serialize` implementation: a missing field,
    /// an unknown variant name, an unknown field under `deny_unknown_fields`, ...
    Custom {
        /// The hash field, when the error is about one.
        field: Option<String>,
        /// The message.
        message: String,
    },
}

impl std::fmt::Display for HashStructError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashStructError::NotAStruct { kind } => {
                write!(f, "only a struct can be stored as a hash, not a {kind}")
            }
            HashStructError::Unsupported { field, kind } => {
                write!(
                    f,
                    "field `{field}`: a {kind} cannot be stored in a hash field"
                )
            }
            HashStructError::Invalid { field, expected } => {
                write!(f, "field `{field}`: the value is not a valid {expected}")
            }
            HashStructError::Custom {
                field: Some(field),
                message,
            } => write!(f, "field `{field}`: {message}"),
            HashStructError::Custom {
                field: None,
                message,
            } => f.write_str(message),
        }
    }
}

impl std::error::Error for HashStructError {}
