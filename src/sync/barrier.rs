//! `Barrier` (asyncio's `Barrier`, 3.11).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::{Mutex, MutexGuard};

/// The barrier was broken: aborted, reset while tasks waited (asyncio's
/// `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrierError;

/// The former name of [`BrokenBarrierError`].
#[deprecated(note = "renamed `BrokenBarrierError` (errors are named `<What>Error`)")]
#[doc(hidden)]
pub type BrokenBarrier = BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrierError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    /// The round completed; the waiter's arrival index in it.
    Released(usize),
    Broken,
}

struct State {
    parties: usize,
    /// Tasks waiting in the current round.
    count: usize,
    broken: bool,
    /// Waiter ids grow with arrival, so the map's order is arrival order.
    next_id: u64,
    /// Each waiter's waker and what happened to its round.
    waiters: BTreeMap<u64, (Waker, Fate)>,
}

/// Makes `parties` tasks wait for each other (asyncio's `Barrier`).
///
/// `wait` returns each task's arrival index (0 to parties − 1) once all
/// have arrived; the barrier then starts the next round. `abort` breaks it
/// (waiters and later callers get [`BrokenBarrierError`]) until `reset`; `reset`
/// breaks the current round and empties the barrier. A task cancelled
/// while waiting leaves the round.
///
/// Indices are given out when a round completes, in arrival order among
/// the tasks still in it, so every round yields each of 0 to parties − 1
/// exactly once even after cancellations (and `index == 0` elects one
/// leader). asyncio numbers arrivals as they come, so there a cancellation
/// can repeat an index and lose 0; ferrio does not follow it there.
///
/// ```
/// use std::sync::Arc;
/// ferrio::run(async {
///     let barrier = Arc::new(ferrio::sync::Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             ferrio::spawn(async move { b.wait().await.unwrap() })
///         })
///         .collect();
///     let mut idx: Vec<usize> = ferrio::gather(tasks).await.into_iter().map(|r| r.unwrap()).collect();
///     idx.sort();
///     assert_eq!(idx, vec![0, 1, 2]);
/// });
/// ```
pub struct Barrier {
    state: Mutex<State>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Barrier")
            .field("parties", &st.parties)
            .field("waiting", &st.count)
            .field("broken", &st.broken)
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    /// When `parties` is zero (asyncio raises `ValueError`).
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "ferrio::sync::Barrier needs at least one party"
        );
        Barrier {
            state: Mutex::new(State {
                parties,
                count: 0,
                broken: false,
                next_id: 0,
                waiters: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// How many tasks must arrive.
    pub fn parties(&self) -> usize {
        self.lock().parties
    }

    /// How many tasks wait now.
    pub fn n_waiting(&self) -> usize {
        self.lock().count
    }

    /// True after `abort` (until `reset`).
    pub fn broken(&self) -> bool {
        self.lock().broken
    }

    /// Waits for the other parties; returns this task's arrival index.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            entry: None,
        }
    }

    /// Settles every waiting task's round and returns whom to wake. A
    /// released round numbers its waiters 0, 1, ... in arrival order.
    fn settle(st: &mut State, release: bool) -> Vec<Waker> {
        let mut next_index = 0;
        st.waiters
            .values_mut()
            .filter(|(_, f)| *f == Fate::Waiting)
            .map(|(w, f)| {
                *f = if release {
                    next_index += 1;
                    Fate::Released(next_index - 1)
                } else {
                    Fate::Broken
                };
                w.clone()
            })
            .collect()
    }

    /// Breaks the barrier: every waiter, and every later `wait`, fails
    /// until `reset`.
    pub fn abort(&self) {
        let wake = {
            let mut st = self.lock();
            st.broken = true;
            st.count = 0;
            Self::settle(&mut st, false)
        };
        wake.into_iter().for_each(Waker::wake);
    }

    /// Empties the barrier: current waiters fail; it is usable again.
    pub fn reset(&self) {
        let wake = {
            let mut st = self.lock();
            st.broken = false;
            st.count = 0;
            Self::settle(&mut st, false)
        };
        wake.into_iter().for_each(Waker::wake);
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// Our waiter id once arrived.
    entry: Option<u64>,
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("arrived", &self.entry.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<Self::Output> {
            let mut st = self.barrier.lock();
            match self.entry {
                None => {
                    if st.broken {
                        return Poll::Ready(Err(BrokenBarrierError));
                    }
                    st.count += 1;
                    if st.count == st.parties {
                        // The last arrival completes the round and comes last.
                        st.count = 0;
                        let last = st.parties - 1;
                        let wake = Barrier::settle(&mut st, true);
                        debug_assert_eq!(wake.len(), last);
                        drop(st);
                        wake.into_iter().for_each(Waker::wake);
                        return Poll::Ready(Ok(last));
                    }
                    let id = st.next_id;
                    st.next_id += 1;
                    st.waiters.insert(id, (cx.waker().clone(), Fate::Waiting));
                    drop(st);
                    self.entry = Some(id);
                    Poll::Pending
                }
                Some(id) => {
                    let fate = st.waiters.get(&id).map_or(Fate::Broken, |e| e.1);
                    match fate {
                        Fate::Waiting => {
                            if let Some(e) = st.waiters.get_mut(&id) {
                                if !e.0.will_wake(cx.waker()) {
                                    e.0 = cx.waker().clone();
                                }
                            }
                            Poll::Pending
                        }
                        done => {
                            st.waiters.remove(&id);
                            drop(st);
                            self.entry = None;
                            Poll::Ready(match done {
                                Fate::Released(index) => Ok(index),
                                _ => Err(BrokenBarrierError),
                            })
                        }
                    }
                }
            }
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::Barrier, 0);
        }
        out
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.entry.take() {
            let mut st = self.barrier.lock();
            // Still waiting in this round: leave it.
            if let Some((_, Fate::Waiting)) = st.waiters.remove(&id) {
                st.count -= 1;
            }
        }
    }
}
