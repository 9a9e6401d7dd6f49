//! `select!` (tokio's semantics): branch order (`biased;`) and fairness,
//! patterns that fail, preconditions, `else`, losers dropped before the
//! handler, control flow (`break`, `continue`, `?`, `return`) in
//! handlers, and the runtime's futures (sleep, tasks, queues) as branches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::common::{poll_noop, rt, DropCounter, HOUR};
use ferrio::sync::{Event, Queue, QueueError};

/// Ready at its first poll with `value`; counts its polls.
struct Counted<T> {
    value: Option<T>,
    polls: Arc<AtomicUsize>,
}

impl<T> Counted<T> {
    fn new(value: T, polls: &Arc<AtomicUsize>) -> Counted<T> {
        Counted {
            value: Some(value),
            polls: polls.clone(),
        }
    }
}

impl<T> Unpin for Counted<T> {}

impl<T> Future for Counted<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(self.value.take().expect("polled after completion"))
    }
}

/// Never ready; sets `dropped` when dropped, polled or not.
fn pending_with_flag(dropped: Arc<AtomicBool>) -> impl Future<Output = ()> {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    // Captured by the async block: dropped with it even if never polled.
    let flag = Flag(dropped);
    async move {
        let _flag = flag;
        std::future::pending::<()>().await
    }
}

#[test]
fn biased_polls_the_branches_in_order() {
    ferrio::run(async {
        for _ in 0..200 {
            let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let won = ferrio::select! {
                biased;
                a = Counted::new(1, &first) => a,
                b = Counted::new(2, &second) => b,
            };
            assert_eq!(won, 1);
            // The second branch was never even polled.
            assert_eq!(second.load(Ordering::SeqCst), 0);
        }
    });
}

#[test]
fn without_biased_every_branch_gets_to_win() {
    ferrio::run(async {
        let mut wins = [0u32; 3];
        for _ in 0..3000 {
            let won: usize = ferrio::select! {
                a = async { 0 } => a,
                b = async { 1 } => b,
                c = async { 2 } => c,
            };
            wins[won] += 1;
        }
        // Uniform start: about 1000 each; 500 is far outside chance.
        for (branch, &n) in wins.iter().enumerate() {
            assert!(n > 500, "branch {branch} won {n} of 3000: {wins:?}");
        }
    });
}

#[test]
fn a_failed_pattern_disables_its_branch_and_the_select_goes_on() {
    ferrio::run(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let gate = Event::new();
        let got = ferrio::select! {
            biased;
            Some(x) = async { None::<u32> } => x,
            v = async {
                gate.wait().await;
                7
            } => v,
            _ = async { gate.set() } => 0,
            Some(y) = Counted::new(Some(9), &polls) => y + 100,
        };
        // Branch 0 fails its pattern; 1 is pending; 2 sets the gate (and
        // wins, biased before 3). Never 0 from branch 0.
        assert_eq!(got, 0);

        let got = ferrio::select! {
            biased;
            Some(x) = async { None::<u32> } => x,
            Ok(y) = async { Err::<u32, ()>(()) } => y,
            Some(z) = Counted::new(Some(9), &polls) => z + 100,
        };
        assert_eq!(got, 109);
    });
}

#[test]
fn patterns_with_mut_ref_tuples_structs_and_alternatives() {
    struct Msg {
        id: u32,
        body: String,
    }
    ferrio::run(async {
        let s = ferrio::select! {
            Some(mut s) = async { Some(String::from("a")) } => {
                s.push('b');
                s
            }
        };
        assert_eq!(s, "ab");

        let pair = ferrio::select! {
            (a, mut b) = async { (1, vec![2]) } => {
                b.push(3);
                (a, b)
            }
        };
        assert_eq!(pair, (1, vec![2, 3]));

        let got = ferrio::select! {
            Msg { id: 1, .. } = async { Msg { id: 2, body: "no".into() } } => "wrong id".to_string(),
            Msg { id, mut body } = async { Msg { id: 3, body: "yes".into() } } => {
                body.push('!');
                format!("{id}:{body}")
            }
        };
        assert_eq!(got, "3:yes!");

        let got = ferrio::select! {
            1 | 2 = async { 5 } => "small",
            n @ 3..=9 = async { 6 } => if n == 6 { "six" } else { "other" },
        };
        assert_eq!(got, "six");

        let got = ferrio::select! {
            Ok(Some(ref v)) = async { Ok::<_, ()>(Some(vec![1u8])) } => v.len(),
        };
        assert_eq!(got, 1);
    });
}

#[test]
fn a_false_precondition_disables_the_branch_its_future_created_never_polled() {
    ferrio::run(async {
        let created = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let order = std::sync::Mutex::new(Vec::new());
        let make = |v: u32| {
            order.lock().unwrap().push("future");
            created.fetch_add(1, Ordering::SeqCst);
            Counted::new(v, &polls)
        };
        let cond = |c: bool| {
            order.lock().unwrap().push("condition");
            c
        };
        let got = ferrio::select! {
            biased;
            a = make(1), if cond(false) => a,
            b = make(2), if cond(true) => b,
        };
        assert_eq!(got, 2);
        // Every precondition first, then every future (the disabled
        // branch's too), and only the enabled one is polled.
        assert_eq!(
            *order.lock().unwrap(),
            ["condition", "condition", "future", "future"]
        );
        assert_eq!(created.load(Ordering::SeqCst), 2);
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn else_runs_when_every_branch_is_disabled() {
    ferrio::run(async {
        let polls = Arc::new(AtomicUsize::new(0));
        let got = ferrio::select! {
            _ = Counted::new((), &polls), if false => "branch",
            else => "else",
        };
        assert_eq!(got, "else");
        assert_eq!(polls.load(Ordering::SeqCst), 0);

        // Disabled by failed patterns, one poll at a time.
        let q = Queue::<u32>::new(0);
        q.shutdown(false);
        let got = ferrio::select! {
            Ok(v) = q.get() => v,
            Some(v) = async { None } => v,
            else => 42,
        };
        assert_eq!(got, 42);
    });
}

#[test]
fn no_else_and_every_branch_disabled_panics() {
    let rt = rt(1);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            ferrio::select! {
                Some(v) = async { None::<u8> } => v,
            }
        })
    }));
    let panic = out.unwrap_err();
    let msg = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("all branches are disabled"), "{msg}");
}

#[test]
fn the_losers_are_dropped_before_the_handler_runs() {
    ferrio::run(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let q = Queue::new(0);
        q.put_nowait(5).unwrap();
        let got = ferrio::select! {
            _ = pending_with_flag(dropped.clone()) => unreachable!(),
            Ok(v) = q.get() => {
                assert!(dropped.load(Ordering::SeqCst), "the loser is still alive");
                // What the futures borrowed is free again.
                q.put_nowait(v + 1).unwrap();
                v
            }
        };
        assert_eq!(got, 5);
        assert_eq!(q.get_nowait().unwrap(), 6);
    });
}

#[test]
fn dropping_a_pending_select_drops_every_branch_future() {
    let rt = rt(1);
    rt.block_on(async {
        let drops = DropCounter::new();
        let (t1, t2) = (drops.token(), drops.token());
        let mut select = Box::pin(async move {
            ferrio::select! {
                _ = async move {
                    let _t = t1;
                    std::future::pending::<()>().await
                } => 1,
                _ = async move {
                    let _t = t2;
                    ferrio::sleep(HOUR).await
                } => 2,
            }
        });
        assert!(poll_noop(select.as_mut()).is_pending());
        assert_eq!(drops.count(), 0);
        drop(select);
        assert_eq!(drops.count(), 2);
    });
}

#[test]
fn break_and_continue_in_handlers_act_on_the_enclosing_loop() {
    ferrio::run(async {
        let q = Queue::new(0);
        for i in 0..10 {
            q.put_nowait(i).unwrap();
        }
        let mut odd_sum = 0;
        let mut rounds = 0;
        let last = loop {
            rounds += 1;
            ferrio::select! {
                Ok(v) = q.get() => {
                    if v == 7 {
                        break v;
                    }
                    if v % 2 == 0 {
                        continue;
                    }
                    odd_sum += v;
                }
            }
        };
        assert_eq!(last, 7);
        assert_eq!(odd_sum, 1 + 3 + 5);
        assert_eq!(rounds, 8);
        assert_eq!(q.qsize(), 2);
    });
}

async fn get_or_fail(q: &Queue<u32>) -> Result<u32, QueueError> {
    let v = ferrio::select! {
        r = q.get() => r? * 10,
        _ = ferrio::sleep(HOUR) => unreachable!("the queue answers first"),
    };
    Ok(v + 1)
}

async fn return_early(flag: bool) -> &'static str {
    ferrio::select! {
        _ = async {}, if flag => return "returned",
        else => {}
    }
    "fell through"
}

#[test]
fn question_mark_and_return_in_handlers_act_on_the_enclosing_function() {
    ferrio::run(async {
        let q = Queue::new(0);
        q.put_nowait(4).unwrap();
        assert_eq!(get_or_fail(&q).await, Ok(41));
        q.shutdown(true);
        assert_eq!(get_or_fail(&q).await, Err(QueueError::ShutDown));
        assert_eq!(return_early(true).await, "returned");
        assert_eq!(return_early(false).await, "fell through");
    });
}

#[test]
fn selects_over_sleeps_tasks_and_queues() {
    let rt = rt(2);
    rt.block_on(async {
        // A sleep beats a task that never ends.
        let stuck = ferrio::spawn(std::future::pending::<u32>());
        let got = ferrio::select! {
            r = stuck => r.map(|_| "task").unwrap_or("cancelled"),
            _ = ferrio::sleep(Duration::from_millis(5)) => "sleep",
        };
        assert_eq!(got, "sleep");

        // A task beats a long sleep; `&mut task` keeps the handle.
        let gate = Arc::new(Event::new());
        let mut task = ferrio::spawn({
            let gate = gate.clone();
            async move {
                gate.wait().await;
                11
            }
        });
        let q = Arc::new(Queue::<u32>::new(0));
        let producer = ferrio::spawn({
            let q = q.clone();
            async move {
                q.put(3).await.unwrap();
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 2 {
            ferrio::select! {
                r = &mut task, if !seen.contains(&11) => seen.push(r.unwrap()),
                Ok(v) = q.get() => {
                    seen.push(v);
                    gate.set();
                }
                _ = ferrio::sleep(HOUR) => unreachable!(),
            }
        }
        assert_eq!(seen, vec![3, 11]);
        producer.await.unwrap();
        assert!(task.is_done());
    });
}

#[test]
fn sixteen_and_sixty_four_branches() {
    ferrio::run(async {
        let got = ferrio::select! {
            biased;
            _ = std::future::pending::<()>() => 0,
            _ = std::future::pending::<()>() => 1,
            _ = std::future::pending::<()>() => 2,
            _ = std::future::pending::<()>() => 3,
            _ = std::future::pending::<()>() => 4,
            _ = std::future::pending::<()>() => 5,
            _ = std::future::pending::<()>() => 6,
            _ = std::future::pending::<()>() => 7,
            _ = std::future::pending::<()>() => 8,
            _ = std::future::pending::<()>() => 9,
            _ = std::future::pending::<()>() => 10,
            _ = std::future::pending::<()>() => 11,
            _ = std::future::pending::<()>() => 12,
            _ = std::future::pending::<()>() => 13,
            _ = std::future::pending::<()>() => 14,
            Some(v) = async { Some(15) } => v,
        };
        assert_eq!(got, 15);

        macro_rules! sixty_four {
            ($($i:literal)*) => {
                ferrio::select! {
                    $( Some(v) = async { if $i == 63 { Some($i) } else { None } } => v, )*
                }
            };
        }
        let got: u32 = sixty_four!(
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
            61 62 63
        );
        assert_eq!(got, 63);
    });
}

#[test]
fn a_select_waits_until_a_branch_is_woken() {
    let rt = rt(2);
    rt.block_on(async {
        let gate = Arc::new(Event::new());
        let opener = ferrio::spawn({
            let gate = gate.clone();
            async move {
                ferrio::sleep(Duration::from_millis(2)).await;
                gate.set();
            }
        });
        let got = ferrio::select! {
            _ = gate.wait() => "gate",
            _ = std::future::pending::<()>() => "never",
        };
        assert_eq!(got, "gate");
        opener.await.unwrap();
    });
}

#[test]
fn selects_nest_in_futures_and_handlers() {
    ferrio::run(async {
        let got = ferrio::select! {
            v = async {
                ferrio::select! {
                    biased;
                    a = async { 1 } => a * 10,
                    _ = std::future::pending::<()>() => 0,
                }
            } => {
                ferrio::select! {
                    b = async { 2 } => v + b,
                    else => 0,
                }
            }
            _ = std::future::pending::<()>() => 0,
        };
        assert_eq!(got, 12);
    });
}
