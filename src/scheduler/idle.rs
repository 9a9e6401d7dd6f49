//! Who is searching for work and who is asleep.
//!
//! One atomic word counts searching workers (low half) and unparked workers
//! (high half); a mutex-protected list names the sleepers. The rules:
//! - at most half the workers search at once (`to_searching`);
//! - a notification wakes one sleeper, and only when nobody is searching
//!   (a searcher will find the new work; the last searcher to give up
//!   re-checks every queue before it sleeps);
//! - the woken worker starts out searching, and when a searcher finds work
//!   and was the last one searching, it wakes one more (the cascade that
//!   spreads a burst of work over the workers).
//!
//! Under the sleepers lock, `sleepers.len() == workers - unparked`.
//!
//! # Scheduler
//!
//! - **Queues** (`run_queue.rs`): crossbeam-deque as the user asked: a FIFO
//!   `Worker` per worker, `Stealer`s for the others, one `Injector`. Only the
//!   owning worker pushes to its local queue. Under loom a mutex-protected
//!   deque with the same interface stands in, because loom cannot see inside
//!   crossbeam.
//! - **LIFO slot**: a task woken (or spawned) by the running task goes into the
//!   worker's LIFO slot and runs next; the previous occupant goes to the back
//!   of the local queue. At most 3 LIFO polls in a row (tokio's cap),
//!   then the slot's task goes to the back of the queue: a ping-pong pair
//!   cannot starve the queue (tested). Siblings do not steal the slot, as in
//!   tokio; a task in it behind a long poll waits until the watchdog sees
//!   the poll stuck and moves it to the injector (`lifo.rs`, `watchdog.rs`).
//! - **Fairness**: every 61st tick the injector is checked before the local
//!   queue. A yield goes to the back of the local queue. The coop budget (128
//!   per poll) makes always-ready leaf futures (`Task` joins, semaphore
//!   acquires, queue puts and gets, epoll ops that finish at once) yield.
//! - **Searching** (`idle.rs`): at most half the workers search at once; a
//!   notification wakes one sleeper and only when nobody searches; a worker
//!   woken by a notification counts as searching until it finds work; the last
//!   searcher to find work wakes another (cascade); the last searcher to give
//!   up re-checks every queue before sleeping. The sleeper list and the
//!   unparked count change together under one mutex. The producer's push and
//!   the parker's re-check are ordered by a SeqCst fence on both sides.
//! - **Parking** (`park.rs`, `driver/parking.rs`): the EMPTY/PARKED/NOTIFIED
//!   word means waking a busy worker costs one atomic swap and no syscall;
//!   only a PARKED worker gets an eventfd write.
//! - **Why eager**: every worker has its own ring (or epoll instance), so an
//!   operation's completion wakes the worker whose ring holds it; with two
//!   workers sharing the I/O both sleep and wake with the traffic, about
//!   twice as often as tokio's workers behind its one epoll driver.
//!   Sending a worker's I/O to ring 0 while worker 0 is awake, and waking
//!   siblings only at eight queued tasks, brought the context switches to
//!   tokio's level but not the CPU per request or the throughput; it caps
//!   the kernel's I/O work at one core under heavy load (it lost throughput
//!   at 256 × 1 KiB) and leaves woken tasks behind a long poll while a
//!   sibling sleeps. Numbers: README, "Park/wake experiments".
//! - **Maintenance**: every 61st tick a worker fires due timers, moves
//!   requests from other threads into its ring, submits, and reaps
//!   completions (on epoll: collects ready events). Before parking it only
//!   fires timers: the park's own enter submits and returns at once if
//!   something completed inline, so a separate submit would be a second
//!   system call (README has the enters per request this saved).

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;
use crossbeam_utils::CachePadded;

const UNPARK_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;
const ONE_SEARCHING: usize = 1;
const ONE_UNPARKED: usize = 1 << UNPARK_SHIFT;

pub(crate) struct Idle {
    /// Written by every park, wake and search: on a cache line of its own.
    state: CachePadded<AtomicUsize>,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

fn searching(s: usize) -> usize {
    s & SEARCH_MASK
}

fn unparked(s: usize) -> usize {
    s >> UNPARK_SHIFT
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers < SEARCH_MASK);
        Idle {
            state: CachePadded::new(AtomicUsize::new(workers << UNPARK_SHIFT)),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock()
    }

    fn should_wake(&self) -> bool {
        let s = self.state.load(SeqCst);
        searching(s) == 0 && unparked(s) < self.workers
    }

    /// Picks a sleeper to wake for new work, accounting for it as unparked
    /// and searching. `None` when a searcher exists or nobody sleeps.
    ///
    /// The caller published the work before calling (it is visible to any
    /// searcher that decrements the counter after our load).
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = self.lock();
        if !self.should_wake() {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(ONE_SEARCHING | ONE_UNPARKED, SeqCst);
        Some(index)
    }

    /// True when every worker is parked (the watchdog's cue to sleep).
    #[cfg_attr(ferrio_loom, allow(dead_code))]
    pub(crate) fn all_parked(&self) -> bool {
        unparked(self.state.load(SeqCst)) == 0
    }

    /// A worker wants to search. Refused when half the workers already do.
    pub(crate) fn to_searching(&self) -> bool {
        let mut s = self.state.load(SeqCst);
        loop {
            if 2 * searching(s) >= self.workers {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(s, s + ONE_SEARCHING, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// A searcher found work. Returns true when it was the last searcher
    /// (it must then wake another worker).
    pub(crate) fn stop_searching(&self) -> bool {
        let prev = self.state.fetch_sub(ONE_SEARCHING, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// A worker goes to sleep. Returns true when it was the last searcher:
    /// it must then re-check the queues (work may have been pushed by a
    /// producer that saw it searching and did not notify).
    pub(crate) fn to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sleepers = self.lock();
        let dec = ONE_UNPARKED + if is_searching { ONE_SEARCHING } else { 0 };
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(index);
        is_searching && searching(prev) == 1
    }

    /// After waking: if the worker is still listed as a sleeper, nobody
    /// notified it (a spurious or driver wake-up); it takes itself off the
    /// list and returns true. Returns false when a notifier already did
    /// (and counted it as searching).
    pub(crate) fn unpark_self(&self, index: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(ONE_UNPARKED, SeqCst);
                true
            }
            None => false,
        }
    }
}
