//! `task_local!` and `LocalKey` (tokio's semantics): the value is set
//! around each poll of the scoped future, so it follows it across awaits
//! and workers and never leaks to another task on the same thread;
//! nesting, `sync_scope`, access outside a scope, panics inside a scope,
//! destructors of the scoped future, `take_value`.

use std::sync::{Arc, Mutex};

use super::common::{poll_noop, rt};

ferrio::task_local! {
    static ID: u32;
    static NAME: String;
}

#[test]
fn the_value_follows_its_future_across_awaits_and_workers() {
    let rt = rt(4);
    rt.block_on(async {
        let tasks: Vec<_> = (0..16u32)
            .map(|i| {
                ferrio::spawn(ID.scope(i, async move {
                    for _ in 0..200 {
                        assert_eq!(ID.get(), i);
                        ferrio::yield_now().await;
                    }
                    ID.get()
                }))
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as u32);
        }
        // Outside every scope: not set, on this thread or the workers'.
        assert!(ID.try_get().is_err());
        let outside = ferrio::spawn(async { ID.try_get().is_err() });
        assert!(outside.await.unwrap());
    });
}

#[test]
fn the_value_moves_with_the_future_to_another_thread() {
    let gate = Arc::new(ferrio::sync::Event::new());
    let mut fut = Box::pin(ID.scope(21, {
        let gate = gate.clone();
        async move {
            let before = ID.get();
            gate.wait().await;
            (before, ID.get(), std::thread::current().id())
        }
    }));
    assert!(poll_noop(fut.as_mut()).is_pending());
    // Not left behind on this thread.
    assert!(ID.try_get().is_err());
    gate.set();
    let here = std::thread::current().id();
    let (before, after, there) = std::thread::spawn(move || {
        assert!(ID.try_get().is_err());
        match poll_noop(fut.as_mut()) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the gate is open"),
        }
    })
    .join()
    .unwrap();
    assert_ne!(there, here);
    assert_eq!((before, after), (21, 21));
}

/// Pending once, then ready: a yield that needs no runtime.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

#[test]
fn interleaved_futures_on_one_thread_see_only_their_own_value() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut futures: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            Box::pin(NAME.scope(name.to_string(), async move {
                for _ in 0..3 {
                    log.lock().unwrap().push(NAME.get());
                    YieldOnce(false).await;
                    assert_eq!(NAME.get(), name);
                }
            }))
        })
        .collect();
    // Round-robin on this thread: a, b, c, a, b, c, ...
    for _ in 0..3 {
        for f in &mut futures {
            assert!(poll_noop(f.as_mut()).is_pending());
            assert!(NAME.try_get().is_err(), "a value leaked out of its scope");
        }
    }
    for f in &mut futures {
        assert!(poll_noop(f.as_mut()).is_ready());
    }
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c"].repeat(3));
}

#[test]
fn scoped_tasks_interleave_on_one_worker() {
    let rt = rt(1);
    rt.block_on(async {
        let tasks: Vec<_> = (0..8u32)
            .map(|i| {
                ferrio::spawn(ID.scope(i, async move {
                    for _ in 0..50 {
                        ferrio::yield_now().await;
                        assert_eq!(ID.get(), i);
                    }
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn scopes_nest_and_put_back_the_outer_value() {
    ferrio::run(async {
        let seen = ID
            .scope(1, async {
                let a = ID.get();
                let b = ID
                    .scope(2, async {
                        ferrio::yield_now().await;
                        ID.get()
                    })
                    .await;
                let c = ID.sync_scope(3, || ID.get());
                (a, b, c, ID.get())
            })
            .await;
        assert_eq!(seen, (1, 2, 3, 1));
    });
    assert_eq!(
        ID.sync_scope(5, || ID.sync_scope(6, || ID.get()) + ID.get()),
        11
    );
    assert!(ID.try_with(|_| ()).is_err());
}

#[test]
#[should_panic(expected = "outside its scope")]
fn with_outside_a_scope_panics() {
    ID.with(|_| ());
}

#[test]
fn a_panic_inside_the_scope_puts_the_outer_value_back() {
    let out = ID.sync_scope(1, || {
        let inner = std::panic::catch_unwind(|| ID.sync_scope(2, || panic!("inside")));
        assert!(inner.is_err());
        ID.get()
    });
    assert_eq!(out, 1);

    let mut fut = Box::pin(ID.scope(7, async { panic!("poll panics") }));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(fut.as_mut())));
    assert!(polled.is_err());
    assert!(
        ID.try_get().is_err(),
        "the value stayed set after the panic"
    );
}

#[test]
fn the_scoped_future_is_dropped_inside_its_scope() {
    struct ReadOnDrop(Arc<Mutex<Vec<Option<u32>>>>);
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(ID.try_get().ok());
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    // Dropped before it finished (a cancellation).
    let guard = ReadOnDrop(seen.clone());
    let mut fut = Box::pin(ID.scope(4, async move {
        let _g = guard;
        std::future::pending::<()>().await;
    }));
    assert!(poll_noop(fut.as_mut()).is_pending());
    drop(fut);
    // Finished: its locals go as it returns, inside the scope too.
    let guard = ReadOnDrop(seen.clone());
    let fut = std::pin::pin!(ID.scope(5, async move {
        let _g = guard;
    }));
    assert!(poll_noop(fut).is_ready());
    assert_eq!(*seen.lock().unwrap(), vec![Some(4), Some(5)]);
    assert!(ID.try_get().is_err());
}

#[test]
fn take_value_hands_the_value_back() {
    let mut fut = Box::pin(NAME.scope("kept".to_string(), async { NAME.get() }));
    assert_eq!(fut.as_mut().take_value().as_deref(), Some("kept"));
    assert_eq!(fut.as_mut().take_value(), None);

    let mut fut = Box::pin(NAME.scope("x".to_string(), async { NAME.get() }));
    assert_eq!(
        poll_noop(fut.as_mut()),
        std::task::Poll::Ready("x".to_string())
    );
    // After completion the value is still the future's to give back.
    assert_eq!(fut.as_mut().take_value().as_deref(), Some("x"));
}

#[test]
#[should_panic(expected = "while the value is borrowed")]
fn entering_a_scope_inside_with_panics_clearly() {
    ID.sync_scope(1, || ID.with(|_| ID.sync_scope(2, || ())));
}
