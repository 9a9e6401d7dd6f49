//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(ferrio_loom)`). They expose the real protocol code with a test
//! scheduler; nothing here is public API.
