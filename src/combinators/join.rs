//! The engine under `gather`, `try_gather` and `as_completed`: a set of
//! futures polled inside the caller's task, each with its own waker (the
//! ready list of `wake_set.rs`), so a wake-up re-polls only the future that
//! was woken (not all n).
//!
//! # Combinators
//!
//! - `gather`, `try_gather` and `as_completed` poll their futures inside the
//!   caller's task (no spawn, no `'static`), each child with its own waker that
//!   records its index: a wake-up re-polls only that child, so a gather of
//!   10,000 futures costs O(1) per completion, not O(n).
//! - Passing `Task`s runs the work on the workers; dropping the combinator
//!   drops the handles, which detaches the tasks (asyncio leaves a cancelled
//!   gather's children running).
//! - `shield(fut)` spawns and returns the `Task`; wait on `&mut task` to keep
//!   the handle across an outer timeout (`&mut Task` is a future).
//! - `wait` registers a removable done-callback per task (so it never
//!   consumes outputs) that records the task's index: a wake-up looks only at
//!   the tasks that finished since the last poll, O(n) for the whole wait.
//!   The callbacks are removed when `wait` returns or is dropped (asyncio's
//!   `remove_done_callback`), so a supervision loop of waits leaves nothing on
//!   long-lived tasks. It returns `(done, pending)`; nothing is cancelled. `FirstException`
//!   reacts to panics; `wait_results` (tasks returning `Result`) also counts
//!   `Err` outputs, by peeking at a finished task's output through the
//!   vtable without taking it (a generic `T` cannot be asked whether it is an
//!   error: no specialisation).
//!
//! - `TaskGroup`: children are tasks wrapped so that an `Err` or a panic is
//!   recorded in the group (the first one cancels every other child, outside
//!   the group's lock, since a cancel may drop a child at once); an exit guard
//!   in each child counts it out however it ends, and `join` waits for the
//!   count to reach zero, so children spawned by children are waited for too.
//!   The wrapper also drops the child's future itself, inside `catch_unwind`:
//!   a destructor that panics (a child cancelled by the abort, or finishing)
//!   is that child's `ChildFailure::Panic`, never a task panic nobody
//!   retrieves. Dropping the group cancels the children; a spawn that passed
//!   the open check before the drop re-checks a `dropped` flag after spawning
//!   and cancels its own child (the list the drop took could not hold it).
//!   The group's lock comes from the loom shim, so the loom models run the
//!   shipped spawn/drop/abort code on the test scheduler.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::wake_set::WakeSet;

enum Slot<F: Future> {
    Pending(F),
    Done(F::Output),
    Taken,
}

/// Futures polled together; completed outputs wait in their slots.
pub(crate) struct JoinSet<F: Future> {
    slots: Pin<Box<[Slot<F>]>>,
    wakers: Vec<Waker>,
    ready: WakeSet<usize>,
    remaining: usize,
    started: bool,
}

impl<F: Future> JoinSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> JoinSet<F> {
        let slots: Vec<Slot<F>> = futures.into_iter().map(Slot::Pending).collect();
        let n = slots.len();
        let ready = WakeSet::new();
        let wakers = (0..n).map(|index| ready.waker(index)).collect();
        JoinSet {
            slots: Box::into_pin(slots.into_boxed_slice()),
            wakers,
            ready,
            remaining: n,
            started: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.wakers.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Polls the futures that were woken (all of them the first time) and
    /// calls `done` with the index of each that completed.
    pub(crate) fn poll_progress(&mut self, cx: &mut Context<'_>, mut done: impl FnMut(usize)) {
        // Register before polling: a wake-up during the polls below
        // re-queues its index and wakes us again.
        let indices: Vec<usize> = if self.started {
            self.ready.register_and_take(cx.waker())
        } else {
            self.started = true;
            self.ready.register_and_clear(cx.waker());
            (0..self.wakers.len()).collect()
        };
        for i in indices {
            // SAFETY: slots are structurally pinned in their boxed slice;
            // a pending future is only polled in place and replaced
            // (dropped in place) when it completes, never moved.
            let slot = unsafe { &mut self.slots.as_mut().get_unchecked_mut()[i] };
            let Slot::Pending(fut) = slot else { continue };
            // SAFETY: as above, the future never moves.
            let fut = unsafe { Pin::new_unchecked(fut) };
            let mut child_cx = Context::from_waker(&self.wakers[i]);
            if let Poll::Ready(out) = fut.poll(&mut child_cx) {
                *slot = Slot::Done(out);
                self.remaining -= 1;
                done(i);
            }
        }
    }

    /// Borrows a completed output.
    pub(crate) fn output(&self, i: usize) -> Option<&F::Output> {
        match &self.slots[i] {
            Slot::Done(out) => Some(out),
            _ => None,
        }
    }

    /// Takes a completed output out of its slot.
    pub(crate) fn take(&mut self, i: usize) -> Option<F::Output> {
        // SAFETY: a Done slot holds no future; replacing it moves only the
        // output (which is not pinned).
        let slot = unsafe { &mut self.slots.as_mut().get_unchecked_mut()[i] };
        if !matches!(slot, Slot::Done(_)) {
            // Never move a pending (pinned) future out of its slot.
            return None;
        }
        match std::mem::replace(slot, Slot::Taken) {
            Slot::Done(out) => Some(out),
            _ => unreachable!("checked above"),
        }
    }
}
