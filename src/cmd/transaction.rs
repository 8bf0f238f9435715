//! Typed commands: transaction.
