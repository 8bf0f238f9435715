//! Typed commands: strings.
