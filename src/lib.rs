//! redis-manager: a Redis client written from scratch.

pub mod client;
pub mod cmd;
pub mod config;
mod connection;
pub mod error;
pub mod pool;

pub use client::Client;
pub use cmd::{Cmd, FromReply, Pipeline, cmd};
pub use config::{Config, ConfigError, Protocol, ServerAddr};
pub use connection::NegotiatedProtocol;
pub use error::{ConversionError, Error, Result, ServerError};
pub use pool::PooledConnection;
pub use resp_codec::{self as resp, Frame, ToArg};
