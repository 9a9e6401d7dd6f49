//! asyncio's stream errors, carried inside `io::Error`.

use std::fmt;
use std::io;

/// The stream ended before `expected` bytes (or a separator) arrived
/// (asyncio's `IncompleteReadError`). `partial` holds the bytes read,
/// which were taken from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    /// What was read before the end of the stream.
    pub partial: Vec<u8>,
    /// The byte count asked for (`None` for `readuntil`).
    pub expected: Option<usize>,
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read before the end of the stream; the separator was not found",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteReadError {}

impl IncompleteReadError {
    /// The `IncompleteReadError` inside an `io::Error` from a reader.
    pub fn from_io(e: &io::Error) -> Option<&IncompleteReadError> {
        e.get_ref()?.downcast_ref()
    }

    /// Takes it out of the `io::Error` (with the partial bytes).
    pub fn into_partial(e: io::Error) -> Option<Vec<u8>> {
        e.into_inner()?
            .downcast::<IncompleteReadError>()
            .ok()
            .map(|b| b.partial)
    }
}

/// The separator was not found within the reader's limit (asyncio's
/// `LimitOverrunError`). Nothing was taken from the stream: `consumed`
/// bytes are buffered and can be read with `read`/`readexactly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOverrunError {
    /// How many bytes are buffered up to (and including) the separator,
    /// or that were searched without finding it. (asyncio counts up to
    /// the separator's start instead; including it here means
    /// `readexactly(consumed)` skips the whole overlong line.)
    pub consumed: usize,
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "separator not found within the limit ({} bytes buffered)",
            self.consumed
        )
    }
}

impl std::error::Error for LimitOverrunError {}

impl LimitOverrunError {
    /// The `LimitOverrunError` inside an `io::Error` from a reader.
    pub fn from_io(e: &io::Error) -> Option<&LimitOverrunError> {
        e.get_ref()?.downcast_ref()
    }
}
