//! The owned face of the semaphore: permits and acquire futures that hold
//! it through an `Arc` (`'static`, so they move into spawned tasks). The
//! waiting is the borrowed futures' (`AcquireCore`), so the FIFO order and
//! the cancellation rules are the same.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::semaphore::{AcquireCore, Got, Semaphore};

/// The future returned by [`Semaphore::acquire_owned`] and
/// [`Semaphore::acquire_many_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireOwned {
    /// `None` once the permit is out.
    sem: Option<Arc<Semaphore>>,
    core: AcquireCore,
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("need", &self.core.need)
            .finish_non_exhaustive()
    }
}

impl Future for AcquireOwned {
    type Output = OwnedSemaphorePermit;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedSemaphorePermit> {
        let this = &mut *self;
        let sem = this
            .sem
            .as_ref()
            .expect("AcquireOwned polled after it returned its permit");
        match this.core.poll(sem, cx) {
            Poll::Pending => {
                crate::task::core::wait::record(crate::task::core::wait::WaitKind::Semaphore, 0);
                Poll::Pending
            }
            Poll::Ready(Got::Permits) => Poll::Ready(OwnedSemaphorePermit {
                sem: this.sem.take().expect("checked above"),
                n: this.core.need,
            }),
            Poll::Ready(Got::Closed) => unreachable!("ferrio: a public Semaphore was closed"),
        }
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            self.core.cancel(sem);
        }
    }
}

impl Semaphore {
    /// Waits for a permit (FIFO, as [`acquire`](Self::acquire)), holding
    /// the semaphore through an `Arc`: the permit is `'static`, so it can
    /// move into a spawned task. Dropping the future while waiting loses
    /// nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// ferrio::run(async {
    ///     let sem = Arc::new(ferrio::sync::Semaphore::new(2));
    ///     let tasks: Vec<_> = (0..4)
    ///         .map(|i| {
    ///             let sem = sem.clone();
    ///             ferrio::spawn(async move {
    ///                 let permit = sem.acquire_owned().await;
    ///                 // At most two tasks are in here at a time.
    ///                 drop(permit);
    ///                 i
    ///             })
    ///         })
    ///         .collect();
    ///     for t in tasks {
    ///         t.await.unwrap();
    ///     }
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Waits for `n` permits at once, holding the semaphore through an
    /// `Arc` (see [`acquire_owned`](Self::acquire_owned)).
    pub fn acquire_many_owned(self: Arc<Self>, n: usize) -> AcquireOwned {
        AcquireOwned {
            sem: Some(self),
            core: AcquireCore::new(n),
        }
    }

    /// Takes a permit if one is free and nobody waits, holding the
    /// semaphore through an `Arc`.
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_acquire_many_owned(1)
    }

    /// Takes `n` permits if they are free and nobody waits, holding the
    /// semaphore through an `Arc`.
    pub fn try_acquire_many_owned(self: Arc<Self>, n: usize) -> Option<OwnedSemaphorePermit> {
        // Not `then_some`: a permit built and dropped would add permits.
        if self.try_take(n) {
            Some(OwnedSemaphorePermit { sem: self, n })
        } else {
            None
        }
    }
}

/// Permits held through an `Arc` of their semaphore (`'static`); returned
/// on drop.
#[must_use = "the permit is released when dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Splits `n` of this guard's permits off into a guard of their own;
    /// `None` (and nothing changes) when it holds fewer than `n`.
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        if n > self.n {
            return None;
        }
        self.n -= n;
        Some(OwnedSemaphorePermit {
            sem: self.sem.clone(),
            n,
        })
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.add_permits(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("n", &self.n)
            .finish()
    }
}
