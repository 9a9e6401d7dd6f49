//! gather, gather!, try_gather, as_completed, wait, shield (ported from
//! the behaviours in CPython's test_asyncio/test_tasks.py).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::common::{rt, DropCounter, TestWaker};
use ferrio::sync::Event;
use ferrio::ReturnWhen;
use tokio::sync::oneshot;

type BoxedResult = Pin<Box<dyn Future<Output = Result<u32, String>> + Send>>;

fn channels(n: usize) -> (Vec<oneshot::Sender<usize>>, Vec<oneshot::Receiver<usize>>) {
    (0..n).map(|_| oneshot::channel()).unzip()
}

#[test]
fn gather_returns_in_argument_order_not_completion_order() {
    ferrio::run(async {
        let (txs, rxs) = channels(5);
        let g = ferrio::gather(rxs.into_iter().map(|rx| async move { rx.await.unwrap() }));
        // Complete in reverse order from another task.
        let completer = ferrio::spawn(async move {
            for (i, tx) in txs.into_iter().enumerate().rev() {
                tx.send(i * 10).unwrap();
                ferrio::yield_now().await;
            }
        });
        assert_eq!(g.await, vec![0, 10, 20, 30, 40]);
        completer.await.unwrap();
    });
}

#[test]
fn gather_of_ten_thousand_futures() {
    ferrio::run(async {
        let (txs, rxs) = channels(10_000);
        let g = ferrio::gather(rxs.into_iter().map(|rx| async move { rx.await.unwrap() }));
        let completer = ferrio::spawn(async move {
            // Scrambled completion order.
            let mut txs: Vec<_> = txs.into_iter().enumerate().collect();
            txs.sort_by_key(|(i, _)| (i * 7919) % 10_000);
            for (i, tx) in txs {
                tx.send(i).unwrap();
            }
        });
        let out = g.await;
        assert_eq!(out, (0..10_000).collect::<Vec<_>>());
        completer.await.unwrap();
    });
}

#[test]
fn gather_of_nothing_is_empty() {
    ferrio::run(async {
        let out: Vec<u8> = ferrio::gather(Vec::<std::future::Ready<u8>>::new()).await;
        assert!(out.is_empty());
    });
}

#[test]
fn dropped_gather_leaves_its_tasks_running() {
    ferrio::run(async {
        let (tx, rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<&str>();
        let task = ferrio::spawn(async move {
            rx.await.unwrap();
            done_tx.send("still ran").unwrap();
        });
        let g = ferrio::gather(vec![task]);
        assert!(ferrio::wait_for(g, Duration::from_millis(5)).await.is_err());
        tx.send(()).unwrap();
        assert_eq!(done_rx.await.unwrap(), "still ran");
    });
}

#[test]
fn gather_macro_mixes_types() {
    ferrio::run(async {
        let (a, b, c) = ferrio::gather!(
            async { 1u8 },
            async {
                ferrio::sleep(Duration::from_millis(2)).await;
                "two"
            },
            ferrio::spawn(async { 3.0f64 }),
        )
        .await;
        assert_eq!((a, b, c.unwrap()), (1, "two", 3.0));
    });
}

#[test]
fn try_gather_returns_first_error_at_once_and_drops_the_rest() {
    let drops = DropCounter::new();
    let token = drops.token();
    ferrio::run(async move {
        let never = async move {
            let _t = token;
            std::future::pending::<Result<u32, String>>().await
        };
        let fails = async {
            ferrio::yield_now().await;
            Err::<u32, String>("boom".into())
        };
        let futs: Vec<BoxedResult> = vec![Box::pin(never), Box::pin(fails)];
        assert_eq!(ferrio::try_gather(futs).await, Err("boom".to_string()));
    });
    assert_eq!(drops.count(), 1);
}

#[test]
fn try_gather_all_ok_keeps_order() {
    ferrio::run(async {
        let futs = (0..5u32).map(|i| async move {
            ferrio::sleep(Duration::from_millis(u64::from(5 - i))).await;
            Ok::<_, ()>(i)
        });
        assert_eq!(ferrio::try_gather(futs).await, Ok(vec![0, 1, 2, 3, 4]));
    });
}

#[test]
fn as_completed_yields_in_completion_order() {
    ferrio::run(async {
        let (txs, rxs) = channels(4);
        let mut it =
            ferrio::as_completed(rxs.into_iter().map(|rx| async move { rx.await.unwrap() }));
        let order = [2usize, 0, 3, 1];
        let mut txs: Vec<_> = txs.into_iter().map(Some).collect();
        let mut got = Vec::new();
        for &i in &order {
            txs[i].take().unwrap().send(i).unwrap();
            got.push(it.next().await.unwrap());
        }
        assert_eq!(got, order);
        assert!(it.next().await.is_none());
    });
}

#[test]
fn as_completed_timeout_yields_errors_for_the_rest() {
    ferrio::run(async {
        let (tx, rx) = oneshot::channel::<u32>();
        let futs: Vec<Pin<Box<dyn Future<Output = u32> + Send>>> = vec![
            Box::pin(async { 7 }),
            Box::pin(async move { rx.await.unwrap_or(0) }),
            Box::pin(std::future::pending()),
        ];
        let mut it = ferrio::as_completed(futs).with_timeout(Duration::from_millis(10));
        assert_eq!(it.next().await, Some(Ok(7)));
        assert!(it.next().await.unwrap().is_err());
        assert!(it.next().await.unwrap().is_err());
        assert!(it.next().await.is_none());
        drop(tx);
    });
}

#[test]
fn as_completed_is_a_stream() {
    use futures_core::Stream;
    ferrio::run(async {
        let mut s = ferrio::as_completed([1, 2].map(|v| async move { v }));
        let mut sum = 0;
        while let Some(v) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
            sum += v;
        }
        assert_eq!(sum, 3);
    });
}

#[test]
fn wait_first_completed_counts_all_done_in_the_same_wakeup() {
    ferrio::run(async {
        let a = ferrio::spawn(async { 1 });
        let b = ferrio::spawn(async { 2 });
        let c = ferrio::spawn(std::future::pending::<i32>());
        // Let a and b finish before wait looks.
        while !(a.is_done() && b.is_done()) {
            ferrio::yield_now().await;
        }
        let (done, pending) = ferrio::wait(vec![a, b, c], ReturnWhen::FirstCompleted, None)
            .await
            .unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(pending.len(), 1);
        let mut outs = ferrio::gather(done).await;
        outs.sort_by_key(|r| *r.as_ref().unwrap());
        assert_eq!(
            outs.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(pending[0].cancel());
    });
}

#[test]
fn wait_first_exception_returns_on_a_panic() {
    ferrio::run(async {
        let ok = ferrio::spawn(std::future::pending::<()>());
        let bad = ferrio::spawn(async {
            ferrio::yield_now().await;
            panic!("failure")
        });
        let (done, pending) = ferrio::wait(vec![ok, bad], ReturnWhen::FirstException, None)
            .await
            .unwrap();
        assert_eq!((done.len(), pending.len()), (1, 1));
        assert!(done
            .into_iter()
            .next()
            .unwrap()
            .await
            .unwrap_err()
            .is_panic());
        pending[0].cancel();
    });
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    ferrio::run(async {
        let tasks: Vec<_> = (0..3u64)
            .map(|i| {
                ferrio::spawn(async move {
                    ferrio::sleep(Duration::from_millis(i)).await;
                })
            })
            .collect();
        let (done, pending) = ferrio::wait(tasks, ReturnWhen::FirstException, None)
            .await
            .unwrap();
        assert_eq!((done.len(), pending.len()), (3, 0));
    });
}

#[test]
fn wait_timeout_cancels_nothing() {
    ferrio::run(async {
        let (tx, rx) = oneshot::channel::<()>();
        let slow = ferrio::spawn(async move { rx.await.is_ok() });
        let (done, mut pending) = ferrio::wait(
            vec![slow],
            ReturnWhen::AllCompleted,
            Some(Duration::from_millis(5)),
        )
        .await
        .unwrap();
        assert!(done.is_empty());
        tx.send(()).unwrap();
        assert!(pending.pop().unwrap().await.unwrap());
    });
}

#[test]
fn wait_on_nothing_is_an_error() {
    ferrio::run(async {
        let r = ferrio::wait(
            Vec::<ferrio::Task<()>>::new(),
            ReturnWhen::AllCompleted,
            None,
        )
        .await;
        assert_eq!(r.unwrap_err(), ferrio::combinators::EmptyWaitError);
    });
}

/// `wait` leaves no done-callback (holding the caller's waker) on the
/// tasks it waited for, whether it returned, timed out or was dropped:
/// none wakes the caller when those tasks finish later.
#[test]
fn wait_leaves_no_done_callback_behind() {
    let rt = rt(2);
    let release = Arc::new(Event::new());
    let mut blocker = rt.spawn({
        let release = release.clone();
        async move { release.wait().await }
    });
    let waker = TestWaker::new();
    for _ in 0..50 {
        // Returns: the quick task finishes first.
        let quick = rt.spawn(async {});
        let mut fut = Box::pin(ferrio::wait(
            vec![blocker, quick],
            ReturnWhen::FirstCompleted,
            None,
        ));
        let (done, mut pending) = waker.block_on(fut.as_mut()).unwrap();
        drop(fut);
        assert_eq!((done.len(), pending.len()), (1, 1));
        blocker = pending.pop().unwrap();
        assert_eq!(
            super::hooks::pending_done_callbacks(&blocker),
            0,
            "wait returned"
        );
        waker.settle("wait returned");

        // Times out (the timer needs the runtime: run it there).
        let (done, mut pending) = rt
            .block_on(ferrio::wait(
                vec![blocker],
                ReturnWhen::FirstCompleted,
                Some(Duration::from_millis(1)),
            ))
            .unwrap();
        assert_eq!((done.len(), pending.len()), (0, 1));
        blocker = pending.pop().unwrap();
        assert_eq!(
            super::hooks::pending_done_callbacks(&blocker),
            0,
            "wait timed out"
        );

        // Dropped while waiting: the tasks go with it (detached).
        let mut fut = Box::pin(ferrio::wait(
            vec![rt.spawn({
                let release = release.clone();
                async move { release.wait().await }
            })],
            ReturnWhen::AllCompleted,
            None,
        ));
        assert!(waker.poll(fut.as_mut()).is_pending());
        drop(fut);
        waker.settle("wait dropped");
    }
    // The stale callbacks would wake the caller now.
    let wakes = waker.wakes();
    release.set();
    rt.block_on(blocker).unwrap();
    drop(rt);
    assert_eq!(
        waker.wakes(),
        wakes,
        "a stale callback woke a finished wait"
    );
}

/// A wake-up of `wait` looks at the task that finished, not at all n:
/// for n tasks finishing one at a time the tasks `wait` looks at (counted,
/// not timed) are linear in n, not n².
#[test]
fn wait_work_is_linear_in_the_number_of_tasks() {
    let rt = rt(2);
    let n = 2000;
    let gates: Vec<Arc<Event>> = (0..n).map(|_| Arc::new(Event::new())).collect();
    let tasks: Vec<_> = gates
        .iter()
        .map(|g| {
            let g = g.clone();
            rt.spawn(async move {
                g.wait().await;
                Ok::<(), ()>(())
            })
        })
        .collect();
    super::hooks::reset_wait_tasks_examined();
    let waker = TestWaker::new();
    let mut fut = Box::pin(ferrio::wait_results(
        tasks,
        ReturnWhen::FirstException,
        None,
    ));
    assert!(waker.poll(fut.as_mut()).is_pending());
    let mut polls = 1;
    let (done, pending) = loop {
        // Finish one task, wait for `wait` to hear of it, poll once.
        gates[polls - 1].set();
        waker.wait_woken("a task finished");
        polls += 1;
        if let Poll::Ready(r) = waker.poll(fut.as_mut()) {
            break r.unwrap();
        }
    };
    assert_eq!((done.len(), pending.len()), (n, 0));
    assert_eq!(polls, n + 1, "one poll per finished task");
    let examined = super::hooks::wait_tasks_examined();
    // Registration, one look per finished task, and the final partition:
    // 3n. A rescan per wake-up would be about n²/2 (2,000,000 here).
    assert!(
        examined <= 3 * n as u64,
        "wait looked at {examined} tasks for {n} tasks finishing one at a time"
    );
}

#[test]
fn shield_keeps_the_inner_running_after_an_outer_timeout() {
    ferrio::run(async {
        let (tx, rx) = oneshot::channel::<()>();
        let mut inner = ferrio::shield(async move {
            rx.await.unwrap();
            42
        });
        assert!(ferrio::wait_for(&mut inner, Duration::from_millis(5))
            .await
            .is_err());
        assert!(!inner.is_done());
        tx.send(()).unwrap();
        assert_eq!(inner.await.unwrap(), 42);
    });
}

#[test]
fn dropping_the_shield_does_not_cancel() {
    ferrio::run(async {
        let (tx, rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<u8>();
        let shielded = ferrio::shield(async move {
            rx.await.unwrap();
            done_tx.send(1).unwrap();
        });
        drop(shielded);
        tx.send(()).unwrap();
        assert_eq!(done_rx.await.unwrap(), 1);
    });
}

#[test]
fn wait_results_first_exception_counts_err_outputs() {
    ferrio::run(async {
        let ok = ferrio::spawn(async { Ok::<u8, String>(1) });
        let pending = ferrio::spawn(std::future::pending::<Result<u8, String>>());
        let bad = ferrio::spawn(async {
            ferrio::yield_now().await;
            Err::<u8, String>("bad".into())
        });
        // `ok` finishes first, so exactly `pending` is left when `bad` fails.
        while !ok.is_done() {
            ferrio::yield_now().await;
        }
        let (done, still) =
            ferrio::wait_results(vec![ok, pending, bad], ReturnWhen::FirstException, None)
                .await
                .unwrap();
        assert_eq!(still.len(), 1);
        assert!(!done.is_empty());
        let outs = ferrio::gather(done).await;
        assert!(outs.iter().any(|r| matches!(r, Ok(Err(e)) if e == "bad")));
        still[0].cancel();
        // Without failures it waits for all.
        let tasks: Vec<_> = (0..3u8)
            .map(|i| ferrio::spawn(async move { Ok::<u8, ()>(i) }))
            .collect();
        let (done, still) = ferrio::wait_results(tasks, ReturnWhen::FirstException, None)
            .await
            .unwrap();
        assert_eq!((done.len(), still.len()), (3, 0));
    });
}
