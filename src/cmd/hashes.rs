//! Typed commands: hashes.
