//! A TCP echo server on io_uring with owned buffers: every connection is a
//! task that reads into its buffer and writes the same buffer back.
//!
//! ```sh
//! cargo run --release --example echo_server            # 127.0.0.1:7878
//! cargo run --release --example echo_server -- 0.0.0.0:9000
//! ```
//! Try it with `nc 127.0.0.1 7878`, or load it with
//! `cargo run --release --example echo_client`.

use std::time::Duration;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    ferrio::run(async move {
        let listener = ferrio::net::TcpListener::bind(&addr)?;
        println!("echo server listening on {}", listener.local_addr()?);
        loop {
            let (conn, _peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of descriptors: the connection waits in the
                    // kernel's queue; back off instead of spinning.
                    eprintln!("accept: {e}; pausing 100 ms");
                    ferrio::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = conn.set_nodelay(true);
            // Detached: the task runs on after its handle is dropped.
            drop(ferrio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    buf.clear();
                    let (res, b) = conn.read(buf).await;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let (res, b) = conn.write_all(b).await;
                    if res.is_err() {
                        return;
                    }
                    buf = b;
                }
            }));
        }
    })
}
