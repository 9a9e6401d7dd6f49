//! Loom model checks for ferrio live in `tests/`; this crate has no code of its own.
