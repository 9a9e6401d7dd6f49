// Over 500 lines: one bench binary, its servers, both client loops, the
// perf stat child and the report belong together and are read together.
//! TCP echo servers as deployed, and the floors under them: ferrio on
//! io_uring, ferrio on epoll, tokio, a bare io_uring loop and a bare
//! epoll loop (`common/floor_uring.rs`, `common/floor_epoll.rs`: no
//! runtime, one thread and one ring or epoll per CPU), each with the
//! default thread count (one per CPU), in one process, with the load
//! generator (one tokio client thread) sharing the machine. Runs
//! alternate (ferrio io_uring, ferrio epoll, tokio, floor io_uring, floor
//! epoll, repeat) so that the VM's drift hits all alike; the servers park
//! between runs.
//!
//! Two client loops:
//! - echo (default): `CONNS` connections in lock step, each writing a
//!   `SIZE`-byte message and reading it back, over and over;
//! - connect (`connect` as an argument, or `ECHO_MODE=connect`): `CONNS`
//!   (default 16) clients at once, each connecting, writing `SIZE`
//!   (default 100) bytes, reading them back and closing, over and over;
//!   "requests" are then connections. The client spreads its connections
//!   over 64 source addresses (127.0.0.2-65) so that its TIME_WAIT
//!   4-tuples do not run out of ephemeral ports.
//!
//! Per server and run: requests per second, the server threads' CPU per
//! request (from `/proc/self/task/*/stat`, threads picked by name) and
//! their context switches per request (`/proc/self/task/*/status`); for
//! ferrio and the floors also their own count of `io_uring_enter` (or
//! `epoll_wait`) calls per request, and ferrio's parks. No strace.
//!
//! ```text
//! cargo bench --bench echo_server -- [ROUNDS] [SECONDS] [CONNS] [SIZE] [connect]
//! ```
//! (defaults 5, 2, 64, 100: about a minute).
//!
//! The floors read into 64 KiB buffers, the runtimes' echo loops into
//! 4 KiB ones (so from 16 KiB up the runtimes make many more reads and
//! writes per request): `FLOOR_BUF=4096` gives the floors 4 KiB too, and
//! `ECHO_BUF=65536` gives the runtimes 64 KiB.
//! `FLOOR_URING_COOP=1` sets the io_uring floor's ring up as ferrio's
//! (COOP_TASKRUN instead of SINGLE_ISSUER + DEFER_TASKRUN);
//! `FLOOR_URING_PLAIN=1` makes it use one-shot receives into
//! per-connection buffers instead of the provided-buffer ring.
//!
//! perf stat numbers, two ways (both need `perf` with tracepoints, e.g.
//! as root or with `/proc/sys/kernel/perf_event_paranoid` at -1):
//! - `ECHO_PERF=1`: every run is also counted by a `perf stat -t <the
//!   server's threads>` child, started before the run and stopped after
//!   it; each round line gets `io_uring_enter`, `epoll_wait(+pwait)`, all
//!   system calls and context switches per request, as perf counted them
//!   (the window includes the 200 ms idle before the run).
//! - `ECHO_ONLY=io_uring|epoll|tokio|floor-uring|floor-epoll`: drives that
//!   one server back to back forever, prints its threads' ids and the
//!   running request count; in another shell run
//!   ```text
//!   perf stat -e syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,raw_syscalls:sys_enter,context-switches -t <TIDS> -- sleep 10
//!   ```
//!   with the printed `<TIDS>` (comma-separated) and divide its counts by
//!   the requests in those 10 s (req/s as printed, times 10).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

use common::floor_epoll::FloorEpoll;
use common::floor_uring::FloorUring;

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

/// The client loop.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Long-lived connections in lock step.
    Echo,
    /// Connect, one message, close.
    Connect,
}

/// One run of the client against `addr`: requests (or, connecting,
/// connections) completed.
fn client_run(
    client: &tokio::runtime::Runtime,
    mode: Mode,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    secs: f64,
) -> u64 {
    client.block_on(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let first = match mode {
                Mode::Echo => Some(tokio::net::TcpStream::connect(addr).await.unwrap()),
                Mode::Connect => None,
            };
            tasks.push(tokio::spawn(async move {
                let msg = vec![7u8; size];
                let mut back = vec![0u8; size];
                let mut n = 0u64;
                if let Some(mut s) = first {
                    s.set_nodelay(true).unwrap();
                    while tokio::time::Instant::now() < deadline {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut back).await.unwrap();
                        n += 1;
                    }
                    return n;
                }
                while tokio::time::Instant::now() < deadline {
                    let mut s = connect_from(addr, n).await;
                    s.set_nodelay(true).unwrap();
                    s.write_all(&msg).await.unwrap();
                    s.read_exact(&mut back).await.unwrap();
                    drop(s);
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

/// Source addresses the connecting client spreads over.
const SOURCES: u64 = 64;

/// A connection to `addr` from source address `127.0.0.(2 + k % SOURCES)`,
/// its port picked at connect time (`IP_BIND_ADDRESS_NO_PORT`). The
/// client closes first, so each closed connection leaves its 4-tuple in
/// TIME_WAIT on the client's side; from one source address the ~28 000
/// ephemeral ports cap a connect loop at about 14 000 connections/s
/// whatever the server, many source addresses lift that cap.
async fn connect_from(addr: SocketAddr, k: u64) -> tokio::net::TcpStream {
    use std::os::fd::AsRawFd;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    let one: libc::c_int = 1;
    // SAFETY: `one` outlives the call, on a socket this function owns.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(
        r,
        0,
        "IP_BIND_ADDRESS_NO_PORT: {}",
        std::io::Error::last_os_error()
    );
    let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + (k % SOURCES) as u8);
    sock.bind(SocketAddr::new(source.into(), 0)).unwrap();
    sock.connect(addr).await.unwrap()
}

/// The server behind a name.
enum Kind {
    Ferrio(ferrio::Runtime),
    Tokio(#[allow(dead_code)] tokio::runtime::Runtime),
    FloorUring(FloorUring),
    FloorEpoll(FloorEpoll),
}

struct Server {
    /// As printed.
    name: &'static str,
    /// Its threads' name prefix.
    prefix: &'static str,
    /// What its own wait counter counts, if it has one.
    waits: &'static str,
    addr: SocketAddr,
    kind: Kind,
}

impl Server {
    /// Its own counts so far: waiting or submitting calls
    /// (`io_uring_enter`, `epoll_wait`) and parks (ferrio only).
    fn counts(&self) -> (u64, u64) {
        match &self.kind {
            Kind::Ferrio(rt) => {
                let m = rt.handle().metrics();
                (m.io_uring_enters + m.epoll_waits, m.parks)
            }
            Kind::Tokio(_) => (0, 0),
            Kind::FloorUring(f) => (f.enters(), 0),
            Kind::FloorEpoll(f) => (f.epoll_waits(), 0),
        }
    }
}

/// The perf events counted with `ECHO_PERF=1`, in this order.
const PERF_EVENTS: [&str; 5] = [
    "syscalls:sys_enter_io_uring_enter",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_epoll_pwait",
    "raw_syscalls:sys_enter",
    "context-switches",
];

/// A `perf stat` child counting `PERF_EVENTS` on some threads.
struct Perf {
    child: std::process::Child,
    out: std::path::PathBuf,
}

impl Perf {
    fn start(tids: &[u32]) -> Option<Perf> {
        let out = std::env::temp_dir().join(format!("echo_server_perf_{}.csv", std::process::id()));
        let tids: Vec<String> = tids.iter().map(u32::to_string).collect();
        let child = std::process::Command::new("perf")
            .args(["stat", "-x", ",", "-o"])
            .arg(&out)
            .args(["-e", &PERF_EVENTS.join(","), "-t", &tids.join(",")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| eprintln!("ECHO_PERF: cannot run perf: {e}"))
            .ok()?;
        Some(Perf { child, out })
    }

    /// Stops it; the counts in `PERF_EVENTS` order (None: not counted).
    fn stop(mut self) -> Vec<Option<u64>> {
        // SAFETY: a signal to our own child, by its id.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        PERF_EVENTS
            .iter()
            .map(|ev| {
                text.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (f.len() > 2 && f[2] == *ev)
                        .then(|| f[0].parse().ok())
                        .flatten()
                })
            })
            .collect()
    }
}

struct Row {
    rps: f64,
    cpu_us: f64,
    csw: f64,
    /// Own counters (ferrio, floors): `io_uring_enter` or `epoll_wait`
    /// calls, and parks, per request.
    waits: f64,
    parks: f64,
    /// perf's counts per request, `PERF_EVENTS` order, with `ECHO_PERF=1`.
    perf: Vec<Option<f64>>,
}

fn measure(
    client: &tokio::runtime::Runtime,
    s: &Server,
    mode: Mode,
    conns: usize,
    size: usize,
    secs: f64,
    cold: bool,
) -> Row {
    let perf = std::env::var_os("ECHO_PERF")
        .is_some_and(|v| v == "1")
        .then(|| Perf::start(&common::thread_ids(s.prefix)))
        .flatten();
    // Servers park before the run (cold start, as between bursts); this
    // also gives perf time to attach.
    if cold || perf.is_some() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (t0, s0) = common::thread_usage(s.prefix);
    let (w0, p0) = s.counts();
    let start = Instant::now();
    let requests = client_run(client, mode, s.addr, conns, size, secs);
    let elapsed = start.elapsed().as_secs_f64();
    let (t1, s1) = common::thread_usage(s.prefix);
    let (w1, p1) = s.counts();
    let counted = perf.map(Perf::stop).unwrap_or_default();
    let per = |v: u64| v as f64 / requests as f64;
    let tick_us = 1e6 / 100.0; // USER_HZ
    Row {
        rps: requests as f64 / elapsed,
        cpu_us: (t1 - t0) as f64 * tick_us / requests as f64,
        csw: per(s1 - s0),
        waits: per(w1 - w0),
        parks: per(p1 - p0),
        perf: counted.into_iter().map(|c| c.map(per)).collect(),
    }
}

/// "min-max (median m)".
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

/// The same with three decimals, for calls per request.
fn range3(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{:.3}-{:.3} (median {:.3})",
        s[0],
        s[s.len() - 1],
        s[s.len() / 2]
    )
}

fn perf_text(perf: &[Option<f64>]) -> String {
    if perf.is_empty() {
        return String::new();
    }
    let f = |i: usize| {
        perf.get(i)
            .copied()
            .flatten()
            .map_or("-".into(), |v: f64| format!("{v:.3}"))
    };
    let epoll = match (
        perf.get(1).copied().flatten(),
        perf.get(2).copied().flatten(),
    ) {
        (None, None) => "-".into(),
        (a, b) => format!("{:.3}", a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    format!(
        "; perf: {} io_uring_enter/req, {epoll} epoll_wait/req, {} syscalls/req, {} csw/req",
        f(0),
        f(3),
        f(4)
    )
}

fn main() {
    let mut mode = match std::env::var("ECHO_MODE").as_deref() {
        Ok("connect") => Mode::Connect,
        _ => Mode::Echo,
    };
    let mut args = Vec::new();
    for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        if a == "connect" {
            mode = Mode::Connect;
        } else {
            args.push(a);
        }
    }
    let arg = |i: usize, d: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let rounds = arg(0, 5.0) as usize;
    let secs = arg(1, 2.0);
    let (conns, size) = match mode {
        Mode::Echo => (arg(2, 64.0) as usize, arg(3, 100.0) as usize),
        Mode::Connect => (arg(2, 16.0) as usize, arg(3, 100.0) as usize),
    };
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (uring, uring_addr) = ferrio_server(ferrio::IoDriver::IoUring, "fe-uring");
    let (epoll, epoll_addr) = ferrio_server(ferrio::IoDriver::Epoll, "fe-epoll");
    let (tokio_rt, tokio_addr) = tokio_server();
    // The floors read into 64 KiB buffers; the runtimes' echo loops
    // (`common::ferrio_echo`, `common::tokio_echo`) into 4 KiB ones:
    // `FLOOR_BUF=4096` makes the floors read as small, `ECHO_BUF=65536`
    // the runtimes as large.
    let floor_buf = std::env::var("FLOOR_BUF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(common::floor_uring::BUF);
    let floor_uring = FloorUring::start(0, floor_buf);
    let floor_epoll = FloorEpoll::start(0, floor_buf);
    let uring_setup = floor_uring.describe().to_string();
    let servers = [
        Server {
            name: "ferrio io_uring",
            prefix: "fe-uring",
            waits: "io_uring_enter",
            addr: uring_addr,
            kind: Kind::Ferrio(uring),
        },
        Server {
            name: "ferrio epoll",
            prefix: "fe-epoll",
            waits: "epoll_wait",
            addr: epoll_addr,
            kind: Kind::Ferrio(epoll),
        },
        Server {
            name: "tokio",
            prefix: "tokio-echo",
            waits: "",
            addr: tokio_addr,
            kind: Kind::Tokio(tokio_rt),
        },
        Server {
            name: "floor io_uring",
            prefix: "floor-uring",
            waits: "io_uring_enter",
            addr: floor_uring.addr(),
            kind: Kind::FloorUring(floor_uring),
        },
        Server {
            name: "floor epoll",
            prefix: "floor-epoll",
            waits: "epoll_wait",
            addr: floor_epoll.addr(),
            kind: Kind::FloorEpoll(floor_epoll),
        },
    ];
    let (unit, what) = match mode {
        Mode::Echo => ("req", format!("echo {size} B x {conns} conns")),
        Mode::Connect => (
            "conn",
            format!("connect, {size} B, close ({conns} at once)"),
        ),
    };
    // ECHO_ONLY=epoll (or io_uring, tokio, floor-uring, floor-epoll):
    // drive that server alone, for `perf stat -t <its threads>`; prints
    // its threads and runs forever.
    if let Ok(only) = std::env::var("ECHO_ONLY") {
        let i = match only.as_str() {
            "io_uring" => 0,
            "epoll" => 1,
            "tokio" => 2,
            "floor-uring" => 3,
            "floor-epoll" => 4,
            other => panic!(
                "ECHO_ONLY={other}: expected io_uring, epoll, tokio, floor-uring or floor-epoll"
            ),
        };
        let s = &servers[i];
        let tids: Vec<String> = common::thread_ids(s.prefix)
            .iter()
            .map(u32::to_string)
            .collect();
        println!(
            "driving {} only ({what}); its threads: {}",
            s.name,
            tids.join(",")
        );
        println!(
            "perf stat -e syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,raw_syscalls:sys_enter,context-switches -t {} -- sleep 10",
            tids.join(",")
        );
        let (mut total, start) = (0u64, Instant::now());
        loop {
            let r = measure(&client, s, mode, conns, size, secs, false);
            total += (r.rps * secs) as u64;
            println!(
                "{}: {:.0} {unit}/s, {:.2} us/{unit}, {:.3} csw/{unit}, {:.3} own waits/{unit}, {:.3} parks/{unit}{}; ~{total} {unit}s in {:.1} s",
                s.name,
                r.rps,
                r.cpu_us,
                r.csw,
                r.waits,
                r.parks,
                perf_text(&r.perf),
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "{what}, default threads ({} CPUs), client on the same machine, {rounds} rounds of {secs} s, alternating",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("floor io_uring: {uring_setup}; floor epoll: reads of {floor_buf} B");
    let mut rows: Vec<Vec<Row>> = (0..servers.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (s, out) in servers.iter().zip(rows.iter_mut()) {
            let r = measure(&client, s, mode, conns, size, secs, true);
            let own = match (s.waits, &s.kind) {
                ("", _) => String::new(),
                (w, Kind::Ferrio(_)) => {
                    format!(", {:.3} {w}/{unit}, {:.3} parks/{unit}", r.waits, r.parks)
                }
                (w, _) => format!(", {:.3} {w}/{unit}", r.waits),
            };
            println!(
                "round {round}: {:>15}: {:>9.0} {unit}/s, server CPU {:.2} us/{unit}, {:.3} ctx switches/{unit}{own}{}",
                s.name,
                r.rps,
                r.cpu_us,
                r.csw,
                perf_text(&r.perf)
            );
            out.push(r);
        }
    }
    let ratio = |a: usize, b: usize, f: fn(&Row) -> f64| -> Vec<f64> {
        rows[a]
            .iter()
            .zip(&rows[b])
            .map(|(x, y)| f(x) / f(y))
            .collect()
    };
    let rps = |r: &Row| r.rps;
    let cpu = |r: &Row| r.cpu_us;
    println!("ratios per round (min-max, median):");
    for (i, label) in [
        (0, "ferrio io_uring"),
        (1, "ferrio epoll"),
        (3, "floor io_uring"),
        (4, "floor epoll"),
    ] {
        println!(
            "{label:>15} / tokio: {unit}/s {}, CPU per {unit} {}",
            range(&ratio(i, 2, rps)),
            range(&ratio(i, 2, cpu))
        );
    }
    for (a, b, label) in [(0, 3, "io_uring"), (1, 4, "epoll")] {
        println!(
            "ferrio {label:>8} / floor: {unit}/s {}, CPU per {unit} {}",
            range(&ratio(a, b, rps)),
            range(&ratio(a, b, cpu))
        );
    }
    let waits = |i: usize| -> Vec<f64> { rows[i].iter().map(|r| r.waits).collect() };
    println!(
        "io_uring_enter/{unit} (own counters): ferrio {}, floor {}",
        range3(&waits(0)),
        range3(&waits(3))
    );
    println!(
        "epoll_wait/{unit} (own counters): ferrio {}, floor {}",
        range3(&waits(1)),
        range3(&waits(4))
    );
    if rows[0].first().is_some_and(|r| !r.perf.is_empty()) {
        for (i, s) in servers.iter().enumerate() {
            let col = |k: usize| -> Vec<f64> {
                rows[i]
                    .iter()
                    .map(|r| r.perf.get(k).copied().flatten().unwrap_or(0.0))
                    .collect()
            };
            let epoll: Vec<f64> = col(1).iter().zip(col(2)).map(|(a, b)| a + b).collect();
            println!(
                "perf, {:>15}: io_uring_enter/{unit} {}, epoll_wait/{unit} {}, syscalls/{unit} {}",
                s.name,
                range3(&col(0)),
                range3(&epoll),
                range3(&col(3))
            );
        }
    }
}
