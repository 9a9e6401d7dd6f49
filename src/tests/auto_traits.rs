//! The intended auto traits (`Send`, `Sync`) of every public type, checked
//! at compile time: this module does not build if a type loses one it
//! should have, or gains one it must not have.
//!
//! Generic types are checked with probe parameters: `u8` (`Send + Sync`),
//! `Cell<u8>` (`Send`, not `Sync`), `Rc<u8>` (neither) and
//! `MutexGuard<u8>` (`Sync`, not `Send`). The negative checks use a trait
//! that is implemented twice when the bound holds, so naming its item is
//! ambiguous (a compile error) exactly when the type has the auto trait it
//! must not have. The same negatives are also `compile_fail` examples in
//! the types' docs (`LockGuard`, `Lock`, `Condition`, `BaseQueue`,
//! `Promise`).

#![allow(dead_code)]

use std::cell::Cell;
use std::future::Ready;
use std::rc::Rc;
use std::sync::MutexGuard;

use ferrio::sync::*;

type NotSync = Cell<u8>;
type NotSend = Rc<u8>;
type SyncNotSend = MutexGuard<'static, u8>;

/// Both `Send` and `Sync`.
macro_rules! send_sync {
    ($($t:ty),* $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized + Send + Sync>() {}
            $(check::<$t>();)*
        };
    };
}

/// `Send`.
macro_rules! send {
    ($($t:ty),* $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized + Send>() {}
            $(check::<$t>();)*
        };
    };
}

/// `Sync`.
macro_rules! sync {
    ($($t:ty),* $(,)?) => {
        const _: fn() = || {
            fn check<T: ?Sized + Sync>() {}
            $(check::<$t>();)*
        };
    };
}

/// Not `$auto` (`Send` or `Sync`): with the bound met, `Probe` has two
/// impls for the type and `<$t as Probe<_>>::ITEM` cannot be resolved.
macro_rules! not {
    ($auto:ident: $($t:ty),* $(,)?) => {
        $(
            const _: fn() = || {
                trait Probe<Which> {
                    const ITEM: () = ();
                }
                impl<T: ?Sized> Probe<()> for T {}
                struct HasIt;
                impl<T: ?Sized + $auto> Probe<HasIt> for T {}
                let _ = <$t as Probe<_>>::ITEM;
            };
        )*
    };
}

// --- sync ---------------------------------------------------------------

send_sync!(
    Lock<u8>,
    Lock<NotSync>,
    LockGuard<'static, u8>,
    Condition<u8>,
    Condition<NotSync>,
    Semaphore,
    SemaphorePermit<'static>,
    Acquire<'static>,
    BoundedSemaphore,
    TooManyReleasesError,
    Event,
    EventWait<'static>,
    Barrier,
    BarrierWait<'static>,
    BrokenBarrierError,
    Promise<u8>,
    Promise<NotSync>,
    PromiseError,
    AlreadyDoneError,
    Queue<u8>,
    Queue<NotSync>,
    LifoQueue<NotSync>,
    PriorityQueue<u8>,
    Fifo<u8>,
    Lifo<u8>,
    Priority<u8>,
    Get<'static, NotSync, Fifo<NotSync>>,
    Put<'static, u8, Fifo<u8>>,
    PutError<u8>,
    QueueError,
);
// A guard moves with its task between workers: `Send` needs only `T: Send`.
send!(
    LockGuard<'static, NotSync>,
    Put<'static, NotSync, Fifo<NotSync>>,
);
// ...and is shared only when `&T` may be: `Sync` for `T: Sync` (not for
// every `T: Send`: a `!Sync` value must not be reached from two threads).
sync!(LockGuard<'static, SyncNotSend>);
not!(Sync: LockGuard<'static, NotSync>, LockGuard<'static, NotSend>);
not!(Send: LockGuard<'static, NotSend>, LockGuard<'static, SyncNotSend>);
// The containers follow `T: Send` (as std's `Mutex`).
not!(Send: Lock<NotSend>, Condition<NotSend>, Queue<NotSend>, Promise<NotSend>);
not!(Sync: Lock<NotSend>, Condition<NotSend>, Queue<NotSend>, Promise<NotSend>);
not!(Sync: Lock<SyncNotSend>, Queue<SyncNotSend>);

// The futures of the `async fn`s (unnameable: checked on values).
const _: fn() = || {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let lock = Lock::new(0u8);
    send_sync(&lock.lock());
    let cond = Condition::new(Cell::new(0u8));
    send(&cond.lock());
    // A task can await `wait` over a `!Sync` value and still move between
    // workers.
    fn wait<'a>(cond: &'a Condition<NotSync>, guard: LockGuard<'a, NotSync>) {
        fn send<T: Send>(_: &T) {}
        send(&cond.wait(guard));
    }
    fn wait_for<'a>(cond: &'a Condition<NotSync>, guard: LockGuard<'a, NotSync>) {
        fn send<T: Send>(_: &T) {}
        send(&cond.wait_for(guard, |_| true));
    }
    let _ = (wait, wait_for);
    let q: Queue<u8> = Queue::new(0);
    send_sync(&q.join());
};

// The tokio-shaped primitives, with tokio's bounds.
send_sync!(
    RwLock<u8>,
    RwLockReadGuard<'static, u8>,
    RwLockWriteGuard<'static, u8>,
    OwnedRwLockReadGuard<u8>,
    OwnedRwLockWriteGuard<u8>,
    TryLockError,
    OnceCell<u8>,
    SetError<u8>,
    OwnedLockGuard<u8>,
    AcquireOwned,
    OwnedSemaphorePermit,
    CancellationToken,
    WaitForCancellationFuture<'static>,
    WaitForCancellationFutureOwned,
    DropGuard,
);
// Containers: `Send` for `T: Send`, `Sync` for `T: Send + Sync`.
send!(RwLock<NotSync>, OnceCell<NotSync>);
not!(Sync: RwLock<NotSync>, OnceCell<NotSync>, RwLock<SyncNotSend>, OnceCell<SyncNotSend>);
not!(Send: RwLock<NotSend>, OnceCell<NotSend>, RwLock<SyncNotSend>);
// A read guard only reads where it goes: `Send` for `T: Sync`.
send!(RwLockReadGuard<'static, SyncNotSend>);
not!(Send: RwLockReadGuard<'static, NotSync>);
not!(Sync: RwLockReadGuard<'static, NotSync>, RwLockReadGuard<'static, SyncNotSend>);
// Write guards and owned guards: `Send + Sync` for `T: Send + Sync` only.
not!(Send: RwLockWriteGuard<'static, NotSync>, RwLockWriteGuard<'static, SyncNotSend>);
not!(Send: OwnedRwLockReadGuard<NotSync>, OwnedRwLockReadGuard<SyncNotSend>);
not!(Send: OwnedRwLockWriteGuard<NotSync>, OwnedRwLockWriteGuard<SyncNotSend>);
not!(Sync: RwLockWriteGuard<'static, NotSync>, OwnedRwLockReadGuard<NotSync>);
not!(Sync: OwnedRwLockWriteGuard<NotSync>);
// An owned `Lock` guard moves with `T: Send`, is shared with `T: Send + Sync`.
send!(OwnedLockGuard<NotSync>);
not!(Sync: OwnedLockGuard<NotSync>, OwnedLockGuard<SyncNotSend>);
not!(Send: OwnedLockGuard<NotSend>, OwnedLockGuard<SyncNotSend>);

const _: fn() = || {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let lock = std::sync::Arc::new(RwLock::new(0u8));
    send_sync(&lock.read());
    send_sync(&lock.write());
    send_sync(&lock.clone().read_owned());
    send_sync(&lock.write_owned());
    let m = std::sync::Arc::new(Lock::new(0u8));
    send_sync(&m.lock_owned());
    let cell = OnceCell::<u8>::new();
    send_sync(&cell.get_or_init(|| async { 1 }));
    send_sync(&cell.get_or_try_init(|| async { Ok::<u8, ()>(1) }));
};

// --- channels ---------------------------------------------------------------

// mpsc and broadcast move values between threads under their mutex (a
// broadcast value is cloned under it too): both halves are `Send + Sync`
// for every `T: Send`, as tokio's.
send_sync!(
    mpsc::Sender<NotSync>,
    mpsc::Receiver<NotSync>,
    mpsc::UnboundedSender<NotSync>,
    mpsc::UnboundedReceiver<NotSync>,
    mpsc::Permit<'static, NotSync>,
    mpsc::error::SendError<u8>,
    mpsc::error::TrySendError<u8>,
    mpsc::error::TryRecvError,
    broadcast::Sender<NotSync>,
    broadcast::Receiver<NotSync>,
    broadcast::error::SendError<u8>,
    broadcast::error::RecvError,
    broadcast::error::TryRecvError,
    watch::Sender<u8>,
    watch::Receiver<u8>,
    watch::error::SendError<u8>,
    watch::error::RecvError,
);
not!(Send: mpsc::Sender<NotSend>, mpsc::Receiver<NotSend>, broadcast::Sender<NotSend>);
not!(Sync: mpsc::Sender<NotSend>, broadcast::Receiver<NotSend>);
// watch's value is read in place from many threads at once: `T: Sync`
// too (as tokio's).
not!(Send: watch::Sender<NotSync>, watch::Receiver<NotSync>);
not!(Sync: watch::Sender<NotSync>, watch::Receiver<NotSync>);
// A `Ref` is a read guard: shared, never moved to another thread.
sync!(watch::Ref<'static, u8>);
not!(Send: watch::Ref<'static, u8>);

// The futures of the channels' `async fn`s move between workers.
const _: fn() = || {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    send_sync(&tx.send(0));
    send_sync(&tx.reserve());
    send_sync(&tx.closed());
    send_sync(&rx.recv());
    let (tx, mut rx) = mpsc::channel::<NotSync>(1);
    send(&tx.send(Cell::new(0)));
    send(&rx.recv());
    let (utx, mut urx) = mpsc::unbounded_channel::<NotSync>();
    send(&utx.closed());
    send(&urx.recv());
    let (btx, mut brx) = broadcast::channel::<u8>(1);
    send_sync(&brx.recv());
    drop(btx);
    let (wtx, mut wrx) = watch::channel(0u8);
    send_sync(&wrx.changed());
    send_sync(&wtx.closed());
};

// --- tasks, runtime, combinators -------------------------------------------

send_sync!(
    ferrio::Task<u8>,
    // Like tokio's `JoinHandle`: `&Task` never reaches the output.
    ferrio::Task<NotSync>,
    ferrio::TaskId,
    ferrio::Outcome,
    ferrio::TaskState,
    ferrio::TaskInfo,
    ferrio::task::Builder,
    ferrio::task::YieldNow,
    ferrio::Runtime,
    ferrio::Handle,
    ferrio::runtime::Builder,
    ferrio::runtime::RuntimeMetrics,
    ferrio::TaskGroup<u8>,
    ferrio::combinators::GroupSpawner<u8>,
    ferrio::combinators::GroupClosedError,
    ferrio::combinators::Gather<Ready<u8>>,
    ferrio::combinators::TryGather<Ready<Result<u8, u8>>>,
    ferrio::combinators::AsCompleted<Ready<u8>>,
    ferrio::combinators::AsCompletedTimeout<Ready<u8>>,
    ferrio::combinators::Gather2<Ready<u8>, Ready<u16>>,
    ferrio::ReturnWhen,
    ferrio::combinators::EmptyWaitError,
    ferrio::ConcurrentFuture<u8>,
);
// Errors carrying a panic payload (`Box<dyn Any + Send>`) are `Send` only.
send!(
    ferrio::TaskError,
    ferrio::combinators::ChildFailure<u8>,
    ferrio::GroupError<u8>,
    ferrio::ConcurrentError,
);
not!(Send: ferrio::Task<NotSend>, ferrio::ConcurrentFuture<NotSend>);
not!(Sync: ferrio::Task<NotSend>);
send_sync!(
    ferrio::task::JoinSet<u8>,
    ferrio::task::JoinSet<NotSync>,
    ferrio::task::AbortHandle,
    ferrio::task::LocalKey<u8>,
    ferrio::task::TaskLocalFuture<u8, Ready<u8>>,
    ferrio::task::AccessError,
);
send!(ferrio::task::TaskLocalFuture<NotSync, Ready<u8>>);
not!(Send: ferrio::task::JoinSet<NotSend>, ferrio::runtime::EnterGuard<'static>);
not!(Sync: ferrio::task::JoinSet<NotSend>, ferrio::runtime::EnterGuard<'static>);

// --- time -------------------------------------------------------------------

send_sync!(
    ferrio::Sleep,
    ferrio::TimeoutError,
    ferrio::time::WaitFor<Ready<u8>>,
    ferrio::TimeoutScope,
    ferrio::time::Scoped<Ready<u8>>,
    ferrio::time::MissedTickBehavior,
    ferrio::Interval,
);

// --- signals and the hyper integration -------------------------------------

send_sync!(ferrio::signal::Signal, ferrio::signal::Recv<'static>,);
#[cfg(feature = "hyper")]
send_sync!(
    ferrio::hyper::Io<ferrio::net::TcpStream>,
    ferrio::hyper::Executor,
    ferrio::hyper::Timer,
);

// --- I/O --------------------------------------------------------------------

send_sync!(
    ferrio::io::RecvBuf,
    ferrio::io::Slice<Vec<u8>>,
    ferrio::StreamReader,
    ferrio::StreamWriter,
    ferrio::Server,
    ferrio::IncompleteReadError,
    ferrio::LimitOverrunError,
    ferrio::net::UdpSocket,
    ferrio::net::TcpListener,
    ferrio::net::Incoming<'static>,
    ferrio::net::TcpStream,
    ferrio::net::OwnedReadHalf,
    ferrio::net::OwnedWriteHalf,
    ferrio::net::ReadHalf<'static>,
    ferrio::net::WriteHalf<'static>,
    ferrio::net::ReuniteError,
    ferrio::net::TcpSocket,
    ferrio::net::UnixDatagram,
    ferrio::io::Interest,
    ferrio::io::Ready,
    ferrio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    ferrio::io::unix::AsyncFdReadyGuard<'static, std::os::fd::OwnedFd>,
    ferrio::io::unix::AsyncFdReadyMutGuard<'static, std::os::fd::OwnedFd>,
    ferrio::io::unix::TryIoError,
    ferrio::io::unix::AsyncFdTryNewError<std::os::fd::OwnedFd>,
    ferrio::net::UnixListener,
    ferrio::net::UnixIncoming<'static>,
    ferrio::net::UnixStream,
    ferrio::fs::File,
    ferrio::fs::OpenOptions,
    ferrio::fs::Metadata,
    ferrio::fs::ReadDir,
    ferrio::fs::DirEntry,
    ferrio::process::Command,
    ferrio::process::Child,
    ferrio::process::ChildStdin,
    ferrio::process::ChildStdout,
    ferrio::process::ChildStderr,
);
