//! The two runtimes every bench compares, built the same way.
#![allow(dead_code)]

#[macro_use]
pub(crate) mod workloads;

/// ferrio with `workers` workers.
pub(crate) fn ferrio_rt(workers: usize) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// tokio's multi-thread runtime with `workers` workers, timers on.
pub(crate) fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

/// One echo connection on ferrio: owned buffers, read then write back,
/// until end of stream or an error.
pub(crate) async fn ferrio_echo(conn: ferrio::net::TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (r, b) = conn.read(buf).await;
        if !matches!(r, Ok(n) if n > 0) {
            return;
        }
        let (r, b) = conn.write_all(b).await;
        if r.is_err() {
            return;
        }
        buf = b;
    }
}

/// The same on tokio.
pub(crate) async fn tokio_echo(mut conn: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
