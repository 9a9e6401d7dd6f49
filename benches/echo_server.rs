//! TCP echo servers as deployed: ferrio on io_uring, ferrio on epoll and
//! tokio, each with the default worker count (one per CPU), in one
//! process, with the load generator (one tokio client thread, `CONNS`
//! connections in lock step, `SIZE`-byte messages) sharing the machine.
//! Runs alternate (io_uring, epoll, tokio, repeat) so that the VM's drift
//! hits all three alike; the servers' workers park between runs.
//!
//! Per server and run: requests per second, the server threads' CPU per
//! request (from `/proc/self/task/*/stat`) and their context switches
//! per request (`/proc/self/task/*/status`); for ferrio also its
//! `io_uring_enter` (or `epoll_wait`) calls and parks per request, from
//! the runtime's own counters. No strace.
//!
//! `cargo bench --bench echo_server -- [ROUNDS] [SECONDS] [CONNS] [SIZE]`
//! (defaults 5, 2, 64, 100). With `ECHO_ONLY=io_uring|epoll|tokio` it
//! drives that one server, round after round, for `perf stat -t`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

/// A ferrio echo server on `driver`, its worker threads named `name`.
fn ferrio_server(driver: ferrio::IoDriver, name: &str) -> (ferrio::Runtime, SocketAddr) {
    let rt = ferrio::Runtime::builder()
        .io_driver(driver)
        .thread_name(name)
        .build()
        .unwrap();
    assert_eq!(
        ferrio::IoDriver::from(rt.handle().io_driver().driver()),
        driver
    );
    let addr = common::serve_ferrio_echo(&rt);
    (rt, addr)
}

/// tokio's echo server, the same shape.
fn tokio_server() -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("tokio-echo")
        .enable_io()
        .build()
        .unwrap();
    let addr = common::serve_tokio_echo(&rt);
    (rt, addr)
}

/// One run of the client against `addr`: requests completed.
fn client_run(
    client: &tokio::runtime::Runtime,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    secs: f64,
) -> u64 {
    client.block_on(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            tasks.push(tokio::spawn(async move {
                let msg = vec![7u8; size];
                let mut back = vec![0u8; size];
                let mut n = 0u64;
                while tokio::time::Instant::now() < deadline {
                    s.write_all(&msg).await.unwrap();
                    s.read_exact(&mut back).await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    })
}

struct Row {
    rps: f64,
    cpu_us: f64,
    csw: f64,
    /// ferrio only (its own counters): `io_uring_enter` or `epoll_wait`
    /// calls, and parks, per request.
    waits: f64,
    parks: f64,
}

/// A ferrio runtime's system calls that wait or submit (`io_uring_enter`
/// plus `epoll_wait`) and its parks, from its counters.
fn ferrio_counts(rt: Option<&ferrio::Runtime>) -> (u64, u64) {
    rt.map_or((0, 0), |rt| {
        let m = rt.handle().metrics();
        (m.io_uring_enters + m.epoll_waits, m.parks)
    })
}

fn measure(
    client: &tokio::runtime::Runtime,
    ferrio_rt: Option<&ferrio::Runtime>,
    prefix: &str,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    secs: f64,
) -> Row {
    // Workers park before the run (cold start, as a server between bursts).
    std::thread::sleep(Duration::from_millis(200));
    let (t0, s0) = common::thread_usage(prefix);
    let (w0, p0) = ferrio_counts(ferrio_rt);
    let start = Instant::now();
    let requests = client_run(client, addr, conns, size, secs);
    let elapsed = start.elapsed().as_secs_f64();
    let (t1, s1) = common::thread_usage(prefix);
    let (w1, p1) = ferrio_counts(ferrio_rt);
    let tick_us = 1e6 / 100.0; // USER_HZ
    Row {
        rps: requests as f64 / elapsed,
        cpu_us: (t1 - t0) as f64 * tick_us / requests as f64,
        csw: (s1 - s0) as f64 / requests as f64,
        waits: (w1 - w0) as f64 / requests as f64,
        parks: (p1 - p0) as f64 / requests as f64,
    }
}

fn range(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{:.2}-{:.2} (median {:.2})",
        s[0],
        s[s.len() - 1],
        s[s.len() / 2]
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let arg = |i: usize, d: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let rounds = arg(0, 5.0) as usize;
    let secs = arg(1, 2.0);
    let conns = arg(2, 64.0) as usize;
    let size = arg(3, 100.0) as usize;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (uring, uring_addr) = ferrio_server(ferrio::IoDriver::IoUring, "fe-uring");
    let (epoll, epoll_addr) = ferrio_server(ferrio::IoDriver::Epoll, "fe-epoll");
    let (_tokio, tokio_addr) = tokio_server();
    // ECHO_ONLY=epoll (or io_uring, tokio): drive that server alone, for
    // `perf stat -t <its threads>`; prints its threads and runs forever.
    if let Ok(only) = std::env::var("ECHO_ONLY") {
        let (prefix, addr, rt) = match only.as_str() {
            "io_uring" => ("fe-uring", uring_addr, Some(&uring)),
            "epoll" => ("fe-epoll", epoll_addr, Some(&epoll)),
            _ => ("tokio-echo", tokio_addr, None),
        };
        println!("driving {prefix} only");
        loop {
            let r = measure(&client, rt, prefix, addr, conns, size, secs);
            println!(
                "{prefix}: {:.0} req/s, {:.2} us/req, {:.3} csw/req, {:.3} enters or waits/req, {:.3} parks/req",
                r.rps, r.cpu_us, r.csw, r.waits, r.parks
            );
        }
    }
    println!(
        "echo {size} B x {conns} conns, default workers ({} CPUs), client on the same machine, {rounds} rounds of {secs} s, alternating",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for round in 0..rounds {
        let u = measure(
            &client,
            Some(&uring),
            "fe-uring",
            uring_addr,
            conns,
            size,
            secs,
        );
        let e = measure(
            &client,
            Some(&epoll),
            "fe-epoll",
            epoll_addr,
            conns,
            size,
            secs,
        );
        let t = measure(&client, None, "tokio-echo", tokio_addr, conns, size, secs);
        for (name, r, waits) in [
            ("ferrio io_uring", &u, "io_uring_enter"),
            ("ferrio epoll", &e, "epoll_wait"),
            ("tokio", &t, ""),
        ] {
            let own = if waits.is_empty() {
                String::new()
            } else {
                format!(", {:.3} {waits}/req, {:.3} parks/req", r.waits, r.parks)
            };
            println!(
                "round {round}: {name:>15}: {:>9.0} req/s, server CPU {:.2} us/req, {:.3} ctx switches/req{own}",
                r.rps, r.cpu_us, r.csw
            );
        }
        ratios[0].push(u.rps / t.rps);
        ratios[1].push(u.cpu_us / t.cpu_us);
        ratios[2].push(e.rps / t.rps);
        ratios[3].push(e.cpu_us / t.cpu_us);
    }
    println!(
        "io_uring / tokio: req/s {}, CPU per request {}",
        range(&ratios[0]),
        range(&ratios[1])
    );
    println!(
        "epoll    / tokio: req/s {}, CPU per request {}",
        range(&ratios[2]),
        range(&ratios[3])
    );
}
