//! `QueueError` and `PutError`.

use std::fmt;

/// Why a queue operation did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// `put_nowait` on a full queue (asyncio's `QueueFull`).
    Full,
    /// `get_nowait` on an empty queue (asyncio's `QueueEmpty`).
    Empty,
    /// The queue was shut down (asyncio's `QueueShutDown`).
    ShutDown,
    /// `task_done` called more times than items were put (asyncio's
    /// `ValueError`).
    TooManyTaskDone,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueError::Full => "queue is full",
            QueueError::Empty => "queue is empty",
            QueueError::ShutDown => "queue is shut down",
            QueueError::TooManyTaskDone => "task_done() called too many times",
        })
    }
}

impl std::error::Error for QueueError {}

/// An item rejected by a `put` (full or shut down), handed back.
#[derive(Debug, PartialEq, Eq)]
pub struct PutError<T> {
    /// The item that was not queued.
    pub item: T,
    /// Why.
    pub error: QueueError,
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}
