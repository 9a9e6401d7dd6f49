//! The live task groups, for a task dump: a group (a layer above, e.g.
//! `TaskGroup`) registers itself here, and the dump asks each live one
//! for its owner and children. Costs one lock per group created, nothing
//! per task.

use std::sync::{Arc, Weak};

use super::TaskId;
use crate::loom::plain::Mutex;

/// A group of tasks a dump shows under the task that owns it.
pub(crate) trait GroupMembers: Send + Sync {
    /// Calls `f` with the owner (the task that created the group) and each
    /// child.
    fn members(&self, f: &mut dyn FnMut(Option<TaskId>, TaskId));
}

struct Registry {
    groups: Vec<Weak<dyn GroupMembers>>,
    prune_at: usize,
}

static GROUPS: Mutex<Registry> = Mutex::new_const(Registry {
    groups: Vec::new(),
    prune_at: 64,
});

/// Registers a group for as long as it lives (dead entries are pruned
/// whenever the list doubles).
pub(crate) fn register(group: &Arc<dyn GroupMembers>) {
    let mut r = GROUPS.lock();
    if r.groups.len() >= r.prune_at {
        r.groups.retain(|w| w.strong_count() > 0);
        r.prune_at = (r.groups.len() * 2).max(64);
    }
    r.groups.push(Arc::downgrade(group));
}

/// Calls `f(owner, child)` for every child of every live group.
pub(crate) fn for_each_member(mut f: impl FnMut(Option<TaskId>, TaskId)) {
    let live: Vec<Arc<dyn GroupMembers>> = GROUPS
        .lock()
        .groups
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for g in live {
        g.members(&mut f);
    }
}
