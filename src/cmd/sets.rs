//! Typed commands: sets.
