//! The shutdown sweep: every public async API, awaited through
//! a kept `Handle` before, during and after the runtime's shutdown,
//! terminates (completes, errors or reports cancellation) within a bound.
//!
//! Each case is an operation whose only way to finish, once its patience
//! is an hour, is the runtime: a timer, an I/O op on a silent peer, or a
//! sync primitive nobody signals bounded by `wait_for` (a waiter whose
//! only counterpart is gone waits by design; the bound is the runtime's
//! business). Every case runs three ways: `block_on` on another thread,
//! a task spawned through the handle (awaited from another thread), and
//! `run_coroutine_threadsafe(..).result(None)`.
//!
//! - before: the runtime lives, patience 20 ms: everything completes;
//! - during: patience one hour; every case has been polled (it waits)
//!   when the runtime is dropped;
//! - after: the runtime is gone, patience one hour.
//!
//! A watchdog fails the test, naming the cases that hang, when they do
//! not all end within [`BOUND`] (a bound, not a synchronisation sleep).

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ferrio::sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, PriorityQueue, Promise, Queue,
    Semaphore,
};
use ferrio::{Handle, ReturnWhen};

use super::common::{rt, within, BOUND, HOUR};

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

fn b(f: impl Future<Output = ()> + Send + 'static) -> BoxFut {
    Box::pin(f)
}

/// Bounds a wait that only another party could end.
async fn bounded<F: Future>(f: F, patience: Duration) {
    let _ = ferrio::wait_for(f, patience).await;
}

type Case = (&'static str, fn(Duration) -> BoxFut);

fn cases() -> Vec<Case> {
    vec![
        // Timers.
        ("sleep", |p| b(ferrio::sleep(p))),
        ("sleep_until", |p| {
            b(ferrio::sleep_until(Instant::now() + p))
        }),
        ("wait_for", |p| b(bounded(pending::<()>(), p))),
        ("timeout scope", |p| {
            b(async move {
                let _ = ferrio::timeout(p).run(pending::<()>()).await;
            })
        }),
        ("nested timeout scopes", |p| {
            b(async move {
                let d = Instant::now() + p;
                let inner = ferrio::timeout_at(Some(d));
                let _ = ferrio::timeout_at(Some(d))
                    .run(async move { inner.run(pending::<()>()).await })
                    .await;
            })
        }),
        ("interval", |p| {
            b(async move {
                let mut every = ferrio::interval(p);
                every.tick().await;
                every.tick().await;
            })
        }),
        // Sync primitives nobody signals.
        ("Event::wait", |p| {
            b(async move {
                let e = Event::new();
                bounded(e.wait(), p).await
            })
        }),
        ("Lock::lock", |p| {
            b(async move {
                let l = Lock::new(0u8);
                let _held = l.try_lock();
                bounded(l.lock(), p).await
            })
        }),
        ("Semaphore::acquire", |p| {
            b(async move {
                let s = Semaphore::new(0);
                bounded(s.acquire(), p).await
            })
        }),
        ("BoundedSemaphore::acquire", |p| {
            b(async move {
                let s = BoundedSemaphore::new(1);
                let _held = s.acquire().await;
                bounded(s.acquire(), p).await
            })
        }),
        ("Condition::wait", |p| {
            b(async move {
                let c = Condition::new(0u8);
                let g = c.lock().await;
                bounded(c.wait(g), p).await
            })
        }),
        ("Barrier::wait", |p| {
            b(async move {
                let barrier = Barrier::new(2);
                bounded(barrier.wait(), p).await
            })
        }),
        ("Promise", |p| {
            b(async move {
                let promise = Promise::<u8>::new();
                bounded(promise.clone(), p).await
            })
        }),
        ("Queue::get", |p| {
            b(async move {
                let q = Queue::<u8>::new(0);
                bounded(q.get(), p).await
            })
        }),
        ("Queue::put (full)", |p| {
            b(async move {
                let q = Queue::new(1);
                q.put_nowait(1u8).unwrap();
                bounded(q.put(2), p).await
            })
        }),
        ("Queue::join", |p| {
            b(async move {
                let q = Queue::new(0);
                q.put_nowait(1u8).unwrap();
                bounded(q.join(), p).await
            })
        }),
        ("LifoQueue::get", |p| {
            b(async move {
                let q = LifoQueue::<u8>::new(0);
                bounded(q.get(), p).await
            })
        }),
        ("PriorityQueue::get", |p| {
            b(async move {
                let q = PriorityQueue::<u8>::new(0);
                bounded(q.get(), p).await
            })
        }),
        // Combinators and tasks.
        ("gather", |p| {
            b(async move {
                ferrio::gather([ferrio::sleep(p), ferrio::sleep(p)]).await;
            })
        }),
        ("try_gather", |p| {
            b(async move {
                let slow = async move {
                    ferrio::sleep(p).await;
                    Ok::<(), ()>(())
                };
                let _ = ferrio::try_gather([slow]).await;
            })
        }),
        ("as_completed", |p| {
            b(async move {
                let mut each = ferrio::as_completed([ferrio::sleep(p)]);
                each.next().await;
            })
        }),
        ("as_completed with_timeout", |p| {
            b(async move {
                let mut each = ferrio::as_completed([pending::<()>()]).with_timeout(p);
                each.next().await;
            })
        }),
        ("wait", |p| {
            b(async move {
                let t = ferrio::spawn(pending::<()>());
                let _ = ferrio::wait(vec![t], ReturnWhen::AllCompleted, Some(p)).await;
            })
        }),
        ("shield", |p| {
            b(async move {
                let _ = ferrio::shield(ferrio::sleep(p)).await;
            })
        }),
        ("TaskGroup::join", |p| {
            b(async move {
                let group = ferrio::TaskGroup::<()>::new();
                let _ = group.spawn(async move {
                    ferrio::sleep(p).await;
                    Ok(())
                });
                let _ = group.join().await;
            })
        }),
        ("spawn + await", |p| {
            b(async move {
                let _ = ferrio::spawn(ferrio::sleep(p)).await;
            })
        }),
        ("yield_now", |_| b(ferrio::yield_now())),
        ("to_thread", |p| {
            b(async move {
                let _ =
                    ferrio::to_thread(move || std::thread::sleep(p.min(Duration::from_millis(5))))
                        .await;
            })
        }),
        ("run_in_executor", |_| {
            b(async move {
                let _ = Handle::current().run_in_executor(|| 1 + 1).await;
            })
        }),
        // I/O on silent peers.
        ("TcpListener::accept", |p| {
            b(async move {
                let Ok(l) = ferrio::net::TcpListener::bind("127.0.0.1:0") else {
                    return;
                };
                bounded(l.accept(), p).await
            })
        }),
        ("TcpStream::read", |p| {
            b(async move {
                let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = peer.local_addr().unwrap();
                let Ok(Ok(s)) = ferrio::wait_for(ferrio::net::TcpStream::connect(addr), p).await
                else {
                    return;
                };
                bounded(s.read(vec![0u8; 16]), p).await;
                drop(peer);
            })
        }),
        ("UdpSocket::recv_from", |p| {
            b(async move {
                let Ok(s) = ferrio::net::UdpSocket::bind("127.0.0.1:0") else {
                    return;
                };
                bounded(s.recv_from(vec![0u8; 16]), p).await
            })
        }),
        ("UnixStream::read", |p| {
            b(async move {
                let Ok((a, _b)) = ferrio::net::UnixStream::pair() else {
                    return;
                };
                bounded(a.read(vec![0u8; 16]), p).await
            })
        }),
        ("net::lookup_host (a name: the blocking pool)", |p| {
            b(async move {
                let _ = ferrio::wait_for(ferrio::net::lookup_host("localhost:80"), p).await;
            })
        }),
        ("signal::Signal::recv", |p| {
            b(async move {
                // A signal nobody raises.
                if let Ok(mut s) = ferrio::signal::signal(libc::SIGRTMIN() + 5) {
                    bounded(s.recv(), p).await
                }
            })
        }),
        ("fs::File::read (pipe)", |p| {
            b(async move {
                let (rd, _wr) = super::common::pipe();
                bounded(rd.read(vec![0u8; 16]), p).await
            })
        }),
        ("fs::File::open", |p| {
            b(async move {
                if let Ok(Ok(f)) = ferrio::wait_for(ferrio::fs::File::open("/dev/null"), p).await {
                    bounded(f.read(vec![0u8; 16]), p).await
                }
            })
        }),
        ("streams readline", |p| {
            b(async move {
                let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = peer.local_addr().unwrap();
                let Ok(Ok((mut r, _w))) = ferrio::wait_for(ferrio::open_connection(addr), p).await
                else {
                    return;
                };
                bounded(r.readline(), p).await;
                drop(peer);
            })
        }),
    ]
}

/// Sends on `polled` at the first poll of `fut`.
struct Signal<F> {
    fut: F,
    polled: Option<mpsc::Sender<()>>,
}

impl<F: Future + Unpin> Future for Signal<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let p = Pin::new(&mut self.fut).poll(cx);
        if let Some(tx) = self.polled.take() {
            let _ = tx.send(());
        }
        p
    }
}

/// How a case is awaited.
#[derive(Clone, Copy, Debug)]
enum Way {
    BlockOn,
    Spawn,
    RunCoroutineThreadsafe,
}

/// Starts every case every way on its own thread. Each job sends its
/// name on `done` when it ends; `polled` gets one message per job whose
/// future was polled.
fn start_all(
    handle: &Handle,
    patience: Duration,
    polled: &mpsc::Sender<()>,
    done: &mpsc::Sender<String>,
) -> Vec<String> {
    let mut names = Vec::new();
    for (name, case) in cases() {
        for way in [Way::BlockOn, Way::Spawn, Way::RunCoroutineThreadsafe] {
            let job = format!("{name} via {way:?}");
            names.push(job.clone());
            let handle = handle.clone();
            let polled = polled.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let fut = Signal {
                    fut: case(patience),
                    polled: Some(polled),
                };
                match way {
                    Way::BlockOn => handle.block_on(fut),
                    Way::Spawn => {
                        let _ = handle.block_on(handle.spawn(fut));
                    }
                    Way::RunCoroutineThreadsafe => {
                        let _ = ferrio::run_coroutine_threadsafe(fut, &handle).result(None);
                    }
                }
                let _ = done.send(job);
            });
        }
    }
    names
}

/// Waits until every job in `names` reported on `done`, or fails naming
/// those still running after `BOUND`.
fn expect_all_end(phase: &str, mut names: Vec<String>, done: mpsc::Receiver<String>) {
    let deadline = Instant::now() + BOUND;
    while !names.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match done.recv_timeout(left) {
            Ok(job) => names.retain(|n| *n != job),
            Err(_) => panic!(
                "{phase}: {} job(s) did not end within {BOUND:?} (or panicked): {names:#?}",
                names.len()
            ),
        }
    }
}

#[test]
fn every_async_api_ends_before_shutdown() {
    let rt = rt(2);
    let (polled, _polled_rx) = mpsc::channel();
    let (done, done_rx) = mpsc::channel();
    let names = start_all(&rt.handle(), Duration::from_millis(20), &polled, &done);
    expect_all_end("before shutdown", names, done_rx);
    within("runtime drop", move || drop(rt));
}

#[test]
fn every_async_api_waiting_across_the_shutdown_ends() {
    let rt = rt(2);
    let (polled, polled_rx) = mpsc::channel();
    let (done, done_rx) = mpsc::channel();
    let names = start_all(&rt.handle(), HOUR, &polled, &done);
    // Every job is waiting (its future was polled) when the runtime goes.
    let deadline = Instant::now() + BOUND;
    for _ in 0..names.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        polled_rx
            .recv_timeout(left)
            .expect("every job's future is polled while the runtime runs");
    }
    within("runtime drop", move || drop(rt));
    expect_all_end("during shutdown", names, done_rx);
}

#[test]
fn every_async_api_after_shutdown_ends() {
    let rt = rt(2);
    let handle = rt.handle();
    drop(rt);
    let (polled, _polled_rx) = mpsc::channel();
    let (done, done_rx) = mpsc::channel();
    let names = start_all(&handle, HOUR, &polled, &done);
    expect_all_end("after shutdown", names, done_rx);
}
