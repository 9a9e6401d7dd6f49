//! A walk through ferrio's asyncio vocabulary, with timings.
//!
//! Run it with `cargo run --example asyncio_tour`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrio::sync::{Barrier, Condition, Event, Lock, Promise, Queue, Semaphore};
use ferrio::ReturnWhen;

fn ms(d: Duration) -> String {
    format!("{:>5.1} ms", d.as_secs_f64() * 1e3)
}

async fn work(name: &'static str, delay_ms: u64) -> &'static str {
    ferrio::sleep(Duration::from_millis(delay_ms)).await;
    name
}

fn main() {
    ferrio::run(async {
        let t0 = Instant::now();

        // gather: concurrent, results in argument order.
        let out = ferrio::gather([work("slow", 30), work("fast", 10), work("mid", 20)]).await;
        println!(
            "[{}] gather             -> {out:?} (argument order)",
            ms(t0.elapsed())
        );

        // gather!: a tuple of different types.
        let t = Instant::now();
        let (n, s) = ferrio::gather!(async { 42 }, work("text", 10)).await;
        println!("[{}] gather!            -> ({n}, {s:?})", ms(t.elapsed()));

        // as_completed: completion order.
        let t = Instant::now();
        let mut it = ferrio::as_completed([work("c", 30), work("a", 10), work("b", 20)]);
        let mut order = Vec::new();
        while let Some(v) = it.next().await {
            order.push(v);
        }
        println!("[{}] as_completed       -> {order:?}", ms(t.elapsed()));

        // wait with FIRST_COMPLETED and a timeout that cancels nothing.
        let t = Instant::now();
        let tasks = vec![
            ferrio::spawn(work("quick", 5)),
            ferrio::spawn(work("lazy", 200)),
        ];
        let (done, pending) = ferrio::wait(tasks, ReturnWhen::FirstCompleted, None)
            .await
            .unwrap();
        println!(
            "[{}] wait(FIRST_COMPLETED) -> {} done, {} pending",
            ms(t.elapsed()),
            done.len(),
            pending.len()
        );
        for p in &pending {
            p.cancel();
        }

        // wait_for: the inner future is dropped on timeout.
        let t = Instant::now();
        let r = ferrio::wait_for(work("too slow", 1_000), Duration::from_millis(15)).await;
        println!("[{}] wait_for(15 ms)    -> {r:?}", ms(t.elapsed()));

        // shield: the inner task survives the outer timeout.
        let t = Instant::now();
        let mut inner = ferrio::shield(work("shielded", 30));
        let first = ferrio::wait_for(&mut inner, Duration::from_millis(5)).await;
        let later = inner.await.unwrap();
        println!(
            "[{}] shield             -> timed out first ({}), then {later:?}",
            ms(t.elapsed()),
            first.is_err()
        );

        // timeout scope with reschedule.
        let t = Instant::now();
        let scope = ferrio::timeout(Duration::from_millis(10));
        let s = scope.clone();
        let r = scope
            .run(async move {
                s.reschedule(Some(Instant::now() + Duration::from_millis(100)));
                work("rescheduled", 25).await
            })
            .await;
        println!(
            "[{}] timeout scope      -> {r:?}, expired: {}",
            ms(t.elapsed()),
            scope.expired()
        );

        // TaskGroup: a failure cancels the siblings.
        let t = Instant::now();
        let group = ferrio::TaskGroup::<String>::new();
        group
            .spawn(async {
                work("sibling", 1_000).await;
                Ok(())
            })
            .unwrap();
        group
            .spawn(async {
                ferrio::sleep(Duration::from_millis(10)).await;
                Err("child failed".to_string())
            })
            .unwrap();
        let r = group.join().await;
        println!(
            "[{}] TaskGroup          -> {r:?} (sibling cancelled)",
            ms(t.elapsed())
        );

        // Queue: producer/consumer with task_done and join.
        let t = Instant::now();
        let q = Arc::new(Queue::new(4));
        let producer = {
            let q = q.clone();
            ferrio::spawn(async move {
                for i in 0..20 {
                    q.put(i).await.unwrap();
                }
            })
        };
        let consumer = {
            let q = q.clone();
            ferrio::spawn(async move {
                let mut sum = 0;
                for _ in 0..20 {
                    sum += q.get().await.unwrap();
                    q.task_done().unwrap();
                }
                sum
            })
        };
        producer.await.unwrap();
        q.join().await;
        println!(
            "[{}] Queue(4)           -> sum {}",
            ms(t.elapsed()),
            consumer.await.unwrap()
        );

        // Lock, Semaphore, Event, Condition, Barrier, Promise.
        let t = Instant::now();
        let lock = Arc::new(Lock::new(0));
        let sem = Arc::new(Semaphore::new(2));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (lock, sem) = (lock.clone(), sem.clone());
                ferrio::spawn(async move {
                    let _permit = sem.acquire().await;
                    *lock.lock().await += 1;
                })
            })
            .collect();
        ferrio::gather(tasks).await;
        println!(
            "[{}] Lock + Semaphore   -> counter {}",
            ms(t.elapsed()),
            *lock.lock().await
        );

        let ev = Arc::new(Event::new());
        let e = ev.clone();
        let waiter = ferrio::spawn(async move { e.wait().await });
        ev.set();
        waiter.await.unwrap();
        let cond = Arc::new(Condition::new(false));
        let c = cond.clone();
        let cw = ferrio::spawn(async move { *c.wait_for(c.lock().await, |r| *r).await });
        *cond.lock().await = true;
        cond.notify_all();
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let bw = ferrio::spawn(async move { b.wait().await.unwrap() });
        let mine = barrier.wait().await.unwrap();
        let promise = Promise::new();
        let pw = ferrio::spawn(promise.clone());
        promise.set_result("kept").unwrap();
        println!(
            "[{}] Event/Condition/Barrier/Promise -> {}, {}, indices {{{}, {}}}, {:?}",
            ms(t.elapsed()),
            ev.is_set(),
            cw.await.unwrap(),
            mine,
            bw.await.unwrap(),
            pw.await.unwrap()
        );

        // to_thread: blocking work off the workers.
        let t = Instant::now();
        let name = ferrio::to_thread(|| {
            std::thread::sleep(Duration::from_millis(10));
            std::thread::current().name().unwrap_or("?").to_string()
        })
        .await
        .unwrap();
        println!("[{}] to_thread          -> ran on {name}", ms(t.elapsed()));

        println!("total {}", ms(t0.elapsed()));
    });

    // run_coroutine_threadsafe from a plain thread.
    let rt = ferrio::Runtime::new().unwrap();
    let handle = rt.handle();
    let v = std::thread::spawn(move || {
        let mut f = ferrio::run_coroutine_threadsafe(work("from a thread", 5), &handle);
        f.result(Some(Duration::from_secs(5))).unwrap()
    })
    .join()
    .unwrap();
    println!("run_coroutine_threadsafe -> {v:?}");
}
