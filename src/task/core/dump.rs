//! A task dump: every live task, where it was spawned, what it waits on
//! and from where (`Handle::dump`, `ferrio::task::dump`).
//!
//! Built from what the tasks already hold: the header's state word and
//! wait record (`wait.rs`), the trailer's name and spawn location, and the
//! live task groups (`groups.rs`). Nothing is polled and no worker is
//! waited for: the runtime walks its owned-task list under each shard's
//! lock (held by spawns and completions only, never across a poll), and
//! marks the tasks its watchdog sees stuck in a poll.

use std::backtrace::Backtrace;
use std::fmt;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wait::{self, Recorded, WaitKind};
use super::{name_of, RawTask, TaskId};

/// Every live task of a runtime at one instant; `Display` prints them as
/// a tree (a `TaskGroup`'s children under the task that owns the group).
///
/// ```
/// ferrio::run(async {
///     let lock = std::sync::Arc::new(ferrio::sync::Lock::new(()));
///     let held = lock.lock().await;
///     let l = lock.clone();
///     let waiter = ferrio::spawn(async move {
///         let _g = l.lock().await;
///     });
///     ferrio::sleep(std::time::Duration::from_millis(5)).await;
///     let dump = ferrio::task::dump();
///     let entry = dump.get(waiter.id()).unwrap();
///     assert!(matches!(entry.wait.as_ref().unwrap().on, ferrio::task::WaitOn::Lock));
///     println!("{dump}");
///     drop(held);
///     waiter.await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TaskDump {
    /// The tasks, by id.
    pub tasks: Vec<DumpedTask>,
    /// When the dump was taken.
    pub taken_at: Instant,
}

impl TaskDump {
    /// The entry of task `id`, if it was alive.
    pub fn get(&self, id: TaskId) -> Option<&DumpedTask> {
        self.tasks
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &self.tasks[i])
    }
}

/// One task in a [`TaskDump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DumpedTask {
    /// The task's id.
    pub id: TaskId,
    /// Its name (`Task-<id>` unless one was given).
    pub name: String,
    /// What it was doing.
    pub state: DumpState,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// What its last poll left it waiting on: `None` while it is queued or
    /// running, or when it waits on a future ferrio does not own.
    pub wait: Option<Wait>,
    /// The task owning the `TaskGroup` this task is a child of.
    pub group_owner: Option<TaskId>,
    /// The whole stack at the leaf (the runtime's frames included), when
    /// deep capture is on
    /// ([`capture_wait_frames`](crate::task::capture_wait_frames));
    /// [`task_frames`](DumpedTask::task_frames) keeps the task's own.
    pub frames: Option<Arc<Backtrace>>,
}

impl DumpedTask {
    /// The deep view: the frames from the leaf future that returned
    /// `Pending` up to the task's future (its `async fn`s and
    /// combinators), innermost first, resolved now; the runtime's poll,
    /// scheduler and thread frames are left out. `None` unless deep
    /// capture was on ([`capture_wait_frames`](crate::task::capture_wait_frames)).
    /// Symbols and lines need debug info (`debug = 1` or more in the
    /// profile); resolving reads it, once per capture.
    pub fn task_frames(&self) -> Option<String> {
        self.frames.as_deref().map(super::dump_frames::task_frames)
    }
}

/// A task's state in a [`TaskDump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpState {
    /// Waiting for a wake-up.
    Idle,
    /// Queued to run.
    Scheduled,
    /// Being polled right now.
    Running,
    /// In one poll for at least this long (seen by the watchdog, which
    /// samples every few milliseconds): the poll blocks its worker.
    Blocked {
        /// How long the poll has run so far (at least).
        in_poll_for: Duration,
        /// The worker it blocks.
        worker: usize,
    },
}

/// What a task waits on, from where, since when.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Wait {
    /// The leaf future.
    pub on: WaitOn,
    /// The `.await` (or the call of the ferrio method awaited) that
    /// reached the leaf.
    pub at: &'static Location<'static>,
    /// How long the task has waited there (at the clock's resolution, a
    /// few milliseconds; a spurious wake-up starts the count again).
    pub waited: Duration,
}

/// The leaf future a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOn {
    /// A receive on a socket or pipe.
    Read {
        /// The descriptor.
        fd: RawFd,
    },
    /// A send on a socket or pipe.
    Write {
        /// The descriptor.
        fd: RawFd,
    },
    /// An accept.
    Accept {
        /// The listener's descriptor.
        fd: RawFd,
    },
    /// A connect.
    Connect {
        /// The socket's descriptor.
        fd: RawFd,
    },
    /// Readiness of a descriptor (`readable`, `writable`, `AsyncFd`).
    Ready {
        /// The descriptor.
        fd: RawFd,
    },
    /// A file operation (`fd` is -1 for an operation on a path).
    File {
        /// The descriptor, or -1.
        fd: RawFd,
    },
    /// A sleep, a timeout, an interval tick.
    Sleep {
        /// When it fires (at the clock's resolution).
        deadline: Instant,
    },
    /// `Lock::lock` (also `Condition::lock`).
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
    /// Another task's output (awaiting its `Task`).
    Join {
        /// The awaited task.
        task: TaskId,
    },
    /// A `to_thread` / `run_in_executor` job on the blocking pool.
    ToThread,
    /// A subprocess's exit.
    Process {
        /// Its pid.
        pid: u32,
    },
    /// `TaskGroup::join`: the group's children.
    TaskGroup,
    /// A channel receive: mpsc `recv`, broadcast `recv`, watch `changed`.
    ChannelRecv,
    /// A channel send waiting for a free slot: bounded mpsc `send`,
    /// `reserve`.
    ChannelSend,
    /// `Queue::join`: items not yet marked `task_done`.
    QueueJoin,
    /// A channel sender waiting for its receivers to close: mpsc and watch
    /// `Sender::closed`.
    ChannelClosed,
    /// `CancellationToken::cancelled`.
    Cancelled,
    /// A signal: `ctrl_c`, `Signal::recv`.
    Signal {
        /// The signal's number.
        signo: i32,
    },
    /// `RwLock::read` (also `read_owned`).
    RwLockRead,
    /// `RwLock::write` (also `write_owned`).
    RwLockWrite,
    /// `JoinSet::join_next` (also `join_all`, `shutdown`, the `Stream`).
    JoinSet {
        /// How many tasks the set held.
        tasks: usize,
    },
    /// Awaiting a `Promise`.
    Promise,
    /// `OnceCell::get_or_init`: another caller's initialiser runs.
    OnceCell,
    /// `StreamWriter::drain`: flow control, the queued bytes going out.
    StreamDrain,
    /// `StreamWriter::wait_closed`.
    StreamClosed,
    /// `Server::wait_closed`, `Server::serve_forever`.
    ServerClosed,
}

impl WaitOn {
    fn of(kind: WaitKind, detail: u64) -> WaitOn {
        let fd = detail as i64 as RawFd;
        match kind {
            WaitKind::Read => WaitOn::Read { fd },
            WaitKind::Write => WaitOn::Write { fd },
            WaitKind::Accept => WaitOn::Accept { fd },
            WaitKind::Connect => WaitOn::Connect { fd },
            WaitKind::Ready => WaitOn::Ready { fd },
            WaitKind::File => WaitOn::File { fd },
            WaitKind::Sleep => WaitOn::Sleep {
                deadline: wait::ms_instant(detail),
            },
            WaitKind::Lock => WaitOn::Lock,
            WaitKind::Semaphore => WaitOn::Semaphore,
            WaitKind::QueueGet => WaitOn::QueueGet,
            WaitKind::QueuePut => WaitOn::QueuePut,
            WaitKind::Event => WaitOn::Event,
            WaitKind::Condition => WaitOn::Condition,
            WaitKind::Barrier => WaitOn::Barrier,
            WaitKind::Join => match std::num::NonZeroU64::new(detail) {
                Some(id) => WaitOn::Join { task: TaskId(id) },
                None => WaitOn::ToThread,
            },
            WaitKind::ToThread => WaitOn::ToThread,
            WaitKind::Process => WaitOn::Process { pid: detail as u32 },
            WaitKind::Group => WaitOn::TaskGroup,
            WaitKind::ChannelRecv => WaitOn::ChannelRecv,
            WaitKind::ChannelSend => WaitOn::ChannelSend,
            WaitKind::QueueJoin => WaitOn::QueueJoin,
            WaitKind::ChannelClosed => WaitOn::ChannelClosed,
            WaitKind::Cancelled => WaitOn::Cancelled,
            WaitKind::Signal => WaitOn::Signal {
                signo: detail as i32,
            },
            WaitKind::RwLockRead => WaitOn::RwLockRead,
            WaitKind::RwLockWrite => WaitOn::RwLockWrite,
            WaitKind::JoinSet => WaitOn::JoinSet {
                tasks: detail as usize,
            },
            WaitKind::Promise => WaitOn::Promise,
            WaitKind::OnceCell => WaitOn::OnceCell,
            WaitKind::StreamDrain => WaitOn::StreamDrain,
            WaitKind::StreamClosed => WaitOn::StreamClosed,
            WaitKind::ServerClosed => WaitOn::ServerClosed,
        }
    }
}

/// The entry of one listed task (called under its shard's lock, which
/// keeps it alive). `None` once it is done.
pub(crate) fn entry_of(task: RawTask, now_ms: u64) -> Option<DumpedTask> {
    let s = task.header().state.load();
    if s.is_complete() {
        return None;
    }
    let state = if s.is_running() {
        DumpState::Running
    } else if s.is_notified() {
        DumpState::Scheduled
    } else {
        DumpState::Idle
    };
    // A running task's record is its previous wait (cleared as the poll
    // began, unless we read it just before): show none.
    let wait = match state {
        DumpState::Running => None,
        _ => task.header().wait.read().map(|r| wait_of(r, now_ms)),
    };
    Some(DumpedTask {
        id: task.id(),
        name: name_of(task),
        state,
        spawned_at: task.trailer().spawned_at,
        wait,
        group_owner: None,
        frames: None,
    })
}

fn wait_of(r: Recorded, now_ms: u64) -> Wait {
    Wait {
        on: WaitOn::of(r.kind, r.detail),
        at: r.at,
        waited: Duration::from_millis(now_ms.saturating_sub(r.began_ms)),
    }
}

impl fmt::Display for DumpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpState::Idle => f.write_str("idle"),
            DumpState::Scheduled => f.write_str("scheduled"),
            DumpState::Running => f.write_str("running"),
            DumpState::Blocked {
                in_poll_for,
                worker,
            } => write!(
                f,
                "BLOCKED in a poll for {} ms on worker {worker}",
                in_poll_for.as_millis()
            ),
        }
    }
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::Read { fd } => write!(f, "read on fd {fd}"),
            WaitOn::Write { fd } => write!(f, "write on fd {fd}"),
            WaitOn::Accept { fd } => write!(f, "accept on fd {fd}"),
            WaitOn::Connect { fd } => write!(f, "connect on fd {fd}"),
            WaitOn::Ready { fd } => write!(f, "readiness of fd {fd}"),
            WaitOn::File { fd: -1 } => f.write_str("file operation"),
            WaitOn::File { fd } => write!(f, "file operation on fd {fd}"),
            WaitOn::Sleep { deadline } => {
                let now = Instant::now();
                match deadline.checked_duration_since(now) {
                    Some(d) => write!(f, "sleep, due in {} ms", d.as_millis()),
                    None => write!(
                        f,
                        "sleep, due {} ms ago",
                        now.duration_since(*deadline).as_millis()
                    ),
                }
            }
            WaitOn::Lock => f.write_str("Lock"),
            WaitOn::Semaphore => f.write_str("Semaphore"),
            WaitOn::QueueGet => f.write_str("Queue get"),
            WaitOn::QueuePut => f.write_str("Queue put"),
            WaitOn::Event => f.write_str("Event"),
            WaitOn::Condition => f.write_str("Condition"),
            WaitOn::Barrier => f.write_str("Barrier"),
            WaitOn::Join { task } => write!(f, "join of task {task}"),
            WaitOn::ToThread => f.write_str("to_thread job"),
            WaitOn::Process { pid } => write!(f, "exit of process {pid}"),
            WaitOn::TaskGroup => f.write_str("TaskGroup children"),
            WaitOn::ChannelRecv => f.write_str("channel receive"),
            WaitOn::ChannelSend => f.write_str("channel send"),
            WaitOn::QueueJoin => f.write_str("Queue join"),
            WaitOn::ChannelClosed => f.write_str("channel close"),
            WaitOn::Cancelled => f.write_str("CancellationToken"),
            WaitOn::Signal { signo } => write!(f, "signal {signo}"),
            WaitOn::RwLockRead => f.write_str("RwLock read"),
            WaitOn::RwLockWrite => f.write_str("RwLock write"),
            WaitOn::JoinSet { tasks } => write!(f, "JoinSet of {tasks} task(s)"),
            WaitOn::Promise => f.write_str("Promise"),
            WaitOn::OnceCell => f.write_str("OnceCell initialiser"),
            WaitOn::StreamDrain => f.write_str("StreamWriter drain"),
            WaitOn::StreamClosed => f.write_str("StreamWriter close"),
            WaitOn::ServerClosed => f.write_str("Server close"),
        }
    }
}

impl fmt::Display for DumpedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} '{}' [{}] spawned at {}",
            self.id, self.name, self.state, self.spawned_at
        )?;
        if let Some(w) = &self.wait {
            write!(
                f,
                "\n    waits on {} at {} for {} ms",
                w.on,
                w.at,
                w.waited.as_millis()
            )?;
            if let Some(frames) = self.task_frames() {
                write!(f, "\n    stack at the leaf:\n{frames}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live task(s)", self.tasks.len())?;
        let listed = |id: Option<TaskId>| id.is_some_and(|id| self.get(id).is_some());
        for t in self.tasks.iter().filter(|t| !listed(t.group_owner)) {
            self.write_tree(f, t, 0)?;
        }
        Ok(())
    }
}

impl TaskDump {
    fn write_tree(&self, f: &mut fmt::Formatter<'_>, t: &DumpedTask, depth: usize) -> fmt::Result {
        let pad = "    ".repeat(depth);
        for (i, line) in t.to_string().lines().enumerate() {
            let mark = if depth > 0 && i == 0 { "└ " } else { "" };
            writeln!(f, "{pad}{mark}{line}")?;
        }
        // Children of its groups (bounded depth: a corrupt cycle cannot
        // recurse forever).
        if depth < 64 {
            let mut first = true;
            for c in self.tasks.iter().filter(|c| c.group_owner == Some(t.id)) {
                if first {
                    writeln!(f, "{pad}    task group of task {}:", t.id)?;
                    first = false;
                }
                self.write_tree(f, c, depth + 1)?;
            }
        }
        Ok(())
    }
}
