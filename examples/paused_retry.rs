//! A client retrying with a 1 s timeout against a server that stays
//! silent for 10 s, run on a paused clock (feature `test-util`): the 11
//! virtual seconds pass in a few hundred microseconds of wall time.
//!
//! `cargo run --release --features test-util --example paused_retry`

use std::time::{Duration, Instant};

use ferrio::sync::mpsc;
use ferrio::time;

fn main() {
    let rt = ferrio::Runtime::builder()
        .start_paused(true)
        .build()
        .expect("runtime");
    let wall = Instant::now();
    let (attempts, took) = rt.block_on(async {
        let start = time::now();
        let (req_tx, mut req_rx) = mpsc::channel::<mpsc::Sender<&'static str>>(16);
        // The server: silent ("partitioned") for its first 10 s.
        // Requests it ignores are kept (unanswered, not closed).
        let _server = ferrio::spawn(async move {
            let mut ignored = Vec::new();
            while let Some(reply) = req_rx.recv().await {
                if time::now() - start >= Duration::from_secs(10) {
                    let _ = reply.send("pong").await;
                } else {
                    ignored.push(reply);
                }
            }
        });
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (tx, mut rx) = mpsc::channel(1);
            req_tx.send(tx).await.expect("server alive");
            match ferrio::wait_for(rx.recv(), Duration::from_secs(1)).await {
                Ok(Some(answer)) => {
                    assert_eq!(answer, "pong");
                    break;
                }
                _ => continue,
            }
        }
        (attempts, time::now() - start)
    });
    println!(
        "{attempts} attempts, {took:?} of virtual time, {:?} of wall time",
        wall.elapsed()
    );
    assert_eq!(attempts, 11);
    assert_eq!(took, Duration::from_secs(10));
}
