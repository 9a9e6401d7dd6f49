//! Loom models of the wait-record protocol (`task/core/wait.rs`, shipped
//! `WaitRecord`): the task's poller writes records (the location cleared,
//! the kind/detail words, the location published) while a dump reads one
//! (the location, the words, the location again). What the module head
//! promises: a record of one location never comes back with the words of
//! another write; a cleared record reads as none or as the record before
//! the clear; two writes of the same location may mix their words (only
//! theirs).
#![cfg(ferrio_loom)]

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use ferrio::loom_models::{ReadRecord, WaitRecordModel};
use loom::thread;

// Kind codes (any two kinds do).
const LOCK: u8 = 8;
const READ: u8 = 1;

#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

#[test]
fn a_dump_never_reads_a_torn_record() {
    let at_a = here();
    let at_b = here();
    assert_ne!(at_a, at_b);
    let a = ReadRecord {
        kind: LOCK,
        detail: 11,
        at: at_a,
    };
    let b = ReadRecord {
        kind: READ,
        detail: 22,
        at: at_b,
    };
    loom::model(move || {
        let record = Arc::new(WaitRecordModel::new());
        let poller = {
            let record = record.clone();
            thread::spawn(move || {
                record.write(a.kind, a.detail, a.at);
                record.clear();
                record.write(b.kind, b.detail, b.at);
            })
        };
        // Two reads, as two dumps: each is nothing, or exactly one write.
        for _ in 0..2 {
            if let Some(got) = record.read() {
                assert!(got == a || got == b, "torn record: {got:?}");
            }
        }
        poller.join().unwrap();
        // Once the poller is done, the last write is what a dump sees.
        assert_eq!(record.read(), Some(b));
    });
}

#[test]
fn a_cleared_record_reads_as_none_or_the_record_before() {
    let at = here();
    let a = ReadRecord {
        kind: LOCK,
        detail: 7,
        at,
    };
    loom::model(move || {
        let record = Arc::new(WaitRecordModel::new());
        record.write(a.kind, a.detail, a.at);
        let poller = {
            let record = record.clone();
            thread::spawn(move || record.clear())
        };
        let got = record.read();
        assert!(got.is_none() || got == Some(a), "{got:?}");
        poller.join().unwrap();
        assert_eq!(record.read(), None);
    });
}

#[test]
fn two_waits_of_one_line_mix_only_their_own_words() {
    let at = here();
    let a = ReadRecord {
        kind: LOCK,
        detail: 1,
        at,
    };
    let b = ReadRecord {
        kind: READ,
        detail: 2,
        at,
    };
    loom::model(move || {
        let record = Arc::new(WaitRecordModel::new());
        let poller = {
            let record = record.clone();
            thread::spawn(move || {
                record.write(a.kind, a.detail, a.at);
                record.write(b.kind, b.detail, b.at);
            })
        };
        if let Some(got) = record.read() {
            assert_eq!(got.at, at);
            assert!([a.kind, b.kind].contains(&got.kind), "{got:?}");
            assert!([a.detail, b.detail].contains(&got.detail), "{got:?}");
            if got != a && got != b {
                MIXED.store(true, SeqCst);
            }
        }
        poller.join().unwrap();
        assert_eq!(record.read(), Some(b));
    });
    // The mix the module head owns up to does happen.
    assert!(MIXED.load(SeqCst), "no execution mixed the two writes");
}

/// Some execution of the same-line model read a mix.
static MIXED: AtomicBool = AtomicBool::new(false);
