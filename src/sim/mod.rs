//! Deterministic simulation (feature `sim`): a world of named hosts run
//! in virtual time, from a seed, replayable by that seed.
//!
//! [`Sim::run`] builds a runtime of one worker on a paused clock (see
//! [`time::pause`](crate::time::pause)): time jumps to the next event
//! whenever every task waits, so a simulated second costs microseconds.
//! The world gets a [`Net`]: hosts, with TCP-like streams between them
//! whose segments take a latency (plus a jitter drawn from the seed),
//! and partitions between two hosts, with their repair. Every network
//! event is folded with its virtual time into a hash
//! ([`SimReport::event_hash`]): the same seed gives the same hash, in
//! one process and across processes. A run that panics prints its seed
//! (`ferrio::sim: ... FERRIO_SIM_SEED=...`); [`Sim::from_env`] takes the
//! seed from that variable, so setting it replays the run.
//!
//! ```
//! use std::time::Duration;
//! use ferrio::sim::Sim;
//!
//! let report = Sim::new(7).run(|net| async move {
//!     let server = net.host("server");
//!     let client = net.host("client");
//!     let mut listener = server.bind(80).unwrap();
//!     let _server = ferrio::spawn(async move {
//!         let (mut s, _) = listener.accept().await.unwrap();
//!         let mut buf = [0; 4];
//!         let n = s.read(&mut buf).await.unwrap();
//!         s.write_all(&buf[..n]).await.unwrap();
//!     });
//!     let mut c = client.connect("server", 80).await.unwrap();
//!     c.write_all(b"ping").await.unwrap();
//!     let mut buf = [0; 4];
//!     assert_eq!(c.read(&mut buf).await.unwrap(), 4);
//!     &buf == b"ping"
//! });
//! assert!(report.output);
//! // Same seed, same run:
//! assert_eq!(report.event_hash, Sim::new(7).run(|net| async move {
//!     let server = net.host("server");
//!     let client = net.host("client");
//!     let mut listener = server.bind(80).unwrap();
//!     let _server = ferrio::spawn(async move {
//!         let (mut s, _) = listener.accept().await.unwrap();
//!         let mut buf = [0; 4];
//!         let n = s.read(&mut buf).await.unwrap();
//!         s.write_all(&buf[..n]).await.unwrap();
//!     });
//!     let mut c = client.connect("server", 80).await.unwrap();
//!     c.write_all(b"ping").await.unwrap();
//!     let mut buf = [0; 4];
//!     c.read(&mut buf).await.unwrap();
//!     &buf == b"ping"
//! }).event_hash);
//! ```
//!
//! # The unchanged `ferrio::net` types on the simulated network
//!
//! Inside a world, [`TcpListener`](crate::net::TcpListener),
//! [`TcpStream`](crate::net::TcpStream) (and its halves),
//! [`TcpSocket`](crate::net::TcpSocket),
//! [`UdpSocket`](crate::net::UdpSocket),
//! [`lookup_host`](crate::net::lookup_host) and the Streams
//! ([`open_connection`](crate::open_connection),
//! [`start_server`](crate::start_server)) run on the world's network, with
//! no real socket opened: the code under test does not change. Each host
//! has an address, `10.0.0.N` for the N-th host named
//! ([`Host::ip`]); `"server:80"` resolves to it. A task says which host
//! it runs on by being started with [`Host::spawn`] (or wrapped in
//! [`Host::scope`]): the sockets it makes are that host's, and `0.0.0.0`
//! or `127.0.0.1` mean that host. Their ops go through the worker's
//! driver to a third backend, the world's model (the op seam: one
//! translation of `driver::Call`, one variant of the worker's driver, one
//! `Stage` arm of the op future), so outside a sim nothing on the I/O
//! path changes. A socket's descriptor is an inert `eventfd` placeholder.
//!
//! The model: a connect takes a round trip (SYN, SYN-ACK), is refused
//! where nobody listens and lost across a partition; segments take one
//! way each, in order, held by a partition until its repair; a close is
//! the peer's end of stream, a segment to a closed socket is answered by
//! a reset. Faults from the seed: [`Sim::udp_loss`],
//! [`Sim::reset_chance`]; and on call: [`Net::partition`]/[`Net::repair`],
//! [`Net::reset`], [`Host::crash`]/[`Host::restart`] (its tasks aborted,
//! listeners gone, peers reset). Socket options are accepted and change
//! nothing; reading one (but `nodelay`, always true) is refused with
//! `ferrio: not simulated: ...`. Not simulated: Unix sockets, `from_std`,
//! `into_std`, the readiness calls `try_read`/`try_write`/`peek` (plain
//! system calls on the placeholder: they fail, touching no network).
//!
//! ```
//! use std::time::Duration;
//! use ferrio::net::{TcpListener, TcpStream};
//! use ferrio::sim::Sim;
//!
//! let sim = Sim::new(11).latency(Duration::from_millis(5), Duration::ZERO);
//! let report = sim.run(|net| async move {
//!     let server = net.host("server");
//!     let client = net.host("client");
//!     let _server = server.spawn(async {
//!         let listener = TcpListener::bind("0.0.0.0:80").unwrap();
//!         loop {
//!             let (conn, _) = listener.accept().await.unwrap();
//!             let (n, buf) = conn.read(Vec::with_capacity(64)).await;
//!             conn.write_all(buf[..n.unwrap()].to_vec()).await.0.unwrap();
//!         }
//!     });
//!     // A client that retries with a 1 s timeout, through a 3 s partition.
//!     net.partition(&client, &server);
//!     let (n2, c2, s2) = (net.clone(), client.clone(), server.clone());
//!     let _repair = ferrio::spawn(async move {
//!         ferrio::time::sleep(Duration::from_millis(2500)).await;
//!         n2.repair(&c2, &s2);
//!     });
//!     client
//!         .spawn(async {
//!             let mut attempts = 0;
//!             loop {
//!                 attempts += 1;
//!                 let connect = TcpStream::connect("server:80");
//!                 if let Ok(Ok(s)) = ferrio::time::wait_for(connect, Duration::from_secs(1)).await {
//!                     s.write_all(&b"hi"[..]).await.0.unwrap();
//!                     let (n, buf) = s.read(Vec::with_capacity(8)).await;
//!                     assert_eq!(&buf[..n.unwrap()], b"hi");
//!                     return (attempts, ferrio::time::now());
//!                 }
//!             }
//!         })
//!         .await
//!         .unwrap()
//!         .0
//! });
//! // Three SYNs are lost in the partition; the fourth, at 3 s, connects
//! // and its round trips take 4 × 5 ms.
//! assert_eq!(report.output, 4);
//! assert_eq!(report.elapsed, Duration::from_millis(3020));
//! ```
//!
//! The older stream types of this module ([`Host::connect`],
//! [`Host::bind`], [`SimListener`], [`SimStream`]) share the network's
//! hosts, partitions, latency, seed and hash.
//!
//! # The order of runnable tasks is drawn from the seed
//!
//! The world's one worker does not run its runnable tasks in queue order:
//! each time it picks the next, every runnable task is a candidate, and
//! the seed's generator draws one. So one seed is one interleaving,
//! replayed exactly, and other seeds try others: a test that is right
//! only in spawn order fails under some seed. The watchdog reports a
//! world's task stuck in a poll but never moves its work (a rescue's
//! timing would decide the order), and no thread but the worker
//! schedules anything once the world has started.
//!
//! ```
//! use ferrio::sim::Sim;
//! use std::sync::{Arc, Mutex};
//!
//! // Three tasks each append their name: the order depends on the seed.
//! let order = |seed| {
//!     Sim::new(seed)
//!         .run(|_net| async {
//!             let seen = Arc::new(Mutex::new(String::new()));
//!             let tasks: Vec<_> = ["a", "b", "c"]
//!                 .into_iter()
//!                 .map(|name| {
//!                     let seen = seen.clone();
//!                     ferrio::spawn(async move { seen.lock().unwrap().push_str(name) })
//!                 })
//!                 .collect();
//!             for t in tasks {
//!                 t.await.unwrap();
//!             }
//!             let s = seen.lock().unwrap().clone();
//!             s
//!         })
//!         .output
//! };
//! assert_eq!(order(5), order(5));
//! let orders: std::collections::BTreeSet<String> = (0..32).map(order).collect();
//! assert!(orders.len() > 1, "{orders:?}");
//! ```
//!
//! # What is not simulated is refused, not run for real
//!
//! Work the model cannot put in the world's order is decided per kind,
//! where it starts (a flag of the sim's runtime, read through the
//! thread's current handle; never on a running op):
//!
//! - [`to_thread`](crate::to_thread) and
//!   [`Handle::run_in_executor`](crate::Handle::run_in_executor) run their
//!   function **inline**, on the calling task, before they return; the
//!   task they return is already finished (a panic of the function makes
//!   it resolve to `TaskError::Panicked`, as on the pool). Virtual time
//!   does not pass while it runs, so the run stays a function of its seed.
//! - Files ([`crate::fs`]: every path operation, `File::open`,
//!   `OpenOptions::open`) and subprocesses ([`crate::process::Command`]:
//!   `spawn`, `output`, `status`) fail with an `io::Error` of kind
//!   `Unsupported` whose message starts `ferrio: not simulated: `.
//! - Real sockets (the Unix sockets, every `from_std`) fail the same
//!   way; ferrio's own TCP and UDP constructors run on the world's
//!   network (above).
//!
//! A descriptor made outside ferrio and wrapped without an error path
//! (`fs::File::from_std`) is not caught: it runs for real.
//!
//! ```
//! use ferrio::sim::Sim;
//!
//! let report = Sim::new(1).run(|_net| async {
//!     let e = ferrio::fs::read("/etc/hostname").await.unwrap_err();
//!     assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
//!     assert!(e.to_string().starts_with("ferrio: not simulated: "));
//!     let e = ferrio::net::UnixStream::pair().unwrap_err();
//!     assert!(e.to_string().starts_with("ferrio: not simulated: "));
//!     // Runs here and now, on the world's own task.
//!     ferrio::to_thread(|| 6 * 7).await.unwrap()
//! });
//! assert_eq!(report.output, 42);
//! ```

mod backend;
mod log;
mod net;
mod pump;
mod rng;
mod world;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use net::{Host, Net, OnHost, SimListener, SimStream};

use self::log::EventLog;
use self::rng::SimRng;

/// The environment variable that [`Sim::from_env`] reads the seed from
/// (decimal, or hex with `0x`).
pub const SEED_ENV: &str = "FERRIO_SIM_SEED";

/// A simulation's settings: its seed and its network's latency.
#[derive(Debug, Clone)]
pub struct Sim {
    seed: u64,
    latency: Duration,
    jitter: Duration,
    udp_loss: f64,
    reset_chance: f64,
}

/// What a run gave: the world's output, the hash and count of its
/// events, and how much virtual time it took.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimReport<T> {
    /// What the world's future returned.
    pub output: T,
    /// The seed of the run.
    pub seed: u64,
    /// The hash of every event, with its virtual time.
    pub event_hash: u64,
    /// How many events.
    pub events: u64,
    /// Virtual time from the start to the end of the run.
    pub elapsed: Duration,
}

impl Sim {
    /// A simulation of seed `seed`, with a one-way latency of 1 ms plus
    /// up to 500 µs of jitter.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            latency: Duration::from_millis(1),
            jitter: Duration::from_micros(500),
            udp_loss: 0.0,
            reset_chance: 0.0,
        }
    }

    /// Each UDP datagram (of `ferrio::net::UdpSocket`) is lost with
    /// probability `p` (0 to 1), drawn from the seed. 0 by default.
    pub fn udp_loss(mut self, p: f64) -> Sim {
        self.udp_loss = p.clamp(0.0, 1.0);
        self
    }

    /// Each TCP send (of `ferrio::net`) resets its connection with
    /// probability `p` (0 to 1), drawn from the seed: the sender's call
    /// fails with `ConnectionReset`, and its peer's next read after one
    /// way. 0 by default.
    pub fn reset_chance(mut self, p: f64) -> Sim {
        self.reset_chance = p.clamp(0.0, 1.0);
        self
    }

    /// A simulation whose seed is `FERRIO_SIM_SEED` (see [`SEED_ENV`]),
    /// or else a fresh one (from the system time), which a failing run
    /// prints.
    ///
    /// # Panics
    /// When the variable is set but not a number.
    pub fn from_env() -> Sim {
        Sim::new(seed_from(std::env::var(SEED_ENV).ok()).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Sets the one-way latency of every link: `base` plus a jitter drawn
    /// from the seed, up to `jitter`.
    pub fn latency(mut self, base: Duration, jitter: Duration) -> Sim {
        self.latency = base;
        self.jitter = jitter;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs the world `world` to its end on a fresh runtime of one worker
    /// with a paused clock, and reports. A panic of the world (an assert
    /// that failed) is printed with the seed to replay it, then re-raised.
    ///
    /// # Panics
    /// When the world panics (after printing the seed), or when no
    /// runtime can be built.
    pub fn run<F, Fut>(&self, world: F) -> SimReport<Fut::Output>
    where
        F: FnOnce(Net) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let rng = Arc::new(SimRng::new(self.seed));
        let log = Arc::new(EventLog::new());
        let config = net::NetConfig {
            latency: self.latency,
            jitter: self.jitter,
            udp_loss: self.udp_loss,
            reset_chance: self.reset_chance,
        };
        let net = Net::new(config, rng, log.clone());
        let rt = crate::Runtime::builder()
            .start_paused(true)
            .thread_name("ferrio-sim")
            .io_driver(crate::IoDriver::Epoll)
            .simulated()
            .schedule_seed(self.seed)
            .sim_backend(net.inner().clone())
            .build()
            .unwrap_or_else(|e| panic!("ferrio::sim: cannot build the runtime: {e}"));
        let start = rt.block_on(async {
            net.start();
            crate::time::now()
        });
        let model = net.inner().clone();
        let pump = pump::Pump::new(model.clone());
        let world = world(net);
        // The world runs as a task on the one worker, which starts the
        // pump itself (so no other thread's timing decides which of the
        // two is runnable first), and its report is taken there as it
        // ends (other tasks may still run after it): this thread only
        // waits, so nothing races the worker's order.
        let task = rt.spawn(async move {
            drop(crate::spawn(pump));
            let output = world.await;
            (output, log.snapshot(), crate::time::now() - start)
        });
        let outcome = rt.block_on(task);
        let elapsed_now = rt.block_on(async { crate::time::now() - start });
        // The runtime holds the model (its backend), and the model holds
        // wakers and abort handles of the runtime's tasks: after the
        // runtime ends, the model lets them go, breaking the cycle.
        drop(rt);
        model.clear();
        match outcome {
            Ok((output, (event_hash, events), elapsed)) => SimReport {
                output,
                seed: self.seed,
                event_hash,
                events,
                elapsed,
            },
            Err(e) => {
                let elapsed = elapsed_now;
                eprintln!(
                    "ferrio::sim: the run failed at {elapsed:?} of virtual time; \
                     replay it with {SEED_ENV}={}",
                    self.seed
                );
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
                panic!("ferrio::sim: the world was cancelled");
            }
        }
    }
}

/// Why `FERRIO_SIM_SEED` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError(String);

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ferrio: {SEED_ENV}={:?} is not a seed (a decimal number, or hex with 0x)",
            self.0
        )
    }
}

impl std::error::Error for SeedError {}

/// The seed in `var` (the variable's value), or a fresh one when unset.
pub(crate) fn seed_from(var: Option<String>) -> Result<u64, SeedError> {
    let Some(v) = var else {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return Ok(t ^ ((std::process::id() as u64) << 32));
    };
    let s = v.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| SeedError(v))
}

/// How many ops wait on the simulated socket `fd` (tests).
#[cfg(test)]
pub(crate) fn waiters(net: &Net, fd: std::os::fd::RawFd) -> usize {
    net.inner().world.lock().waiters(fd)
}
