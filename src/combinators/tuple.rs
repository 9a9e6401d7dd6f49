//! `gather!` for a fixed set of futures of different types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future or its output.
pub(crate) enum MaybeDone<F: Future> {
    Pending(F),
    Done(F::Output),
    Taken,
}

impl<F: Future> MaybeDone<F> {
    /// Polls if still pending; true once the output is there.
    fn poll_done(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: the future is structurally pinned: polled in place and
        // replaced (dropped in place) when done, never moved.
        let this = unsafe { self.get_unchecked_mut() };
        match this {
            MaybeDone::Pending(f) => {
                // SAFETY: as above.
                match unsafe { Pin::new_unchecked(f) }.poll(cx) {
                    Poll::Ready(out) => {
                        *this = MaybeDone::Done(out);
                        true
                    }
                    Poll::Pending => false,
                }
            }
            MaybeDone::Done(_) => true,
            MaybeDone::Taken => panic!("gather! polled after completion"),
        }
    }

    fn take(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: only called when Done, which holds no pinned future.
        let this = unsafe { self.get_unchecked_mut() };
        match std::mem::replace(this, MaybeDone::Taken) {
            MaybeDone::Done(out) => out,
            _ => unreachable!("take before done"),
        }
    }
}

/// Tuples of futures that `gather!` runs together.
pub trait IntoGather {
    /// The joined future.
    type Future: Future;
    /// Joins the tuple's futures.
    fn into_gather(self) -> Self::Future;
}

macro_rules! tuple_gather {
    ($name:ident: $($F:ident $idx:tt),+) => {
        /// The future behind `gather!` for this many futures.
        #[must_use = "futures do nothing unless awaited"]
        pub struct $name<$($F: Future),+> {
            futs: ($(MaybeDone<$F>,)+),
        }

        impl<$($F: Future),+> std::fmt::Debug for $name<$($F),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl<$($F: Future),+> Future for $name<$($F),+> {
            type Output = ($($F::Output,)+);

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                // SAFETY: each MaybeDone is structurally pinned in the
                // tuple and never moved.
                let this = unsafe { self.get_unchecked_mut() };
                let mut all = true;
                $(
                    // SAFETY: as above.
                    all &= unsafe { Pin::new_unchecked(&mut this.futs.$idx) }.poll_done(cx);
                )+
                if !all {
                    return Poll::Pending;
                }
                // SAFETY: as above.
                Poll::Ready(($(unsafe { Pin::new_unchecked(&mut this.futs.$idx) }.take(),)+))
            }
        }

        impl<$($F: Future),+> IntoGather for ($($F,)+) {
            type Future = $name<$($F),+>;
            fn into_gather(self) -> Self::Future {
                $name { futs: ($(MaybeDone::Pending(self.$idx),)+) }
            }
        }
    };
}

tuple_gather!(Gather1: A 0);
tuple_gather!(Gather2: A 0, B 1);
tuple_gather!(Gather3: A 0, B 1, C 2);
tuple_gather!(Gather4: A 0, B 1, C 2, D 3);
tuple_gather!(Gather5: A 0, B 1, C 2, D 3, E 4);
tuple_gather!(Gather6: A 0, B 1, C 2, D 3, E 4, F 5);
tuple_gather!(Gather7: A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_gather!(Gather8: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
