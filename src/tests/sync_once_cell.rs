//! `OnceCell`: one initialiser at a time, its value shared; the role
//! handed over in FIFO order when the initialiser fails, panics or is
//! cancelled, and when a waiter handed the role is itself dropped; no
//! waker left behind.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use super::common::{rt, TestWaker};
use super::sync_extra::ready;
use ferrio::sync::{Event, OnceCell, SetError};

#[test]
fn once_cell_runs_one_initialiser_for_many_tasks() {
    rt(2).block_on(async {
        let cell = Arc::new(OnceCell::new());
        let inits = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32u32)
            .map(|i| {
                let (cell, inits) = (cell.clone(), inits.clone());
                ferrio::spawn(async move {
                    *cell
                        .get_or_init(|| async move {
                            inits.fetch_add(1, SeqCst);
                            ferrio::yield_now().await;
                            i
                        })
                        .await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        assert_eq!(inits.load(SeqCst), 1);
        assert!(seen.iter().all(|v| Some(v) == cell.get()));
    });
}

#[test]
fn once_cell_set_reports_why_it_refused() {
    let cell = OnceCell::new();
    let w = TestWaker::new();
    let mut init = Box::pin(cell.get_or_init(std::future::pending::<u8>));
    assert!(w.poll(init.as_mut()).is_pending());
    assert_eq!(cell.set(1), Err(SetError::Initializing(1)));
    assert!(cell.set(1).unwrap_err().is_initializing_err());
    assert_eq!(cell.get(), None);
    drop(init); // the initialiser gives up: the cell is free again
    assert_eq!(cell.set(2), Ok(()));
    let err = cell.set(3).unwrap_err();
    assert!(err.is_already_init_err());
    assert_eq!(err.into_value(), 3);
    assert_eq!(cell.get(), Some(&2));
    assert_eq!(w.outstanding(), 0);
}

#[test]
fn once_cell_cancelled_initialiser_hands_over_to_the_next_waiter() {
    let cell = OnceCell::new();
    let ran = AtomicUsize::new(0);
    let (wa, wb, wc) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let mut a = Box::pin(cell.get_or_init(std::future::pending::<u32>));
    assert!(wa.poll(a.as_mut()).is_pending());
    let mut b = Box::pin(cell.get_or_init(|| async {
        ran.fetch_add(1, SeqCst);
        2
    }));
    assert!(wb.poll(b.as_mut()).is_pending());
    let mut c = Box::pin(cell.get_or_init(|| async {
        ran.fetch_add(10, SeqCst);
        3
    }));
    assert!(wc.poll(c.as_mut()).is_pending());
    drop(a);
    assert_eq!(wb.wakes(), 1, "the next waiter takes over");
    assert!(
        wc.poll(c.as_mut()).is_pending(),
        "one initialiser at a time"
    );
    assert_eq!(*ready(&wb, b.as_mut()), 2);
    assert!(wc.wakes() >= 1, "the others are told");
    assert_eq!(*ready(&wc, c.as_mut()), 2);
    assert_eq!(ran.load(SeqCst), 1, "only b's initialiser ran");
    drop((b, c));
    assert_eq!(wa.outstanding() + wb.outstanding() + wc.outstanding(), 0);
}

#[test]
fn once_cell_waiter_cancelled_after_the_hand_over_passes_it_on() {
    let cell = OnceCell::new();
    let (wa, wb, wc) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let mut a = Box::pin(cell.get_or_init(std::future::pending::<u32>));
    assert!(wa.poll(a.as_mut()).is_pending());
    let mut b = Box::pin(cell.get_or_init(|| async { 2 }));
    assert!(wb.poll(b.as_mut()).is_pending());
    let mut c = Box::pin(cell.get_or_init(|| async { 3 }));
    assert!(wc.poll(c.as_mut()).is_pending());
    drop(a);
    assert_eq!(wb.wakes(), 1);
    drop(b); // handed the initialiser's role, never ran
    assert_eq!(wc.wakes(), 1);
    assert_eq!(*ready(&wc, c.as_mut()), 3);
    drop(c);
    assert_eq!(wa.outstanding() + wb.outstanding() + wc.outstanding(), 0);
}

#[test]
fn once_cell_failed_initialiser_hands_over_to_the_next_waiter() {
    let cell = OnceCell::new();
    let ev = Event::new();
    let (wa, wb) = (TestWaker::new(), TestWaker::new());
    let mut a = Box::pin(cell.get_or_try_init(|| async {
        ev.wait().await;
        Err::<u32, _>("failed")
    }));
    assert!(wa.poll(a.as_mut()).is_pending());
    let mut b = Box::pin(cell.get_or_try_init(|| async { Ok::<_, &str>(5) }));
    assert!(wb.poll(b.as_mut()).is_pending());
    ev.set();
    assert_eq!(ready(&wa, a.as_mut()), Err("failed"));
    assert!(!cell.initialized());
    assert_eq!(wb.wakes(), 1);
    assert_eq!(ready(&wb, b.as_mut()), Ok(&5));
    drop((a, b));
    assert_eq!(wa.outstanding() + wb.outstanding(), 0);
}

#[test]
fn once_cell_panicking_initialiser_hands_over() {
    rt(1).block_on(async {
        let cell = Arc::new(OnceCell::new());
        let c = cell.clone();
        let failed = ferrio::spawn(async move {
            c.get_or_init(|| async { panic!("init failed") }).await;
        })
        .await;
        assert!(failed.unwrap_err().is_panic());
        assert_eq!(*cell.get_or_init(|| async { 9 }).await, 9);
    });
}

#[test]
fn once_cell_take_get_mut_into_inner() {
    static CELL: OnceCell<u32> = OnceCell::const_new();
    assert_eq!(CELL.set(1), Ok(()));
    assert_eq!(CELL.get(), Some(&1));

    let mut cell = OnceCell::from(String::from("a"));
    cell.get_mut().unwrap().push('b');
    assert_eq!(cell.clone(), OnceCell::from(String::from("ab")));
    assert_eq!(cell.take().as_deref(), Some("ab"));
    assert!(!cell.initialized());
    assert_eq!(cell.set("c".into()), Ok(()), "settable again after take");
    assert_eq!(cell.into_inner().as_deref(), Some("c"));
    assert_eq!(OnceCell::<u8>::new().into_inner(), None);
    // A set value is dropped with the cell.
    let counter = super::common::DropCounter::new();
    drop(OnceCell::new_with(Some(counter.token())));
    assert_eq!(counter.count(), 1);
}
