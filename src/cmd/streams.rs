//! Typed commands: streams.
