// Over 500 lines: one record protocol (write, read, clear) and the
// `WaitOn` kinds it encodes; the module head documents the protocol.
//! Wait records: what a task waits on, written by the leaf future that
//! returned `Pending`, read by a task dump (`Handle::dump`).
//!
//! ferrio owns every leaf a task can wait on (a socket op, a timer, a
//! lock's waiter list...), so a dump needs no re-poll: each leaf, as it
//! returns `Pending`, writes three words into its task's header (what
//! kind of wait, a detail such as an fd or a deadline, the `&'static
//! Location` of the `.await` that reached it, and when the wait began).
//! The harness clears the record when the task is polled again, if there
//! is one.
//!
//! # Costs
//!
//! 24 bytes per task (three words in the header, on its hot cache line,
//! which the poll just wrote). Per wait: two thread-local reads, one read
//! of the coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`, a vDSO read of
//! a kernel variable, no system call) and four relaxed stores, out of line
//! (`record_at`). Per poll: one relaxed load of the header's location word
//! and a branch; after a wait, also a relaxed store and a relaxed load of
//! the deep-dump flag. Nothing else, and nothing when nobody dumps.
//!
//! # Where the location comes from
//!
//! A leaf's `poll` is `#[track_caller]`, so when the user's code awaits the
//! leaf itself (`sleep(d).await`, `event.wait().await`, `task.await`), the
//! `.await` of the user's code is the caller. A public `async`-shaped
//! method that awaits leaves inside ferrio (`Lock::lock`,
//! `TcpStream::read`...) is a `#[track_caller]` function whose future is
//! wrapped in [`At`]: while `At` polls its future, the location it holds
//! overrides the leaf's own (the outermost `At` wins).
//!
//! `poll_*` methods (`poll_recv`, `poll_tick`, `poll_join_next`...) and
//! the `Stream` impls are `#[track_caller]` too, and record through
//! [`pending`]: the location is their caller's, which is the user's code
//! when it polls them by hand (`poll_fn`), and the adapter's `poll` when
//! an adapter from another crate (`futures::StreamExt::next`) does. A
//! timer that only guards another future (`wait_for`, a timeout scope)
//! records nothing: the guarded future's leaf names the wait.
//!
//! # Concurrency
//!
//! Only the task's poller writes the record; a dump reads it from any
//! thread. The writer clears the location first, then writes the words,
//! then publishes the location (release); the reader reads the location
//! (acquire), the words, and the location again, and keeps the record only
//! when both reads agree (a seqlock whose sequence is the location). A
//! record rewritten with the same location between the two reads may mix
//! two waits of the same line (the kind and detail of either); a dump is a
//! diagnostic, and says so. Records of different locations never mix, and
//! a cleared record reads as none or as the record before the clear. The
//! words are the loom shim's atomics: `loom-tests/tests/wait_record.rs`
//! checks these promises on this code.

// loom's `thread_local!` takes no `const` initialisers.
#![allow(clippy::missing_const_for_thread_local)]

use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{current, TaskId};
use crate::loom::plain::Mutex;
use crate::loom::sync::atomic::{fence, AtomicPtr, AtomicU64, Ordering};

/// What a leaf future waits on. The task core only stores the code; the
/// layers above fill it in (`dump.rs` decodes it into `WaitOn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitKind {
    /// A receive on a socket or pipe (detail: fd).
    Read = 1,
    /// A send on a socket or pipe (detail: fd).
    Write,
    /// An accept (detail: the listener's fd).
    Accept,
    /// A connect (detail: fd).
    Connect,
    /// Readiness of a descriptor (detail: fd).
    Ready,
    /// A file operation (detail: fd, or -1 for a path op such as open).
    File,
    /// A timer (detail: the deadline, in `now_ms` units).
    Sleep,
    /// `Lock::lock`.
    Lock,
    /// `Semaphore::acquire`.
    Semaphore,
    /// `Queue::get`.
    QueueGet,
    /// `Queue::put`.
    QueuePut,
    /// `Event::wait`.
    Event,
    /// `Condition::wait`.
    Condition,
    /// `Barrier::wait`.
    Barrier,
    /// Awaiting another task's `Task` handle (detail: its id).
    Join,
    /// A `to_thread` / `run_in_executor` job on the blocking pool.
    ToThread,
    /// A subprocess's exit (detail: its pid).
    Process,
    /// `TaskGroup::join`: the group's children.
    Group,
    /// A channel receive (mpsc, broadcast `recv`, watch `changed`).
    ChannelRecv,
    /// A channel send waiting for a slot (bounded mpsc `send`, `reserve`).
    ChannelSend,
    /// `Queue::join`: the unfinished items.
    QueueJoin,
    /// A channel sender waiting for the receivers to close (mpsc and
    /// watch `Sender::closed`).
    ChannelClosed,
    /// `CancellationToken::cancelled`.
    Cancelled,
    /// A signal (`ctrl_c`, `Signal::recv`; detail: the signal number).
    Signal,
    /// `RwLock::read`.
    RwLockRead,
    /// `RwLock::write`.
    RwLockWrite,
    /// `JoinSet::join_next`: the set's tasks (detail: how many).
    JoinSet,
    /// Awaiting a `Promise`.
    Promise,
    /// `OnceCell::get_or_init`: another caller's initialiser.
    OnceCell,
    /// `StreamWriter::drain`: the queued bytes going out.
    StreamDrain,
    /// `StreamWriter::wait_closed`.
    StreamClosed,
    /// `Server::wait_closed`, `Server::serve_forever`.
    ServerClosed,
}

impl WaitKind {
    const ALL: [WaitKind; 32] = [
        WaitKind::Read,
        WaitKind::Write,
        WaitKind::Accept,
        WaitKind::Connect,
        WaitKind::Ready,
        WaitKind::File,
        WaitKind::Sleep,
        WaitKind::Lock,
        WaitKind::Semaphore,
        WaitKind::QueueGet,
        WaitKind::QueuePut,
        WaitKind::Event,
        WaitKind::Condition,
        WaitKind::Barrier,
        WaitKind::Join,
        WaitKind::ToThread,
        WaitKind::Process,
        WaitKind::Group,
        WaitKind::ChannelRecv,
        WaitKind::ChannelSend,
        WaitKind::QueueJoin,
        WaitKind::ChannelClosed,
        WaitKind::Cancelled,
        WaitKind::Signal,
        WaitKind::RwLockRead,
        WaitKind::RwLockWrite,
        WaitKind::JoinSet,
        WaitKind::Promise,
        WaitKind::OnceCell,
        WaitKind::StreamDrain,
        WaitKind::StreamClosed,
        WaitKind::ServerClosed,
    ];

    /// The kind of code `code` (`kind as u8`), if there is one.
    pub(crate) fn from_code(code: u8) -> Option<WaitKind> {
        WaitKind::ALL.get((code as usize).wrapping_sub(1)).copied()
    }
}

const KIND_SHIFT: u32 = 56;
const TIME_MASK: u64 = (1 << KIND_SHIFT) - 1;

/// The three words in a task's header.
#[derive(Default)]
pub(crate) struct WaitRecord {
    /// Where the wait was reached; null: no record.
    at: AtomicPtr<Location<'static>>,
    /// `kind << 56 | began` (`now_ms` units).
    what: AtomicU64,
    /// The kind's detail (fd, deadline, task id, pid), as bits.
    detail: AtomicU64,
}

/// A record read back by a dump.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recorded {
    pub(crate) kind: WaitKind,
    pub(crate) detail: u64,
    pub(crate) at: &'static Location<'static>,
    /// When the wait began, in `now_ms` units.
    pub(crate) began_ms: u64,
}

impl WaitRecord {
    /// The poller starts a poll of task `id`: the previous wait, if its
    /// last poll left one, is over (and so is the stack a deep dump
    /// captured there). A task whose last poll recorded nothing (a first
    /// poll, a yield, a wake-up from a future ferrio does not own) pays
    /// one load of a word on the line the poll just took, and a branch.
    #[inline]
    pub(crate) fn begin_poll(&self, id: TaskId) {
        // Only this task's poller writes `at`: it reads its own writes.
        if !self.at.load(Ordering::Relaxed).is_null() {
            self.clear();
            forget_frames(id);
        }
    }

    /// The record is gone (a dump reads none).
    #[inline]
    pub(crate) fn clear(&self) {
        self.at.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// The poller's leaf returns `Pending`: publishes a new record.
    #[inline]
    pub(crate) fn set(&self, kind: WaitKind, detail: u64, at: &'static Location<'static>) {
        self.at.store(ptr::null_mut(), Ordering::Relaxed);
        // Orders the clear before the words (the reader's second read of
        // `at` pairs with this).
        fence(Ordering::Release);
        self.detail.store(detail, Ordering::Relaxed);
        self.what.store(
            ((kind as u64) << KIND_SHIFT) | (now_ms() & TIME_MASK),
            Ordering::Relaxed,
        );
        self.at
            .store(at as *const Location<'static> as *mut _, Ordering::Release);
    }

    /// The record, if the task's last poll ended in a ferrio leaf.
    pub(crate) fn read(&self) -> Option<Recorded> {
        let at = self.at.load(Ordering::Acquire);
        if at.is_null() {
            return None;
        }
        let detail = self.detail.load(Ordering::Relaxed);
        let what = self.what.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.at.load(Ordering::Relaxed) != at {
            return None;
        }
        let kind = WaitKind::from_code((what >> KIND_SHIFT) as u8)?;
        // SAFETY: a non-null `at` was stored from a `&'static Location`.
        let at = unsafe { &*at };
        Some(Recorded {
            kind,
            detail,
            at,
            began_ms: what & TIME_MASK,
        })
    }
}

/// What an enclosing [`At`] gives the leaves it polls: the location, and
/// the kind when the method names the wait better than its leaf does
/// (`Lock::lock` waits on a semaphore).
type Given = (&'static Location<'static>, Option<WaitKind>);

crate::loom::thread_local! {
    static AT: Cell<Option<Given>> = Cell::new(None);
}

/// Records that the current task waits on `kind` (a leaf returning
/// `Pending`), reached from the caller's location unless an [`At`]
/// around the leaf gives one. Outside a task (a `block_on` poll, a plain
/// thread) it does nothing.
#[track_caller]
#[inline]
pub(crate) fn record(kind: WaitKind, detail: u64) {
    record_at(kind, detail, Location::caller())
}

/// `out`, after recording a wait on `kind` reached from the caller if it
/// is `Pending` (for `poll_*` methods and `Stream` impls, which are
/// `#[track_caller]`: the location is the caller of the outermost one).
#[track_caller]
#[inline]
pub(crate) fn pending<T>(out: Poll<T>, kind: WaitKind, detail: u64) -> Poll<T> {
    if out.is_pending() {
        record(kind, detail);
    }
    out
}

/// [`record`] with the fallback location given. Out of line: every leaf's
/// `Pending` path calls it, and it is no hotter than the wait it records.
#[inline(never)]
pub(crate) fn record_at(kind: WaitKind, detail: u64, fallback: &'static Location<'static>) {
    if let Some(task) = current::current_task() {
        let (at, kind) = match AT.try_with(Cell::get).ok().flatten() {
            Some((at, given)) => (at, given.unwrap_or(kind)),
            None => (fallback, kind),
        };
        task.header().wait.set(kind, detail, at);
        if DEEP.load(Ordering::Relaxed) {
            deep_capture(task.id());
        }
    }
}

/// Deep dumps (`ferrio::task::capture_wait_frames`): off unless asked.
static DEEP: AtomicBool = AtomicBool::new(false);

/// Each waiting task's stack at its last `Pending` leaf, while deep dumps
/// are on (captured unresolved; symbols are resolved when printed).
static FRAMES: Mutex<Option<HashMap<TaskId, Arc<Backtrace>>>> = Mutex::new_const(None);

#[cold]
fn deep_capture(id: TaskId) {
    let frames = Arc::new(Backtrace::force_capture());
    FRAMES
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(id, frames);
}

/// Turns deep capture on or off (off drops what was captured).
pub(crate) fn set_deep(on: bool) {
    DEEP.store(on, Ordering::Relaxed);
    if !on {
        *FRAMES.lock() = None;
    }
}

/// The poller starts a poll of task `id` that waited: the stack captured
/// at its previous wait is stale (a task that completes leaves nothing
/// behind; one dropped while it waits stays until deep dumps are turned
/// off). A stack is captured only with a record, so a poll that finds no
/// record has none to forget.
#[inline]
fn forget_frames(id: TaskId) {
    if DEEP.load(Ordering::Relaxed) {
        forget_frames_slow(id);
    }
}

#[cold]
fn forget_frames_slow(id: TaskId) {
    if let Some(map) = FRAMES.lock().as_mut() {
        map.remove(&id);
    }
}

/// The stacks captured at every task's current wait, in every runtime
/// (task ids are unique in the process; a dump picks its own).
pub(crate) fn deep_frames() -> Vec<(TaskId, Arc<Backtrace>)> {
    let frames = FRAMES.lock();
    let Some(map) = frames.as_ref() else {
        return Vec::new();
    };
    map.iter().map(|(id, f)| (*id, f.clone())).collect()
}

/// A future that gives the leaves it polls its caller's location (the
/// caller of a public `#[track_caller]` method), and optionally a kind,
/// unless an outer `At` already did.
pub(crate) struct At<F> {
    given: Given,
    future: F,
}

impl<F> At<F> {
    /// The caller's location; the leaves' own kinds.
    #[track_caller]
    pub(crate) fn here(future: F) -> At<F> {
        At {
            given: (Location::caller(), None),
            future,
        }
    }

    /// The caller's location, and `kind` for whatever leaf waits inside.
    #[track_caller]
    pub(crate) fn waiting_on(kind: WaitKind, future: F) -> At<F> {
        At {
            given: (Location::caller(), Some(kind)),
            future,
        }
    }
}

impl<F: Future> Future for At<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out
        // of `At`, and `At` has no `Drop` or `Unpin` impl that would.
        let (given, future) = unsafe {
            let this = self.get_unchecked_mut();
            (this.given, Pin::new_unchecked(&mut this.future))
        };
        if AT.try_with(Cell::get).ok().flatten().is_some() {
            return future.poll(cx);
        }
        let _ = AT.try_with(|c| c.set(Some(given)));
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                let _ = AT.try_with(|c| c.set(None));
            }
        }
        let _reset = Reset;
        future.poll(cx)
    }
}

/// The coarse monotonic clock, in milliseconds (the clock of every
/// record; resolution a few milliseconds).
#[inline]
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC_COARSE
    // exists on every Linux ferrio runs on.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// An `Instant` in `now_ms` units (both clocks are CLOCK_MONOTONIC).
pub(crate) fn instant_ms(t: Instant) -> u64 {
    let (base, base_ms) = base();
    match t.checked_duration_since(base) {
        Some(d) => base_ms + d.as_millis() as u64,
        None => base_ms.saturating_sub(base.duration_since(t).as_millis() as u64),
    }
}

/// The `Instant` of a `now_ms` value.
pub(crate) fn ms_instant(ms: u64) -> Instant {
    let (base, base_ms) = base();
    if ms >= base_ms {
        base + std::time::Duration::from_millis(ms - base_ms)
    } else {
        base - std::time::Duration::from_millis(base_ms - ms)
    }
}

fn base() -> (Instant, u64) {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Instant::now();
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in `now_ms`.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (now, ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000)
    })
}

/// A future whose `Pending` is a wait on `kind` (written after the inner
/// future's own record, so it names the wait): for leaves built from
/// other futures (a `to_thread` job's result, a child's pidfd).
pub(crate) struct Leaf<F> {
    kind: WaitKind,
    detail: u64,
    at: &'static Location<'static>,
    future: F,
}

impl<F> Leaf<F> {
    /// A leaf reached from `at` (unless an [`At`] around it says).
    pub(crate) fn new(
        kind: WaitKind,
        detail: u64,
        at: &'static Location<'static>,
        future: F,
    ) -> Self {
        Leaf {
            kind,
            detail,
            at,
            future,
        }
    }
}

impl<F: Future> Future for Leaf<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned, as in `At`.
        let (kind, detail, at, future) = unsafe {
            let this = self.get_unchecked_mut();
            (
                this.kind,
                this.detail,
                this.at,
                Pin::new_unchecked(&mut this.future),
            )
        };
        let out = future.poll(cx);
        if out.is_pending() {
            record_at(kind, detail, at);
        }
        out
    }
}
