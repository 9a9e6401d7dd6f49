//! Load for `echo_server`: N connections, each sending a message and
//! waiting for its echo, for a few seconds; prints requests per second.
//!
//! ```sh
//! cargo run --release --example echo_server &
//! cargo run --release --example echo_client -- 127.0.0.1:7878 64 100 3
//! #                                            address    conns bytes seconds
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7878".into());
    let conns: usize = args.next().map_or(64, |a| a.parse().expect("connections"));
    let size: usize = args
        .next()
        .map_or(100, |a| a.parse().expect("message bytes"));
    let secs: u64 = args.next().map_or(3, |a| a.parse().expect("seconds"));
    ferrio::run(async move {
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let stream = ferrio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (done, count) = (done.clone(), count.clone());
            tasks.push(ferrio::spawn(async move {
                let mut out = vec![b'x'; size];
                let mut back = Vec::with_capacity(size);
                while !done.load(Ordering::Relaxed) {
                    let (r, o) = stream.write_all(out).await;
                    out = o;
                    r?;
                    back.clear();
                    let (r, b) = stream.read_exact(back).await;
                    back = b;
                    r?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                std::io::Result::Ok(())
            }));
        }
        let start = Instant::now();
        ferrio::sleep(Duration::from_secs(secs)).await;
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("client task")?;
        }
        let n = count.load(Ordering::Relaxed);
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("{conns} connections x {size} B: {n} round trips, {rate:.0} requests/s");
        Ok(())
    })
}
