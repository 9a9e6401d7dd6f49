//! The untyped face of a task: header, vtable, and the reference-owning
//! pointers the scheduler moves around.
//!
//! A task is one heap allocation (`harness::Cell<F, S>`): a hot `Header`
//! (state word, vtable, id, owned-list slot), the typed core (scheduler
//! handle and the future/output stage), and a cold `Trailer` (join waker,
//! name, done-callbacks). Everything outside `harness` sees only
//! `NonNull<Header>` and calls through the vtable, so the machinery exists
//! once in the binary, not once per future type.
//!
//! # Tasks
//!
//! One heap allocation per spawn (`harness::Cell<F, S>`, `repr(C)`):
//!
//! - `Header` (hot): the state word, the vtable pointer, the id, the slot in
//!   the owned list. The header is all the scheduler ever sees.
//! - the scheduler handle `S` (an `Arc` of the runtime's shared state) and the
//!   stage: `Running(F)`, `Finished(Result<T, TaskError>)` or `Consumed`.
//! - `Trailer` (cold): the join waker, the name, the done-callbacks.
//!
//! The vtable holds the operations that need the future's type (poll, cancel,
//! read output, drop the join handle, dealloc); everything else is untyped and
//! exists once in the binary. The `Waker` of a task is its header pointer with
//! a static `RawWakerVTable`: waking allocates nothing.
//!
//! ## The state word (`state.rs`)
//!
//! `RUNNING | COMPLETE | NOTIFIED | JOIN_INTEREST | JOIN_WAKER | CANCELLED |
//! PANICKED | HAS_CALLBACKS`, and the reference count above them. A new task
//! has three references: the owned list's, the first notification's, the
//! handle's.
//!
//! Invariants:
//!
//! - **RUNNING is the lock on the stage.** Only its holder touches the future
//!   or writes the output; it is taken by a worker (`transition_to_running`)
//!   or by a canceller (`transition_to_cancelled` on an idle task).
//! - **At most one `Notified` exists per task**, and it exists iff NOTIFIED is
//!   set and the task is not RUNNING. A wake while RUNNING only sets NOTIFIED;
//!   the poller reschedules after the poll (that is how `yield_now` goes to the
//!   back of the queue).
//! - **The join waker slot belongs to whoever JOIN_WAKER says**: the handle
//!   while clear, the completer (read-only) while set. This is tokio's
//!   hand-off.
//! - **COMPLETE is final.** After it the output belongs to the handle if
//!   JOIN_INTEREST is set, else to the completer, who drops it and reports a
//!   panic nobody will retrieve.
//! - **Whoever hands a `Notified` to the scheduler keeps its own reference
//!   until the call returns**, so the cell outlives every `&` into it. The
//!   operations that may free the cell take a pointer, never `&self`.
//! - **A cancel that lands while the task returns its output wins** (asyncio's
//!   rule): the output is dropped and the handle yields `Cancelled`, so
//!   `cancel() == true` always means `Err(Cancelled)` (or a panic).
//! - **Done-callbacks**: pushed under the trailer mutex, then HAS_CALLBACKS is
//!   set by CAS unless COMPLETE; the completer runs the list iff it saw the
//!   bit. Since the bit and COMPLETE live in one word, every callback runs
//!   exactly once.
//!
//! ## Cancellation (asyncio → Rust)
//!
//! `Task::cancel()` on an idle (or queued) task takes the lock and drops the
//! future on the calling thread before returning; on a task being polled it
//! sets CANCELLED and the poller drops the future right after the poll. A
//! panicking destructor is reported as `Panicked`. Dropping a `Task` handle
//! detaches; the runtime owns every task until it completes (asyncio keeps only
//! weak references to tasks).

use std::ptr::NonNull;
use std::task::Waker;

use super::state::State;
use super::wait::WaitRecord;
use super::{TaskId, Trailer};
use crate::loom::cell::UnsafeCell;

#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: TaskId,
    /// Index of this task in its owned-list shard. Read and written only
    /// while holding that shard's lock.
    pub(crate) owner_slot: UnsafeCell<usize>,
    /// What the task's last poll left it waiting on (`wait.rs`): written
    /// by its poller, read by dumps.
    pub(crate) wait: WaitRecord,
}

// SAFETY: every field is either atomic (the wait record too), immutable after construction, or
// (`owner_slot`) only accessed under the owned-list shard lock.
unsafe impl Send for Header {}
// SAFETY: as above.
unsafe impl Sync for Header {}

pub(crate) struct Vtable {
    /// Runs the task; consumes one `Notified` reference.
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Hands a `Notified` reference (already counted) to the scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation; called when the reference count reaches zero.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Join handle: writes `Poll<Result<T, TaskError>>` to the pointer when
    /// the output is ready, else registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// Join handle: calls the closure with a `*const Result<T, TaskError>`
    /// when the task is complete and its output not yet taken.
    pub(crate) peek_output: unsafe fn(NonNull<Header>, &mut dyn FnMut(*const ())),
    /// Join handle dropped (slow path).
    pub(crate) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    /// The caller holds the lock (RUNNING) and one reference: drop the
    /// future, complete the task as cancelled, release the reference.
    pub(crate) cancel_locked: unsafe fn(NonNull<Header>),
    /// Byte offset from the header to the trailer.
    pub(crate) trailer_offset: usize,
}

/// A task pointer that owns no reference by itself. Only used where the
/// owner of a reference is explicit (a `Notified`, a `Task`, the owned
/// list).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: the task's shared parts are Sync (see `Header`); the typed parts
// are only touched under the protocol in `state.rs`, and spawning requires
// `F: Send` and `F::Output: Send`.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// # Safety
    /// `ptr` points to the header of a task allocation made by
    /// `harness::Cell`, and a reference to that task outlives every use of
    /// the returned `RawTask` (and of its copies).
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a RawTask is only used while some reference keeps the
        // allocation alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn trailer(&self) -> &Trailer {
        // SAFETY: the vtable stores the trailer's offset within this very
        // allocation, which is alive (see `header`).
        unsafe {
            let base = self.ptr.as_ptr() as *const u8;
            &*(base.add(self.header().vtable.trailer_offset) as *const Trailer)
        }
    }

    pub(crate) fn id(&self) -> TaskId {
        self.header().id
    }

    pub(crate) fn ref_inc(self) {
        self.header().state.ref_inc();
    }

    /// Drops one reference, freeing the task when it was the last.
    pub(crate) fn drop_reference(self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference: the count reached zero.
            unsafe { self.dealloc() };
        }
    }

    /// Frees the task.
    ///
    /// # Safety
    /// The reference count has reached zero, and this is the one call that
    /// frees it: nothing uses the task afterwards.
    pub(crate) unsafe fn dealloc(self) {
        // SAFETY: the caller guarantees the count is zero and the call unique.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// Drops the future and completes the task as cancelled; see
    /// `Vtable::cancel_locked`.
    ///
    /// # Safety
    /// The caller holds the task's lock (it won `transition_to_cancelled`
    /// or `transition_to_shutdown`) and a reference that outlives the call.
    pub(crate) unsafe fn cancel_locked(self) {
        // SAFETY: upheld by the caller.
        unsafe { (self.header().vtable.cancel_locked)(self.ptr) }
    }

    /// Hands a notification to the scheduler.
    ///
    /// # Safety
    /// One reference has been counted for the notification (it passes to
    /// the scheduler), and the caller's own reference keeps the task alive
    /// through the call.
    pub(crate) unsafe fn schedule(self) {
        // SAFETY: upheld by the caller.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    /// Join handle: writes `Poll<Result<T, TaskError>>` to `dst` when the
    /// output is ready, else registers `waker`.
    ///
    /// # Safety
    /// `dst` points to a `Poll<Result<T, TaskError>>` where `T` is this
    /// task's output type, and the caller holds the join handle's
    /// reference.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: upheld by the caller.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// Join handle: calls `f` with a `*const Result<T, TaskError>` when the
    /// task is complete and its output not yet taken.
    ///
    /// # Safety
    /// The caller holds the join handle's reference, and `f` reads the
    /// pointer as this task's output type only.
    pub(crate) unsafe fn peek_output(self, f: &mut dyn FnMut(*const ())) {
        // SAFETY: upheld by the caller.
        unsafe { (self.header().vtable.peek_output)(self.ptr, f) }
    }

    /// Join handle dropped (slow path): gives up the handle's reference.
    ///
    /// # Safety
    /// The caller owns the join handle's reference and does not use the
    /// task afterwards.
    pub(crate) unsafe fn drop_join_handle_slow(self) {
        // SAFETY: upheld by the caller.
        unsafe { (self.header().vtable.drop_join_handle_slow)(self.ptr) }
    }

    /// Runtime shutdown of a task popped from the owned list, which passes
    /// the list's reference to us.
    pub(crate) fn shutdown(self) {
        if self.header().state.transition_to_shutdown() {
            // SAFETY: we won the lock, and hold the list's reference.
            unsafe { self.cancel_locked() };
        }
        self.drop_reference();
    }
}

/// A task that is scheduled to run: owns the notification reference.
/// Running it (or dropping it) gives that reference up.
pub(crate) struct Notified(RawTask);

impl Notified {
    /// # Safety
    /// The caller transfers one notification reference of `raw`.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// Gives up the notification's reference as a pointer (for a slot
    /// that stores it atomically; `from_raw` takes it back).
    pub(crate) fn into_raw(self) -> RawTask {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }

    pub(crate) fn id(&self) -> TaskId {
        self.0.id()
    }

    /// Polls the task (or lets the reference go when it is already running
    /// elsewhere or complete).
    pub(crate) fn run(self) {
        let raw = self.0;
        std::mem::forget(self);
        // SAFETY: we transfer our notification reference to `poll`.
        unsafe { (raw.header().vtable.poll)(raw.ptr) }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

impl std::fmt::Debug for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notified({})", self.0.id())
    }
}
