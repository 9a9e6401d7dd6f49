//! What the wait-record models need: the shipped `WaitRecord` (a task
//! header's three words) written and read as a task's poller and a dump
//! do, with kinds named by their codes (the kinds are crate-internal).

use std::panic::Location;

use crate::task::core::wait::{WaitKind, WaitRecord};

/// One task's wait record, outside a task.
#[derive(Default)]
pub struct WaitRecordModel {
    record: WaitRecord,
}

/// A record as a dump reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    /// The kind's code (1 is the first kind).
    pub kind: u8,
    /// The detail word.
    pub detail: u64,
    /// Where the wait was reached.
    pub at: &'static Location<'static>,
}

impl std::fmt::Debug for WaitRecordModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitRecordModel").finish_non_exhaustive()
    }
}

impl WaitRecordModel {
    /// An empty record (what a new task has).
    pub fn new() -> WaitRecordModel {
        WaitRecordModel::default()
    }

    /// The poller's leaf returns `Pending` (`WaitRecord::set`): a wait on
    /// the kind of code `kind`.
    ///
    /// # Panics
    /// When `kind` names no kind.
    pub fn write(&self, kind: u8, detail: u64, at: &'static Location<'static>) {
        let kind = WaitKind::from_code(kind).expect("a kind's code");
        self.record.set(kind, detail, at);
    }

    /// The poller starts a poll (`WaitRecord::clear`).
    pub fn clear(&self) {
        self.record.clear();
    }

    /// A dump reads the record (`WaitRecord::read`).
    pub fn read(&self) -> Option<ReadRecord> {
        self.record.read().map(|r| ReadRecord {
            kind: r.kind as u8,
            detail: r.detail,
            at: r.at,
        })
    }
}
