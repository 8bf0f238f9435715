//! Connection URLs: [`Config::from_url`], the parser, percent-decoding, and the redaction
//! that keeps passwords out of errors.
//!
//! Parsed by hand: the grammar is small and the `url` crate would be a dependency for one
//! function. Every error reason is a fixed string, never a slice of the input, so a
//! malformed URL cannot leak part of a password through it.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::invalid;
use super::{
    Admission, CacheConfig, Config, ConfigError, DEFAULT_PORT, DEFAULT_SENTINEL_PORT, Protocol,
    ServerAddr, TlsOptions, TrackingMode,
};

impl Config {
    /// A default configuration with the connection fields given by `url`.
    ///
    /// Accepted forms (schemes in any case):
    ///
    /// - `redis://[user[:password]@]host[:port][/db]`, where `host` may be an IPv6 address
    ///   in brackets (`redis://[::1]:6380`), the user name and password are
    ///   percent-decoded, and `redis://:password@host` gives a password without a user name;
    /// - `rediss://...`, the same over TLS with [`TlsOptions::new`] (full verification, the
    ///   host as the name to verify); set CA and client certificate files with
    ///   [`ConfigBuilder::tls`](super::ConfigBuilder::tls) or the `REDIS_TLS_*` variables;
    /// - `unix:///path/to/redis.sock` and `redis+unix:///path/to/redis.sock`, optionally
    ///   with credentials before the path (`unix://user:password@/path`);
    /// - `redis+cluster://[user[:password]@]host:port,host:port,...` (or `rediss+cluster://`
    ///   over TLS): the seed nodes of a Redis Cluster (see
    ///   [`ConfigBuilder::cluster_nodes`](super::ConfigBuilder::cluster_nodes));
    /// - `redis+sentinel://[user[:password]@]host[:port],host[:port],.../master[/db]` (or
    ///   `rediss+sentinel://` over TLS): the sentinels (port 26379 unless given) and the
    ///   master name they monitor (percent-decoded). The user info authenticates to the
    ///   master, as in every other form; the sentinels' own credentials, which are not the
    ///   master's, are the query parameters `sentinel_username=` and `sentinel_password=`
    ///   (see [`ConfigBuilder::sentinel_password`](super::ConfigBuilder::sentinel_password));
    /// - every scheme above with `valkey` in place of `redis` (`valkey://`, `valkeys://`,
    ///   `valkey+sentinel://`, ...): Valkey speaks the same protocol.
    ///
    /// All take query parameters `db=n`, `user=` (or `username=`), `password=` (or `pass=`)
    /// and `protocol=resp2|resp3`. A field given twice (db in the path and in the query) is
    /// an error, and so is an unknown parameter, so that a typo is not silently ignored.
    /// A `%` must start exactly two hex digits.
    ///
    /// Client-side caching (see [`CacheConfig`]) is turned on by the query, with the names of
    /// the `REDIS_CACHE_*` variables in lower case:
    ///
    /// | parameter | meaning |
    /// |---|---|
    /// | `cache_max_bytes=n` | turns caching on with this memory budget in bytes (at least 1024) |
    /// | `cache_max_age=s` | an entry's age limit in seconds, a decimal number greater than 0 |
    /// | `cache_mode=default\|optin\|broadcast` | the [`TrackingMode`] (default: `default`) |
    /// | `cache_prefix=p` | a key prefix of broadcast mode, percent-decoded; repeat it for more |
    /// | `cache_admission=always\|frequent` | the [`Admission`] policy (default: `always`) |
    ///
    /// The others need `cache_max_bytes`, and `cache_prefix` needs
    /// `cache_mode=broadcast`, so that a caching setting never leaves caching silently off.
    ///
    /// The result is checked like [`ConfigBuilder::build`](super::ConfigBuilder::build)
    /// (a cluster URL with a database other than 0 is refused). To change other settings,
    /// continue with [`Config::into_builder`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnsupportedScheme`] or [`ConfigError::InvalidUrl`], with the URL's
    /// password replaced by `***`; [`ConfigError::InvalidValue`] for a URL whose fields
    /// together are not a usable config.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_manager::{Config, ServerAddr};
    ///
    /// let c = Config::from_url(
    ///     "redis+sentinel://:master-pw@10.0.0.5,10.0.0.6:26380/mymaster/2?sentinel_password=s",
    /// )?;
    /// assert_eq!(c.sentinel_master(), Some("mymaster"));
    /// assert_eq!(c.sentinels()[0], ServerAddr::Tcp { host: "10.0.0.5".into(), port: 26379 });
    /// assert_eq!((c.db(), c.password(), c.sentinel_password()), (2, Some("master-pw"), Some("s")));
    ///
    /// let v6: Config = "valkey://[::1]:6380".parse()?;
    /// assert_eq!(v6.host(), Some("::1"));
    ///
    /// let cached = Config::from_url("redis://h?cache_max_bytes=1048576&cache_max_age=30")?;
    /// assert_eq!(cached.cache().map(|c| c.max_bytes()), Some(1 << 20));
    /// # Ok::<(), redis_manager::ConfigError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.apply_url("url", url)?;
        config.check_settings()?;
        Ok(config)
    }

    /// Replaces the connection fields with those of `url`; errors name `variable`.
    pub(super) fn apply_url(
        &mut self,
        variable: &'static str,
        url: &str,
    ) -> Result<(), ConfigError> {
        let parts = parse_url(url).map_err(|problem| match problem {
            UrlProblem::Scheme(scheme) => ConfigError::UnsupportedScheme {
                variable,
                scheme,
                url: redact_url(url),
            },
            UrlProblem::Invalid(reason) => ConfigError::InvalidUrl {
                variable,
                url: redact_url(url),
                reason,
            },
        })?;
        self.addr = parts.addr;
        self.db = parts.db.unwrap_or(0);
        self.username = parts.username;
        self.password = parts.password;
        if let Some(protocol) = parts.protocol {
            self.protocol = protocol;
        }
        self.tls = parts.tls.then(TlsOptions::new);
        self.cluster_nodes = parts.cluster;
        self.sentinels = parts.sentinels;
        self.sentinel_master = parts.sentinel_master;
        self.sentinel_username = parts.sentinel_username;
        self.sentinel_password = parts.sentinel_password;
        self.cache = parts.cache;
        Ok(())
    }
}

/// The connection fields a URL gives.
#[derive(Debug, PartialEq, Default)]
struct UrlParts {
    addr: ServerAddr,
    db: Option<i64>,
    username: Option<String>,
    password: Option<String>,
    protocol: Option<Protocol>,
    /// `rediss://`.
    tls: bool,
    /// `redis+cluster://`: every node listed; `addr` is the first.
    cluster: Vec<ServerAddr>,
    /// `redis+sentinel://`: every sentinel listed.
    sentinels: Vec<ServerAddr>,
    sentinel_master: Option<String>,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    /// `cache_max_bytes=` and the parameters that refine it.
    cache: Option<CacheConfig>,
}

/// The `cache_*` query parameters, checked together once the query is read.
#[derive(Default)]
struct CacheQuery {
    max_bytes: Option<usize>,
    max_age: Option<Duration>,
    mode: Option<CacheModeName>,
    prefixes: Vec<Vec<u8>>,
    admission: Option<Admission>,
}

#[derive(Clone, Copy, PartialEq)]
enum CacheModeName {
    Default,
    OptIn,
    Broadcast,
}

impl CacheQuery {
    fn into_config(self) -> Result<Option<CacheConfig>, UrlProblem> {
        let Some(max_bytes) = self.max_bytes else {
            if self.max_age.is_some()
                || self.mode.is_some()
                || !self.prefixes.is_empty()
                || self.admission.is_some()
            {
                return Err(Invalid(
                    "cache_max_age, cache_mode, cache_prefix and cache_admission need cache_max_bytes",
                ));
            }
            return Ok(None);
        };
        let broadcast = self.mode == Some(CacheModeName::Broadcast);
        if !self.prefixes.is_empty() && !broadcast {
            return Err(Invalid("cache_prefix needs cache_mode=broadcast"));
        }
        let mut cache = CacheConfig::new(max_bytes);
        if let Some(age) = self.max_age {
            cache = cache.max_age(age);
        }
        cache = cache.mode(match self.mode.unwrap_or(CacheModeName::Default) {
            CacheModeName::Default => TrackingMode::Default,
            CacheModeName::OptIn => TrackingMode::OptIn,
            CacheModeName::Broadcast => TrackingMode::Broadcast {
                prefixes: self.prefixes,
            },
        });
        if let Some(admission) = self.admission {
            cache = cache.admission(admission);
        }
        Ok(Some(cache))
    }
}

#[derive(Debug, PartialEq)]
enum UrlProblem {
    /// A well-formed scheme we do not support.
    Scheme(String),
    Invalid(&'static str),
}

use UrlProblem::Invalid;

/// What follows `://`, by scheme.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Tcp,
    Unix,
    Cluster,
    Sentinel,
}

fn parse_url(url: &str) -> Result<UrlParts, UrlProblem> {
    let (scheme, rest) = url.split_once("://").ok_or(Invalid(
        "missing scheme (expected redis://host or unix:///path)",
    ))?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(Invalid("malformed scheme"));
    }
    if rest.contains('#') {
        return Err(Invalid("unexpected '#' (percent-encode it as %23)"));
    }
    let scheme = scheme.to_ascii_lowercase();
    // Valkey, the fork, names its schemes like Redis' with `valkey` in place of `redis`.
    let redis_scheme = match scheme.strip_prefix("valkey") {
        Some(tail) => format!("redis{tail}"),
        None => scheme.clone(),
    };
    let (form, tls) = match redis_scheme.as_str() {
        "redis" => (Form::Tcp, false),
        "rediss" => (Form::Tcp, true),
        "unix" | "redis+unix" => (Form::Unix, false),
        "redis+cluster" => (Form::Cluster, false),
        "rediss+cluster" => (Form::Cluster, true),
        "redis+sentinel" => (Form::Sentinel, false),
        "rediss+sentinel" => (Form::Sentinel, true),
        _ => return Err(UrlProblem::Scheme(scheme)),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut parts = match form {
        Form::Unix => parse_unix_url(before_query)?,
        _ => parse_host_url(before_query, form)?,
    };
    parts.tls = tls;
    if let Some(query) = query {
        apply_query(&mut parts, query)?;
    }
    if form != Form::Sentinel
        && (parts.sentinel_username.is_some() || parts.sentinel_password.is_some())
    {
        return Err(Invalid(
            "sentinel_username and sentinel_password need a redis+sentinel:// url",
        ));
    }
    if parts.sentinel_username.is_some() && parts.sentinel_password.is_none() {
        return Err(Invalid("sentinel_username needs sentinel_password"));
    }
    Ok(parts)
}

/// `[userinfo@]host[:port][,host[:port]...][/path]`: one host for [`Form::Tcp`], a list for
/// the others; the path is the db, or for [`Form::Sentinel`] `master[/db]`.
fn parse_host_url(s: &str, form: Form) -> Result<UrlParts, UrlProblem> {
    let (authority, path) = s.split_at(s.find('/').unwrap_or(s.len()));
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = parse_userinfo(userinfo)?;
    let default_port = match form {
        Form::Sentinel => DEFAULT_SENTINEL_PORT,
        _ => DEFAULT_PORT,
    };
    let mut nodes = Vec::new();
    for node in hosts.split(',') {
        let (host, port) = parse_host_port(node)?;
        nodes.push(ServerAddr::Tcp {
            host,
            port: port.unwrap_or(default_port),
        });
    }
    let mut parts = UrlParts {
        username,
        password,
        ..UrlParts::default()
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let db = match form {
        Form::Sentinel => {
            let (master, db) = path.split_once('/').unwrap_or((path, ""));
            let master =
                percent_decode(master).ok_or(Invalid("invalid percent-encoding in master name"))?;
            if master.is_empty() {
                return Err(Invalid(
                    "missing master name (expected redis+sentinel://host:26379/mymaster)",
                ));
            }
            parts.sentinel_master = Some(master);
            parts.sentinels = nodes;
            db
        }
        _ if nodes.len() > 1 && form == Form::Tcp => {
            return Err(Invalid(
                "several hosts need a redis+cluster:// or redis+sentinel:// url",
            ));
        }
        _ => {
            // `split` yields at least one item, and each was parsed or returned an error.
            parts.addr = nodes.first().cloned().unwrap_or_default();
            if form == Form::Cluster {
                parts.cluster = nodes;
            }
            path
        }
    };
    if !db.is_empty() {
        parts.db = Some(parse_url_db(db)?);
    }
    Ok(parts)
}

/// `[userinfo@]/absolute/path`
fn parse_unix_url(s: &str) -> Result<UrlParts, UrlProblem> {
    const NOT_ABSOLUTE: &str = "expected an absolute socket path, as in unix:///path/to/redis.sock";
    let (userinfo, path) = if s.starts_with('/') {
        (None, s)
    } else {
        match s.find("@/") {
            // The user info ends at the first "@/": a '/' in a password must be encoded.
            Some(i) if !s[..i].contains('/') => (Some(&s[..i]), &s[i + 1..]),
            _ => return Err(Invalid(NOT_ABSOLUTE)),
        }
    };
    let (username, password) = parse_userinfo(userinfo)?;
    let path = percent_decode(path).ok_or(Invalid("invalid percent-encoding in socket path"))?;
    if path == "/" {
        return Err(Invalid("missing socket path"));
    }
    Ok(UrlParts {
        addr: ServerAddr::Unix(PathBuf::from(path)),
        username,
        password,
        ..UrlParts::default()
    })
}

type Credentials = (Option<String>, Option<String>);

/// `user[:password]`; empty parts are absent.
fn parse_userinfo(userinfo: Option<&str>) -> Result<Credentials, UrlProblem> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let user = percent_decode(user).ok_or(Invalid("invalid percent-encoding in user name"))?;
    let pass = match pass {
        Some(p) => Some(percent_decode(p).ok_or(Invalid("invalid percent-encoding in password"))?),
        None => None,
    };
    Ok((non_empty(user), pass.and_then(non_empty)))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// `host[:port]`, an IPv6 address in brackets (`[::1]:6379`), stored without them.
pub(super) fn parse_host_port(s: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(bracketed) = s.strip_prefix('[') {
        let end = bracketed
            .find(']')
            .ok_or("missing ']' after ipv6 address")?;
        let host = &bracketed[..end];
        host.parse::<Ipv6Addr>()
            .map_err(|_| "invalid ipv6 address")?;
        let after = &bracketed[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("unexpected characters after ipv6 address")?,
            ),
        };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err("ipv6 addresses must be in brackets, as in [::1]");
            }
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    let port = match port {
        None => None,
        // Digits only: `u16::from_str` would also take a sign (`h:+1`).
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err("invalid port (expected 1 to 65535)"),
        },
    };
    Ok((host.to_owned(), port))
}

impl From<&'static str> for UrlProblem {
    fn from(reason: &'static str) -> UrlProblem {
        Invalid(reason)
    }
}

fn parse_url_db(s: &str) -> Result<i64, UrlProblem> {
    match s.parse::<i64>() {
        Ok(db) if db >= 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(db),
        _ => Err(Invalid(
            "invalid database (expected a non-negative integer)",
        )),
    }
}

/// `cache_max_bytes`: a budget the builder accepts (at least 1024), digits only.
fn parse_cache_bytes(s: &str) -> Result<usize, UrlProblem> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1024 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Invalid(
            "invalid cache_max_bytes (expected a number of bytes of at least 1024)",
        )),
    }
}

/// `cache_max_age`: seconds, a finite decimal number greater than 0.
fn parse_cache_age(s: &str) -> Result<Duration, UrlProblem> {
    s.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or(Invalid(
            "invalid cache_max_age (expected a number of seconds greater than 0)",
        ))
}

fn apply_query(parts: &mut UrlParts, query: &str) -> Result<(), UrlProblem> {
    /// Sets `slot` once; a second value (or an empty one) is refused or ignored.
    fn set(
        slot: &mut Option<String>,
        value: String,
        twice: &'static str,
    ) -> Result<(), UrlProblem> {
        match (non_empty(value), &slot) {
            (Some(_), Some(_)) => Err(Invalid(twice)),
            (Some(v), None) => {
                *slot = Some(v);
                Ok(())
            }
            (None, _) => Ok(()),
        }
    }
    /// Sets `slot` once.
    fn once<T>(slot: &mut Option<T>, value: T, twice: &'static str) -> Result<(), UrlProblem> {
        match slot.replace(value) {
            Some(_) => Err(Invalid(twice)),
            None => Ok(()),
        }
    }
    let mut cache = CacheQuery::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or(Invalid("query parameter without '='"))?;
        let decoded = percent_decode(value).ok_or(Invalid("invalid percent-encoding in query"))?;
        match key {
            "db" => {
                if parts.db.is_some() {
                    return Err(Invalid("database given twice"));
                }
                parts.db = Some(parse_url_db(&decoded)?);
            }
            "user" | "username" => set(&mut parts.username, decoded, "user name given twice")?,
            "password" | "pass" => set(&mut parts.password, decoded, "password given twice")?,
            "sentinel_username" => set(
                &mut parts.sentinel_username,
                decoded,
                "sentinel user name given twice",
            )?,
            "sentinel_password" => set(
                &mut parts.sentinel_password,
                decoded,
                "sentinel password given twice",
            )?,
            "protocol" => {
                let protocol = match decoded.to_ascii_lowercase().as_str() {
                    "resp3" | "3" => Protocol::Resp3,
                    "resp2" | "2" => Protocol::Resp2,
                    _ => return Err(Invalid("invalid protocol (expected resp2 or resp3)")),
                };
                if parts.protocol.replace(protocol).is_some() {
                    return Err(Invalid("protocol given twice"));
                }
            }
            "cache_max_bytes" => once(
                &mut cache.max_bytes,
                parse_cache_bytes(&decoded)?,
                "cache_max_bytes given twice",
            )?,
            "cache_max_age" => once(
                &mut cache.max_age,
                parse_cache_age(&decoded)?,
                "cache_max_age given twice",
            )?,
            "cache_mode" => {
                let mode = match decoded.to_ascii_lowercase().as_str() {
                    "default" => CacheModeName::Default,
                    "optin" => CacheModeName::OptIn,
                    "broadcast" | "bcast" => CacheModeName::Broadcast,
                    _ => {
                        return Err(Invalid(
                            "invalid cache_mode (expected default, optin or broadcast)",
                        ));
                    }
                };
                once(&mut cache.mode, mode, "cache_mode given twice")?;
            }
            "cache_prefix" => cache.prefixes.push(decoded.into_bytes()),
            "cache_admission" => {
                let admission = match decoded.to_ascii_lowercase().as_str() {
                    "always" => Admission::Always,
                    "frequent" => Admission::Frequent,
                    _ => {
                        return Err(Invalid(
                            "invalid cache_admission (expected always or frequent)",
                        ));
                    }
                };
                once(
                    &mut cache.admission,
                    admission,
                    "cache_admission given twice",
                )?;
            }
            _ => {
                return Err(Invalid(
                    "unknown query parameter (expected db, user, password, protocol, sentinel_username, sentinel_password or a cache_ parameter)",
                ));
            }
        }
    }
    parts.cache = cache.into_config()?;
    Ok(())
}

/// Decodes `%XX` escapes, each exactly two hex digits; `None` for a bad escape (`%zz`,
/// `%+1`, a truncated `%4`) or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let (hi, lo) = (hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?);
            // Two hex digits: at most 0xff, so the cast cannot truncate.
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Comma-separated `host[:port]` list (IPv6 in brackets), `default_port` when a port is
/// missing; errors name `variable`.
pub(super) fn parse_node_list(
    variable: &'static str,
    value: &str,
    default_port: u16,
) -> Result<Vec<ServerAddr>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            let (host, port) =
                parse_host_port(n).map_err(|reason| invalid(variable, value, reason))?;
            Ok(ServerAddr::Tcp {
                host,
                port: port.unwrap_or(default_port),
            })
        })
        .collect()
}

/// `url` with every place a secret could be replaced by `***`, even when the URL is
/// malformed: everything from the first ':' (or an earlier '?') after the scheme to the last
/// '@' (the password of the user info, or more), the value of every query parameter except
/// a `db`, `protocol` or cache setting made of letters, digits and dots (a `cache_prefix` is
/// part of a key name: hidden), and everything after a '#'.
/// Over-redacting a broken URL is fine; showing a password is not.
fn redact_url(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((u, _)) => (u, true),
        None => (url, false),
    };
    let start = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(start);
    let mut out = String::with_capacity(url.len() + 8);
    out.push_str(head);
    let mut rest = rest;
    if let Some(at) = rest.rfind('@')
        && let Some(colon) = rest[..at].find(':')
    {
        // A '?' before that ':' starts a query, whose values may be secrets too.
        let shown = rest[..colon].find('?').unwrap_or(colon);
        out.push_str(&rest[..=shown]);
        out.push_str("***");
        rest = &rest[at..];
    }
    match rest.split_once('?') {
        None => out.push_str(rest),
        Some((before, query)) => {
            out.push_str(before);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    // Only a plain value: `db=?password=x` must not show `x`.
                    Some((
                        key @ ("db" | "protocol" | "cache_max_bytes" | "cache_max_age"
                        | "cache_mode" | "cache_admission"),
                        value,
                    )) if value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.') =>
                    {
                        out.push_str(key);
                        out.push('=');
                        out.push_str(value);
                    }
                    Some((key, _)) => {
                        out.push_str(key);
                        out.push_str("=***");
                    }
                    None => out.push_str("***"),
                }
            }
        }
    }
    if fragment {
        out.push_str("#***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::tcp;
    use super::*;

    #[test]
    fn urls_parse_into_connection_fields() {
        type Case = (
            &'static str,
            ServerAddr,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let s = |v: &str| Some(v.to_owned());
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("redis://localhost", tcp("localhost", 6379), None, None, None),
            ("redis://h:6380", tcp("h", 6380), None, None, None),
            ("redis://h:6380/", tcp("h", 6380), None, None, None),
            ("redis://h/3", tcp("h", 6379), Some(3), None, None),
            ("REDIS://h:1/15", tcp("h", 1), Some(15), None, None),
            ("redis://u:p@h:7/1", tcp("h", 7), Some(1), s("u"), s("p")),
            ("redis://:p@h", tcp("h", 6379), None, None, s("p")),
            ("redis://u@h", tcp("h", 6379), None, s("u"), None),
            ("redis://u:@h", tcp("h", 6379), None, s("u"), None),
            ("redis://u%40x:p%3Aw%2F%25@h", tcp("h", 6379), None, s("u@x"), s("p:w/%")),
            ("redis://:p@ss@h", tcp("h", 6379), None, None, s("p@ss")),
            ("redis://[::1]", tcp("::1", 6379), None, None, None),
            ("redis://[::1]:6390/2", tcp("::1", 6390), Some(2), None, None),
            ("redis://h?db=4", tcp("h", 6379), Some(4), None, None),
            ("redis://h/?db=4&", tcp("h", 6379), Some(4), None, None),
            ("redis://h?password=x%26y&user=me", tcp("h", 6379), None, s("me"), s("x&y")),
            ("unix:///run/r.sock", ServerAddr::Unix("/run/r.sock".into()), None, None, None),
            ("unix:///run/r.sock?db=2", ServerAddr::Unix("/run/r.sock".into()), Some(2), None, None),
            ("redis+unix:///a%20b/r.sock", ServerAddr::Unix("/a b/r.sock".into()), None, None, None),
            ("unix://u:p@/r.sock", ServerAddr::Unix("/r.sock".into()), None, s("u"), s("p")),
            ("unix:///r.sock?pass=p", ServerAddr::Unix("/r.sock".into()), None, None, s("p")),
        ];
        for (url, addr, db, user, pass) in cases {
            let parts = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e:?}"));
            assert_eq!(&parts.addr, addr, "{url}");
            assert_eq!(&parts.db, db, "{url}");
            assert_eq!(&parts.username, user, "{url}");
            assert_eq!(&parts.password, pass, "{url}");
        }
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        let scheme = |s: &str| UrlProblem::Scheme(s.to_owned());
        let cases: &[(&str, Option<UrlProblem>)] = &[
            ("http://h", Some(scheme("http"))),
            ("rediss+unix:///s", Some(scheme("rediss+unix"))),
            ("rediss://", None),
            ("Redis+TCP://h", Some(scheme("redis+tcp"))),
            ("localhost:6379", None),
            ("://h", None),
            ("redis://", None),
            ("redis://:6379", None),
            ("redis://u:p@", None),
            ("redis://h:", None),
            ("redis://h:0", None),
            ("redis://h:65536", None),
            ("redis://h:abc", None),
            ("redis://h:-1", None),
            ("redis://::1", None),
            ("redis://[::1", None),
            ("redis://[zz]:1", None),
            ("redis://[::1]x", None),
            ("redis://h/x", None),
            ("redis://h/-1", None),
            ("redis://h/+1", None),
            ("redis://h/1/2", None),
            ("redis://h/1?db=1", None),
            ("redis://h?foo=1", None),
            ("redis://h?db", None),
            ("redis://h?protocol=resp4", None),
            ("redis://:a@h?password=b", None),
            ("redis://u:%zz@h", None),
            ("redis://u:%ff@h", None),
            ("redis://h#frag", None),
            ("unix://", None),
            ("unix:///", None),
            ("unix://relative/path", None),
            ("unix://u:p/q@/sock", None),
        ];
        for (url, expected) in cases {
            let got = parse_url(url).expect_err(url);
            match expected {
                Some(e) => assert_eq!(&got, e, "{url}"),
                None => assert!(matches!(got, UrlProblem::Invalid(_)), "{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn protocol_comes_from_the_query() {
        let p = parse_url("redis://h?protocol=RESP2").unwrap();
        assert_eq!(p.protocol, Some(Protocol::Resp2));
        let c = Config::from_url("redis://h?protocol=resp2").unwrap();
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert_eq!(
            Config::from_url("redis://h").unwrap().protocol(),
            Protocol::Resp3
        );
    }

    #[test]
    fn cache_parameters_turn_caching_on() {
        let c = Config::from_url(
            "redis://h?cache_max_bytes=1048576&cache_max_age=2.5&cache_mode=Broadcast&cache_prefix=user%3A&cache_prefix=s:",
        )
        .unwrap();
        let cache = c.cache().expect("caching on");
        assert_eq!(cache.max_bytes(), 1 << 20);
        assert_eq!(cache.max_age_limit(), Some(Duration::from_millis(2500)));
        assert_eq!(
            cache.tracking_mode(),
            &TrackingMode::broadcast(["user:", "s:"])
        );
        let c = Config::from_url("unix:///s?cache_max_bytes=4096&cache_mode=optin").unwrap();
        assert_eq!(c.cache().unwrap().tracking_mode(), &TrackingMode::OptIn);
        assert_eq!(c.cache().unwrap().admission_policy(), Admission::Always);
        let c =
            Config::from_url("redis://h?cache_max_bytes=4096&cache_admission=Frequent").unwrap();
        assert_eq!(c.cache().unwrap().admission_policy(), Admission::Frequent);
        let c = Config::from_url("redis://h?cache_max_bytes=4096").unwrap();
        assert_eq!(c.cache(), Some(&CacheConfig::new(4096)));
        assert!(Config::from_url("redis://h").unwrap().cache().is_none());
    }

    #[test]
    fn bad_cache_parameters_are_typed_errors() {
        let cases = [
            ("cache_max_bytes=100", "invalid cache_max_bytes"),
            ("cache_max_bytes=lots", "invalid cache_max_bytes"),
            ("cache_max_bytes=+4096", "invalid cache_max_bytes"),
            ("cache_max_bytes=4096&cache_max_bytes=8192", "given twice"),
            (
                "cache_max_bytes=4096&cache_max_age=0",
                "invalid cache_max_age",
            ),
            (
                "cache_max_bytes=4096&cache_max_age=-1",
                "invalid cache_max_age",
            ),
            (
                "cache_max_bytes=4096&cache_max_age=inf",
                "invalid cache_max_age",
            ),
            (
                "cache_max_bytes=4096&cache_max_age=NaN",
                "invalid cache_max_age",
            ),
            (
                "cache_max_bytes=4096&cache_mode=sometimes",
                "invalid cache_mode",
            ),
            (
                "cache_max_bytes=4096&cache_mode=optin&cache_mode=optin",
                "given twice",
            ),
            ("cache_max_age=1", "need cache_max_bytes"),
            ("cache_mode=optin", "need cache_max_bytes"),
            ("cache_admission=frequent", "need cache_max_bytes"),
            (
                "cache_max_bytes=4096&cache_admission=often",
                "invalid cache_admission",
            ),
            (
                "cache_max_bytes=4096&cache_admission=always&cache_admission=always",
                "given twice",
            ),
            (
                "cache_max_bytes=4096&cache_prefix=a",
                "needs cache_mode=broadcast",
            ),
            (
                "cache_max_bytes=4096&cache_mode=optin&cache_prefix=a",
                "needs cache_mode",
            ),
        ];
        for (query, want) in cases {
            let url = format!("redis://:pw@h?{query}");
            match Config::from_url(&url) {
                Err(ConfigError::InvalidUrl {
                    reason, url: shown, ..
                }) => {
                    assert!(reason.contains(want), "{url}: {reason}");
                    assert!(!shown.contains("pw"), "{shown}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        // Settings the server would refuse, caught by the config's own checks.
        let url =
            "redis://h?cache_max_bytes=4096&cache_mode=broadcast&cache_prefix=a&cache_prefix=ab";
        let err = Config::from_url(url).unwrap_err();
        assert_eq!(err.variable(), "cache_mode", "{url}: {err}");
        // Opt-in tracking works on a cluster too.
        let url = "redis+cluster://h:1,h:2?cache_max_bytes=4096&cache_mode=optin";
        assert!(Config::from_url(url).is_ok(), "{url}");
    }

    #[test]
    fn redaction_hides_every_password_position() {
        let cases = [
            ("redis://u:secret@h:1/2", "redis://u:***@h:1/2"),
            ("redis://:secret@h", "redis://:***@h"),
            ("redis://u@h", "redis://u@h"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("redis://:se@cr@et@h", "redis://:***@h"),
            ("redis://:se/cret@h", "redis://:***@h"),
            ("redis:/:secret@h", "redis:***@h"),
            ("x:secret@h", "x:***@h"),
            (
                "unix:///s?db=1&password=secret",
                "unix:///s?db=1&password=***",
            ),
            (
                "unix:///s?pass%77ord=secret&protocol=2",
                "unix:///s?pass%77ord=***&protocol=2",
            ),
            ("unix:///s?secret", "unix:///s?***"),
            ("redis://h#secret", "redis://h#***"),
            ("redis://?password=secret&:@", "redis://?***@"),
            ("redis://h?password=secret:x@y", "redis://h?***@y"),
            ("redis://h?db=?password=secret", "redis://h?db=***"),
            ("redis://h?protocol=2&db=3", "redis://h?protocol=2&db=3"),
            (
                "redis://h?cache_max_bytes=4096&cache_max_age=2.5&cache_prefix=secret",
                "redis://h?cache_max_bytes=4096&cache_max_age=2.5&cache_prefix=***",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn url_errors_never_contain_the_password() {
        let urls = [
            "redis://u:hunter2@h:abc",
            "redis://:hunter2@",
            "redis://:hun/ter2@h",
            "redis://:hunter2@h/x",
            "redis://:hunter2@h?foo=1",
            "redis://:a@h?password=hunter2",
            "redis://u:%zzhunter2@h",
            "ftp://:hunter2@h",
            "unix://u:hunter2/x@/sock",
            "unix:///s?pass%77ord=hunter2",
            "redis://:hunter2@h#hunter2",
            "redis:/:hunter2@h",
            "redis://?password=hunter2&:@",
            "redis://h?pass=hunter2:x@&foo=1",
            "redis://?db=?password=hunter2",
        ];
        for url in urls {
            let err = Config::from_url(url).expect_err(url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("hunter2"), "{url} -> {shown}");
            assert!(!shown.contains("hun"), "{url} -> {shown}");
        }
    }

    #[test]
    fn rediss_urls_turn_tls_on_with_the_redis_forms() {
        let c = Config::from_url("rediss://u:p@h:6380/2?protocol=resp2").unwrap();
        assert_eq!(c.tls(), Some(&TlsOptions::new()));
        assert_eq!(c.addr(), &tcp("h", 6380));
        assert_eq!((c.db(), c.password()), (2, Some("p")));
        assert_eq!(c.protocol(), Protocol::Resp2);
        let c = Config::from_url("REDISS://[::1]").unwrap();
        assert!(c.is_tls() && c.addr() == &tcp("::1", 6379));
        assert!(!Config::from_url("redis://h").unwrap().is_tls());
        assert!(!Config::from_url("unix:///s").unwrap().is_tls());
        // A rediss:// parse error is redacted like a redis:// one.
        let err = Config::from_url("rediss://:hunter2@h:x").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    }

    #[test]
    fn valkey_schemes_are_the_redis_ones() {
        let pairs = [
            ("valkey://u:p@h:7/1", "redis://u:p@h:7/1"),
            ("VALKEYS://[::1]", "rediss://[::1]"),
            ("valkey+unix:///s?db=2", "redis+unix:///s?db=2"),
            ("valkey+cluster://h:1,h:2", "redis+cluster://h:1,h:2"),
            ("valkeys+cluster://h:1", "rediss+cluster://h:1"),
            ("valkey+sentinel://h/m", "redis+sentinel://h/m"),
            ("valkeys+sentinel://h/m", "rediss+sentinel://h/m"),
        ];
        for (valkey, redis) in pairs {
            assert_eq!(parse_url(valkey), parse_url(redis), "{valkey}");
            assert!(parse_url(valkey).is_ok(), "{valkey}");
        }
        assert!(Config::from_url("valkeys://h").unwrap().is_tls());
        let scheme = |s: &str| Err(UrlProblem::Scheme(s.to_owned()));
        assert_eq!(parse_url("valkeyx://h"), scheme("valkeyx"));
        assert_eq!(parse_url("valkeys+unix:///s"), scheme("valkeys+unix"));
    }

    #[test]
    fn sentinel_urls_give_sentinels_master_db_and_both_credentials() {
        let s = |v: &str| Some(v.to_owned());
        let p = parse_url(
            "redis+sentinel://app:master%40pw@10.0.0.1,10.0.0.2:26380,[::1]/my%20master/3\
             ?sentinel_username=watcher&sentinel_password=s%26pw",
        )
        .unwrap();
        assert_eq!(
            p.sentinels,
            [
                tcp("10.0.0.1", 26379),
                tcp("10.0.0.2", 26380),
                tcp("::1", 26379)
            ]
        );
        assert_eq!(p.sentinel_master, s("my master"));
        assert_eq!(p.db, Some(3));
        assert_eq!((p.username, p.password), (s("app"), s("master@pw")));
        assert_eq!(
            (p.sentinel_username, p.sentinel_password),
            (s("watcher"), s("s&pw"))
        );
        assert!(p.cluster.is_empty() && !p.tls);

        let c = Config::from_url("rediss+sentinel://h:1/m?db=2&protocol=resp2").unwrap();
        assert_eq!(c.sentinels(), [tcp("h", 1)]);
        assert_eq!((c.sentinel_master(), c.db()), (Some("m"), 2));
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert_eq!(c.tls(), Some(&TlsOptions::new()));
        assert_eq!((c.sentinel_username(), c.sentinel_password()), (None, None));
        let c = Config::from_url("redis+sentinel://h/m/").unwrap();
        assert_eq!((c.sentinel_master(), c.db()), (Some("m"), 0));
    }

    #[test]
    fn bad_sentinel_urls_are_typed_errors() {
        let urls = [
            "redis+sentinel://h",
            "redis+sentinel://h/",
            "redis+sentinel://h//1",
            "redis+sentinel://h/m/x",
            "redis+sentinel://h/m/1/2",
            "redis+sentinel://h/m/1?db=2",
            "redis+sentinel://h,,h2/m",
            "redis+sentinel://h:0/m",
            "redis+sentinel://::1/m",
            "redis+sentinel://h/m%zz",
            "redis+sentinel://h/m?sentinel_username=u",
            "redis+sentinel://h/m?sentinel_password=a&sentinel_password=b",
            "redis://h?sentinel_password=p",
            "redis+cluster://h:1?sentinel_username=u&sentinel_password=p",
            "redis://h1,h2",
        ];
        for url in urls {
            let got = parse_url(url).expect_err(url);
            assert!(matches!(got, UrlProblem::Invalid(_)), "{url}: {got:?}");
        }
        // A sentinel password in a bad URL is redacted like any other query value.
        let err = Config::from_url("redis+sentinel://h?sentinel_password=hunter2").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
        assert!(err.to_string().contains("master name"), "{err}");
    }

    #[test]
    fn percent_escapes_take_exactly_two_hex_digits() {
        let ok = [
            ("a%41b", "aAb"),
            ("%2f%2F", "//"),
            ("%25", "%"),
            ("", ""),
            ("%c3%a9", "é"),
        ];
        for (encoded, decoded) in ok {
            assert_eq!(
                percent_decode(encoded).as_deref(),
                Some(decoded),
                "{encoded}"
            );
        }
        // `u8::from_str_radix` alone would take a sign: `%+1` and `%-0` must be refused.
        for bad in [
            "%+1", "%-0", "%+f", "% 1", "%1", "%", "a%4", "%g0", "%0g", "%ff",
        ] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert!(parse_url("redis://u:%+1@h").is_err());
        assert!(parse_url("redis://h?db=%+1").is_err());
        assert!(parse_url("unix:///s%+1").is_err());
    }

    #[test]
    fn ports_are_digits_only() {
        for url in [
            "redis://h:+1",
            "redis://h:-0",
            "redis://h: 1",
            "redis://[::1]:+6379",
        ] {
            assert!(parse_url(url).is_err(), "{url}");
        }
        assert_eq!(parse_url("redis://h:007").unwrap().addr, tcp("h", 7));
    }

    #[test]
    fn ipv6_hosts_go_in_brackets_in_every_host_form() {
        let c = Config::from_url("redis://[::1]:6379").unwrap();
        assert_eq!((c.host(), c.port()), (Some("::1"), Some(6379)));
        let c = Config::from_url("redis://u:p@[fe80::1%25eth0]:1").unwrap_err();
        assert!(matches!(c, ConfigError::InvalidUrl { .. }), "{c:?}");
        let c = Config::from_url("redis+cluster://[::1]:7000,[2001:db8::2]:7001").unwrap();
        assert_eq!(
            c.cluster_nodes(),
            [tcp("::1", 7000), tcp("2001:db8::2", 7001)]
        );
        assert_eq!(c.addr().to_string(), "[::1]:7000");
        for url in [
            "redis://[::1]]:1",
            "redis://[]:1",
            "redis://[127.0.0.1]:1",
            "redis://[::1]:",
        ] {
            assert!(parse_url(url).is_err(), "{url}");
        }
    }

    proptest::proptest! {
        /// Any input, built from the characters URLs are made of, parses or fails with a
        /// typed error, and neither the error nor the redacted URL shows the password.
        #[test]
        fn any_url_is_a_config_or_a_redacted_error(
            scheme in "(redis|rediss|valkey|unix|redis\\+sentinel|redis\\+cluster|x)",
            head in "[a-z0-9:@/\\[\\]%+,.?=&#-]{0,12}",
            tail in "[a-z0-9:@/\\[\\]%+,.?=&#-]{0,12}",
        ) {
            let url = format!("{scheme}://{head}:Zq9Secret@{tail}");
            if let Err(err) = Config::from_url(&url) {
                let shown = format!("{err} {err:?}");
                proptest::prop_assert!(!shown.contains("Zq9Secret"), "{url} -> {shown}");
            }
            let with_query = format!("{scheme}://{head}?password=Zq9Secret&{tail}");
            if let Err(err) = Config::from_url(&with_query) {
                let shown = format!("{err} {err:?}");
                proptest::prop_assert!(!shown.contains("Zq9Secret"), "{with_query} -> {shown}");
            }
        }
    }
}
