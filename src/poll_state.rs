//! What the poll running on this thread carries: its cooperative budget
//! (`coop.rs`) and the earliest deadline of the timeout scopes whose
//! bodies it is inside (`time::Scoped`). Both start fresh with each task
//! poll and each `block_on` poll ([`enter_poll`]).

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::Cell;
use std::time::Instant;

/// Operations a task may complete in one poll before it is made to yield.
pub(crate) const BUDGET: u8 = 128;

struct PollState {
    /// Operations left before the current task must yield; `None` when no
    /// ferrio poll is on the stack (unconstrained).
    budget: Cell<Option<u8>>,
    /// The earliest deadline of the timeout scopes whose bodies are being
    /// polled right now: a nested scope that expired leaves the report to
    /// an enclosing one that expired too.
    scope_deadline: Cell<Option<Instant>>,
}

crate::loom::thread_local! {
    static POLL: PollState = PollState {
        budget: Cell::new(None),
        scope_deadline: Cell::new(None),
    };
}

/// A fresh budget, outside every timeout scope, until the guard drops.
pub(crate) struct PollGuard {
    prev_budget: Option<u8>,
    prev_scope: Option<Instant>,
}

/// Starts a poll (of a task, or of `block_on`'s future).
pub(crate) fn enter_poll() -> PollGuard {
    POLL.try_with(|p| PollGuard {
        prev_budget: p.budget.replace(Some(BUDGET)),
        prev_scope: p.scope_deadline.replace(None),
    })
    // Not `unwrap_or(PollGuard { .. })`: that guard would be built, and
    // dropped, on every call, resetting the state just set.
    .unwrap_or_else(|_| PollGuard {
        prev_budget: None,
        prev_scope: None,
    })
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        let _ = POLL.try_with(|p| {
            p.budget.set(self.prev_budget);
            p.scope_deadline.set(self.prev_scope);
        });
    }
}

/// Lifts the budget (unconstrained) until the guard drops, which puts
/// back what was left.
pub(crate) struct UnconstrainedGuard {
    prev_budget: Option<u8>,
}

pub(crate) fn enter_unconstrained() -> UnconstrainedGuard {
    UnconstrainedGuard {
        prev_budget: POLL.try_with(|p| p.budget.replace(None)).unwrap_or(None),
    }
}

impl Drop for UnconstrainedGuard {
    fn drop(&mut self) {
        let _ = POLL.try_with(|p| p.budget.set(self.prev_budget));
    }
}

/// Spends one unit of budget; false when it is exhausted.
pub(crate) fn consume_budget() -> bool {
    POLL.try_with(|p| match p.budget.get() {
        None => true,
        Some(0) => false,
        Some(n) => {
            p.budget.set(Some(n - 1));
            true
        }
    })
    .unwrap_or(true)
}

/// Marks the body of a timeout scope with `deadline` as being polled,
/// until the guard drops.
pub(crate) struct ScopeGuard {
    prev: Option<Instant>,
}

pub(crate) fn enter_timeout_scope(deadline: Option<Instant>) -> ScopeGuard {
    let prev = POLL
        .try_with(|p| {
            let prev = p.scope_deadline.get();
            let earliest = match (prev, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            p.scope_deadline.set(earliest);
            prev
        })
        .unwrap_or(None);
    ScopeGuard { prev }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let _ = POLL.try_with(|p| p.scope_deadline.set(self.prev));
    }
}

/// The earliest deadline of the timeout scopes enclosing the current poll.
pub(crate) fn enclosing_scope_deadline() -> Option<Instant> {
    POLL.try_with(|p| p.scope_deadline.get()).unwrap_or(None)
}
