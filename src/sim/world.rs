// Over 500 lines: the socket table, the event queue and the handling of
// each event are one state machine under one lock (a TCP connection's
// life crosses all three); split, each part would re-state the others'
// invariants.
//! The model behind the unchanged `ferrio::net` types in a simulated
//! world: a table of sockets (keyed by a deterministic id; a placeholder
//! descriptor names the ones a program holds), bound ports per host, and
//! a queue of network events ordered by `(due, sequence)`.
//!
//! - **Hosts and addresses.** Host `i` (in order of first mention) has the
//!   address `10.0.0.{i+1}`. `0.0.0.0`, `127.0.0.1`, `::` and `::1` mean
//!   the host the task runs on ([`CURRENT_HOST`], set by `Host::spawn`).
//! - **TCP.** `connect` sends a SYN (one way: the latency plus a jitter
//!   from the seed); at a listener it makes the server's end, queued for
//!   `accept`, and a SYN-ACK comes back (one way): `connect` completes a
//!   round trip after it began. Where nobody listens, a refusal comes
//!   back instead. Data, FIN and RST are segments, each delivered after
//!   one way and never before the one sent before it on that socket
//!   (TCP's order). Sends are never short (an unbounded window).
//! - **Partitions** (`Net::partition`): a SYN across one is lost (the
//!   connect waits; the caller's timeout decides), a segment is held and
//!   released, in order, at the repair (TCP retransmits); a datagram is
//!   lost.
//! - **Closing** a socket sends its FIN (after its data); a segment that
//!   reaches a closed socket is answered by a reset. A listener closed
//!   resets the connections it had not yet accepted.
//! - **Faults from the seed**: each TCP send resets its connection with
//!   `Sim::reset_chance`; each datagram is lost with `Sim::udp_loss`.
//!   `Net::reset` resets every connection between two hosts now.
//! - **A crash** (`Host::crash`) aborts the host's tasks, closes its
//!   listeners, fails its sockets (`ConnectionReset`) and resets their
//!   peers; the host drops every packet until `Host::restart`.
//!
//! Every event is folded into the run's hash with its virtual time and
//! the hosts involved (never a descriptor number or an address of
//! memory), so one seed gives one hash in any process.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Instant;

use super::log::EventKind;
use super::net::NetInner;
use crate::task::AbortHandle;

std::thread_local! {
    /// The host whose task is being polled on this thread (set around
    /// each poll by `Host::spawn`'s wrapper).
    pub(super) static CURRENT_HOST: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The address of host `index`.
pub(super) fn host_ip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + index + 1)
}

/// The first ephemeral port a host hands out.
const EPHEMERAL: u16 = 49152;

pub(super) type SockId = u64;

/// Where a TCP socket's connect stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Connect {
    Idle,
    /// The SYN left (or was lost).
    Pending,
    /// The outcome (0 or `-errno`), not yet returned to the op.
    Done(i32),
    /// Connected (or accepted).
    Established,
}

pub(super) struct Sock {
    host: u32,
    fd: Option<RawFd>,
    udp: bool,
    pub(super) local: Option<SocketAddr>,
    pub(super) peer_addr: Option<SocketAddr>,
    peer: Option<SockId>,
    listening: Option<VecDeque<SockId>>,
    connect: Connect,
    rx: VecDeque<u8>,
    dgrams: VecDeque<(SocketAddr, Vec<u8>)>,
    eof: bool,
    /// A pending error (`errno`): a reset, a crash.
    error: Option<i32>,
    wr_shut: bool,
    /// The due time of the last segment this socket sent.
    last_due: Option<Instant>,
    /// The ops waiting on the socket: (op token, waker).
    wakers: Vec<(u64, Waker)>,
}

impl Sock {
    fn new(host: u32, udp: bool) -> Sock {
        Sock {
            host,
            fd: None,
            udp,
            local: None,
            peer_addr: None,
            peer: None,
            listening: None,
            connect: Connect::Idle,
            rx: VecDeque::new(),
            dgrams: VecDeque::new(),
            eof: false,
            error: None,
            wr_shut: false,
            last_due: None,
            wakers: Vec::new(),
        }
    }
}

/// A network event, due at its key's time.
enum Ev {
    Syn {
        client: SockId,
        from: SocketAddr,
        to: SocketAddr,
    },
    SynAck {
        client: SockId,
        server: SockId,
    },
    Refused {
        client: SockId,
    },
    Data {
        to: SockId,
        from: SockId,
        bytes: Vec<u8>,
    },
    Fin {
        to: SockId,
    },
    Rst {
        to: SockId,
    },
    Dgram {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
}

/// A segment held by a partition: (from host, to host, sender, event).
type Held = (u32, u32, Option<SockId>, Ev);

#[derive(Default)]
pub(super) struct World {
    socks: BTreeMap<SockId, Sock>,
    fds: HashMap<RawFd, SockId>,
    /// Bound ports: (host, port, udp) → socket.
    ports: BTreeMap<(u32, u16, bool), SockId>,
    next_id: SockId,
    next_token: u64,
    next_port: BTreeMap<(u32, bool), u16>,
    events: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    held: Vec<Held>,
    /// The pump's waker and the deadline it sleeps to.
    pub(super) pump: Option<Waker>,
    pub(super) armed: Option<Instant>,
    pub(super) down: BTreeSet<u32>,
    pub(super) tasks: BTreeMap<u32, Vec<AbortHandle>>,
    /// Wakers to wake once the lock is released.
    pub(super) wake: Vec<Waker>,
}

fn wake_all(wake: &mut Vec<Waker>, s: &mut Sock) {
    wake.extend(s.wakers.drain(..).map(|(_, w)| w));
}

/// An op waiting: its token (one per op, `driver/sim_hook.rs`) and the
/// waker of its latest poll.
#[derive(Clone, Copy)]
pub(super) struct Waiter<'a> {
    pub(super) token: u64,
    pub(super) waker: &'a Waker,
}

fn push_waker(s: &mut Sock, w: Waiter<'_>) {
    match s.wakers.iter_mut().find(|(t, _)| *t == w.token) {
        Some((_, old)) => {
            if !old.will_wake(w.waker) {
                *old = w.waker.clone();
            }
        }
        None => s.wakers.push((w.token, w.waker.clone())),
    }
}

/// A receive: `(bytes, from, truncated)`, or an `errno`.
pub(super) type Received = Result<(usize, Option<SocketAddr>, bool), i32>;

/// The result of an attempt: `Some(res)` done, `None` pending.
pub(super) type Attempt = Option<i32>;

impl World {
    fn schedule(&mut self, due: Instant, ev: Ev) {
        self.seq += 1;
        self.events.insert((due, self.seq), ev);
        if self.armed.is_none_or(|a| due < a) {
            if let Some(w) = self.pump.take() {
                self.wake.push(w);
            }
        }
    }

    /// The earliest event's due time.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.events.keys().next().map(|k| k.0)
    }

    pub(super) fn sock(&self, fd: RawFd) -> Option<&Sock> {
        self.fds.get(&fd).and_then(|id| self.socks.get(id))
    }

    fn id_of(&self, fd: RawFd) -> Option<SockId> {
        self.fds.get(&fd).copied()
    }

    /// The host an address names, seen from `current`.
    fn host_of(&self, net: &NetInner, ip: IpAddr, current: u32) -> Option<u32> {
        if ip.is_unspecified() || ip.is_loopback() {
            return Some(current);
        }
        let IpAddr::V4(v4) = ip else { return None };
        let n = u32::from(v4).checked_sub(u32::from(Ipv4Addr::new(10, 0, 0, 1)))?;
        (n < net.host_count()).then_some(n)
    }

    /// A new socket for the placeholder `fd` on `host`.
    pub(super) fn open(&mut self, fd: RawFd, host: u32, udp: bool) {
        // A stale entry for this number (its close went unseen) is gone:
        // the kernel reuses a number only once it is closed.
        if let Some(old) = self.fds.remove(&fd) {
            self.forget(old);
        }
        self.next_id += 1;
        let id = self.next_id;
        let mut s = Sock::new(host, udp);
        s.fd = Some(fd);
        self.socks.insert(id, s);
        self.fds.insert(fd, id);
    }

    fn ephemeral(&mut self, host: u32, udp: bool) -> u16 {
        let next = self.next_port.entry((host, udp)).or_insert(EPHEMERAL);
        loop {
            let p = *next;
            *next = if *next == u16::MAX {
                EPHEMERAL
            } else {
                *next + 1
            };
            if !self.ports.contains_key(&(host, p, udp)) {
                return p;
            }
        }
    }

    pub(super) fn bind(&mut self, net: &NetInner, fd: RawFd, addr: SocketAddr) -> io::Result<()> {
        let id = self.id_of(fd).ok_or_else(not_ours)?;
        let s = &self.socks[&id];
        let (host, udp) = (s.host, s.udp);
        if s.local.is_some() {
            return Err(errno(libc::EINVAL, "the socket is bound already"));
        }
        if self.host_of(net, addr.ip(), host) != Some(host) {
            return Err(errno(
                libc::EADDRNOTAVAIL,
                "the address is not the host's own",
            ));
        }
        let port = match addr.port() {
            0 => self.ephemeral(host, udp),
            p => p,
        };
        if self.ports.contains_key(&(host, port, udp)) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "ferrio: sim: port {port} of host {} is in use",
                    host_ip(host)
                ),
            ));
        }
        self.ports.insert((host, port, udp), id);
        let s = self.socks.get_mut(&id).expect("looked up");
        s.local = Some(SocketAddr::new(host_ip(host).into(), port));
        net.record(EventKind::Bind, host, host, port as u64);
        Ok(())
    }

    fn autobind(&mut self, net: &NetInner, id: SockId) -> SocketAddr {
        let s = &self.socks[&id];
        if let Some(a) = s.local {
            return a;
        }
        let (host, udp) = (s.host, s.udp);
        let port = self.ephemeral(host, udp);
        self.ports.insert((host, port, udp), id);
        let a = SocketAddr::new(host_ip(host).into(), port);
        self.socks.get_mut(&id).expect("looked up").local = Some(a);
        net.record(EventKind::Bind, host, host, port as u64);
        a
    }

    pub(super) fn listen(&mut self, net: &NetInner, fd: RawFd) -> io::Result<()> {
        let id = self.id_of(fd).ok_or_else(not_ours)?;
        if self.socks[&id].udp {
            return Err(errno(libc::EOPNOTSUPP, "a datagram socket does not listen"));
        }
        self.autobind(net, id);
        let s = self.socks.get_mut(&id).expect("looked up");
        s.listening.get_or_insert_with(VecDeque::new);
        Ok(())
    }

    pub(super) fn connect_datagram(
        &mut self,
        net: &NetInner,
        fd: RawFd,
        to: SocketAddr,
    ) -> io::Result<()> {
        let id = self.id_of(fd).ok_or_else(not_ours)?;
        self.autobind(net, id);
        self.socks.get_mut(&id).expect("looked up").peer_addr = Some(to);
        Ok(())
    }

    pub(super) fn shutdown(
        &mut self,
        net: &NetInner,
        fd: RawFd,
        how: std::net::Shutdown,
    ) -> io::Result<()> {
        let id = self.id_of(fd).ok_or_else(not_ours)?;
        let s = self.socks.get_mut(&id).expect("looked up");
        if s.listening.is_some() {
            // A listener's receive side: no more connections.
            self.close_listener(net, id);
            let s = self.socks.get_mut(&id).expect("still here");
            s.error = Some(libc::EINVAL);
            wake_all(&mut self.wake, s);
            return Ok(());
        }
        if s.peer.is_none() && !s.udp {
            return Err(errno(libc::ENOTCONN, "the socket is not connected"));
        }
        if matches!(how, std::net::Shutdown::Read | std::net::Shutdown::Both) {
            s.eof = true;
            wake_all(&mut self.wake, s);
        }
        if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) && !s.wr_shut {
            s.wr_shut = true;
            self.send_fin(net, id);
        }
        Ok(())
    }

    fn send_fin(&mut self, net: &NetInner, id: SockId) {
        let s = &self.socks[&id];
        let (Some(peer), None) = (s.peer, s.error) else {
            return;
        };
        let to_host = self.socks.get(&peer).map_or(s.host, |p| p.host);
        let from = s.host;
        net.record(EventKind::Close, from, to_host, 0);
        self.segment(net, from, to_host, Some(id), Ev::Fin { to: peer });
    }

    /// Sends a segment from host `from` to host `to`: held on a
    /// partition, dropped by a host that is down, else due after one way
    /// (and not before the sender's last one).
    fn segment(&mut self, net: &NetInner, from: u32, to: u32, sender: Option<SockId>, ev: Ev) {
        if net.partitioned(from, to) {
            net.record(EventKind::Dropped, from, to, 0);
            self.held.push((from, to, sender, ev));
            return;
        }
        if self.down.contains(&to) || self.down.contains(&from) {
            net.record(EventKind::Dropped, from, to, 0);
            return;
        }
        let mut due = crate::time::now() + net.one_way();
        if let Some(s) = sender.and_then(|id| self.socks.get_mut(&id)) {
            if let Some(last) = s.last_due {
                due = due.max(last);
            }
            s.last_due = Some(due);
        }
        self.schedule(due, ev);
    }

    /// The segments a partition between `a` and `b` held leave now.
    pub(super) fn release(&mut self, net: &NetInner, a: u32, b: u32) {
        let pair = (a.min(b), a.max(b));
        let (go, stay): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| (h.0.min(h.1), h.0.max(h.1)) == pair);
        self.held = stay;
        for (from, to, sender, ev) in go {
            self.segment(net, from, to, sender, ev);
        }
    }

    /// The placeholder `fd` closed.
    pub(super) fn closed(&mut self, net: &NetInner, fd: RawFd) {
        if let Some(id) = self.fds.remove(&fd) {
            let s = &self.socks[&id];
            if s.listening.is_some() {
                self.close_listener(net, id);
            } else if !s.wr_shut {
                self.send_fin(net, id);
            }
            self.forget(id);
        }
    }

    /// Removes a socket (its port too, if it holds one).
    fn forget(&mut self, id: SockId) {
        if let Some(s) = self.socks.remove(&id) {
            if let Some(local) = s.local {
                let key = (s.host, local.port(), s.udp);
                if self.ports.get(&key) == Some(&id) {
                    self.ports.remove(&key);
                }
            }
            if let Some(fd) = s.fd {
                if self.fds.get(&fd) == Some(&id) {
                    self.fds.remove(&fd);
                }
            }
        }
    }

    /// A listener stops: its port is free, its queued connections reset.
    fn close_listener(&mut self, net: &NetInner, id: SockId) {
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        let queued = s.listening.take().unwrap_or_default();
        s.listening = Some(VecDeque::new());
        let host = s.host;
        if let Some(local) = s.local {
            if self.ports.get(&(host, local.port(), false)) == Some(&id) {
                self.ports.remove(&(host, local.port(), false));
            }
        }
        for conn in queued {
            self.reset_peer(net, conn);
            self.forget(conn);
        }
    }

    /// Sends a reset from socket `id` to its peer.
    fn reset_peer(&mut self, net: &NetInner, id: SockId) {
        let Some(s) = self.socks.get(&id) else { return };
        let Some(peer) = s.peer else { return };
        let from = s.host;
        let to = self.socks.get(&peer).map_or(from, |p| p.host);
        net.record(EventKind::Reset, from, to, 0);
        self.segment(net, from, to, Some(id), Ev::Rst { to: peer });
    }

    /// Resets connection `id` now: it fails at once, its peer after one
    /// way.
    fn reset(&mut self, net: &NetInner, id: SockId) {
        self.reset_peer(net, id);
        if let Some(s) = self.socks.get_mut(&id) {
            s.error = Some(libc::ECONNRESET);
            wake_all(&mut self.wake, s);
        }
    }

    /// Resets every connection between hosts `a` and `b`.
    pub(super) fn reset_between(&mut self, net: &NetInner, a: u32, b: u32) -> usize {
        let ids: Vec<SockId> = self
            .socks
            .iter()
            .filter(|(_, s)| s.host == a && s.error.is_none() && s.peer.is_some())
            .filter(|(_, s)| {
                s.peer
                    .and_then(|p| self.socks.get(&p))
                    .is_some_and(|p| p.host == b)
            })
            .map(|(id, _)| *id)
            .collect();
        for &id in &ids {
            self.reset(net, id);
        }
        ids.len()
    }

    /// Host `host` crashes: see the module docs.
    pub(super) fn crash(&mut self, net: &NetInner, host: u32) -> Vec<AbortHandle> {
        let ids: Vec<SockId> = self
            .socks
            .iter()
            .filter(|(_, s)| s.host == host)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let s = &self.socks[&id];
            if s.listening.is_some() {
                self.close_listener(net, id);
            } else if s.error.is_none() {
                self.reset_peer(net, id);
            }
            let s = self.socks.get_mut(&id).expect("listed");
            s.error = Some(libc::ECONNRESET);
            if let Some(local) = s.local {
                let key = (host, local.port(), s.udp);
                if self.ports.get(&key) == Some(&id) {
                    self.ports.remove(&key);
                }
            }
            wake_all(&mut self.wake, s);
        }
        self.down.insert(host);
        self.tasks.remove(&host).unwrap_or_default()
    }

    /// Runs the events due by `now`.
    pub(super) fn run_due(&mut self, net: &NetInner, now: Instant) {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ev = entry.remove();
            self.handle(net, ev);
        }
    }

    fn handle(&mut self, net: &NetInner, ev: Ev) {
        match ev {
            Ev::Syn { client, from, to } => {
                let from_host = self.socks.get(&client).map(|s| s.host);
                let Some(dst) = from_host.and_then(|h| self.host_of(net, to.ip(), h)) else {
                    return;
                };
                let src = from_host.expect("checked");
                if self.down.contains(&dst) || net.partitioned(src, dst) {
                    net.record(EventKind::Dropped, src, dst, to.port() as u64);
                    return;
                }
                let listener = self
                    .ports
                    .get(&(dst, to.port(), false))
                    .copied()
                    .filter(|l| self.socks.get(l).is_some_and(|s| s.listening.is_some()));
                let due = crate::time::now() + net.one_way();
                let Some(listener) = listener else {
                    self.schedule(due, Ev::Refused { client });
                    return;
                };
                self.next_id += 1;
                let server = self.next_id;
                let mut s = Sock::new(dst, false);
                s.local = Some(SocketAddr::new(host_ip(dst).into(), to.port()));
                s.peer_addr = Some(from);
                s.peer = Some(client);
                s.connect = Connect::Established;
                self.socks.insert(server, s);
                let l = self.socks.get_mut(&listener).expect("filtered");
                l.listening.as_mut().expect("filtered").push_back(server);
                wake_all(&mut self.wake, l);
                net.record(EventKind::Accept, dst, src, to.port() as u64);
                self.schedule(due, Ev::SynAck { client, server });
            }
            Ev::SynAck { client, server } => match self.socks.get_mut(&client) {
                Some(c) if c.connect == Connect::Pending => {
                    c.peer = Some(server);
                    c.connect = Connect::Done(0);
                    wake_all(&mut self.wake, c);
                }
                // The client gave up: the server's end is reset.
                _ => {
                    if let Some(s) = self.socks.get_mut(&server) {
                        s.error = Some(libc::ECONNRESET);
                        wake_all(&mut self.wake, s);
                    }
                }
            },
            Ev::Refused { client } => {
                let pending = self
                    .socks
                    .get(&client)
                    .filter(|c| c.connect == Connect::Pending)
                    .map(|c| (c.peer_addr, c.host));
                if let Some((peer_addr, host)) = pending {
                    {
                        let port = peer_addr.map_or(0, |a| a.port());
                        let to = peer_addr
                            .and_then(|a| self.host_of(net, a.ip(), host))
                            .unwrap_or(host);
                        let c = self.socks.get_mut(&client).expect("here");
                        c.connect = Connect::Done(-libc::ECONNREFUSED);
                        net.record(EventKind::Refused, to, c.host, port as u64);
                        wake_all(&mut self.wake, c);
                    }
                }
            }
            Ev::Data { to, from, bytes } => match self.socks.get(&to) {
                Some(s) if !self.down.contains(&s.host) => {
                    if s.error.is_none() && !s.eof {
                        let (a, b) = (self.socks.get(&from).map_or(0, |f| f.host), s.host);
                        net.record(EventKind::Deliver, a, b, bytes.len() as u64);
                        let s = self.socks.get_mut(&to).expect("here");
                        s.rx.extend(bytes);
                        wake_all(&mut self.wake, s);
                    }
                }
                Some(_) => {}
                // A closed socket answers with a reset.
                None => {
                    if let Some(f) = self.socks.get(&from) {
                        let host = f.host;
                        net.record(EventKind::Reset, host, host, 0);
                        let due = crate::time::now() + net.one_way();
                        self.schedule(due, Ev::Rst { to: from });
                    }
                }
            },
            Ev::Fin { to } => {
                if let Some(s) = self.socks.get_mut(&to) {
                    net.record(EventKind::Deliver, s.host, s.host, 0);
                    s.eof = true;
                    wake_all(&mut self.wake, s);
                }
            }
            Ev::Rst { to } => {
                if let Some(s) = self.socks.get_mut(&to) {
                    if s.error.is_none() {
                        s.error = Some(libc::ECONNRESET);
                    }
                    if s.connect == Connect::Pending {
                        s.connect = Connect::Done(-libc::ECONNRESET);
                    }
                    wake_all(&mut self.wake, s);
                }
            }
            Ev::Dgram { from, to, bytes } => {
                let Some(dst) = self.host_of(net, to.ip(), u32::MAX) else {
                    return;
                };
                if self.down.contains(&dst) {
                    return;
                }
                let Some(id) = self.ports.get(&(dst, to.port(), true)).copied() else {
                    return;
                };
                let s = self.socks.get_mut(&id).expect("bound");
                if s.peer_addr.is_some_and(|p| p != from) || s.error.is_some() {
                    return;
                }
                net.record(EventKind::Deliver, dst, dst, bytes.len() as u64);
                s.dgrams.push_back((from, bytes));
                wake_all(&mut self.wake, s);
            }
        }
    }
}

/// The socket operations the backend translates calls into.
impl World {
    pub(super) fn connect(
        &mut self,
        net: &NetInner,
        fd: RawFd,
        to: SocketAddr,
        waker: Waiter<'_>,
    ) -> Attempt {
        let id = self.id_of(fd)?;
        let s = &self.socks[&id];
        if s.udp {
            return Some(match self.connect_datagram(net, fd, to) {
                Ok(()) => 0,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EINVAL),
            });
        }
        match s.connect {
            Connect::Established => return Some(-libc::EISCONN),
            Connect::Done(r) => {
                let s = self.socks.get_mut(&id).expect("here");
                s.connect = if r == 0 {
                    Connect::Established
                } else {
                    Connect::Idle
                };
                return Some(r);
            }
            Connect::Pending => {
                push_waker(self.socks.get_mut(&id).expect("here"), waker);
                return None;
            }
            Connect::Idle => {}
        }
        let host = s.host;
        let Some(dst) = self.host_of(net, to.ip(), host) else {
            return Some(-libc::EHOSTUNREACH);
        };
        let from = self.autobind(net, id);
        let s = self.socks.get_mut(&id).expect("here");
        s.connect = Connect::Pending;
        s.peer_addr = Some(SocketAddr::new(host_ip(dst).into(), to.port()));
        push_waker(s, waker);
        net.record(EventKind::Connect, host, dst, to.port() as u64);
        if net.partitioned(host, dst) || self.down.contains(&dst) {
            // The SYN is lost: the connect waits for the caller's timeout.
            net.record(EventKind::Dropped, host, dst, to.port() as u64);
            return None;
        }
        let due = crate::time::now() + net.one_way();
        self.schedule(
            due,
            Ev::Syn {
                client: id,
                from,
                to: SocketAddr::new(host_ip(dst).into(), to.port()),
            },
        );
        None
    }

    /// Takes the next connection: its new placeholder `new_fd` and the
    /// peer's address.
    pub(super) fn accept(
        &mut self,
        fd: RawFd,
        new_fd: &mut dyn FnMut() -> io::Result<RawFd>,
        waker: Waiter<'_>,
    ) -> Option<Result<(RawFd, SocketAddr), i32>> {
        let id = self.id_of(fd)?;
        let s = self.socks.get_mut(&id).expect("here");
        if let Some(e) = s.error {
            return Some(Err(e));
        }
        let Some(queue) = s.listening.as_mut() else {
            return Some(Err(libc::EINVAL));
        };
        let Some(conn) = queue.pop_front() else {
            push_waker(s, waker);
            return None;
        };
        let fd = match new_fd() {
            Ok(fd) => fd,
            Err(e) => {
                s.listening.as_mut().expect("here").push_front(conn);
                return Some(Err(e.raw_os_error().unwrap_or(libc::EMFILE)));
            }
        };
        if let Some(old) = self.fds.remove(&fd) {
            self.forget(old);
        }
        let c = self.socks.get_mut(&conn).expect("queued");
        c.fd = Some(fd);
        let peer = c.peer_addr.expect("accepted");
        self.fds.insert(fd, conn);
        Some(Ok((fd, peer)))
    }

    /// Receives into `out` (a stream: what has arrived; a datagram
    /// socket: the next datagram, truncated). `Ok((n, from, truncated))`.
    /// `peek`: copies without taking. `waker`: registered when nothing
    /// is there (`None`: a non-blocking attempt, `EAGAIN` then).
    pub(super) fn recv(
        &mut self,
        fd: RawFd,
        out: &mut [u8],
        waker: Option<Waiter<'_>>,
        peek: bool,
    ) -> Option<Received> {
        let id = self.id_of(fd)?;
        let s = self.socks.get_mut(&id).expect("here");
        let wait = |s: &mut Sock| match waker {
            Some(w) => {
                push_waker(s, w);
                None
            }
            None => Some(Err(libc::EAGAIN)),
        };
        if s.udp {
            let d = if peek {
                s.dgrams.front().cloned()
            } else {
                s.dgrams.pop_front()
            };
            if let Some((from, d)) = d {
                let n = d.len().min(out.len());
                out[..n].copy_from_slice(&d[..n]);
                return Some(Ok((n, Some(from), d.len() > n)));
            }
            if let Some(e) = s.error {
                return Some(Err(e));
            }
            return wait(s);
        }
        if !s.rx.is_empty() && !out.is_empty() {
            let n = out.len().min(s.rx.len());
            for (o, b) in out.iter_mut().zip(s.rx.iter()) {
                *o = *b;
            }
            if !peek {
                s.rx.drain(..n);
            }
            return Some(Ok((n, s.peer_addr, false)));
        }
        if let Some(e) = s.error {
            return Some(Err(e));
        }
        if s.eof || out.is_empty() {
            return Some(Ok((0, s.peer_addr, false)));
        }
        if s.peer.is_none() && s.connect != Connect::Pending {
            return Some(Err(libc::ENOTCONN));
        }
        wait(s)
    }

    /// Sends `data` (to `to`, or the peer). Never waits: the window is
    /// unbounded.
    pub(super) fn send(
        &mut self,
        net: &NetInner,
        fd: RawFd,
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Option<i32> {
        let id = self.id_of(fd)?;
        let s = &self.socks[&id];
        if let Some(e) = s.error {
            return Some(-e);
        }
        if s.udp {
            let Some(to) = to.or(s.peer_addr) else {
                return Some(-libc::EDESTADDRREQ);
            };
            let host = s.host;
            let from = self.autobind(net, id);
            let Some(dst) = self.host_of(net, to.ip(), host) else {
                // Nobody has that address: the datagram goes nowhere.
                return Some(data.len() as i32);
            };
            let to = SocketAddr::new(host_ip(dst).into(), to.port());
            net.record(EventKind::Send, host, dst, data.len() as u64);
            if net.partitioned(host, dst)
                || self.down.contains(&dst)
                || net.chance(net.config().udp_loss)
            {
                net.record(EventKind::Dropped, host, dst, data.len() as u64);
                return Some(data.len() as i32);
            }
            let due = crate::time::now() + net.one_way();
            self.schedule(
                due,
                Ev::Dgram {
                    from,
                    to,
                    bytes: data.to_vec(),
                },
            );
            return Some(data.len() as i32);
        }
        if s.wr_shut {
            return Some(-libc::EPIPE);
        }
        let Some(peer) = s.peer else {
            return Some(-libc::ENOTCONN);
        };
        let from = s.host;
        let to_host = self.socks.get(&peer).map_or(from, |p| p.host);
        if net.chance(net.config().reset_chance) {
            self.reset(net, id);
            return Some(-libc::ECONNRESET);
        }
        net.record(EventKind::Send, from, to_host, data.len() as u64);
        self.segment(
            net,
            from,
            to_host,
            Some(id),
            Ev::Data {
                to: peer,
                from: id,
                bytes: data.to_vec(),
            },
        );
        Some(data.len() as i32)
    }

    /// The op of `token` waiting on `fd` is gone: its waker goes too.
    pub(super) fn abandon(&mut self, fd: RawFd, token: u64) {
        if let Some(s) = self.fds.get(&fd).and_then(|id| self.socks.get_mut(id)) {
            s.wakers.retain(|(t, _)| *t != token);
        }
    }

    /// How many ops wait on `fd` (tests).
    #[cfg(test)]
    pub(super) fn waiters(&self, fd: RawFd) -> usize {
        self.sock(fd).map_or(0, |s| s.wakers.len())
    }

    /// A token for a new op.
    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Readiness: `POLLIN`/`POLLOUT` as asked, or pending.
    pub(super) fn poll_ready(&mut self, fd: RawFd, write: bool, waker: Waiter<'_>) -> Attempt {
        let id = self.id_of(fd)?;
        let s = self.socks.get_mut(&id).expect("here");
        let ready = if write {
            s.error.is_some() || s.udp || s.peer.is_some()
        } else {
            s.error.is_some()
                || s.eof
                || !s.rx.is_empty()
                || !s.dgrams.is_empty()
                || s.listening.as_ref().is_some_and(|q| !q.is_empty())
        };
        if ready {
            return Some(if write { libc::POLLOUT } else { libc::POLLIN } as i32);
        }
        push_waker(s, waker);
        None
    }
}

fn errno(code: i32, what: &str) -> io::Error {
    let e = io::Error::from_raw_os_error(code);
    io::Error::new(e.kind(), format!("ferrio: sim: {what} ({e})"))
}

fn not_ours() -> io::Error {
    io::Error::other("ferrio: sim: not a socket of this simulation")
}
