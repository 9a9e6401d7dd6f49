//! The one place where ferrio chooses between `std` and `loom`.
//!
//! Every atomic, cell, lock and thread that takes part in a concurrent
//! protocol is imported from here. A normal build gets `std`; a build with
//! `RUSTFLAGS="--cfg ferrio_loom"` gets loom's model-checked stand-ins, so
//! the protocols in `loom-tests/` run the very code that ships. The cfg is
//! namespaced (not plain `loom`) so that dependencies which also know a
//! `loom` cfg are not switched along with us.

#[cfg(not(ferrio_loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::Arc;
        pub(crate) use std::sync::{Condvar as RawCondvar, Mutex as RawMutex, MutexGuard};

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod cell {
        /// `std::cell::UnsafeCell` with loom's closure-based access API, so
        /// that the same call sites compile against both.
        #[derive(Debug)]
        pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> UnsafeCell<T> {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }

            #[inline(always)]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            #[inline(always)]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, park, yield_now, Builder, JoinHandle, Thread};
    }

    /// std's `thread_local!` with a `const` initialiser (every ferrio
    /// thread-local has one): no lazy-initialisation check per access.
    macro_rules! const_thread_local {
        ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
            std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
        };
    }
    pub(crate) use const_thread_local as thread_local;

    /// The mutex for short, hot critical sections shared by tasks on
    /// different workers (queues, semaphores): parking_lot's adaptive
    /// spinning beats std's futex mutex there (measured in README).
    pub(crate) use parking_lot::{Mutex as FastMutex, MutexGuard as FastMutexGuard};

    /// The reader-writer lock for values read in place by many tasks and
    /// replaced now and then (`watch`'s value): parking_lot's, poison-free,
    /// fair between readers and writers.
    pub(crate) use parking_lot::{RwLock as FastRwLock, RwLockReadGuard as FastRwLockReadGuard};
}

#[cfg(ferrio_loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::Arc;
        pub(crate) use loom::sync::{Condvar as RawCondvar, Mutex as RawMutex, MutexGuard};

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{
                fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
            };
        }
    }

    pub(crate) mod cell {
        pub(crate) use loom::cell::UnsafeCell;
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, Builder, JoinHandle, Thread};
    }

    pub(crate) use loom::thread_local;

    /// loom's mutex with parking_lot's (poison-free) face.
    #[derive(Debug)]
    pub(crate) struct FastMutex<T>(loom::sync::Mutex<T>);

    pub(crate) type FastMutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> FastMutex<T> {
        pub(crate) fn new(value: T) -> FastMutex<T> {
            FastMutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> FastMutexGuard<'_, T> {
            self.0.lock().unwrap()
        }

        pub(crate) fn try_lock(&self) -> Option<FastMutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    /// loom's reader-writer lock with parking_lot's (poison-free) face.
    #[derive(Debug)]
    pub(crate) struct FastRwLock<T>(loom::sync::RwLock<T>);

    pub(crate) type FastRwLockReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    pub(crate) type FastRwLockWriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

    impl<T> FastRwLock<T> {
        pub(crate) fn new(value: T) -> FastRwLock<T> {
            FastRwLock(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> FastRwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|e| e.into_inner())
        }

        pub(crate) fn write(&self) -> FastRwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|e| e.into_inner())
        }
    }
}

pub(crate) use imp::{
    cell, thread, thread_local, FastMutex, FastMutexGuard, FastRwLock, FastRwLockReadGuard,
};

/// The poison-free mutex and condition variable, over the raw types of
/// the module that invokes it (std's, or loom's). Every lock in ferrio
/// guards state that a panic cannot leave half-written (the panics it
/// contains happen outside the critical sections), so poisoning is
/// shrugged off here, once.
macro_rules! poison_free_sync {
    () => {
        /// A mutex whose `lock` ignores poisoning.
        #[derive(Debug)]
        pub(crate) struct Mutex<T>(RawMutex<T>);

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Mutex<T> {
                Mutex(RawMutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock().unwrap_or_else(|e| e.into_inner())
            }
        }

        impl<T: Default> Default for Mutex<T> {
            fn default() -> Mutex<T> {
                Mutex::new(T::default())
            }
        }

        /// A condition variable over [`Mutex`]'s guards, ignoring
        /// poisoning.
        #[derive(Debug)]
        #[allow(dead_code)] // `plain` users need no condition variable
        pub(crate) struct Condvar(RawCondvar);

        #[allow(dead_code)]
        impl Condvar {
            pub(crate) fn new() -> Condvar {
                Condvar(RawCondvar::new())
            }

            #[allow(dead_code)]
            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }

            #[allow(dead_code)]
            pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(guard).unwrap_or_else(|e| e.into_inner())
            }

            /// Waits at most `timeout`; the flag is true when it timed out.
            pub(crate) fn wait_timeout<'a, T>(
                &self,
                guard: MutexGuard<'a, T>,
                timeout: std::time::Duration,
            ) -> (MutexGuard<'a, T>, bool) {
                let (guard, result) = self
                    .0
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|e| e.into_inner());
                (guard, result.timed_out())
            }
        }
    };
}

/// std's or loom's `sync` (atomics, `Arc`), and the poison-free
/// [`Mutex`](sync::Mutex) and [`Condvar`](sync::Condvar) over them.
pub(crate) mod sync {
    pub(crate) use super::imp::sync::{atomic, Arc, MutexGuard};
    use super::imp::sync::{RawCondvar, RawMutex};

    poison_free_sync!();
}

/// Counters that only hand out unique numbers (task ids) and take part in no
/// protocol. They live in `static`s, which loom's atomics cannot, so they
/// always come from `std`. They keep counting across a loom model's
/// executions, so under loom nothing may branch on their values (loom
/// replays a schedule assuming every execution does the same thing; see
/// `scheduler::remote_shard`).
///
/// The same poison-free mutex and condition variable over std's, for the
/// state that never takes part in a loom model (the blocking pool's
/// threads, the process reaper, join slots written by plain threads).
pub(crate) mod plain {
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
    pub(crate) use std::sync::MutexGuard;
    use std::sync::{Condvar as RawCondvar, Mutex as RawMutex};

    poison_free_sync!();

    impl<T> Mutex<T> {
        /// For `static`s (std's mutex is const-constructible).
        #[cfg_attr(ferrio_loom, allow(dead_code))] // its users are not built under loom
        pub(crate) const fn new_const(value: T) -> Mutex<T> {
            Mutex(RawMutex::new(value))
        }
    }
}
