//! A first tour of ferrio: spawn tasks, cancel one, contain a panic, and
//! spawn from a plain thread through a `Handle`.
//!
//! Run it with `cargo run --release --example tour`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    // Keep the default hook's backtraces out of the tour's output; the
    // runtime reports and contains the panics itself.
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        println!(
            "  [panic hook] {} panicked at {}",
            thread.name().unwrap_or("?"),
            info.location().map(|l| l.to_string()).unwrap_or_default()
        );
    }));
    let rt = ferrio::Runtime::builder()
        .thread_name("tour-worker")
        .on_task_panic(|info, payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .unwrap_or("<non-string panic>");
            println!("  [on_task_panic] task '{}' panicked: {msg}", info.name);
        })
        .build()
        .expect("ferrio runtime");
    println!("ferrio tour: {} worker threads", rt.handle().num_workers());

    rt.block_on(async {
        // 1. Spawn tasks (asyncio.create_task) and await them in order.
        let start = Instant::now();
        let tasks: Vec<_> = (1..=8u64)
            .map(|i| {
                ferrio::task::Builder::new()
                    .name(format!("square-{i}"))
                    .spawn(async move {
                        ferrio::yield_now().await;
                        (
                            i * i,
                            std::thread::current().name().unwrap_or("?").to_string(),
                        )
                    })
            })
            .collect();
        for t in tasks {
            let name = t.name();
            let (sq, thread) = t.await.unwrap();
            println!("  {name:>9} = {sq:>2}   (ran on {thread})");
        }
        println!("1. spawned and joined 8 tasks in {:?}", start.elapsed());

        // 2. Cancel a task (asyncio Task.cancel): its future is dropped.
        let stuck = ferrio::task::Builder::new()
            .name("stuck")
            .spawn(std::future::pending::<()>());
        println!("2. cancel('stuck') -> {}", stuck.cancel());
        match stuck.await {
            Err(e) if e.is_cancelled() => println!("   awaiting it gives: {e}"),
            other => println!("   unexpected: {other:?}"),
        }

        // 3. A panicking task is contained; the worker carries on.
        let boom = ferrio::spawn(async {
            if true {
                panic!("something went wrong");
            }
            1
        });
        match boom.await {
            Err(e) if e.is_panic() => println!("3. awaited panic: {e}"),
            other => println!("   unexpected: {other:?}"),
        }
        // Nobody awaits this one: it is reported through on_task_panic.
        let (tx, rx) = std::sync::mpsc::channel();
        let detached = ferrio::task::Builder::new()
            .name("detached")
            .spawn(async { panic!("never retrieved") });
        detached.add_done_callback(move |outcome| tx.send(outcome).unwrap());
        drop(detached);
        println!("   detached task ended as {:?}", rx.recv().unwrap());
        let still_fine = ferrio::spawn(async { "still serving" }).await.unwrap();
        println!("   after the panics the runtime is {still_fine}");
    });

    // 4. Spawn from a plain thread through a Handle.
    let handle = rt.handle();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let from_thread = std::thread::spawn(move || {
        let tasks: Vec<_> = (0..1_000)
            .map(|_| {
                let c = c.clone();
                handle.spawn(async move {
                    c.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        handle.call_soon_threadsafe(move || tasks.len())
    })
    .join()
    .unwrap();
    let spawned = rt.block_on(from_thread).unwrap();
    rt.block_on(async {
        while counter.load(Ordering::Relaxed) < spawned {
            ferrio::yield_now().await;
        }
    });
    println!(
        "4. a plain thread spawned {spawned} tasks through a Handle; {} ran",
        counter.load(Ordering::Relaxed)
    );
    drop(rt);
    println!("runtime shut down cleanly");
}
