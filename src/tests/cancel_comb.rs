//! Cancellation harness for the combinators and the thread bridges: each
//! operation is polled 1, 2, … k times by hand (one child finishing
//! between polls), then dropped; afterwards no waker or
//! done-callback may be left holding the caller's waker, no task may be
//! left alive (the runtime's task count back to zero), and every child
//! must have run at most once and been dropped exactly once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::Duration;

use super::common::{rt, spin_until, TestWaker};
use ferrio::sync::Event;
use ferrio::{ReturnWhen, TaskGroup};

/// What happened to one child.
#[derive(Default)]
struct Probe {
    /// Polled for the first time.
    started: AtomicUsize,
    /// Returned its output.
    finished: AtomicUsize,
    /// Dropped (whether or not it ever ran).
    dropped: AtomicUsize,
}

/// A child future: waits for its gate, then returns its index.
struct Probed {
    index: usize,
    probe: Arc<Probe>,
    polled: bool,
    wait: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Future for Probed {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if !self.polled {
            self.polled = true;
            self.probe.started.fetch_add(1, SeqCst);
        }
        match self.wait.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.probe.finished.fetch_add(1, SeqCst);
                Poll::Ready(self.index)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Probed {
    fn drop(&mut self) {
        self.probe.dropped.fetch_add(1, SeqCst);
    }
}

/// `n` children with their probes and gates.
struct Children {
    probes: Vec<Arc<Probe>>,
    gates: Vec<Arc<Event>>,
}

impl Children {
    fn new(n: usize) -> Children {
        Children {
            probes: (0..n).map(|_| Arc::default()).collect(),
            gates: (0..n).map(|_| Arc::new(Event::new())).collect(),
        }
    }

    fn futures(&self) -> Vec<Probed> {
        (0..self.probes.len())
            .map(|index| {
                let gate = self.gates[index].clone();
                Probed {
                    index,
                    probe: self.probes[index].clone(),
                    polled: false,
                    wait: Box::pin(async move { gate.wait().await }),
                }
            })
            .collect()
    }
}

/// Where the children run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runs {
    /// Inside the combinator's own future: dropping it drops them at once.
    InCaller,
    /// As tasks that detach (or are cancelled) when the combinator goes.
    AsTasks,
}

/// Runs the harness for one operation: for k = 1..=n+1, polls the future
/// `make` builds k times (releasing child k-1 before poll k), drops it,
/// and checks the invariants.
fn harness<C, M>(name: &str, n: usize, runs: Runs, make: M)
where
    C: Future,
    M: Fn(Vec<Probed>) -> C,
{
    let rt = rt(2);
    let handle = rt.handle();
    // Entered (for spawn and timers), but polled by hand on this thread.
    rt.block_on(async {
        for k in 1..=n + 1 {
            let what = format!("{name}, dropped after {k} poll(s)");
            let children = Children::new(n);
            let waker = TestWaker::new();
            let mut fut = Box::pin(make(children.futures()));
            for step in 0..k {
                if step > 0 {
                    // Let one more child finish, and wait until the
                    // combinator hears of it or the child's task is done.
                    let wakes = waker.wakes();
                    children.gates[step - 1].set();
                    let probe = &children.probes[step - 1];
                    spin_until(&what, || {
                        waker.wakes() > wakes || probe.finished.load(SeqCst) == 1
                    });
                }
                if waker.poll(fut.as_mut()).is_ready() {
                    break;
                }
            }
            drop(fut);
            // Before the remaining children finish: nothing may still hold
            // the caller's waker (a done-callback or waiter left behind
            // would, until its task finished). A clone that was being
            // woken on another thread at the drop goes soon; one that is
            // kept fails. With no clone left, no stale wake-up can come.
            waker.settle(&what);
            if runs == Runs::InCaller {
                for (i, p) in children.probes.iter().enumerate() {
                    assert_eq!(p.dropped.load(SeqCst), 1, "{what}: child {i} not dropped");
                }
            }
            // Detached children run to the end once released.
            for g in &children.gates {
                g.set();
            }
            spin_until(&format!("{what}: tasks left"), || handle.num_tasks() == 0);
            assert!(handle.all_tasks().is_empty(), "{what}");
            for (i, p) in children.probes.iter().enumerate() {
                spin_until(&format!("{what}: child {i} dropped"), || {
                    p.dropped.load(SeqCst) >= 1
                });
                assert_eq!(p.dropped.load(SeqCst), 1, "{what}: child {i} dropped twice");
                assert!(
                    p.started.load(SeqCst) <= 1,
                    "{what}: child {i} started twice"
                );
                assert!(
                    p.finished.load(SeqCst) <= 1,
                    "{what}: child {i} finished twice"
                );
            }
        }
    });
}

fn spawn_all(children: Vec<Probed>) -> Vec<ferrio::task::Task<usize>> {
    children.into_iter().map(ferrio::spawn).collect()
}

#[test]
fn cancel_gather() {
    harness("gather", 3, Runs::InCaller, ferrio::gather);
    harness("gather of tasks", 3, Runs::AsTasks, |c| {
        ferrio::gather(spawn_all(c))
    });
}

#[test]
fn cancel_try_gather() {
    harness("try_gather", 3, Runs::InCaller, |c| {
        ferrio::try_gather(c.into_iter().map(|f| async move { Ok::<_, ()>(f.await) }))
    });
}

#[test]
fn cancel_gather_macro() {
    harness("gather!", 3, Runs::InCaller, |c| {
        let mut c = c.into_iter();
        let (a, b, d) = (c.next().unwrap(), c.next().unwrap(), c.next().unwrap());
        ferrio::gather!(a, b, d)
    });
}

#[test]
fn cancel_wait() {
    for when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        harness(&format!("wait {when:?}"), 3, Runs::AsTasks, move |c| {
            ferrio::wait(spawn_all(c), when, None)
        });
        harness(
            &format!("wait {when:?} with a timeout"),
            3,
            Runs::AsTasks,
            move |c| ferrio::wait(spawn_all(c), when, Some(Duration::from_secs(60))),
        );
    }
}

#[test]
fn cancel_wait_results() {
    harness("wait_results", 3, Runs::AsTasks, |c| {
        let tasks = c
            .into_iter()
            .map(|f| ferrio::spawn(async move { Ok::<_, ()>(f.await) }))
            .collect();
        ferrio::wait_results(tasks, ReturnWhen::FirstException, None)
    });
}

#[test]
fn cancel_as_completed() {
    harness("as_completed", 3, Runs::InCaller, |c| async move {
        let mut it = ferrio::as_completed(c);
        let mut out = Vec::new();
        while let Some(v) = it.next().await {
            out.push(v);
        }
        out
    });
    harness(
        "as_completed with a timeout",
        3,
        Runs::InCaller,
        |c| async move {
            let mut it = ferrio::as_completed(c).with_timeout(Duration::from_secs(60));
            let mut out = Vec::new();
            while let Some(v) = it.next().await {
                out.push(v.unwrap());
            }
            out
        },
    );
    harness("as_completed of tasks", 3, Runs::AsTasks, |c| async move {
        let mut it = ferrio::as_completed(spawn_all(c));
        let mut out = Vec::new();
        while let Some(v) = it.next().await {
            out.push(v.unwrap());
        }
        out
    });
}

#[test]
fn cancel_shield() {
    harness("shield", 1, Runs::AsTasks, |c| {
        ferrio::shield(c.into_iter().next().unwrap())
    });
}

#[test]
fn cancel_task_group_join() {
    // Dropping `join` drops the group: its children are cancelled.
    harness("TaskGroup::join", 3, Runs::AsTasks, |c| {
        let group = TaskGroup::<()>::new();
        for f in c {
            group
                .spawn(async move {
                    f.await;
                    Ok(())
                })
                .unwrap();
        }
        group.join()
    });
}

/// A blocking job's probe: started, finished, and dropped (the closure
/// and everything it captured).
struct JobGuard(Arc<Probe>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

#[test]
fn cancel_to_thread() {
    let rt = rt(2);
    let handle = rt.handle();
    rt.block_on(async {
        for k in 1..=2 {
            let probe = Arc::new(Probe::default());
            let (release, gate) = mpsc::channel::<()>();
            let guard = JobGuard(probe.clone());
            let waker = TestWaker::new();
            let mut task = ferrio::to_thread(move || {
                let guard = guard;
                guard.0.started.fetch_add(1, SeqCst);
                gate.recv().unwrap();
                guard.0.finished.fetch_add(1, SeqCst);
                7
            });
            let mut ready = false;
            for step in 0..k {
                if step > 0 {
                    release.send(()).unwrap();
                    waker.wait_woken("to_thread result");
                }
                if waker.poll(Pin::new(&mut task)).is_ready() {
                    ready = true;
                }
            }
            assert_eq!(ready, k == 2);
            drop(task);
            waker.settle("to_thread");
            let _ = release.send(());
            spin_until("to_thread tasks", || handle.num_tasks() == 0);
            spin_until("to_thread job dropped", || probe.dropped.load(SeqCst) == 1);
            assert_eq!(probe.started.load(SeqCst), 1, "the job ran twice");
            assert_eq!(probe.finished.load(SeqCst), 1);
        }
    });
}

#[test]
fn cancel_run_coroutine_threadsafe() {
    let rt = rt(2);
    let handle = rt.handle();
    for k in 1..=2 {
        let children = Children::new(1);
        let probe = children.probes[0].clone();
        let child = children.futures().pop().unwrap();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let mut fut = ferrio::run_coroutine_threadsafe(child, &handle);
        let c = callbacks.clone();
        fut.add_done_callback(move |_| {
            c.fetch_add(1, SeqCst);
        });
        let mut got = None;
        for step in 0..k {
            if step > 0 {
                children.gates[0].set();
                got = Some(fut.result(None).unwrap());
            } else {
                assert!(matches!(
                    fut.result(Some(Duration::ZERO)),
                    Err(ferrio::ConcurrentError::Timeout)
                ));
            }
        }
        assert_eq!(got.is_some(), k == 2);
        drop(fut);
        children.gates[0].set();
        spin_until("run_coroutine_threadsafe tasks", || handle.num_tasks() == 0);
        spin_until("child dropped", || probe.dropped.load(SeqCst) == 1);
        assert_eq!(probe.started.load(SeqCst), 1);
        assert_eq!(probe.finished.load(SeqCst), 1);
        // The done-callback ran exactly once, though the future was dropped.
        spin_until("done-callback", || callbacks.load(SeqCst) == 1);
        assert_eq!(callbacks.load(SeqCst), 1);
    }
}
