//! Entry points for the loom models in `loom-tests/` (only under
//! `cfg(ferrio_loom)`). They drive the real protocol code: tasks with a
//! small test scheduler, the parker, the idle/searching protocol, and the
//! whole runtime with one or two workers. Nothing here is public API.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::list::OwnedTasks;
use crate::task::{self, Notified, RawTask, Schedule, Task, TaskInfo};

/// A single-queue scheduler for driving tasks by hand in a model.
#[derive(Clone)]
pub struct TestScheduler {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Mutex<VecDeque<Notified>>,
    owned: OwnedTasks,
    unhandled_panics: AtomicUsize,
}

impl Schedule for TestScheduler {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        self.inner.queue.lock().unwrap().push_back(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.inner.owned.remove(task)
    }

    fn unhandled_panic(&self, _info: &TaskInfo, _payload: &(dyn Any + Send)) {
        self.inner.unhandled_panics.fetch_add(1, Ordering::SeqCst);
    }
}

impl Default for TestScheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl TestScheduler {
    /// An empty scheduler.
    pub fn new() -> TestScheduler {
        TestScheduler {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                owned: OwnedTasks::new(1),
                unhandled_panics: AtomicUsize::new(0),
            }),
        }
    }

    /// Spawns a task; it is queued, not run.
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (listed, notified, handle) = task::new_task(future, self.clone(), None);
        match self.inner.owned.bind(listed, 0) {
            Ok(()) => self.schedule(notified, false),
            Err(listed) => {
                drop(notified);
                listed.shutdown();
            }
        }
        handle
    }

    /// Runs the next queued task; false when the queue is empty.
    pub fn run_one(&self) -> bool {
        let next = self.inner.queue.lock().unwrap().pop_front();
        match next {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Runs queued tasks until the queue is empty.
    pub fn run_all(&self) {
        while self.run_one() {}
    }

    /// Closes the owned list, cancels every task, drops queued
    /// notifications (what a runtime shutdown does).
    pub fn shutdown(&self) {
        self.inner.owned.close();
        for task in self.inner.owned.drain_shard(0) {
            task.shutdown();
        }
        let queued: Vec<_> = self.inner.queue.lock().unwrap().drain(..).collect();
        drop(queued);
    }

    /// Tasks spawned and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.inner.owned.len()
    }

    /// Panics reported to the handler.
    pub fn unhandled_panics(&self) -> usize {
        self.inner.unhandled_panics.load(Ordering::SeqCst)
    }
}

/// The worker parker (`scheduler::park`).
pub struct Parker(crate::scheduler::park::Parker);

/// Its waking end.
#[derive(Clone)]
pub struct Unparker(crate::scheduler::park::Unparker);

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl Parker {
    /// A new parker.
    pub fn new() -> Parker {
        Parker(crate::scheduler::park::Parker::new())
    }
    /// Its waking end.
    pub fn unparker(&self) -> Unparker {
        Unparker(self.0.unparker())
    }
    /// Sleeps until unparked.
    pub fn park(&self) {
        self.0.park(None)
    }
}

impl Unparker {
    /// Wakes the parker.
    pub fn unpark(&self) {
        self.0.unpark()
    }
}

/// The idle/searching accounting (`scheduler::idle`).
pub struct Idle(crate::scheduler::idle::Idle);

impl Idle {
    /// Accounting for `workers` workers, all unparked.
    pub fn new(workers: usize) -> Idle {
        Idle(crate::scheduler::idle::Idle::new(workers))
    }
    /// See `Idle::worker_to_notify`.
    pub fn worker_to_notify(&self) -> Option<usize> {
        self.0.worker_to_notify()
    }
    /// See `Idle::to_searching`.
    pub fn to_searching(&self) -> bool {
        self.0.to_searching()
    }
    /// See `Idle::stop_searching`.
    pub fn stop_searching(&self) -> bool {
        self.0.stop_searching()
    }
    /// See `Idle::to_parked`.
    pub fn to_parked(&self, index: usize, is_searching: bool) -> bool {
        self.0.to_parked(index, is_searching)
    }
    /// See `Idle::unpark_self`.
    pub fn unpark_self(&self, index: usize) -> bool {
        self.0.unpark_self(index)
    }
}
