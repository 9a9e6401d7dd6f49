//! The join waker hand-off between a task's join handle and its
//! completer (tokio's): while JOIN_WAKER is clear the handle owns the
//! trailer's waker slot and may write it; once set, the completer may read
//! it (and wakes it on completion) and the handle only reads it. Untyped:
//! it touches only the header's state and the trailer's slot, so the
//! harness (polling a `Task`) and `Task::register_join_waker` (`JoinSet`)
//! share it.

use std::task::Waker;

use super::raw::Header;
use super::state::Snapshot;
use super::Trailer;

/// The join waker hand-off, for the join handle only (it alone writes the
/// waker slot while JOIN_WAKER is clear). Returns true when the task is
/// complete (its output can be read); otherwise leaves `waker` registered,
/// to be woken when the task completes. Untyped: the hand-off touches only
/// the header's state and the trailer's slot.
pub(super) fn can_read_output(header: &Header, trailer: &Trailer, waker: &Waker) -> bool {
    let state = &header.state;
    let snapshot = state.load();
    if snapshot.is_complete() {
        return true;
    }
    let res = if snapshot.is_join_waker_set() {
        // SAFETY: JOIN_WAKER set: the completer may read the slot, and
        // only we (the handle) ever write it; reading is fine.
        let same = unsafe { trailer.join_waker_will_wake(waker) };
        if same {
            return false;
        }
        state
            .unset_join_waker()
            .and_then(|_| install_join_waker(header, trailer, waker))
    } else {
        install_join_waker(header, trailer, waker)
    };
    match res {
        Ok(_) => false,
        Err(s) => {
            debug_assert!(s.is_complete());
            true
        }
    }
}

fn install_join_waker(
    header: &Header,
    trailer: &Trailer,
    waker: &Waker,
) -> Result<Snapshot, Snapshot> {
    // SAFETY: JOIN_WAKER is clear and we are the handle: the slot is
    // ours alone.
    unsafe { trailer.set_join_waker(Some(waker.clone())) };
    let res = header.state.set_join_waker();
    if res.is_err() {
        // SAFETY: the flag never got set; the slot is still ours.
        unsafe { trailer.set_join_waker(None) };
    }
    res
}
