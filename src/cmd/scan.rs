//! Typed commands: scan.
