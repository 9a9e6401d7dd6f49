use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives the worker to other tasks once (asyncio's `await asyncio.sleep(0)`).
///
/// The task goes to the back of its worker's queue, so every task queued
/// before it runs first.
///
/// ```
/// ferrio::run(async {
///     for _ in 0..3 {
///         ferrio::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake during our own poll marks the task NOTIFIED; when the poll
        // returns, the harness puts it at the back of the queue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
