//! The run queues, behind one façade.
//!
//! Normally these are `crossbeam-deque`'s lock-free `Worker` (owner end),
//! `Stealer` and `Injector`. Loom cannot see inside crossbeam-deque, so
//! under `cfg(ferrio_loom)` the same interface is served by a small
//! mutex-protected deque built from loom's types, which lets the models in
//! `loom-tests/` explore every interleaving of the scheduler protocols
//! around the queues.

#[cfg(not(ferrio_loom))]
mod imp {
    use crossbeam_deque::{Steal, Stealer as CbStealer, Worker as CbWorker};

    /// The owner's end of a worker's FIFO queue. Only the owning worker
    /// thread pushes and pops.
    pub(crate) struct Local<T>(CbWorker<T>);

    /// A handle other workers use to steal from a `Local`.
    pub(crate) struct Stealer<T>(CbStealer<T>);

    /// The shared queue for tasks scheduled from outside the workers.
    pub(crate) struct Injector<T>(crossbeam_deque::Injector<T>);

    pub(crate) fn local<T>() -> (Local<T>, Stealer<T>) {
        let w = CbWorker::new_fifo();
        let s = w.stealer();
        (Local(w), Stealer(s))
    }

    /// Retries a steal while it reports contention (`Retry`), a bounded
    /// number of times.
    fn settle<T>(mut f: impl FnMut() -> Steal<T>) -> Option<T> {
        for _ in 0..16 {
            match f() {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
        None
    }

    impl<T> Local<T> {
        pub(crate) fn push(&self, task: T) {
            self.0.push(task)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.pop()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Stealer<T> {
        /// Moves a batch (about half) into `dest` and returns one task.
        pub(crate) fn steal_into(&self, dest: &Local<T>) -> Option<T> {
            settle(|| self.0.steal_batch_and_pop(&dest.0))
        }
        /// Takes one task (the watchdog emptying a stuck worker's queue).
        pub(crate) fn steal(&self) -> Option<T> {
            settle(|| self.0.steal())
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Injector<T> {
            Injector(crossbeam_deque::Injector::new())
        }
        pub(crate) fn push(&self, task: T) {
            self.0.push(task)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            settle(|| self.0.steal())
        }
        /// Moves a batch into `dest` and returns one task.
        pub(crate) fn steal_into(&self, dest: &Local<T>) -> Option<T> {
            settle(|| self.0.steal_batch_and_pop(&dest.0))
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(ferrio_loom)]
mod imp {
    use crate::loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    type Deque<T> = Arc<Mutex<VecDeque<T>>>;

    pub(crate) struct Local<T>(Deque<T>);
    pub(crate) struct Stealer<T>(Deque<T>);
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    pub(crate) fn local<T>() -> (Local<T>, Stealer<T>) {
        let q: Deque<T> = Arc::new(Mutex::new(VecDeque::new()));
        (Local(q.clone()), Stealer(q))
    }

    fn move_half<T>(src: &mut VecDeque<T>, dest: &Mutex<VecDeque<T>>) -> Option<T> {
        let first = src.pop_front()?;
        let extra = src.len().div_ceil(2);
        if extra > 0 {
            let mut d = dest.lock();
            for _ in 0..extra {
                d.push_back(src.pop_front().unwrap());
            }
        }
        Some(first)
    }

    impl<T> Local<T> {
        pub(crate) fn push(&self, task: T) {
            self.0.lock().push_back(task)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_into(&self, dest: &Local<T>) -> Option<T> {
            if Arc::ptr_eq(&self.0, &dest.0) {
                return None;
            }
            let mut src = self.0.lock();
            move_half(&mut src, &dest.0)
        }
        pub(crate) fn steal(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Injector<T> {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, task: T) {
            self.0.lock().push_back(task)
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn steal_into(&self, dest: &Local<T>) -> Option<T> {
            let mut src = self.0.lock();
            move_half(&mut src, &dest.0)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}

pub(crate) use imp::{local, Injector, Local, Stealer};
