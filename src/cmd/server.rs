//! Typed commands: server and connection (`ECHO`, `INFO`, `DBSIZE`, `FLUSHDB`, `TIME`,
//! `CLIENT ID/SETNAME/GETNAME`). `PING` is `Client::ping`.
//!
//! `CLIENT SETNAME` and `CLIENT ID` run on the shared multiplexed connection: the name is that
//! connection's and is lost when it reconnects. To name every connection, set the name in
//! the configuration (`Config::client_name`), which the handshake applies on each connect.
//!
//! # Examples
//!
//! ```no_run
//! # use redis_manager::prelude::*;
//! # async fn demo(client: redis_manager::Client) -> redis_manager::Result<()> {
//! let info = client.info(&["server", "memory"]).await?;
//! let version = info.get("server", "redis_version").unwrap_or("?");
//! let keys = client.dbsize().await?;
//! let now = client.time().await?;
//! # let _ = (version, keys, now); Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use resp_codec::ToArg;

use super::FromReply;
use super::typed::{Executor, TypedCmd};
use crate::command::cmd;
use crate::error::{ConversionError, Error};

/// The reply of `INFO`, parsed into sections of `field:value` lines.
///
/// Section names are lower case (`"server"`, `"clients"`, `"memory"`, `"keyspace"`, ...),
/// as `INFO` accepts them; field names and values are as the server wrote them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    sections: HashMap<String, HashMap<String, String>>,
}

impl Info {
    /// Parses the text of an `INFO` reply: `# Section` headers, `field:value` lines, blank
    /// lines between sections. Lines of any other form are ignored.
    pub fn parse(text: &str) -> Info {
        let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut current = String::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(name) = line.strip_prefix('#') {
                current = name.trim().to_ascii_lowercase();
                sections.entry(current.clone()).or_default();
            } else if let Some((field, value)) = line.split_once(':') {
                sections
                    .entry(current.clone())
                    .or_default()
                    .insert(field.to_owned(), value.to_owned());
            }
        }
        Info { sections }
    }

    /// The value of `field` in `section`.
    pub fn get(&self, section: &str, field: &str) -> Option<&str> {
        self.sections
            .get(&section.to_ascii_lowercase())?
            .get(field)
            .map(String::as_str)
    }

    /// The value of `field` in whichever section holds it.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.sections
            .values()
            .find_map(|s| s.get(field))
            .map(String::as_str)
    }

    /// One section's fields.
    pub fn section(&self, section: &str) -> Option<&HashMap<String, String>> {
        self.sections.get(&section.to_ascii_lowercase())
    }

    /// Every section, by lower-case name.
    pub fn sections(&self) -> &HashMap<String, HashMap<String, String>> {
        &self.sections
    }
}

/// Typed server commands, declared once: they run on any [`Executor`].
pub trait ServerCommands: Executor {
    /// `ECHO message`: the message back.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn echo(self, message: impl ToArg) -> Self::Run<Bytes> {
        self.run(TypedCmd::new(cmd("ECHO").arg(message)))
    }

    /// `INFO [section...]`: server information, parsed. An empty `sections` asks for the
    /// default set; `&["all"]` or `&["everything"]` for more.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn info(self, sections: &[&str]) -> Self::Run<Info> {
        self.run(TypedCmd::with(cmd("INFO").args(sections), |frame| {
            Ok(Info::parse(&String::from_reply(frame)?))
        }))
    }

    /// `DBSIZE`: the number of keys in the selected database.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn dbsize(self) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("DBSIZE")))
    }

    /// `FLUSHDB`: deletes every key of the selected database (synchronously).
    ///
    /// # Errors
    ///
    /// Connection errors; `NOPERM` when an ACL forbids it.
    fn flushdb(self) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("FLUSHDB")))
    }

    /// `FLUSHDB ASYNC`: empties the selected database at once and frees the memory in a
    /// background thread, so a large database does not block the server.
    ///
    /// # Errors
    ///
    /// Connection errors; `NOPERM` when an ACL forbids it.
    fn flushdb_async(self) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("FLUSHDB").arg("ASYNC")))
    }

    /// `TIME`: the server's clock.
    ///
    /// # Errors
    ///
    /// Connection errors; a conversion error for a reply that is not two numbers.
    fn time(self) -> Self::Run<SystemTime> {
        self.run(TypedCmd::with(cmd("TIME"), |frame| {
            let (secs, micros) = <(u64, u64)>::from_reply(frame)?;
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(secs) + Duration::from_micros(micros))
                .ok_or(Error::Conversion(ConversionError {
                    expected: "time",
                    got: "out-of-range time",
                }))
        }))
    }

    /// `CLIENT ID`: the server-side id of the shared connection.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn client_id(self) -> Self::Run<i64> {
        self.run(TypedCmd::new(cmd("CLIENT").arg("ID")))
    }

    /// `CLIENT SETNAME name` on the shared connection (see the module documentation: the
    /// name does not survive a reconnect). The name may not contain spaces.
    ///
    /// # Errors
    ///
    /// Connection errors; a server error for a name with spaces or newlines.
    fn client_setname(self, name: impl ToArg) -> Self::Run<()> {
        self.run(TypedCmd::new(cmd("CLIENT").arg("SETNAME").arg(name)))
    }

    /// `CLIENT GETNAME`: the shared connection's name, `None` when it has none.
    ///
    /// # Errors
    ///
    /// Connection errors.
    fn client_getname(self) -> Self::Run<Option<String>> {
        self.run(TypedCmd::new(cmd("CLIENT").arg("GETNAME")))
    }
}

impl<E: Executor> ServerCommands for E {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_parses_into_lower_case_sections() {
        let text = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n\r\n# Keyspace\r\n\
                    db0:keys=3,expires=0,avg_ttl=0\r\n";
        let info = Info::parse(text);
        assert_eq!(info.get("server", "redis_version"), Some("7.0.15"));
        assert_eq!(info.get("Server", "run_id"), Some("abc"));
        assert_eq!(info.field("db0"), Some("keys=3,expires=0,avg_ttl=0"));
        assert_eq!(info.get("keyspace", "missing"), None);
        assert_eq!(info.sections().len(), 2);
    }
}
