//! `StreamWriter`: queued writes, a sending task per writer (asyncio's
//! transport), `drain` with water marks.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crate::loom::sync::Mutex;
use crate::task::core::wait::{Leaf, WaitKind};
use crate::Task;

use super::{register, wake, Conn};

const HIGH_WATER: usize = 64 * 1024;
const LOW_WATER: usize = HIGH_WATER / 4;
/// The most capacity a writer's queue and its spare each keep once sent:
/// steady writes up to this size reuse their buffers, and a burst's
/// larger buffer is freed when it has gone out.
const KEEP_CAPACITY: usize = HIGH_WATER;

#[derive(Default)]
struct WriterState {
    /// Queued bytes, not yet handed to the kernel.
    queued: Vec<u8>,
    /// Bytes being sent now.
    in_flight: usize,
    /// A spare buffer, so the queue does not reallocate every time.
    spare: Vec<u8>,
    closing: bool,
    closed: bool,
    /// A send failed: (kind, message); later writes and drains report it.
    error: Option<(io::ErrorKind, String)>,
    sender: Option<Waker>,
    drainers: Vec<Waker>,
    closers: Vec<Waker>,
}

impl WriterState {
    fn error(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(k, m)| io::Error::new(*k, m.clone()))
    }

    /// Marks the writer closed now, dropping what is queued; returns the
    /// waiters to wake once the lock is released.
    fn close_now(&mut self) -> Vec<Waker> {
        self.queued = Vec::new();
        self.spare = Vec::new();
        self.in_flight = 0;
        self.closing = true;
        self.closed = true;
        self.take_all_waiters()
    }

    /// Every drain and close waiter, to wake once the lock is released.
    fn take_all_waiters(&mut self) -> Vec<Waker> {
        self.drainers
            .drain(..)
            .chain(self.closers.drain(..))
            .collect()
    }
}

struct WriterShared {
    conn: Arc<Conn>,
    state: Mutex<WriterState>,
}

/// The writing half of a connection (asyncio's `StreamWriter`).
pub struct StreamWriter {
    shared: Arc<WriterShared>,
    sender: Task<()>,
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("StreamWriter")
            .field("queued", &(st.queued.len() + st.in_flight))
            .field("closing", &st.closing)
            .finish()
    }
}

impl StreamWriter {
    pub(super) fn new(conn: Arc<Conn>) -> StreamWriter {
        let shared = Arc::new(WriterShared {
            conn,
            state: Mutex::new(WriterState::default()),
        });
        // The guard travels inside the task's future: however the task
        // ends (its loop returns, or the runtime shuts down and drops it,
        // polled or not), waiters are released.
        let exit = SenderExit(shared.clone());
        let for_task = shared.clone();
        let sender = crate::spawn(async move {
            let _exit = exit;
            send_loop(for_task).await
        });
        StreamWriter { shared, sender }
    }

    /// Queues `data` for sending. Fails if the writer is closing or a
    /// previous send failed.
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        let mut st = self.shared.state.lock();
        if let Some(e) = st.error() {
            return Err(e);
        }
        if st.closing {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "StreamWriter: write after close",
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        st.queued.extend_from_slice(data);
        if let Some(w) = st.sender.take() {
            drop(st);
            w.wake();
        }
        Ok(())
    }

    /// Queues each buffer in turn.
    pub fn writelines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for l in lines {
            self.write(l.as_ref())?;
        }
        Ok(())
    }

    /// Capacity held by the queue and its spare buffer (not counting a
    /// batch being sent).
    #[cfg(test)]
    pub(crate) fn queue_capacity(&self) -> usize {
        let st = self.shared.state.lock();
        st.queued.capacity() + st.spare.capacity()
    }

    /// Bytes queued or being sent.
    pub fn buffered(&self) -> usize {
        let st = self.shared.state.lock();
        st.queued.len() + st.in_flight
    }

    /// Flow control: waits while more than 64 KiB are queued, until 16 KiB
    /// or less remain. Reports a failed send.
    #[track_caller]
    pub fn drain(&self) -> impl Future<Output = io::Result<()>> + '_ {
        Leaf::new(WaitKind::StreamDrain, 0, Location::caller(), async move {
            let mut waiting = false;
            poll_fn(|cx| {
                let mut st = self.shared.state.lock();
                if let Some(e) = st.error() {
                    return Poll::Ready(Err(e));
                }
                let pending = st.queued.len() + st.in_flight;
                if st.closed || pending <= LOW_WATER || (!waiting && pending <= HIGH_WATER) {
                    return Poll::Ready(Ok(()));
                }
                waiting = true;
                register(&mut st.drainers, cx.waker());
                Poll::Pending
            })
            .await
        })
    }

    /// Sends what is queued, then shuts down the write side (the peer
    /// reads end of stream). Returns at once; see [`wait_closed`](Self::wait_closed).
    pub fn close(&self) {
        let mut st = self.shared.state.lock();
        st.closing = true;
        if let Some(w) = st.sender.take() {
            drop(st);
            w.wake();
        }
    }

    /// Closes at once: queued bytes are dropped, the connection is shut
    /// down both ways (asyncio's `transport.abort()`).
    pub fn abort(&self) {
        // The state first, so the sender's exit guard (run by the cancel)
        // finds the writer closed and the abort's error stands.
        let waiters = {
            let mut st = self.shared.state.lock();
            st.error.get_or_insert((
                io::ErrorKind::ConnectionAborted,
                "StreamWriter aborted".into(),
            ));
            st.close_now()
        };
        self.sender.cancel();
        self.shared.conn.abort();
        wake(waiters);
    }

    /// True once `close` was called (or a send failed).
    pub fn is_closing(&self) -> bool {
        let st = self.shared.state.lock();
        st.closing || st.error.is_some()
    }

    /// Waits until the writer is closed; reports a failed send.
    #[track_caller]
    pub fn wait_closed(&self) -> impl Future<Output = io::Result<()>> + '_ {
        Leaf::new(WaitKind::StreamClosed, 0, Location::caller(), async move {
            poll_fn(|cx| {
                let mut st = self.shared.state.lock();
                if let Some(e) = st.error() {
                    return Poll::Ready(Err(e));
                }
                if st.closed {
                    return Poll::Ready(Ok(()));
                }
                register(&mut st.closers, cx.waker());
                Poll::Pending
            })
            .await
        })
    }

    /// The peer's address (TCP only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.conn.peer_addr()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // Like an asyncio transport collected unclosed: flush and close.
        // The sender task runs on (the `Task` handle detaches).
        self.close();
    }
}

/// Runs when the writer's sender task ends, however it ends. If the loop
/// did not close the writer itself (the runtime shut down and dropped the
/// task, before or during a send), the writer is closed with an error, so
/// `drain`, `wait_closed` and later writes report it instead of waiting
/// for a sender that is gone.
struct SenderExit(Arc<WriterShared>);

impl Drop for SenderExit {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        if st.closed {
            return;
        }
        st.error.get_or_insert((
            io::ErrorKind::Other,
            "StreamWriter: the runtime shut down before the queued bytes were sent".into(),
        ));
        let waiters = st.close_now();
        drop(st);
        wake(waiters);
    }
}

/// The writer's transport: sends whatever is queued, one buffer at a time.
async fn send_loop(shared: Arc<WriterShared>) {
    loop {
        let batch = poll_fn(|cx| {
            let mut st = shared.state.lock();
            if !st.queued.is_empty() {
                let spare = std::mem::take(&mut st.spare);
                let batch = std::mem::replace(&mut st.queued, spare);
                st.in_flight = batch.len();
                return Poll::Ready(Some(batch));
            }
            if st.closing {
                return Poll::Ready(None);
            }
            st.sender = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let Some(batch) = batch else {
            let res = shared.conn.shutdown_write();
            let mut st = shared.state.lock();
            if let Err(e) = res {
                st.error.get_or_insert((e.kind(), e.to_string()));
            }
            st.closed = true;
            let waiters = st.take_all_waiters();
            drop(st);
            wake(waiters);
            return;
        };
        let (res, mut batch) = shared.conn.write_all(batch).await;
        let mut st = shared.state.lock();
        st.in_flight = 0;
        if let Err(e) = res {
            st.error.get_or_insert((e.kind(), e.to_string()));
            let waiters = st.close_now();
            drop(st);
            wake(waiters);
            return;
        }
        batch.clear();
        // Keep the larger buffer as the spare, up to KEEP_CAPACITY: a
        // connection that once sent a big response must not hold its
        // capacity while idle. (A bigger batch is freed here, after the
        // lock, and the queue it came from was replaced by the spare.)
        let freed = if batch.capacity() <= KEEP_CAPACITY && st.spare.capacity() < batch.capacity() {
            std::mem::replace(&mut st.spare, batch)
        } else {
            batch
        };
        if st.queued.len() <= LOW_WATER {
            let drainers = std::mem::take(&mut st.drainers);
            drop(st);
            wake(drainers);
        } else {
            drop(st);
        }
        drop(freed);
    }
}
