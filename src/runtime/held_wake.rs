//! (Feature `test-util`.) The `block_on` thread's part in a paused clock:
//! while it polls, or has been woken and is about to poll, it holds the
//! clock back from jumping ahead (`time/core/clock.rs`), so that the one
//! worker, idle meanwhile, does not move time past what the `block_on`
//! future is about to do.
//!
//! Protocol, under one lock: the thread starts holding. Before it parks,
//! it lets go of the hold, unless a wake-up came during the poll (then it
//! polls again, still holding). A wake-up takes the hold again if the
//! thread had let go, then unparks it. After `block_on` returns the
//! waker holds nothing (a waker kept somewhere cannot pin the clock).

use std::sync::Arc;

use crate::loom::plain::Mutex;
use crate::time::core::{Hold, HoldSource};

/// Shared by the `block_on` loop and its waker.
pub(super) struct HeldWake {
    source: HoldSource,
    state: Mutex<State>,
}

struct State {
    hold: Option<Hold>,
    /// Woken since the last poll began.
    notified: bool,
    /// `block_on` has returned.
    done: bool,
}

impl HeldWake {
    /// Starts holding (the thread is about to poll).
    pub(super) fn new(source: HoldSource) -> Arc<HeldWake> {
        let hold = Some(source.hold());
        Arc::new(HeldWake {
            source,
            state: Mutex::new(State {
                hold,
                notified: false,
                done: false,
            }),
        })
    }

    /// Before parking: true when a wake-up came during the poll (poll
    /// again, keeping the hold); otherwise the hold is let go.
    pub(super) fn before_park(&self) -> bool {
        let released = {
            let mut s = self.state.lock();
            if std::mem::take(&mut s.notified) {
                return true;
            }
            s.hold.take()
        };
        // Outside the lock: the last hold wakes the worker.
        drop(released);
        false
    }

    /// After parking: holding again (the waker took the hold, or we take
    /// it now after a spurious return).
    pub(super) fn after_park(&self) {
        let mut s = self.state.lock();
        s.notified = false;
        if s.hold.is_none() {
            s.hold = Some(self.source.hold());
        }
    }

    /// From the waker, before the unpark.
    pub(super) fn on_wake(&self) {
        let mut s = self.state.lock();
        if s.done {
            return;
        }
        s.notified = true;
        if s.hold.is_none() {
            s.hold = Some(self.source.hold());
        }
    }

    /// `block_on` returns (or unwinds): holds nothing from now on.
    pub(super) fn finish(&self) {
        let released = {
            let mut s = self.state.lock();
            s.done = true;
            s.hold.take()
        };
        drop(released);
    }
}

/// Calls [`HeldWake::finish`] when `block_on` leaves, however it leaves.
pub(super) struct FinishOnDrop(pub(super) Option<Arc<HeldWake>>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.finish();
        }
    }
}
