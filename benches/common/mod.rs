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

/// A listener on a free loopback port.
pub(crate) fn std_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Starts an echo server (a task per connection, `ferrio_echo`) on `rt`;
/// returns its address.
pub(crate) fn serve_ferrio_echo(rt: &ferrio::Runtime) -> std::net::SocketAddr {
    let listener = rt
        .block_on(async { ferrio::net::TcpListener::from_std(std_listener()) })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(rt.spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            conn.set_nodelay(true).unwrap();
            drop(ferrio::spawn(ferrio_echo(conn)));
        }
    }));
    addr
}

/// The same on tokio (`tokio_echo`).
pub(crate) fn serve_tokio_echo(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    let std_l = std_listener();
    let addr = std_l.local_addr().unwrap();
    std_l.set_nonblocking(true).unwrap();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(std_l).unwrap();
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            conn.set_nodelay(true).unwrap();
            tokio::spawn(tokio_echo(conn));
        }
    });
    addr
}

/// CPU time (utime + stime, in clock ticks of 10 ms) and context
/// switches (voluntary + involuntary) used so far by this process's
/// threads whose name starts with `prefix`: a server's own cost, apart
/// from the client's.
pub(crate) fn thread_usage(prefix: &str) -> (u64, u64) {
    let (mut ticks, mut switches) = (0, 0);
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some((_, after)) = stat.rsplit_once(") ") {
            let f: Vec<&str> = after.split_whitespace().collect();
            // utime and stime: fields 14 and 15, 11 and 12 after the name.
            ticks += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches")
                || line.starts_with("nonvoluntary_ctxt_switches")
            {
                switches += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    (ticks, switches)
}
