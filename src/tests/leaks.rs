//! Counts live heap bytes around runtimes that are dropped with tasks in
//! every state: nothing may stay allocated. Its own test binary
//! (`harness = false`, declared in Cargo.toml) so that the counting
//! allocator sees no other test's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Relaxed)
}

/// One runtime lifetime with tasks finished, pending, panicking, cancelled,
/// detached and awaited from outside.
fn round(tasks: usize) {
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .on_task_panic(|_, _| {})
        .build()
        .unwrap();
    let mut keep = Vec::new();
    let mut senders = Vec::new();
    for i in 0..tasks {
        let payload = vec![i as u8; 512];
        match i % 5 {
            0 => drop(rt.spawn(async move { payload.len() })),
            1 => {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                senders.push(tx);
                keep.push(rt.spawn(async move {
                    let _p = payload;
                    // Pending until shutdown (rx is never sent to).
                    std::future::poll_fn(move |_| {
                        let _ = rx.try_recv();
                        std::task::Poll::<()>::Pending
                    })
                    .await;
                    0
                }));
            }
            2 => drop(rt.spawn(async move {
                if !payload.is_empty() {
                    panic!("leak test panic");
                }
                0
            })),
            3 => {
                let t = rt.spawn(async move {
                    std::future::pending::<()>().await;
                    payload.len()
                });
                t.cancel();
                keep.push(t);
            }
            _ => keep.push(rt.spawn(async move {
                ferrio::yield_now().await;
                payload.len()
            })),
        }
    }
    drop(rt);
    drop(keep);
    drop(senders);
}

fn main() {
    // Silence the default hook: the panics are intended.
    std::panic::set_hook(Box::new(|_| {}));
    // Warm up lazily initialised statics (crossbeam's epoch collector,
    // std's thread bookkeeping).
    round(1_000);
    let start = live();
    let mut after = Vec::new();
    for _ in 0..4 {
        round(20_000);
        after.push(live());
    }
    let growth = after[3] - start;
    let drift = after[3] - after[0];
    println!("live bytes: start {start}, after each round {after:?}");
    // 20,000 tasks with 512-byte payloads per round: a leak of even 1% of
    // them would be > 100 KB per round and accumulate.
    let ok = growth < 2 * 1024 * 1024 && drift < 256 * 1024;
    if ok {
        println!("leaks: 1 passed, 0 failed");
    } else {
        println!("leaks: 0 passed, 1 failed (growth {growth} B, drift {drift} B)");
        std::process::exit(1);
    }
}
