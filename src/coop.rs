//! Cooperative scheduling: a task gets a budget of operations per poll
//! (`poll_state::BUDGET`). Leaf futures that can be ready many times in a row
//! (joining finished tasks, receiving from a full queue, ...) spend one unit
//! each; once the budget is spent they return `Pending` after waking the
//! task, which sends it to the back of the queue. A task that is always
//! ready cannot starve its worker.

use std::task::Context;

/// Spends one unit of the current task's budget. When it is spent, wakes
/// the task and returns false: the caller must return `Pending`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> bool {
    if crate::poll_state::consume_budget() {
        true
    } else {
        cx.waker().wake_by_ref();
        false
    }
}

/// Runs `f` with no budget: what it polls cannot be told to yield. For
/// calls that are not polls and so cannot yield (`JoinSet::try_join_next`).
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let _guard = crate::poll_state::enter_unconstrained();
    f()
}
