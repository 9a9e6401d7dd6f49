//! The epoll driver's operation loop: one non-blocking call on a
//! descriptor, retried until it does not answer `EAGAIN`, waiting for
//! readiness in between (`driver/readiness.rs` has the protocol). The
//! descriptor, the call and the registration come through [`ReadyCall`],
//! so this loop is the same code for the driver (`driver/epoll_op.rs`,
//! over a real descriptor) and for the loom models (over a stand-in
//! socket, `loom-tests/tests/epoll.rs`).
//!
//! One poll:
//! 1. If the descriptor is registered and not marked ready, the op waits
//!    without a call (its waker stored).
//! 2. Otherwise the call is made with the tick seen. A result that is not
//!    `EAGAIN` ends the op (clearing the mark first when it shows the
//!    descriptor drained).
//! 3. On `EAGAIN` the descriptor is registered if it is not yet (`None`:
//!    epoll refuses it and the op goes to the blocking pool), then the
//!    mark is cleared and the waker stored unless an event came since the
//!    tick, in which case the call is made again.

use std::io;
use std::task::Waker;

use super::op_cell::Completion;
use super::readiness::{Interest, ReadyPoll, ScheduledIo, WaitPoll};
use crate::loom::sync::Arc;

/// What the loop needs of one operation on one descriptor.
pub(crate) trait ReadyCall {
    /// The direction the operation waits for.
    fn interest(&self) -> Interest;
    /// The descriptor's readiness, if it is registered with a driver that
    /// still runs.
    fn registered(&self) -> Option<Arc<ScheduledIo>>;
    /// Registers the descriptor (after its first `EAGAIN`); `Ok(None)`
    /// when epoll cannot watch it.
    fn register(&mut self) -> io::Result<Option<Arc<ScheduledIo>>>;
    /// The non-blocking call; its result shaped as a CQE's.
    fn call(&mut self) -> Completion;
    /// Whether the result `c` shows the descriptor drained.
    fn drained(&self, c: &Completion) -> bool;
    /// After `EAGAIN`: whether the call found it cannot wait for readiness
    /// and must go on on the blocking pool (a Unix connect to a full
    /// backlog).
    fn must_block(&self) -> bool;
    /// The operation now waits on `io` as waiter `key`.
    fn waits(&self, io: &Arc<ScheduledIo>, key: Option<u64>);
}

/// An operation waiting for readiness: its descriptor's `ScheduledIo` and
/// its waiter slot there.
pub(crate) struct Waiting {
    pub(crate) io: Arc<ScheduledIo>,
    pub(crate) key: Option<u64>,
}

impl Waiting {
    /// Forgets the waiter (the operation completed or was dropped).
    pub(crate) fn finish(mut self) {
        self.io.cancel_wait(&mut self.key);
    }
}

/// What one poll of the loop came to.
pub(crate) enum Step {
    /// The call's result (never `EAGAIN`).
    Done(Completion),
    /// Waiting: the waker is stored.
    Pending,
    /// The call goes to the blocking pool.
    Blocking,
    /// The driver has shut down: no event will come.
    Closed,
    /// Registering failed.
    Failed(io::Error),
}

/// Polls `op` once (module notes). `waiting` carries the op's waiter
/// between polls; it is `None` whenever the result is not `Pending`.
pub(crate) fn poll_call(
    op: &mut impl ReadyCall,
    waiting: &mut Option<Waiting>,
    waker: &Waker,
) -> Step {
    let interest = op.interest();
    loop {
        let io = match waiting {
            Some(w) => Some(w.io.clone()),
            None => op.registered(),
        };
        let tick = match &io {
            Some(io) => {
                let mut key = waiting.as_ref().and_then(|w| w.key);
                let seen = io.poll_ready(interest, &mut key, waker);
                set(waiting, io, key);
                match seen {
                    ReadyPoll::Ready(tick) => tick,
                    ReadyPoll::Pending => {
                        op.waits(io, key);
                        return Step::Pending;
                    }
                    ReadyPoll::Closed => {
                        end(waiting);
                        return Step::Closed;
                    }
                }
            }
            // Not registered yet: a fresh registration's tick.
            None => 0,
        };
        let c = op.call();
        if c.res == -libc::EAGAIN && op.must_block() {
            end(waiting);
            return Step::Blocking;
        }
        if c.res != -libc::EAGAIN {
            if let Some(io) = &io {
                if op.drained(&c) {
                    io.clear_if(interest, tick);
                }
            }
            end(waiting);
            return Step::Done(c);
        }
        let io = match io {
            Some(io) => io,
            None => match op.register() {
                Ok(Some(io)) => io,
                Ok(None) => {
                    end(waiting);
                    return Step::Blocking;
                }
                Err(e) => {
                    end(waiting);
                    return Step::Failed(e);
                }
            },
        };
        let mut key = waiting.as_ref().and_then(|w| w.key);
        let waited = io.clear_and_wait(interest, tick, &mut key, waker);
        set(waiting, &io, key);
        match waited {
            WaitPoll::Retry => continue,
            WaitPoll::Pending => {
                op.waits(&io, key);
                return Step::Pending;
            }
            WaitPoll::Closed => {
                end(waiting);
                return Step::Closed;
            }
        }
    }
}

/// Records the op's waiter slot on `io`.
fn set(waiting: &mut Option<Waiting>, io: &Arc<ScheduledIo>, key: Option<u64>) {
    match waiting {
        Some(w) => w.key = key,
        None => {
            *waiting = Some(Waiting {
                io: io.clone(),
                key,
            })
        }
    }
}

/// The op is done with readiness: its waiter, if any, is forgotten.
fn end(waiting: &mut Option<Waiting>) {
    if let Some(w) = waiting.take() {
        w.finish();
    }
}
