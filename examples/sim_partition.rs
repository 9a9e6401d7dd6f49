//! A client and a server on the unchanged `ferrio::net` types, in a
//! simulated world (feature `sim`): the client retries with a 1 s
//! timeout through a 10 s partition, each timeout firing at exactly the
//! virtual time expected; the same world under 100 seeds; and a
//! deliberately racy world whose failure a seed finds and replays.
//!
//! `cargo run --release --features sim --example sim_partition`
//! (set `FERRIO_SIM_SEED` to replay one seed of the racy world).

use std::time::{Duration, Instant};

use ferrio::net::{TcpListener, TcpStream};
use ferrio::sim::{Net, Sim, SimReport};

/// An echo server on `server:80`, and a client that pings it with a 1 s
/// timeout per attempt through a 10 s partition. Returns the virtual
/// times (since the start) at which attempts gave up, and the answer.
fn world(sim: Sim) -> SimReport<(Vec<Duration>, Vec<u8>)> {
    sim.run(|net: Net| async move {
        let server = net.host("server");
        let client = net.host("client");
        // Tasks whose handles are dropped run on, detached.
        drop(server.spawn(async {
            let listener = TcpListener::bind("0.0.0.0:80").unwrap();
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                drop(ferrio::spawn(async move {
                    let (n, buf) = conn.read(Vec::with_capacity(64)).await;
                    let n = n.unwrap();
                    conn.write_all(buf[..n].to_vec()).await.0.unwrap();
                }));
            }
        }));
        let start = ferrio::time::now();
        net.partition(&client, &server);
        let (n, c, s) = (net.clone(), client.clone(), server.clone());
        drop(ferrio::spawn(async move {
            ferrio::time::sleep(Duration::from_millis(10_500)).await;
            n.repair(&c, &s);
        }));
        client
            .spawn(async move {
                let mut gave_up = Vec::new();
                loop {
                    let attempt = async {
                        let s = TcpStream::connect("server:80").await?;
                        s.write_all(&b"ping"[..]).await.0?;
                        let (n, buf) = s.read(Vec::with_capacity(64)).await;
                        Ok::<_, std::io::Error>(buf[..n?].to_vec())
                    };
                    match ferrio::time::wait_for(attempt, Duration::from_secs(1)).await {
                        Ok(Ok(answer)) => return (gave_up, answer),
                        _ => gave_up.push(ferrio::time::now() - start),
                    }
                }
            })
            .await
            .unwrap()
    })
}

/// Two clients race to greet the server; the test (wrongly) expects
/// `a` to win. Which wins is decided by the latency jitter, so by the
/// seed.
fn racy(seed: u64) -> SimReport<String> {
    Sim::new(seed)
        .latency(Duration::from_millis(1), Duration::from_millis(2))
        .run(|net: Net| async move {
            let server = net.host("server");
            let listener = server
                .scope(async { TcpListener::bind("0.0.0.0:80") })
                .await
                .unwrap();
            for name in ["a", "b"] {
                drop(net.host(name).spawn(async move {
                    let s = TcpStream::connect("server:80").await.unwrap();
                    s.write_all(name.as_bytes().to_vec()).await.0.unwrap();
                }));
            }
            let (first, _) = listener.accept().await.unwrap();
            let (n, buf) = first.read(Vec::with_capacity(1)).await;
            String::from_utf8(buf[..n.unwrap()].to_vec()).unwrap()
        })
}

fn main() {
    let wall = Instant::now();
    let report = world(Sim::new(1).latency(Duration::from_millis(5), Duration::ZERO));
    let (gave_up, answer) = &report.output;
    let expected: Vec<Duration> = (1..=11).map(Duration::from_secs).collect();
    assert_eq!(
        gave_up, &expected,
        "each timeout fires at exactly n seconds"
    );
    assert_eq!(answer, b"ping");
    println!(
        "11 timeouts at 1 s, 2 s, ... 11 s, then an answer at {:?} of virtual time, \
         in {:?} of wall time (event hash {:#x})",
        report.elapsed,
        wall.elapsed(),
        report.event_hash
    );

    let wall = Instant::now();
    for seed in 0..100 {
        let r = world(Sim::new(seed));
        assert_eq!(r.output.1, b"ping", "seed {seed}");
        assert_eq!(r.output.0.len(), 11, "seed {seed}");
    }
    println!(
        "100 seeds, with jitter: all answered after 11 timeouts, in {:?}",
        wall.elapsed()
    );

    if let Ok(seed) = std::env::var(ferrio::sim::SEED_ENV) {
        let sim = Sim::from_env();
        let r = racy(sim.seed());
        println!(
            "replayed seed {seed}: {} won (hash {:#x})",
            r.output, r.event_hash
        );
        return;
    }
    let failing = (0..100).find(|&s| racy(s).output != "a");
    match failing {
        Some(seed) => {
            let (one, two) = (racy(seed), racy(seed));
            assert_eq!(one, two, "a seed replays its run");
            println!(
                "the racy world fails under seed {seed} ({} won); replay it with {}={seed}",
                one.output,
                ferrio::sim::SEED_ENV
            );
        }
        None => println!("no seed of 100 made b win"),
    }
}
