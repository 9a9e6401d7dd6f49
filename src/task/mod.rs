// Over 500 lines: the public `Task` handle and the spawn API still sit beside
// the core's types; issue 10 splits them.
//! Tasks: allocation, state, handles (asyncio's `Task`).
//!
//! A task is a spawned future. [`spawn`](crate::spawn) returns a [`Task`]
//! handle, which is itself a future resolving to `Result<T, TaskError>`.
//!
//! # Cancellation, the Rust way
//! In asyncio, `task.cancel()` throws `CancelledError` into the coroutine,
//! which may catch it. In Rust a future cannot observe its own cancellation:
//! cancelling a task **drops its future**. [`Task::cancel`] does this at
//! once when the task is idle (not being polled), on the calling thread, or
//! right after the current poll when the task is running on a worker. The
//! handle then resolves to `Err(TaskError::Cancelled)`. Clean-up belongs in
//! `Drop` implementations, which is where Rust puts it anyway.
//!
//! # Detaching
//! Dropping a [`Task`] handle **detaches** the task: it keeps running, and
//! its output is dropped when it finishes. (asyncio keeps only a weak
//! reference to tasks, so an unreferenced task can vanish mid-run; ferrio's
//! runtime owns every task until it completes.) A detached task that panics
//! is reported through [`Builder::on_task_panic`](crate::runtime::Builder::on_task_panic),
//! like asyncio's "Task exception was never retrieved".

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::cell::UnsafeCell;
use crate::loom::lock;
use crate::loom::plain::{AtomicU64, Ordering};
use crate::loom::sync::Mutex;

mod harness;
pub(crate) use harness::contain;
pub(crate) mod list;
pub(crate) mod raw;
pub(crate) mod state;
mod yield_now;

pub use yield_now::{yield_now, YieldNow};

pub(crate) use raw::{Notified, RawTask};

/// What a scheduler provides to the tasks it owns.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Queue a task to be polled. `is_yield` is true when the task woke
    /// itself during its own poll (it goes to the back of the queue).
    fn schedule(&self, task: Notified, is_yield: bool);

    /// The task completed: remove it from the owned-task list. Returns true
    /// when it was listed (the list's reference then goes to the caller).
    fn release(&self, task: RawTask) -> bool;

    /// A panic that no `Task` handle will ever retrieve.
    fn unhandled_panic(&self, info: &TaskInfo, payload: &(dyn Any + Send));

    /// Debug mode: polls longer than this are reported.
    fn slow_poll_threshold(&self) -> Option<std::time::Duration> {
        None
    }

    /// Debug mode: a poll of `info`'s task took `took`.
    fn report_slow_poll(&self, _info: &TaskInfo, _took: std::time::Duration) {}
}

/// A unique, never reused identifier of a task within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        TaskId(NonZeroU64::new(id).expect("task id counter wrapped"))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a task produced no value.
///
/// asyncio's `CancelledError` maps to [`TaskError::Cancelled`]; an exception
/// raised by the coroutine maps to [`TaskError::Panicked`].
pub enum TaskError {
    /// The task was cancelled (its future was dropped) before it finished.
    Cancelled,
    /// The task's future panicked; the payload is kept.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl TaskError {
    /// True for [`TaskError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// True for [`TaskError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// The panic payload, for `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// When the error is `Cancelled`.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            TaskError::Panicked(p) => p,
            TaskError::Cancelled => panic!("TaskError::into_panic called on a cancelled task"),
        }
    }

    /// The panic message when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            TaskError::Panicked(p) => panic_message(p.as_ref()),
            TaskError::Cancelled => None,
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "Panicked({m:?})"),
                None => f.write_str("Panicked(..)"),
            },
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for TaskError {}

/// How a finished task ended; passed to done-callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The future returned its output.
    Completed,
    /// The task was cancelled.
    Cancelled,
    /// The future panicked.
    Panicked,
}

/// Where a task is in its life, as seen at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a wake-up.
    Idle,
    /// Queued to run.
    Scheduled,
    /// Being polled (or cancelled) right now.
    Running,
    /// Finished: completed, cancelled or panicked.
    Done,
}

/// A snapshot of a task's identity and state (asyncio's `current_task()`,
/// `all_tasks()`, `get_name()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The task's name; `Task-<id>` unless one was given.
    pub name: String,
    /// The task's state when the snapshot was taken.
    pub state: TaskState,
}

pub(crate) fn info_of(task: RawTask) -> TaskInfo {
    let s = task.header().state.load();
    let state = if s.is_complete() {
        TaskState::Done
    } else if s.is_running() {
        TaskState::Running
    } else if s.is_notified() {
        TaskState::Scheduled
    } else {
        TaskState::Idle
    };
    TaskInfo {
        id: task.id(),
        name: name_of(task),
        state,
    }
}

fn name_of(task: RawTask) -> String {
    match &task.trailer().name {
        Some(n) => n.to_string(),
        None => format!("Task-{}", task.id()),
    }
}

type Callback = Box<dyn FnOnce(Outcome) + Send + 'static>;

/// Identifies a done-callback registered with
/// [`Task::add_removable_done_callback`], for
/// [`Task::remove_done_callback`]. Keys are unique in the process; the
/// public `add_done_callback` uses `0`, which is never handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallbackKey(u64);

impl CallbackKey {
    const UNREMOVABLE: CallbackKey = CallbackKey(0);

    fn next() -> CallbackKey {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        CallbackKey(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The cold part of a task.
pub(crate) struct Trailer {
    /// The join waker. Ownership follows the JOIN_WAKER bit (state.rs).
    waker: UnsafeCell<Option<Waker>>,
    name: Option<Box<str>>,
    callbacks: Mutex<Vec<(CallbackKey, Callback)>>,
}

impl Trailer {
    pub(crate) fn new(name: Option<Box<str>>) -> Trailer {
        Trailer {
            waker: UnsafeCell::new(None),
            name,
            callbacks: Mutex::new(Vec::new()),
        }
    }

    /// # Safety
    /// The caller owns the waker slot (see the JOIN_WAKER protocol).
    pub(crate) unsafe fn set_join_waker(&self, waker: Option<Waker>) {
        // SAFETY: exclusive by the caller's contract.
        self.waker.with_mut(|w| unsafe { *w = waker });
    }

    /// # Safety
    /// JOIN_WAKER is set and the caller is the join handle (the only writer).
    pub(crate) unsafe fn join_waker_will_wake(&self, other: &Waker) -> bool {
        // SAFETY: only shared reads happen while JOIN_WAKER is set.
        self.waker
            .with(|w| unsafe { (*w).as_ref() }.is_some_and(|w| w.will_wake(other)))
    }

    /// Called by the completer while JOIN_WAKER is set.
    pub(crate) fn wake_join(&self) {
        self.waker.with(|w| {
            // SAFETY: JOIN_WAKER is set, so the handle does not write the slot.
            if let Some(w) = unsafe { (*w).as_ref() } {
                w.wake_by_ref()
            }
        })
    }

    pub(crate) fn run_callbacks(&self, outcome: Outcome) {
        let list = std::mem::take(&mut *lock(&self.callbacks));
        for (_, cb) in list {
            harness::contain(move || cb(outcome));
        }
    }
}

/// Allocates a task: returns the owned-list reference, the first
/// notification, and the join handle.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    name: Option<Box<str>>,
) -> (RawTask, Notified, Task<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = harness::Cell::allocate(future, scheduler, TaskId::next(), Trailer::new(name));
    // SAFETY: the cell starts with three references; one is the first
    // notification, one the join handle's, one the owned list's (returned).
    let notified = unsafe { Notified::from_raw(raw) };
    let handle = Task {
        raw,
        _output: PhantomData,
    };
    (raw, notified, handle)
}

/// A handle to a spawned task (asyncio's `Task`): await it for the output.
///
/// `Task<T>` is a `Future<Output = Result<T, TaskError>>`. Dropping it
/// detaches the task (it keeps running). See the [module docs](self) for how
/// cancellation maps from asyncio.
///
/// ```
/// let out = ferrio::run(async {
///     let task = ferrio::spawn(async { 6 * 7 });
///     task.await
/// });
/// assert_eq!(out.unwrap(), 42);
/// ```
#[must_use = "a dropped Task detaches; await it to get the output"]
pub struct Task<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves T (which is Send) out of the task, and the
// task itself is Send + Sync (see RawTask).
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: &Task only reads the atomic state and immutable fields.
unsafe impl<T: Send> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    /// Requests cancellation (asyncio's `Task.cancel()`).
    ///
    /// Returns `false` when the task is already done, `true` otherwise. An
    /// idle task's future is dropped before this returns (on this thread);
    /// a task being polled right now has its future dropped as soon as the
    /// poll ends. Either way the handle resolves to
    /// `Err(TaskError::Cancelled)` — unless the future panics while being
    /// dropped, which is reported as `Panicked`. If the cancel lands while
    /// the task is returning its output, the output is dropped and the task
    /// counts as cancelled, as in asyncio.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let task = ferrio::spawn(std::future::pending::<()>());
    ///     assert!(task.cancel());
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        use state::ToCancelled;
        match self.raw.header().state.transition_to_cancelled() {
            ToCancelled::AlreadyDone => false,
            ToCancelled::Marked => true,
            ToCancelled::CancelNow => {
                // SAFETY: we won the lock; the handle's reference outlives
                // the call.
                unsafe { self.raw.cancel_locked() };
                true
            }
        }
    }

    /// True once the task has finished (completed, cancelled or panicked).
    pub fn is_done(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// True once the task has finished by being cancelled.
    pub fn is_cancelled(&self) -> bool {
        let s = self.raw.header().state.load();
        s.is_complete() && s.is_cancelled() && !s.is_panicked()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }

    /// The task's name (`Task-<id>` unless given with [`Builder::name`]).
    pub fn name(&self) -> String {
        name_of(self.raw)
    }

    /// A snapshot of id, name and state.
    pub fn info(&self) -> TaskInfo {
        info_of(self.raw)
    }

    /// Looks at the output of a finished task without taking it.
    pub(crate) fn peek_output<R>(&self, f: impl FnOnce(&Result<T, TaskError>) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        let mut call = |p: *const ()| {
            // SAFETY: the harness passes a pointer to this task's
            // `Result<T, TaskError>`, valid for the call.
            let r = unsafe { &*(p as *const Result<T, TaskError>) };
            if let Some(f) = f.take() {
                out = Some(f(r));
            }
        };
        // SAFETY: our reference keeps the task alive; the closure casts to
        // the output type the vtable's harness stores.
        unsafe { self.raw.peek_output(&mut call) };
        out
    }

    /// Runs `f` once the task is done, with how it ended (asyncio's
    /// `add_done_callback`). Callbacks run in registration order on the
    /// thread that finishes the task; one added after the task finished
    /// runs at once on the calling thread. A panicking callback is
    /// contained. The callback outlives the handle: dropping the `Task`
    /// does not unregister it.
    pub fn add_done_callback(&self, f: impl FnOnce(Outcome) + Send + 'static) {
        self.push_done_callback(CallbackKey::UNREMOVABLE, Box::new(f));
    }

    /// [`add_done_callback`](Self::add_done_callback), returning a key to
    /// take the callback back with
    /// [`remove_done_callback`](Self::remove_done_callback) (asyncio's
    /// `remove_done_callback`, which `wait` uses so that it leaves nothing
    /// behind).
    pub(crate) fn add_removable_done_callback(
        &self,
        f: impl FnOnce(Outcome) + Send + 'static,
    ) -> CallbackKey {
        let key = CallbackKey::next();
        self.push_done_callback(key, Box::new(f));
        key
    }

    /// Unregisters (and drops) a callback that has not run yet. False when
    /// it already ran or is running (the task finished).
    pub(crate) fn remove_done_callback(&self, key: CallbackKey) -> bool {
        let removed = {
            let mut list = lock(&self.raw.trailer().callbacks);
            list.iter()
                .position(|(k, _)| *k == key)
                .map(|at| list.remove(at))
        };
        // Dropped outside the lock: the closure's captures are user code.
        match removed {
            Some(entry) => {
                harness::contain(move || drop(entry));
                true
            }
            None => false,
        }
    }

    /// Done-callbacks waiting for this task to finish (tests: nothing
    /// left behind).
    #[cfg(test)]
    pub(crate) fn pending_done_callbacks(&self) -> usize {
        lock(&self.raw.trailer().callbacks).len()
    }

    fn push_done_callback(&self, key: CallbackKey, f: Callback) {
        let trailer = self.raw.trailer();
        let mut list = lock(&trailer.callbacks);
        list.push((key, f));
        if let Err(s) = self.raw.header().state.set_has_callbacks() {
            // Already complete: the completer has run (or will find empty)
            // the list; run everything still pending here, in order.
            let pending = std::mem::take(&mut *list);
            drop(list);
            let outcome = if s.is_panicked() {
                Outcome::Panicked
            } else if s.is_cancelled() {
                Outcome::Cancelled
            } else {
                Outcome::Completed
            };
            for (_, cb) in pending {
                harness::contain(move || cb(outcome));
            }
        }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, TaskError>> = Poll::Pending;
        // SAFETY: `out` has the type the vtable's harness writes (T is this
        // task's output type), and we hold the join handle's reference.
        unsafe {
            self.raw
                .try_read_output(&mut out as *mut _ as *mut (), cx.waker())
        };
        out
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if self.raw.header().state.drop_join_handle_fast() {
            return;
        }
        // SAFETY: we own the join handle's reference.
        unsafe { self.raw.drop_join_handle_slow() }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("Task")
            .field("id", &info.id)
            .field("name", &info.name)
            .field("state", &info.state)
            .finish()
    }
}

/// Spawns with options (asyncio's `create_task(coro, name=...)`).
///
/// ```
/// ferrio::run(async {
///     let task = ferrio::task::Builder::new().name("fetcher").spawn(async { 1 });
///     assert_eq!(task.name(), "fetcher");
///     assert_eq!(task.await.unwrap(), 1);
/// });
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder with no options set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown by `Task::name`, `all_tasks`, panic reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns onto the current runtime.
    ///
    /// # Panics
    /// Outside a runtime (see [`spawn`](crate::spawn)).
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_on(future, &crate::runtime::Handle::current())
    }

    /// Spawns onto the runtime behind `handle`; works from any thread.
    pub fn spawn_on<F>(self, future: F, handle: &crate::runtime::Handle) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_named(future, self.name.map(String::into_boxed_str))
    }
}

/// The task being polled on this thread, if any (asyncio's
/// `current_task()`).
///
/// ```
/// ferrio::run(async {
///     let t = ferrio::task::Builder::new()
///         .name("me")
///         .spawn(async { ferrio::current_task().unwrap().name });
///     assert_eq!(t.await.unwrap(), "me");
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    crate::context::current_task().map(info_of)
}
