//! `Event` (asyncio's `Event`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::{Mutex, MutexGuard};

struct State {
    is_set: bool,
    /// How many times `set` flipped the flag on: a waiter that saw an
    /// older count was woken by a `set`, even if the flag was cleared
    /// again before it ran.
    sets: u64,
    next_id: u64,
    waiters: HashMap<u64, Waker>,
}

/// A flag tasks can wait for (asyncio's `Event`).
///
/// `set` wakes every task waiting at that moment, and each of them
/// returns even if `clear` runs before it gets to look.
///
/// ```
/// ferrio::run(async {
///     let ev = std::sync::Arc::new(ferrio::sync::Event::new());
///     let e = ev.clone();
///     let waiter = ferrio::spawn(async move { e.wait().await; "woken" });
///     ev.set();
///     assert_eq!(waiter.await.unwrap(), "woken");
///     assert!(ev.is_set());
/// });
/// ```
pub struct Event {
    state: Mutex<State>,
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A cleared event.
    pub fn new() -> Event {
        Event {
            state: Mutex::new(State {
                is_set: false,
                sets: 0,
                next_id: 0,
                waiters: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let wake: Vec<Waker> = {
            let mut st = self.lock();
            if st.is_set {
                return;
            }
            st.is_set = true;
            st.sets += 1;
            st.waiters.drain().map(|(_, w)| w).collect()
        };
        for w in wake {
            w.wake();
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.lock().is_set = false;
    }

    /// The flag.
    pub fn is_set(&self) -> bool {
        self.lock().is_set
    }

    /// Waits until the flag is set (returns at once if it is).
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            seen: None,
        }
    }
}

/// The future returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    /// (waiter id, `sets` when we started waiting)
    seen: Option<(u64, u64)>,
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.seen.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        #[allow(clippy::redundant_closure_call)]
        let out = (|| -> Poll<()> {
            let mut st = self.event.lock();
            match self.seen {
                None => {
                    if st.is_set {
                        return Poll::Ready(());
                    }
                    let id = st.next_id;
                    st.next_id += 1;
                    st.waiters.insert(id, cx.waker().clone());
                    let sets = st.sets;
                    drop(st);
                    self.seen = Some((id, sets));
                    Poll::Pending
                }
                Some((id, sets)) => {
                    if st.is_set || st.sets != sets {
                        st.waiters.remove(&id);
                        drop(st);
                        self.seen = None;
                        return Poll::Ready(());
                    }
                    st.waiters.insert(id, cx.waker().clone());
                    Poll::Pending
                }
            }
        })();
        if out.is_pending() {
            crate::task::core::wait::record(crate::task::core::wait::WaitKind::Event, 0);
        }
        out
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.seen {
            self.event.lock().waiters.remove(&id);
        }
    }
}
