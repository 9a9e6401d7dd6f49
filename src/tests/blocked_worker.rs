//! A task that blocks its worker's thread: what the worker owns is handed
//! to other threads while it blocks (its LIFO slot, its wheel's timers,
//! the I/O on its driver), and the stuck poll is reported while it lasts.
//! Each test blocks on a std channel that only the hand-over can fill, so
//! without it the test times out and fails; no sleep synchronises.
//! `examples/blocked_worker.rs` measures the bounds of the whole scenario
//! (CI runs it on both drivers).

use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ferrio::runtime::BlockedWorker;

/// Long enough to fail clearly, far above any hand-over (milliseconds).
const PATIENCE: Duration = Duration::from_secs(10);

fn runtime_reporting(
    threshold: Duration,
    reports: Arc<Mutex<Vec<BlockedWorker>>>,
) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(2)
        .on_blocked_worker(threshold, move |r| reports.lock().unwrap().push(r.clone()))
        .build()
        .unwrap()
}

/// A waker that sends on a channel when woken.
struct SendOnWake(Mutex<mpsc::Sender<()>>);

impl Wake for SendOnWake {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().unwrap().send(());
    }
}

fn channel_waker() -> (Waker, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    (Waker::from(Arc::new(SendOnWake(Mutex::new(tx)))), rx)
}

#[test]
fn a_stuck_poll_is_reported_once_while_it_is_still_stuck() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let seen_tx = Mutex::new(seen_tx);
    let log = reports.clone();
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .on_blocked_worker(Duration::from_millis(30), move |r| {
            log.lock().unwrap().push(r.clone());
            let _ = seen_tx.lock().unwrap().send(());
        })
        .build()
        .unwrap();
    let line = line!() + 1; // the `.spawn_on(` below
    let task = ferrio::task::Builder::new().name("stuck-one").spawn_on(
        async move {
            // Blocks its worker until the report about itself arrives:
            // the report must come while the poll is still stuck.
            seen_rx.recv_timeout(PATIENCE).is_ok()
        },
        &rt.handle(),
    );
    assert!(
        rt.block_on(task).unwrap(),
        "no report while the poll was stuck"
    );
    drop(rt);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1, "one report per episode");
    let r = &reports[0];
    assert!(r.worker < 2);
    assert!(r.blocked_for >= Duration::from_millis(30));
    let task = r.task.as_ref().expect("the stuck task is named");
    assert_eq!(task.name, "stuck-one");
    assert_eq!(task.spawned_at.file(), file!());
    assert_eq!(task.spawned_at.line(), line);
    assert!(r.to_string().contains("stuck-one"), "{r}");
}

#[test]
fn a_task_woken_into_the_lifo_slot_of_a_stuck_worker_runs_elsewhere() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let rt = runtime_reporting(Duration::from_secs(60), reports.clone());
    let ran_elsewhere = rt.block_on(async {
        ferrio::spawn(async {
            let (tx, rx) = mpsc::channel();
            let here = std::thread::current().id();
            // Spawned from a worker: into this worker's LIFO slot, which
            // no sibling steals from; only the hand-over frees it.
            drop(ferrio::spawn(async move {
                let _ = tx.send(std::thread::current().id());
            }));
            match rx.recv_timeout(PATIENCE) {
                Ok(there) => there != here,
                Err(_) => false,
            }
        })
        .await
        .unwrap()
    });
    assert!(ran_elsewhere, "the LIFO task waited for the stuck worker");
    assert!(reports.lock().unwrap().is_empty(), "threshold not reached");
}

#[test]
fn a_timer_on_a_stuck_workers_wheel_fires_while_it_is_stuck() {
    let rt = runtime_reporting(Duration::from_secs(60), Arc::default());
    let fired_after = rt.block_on(async {
        ferrio::spawn(async {
            // Registered in this worker's wheel by its first poll.
            let start = Instant::now();
            let mut sleep = pin!(ferrio::sleep(Duration::from_millis(20)));
            let (waker, woken) = channel_waker();
            assert!(sleep
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            woken.recv_timeout(PATIENCE).map(|()| start.elapsed()).ok()
        })
        .await
        .unwrap()
    });
    let after = fired_after.expect("the timer waited for its stuck worker");
    assert!(after >= Duration::from_millis(20), "fired early: {after:?}");
}

#[test]
fn io_started_by_a_stuck_worker_completes_while_it_is_stuck() {
    let rt = runtime_reporting(Duration::from_secs(60), Arc::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let completed = rt.block_on(async move {
        let conn = ferrio::net::TcpStream::connect(addr).await.unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        ferrio::spawn(async move {
            // The read is queued on this worker's driver (on io_uring, not
            // even submitted yet) before the worker blocks.
            let mut read = pin!(conn.read(vec![0u8; 16]));
            let (waker, woken) = channel_waker();
            assert!(read
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            peer.write_all(b"ping").unwrap();
            if woken.recv_timeout(PATIENCE).is_err() {
                return false;
            }
            matches!(
                read.as_mut().poll(&mut Context::from_waker(&waker)),
                Poll::Ready((Ok(4), _))
            )
        })
        .await
        .unwrap()
    });
    assert!(completed, "the read waited for its stuck worker");
}

#[test]
fn block_in_place_hands_work_over_at_once_and_reports_nothing() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    // A threshold the block does exceed: block_in_place is not reported.
    let rt = runtime_reporting(Duration::from_millis(1), reports.clone());
    let ran = rt.block_on(async {
        ferrio::spawn(async {
            let (tx, rx) = mpsc::channel();
            drop(ferrio::spawn(async move {
                let _ = tx.send(());
            }));
            ferrio::task::block_in_place(|| rx.recv_timeout(PATIENCE).is_ok())
        })
        .await
        .unwrap()
    });
    assert!(ran, "the LIFO task waited for block_in_place to return");
    assert!(
        reports.lock().unwrap().is_empty(),
        "{:?}",
        reports.lock().unwrap()
    );
}

#[test]
fn block_in_place_off_the_workers_just_runs() {
    assert_eq!(ferrio::task::block_in_place(|| 5), 5);
}
