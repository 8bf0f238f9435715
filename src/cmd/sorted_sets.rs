//! Typed commands: sorted_sets.
