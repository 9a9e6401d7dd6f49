//! The event log of a simulation: every network event is folded, with
//! its virtual time, into one hash. Two runs with the same seed give the
//! same hash (in one process or across processes: FNV-1a over fixed
//! little-endian encodings, nothing process-specific such as addresses
//! or `RandomState`).

use std::time::Duration;

use crate::loom::plain::Mutex;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What happened (the kinds folded into the hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EventKind {
    Bind = 1,
    Connect = 2,
    Refused = 3,
    Accept = 4,
    Send = 5,
    Deliver = 6,
    Close = 7,
    Partition = 8,
    Repair = 9,
    Dropped = 10,
    Reset = 11,
    Crash = 12,
    Restart = 13,
}

#[derive(Debug)]
pub(super) struct EventLog {
    inner: Mutex<(u64, u64)>,
}

impl EventLog {
    pub(super) fn new() -> EventLog {
        EventLog {
            inner: Mutex::new((FNV_OFFSET, 0)),
        }
    }

    /// Folds one event in: its virtual time since the start, its kind,
    /// the two hosts (indices) and a size.
    pub(super) fn record(&self, at: Duration, kind: EventKind, a: u32, b: u32, n: u64) {
        let mut g = self.inner.lock();
        let mut h = g.0;
        let mut fold = |bytes: &[u8]| {
            for &byte in bytes {
                h ^= byte as u64;
                h = h.wrapping_mul(FNV_PRIME);
            }
        };
        fold(&(at.as_nanos() as u64).to_le_bytes());
        fold(&[kind as u8]);
        fold(&a.to_le_bytes());
        fold(&b.to_le_bytes());
        fold(&n.to_le_bytes());
        g.0 = h;
        g.1 += 1;
    }

    /// (hash, events) so far.
    pub(super) fn snapshot(&self) -> (u64, u64) {
        *self.inner.lock()
    }
}
