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
    ferrio::net::UnixListener,
    ferrio::net::UnixIncoming<'static>,
    ferrio::net::UnixStream,
    ferrio::fs::File,
    ferrio::fs::OpenOptions,
    ferrio::fs::Metadata,
    ferrio::process::Command,
    ferrio::process::Child,
    ferrio::process::ChildStdin,
    ferrio::process::ChildStdout,
    ferrio::process::ChildStderr,
);
