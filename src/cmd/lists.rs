//! Typed commands: lists.
