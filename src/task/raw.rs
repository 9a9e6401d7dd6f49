//! The untyped face of a task: header, vtable, and the reference-owning
//! pointers the scheduler moves around.
//!
//! A task is one heap allocation (`harness::Cell<F, S>`): a hot `Header`
//! (state word, vtable, id, owned-list slot), the typed core (scheduler
//! handle and the future/output stage), and a cold `Trailer` (join waker,
//! name, done-callbacks). Everything outside `harness` sees only
//! `NonNull<Header>` and calls through the vtable, so the machinery exists
//! once in the binary, not once per future type.

use std::ptr::NonNull;
use std::task::Waker;

use super::state::State;
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
}

// SAFETY: every field is either atomic, immutable after construction, or
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
    pub(crate) fn from_raw(ptr: NonNull<Header>) -> RawTask {
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
            self.dealloc();
        }
    }

    pub(crate) fn dealloc(self) {
        // SAFETY: called exactly once, when the count reached zero.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// The caller holds the lock and a reference; see `Vtable::cancel_locked`.
    pub(crate) fn cancel_locked(self) {
        // SAFETY: upheld by the caller (it won `transition_to_cancelled` or
        // `transition_to_shutdown`).
        unsafe { (self.header().vtable.cancel_locked)(self.ptr) }
    }

    /// Runtime shutdown of a task popped from the owned list, which passes
    /// the list's reference to us.
    pub(crate) fn shutdown(self) {
        if self.header().state.transition_to_shutdown() {
            self.cancel_locked();
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
