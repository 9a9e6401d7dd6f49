//! `Barrier` (asyncio's `Barrier`, 3.11).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::{Mutex, MutexGuard};

/// The barrier was broken: aborted, reset while tasks waited (asyncio's
/// `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrier {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Released,
    Broken,
}

struct State {
    parties: usize,
    /// Tasks waiting in the current round.
    count: usize,
    broken: bool,
    next_id: u64,
    /// Each waiter's waker and what happened to its round.
    waiters: HashMap<u64, (Waker, Fate)>,
}

/// Makes `parties` tasks wait for each other (asyncio's `Barrier`).
///
/// `wait` returns each task's arrival index (0 to parties − 1) once all
/// have arrived; the barrier then starts the next round. `abort` breaks it
/// (waiters and later callers get [`BrokenBarrier`]) until `reset`; `reset`
/// breaks the current round and empties the barrier. A task cancelled
/// while waiting leaves the round.
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
                waiters: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::loom::lock(&self.state)
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

    /// Settles every waiting task's round and returns whom to wake.
    fn settle(st: &mut State, fate: Fate) -> Vec<Waker> {
        st.waiters
            .values_mut()
            .filter(|(_, f)| *f == Fate::Waiting)
            .map(|(w, f)| {
                *f = fate;
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
            Self::settle(&mut st, Fate::Broken)
        };
        wake.into_iter().for_each(Waker::wake);
    }

    /// Empties the barrier: current waiters fail; it is usable again.
    pub fn reset(&self) {
        let wake = {
            let mut st = self.lock();
            st.broken = false;
            st.count = 0;
            Self::settle(&mut st, Fate::Broken)
        };
        wake.into_iter().for_each(Waker::wake);
    }
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// (waiter id, arrival index) once arrived.
    entry: Option<(u64, usize)>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrier>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.barrier.lock();
        match self.entry {
            None => {
                if st.broken {
                    return Poll::Ready(Err(BrokenBarrier));
                }
                let index = st.count;
                st.count += 1;
                if st.count == st.parties {
                    st.count = 0;
                    let wake = Barrier::settle(&mut st, Fate::Released);
                    drop(st);
                    wake.into_iter().for_each(Waker::wake);
                    return Poll::Ready(Ok(index));
                }
                let id = st.next_id;
                st.next_id += 1;
                st.waiters.insert(id, (cx.waker().clone(), Fate::Waiting));
                drop(st);
                self.entry = Some((id, index));
                Poll::Pending
            }
            Some((id, index)) => {
                let fate = st.waiters.get(&id).map_or(Fate::Broken, |e| e.1);
                match fate {
                    Fate::Waiting => {
                        if let Some(e) = st.waiters.get_mut(&id) {
                            e.0 = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    done => {
                        st.waiters.remove(&id);
                        drop(st);
                        self.entry = None;
                        Poll::Ready(if done == Fate::Released {
                            Ok(index)
                        } else {
                            Err(BrokenBarrier)
                        })
                    }
                }
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.entry.take() {
            let mut st = self.barrier.lock();
            // Still waiting in this round: leave it.
            if let Some((_, Fate::Waiting)) = st.waiters.remove(&id) {
                st.count -= 1;
            }
        }
    }
}
