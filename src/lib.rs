//! redis-manager: a Redis client written from scratch.

pub mod config;
pub mod error;

pub use config::ConfigError;
pub use error::{ConversionError, Error, Result, ServerError};
pub use resp_codec::{self as resp, Frame};
