// Over 500 lines: the typed half of one task (poll, cancel, complete,
// join-waker hand-off, the waker vtable) is one protocol over one
// allocation; the `Locked` handle and its `# Safety` contracts keep it
// readable as a whole.
//! The typed half of a task: its allocation and the operations that need to
//! know the future's type. Each is reached through the `Vtable`.
//!
//! # Panics
//!
//! A panic inside a task's poll, inside its destructor, inside a done-callback,
//! inside the user's join waker or inside the panic handler is caught; the
//! worker carries on. A panic whose `Task` handle is gone is reported once
//! through `Builder::on_task_panic` (default: one line on stderr naming the
//! task).

use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::join_waker;
use super::raw::{Header, Notified, RawTask, Vtable};
use super::state::{State, ToIdle, ToNotified, ToRunning};
use super::{Outcome, Schedule, TaskError, TaskId, Trailer};
use crate::loom::cell::UnsafeCell;

#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    trailer: Trailer,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// A task's lock (RUNNING) and the reference that goes with it, held by
/// whoever is about to touch its stage: what `poll_locked`,
/// `cancel_and_complete` and `complete` need, since they write the stage
/// and may free the task.
///
/// Built only by the `unsafe` `Locked::new`; not `Copy`, so it is spent
/// once: by `complete`, which gives the lock and the reference up, or, after
/// a `Pending` poll, by `poll_locked` when `transition_to_idle` lets the
/// lock go (and is never used again there). Only a pointer: it costs
/// nothing.
struct Locked<F: Future, S> {
    ptr: NonNull<Header>,
    cell: PhantomData<*const Cell<F, S>>,
}

impl<F, S> Locked<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    /// # Safety
    /// `ptr` is the header of a live `Cell<F, S>`; the caller holds the
    /// task's lock (RUNNING) and one reference to it, and hands both to the
    /// returned handle: it uses neither again (the handle gives them up).
    unsafe fn new(ptr: NonNull<Header>) -> Self {
        Locked {
            ptr,
            cell: PhantomData,
        }
    }

    /// The cell, kept alive by the handle's reference.
    fn cell(&self) -> &Cell<F, S> {
        // SAFETY: `ptr` is a live `Cell<F, S>` (`new`), and the handle's
        // reference lasts until the handle is spent; the borrow of `self`
        // keeps the returned `&` from outliving it.
        unsafe { Cell::from_header(self.ptr) }
    }
}

impl<F, S> Cell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    /// Allocates a task holding three references (owned list, first
    /// notification, join handle) and returns its pointer.
    pub(crate) fn allocate(future: F, scheduler: S, id: TaskId, trailer: Trailer) -> RawTask {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: Self::VTABLE,
                id,
                owner_slot: UnsafeCell::new(usize::MAX),
                wait: Default::default(),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            trailer,
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        // SAFETY: a fresh cell's header; its references are handed out by
        // the caller (`new_task`).
        unsafe { RawTask::from_raw(ptr) }
    }

    const VTABLE: &'static Vtable = &Vtable {
        poll: Self::poll,
        schedule: Self::schedule,
        dealloc: Self::dealloc,
        try_read_output: Self::try_read_output,
        peek_output: Self::peek_output,
        drop_join_handle_slow: Self::drop_join_handle_slow,
        cancel_locked: Self::cancel_locked,
        trailer_offset: std::mem::offset_of!(Cell<F, S>, trailer),
    };

    /// # Safety
    /// `ptr` points to a live `Cell<F, S>` (the vtable says so).
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
        // SAFETY: `Cell` is repr(C) with the header first, and the vtable
        // that led here belongs to this exact `Cell<F, S>`.
        unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
    }

    fn raw(&self) -> RawTask {
        // SAFETY: our own header; `&self` proves a reference is held.
        unsafe { RawTask::from_raw(NonNull::from(&self.header)) }
    }

    unsafe fn poll(ptr: NonNull<Header>) {
        // SAFETY: the caller passes a notification reference to a live cell.
        let state = unsafe { &ptr.as_ref().state };
        match state.transition_to_running() {
            ToRunning::Poll => {
                // SAFETY: the transition took the lock for us, and our
                // notification reference goes with it.
                Self::poll_locked(unsafe { Locked::new(ptr) })
            }
            ToRunning::Cancel => {
                // SAFETY: as above.
                Self::cancel_and_complete(unsafe { Locked::new(ptr) })
            }
            ToRunning::Skip => {}
            // SAFETY: the notification was the last reference.
            ToRunning::Dealloc => unsafe { RawTask::from_raw(ptr).dealloc() },
        }
    }

    /// Polls the future once, under `task`'s lock.
    ///
    /// The operations that may free the task take the `Locked` handle,
    /// never `&self`: a reference passed as an argument must stay valid for
    /// the whole call, and the cell can be freed before they return. `this`
    /// borrows the handle, so it cannot be used once the handle is spent.
    fn poll_locked(task: Locked<F, S>) {
        let this = task.cell();
        // The previous wait is over; a leaf returning `Pending` in this
        // poll writes the next.
        this.header.wait.begin_poll(this.header.id);
        let waker = ManuallyDrop::new(waker_for(this.raw()));
        let mut cx = Context::from_waker(&waker);
        let current = super::current::enter_task(Some(this.raw()));
        #[cfg(feature = "tracing")]
        let span = this.trailer.span.enter();
        let slow = this
            .scheduler
            .slow_poll_threshold()
            .map(|t| (t, std::time::Instant::now()));
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: RUNNING is held, so nobody else touches the stage.
            this.stage.with_mut(|stage| match unsafe { &mut *stage } {
                Stage::Running(fut) => {
                    // SAFETY: the future lives in the heap cell and is never
                    // moved until it is dropped in place.
                    let fut = unsafe { Pin::new_unchecked(fut) };
                    fut.poll(&mut cx)
                }
                _ => unreachable!("polled a task whose future is gone"),
            })
        }));
        #[cfg(feature = "tracing")]
        drop(span);
        drop(current);
        if let Some((threshold, start)) = slow {
            let took = start.elapsed();
            if took > threshold {
                let info = super::info_of(this.raw());
                contain(|| this.scheduler.report_slow_poll(&info, took));
            }
        }
        match result {
            // `transition_to_idle` spends the handle, except on `Cancel`: the
            // lock goes on `Idle` and `Reschedule`, and our reference too on
            // `Idle`. `task` is not used after it.
            Ok(Poll::Pending) => match this.header.state.transition_to_idle() {
                ToIdle::Idle => {}
                ToIdle::Reschedule => {
                    let raw = this.raw();
                    // SAFETY: transition_to_idle counted a reference for the
                    // notification.
                    let task = unsafe { Notified::from_raw(raw) };
                    this.scheduler.schedule(task, true);
                    // Our own reference kept the cell (and `this.scheduler`)
                    // alive through the call; now it goes.
                    raw.drop_reference();
                }
                ToIdle::Cancel => Self::cancel_and_complete(task),
            },
            Ok(Poll::Ready(output)) => {
                this.drop_future_quietly();
                Self::complete(task, Ok(output));
            }
            Err(panic) => {
                this.drop_future_quietly();
                Self::complete(task, Err(TaskError::Panicked(panic)));
            }
        }
    }

    /// Drops the future (or output) in place; a panic in its destructor is
    /// returned rather than unwinding into the worker.
    fn drop_stage(&self) -> Result<(), Box<dyn std::any::Any + Send>> {
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: RUNNING is held.
            self.stage
                .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }))
    }

    fn drop_future_quietly(&self) {
        if let Err(payload) = self.drop_stage() {
            drop_payload(payload);
        }
    }

    /// Drops the future and completes the task, under `task`'s lock.
    fn cancel_and_complete(task: Locked<F, S>) {
        let output = match task.cell().drop_stage() {
            Ok(()) => Err(TaskError::Cancelled),
            Err(panic) => Err(TaskError::Panicked(panic)),
        };
        Self::complete(task, output);
    }

    unsafe fn cancel_locked(ptr: NonNull<Header>) {
        // SAFETY: `Vtable::cancel_locked`'s contract: the caller holds the
        // lock and passes us a reference (the one counted when it took the
        // lock) to give up.
        Self::cancel_and_complete(unsafe { Locked::new(ptr) });
    }

    /// Publishes `output`, under `task`'s lock; the future is already
    /// dropped. Spends the handle: gives up the lock and the reference
    /// (possibly freeing the task).
    fn complete(task: Locked<F, S>, output: Result<F::Output, TaskError>) {
        // `this` is not used after the references are dropped at the end.
        let this = task.cell();
        let is_panic = matches!(output, Err(TaskError::Panicked(_)));
        // SAFETY: RUNNING is held.
        this.stage
            .with_mut(|stage| unsafe { *stage = Stage::Finished(output) });
        let prev = this.header.state.transition_to_complete(|seen| {
            if seen.is_cancelled() && !is_panic {
                // asyncio: a cancel that lands while the task finishes wins;
                // `cancel()` returned true, so the handle reports Cancelled.
                contain(|| {
                    // SAFETY: RUNNING is still held until the CAS succeeds.
                    this.stage.with_mut(|stage| unsafe {
                        if let Stage::Finished(Ok(_)) = &*stage {
                            *stage = Stage::Finished(Err(TaskError::Cancelled));
                        }
                    })
                });
            }
            is_panic
        });

        let outcome = if is_panic {
            Outcome::Panicked
        } else if prev.is_cancelled() {
            Outcome::Cancelled
        } else {
            Outcome::Completed
        };

        if !prev.is_join_interested() {
            // Nobody will read the output: drop it here, and report a panic
            // that nobody will ever retrieve.
            this.discard_output();
        } else if prev.is_join_waker_set() {
            // The join waker is user code (the handle may be awaited on any
            // executor): a panic in it must not unwind into the worker.
            contain(|| this.trailer.wake_join());
            let now = this.header.state.unset_join_waker_after_complete();
            if !now.is_join_interested() {
                // SAFETY: JOIN_WAKER is clear and the handle is gone: the
                // slot is ours.
                contain(|| unsafe { this.trailer.set_join_waker(None) });
            }
        }

        if prev.has_callbacks() {
            this.trailer.run_callbacks(outcome);
        }

        let listed = this.scheduler.release(this.raw());
        let last = if listed {
            this.header.state.ref_dec_twice()
        } else {
            this.header.state.ref_dec()
        };
        if last {
            // SAFETY: those were the last references.
            unsafe { RawTask::from_raw(task.ptr).dealloc() };
        }
    }

    /// Takes the output nobody will read; reports it if it is a panic.
    fn discard_output(&self) {
        // SAFETY: COMPLETE and no join interest: the stage is ours alone.
        let stage = self
            .stage
            .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
        if let Stage::Finished(Err(TaskError::Panicked(payload))) = &stage {
            let info = super::info_of(self.raw());
            contain(|| self.scheduler.unhandled_panic(&info, payload.as_ref()));
        }
        contain(move || drop(stage));
    }

    unsafe fn schedule(ptr: NonNull<Header>) {
        // SAFETY: the caller passes a counted notification reference.
        let this = unsafe { Self::from_header(ptr) };
        // SAFETY: as above.
        let task = unsafe { Notified::from_raw(this.raw()) };
        this.scheduler.schedule(task, false);
    }

    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the last reference is gone; the cell came from Box::leak.
        let cell = unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) };
        contain(move || drop(cell));
    }

    unsafe fn try_read_output(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
        // SAFETY: called by the join handle, which keeps the cell alive.
        let this = unsafe { Self::from_header(ptr) };
        if this.can_read_output(waker) {
            // SAFETY: COMPLETE and JOIN_INTEREST: the output belongs to the
            // handle, the only caller.
            let stage = this
                .stage
                .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
            let out = match stage {
                Stage::Finished(out) => out,
                _ => panic!("ferrio::Task polled after it returned its output"),
            };
            // SAFETY: the handle passes a `*mut Poll<Result<T, TaskError>>`
            // with T = F::Output.
            unsafe {
                *(dst as *mut Poll<Result<F::Output, TaskError>>) = Poll::Ready(out);
            }
        }
    }

    unsafe fn peek_output(ptr: NonNull<Header>, f: &mut dyn FnMut(*const ())) {
        // SAFETY: called by the join handle, which keeps the cell alive.
        let this = unsafe { Self::from_header(ptr) };
        if !this.header.state.load().is_complete() {
            return;
        }
        this.stage.with(|stage| {
            // SAFETY: COMPLETE and the handle (our caller, holding
            // JOIN_INTEREST) owns the output; `&Task` excludes a concurrent
            // poll of the same handle, the only other reader.
            if let Stage::Finished(out) = unsafe { &*stage } {
                f(out as *const Result<F::Output, TaskError> as *const ());
            }
        });
    }

    /// The join waker hand-off; see [`join_waker::can_read_output`].
    fn can_read_output(&self, waker: &Waker) -> bool {
        join_waker::can_read_output(&self.header, &self.trailer, waker)
    }

    unsafe fn drop_join_handle_slow(ptr: NonNull<Header>) {
        // SAFETY: the handle's reference keeps the cell alive.
        let this = unsafe { Self::from_header(ptr) };
        let (drop_output, drop_waker) = this.header.state.transition_to_join_handle_dropped();
        if drop_output {
            this.discard_output();
        }
        if drop_waker {
            // SAFETY: JOIN_WAKER is clear (we cleared it, or the completer
            // did) and the handle owns the slot.
            unsafe { this.trailer.set_join_waker(None) };
        }
        this.raw().drop_reference();
    }
}

/// Runs `f`, containing a panic (and a panic from dropping its payload).
pub(crate) fn contain(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        drop_payload(payload);
    }
}

/// Drops a panic payload whose own destructor might panic.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// The waker of a task is the task pointer itself; waking allocates nothing.
pub(crate) fn waker_for(task: RawTask) -> Waker {
    let raw = RawWaker::new(task.header_ptr().as_ptr() as *const (), &WAKER_VTABLE);
    // SAFETY: the vtable below upholds RawWaker's contract with the task's
    // reference count: clone adds a reference, wake/drop consume one.
    unsafe { Waker::from_raw(raw) }
}

/// Std calls these four only with the data pointer of a `RawWaker` built
/// on this vtable (by `waker_for` or `waker_clone`), for a waker that has
/// not been dropped or woken by value yet.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// The task behind one of our wakers.
///
/// # Safety
/// `data` is the data pointer of a `RawWaker` built on `WAKER_VTABLE` (by
/// `waker_for` or `waker_clone`) whose waker still holds its reference; the
/// returned `RawTask` is used as `RawTask::from_raw` requires, only while a
/// reference keeps the task alive.
unsafe fn task_of(data: *const ()) -> RawTask {
    // SAFETY: such a data pointer is a task's header (`waker_for` stores
    // `header_ptr`, `waker_clone` copies it), hence non-null; the rest is
    // the caller's contract.
    unsafe { RawTask::from_raw(NonNull::new_unchecked(data as *mut Header)) }
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` comes from std for a live waker of ours (see
    // `WAKER_VTABLE`), whose reference outlasts this call.
    unsafe { task_of(data) }.ref_inc();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: `data` comes from std for a live waker of ours (see
    // `WAKER_VTABLE`); its reference keeps the task alive until it is
    // given up (by the transition, or by `drop_reference` after
    // scheduling), and `Dealloc` is the one use after that.
    let task = unsafe { task_of(data) };
    match task.header().state.transition_to_notified_by_val() {
        ToNotified::Submit => {
            // SAFETY: a reference was counted for the notification; the
            // waker's own keeps the cell alive through the call.
            unsafe { task.schedule() };
            task.drop_reference();
        }
        // SAFETY: the waker's reference was the last one.
        ToNotified::Dealloc => unsafe { task.dealloc() },
        ToNotified::Nothing => {}
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: `data` comes from std for a live waker of ours (see
    // `WAKER_VTABLE`), whose reference outlasts this call.
    let task = unsafe { task_of(data) };
    match task.header().state.transition_to_notified_by_ref() {
        // SAFETY: a new reference was counted for the notification.
        ToNotified::Submit => unsafe { task.schedule() },
        ToNotified::Dealloc => unreachable!("wake_by_ref never drops a reference"),
        ToNotified::Nothing => {}
    }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: `data` comes from std for a live waker of ours (see
    // `WAKER_VTABLE`); `drop_reference` gives up its reference last.
    unsafe { task_of(data) }.drop_reference();
}
