//! [`ConfigError`]: why a configuration value cannot be used.

use std::path::PathBuf;

/// A configuration value that cannot be used.
///
/// Every variant names the variable (or, for values set in code, the setting) so a caller
/// can report it. No variant ever holds a password: URLs are shown with it replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is not a valid number, or is out of range.
    #[error("invalid {variable} `{value}`: {reason}")]
    InvalidValue {
        /// The environment variable, or the setting's name for a value set in code.
        variable: &'static str,
        /// The offending value as given.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A URL whose scheme is not one of those [`Config::from_url`](super::Config::from_url)
    /// accepts.
    #[error(
        "unsupported url scheme `{scheme}` in {variable} `{url}` (expected redis, rediss, valkey, valkeys, unix, redis+unix, redis+cluster or redis+sentinel)"
    )]
    UnsupportedScheme {
        /// `REDIS_URL`, or `url` for [`Config::from_url`](super::Config::from_url).
        variable: &'static str,
        /// The scheme, lower-cased.
        scheme: String,
        /// The URL, password replaced by `***`.
        url: String,
    },
    /// A URL that cannot be parsed.
    #[error("invalid {variable} `{url}`: {reason}")]
    InvalidUrl {
        /// `REDIS_URL`, or `url` for [`Config::from_url`](super::Config::from_url).
        variable: &'static str,
        /// The URL, password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable that is set but not valid Unicode.
    #[error("{variable} is not valid unicode")]
    NotUnicode {
        /// The environment variable.
        variable: &'static str,
    },
    /// A variable that must be set because another one is (`REDIS_TLS_KEY_FILE` with
    /// `REDIS_TLS_CERT_FILE`, and the reverse).
    #[error("{variable} must be set when {required_by} is")]
    MissingValue {
        /// The variable that is missing.
        variable: &'static str,
        /// The variable that needs it.
        required_by: &'static str,
    },
    /// The config asks for TLS but this build of the crate has no TLS support. Enable the
    /// `tls` cargo feature of `redis-manager`.
    #[error("tls was requested but redis-manager was built without the `tls` feature")]
    TlsUnavailable,
    /// A TLS file (CA, client certificate or key) cannot be used. Reported when a client
    /// is created and by every connection attempt of that client.
    #[error("cannot use {variable} `{}`: {reason}", path.display())]
    TlsFile {
        /// `tls_ca_file`, `tls_cert_file` or `tls_key_file` (set by `REDIS_TLS_CA_FILE`,
        /// `REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE` or
        /// [`TlsOptionsBuilder`](super::TlsOptionsBuilder)).
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`TlsRoots::Platform`](super::TlsRoots::Platform) was asked for, but the platform's
    /// trust store gave no usable certificate (none installed, or none readable). Reported
    /// when a client is created and by every connection attempt of that client.
    #[error(
        "the platform's trust store holds no usable certificate ({errors} error(s) reading it)"
    )]
    TlsNoPlatformRoots {
        /// How many files or entries of the store could not be read.
        errors: usize,
    },
}

impl ConfigError {
    /// The environment variable or setting the error is about.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::InvalidValue { variable, .. }
            | ConfigError::UnsupportedScheme { variable, .. }
            | ConfigError::InvalidUrl { variable, .. }
            | ConfigError::NotUnicode { variable }
            | ConfigError::MissingValue { variable, .. }
            | ConfigError::TlsFile { variable, .. } => variable,
            ConfigError::TlsUnavailable => "tls",
            ConfigError::TlsNoPlatformRoots { .. } => "tls_roots",
        }
    }
}

/// [`ConfigError::InvalidValue`] for `value`.
pub(super) fn invalid(variable: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        variable,
        value: value.to_owned(),
        reason,
    }
}

/// [`ConfigError::MissingValue`]: `variable` is needed because `required_by` is set.
pub(super) fn missing(variable: &'static str, required_by: &'static str) -> ConfigError {
    ConfigError::MissingValue {
        variable,
        required_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_names_its_variable() {
        assert_eq!(invalid("REDIS_PORT", "x", "r").variable(), "REDIS_PORT");
        assert_eq!(missing("A", "B").variable(), "A");
        assert_eq!(ConfigError::TlsUnavailable.variable(), "tls");
        let shown = missing("REDIS_TLS_KEY_FILE", "REDIS_TLS_CERT_FILE").to_string();
        assert_eq!(
            shown,
            "REDIS_TLS_KEY_FILE must be set when REDIS_TLS_CERT_FILE is"
        );
    }
}
