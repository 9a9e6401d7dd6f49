//! Per-child wakers that record which child was woken: the ready list
//! under `gather`/`as_completed` (futures polled in the caller's task) and
//! `task::JoinSet` (tasks joined in completion order).
//!
//! Each child gets its own [`Waker`] carrying a key; waking it pushes the
//! key onto a shared list and wakes the parent (the task polling the set),
//! if one is registered. The parent takes the list and re-polls only the
//! children named in it, so a completion costs O(1), not O(n). A key may
//! appear more than once (a child woken twice before the parent looked);
//! the owners treat a stale or repeated key as a no-op poll.
//!
//! The parent registers before it takes the list: a child woken while the
//! parent polls the children it took pushes its key and wakes the parent
//! again, so no wake-up falls between the take and the parent's return.

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::loom::plain::Mutex;

struct Ready<K> {
    /// Keys woken since the parent last took the list.
    woken: Vec<K>,
    /// The task polling the set.
    parent: Option<Waker>,
}

/// The shared ready list; cloned into every child's waker.
pub(crate) struct WakeSet<K> {
    ready: Arc<Mutex<Ready<K>>>,
}

struct ChildWaker<K> {
    key: K,
    ready: Arc<Mutex<Ready<K>>>,
}

impl<K: Copy + Send + Sync + 'static> Wake for ChildWaker<K> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let parent = {
            let mut r = self.ready.lock();
            r.woken.push(self.key);
            r.parent.take()
        };
        // Outside the lock: waking may run arbitrary code.
        if let Some(p) = parent {
            p.wake();
        }
    }
}

impl<K: Copy + Send + Sync + 'static> WakeSet<K> {
    pub(crate) fn new() -> WakeSet<K> {
        WakeSet {
            ready: Arc::new(Mutex::new(Ready {
                woken: Vec::new(),
                parent: None,
            })),
        }
    }

    /// A waker that pushes `key` when woken.
    pub(crate) fn waker(&self, key: K) -> Waker {
        Waker::from(Arc::new(ChildWaker {
            key,
            ready: self.ready.clone(),
        }))
    }

    /// Registers `parent` to be woken by the next child wake-up and takes
    /// the keys woken so far.
    pub(crate) fn register_and_take(&self, parent: &Waker) -> Vec<K> {
        let mut r = self.ready.lock();
        match &r.parent {
            Some(p) if p.will_wake(parent) => {}
            _ => r.parent = Some(parent.clone()),
        }
        std::mem::take(&mut r.woken)
    }

    /// Registers `parent` and forgets the keys woken so far (the caller
    /// polls every child anyway).
    pub(crate) fn register_and_clear(&self, parent: &Waker) {
        let mut r = self.ready.lock();
        r.parent = Some(parent.clone());
        r.woken.clear();
    }

    /// Takes the keys woken so far into `out` without registering a parent.
    pub(crate) fn take_into(&self, out: &mut impl Extend<K>) {
        let woken = std::mem::take(&mut self.ready.lock().woken);
        out.extend(woken);
    }

    /// Forgets the parent (it stopped waiting): nothing of it stays behind.
    pub(crate) fn unregister(&self) {
        let parent = self.ready.lock().parent.take();
        drop(parent);
    }
}
