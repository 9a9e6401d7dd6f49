//! hyper 1.x hello world on ferrio (`ferrio::hyper`) and on tokio
//! (hyper-util's `TokioIo`), both with their default worker count, in one
//! process, under `wrk` from the same machine: runs alternate between
//! the two servers, and each reports requests/s, server CPU per request
//! and context switches per request (getrusage of this process, which
//! only the server under load uses; wrk is another process), and for
//! ferrio the `io_uring_enter` calls per request (its own counters).
//!
//! `cargo bench --features hyper --bench hyper_hello [-- ROUNDS SECONDS CONNECTIONS]`
//! (default 5 rounds of 5 s at 64 connections). Needs `wrk` on the PATH.

use std::convert::Infallible;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

mod common;

async fn hello<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!\n",
    ))))
}

fn ferrio_server() -> (ferrio::Runtime, String) {
    let rt = ferrio::Runtime::new().unwrap();
    let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            drop(ferrio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(ferrio::hyper::Timer)
                    .serve_connection(
                        ferrio::hyper::Io::new(stream),
                        hyper::service::service_fn(hello),
                    )
                    .await;
            }));
        }
    }));
    (rt, addr)
}

fn tokio_server() -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(hello),
                    )
                    .await;
            });
        }
    });
    (rt, addr)
}

/// CPU time (user + system) and context switches of this process.
fn usage() -> (Duration, u64) {
    // SAFETY: getrusage fills the zeroed struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
    )
}

struct Run {
    rps: f64,
    cpu_us_per_req: f64,
    csw_per_req: f64,
}

fn wrk(addr: &str, seconds: u64, conns: u64) -> Run {
    let (cpu0, csw0) = usage();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{seconds}s"),
            &format!("http://{addr}/"),
        ])
        .output()
        .expect("wrk must be installed (Debian: apt-get install wrk)");
    let (cpu1, csw1) = usage();
    let text = String::from_utf8_lossy(&out.stdout);
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let requests = rps * seconds as f64;
    Run {
        rps,
        cpu_us_per_req: (cpu1 - cpu0).as_secs_f64() * 1e6 / requests,
        csw_per_req: (csw1 - csw0) as f64 / requests,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(5);
    let seconds = args.get(1).copied().unwrap_or(5);
    let conns = args.get(2).copied().unwrap_or(64);
    let (ferrio_rt, ferrio_addr) = ferrio_server();
    let (_tokio_rt, tokio_addr) = tokio_server();
    println!(
        "hyper hello, wrk -t1 -c{conns} -d{seconds}s, default workers ({} here), {rounds} rounds",
        ferrio_rt.handle().num_workers()
    );
    println!(
        "round  ferrio req/s  tokio req/s  ratio  cpu us/req f/t   csw/req f/t   ferrio enters/req"
    );
    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Alternate which server goes first.
        let (f, t, enters) = if round % 2 == 0 {
            let before = ferrio_rt.handle().metrics();
            let f = wrk(&ferrio_addr, seconds, conns);
            let after = ferrio_rt.handle().metrics();
            (f, wrk(&tokio_addr, seconds, conns), (before, after))
        } else {
            let t = wrk(&tokio_addr, seconds, conns);
            let before = ferrio_rt.handle().metrics();
            let f = wrk(&ferrio_addr, seconds, conns);
            (f, t, (before, ferrio_rt.handle().metrics()))
        };
        let requests = f.rps * seconds as f64;
        let enters = (enters.1.io_uring_enters - enters.0.io_uring_enters) as f64 / requests;
        let ratio = f.rps / t.rps;
        ratios.push(ratio);
        println!(
            "{round:>5}  {:>12.0}  {:>11.0}  {ratio:>5.2}  {:>5.2} / {:<5.2}  {:>5.3} / {:<5.3}  {enters:.3}",
            f.rps, t.rps, f.cpu_us_per_req, t.cpu_us_per_req, f.csw_per_req, t.csw_per_req
        );
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    println!(
        "ferrio/tokio req/s: median {:.2}, range {:.2}-{:.2}",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
