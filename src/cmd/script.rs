//! Typed commands: script.
