//! A list of weak references for "reach everything still alive later"
//! (shutdown's cancels, `Server::abort_clients`): pushing is O(1)
//! amortised, and dead entries are pruned whenever the list doubles, so it
//! stays within about twice the peak number of live items.

use std::sync::{Arc, Weak};

pub(crate) struct WeakList<T> {
    items: Vec<Weak<T>>,
    prune_at: usize,
}

impl<T> Default for WeakList<T> {
    fn default() -> Self {
        WeakList {
            items: Vec::new(),
            prune_at: 64,
        }
    }
}

impl<T> WeakList<T> {
    pub(crate) fn push(&mut self, item: &Arc<T>) {
        if self.items.len() >= self.prune_at {
            self.items.retain(|w| w.strong_count() > 0);
            self.prune_at = (self.items.len() * 2).max(64);
        }
        self.items.push(Arc::downgrade(item));
    }

    /// Empties the list, returning the items still alive.
    pub(crate) fn take_live(&mut self) -> Vec<Arc<T>> {
        let items = std::mem::take(&mut self.items);
        self.prune_at = 64;
        items.iter().filter_map(Weak::upgrade).collect()
    }
}
