//! The two runtimes every bench compares, built the same way.
#![allow(dead_code)]

#[macro_use]
pub(crate) mod workloads;

pub(crate) mod floor_epoll;
pub(crate) mod floor_uring;

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

/// The runtimes' echo loops read into buffers of this size: 4 KiB, or
/// `ECHO_BUF` bytes (to compare with the floors at equal sizes).
pub(crate) fn echo_buf() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        std::env::var("ECHO_BUF")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4096)
    })
}

/// One echo connection on ferrio: owned buffers, read then write back,
/// until end of stream or an error.
pub(crate) async fn ferrio_echo(conn: ferrio::net::TcpStream) {
    let mut buf = Vec::with_capacity(echo_buf());
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
    let mut buf = vec![0u8; echo_buf()];
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

/// `n` non-blocking loopback listeners on one free port, each with
/// `SO_REUSEPORT` (the kernel spreads connections over them by a hash of
/// the 4-tuple): one per thread of a floor server.
pub(crate) fn reuseport_listeners(n: usize) -> Vec<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    let mut port = 0u16;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: plain socket calls on a descriptor this function owns;
        // `addr` and `one` outlive the calls that read them.
        let fd = unsafe {
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let one: libc::c_int = 1;
            for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
                let r = libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                assert_eq!(r, 0, "setsockopt: {}", std::io::Error::last_os_error());
            }
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
                },
                sin_zero: [0; 8],
            };
            let r = libc::bind(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
            let r = libc::listen(fd, 4096);
            assert_eq!(r, 0, "listen: {}", std::io::Error::last_os_error());
            fd
        };
        // SAFETY: `fd` is a fresh listening socket owned by nobody else.
        let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        port = l.local_addr().unwrap().port();
        out.push(l);
    }
    out
}

/// The kernel thread ids of this process's threads whose name starts
/// with `prefix` (for `perf stat -t`).
pub(crate) fn thread_ids(prefix: &str) -> Vec<u32> {
    let mut ids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            if let Some(id) = task.file_name().to_str().and_then(|s| s.parse().ok()) {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    ids
}
