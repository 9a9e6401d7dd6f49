// Over 500 lines: `Net` and `Host` are one face of the world's network
// (hosts, streams, partitions, faults); the state lives in `world.rs`.
//! The simulated network: named hosts, TCP-like streams between them
//! with a latency (and jitter from the seed) per segment, partitions
//! between two hosts and their repair. Everything happens in the
//! runtime's virtual time (a paused clock): a segment is due at `now +
//! latency`, and its reader sleeps until then.
//!
//! - A stream is two directions, each an unbounded channel of segments
//!   `(due, bytes)`, FIFO with non-decreasing due times (TCP's order).
//!   A segment sent across a partition is held (TCP retransmits) and
//!   released, in order, at the repair.
//! - `connect` sends a SYN after the latency; across a partition it is
//!   lost and `connect` waits forever (the caller's timeout decides); to
//!   a port nobody listens on, it fails with `ConnectionRefused` after a
//!   round trip.
//! - Dropping a stream sends its FIN (the peer reads 0 once the data
//!   before it is read).
//!
//! These are the sim's own stream and listener types, kept for the
//! programs written against them; the unchanged `ferrio::net` types run
//! on the world's model (`world.rs`, through `backend.rs`), which shares
//! this network's hosts, partitions, latency, seed and event hash.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::loom::plain::Mutex;
use crate::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use crate::time;

use super::log::{EventKind, EventLog};
use super::rng::SimRng;
use super::world::{host_ip, World, CURRENT_HOST};

/// The network of one simulation (cheap to clone). Made by
/// [`Sim::run`](super::Sim::run), which hands it to the simulated world.
#[derive(Clone)]
pub struct Net {
    inner: Arc<NetInner>,
}

pub(super) struct NetInner {
    /// The virtual time the world began (set as the runtime starts).
    start: Mutex<Option<Instant>>,
    config: NetConfig,
    rng: Arc<SimRng>,
    log: Arc<EventLog>,
    state: Mutex<NetState>,
    /// The model of the `ferrio::net` types (`world.rs`).
    pub(super) world: Mutex<World>,
}

/// A network's settings (from [`Sim`](super::Sim)).
#[derive(Debug, Clone, Copy)]
pub(super) struct NetConfig {
    pub(super) latency: Duration,
    pub(super) jitter: Duration,
    pub(super) udp_loss: f64,
    pub(super) reset_chance: f64,
}

#[derive(Default)]
struct NetState {
    hosts: Vec<String>,
    listeners: HashMap<(u32, u16), UnboundedSender<SimStream>>,
    /// Partitioned pairs, as (lower index, higher index).
    partitions: Vec<(u32, u32)>,
    /// Segments sent across a partition, in send order.
    held: Vec<Held>,
}

struct Held {
    from: u32,
    to: u32,
    dir: Arc<Direction>,
    data: Option<Vec<u8>>,
}

/// One direction of a stream: where its segments go, and the due time
/// of the last one (the next is never due earlier).
struct Direction {
    tx: UnboundedSender<Segment>,
    last_due: Mutex<Instant>,
}

struct Segment {
    due: Instant,
    /// `None`: the FIN.
    data: Option<Vec<u8>>,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("Net")
            .field("hosts", &s.hosts)
            .field("partitions", &s.partitions.len())
            .finish_non_exhaustive()
    }
}

fn pair(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

impl Net {
    /// A network (made before its runtime, which it is the backend of:
    /// [`start`](Net::start) it inside).
    pub(super) fn new(config: NetConfig, rng: Arc<SimRng>, log: Arc<EventLog>) -> Net {
        Net {
            inner: Arc::new(NetInner {
                start: Mutex::new(None),
                config,
                rng,
                log,
                state: Mutex::new(NetState::default()),
                world: Mutex::new(World::default()),
            }),
        }
    }

    /// Starts the world's clock (inside its runtime).
    pub(super) fn start(&self) {
        *self.inner.start.lock() = Some(time::now());
    }

    pub(super) fn inner(&self) -> &Arc<NetInner> {
        &self.inner
    }

    /// The host named `name`, created at its first mention.
    pub fn host(&self, name: &str) -> Host {
        let mut s = self.inner.state.lock();
        let index = match s.hosts.iter().position(|h| h == name) {
            Some(i) => i,
            None => {
                s.hosts.push(name.to_string());
                s.hosts.len() - 1
            }
        } as u32;
        Host {
            net: self.clone(),
            index,
        }
    }

    /// Cuts the link between `a` and `b`: SYNs are lost, segments held.
    pub fn partition(&self, a: &Host, b: &Host) {
        let p = pair(a.index, b.index);
        let mut s = self.inner.state.lock();
        if !s.partitions.contains(&p) {
            s.partitions.push(p);
        }
        drop(s);
        self.inner.record(EventKind::Partition, p.0, p.1, 0);
    }

    /// Restores the link between `a` and `b`; the segments held on it
    /// leave now, in order, each after the latency.
    pub fn repair(&self, a: &Host, b: &Host) {
        let p = pair(a.index, b.index);
        let released: Vec<Held> = {
            let mut s = self.inner.state.lock();
            s.partitions.retain(|q| *q != p);
            let (go, stay) = std::mem::take(&mut s.held)
                .into_iter()
                .partition(|h| pair(h.from, h.to) == p);
            s.held = stay;
            go
        };
        self.inner.record(EventKind::Repair, p.0, p.1, 0);
        for h in released {
            self.inner.transmit(h.from, h.to, &h.dir, h.data);
        }
        self.inner.with_world(|w, net| w.release(net, p.0, p.1));
    }

    /// Resets every `ferrio::net` TCP connection between `a` and `b`:
    /// each end fails with `ConnectionReset` (the far end after one way).
    /// Returns how many ends were reset here.
    pub fn reset(&self, a: &Host, b: &Host) -> usize {
        self.inner.with_world(|w, net| {
            w.reset_between(net, a.index, b.index) + w.reset_between(net, b.index, a.index)
        })
    }

    /// The hash of every event so far, and their count (see
    /// [`SimReport`](super::SimReport)).
    pub fn event_hash(&self) -> (u64, u64) {
        self.inner.log.snapshot()
    }
}

impl NetInner {
    pub(super) fn record(&self, kind: EventKind, a: u32, b: u32, n: u64) {
        let start = *self.start.lock();
        let now = time::now();
        let at = now.saturating_duration_since(start.unwrap_or(now));
        self.log.record(at, kind, a, b, n);
    }

    pub(super) fn partitioned(&self, a: u32, b: u32) -> bool {
        self.state.lock().partitions.contains(&pair(a, b))
    }

    pub(super) fn one_way(&self) -> Duration {
        let jitter = self.rng.up_to(self.config.jitter.as_micros() as u64);
        self.config.latency + Duration::from_micros(jitter)
    }

    pub(super) fn config(&self) -> &NetConfig {
        &self.config
    }

    /// True with probability `p`, drawn from the seed (no draw at 0).
    pub(super) fn chance(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1.0 < p
    }

    /// Forgets the model's state and everything it holds of the runtime
    /// (wakers, abort handles, segments in flight), once it has ended.
    pub(super) fn clear(&self) {
        let world = std::mem::take(&mut *self.world.lock());
        let mut state = self.state.lock();
        let held = std::mem::take(&mut state.held);
        let listeners = std::mem::take(&mut state.listeners);
        drop(state);
        drop((world, held, listeners));
    }

    pub(super) fn host_count(&self) -> u32 {
        self.state.lock().hosts.len() as u32
    }

    /// The index of the host named `name`.
    pub(super) fn host_index(&self, name: &str) -> Option<u32> {
        let s = self.state.lock();
        s.hosts.iter().position(|h| h == name).map(|i| i as u32)
    }

    /// Runs `f` on the world's model, then wakes what it woke (outside
    /// the lock).
    pub(super) fn with_world<R>(&self, f: impl FnOnce(&mut World, &NetInner) -> R) -> R {
        let mut w = self.world.lock();
        let r = f(&mut w, self);
        let wake = std::mem::take(&mut w.wake);
        drop(w);
        for waker in wake {
            waker.wake();
        }
        r
    }

    /// Sends a segment from `from` to `to`, or holds it on a partition.
    fn send(&self, from: u32, to: u32, dir: &Arc<Direction>, data: Option<Vec<u8>>) {
        {
            let mut s = self.state.lock();
            if s.partitions.contains(&pair(from, to)) {
                s.held.push(Held {
                    from,
                    to,
                    dir: dir.clone(),
                    data,
                });
                drop(s);
                self.record(EventKind::Dropped, from, to, 0);
                return;
            }
        }
        self.transmit(from, to, dir, data);
    }

    fn transmit(&self, from: u32, to: u32, dir: &Arc<Direction>, data: Option<Vec<u8>>) {
        let mut last = dir.last_due.lock();
        let due = (time::now() + self.one_way()).max(*last);
        *last = due;
        let n = data.as_ref().map_or(0, |d| d.len() as u64);
        let kind = if data.is_some() {
            EventKind::Send
        } else {
            EventKind::Close
        };
        // A receiver gone (its stream dropped) discards the segment.
        let _ = dir.tx.send(Segment { due, data });
        drop(last);
        self.record(kind, from, to, n);
    }
}

/// A host of the simulated network (cheap to clone).
#[derive(Clone)]
pub struct Host {
    net: Net,
    index: u32,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").field("name", &self.name()).finish()
    }
}

impl Host {
    /// The host's name.
    pub fn name(&self) -> String {
        self.net.inner.state.lock().hosts[self.index as usize].clone()
    }

    /// The host's address on the simulated network: `10.0.0.N` for the
    /// N-th host named (what `lookup_host("name:port")` gives).
    pub fn ip(&self) -> std::net::IpAddr {
        host_ip(self.index).into()
    }

    /// Runs `fut` as a task of this host: the `ferrio::net` sockets it
    /// makes (`TcpListener::bind`, `TcpStream::connect`,
    /// `UdpSocket::bind`) are this host's, and [`crash`](Host::crash)
    /// aborts it. (Tasks it starts with `ferrio::spawn` run on no host:
    /// the sockets they were handed keep working, but they make none;
    /// start them with `Host::spawn` too.)
    ///
    /// ```
    /// use ferrio::net::{TcpListener, TcpStream};
    /// use ferrio::sim::Sim;
    ///
    /// let report = Sim::new(3).run(|net| async move {
    ///     let server = net.host("server");
    ///     let client = net.host("client");
    ///     let listener = server.scope(async { TcpListener::bind("0.0.0.0:80") }).await.unwrap();
    ///     let echo = server.spawn(async move {
    ///         let (conn, peer) = listener.accept().await.unwrap();
    ///         let (n, buf) = conn.read(Vec::with_capacity(16)).await;
    ///         conn.write_all(buf).await.0.unwrap();
    ///         (n.unwrap(), peer.ip().to_string())
    ///     });
    ///     let reply = client
    ///         .spawn(async {
    ///             let s = TcpStream::connect("server:80").await.unwrap();
    ///             s.write_all(b"ping".to_vec()).await.0.unwrap();
    ///             let (n, buf) = s.read(Vec::with_capacity(16)).await;
    ///             buf[..n.unwrap()].to_vec()
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(reply, b"ping");
    ///     echo.await.unwrap()
    /// });
    /// assert_eq!(report.output, (4, "10.0.0.2".to_string()));
    /// ```
    pub fn spawn<F>(&self, fut: F) -> crate::Task<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = crate::spawn(self.scope(fut));
        let abort = task.abort_handle();
        let mut world = self.net.inner.world.lock();
        let tasks = world.tasks.entry(self.index).or_default();
        // Finished tasks need no abort: the list stays as long as what runs.
        tasks.retain(|t| !t.is_finished());
        tasks.push(abort);
        drop(world);
        task
    }

    /// `fut`, run as this host's wherever it is awaited (not a task of
    /// its own: a crash does not abort it).
    pub fn scope<F: std::future::Future>(&self, fut: F) -> OnHost<F> {
        OnHost {
            host: self.index,
            fut,
        }
    }

    /// Crashes the host: its tasks (from [`spawn`](Host::spawn)) are
    /// aborted, its listeners closed, its sockets fail with
    /// `ConnectionReset` and their peers are reset (after one way); until
    /// [`restart`](Host::restart) it drops every packet.
    pub fn crash(&self) {
        let net = &self.net.inner;
        net.record(EventKind::Crash, self.index, self.index, 0);
        let tasks = net.with_world(|w, net| w.crash(net, self.index));
        for t in tasks {
            t.abort();
        }
    }

    /// Brings a crashed host back, with nothing running or listening:
    /// start its tasks again with [`spawn`](Host::spawn).
    pub fn restart(&self) {
        let net = &self.net.inner;
        net.record(EventKind::Restart, self.index, self.index, 0);
        net.with_world(|w, _| w.down.remove(&self.index));
    }

    /// Listens on `port` of this host, for [`Host::connect`] (the sim's
    /// own streams; `ferrio::net`'s listeners and ports are the model's,
    /// apart from these).
    ///
    /// # Errors
    /// `AddrInUse` when something listens there already.
    pub fn bind(&self, port: u16) -> io::Result<SimListener> {
        let (tx, rx) = unbounded_channel();
        let mut s = self.net.inner.state.lock();
        if s.listeners.contains_key(&(self.index, port)) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("ferrio: sim: port {port} of this host is in use"),
            ));
        }
        s.listeners.insert((self.index, port), tx);
        drop(s);
        self.net
            .inner
            .record(EventKind::Bind, self.index, self.index, port as u64);
        Ok(SimListener {
            host: self.clone(),
            port,
            rx,
        })
    }

    /// Connects to `port` on the host named `to` (see the module docs:
    /// lost across a partition, refused where nobody listens).
    ///
    /// # Errors
    /// `NotFound` for an unknown host; `ConnectionRefused` after a round
    /// trip when nothing listens on `port`.
    pub async fn connect(&self, to: &str, port: u16) -> io::Result<SimStream> {
        let net = &self.net.inner;
        let peer = {
            let s = net.state.lock();
            s.hosts.iter().position(|h| h == to).map(|i| i as u32)
        };
        let Some(peer) = peer else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("ferrio: sim: no host named {to:?}"),
            ));
        };
        net.record(EventKind::Connect, self.index, peer, port as u64);
        if net.partitioned(self.index, peer) {
            net.record(EventKind::Dropped, self.index, peer, port as u64);
            return std::future::pending().await;
        }
        time::sleep(net.one_way()).await;
        if net.partitioned(self.index, peer) {
            net.record(EventKind::Dropped, self.index, peer, port as u64);
            return std::future::pending().await;
        }
        let listener = net.state.lock().listeners.get(&(peer, port)).cloned();
        let Some(listener) = listener else {
            time::sleep(net.one_way()).await;
            net.record(EventKind::Refused, peer, self.index, port as u64);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("ferrio: sim: connection to {to}:{port} refused"),
            ));
        };
        let now = time::now();
        let (c2s_tx, c2s_rx) = unbounded_channel();
        let (s2c_tx, s2c_rx) = unbounded_channel();
        let c2s = Arc::new(Direction {
            tx: c2s_tx,
            last_due: Mutex::new(now),
        });
        let s2c = Arc::new(Direction {
            tx: s2c_tx,
            last_due: Mutex::new(now),
        });
        let server = SimStream::new(self.net.clone(), peer, self.index, s2c, c2s_rx);
        let client = SimStream::new(self.net.clone(), self.index, peer, c2s, s2c_rx);
        if listener.send(server).is_ok() {
            net.record(EventKind::Accept, peer, self.index, port as u64);
        }
        // The SYN-ACK's way back.
        time::sleep(net.one_way()).await;
        Ok(client)
    }
}

/// A listening port of a simulated host; dropping it stops listening.
pub struct SimListener {
    host: Host,
    port: u16,
    rx: UnboundedReceiver<SimStream>,
}

impl fmt::Debug for SimListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimListener")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

impl SimListener {
    /// The next connection, and the name of the host it came from.
    /// Cancel-safe: a connection not returned stays queued.
    pub async fn accept(&mut self) -> io::Result<(SimStream, String)> {
        match self.rx.recv().await {
            Some(stream) => {
                let from = stream.peer_name();
                Ok((stream, from))
            }
            None => Err(io::Error::other("ferrio: sim: the listener is closed")),
        }
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let mut s = self.host.net.inner.state.lock();
        s.listeners.remove(&(self.host.index, self.port));
    }
}

/// One end of a simulated TCP connection.
pub struct SimStream {
    net: Net,
    local: u32,
    peer: u32,
    out: Arc<Direction>,
    rx: UnboundedReceiver<Segment>,
    /// A segment taken from `rx`, not yet due (kept across a cancelled
    /// read).
    pending: Option<Segment>,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("peer", &self.peer_name())
            .finish_non_exhaustive()
    }
}

impl SimStream {
    fn new(
        net: Net,
        local: u32,
        peer: u32,
        out: Arc<Direction>,
        rx: UnboundedReceiver<Segment>,
    ) -> SimStream {
        SimStream {
            net,
            local,
            peer,
            out,
            rx,
            pending: None,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    /// The name of the host at the other end.
    pub fn peer_name(&self) -> String {
        self.net.inner.state.lock().hosts[self.peer as usize].clone()
    }

    /// Sends all of `data` (it arrives after the latency, or after the
    /// repair of a partition in between).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.net
            .inner
            .send(self.local, self.peer, &self.out, Some(data.to_vec()));
        Ok(())
    }

    /// Reads what has arrived into `buf`, waiting for the next segment
    /// when nothing has; 0 at the end of the stream. Cancel-safe: bytes
    /// not returned stay for the next read.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = buf.len().min(self.buf.len() - self.pos);
                buf[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            let seg = match self.pending.take() {
                Some(seg) => seg,
                None => match self.rx.recv().await {
                    Some(seg) => seg,
                    None => {
                        self.eof = true;
                        continue;
                    }
                },
            };
            if time::now() < seg.due {
                let due = seg.due;
                self.pending = Some(seg);
                time::sleep_until(due).await;
                continue;
            }
            let n = seg.data.as_ref().map_or(0, |d| d.len() as u64);
            self.net
                .inner
                .record(EventKind::Deliver, self.peer, self.local, n);
            match seg.data {
                Some(data) => {
                    self.buf = data;
                    self.pos = 0;
                }
                None => self.eof = true,
            }
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.net.inner.send(self.local, self.peer, &self.out, None);
    }
}

/// A future run as a host's ([`Host::scope`]).
#[derive(Debug)]
pub struct OnHost<F> {
    host: u32,
    fut: F,
}

impl<F: std::future::Future> std::future::Future for OnHost<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: never moved out of the
        // pinned `OnHost`, which has no `Drop` and is not `Unpin` unless
        // `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let host = this.host;
        // SAFETY: as above.
        let fut = unsafe { std::pin::Pin::new_unchecked(&mut this.fut) };
        let prev = CURRENT_HOST.with(|c| c.replace(Some(host)));
        struct Restore(Option<u32>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT_HOST.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(prev);
        fut.poll(cx)
    }
}
