//! The primitives tokio users reach for: `RwLock` (fairness, downgrade,
//! owned guards), owned `Lock` guards and semaphore permits. Each waiting
//! future is dropped after a `Pending` poll, both while queued and after
//! being handed the lock, and the next waiter must proceed with no waker
//! or `Arc` left behind. `OnceCell` is `sync_once_cell.rs`,
//! `CancellationToken` `sync_token.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use super::common::{rt, within, TestWaker};
use ferrio::sync::{Lock, RwLock, Semaphore};

/// Polls `fut` once; it must be ready.
pub(super) fn ready<F: Future + ?Sized>(w: &TestWaker, fut: Pin<&mut F>) -> F::Output {
    match w.poll(fut) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("not ready"),
    }
}

// --- RwLock ----------------------------------------------------------------

#[test]
fn rwlock_readers_share_and_a_writer_excludes_everyone() {
    let lock = RwLock::new(1);
    let r1 = lock.try_read().unwrap();
    let r2 = lock.try_read().unwrap();
    assert_eq!(*r1 + *r2, 2);
    assert!(lock.try_write().is_err());
    drop((r1, r2));
    let mut w = lock.try_write().unwrap();
    *w = 5;
    assert!(lock.try_read().is_err());
    assert!(lock.try_write().is_err());
    drop(w);
    assert_eq!(*lock.try_read().unwrap(), 5);
    let mut lock = lock;
    *lock.get_mut() += 1;
    assert_eq!(lock.into_inner(), 6);
}

#[test]
fn rwlock_waiting_writer_blocks_readers_that_come_after_it() {
    let lock = RwLock::new(0);
    let (ww, wr) = (TestWaker::new(), TestWaker::new());
    let r = lock.try_read().unwrap();
    let mut writer = Box::pin(lock.write());
    assert!(ww.poll(writer.as_mut()).is_pending());
    // Only readers hold the lock, yet a later reader waits behind the
    // writer.
    assert!(lock.try_read().is_err());
    let mut reader = Box::pin(lock.read());
    assert!(wr.poll(reader.as_mut()).is_pending());
    drop(r);
    assert_eq!(ww.wakes(), 1, "the writer is woken when the readers leave");
    let mut g = ready(&ww, writer.as_mut());
    *g = 1;
    assert!(wr.poll(reader.as_mut()).is_pending());
    drop(g);
    assert!(wr.wakes() >= 1);
    assert_eq!(*ready(&wr, reader.as_mut()), 1);
    drop((writer, reader));
    assert_eq!(ww.outstanding() + wr.outstanding(), 0, "waker left behind");
}

#[test]
fn rwlock_readers_queued_behind_a_writer_get_in_together() {
    let lock = RwLock::new(0);
    let w = lock.try_write().unwrap();
    let wakers: Vec<TestWaker> = (0..3).map(|_| TestWaker::new()).collect();
    let mut readers: Vec<_> = (0..3).map(|_| Box::pin(lock.read())).collect();
    for (r, wk) in readers.iter_mut().zip(&wakers) {
        assert!(wk.poll(r.as_mut()).is_pending());
    }
    drop(w);
    let guards: Vec<_> = readers
        .iter_mut()
        .zip(&wakers)
        .map(|(r, wk)| {
            assert_eq!(wk.wakes(), 1);
            ready(wk, r.as_mut())
        })
        .collect();
    assert_eq!(guards.len(), 3);
}

#[test]
fn rwlock_writer_is_not_starved_by_a_stream_of_readers() {
    const READERS: usize = 4;
    within("a writer among looping readers", || {
        rt(2).block_on(async {
            let lock = Arc::new(RwLock::new(0u64));
            let stop = Arc::new(AtomicBool::new(false));
            let reads = Arc::new(AtomicUsize::new(0));
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    let (lock, stop, reads) = (lock.clone(), stop.clone(), reads.clone());
                    ferrio::spawn(async move {
                        while !stop.load(SeqCst) {
                            let g = lock.read().await;
                            reads.fetch_add(1, SeqCst);
                            ferrio::yield_now().await;
                            drop(g);
                        }
                    })
                })
                .collect();
            // Let the readers get going, then queue the writer.
            while reads.load(SeqCst) < 100 {
                ferrio::yield_now().await;
            }
            let mut write = Box::pin(lock.write());
            let queued_at = match super::common::poll_once(write.as_mut()).await {
                Poll::Ready(_) => panic!("the readers hold the lock"),
                Poll::Pending => reads.load(SeqCst),
            };
            let mut g = write.await;
            // Readers arriving after the writer queued wait for it: at most
            // one read per reader, begun before, is counted after.
            let overtaken = reads.load(SeqCst) - queued_at;
            assert!(
                overtaken <= READERS,
                "{overtaken} reads overtook the writer"
            );
            *g += 1;
            stop.store(true, SeqCst);
            drop(g);
            for r in readers {
                r.await.unwrap();
            }
            assert_eq!(*lock.read().await, 1);
        })
    });
}

#[test]
fn rwlock_cancelled_writer_lets_the_readers_behind_it_in() {
    let lock = RwLock::new(0);
    let (ww, wr) = (TestWaker::new(), TestWaker::new());
    // Dropped while queued.
    let r = lock.try_read().unwrap();
    let mut writer = Box::pin(lock.write());
    assert!(ww.poll(writer.as_mut()).is_pending());
    let mut reader = Box::pin(lock.read());
    assert!(wr.poll(reader.as_mut()).is_pending());
    drop(writer);
    assert_eq!(wr.wakes(), 1, "the reader behind is let in");
    let g = ready(&wr, reader.as_mut());
    drop((g, r, reader));
    // Dropped after the readers left and the lock was handed to it.
    let r = lock.try_read().unwrap();
    let mut writer = Box::pin(lock.write());
    assert!(ww.poll(writer.as_mut()).is_pending());
    let mut reader = Box::pin(lock.read());
    assert!(wr.poll(reader.as_mut()).is_pending());
    drop(r);
    assert_eq!(ww.wakes(), 1, "the writer was handed the lock");
    drop(writer);
    assert!(wr.wakes() >= 2, "the hand-over passes on");
    drop(ready(&wr, reader.as_mut()));
    drop(reader);
    assert_eq!(ww.outstanding() + wr.outstanding(), 0, "waker left behind");
    assert!(lock.try_write().is_ok(), "nothing lost");
}

#[test]
fn rwlock_cancelled_reader_passes_the_lock_on() {
    let lock = RwLock::new(0);
    let (w1, w2) = (TestWaker::new(), TestWaker::new());
    let w = lock.try_write().unwrap();
    let mut reader = Box::pin(lock.read());
    assert!(w1.poll(reader.as_mut()).is_pending());
    let mut writer = Box::pin(lock.write());
    assert!(w2.poll(writer.as_mut()).is_pending());
    drop(w);
    assert_eq!(w1.wakes(), 1);
    // The reader was handed its permit but is dropped before taking it:
    // the writer behind gets every permit.
    drop(reader);
    assert_eq!(w2.wakes(), 1);
    drop(ready(&w2, writer.as_mut()));
    drop(writer);
    assert_eq!(w1.outstanding() + w2.outstanding(), 0);
}

#[test]
fn rwlock_owned_futures_cancelled_leave_no_arc_or_waker() {
    let lock = Arc::new(RwLock::new(0));
    let (w1, w2) = (TestWaker::new(), TestWaker::new());
    let r = lock.clone().try_read_owned().unwrap();
    let mut writer = Box::pin(lock.clone().write_owned());
    assert!(w1.poll(writer.as_mut()).is_pending());
    let mut reader = Box::pin(lock.clone().read_owned());
    assert!(w2.poll(reader.as_mut()).is_pending());
    drop(r);
    drop(writer); // handed the lock, never took it
    let g = ready(&w2, reader.as_mut());
    drop((g, reader));
    assert_eq!(Arc::strong_count(&lock), 1, "an Arc of the lock leaked");
    assert_eq!(w1.outstanding() + w2.outstanding(), 0);
    assert!(lock.clone().try_write_owned().is_ok());
}

#[test]
fn rwlock_downgrade_lets_readers_in_and_keeps_writers_out() {
    for owned in [false, true] {
        let lock = Arc::new(RwLock::new(1));
        let (wr, ww) = (TestWaker::new(), TestWaker::new());
        let write = (!owned).then(|| lock.try_write().unwrap());
        let write_owned = owned.then(|| lock.clone().try_write_owned().unwrap());
        let mut reader = Box::pin(lock.read());
        assert!(wr.poll(reader.as_mut()).is_pending());
        let mut writer = Box::pin(lock.write());
        assert!(ww.poll(writer.as_mut()).is_pending());
        let (down, down_owned) = (
            write.map(|g| g.downgrade()),
            write_owned.map(|g| g.downgrade()),
        );
        assert_eq!(
            wr.wakes(),
            1,
            "owned={owned}: the reader queued first gets in"
        );
        let r = ready(&wr, reader.as_mut());
        assert!(ww.poll(writer.as_mut()).is_pending(), "owned={owned}");
        drop((r, down, down_owned));
        assert_eq!(ww.wakes(), 1, "owned={owned}");
        assert_eq!(*ready(&ww, writer.as_mut()), 1);
        drop((reader, writer));
        assert!(lock.try_write().is_ok());
    }
}

#[test]
fn rwlock_max_readers_bounds_the_readers() {
    let lock = RwLock::with_max_readers(0u8, 2);
    let a = lock.try_read().unwrap();
    let _b = lock.try_read().unwrap();
    assert!(lock.try_read().is_err());
    drop(a);
    assert!(lock.try_read().is_ok());
    assert!(lock.try_write().is_err());
}

#[test]
#[should_panic(expected = "ferrio: RwLock::with_max_readers")]
fn rwlock_without_readers_is_refused() {
    let _ = RwLock::with_max_readers((), 0);
}

#[test]
fn rwlock_owned_guards_across_tasks_on_two_workers() {
    rt(2).block_on(async {
        let lock = Arc::new(RwLock::new(Vec::new()));
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let lock = lock.clone();
                ferrio::spawn(async move {
                    let mut g = lock.write_owned().await;
                    let n = g.len();
                    ferrio::yield_now().await; // held across a suspension
                    assert_eq!(g.len(), n, "a writer was not alone");
                    g.push(i);
                })
            })
            .collect();
        let readers: Vec<_> = (0..16)
            .map(|_| {
                let lock = lock.clone();
                ferrio::spawn(async move {
                    let g = lock.read_owned().await;
                    let n = g.len();
                    ferrio::yield_now().await;
                    assert_eq!(g.len(), n, "written under a reader");
                })
            })
            .collect();
        // A guard taken here is finished in another task.
        let g = lock.clone().read_owned().await;
        ferrio::spawn(async move { drop(g) }).await.unwrap();
        for t in writers.into_iter().chain(readers) {
            t.await.unwrap();
        }
        let mut v = lock.read().await.clone();
        v.sort();
        assert_eq!(v, (0..16).collect::<Vec<_>>());
    });
}

// --- owned Lock guards and semaphore permits -------------------------------

#[test]
fn lock_owned_guard_moves_into_another_task() {
    rt(2).block_on(async {
        let lock = Arc::new(Lock::new(0u32));
        let mut g = lock.clone().lock_owned().await;
        assert!(lock.try_lock().is_none());
        let t = ferrio::spawn(async move {
            ferrio::yield_now().await;
            *g += 1;
        });
        *lock.lock().await += 10; // waits for the task to drop the guard
        t.await.unwrap();
        assert_eq!(*lock.lock().await, 11);
        assert!(lock.clone().try_lock_owned().is_some());
        assert_eq!(Arc::strong_count(&lock), 1);
    });
}

#[test]
fn lock_owned_waiter_cancelled_passes_the_lock_on() {
    let lock = Arc::new(Lock::new(0));
    let (w1, w2) = (TestWaker::new(), TestWaker::new());
    for handed_over in [false, true] {
        let held = lock.clone().try_lock_owned().unwrap();
        assert!(lock.clone().try_lock_owned().is_none());
        let mut owned = Box::pin(lock.clone().lock_owned());
        assert!(w1.poll(owned.as_mut()).is_pending());
        let mut behind = Box::pin(lock.lock());
        assert!(w2.poll(behind.as_mut()).is_pending());
        if handed_over {
            drop(held);
            drop(owned);
        } else {
            drop(owned);
            assert!(w2.poll(behind.as_mut()).is_pending());
            drop(held);
        }
        let mut g = ready(&w2, behind.as_mut());
        *g += 1;
        drop((g, behind));
        assert_eq!(Arc::strong_count(&lock), 1, "handed_over={handed_over}");
        assert_eq!(w1.outstanding() + w2.outstanding(), 0);
    }
    assert_eq!(*lock.try_lock().unwrap(), 2);
}

#[test]
fn semaphore_owned_permits_count_split_and_forget() {
    let sem = Arc::new(Semaphore::new(4));
    let w = TestWaker::new();
    let mut three = ready(&w, Box::pin(sem.clone().acquire_many_owned(3)).as_mut());
    assert_eq!(three.num_permits(), 3);
    assert!(Arc::ptr_eq(three.semaphore(), &sem));
    let one = three.split(1).unwrap();
    assert!(three.split(3).is_none());
    let last = sem.clone().try_acquire_owned().unwrap();
    assert!(sem.clone().try_acquire_owned().is_none());
    assert!(sem.clone().try_acquire_many_owned(2).is_none());
    drop(three);
    assert_eq!(sem.available_permits(), 2);
    one.forget();
    drop(last);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(Arc::strong_count(&sem), 1);
}

#[test]
fn semaphore_acquire_owned_cancelled_passes_the_permit_on() {
    let sem = Arc::new(Semaphore::new(0));
    let (w1, w2) = (TestWaker::new(), TestWaker::new());
    let mut big = Box::pin(sem.clone().acquire_many_owned(2));
    assert!(w1.poll(big.as_mut()).is_pending());
    let mut small = Box::pin(sem.clone().acquire_owned());
    assert!(w2.poll(small.as_mut()).is_pending());
    sem.release();
    assert!(
        w1.poll(big.as_mut()).is_pending(),
        "one permit is not enough"
    );
    sem.release();
    assert_eq!(w1.wakes(), 1);
    drop(big); // granted, never taken
    let p = ready(&w2, small.as_mut());
    drop((p, small));
    assert_eq!(sem.available_permits(), 2, "permits lost or duplicated");
    assert_eq!(Arc::strong_count(&sem), 1);
    assert_eq!(w1.outstanding() + w2.outstanding(), 0);
}

#[test]
fn semaphore_owned_permits_bound_tasks_on_two_workers() {
    rt(2).block_on(async {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                ferrio::spawn(async move {
                    let permit = sem.acquire_owned().await;
                    assert!(inside.fetch_add(1, SeqCst) < 2, "three holders");
                    ferrio::yield_now().await;
                    inside.fetch_sub(1, SeqCst);
                    drop(permit);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(sem.available_permits(), 2);
    });
}
