//! The task core: a task's memory (header, future or output, trailer),
//! its state machine, the vtable that erases its types, the harness that
//! polls it, the owned-task list, and the [`Task`] handle. Generic over
//! [`Schedule`]; it names neither the scheduler nor the runtime (the
//! scheduler implements `Schedule`, the runtime spawns through it).
//!
//! Protocol notes: the state word in `state.rs`, references and the vtable
//! in `raw.rs`, polling and completion in `harness.rs`, the join waker
//! hand-off in `join_waker.rs`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::panic::Location;

use std::task::Waker;

use crate::loom::cell::UnsafeCell;
use crate::loom::plain::{AtomicU64, Ordering};
use crate::loom::sync::Mutex;

mod abort;
pub(crate) mod current;
mod dump;
mod dump_frames;
pub(crate) mod groups;
mod handle;
mod harness;
mod join_waker;
pub(crate) use harness::contain;
pub(crate) mod list;
pub(crate) mod raw;
pub(crate) mod state;
pub(crate) mod wait;

pub use abort::AbortHandle;
pub(crate) use dump::entry_of;
pub use dump::{DumpState, DumpedTask, TaskDump, Wait, WaitOn};
pub use handle::Task;
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
#[non_exhaustive]
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
    /// Where the task was spawned (the caller of `spawn`, `create_task`,
    /// `Handle::spawn`, `TaskGroup::spawn`...).
    pub spawned_at: &'static Location<'static>,
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
        spawned_at: task.trailer().spawned_at,
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
    spawned_at: &'static Location<'static>,
    callbacks: Mutex<Vec<(CallbackKey, Callback)>>,
    /// (feature `tracing`) The task's span, entered around each poll.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl Trailer {
    pub(crate) fn new(name: Option<Box<str>>, spawned_at: &'static Location<'static>) -> Trailer {
        Trailer {
            waker: UnsafeCell::new(None),
            name,
            spawned_at,
            callbacks: Mutex::new(Vec::new()),
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
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
        let list = std::mem::take(&mut *self.callbacks.lock());
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
    spawned_at: &'static Location<'static>,
) -> (RawTask, Notified, Task<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let id = TaskId::next();
    #[allow(unused_mut)]
    let mut trailer = Trailer::new(name, spawned_at);
    #[cfg(feature = "tracing")]
    {
        let name: &str = trailer.name.as_deref().unwrap_or("");
        trailer.span = tracing::info_span!(
            target: "ferrio::task",
            "task",
            id = id.as_u64(),
            name = name,
            spawned_at = %spawned_at,
        );
    }
    let raw = harness::Cell::allocate(future, scheduler, id, trailer);
    // SAFETY: the cell starts with three references; one is the first
    // notification, one the join handle's, one the owned list's (returned).
    let notified = unsafe { Notified::from_raw(raw) };
    let handle = Task {
        raw,
        _output: PhantomData,
    };
    (raw, notified, handle)
}
