//! [`Config`]: connection settings, from code, from the environment, or from a URL.

/// A configuration value that cannot be used. Placeholder until the config module lands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable or setting.
    pub variable: &'static str,
    /// Why it is invalid.
    pub reason: String,
}
