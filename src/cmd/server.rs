//! Typed commands: server.
