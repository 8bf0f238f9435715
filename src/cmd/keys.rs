//! Typed commands: keys.
