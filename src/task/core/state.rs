//! The task state word: lifecycle flags and the reference count in one
//! atomic, so that every transition is a single CAS.
//!
//! Bits (low to high):
//! - `RUNNING`: somebody holds the lock on the future (a poller, or a
//!   canceller dropping it). RUNNING is the lock on the task's stage.
//! - `COMPLETE`: the stage holds the output (or it was consumed); the future
//!   is gone. Never cleared.
//! - `NOTIFIED`: a `Notified` reference exists (queued), or a wake arrived
//!   while RUNNING and the poller must reschedule.
//! - `JOIN_INTEREST`: the `Task` handle is alive and owns the output.
//! - `JOIN_WAKER`: the join waker slot holds a waker the completer may read;
//!   while set, only the completer touches the slot.
//! - `CANCELLED`: cancellation was requested.
//! - `PANICKED`: the task completed with a panic (set with COMPLETE).
//! - `HAS_CALLBACKS`: done-callbacks were registered before completion.
//! - the rest: the reference count.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const JOIN_INTEREST: usize = 1 << 3;
const JOIN_WAKER: usize = 1 << 4;
const CANCELLED: usize = 1 << 5;
const PANICKED: usize = 1 << 6;
const HAS_CALLBACKS: usize = 1 << 7;

const REF_SHIFT: usize = 8;
const REF_ONE: usize = 1 << REF_SHIFT;
const REF_MASK: usize = !(REF_ONE - 1);

/// A new task: notified (about to be queued), the join handle is alive, and
/// three references: the owned-task list, the first notification, the
/// `Task` handle.
const INITIAL: usize = (REF_ONE * 3) | JOIN_INTEREST | NOTIFIED;

pub(crate) struct State {
    val: AtomicUsize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_panicked(self) -> bool {
        self.0 & PANICKED != 0
    }
    pub(crate) fn has_callbacks(self) -> bool {
        self.0 & HAS_CALLBACKS != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        (self.0 & REF_MASK) >> REF_SHIFT
    }
    fn ref_inc(&mut self) {
        assert!(
            self.0 <= isize::MAX as usize,
            "task reference count overflow"
        );
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        debug_assert!(self.ref_count() > 0);
        self.0 -= REF_ONE;
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("cancelled", &self.is_cancelled())
            .field("panicked", &self.is_panicked())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the worker holding a `Notified` must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// The lock is taken: poll the future.
    Poll,
    /// The lock is taken and cancellation was requested: drop the future.
    Cancel,
    /// The task is running elsewhere or complete; the notification's
    /// reference was dropped.
    Skip,
    /// As `Skip`, and that was the last reference.
    Dealloc,
}

/// What the poller does after the future returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Idle; the poller's reference was dropped.
    Idle,
    /// Woken during the poll: a notification reference was added and must
    /// be scheduled; then the poller drops its own.
    Reschedule,
    /// Cancelled during the poll: still locked, drop the future.
    Cancel,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Nothing (already queued, running, or complete).
    Nothing,
    /// Schedule the (new or transferred) notification reference.
    Submit,
    /// The waker's reference was the last: free the task.
    Dealloc,
}

/// What `Task::cancel` must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToCancelled {
    /// Already complete: nothing to cancel.
    AlreadyDone,
    /// Marked; whoever holds or will take the lock drops the future.
    Marked,
    /// The lock was taken (a reference added): drop the future now.
    CancelNow,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            val: AtomicUsize::new(INITIAL),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Acquire))
    }

    fn fetch_update<T>(&self, mut f: impl FnMut(Snapshot) -> (T, Option<Snapshot>)) -> T {
        let mut cur = self.load();
        loop {
            let (out, next) = f(cur);
            let Some(next) = next else { return out };
            match self
                .val
                .compare_exchange_weak(cur.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return out,
                Err(actual) => cur = Snapshot(actual),
            }
        }
    }

    /// A worker holding a `Notified` reference takes the lock.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.fetch_update(|s| {
            let mut next = s;
            if !s.is_idle() {
                next.ref_dec();
                let action = if next.ref_count() == 0 {
                    ToRunning::Dealloc
                } else {
                    ToRunning::Skip
                };
                return (action, Some(next));
            }
            next.0 |= RUNNING;
            next.0 &= !NOTIFIED;
            let action = if s.is_cancelled() {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (action, Some(next))
        })
    }

    /// The poller releases the lock after `Pending`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.fetch_update(|s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() {
                return (ToIdle::Cancel, None);
            }
            let mut next = s;
            next.0 &= !RUNNING;
            if s.is_notified() {
                // A new reference for the notification; the poller keeps
                // its own until the notification is handed over, so the
                // cell outlives the scheduler call.
                next.ref_inc();
                (ToIdle::Reschedule, Some(next))
            } else {
                // Our reference goes; the owned list still holds one, so
                // this cannot be the last.
                next.ref_dec();
                debug_assert!(next.ref_count() > 0);
                (ToIdle::Idle, Some(next))
            }
        })
    }

    /// The holder of the lock publishes the output. `cancelled_now` is
    /// called with the state seen by each attempt; it returns whether the
    /// output (already stored) is a panic. Returns the snapshot before the
    /// transition. Leaves the caller's reference in place.
    pub(crate) fn transition_to_complete(
        &self,
        mut prepare: impl FnMut(Snapshot) -> bool,
    ) -> Snapshot {
        self.fetch_update(|s| {
            debug_assert!(s.is_running() && !s.is_complete());
            let panicked = prepare(s);
            let mut next = s;
            next.0 &= !RUNNING;
            next.0 |= COMPLETE;
            if panicked {
                next.0 |= PANICKED;
            }
            (s, Some(next))
        })
    }

    /// Wake by value: the waker's reference is consumed.
    pub(crate) fn transition_to_notified_by_val(&self) -> ToNotified {
        self.fetch_update(|s| {
            let mut next = s;
            if s.is_running() {
                next.0 |= NOTIFIED;
                next.ref_dec();
                debug_assert!(next.ref_count() > 0);
                (ToNotified::Nothing, Some(next))
            } else if s.is_complete() || s.is_notified() {
                next.ref_dec();
                if next.ref_count() == 0 {
                    (ToNotified::Dealloc, Some(next))
                } else {
                    (ToNotified::Nothing, Some(next))
                }
            } else {
                // A new reference for the notification; the waker's own is
                // dropped by the caller after scheduling, so the cell
                // outlives the scheduler call.
                next.0 |= NOTIFIED;
                next.ref_inc();
                (ToNotified::Submit, Some(next))
            }
        })
    }

    /// Wake by reference: a new reference is created if scheduling.
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.fetch_update(|s| {
            let mut next = s;
            if s.is_running() {
                if s.is_notified() {
                    return (ToNotified::Nothing, None);
                }
                next.0 |= NOTIFIED;
                (ToNotified::Nothing, Some(next))
            } else if s.is_complete() || s.is_notified() {
                (ToNotified::Nothing, None)
            } else {
                next.0 |= NOTIFIED;
                next.ref_inc();
                (ToNotified::Submit, Some(next))
            }
        })
    }

    /// `Task::cancel`.
    pub(crate) fn transition_to_cancelled(&self) -> ToCancelled {
        self.fetch_update(|s| {
            if s.is_complete() {
                return (ToCancelled::AlreadyDone, None);
            }
            let mut next = s;
            next.0 |= CANCELLED;
            if s.is_running() {
                // The holder of the lock sees the flag when it lets go.
                return (ToCancelled::Marked, Some(next));
            }
            // Idle or queued: take the lock ourselves and drop the future at
            // once. A queued notification finds the task locked or complete
            // and lets its reference go.
            next.0 |= RUNNING;
            next.ref_inc();
            (ToCancelled::CancelNow, Some(next))
        })
    }

    /// Runtime shutdown: like cancel, but never reports "already done"
    /// differently; returns whether the caller took the lock.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        matches!(self.transition_to_cancelled(), ToCancelled::CancelNow)
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self.val.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Returns true when this was the last reference.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }

    /// Drops two references at once (completion: the poller's and the
    /// owned list's). Returns true when they were the last.
    pub(crate) fn ref_dec_twice(&self) -> bool {
        let prev = Snapshot(self.val.fetch_sub(2 * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 2);
        prev.ref_count() == 2
    }

    /// Fast path of dropping a `Task` handle that was never polled and whose
    /// task never ran: one CAS from the initial state.
    pub(crate) fn drop_join_handle_fast(&self) -> bool {
        self.val
            .compare_exchange(
                INITIAL,
                (INITIAL - REF_ONE) & !JOIN_INTEREST,
                Release,
                Relaxed,
            )
            .is_ok()
    }

    /// The `Task` handle lets go of the output and (if the task is not
    /// complete) of the join waker. Returns `(drop_output, drop_waker)`.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> (bool, bool) {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested());
            let mut next = s;
            next.0 &= !JOIN_INTEREST;
            if !s.is_complete() {
                next.0 &= !JOIN_WAKER;
            }
            ((s.is_complete(), !next.is_join_waker_set()), Some(next))
        })
    }

    /// The `Task` handle publishes the waker it just wrote. Fails (returning
    /// the snapshot) when the task completed first.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            let next = Snapshot(s.0 | JOIN_WAKER);
            (Ok(next), Some(next))
        })
    }

    /// The `Task` handle takes the waker slot back to replace its waker.
    /// Fails when the task completed first.
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested() && s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            let next = Snapshot(s.0 & !JOIN_WAKER);
            (Ok(next), Some(next))
        })
    }

    /// The completer is done with the join waker; returns the new state.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        Snapshot(self.val.fetch_and(!JOIN_WAKER, AcqRel) & !JOIN_WAKER)
    }

    /// Announces registered callbacks. Fails when the task completed first.
    pub(crate) fn set_has_callbacks(&self) -> Result<(), Snapshot> {
        self.fetch_update(|s| {
            if s.is_complete() {
                return (Err(s), None);
            }
            if s.has_callbacks() {
                return (Ok(()), None);
            }
            (Ok(()), Some(Snapshot(s.0 | HAS_CALLBACKS)))
        })
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn initial_state() {
        let st = State::new();
        let s = st.load();
        assert!(s.is_notified() && s.is_join_interested() && s.is_idle());
        assert_eq!(s.ref_count(), 3);
    }

    #[test]
    fn run_then_idle_then_wake() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_notified_by_ref(), ToNotified::Nothing);
        assert_eq!(st.transition_to_idle(), ToIdle::Reschedule);
        assert_eq!(st.load().ref_count(), 4);
        assert!(!st.ref_dec());
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_idle(), ToIdle::Idle);
        assert_eq!(st.load().ref_count(), 2);
        assert_eq!(st.transition_to_notified_by_ref(), ToNotified::Submit);
        assert_eq!(st.load().ref_count(), 3);
        // A second wake while queued does nothing.
        assert_eq!(st.transition_to_notified_by_ref(), ToNotified::Nothing);
    }

    #[test]
    fn cancel_idle_takes_lock() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_idle(), ToIdle::Idle);
        assert_eq!(st.transition_to_cancelled(), ToCancelled::CancelNow);
        assert!(st.load().is_running() && st.load().is_cancelled());
    }

    #[test]
    fn cancel_running_marks() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_cancelled(), ToCancelled::Marked);
        assert_eq!(st.transition_to_idle(), ToIdle::Cancel);
    }

    #[test]
    fn complete_then_cancel_is_done() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        st.transition_to_complete(|_| false);
        assert_eq!(st.transition_to_cancelled(), ToCancelled::AlreadyDone);
        assert!(!st.load().is_cancelled());
    }
}
