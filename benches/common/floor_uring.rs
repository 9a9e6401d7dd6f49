// Over 500 lines: a whole io_uring server (ring setup, buffer ring,
// connection state machine, loop) that is read top to bottom as one.
//! The io_uring floor: a bare io_uring echo server, no runtime, what
//! ferrio's io_uring driver is measured against.
//!
//! One thread per CPU (`available_parallelism`), named `floor-uring-N`,
//! each with its own ring (SINGLE_ISSUER + DEFER_TASKRUN where the kernel
//! has them, else COOP_TASKRUN; `FLOOR_URING_COOP=1` asks for ferrio's
//! COOP_TASKRUN setup) and its own `SO_REUSEPORT` listener, on which one
//! multishot accept stays armed. Each connection has one multishot
//! receive armed, drawing from the thread's provided-buffer ring
//! (`IORING_REGISTER_PBUF_RING`, 256 buffers of 64 KiB, or the size
//! given to `start`); every received
//! chunk is sent back from its buffer by one send (a connection has one
//! send in flight, the rest queue behind it, so bytes stay in order; a
//! short send is resubmitted for the rest) and the buffer goes back to
//! the ring when its send completes. Where the kernel refuses a buffer
//! ring (or `FLOOR_URING_PLAIN=1`), each connection gets its own 64 KiB
//! buffer (same size) and a one-shot receive re-armed after each echo; `describe()`
//! says which. A connection closes (by an `IORING_OP_CLOSE`) once its
//! receive has ended (end of stream or error) and its last send is done.
//!
//! One `submit_and_wait(1)` per loop turn, then all completions; each
//! thread counts its `io_uring_enter` calls (also the rare extra submit
//! when the submission queue is full).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{cqueue, opcode, squeue, IoUring, Submitter};

/// Default size of each provided buffer (and of a connection's own
/// buffer).
pub(crate) const BUF: usize = 64 * 1024;
/// Provided buffers per thread (a power of two).
const BUFS: u16 = 256;
/// The buffer group id of a thread's buffer ring.
const BGID: u16 = 0;
/// A chunk living in the connection's own buffer (plain receive).
const OWN: u16 = u16::MAX;

// user_data: the kind in the top byte, the connection's slot below.
const ACCEPT: u64 = 1 << 56;
const RECV: u64 = 2 << 56;
const SEND: u64 = 3 << 56;
const CLOSE: u64 = 4 << 56;
const KIND: u64 = 0xff << 56;

/// A running io_uring floor server; its threads run until the process
/// ends.
#[derive(Debug)]
pub(crate) struct FloorUring {
    addr: SocketAddr,
    enters: Vec<Arc<AtomicU64>>,
    describe: String,
}

impl FloorUring {
    /// Starts `threads` threads (0: one per CPU) on a free loopback port,
    /// receiving into `buf`-byte buffers.
    pub(crate) fn start(threads: usize, buf: usize) -> FloorUring {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let coop = std::env::var_os("FLOOR_URING_COOP").is_some_and(|v| v == "1");
        let plain = std::env::var_os("FLOOR_URING_PLAIN").is_some_and(|v| v == "1");
        let listeners = super::reuseport_listeners(threads);
        let addr = listeners[0].local_addr().unwrap();
        let mut enters = Vec::new();
        let mut describe = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            // io_uring waits by itself; a blocking listener keeps any
            // kernel from handing -EAGAIN back for it.
            l.set_nonblocking(false).unwrap();
            let count = Arc::new(AtomicU64::new(0));
            enters.push(count.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("floor-uring-{i}"))
                .spawn(move || {
                    let mut w = match Worker::new(l.into_raw_fd(), buf, coop, plain, count) {
                        Ok(w) => w,
                        Err(e) => {
                            tx.send(Err(e)).unwrap();
                            return;
                        }
                    };
                    tx.send(Ok(w.describe())).unwrap();
                    if let Err(e) = w.run() {
                        eprintln!("floor-uring-{i}: {e}");
                    }
                })
                .unwrap();
            describe.push(rx.recv().unwrap().expect("floor-uring: ring setup"));
        }
        describe.dedup();
        FloorUring {
            addr,
            enters,
            describe: describe.join("; "),
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `io_uring_enter` calls so far, all threads.
    pub(crate) fn enters(&self) -> u64 {
        self.enters.iter().map(|w| w.load(Ordering::Relaxed)).sum()
    }

    /// The setup it got: ring flags and receive mode.
    pub(crate) fn describe(&self) -> &str {
        &self.describe
    }
}

/// A thread's provided-buffer ring: the ring of entries shared with the
/// kernel and the buffers themselves.
struct BufRing {
    entries: *mut BufRingEntry,
    layout: std::alloc::Layout,
    size: usize,
    bufs: Vec<u8>,
    tail: u16,
}

impl BufRing {
    /// Allocates the ring and its buffers and registers them as group
    /// `BGID`; every buffer starts in the ring.
    fn register(submitter: &Submitter<'_>, size: usize) -> io::Result<BufRing> {
        let layout = std::alloc::Layout::from_size_align(
            usize::from(BUFS) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .unwrap();
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        assert!(!entries.is_null());
        let mut ring = BufRing {
            entries,
            layout,
            size,
            bufs: vec![0u8; usize::from(BUFS) * size],
            tail: 0,
        };
        // SAFETY: `entries` holds `BUFS` entries, page aligned, and lives
        // as long as the ring (the worker owns both and never drops the
        // ring's registration before the ring itself).
        unsafe { submitter.register_buf_ring_with_flags(entries as u64, BUFS, BGID, 0) }?;
        for bid in 0..BUFS {
            ring.give_back(bid);
        }
        Ok(ring)
    }

    fn buf(&mut self, bid: u16) -> *mut u8 {
        self.bufs[usize::from(bid) * self.size..].as_mut_ptr()
    }

    /// Puts buffer `bid` back in the ring for the kernel to fill.
    fn give_back(&mut self, bid: u16) {
        let addr = self.buf(bid) as u64;
        let slot = self.tail & (BUFS - 1);
        // SAFETY: `slot < BUFS`; the kernel reads an entry only once the
        // tail (published below) covers it, so this one is ours.
        let e = unsafe { &mut *self.entries.add(usize::from(slot)) };
        e.set_addr(addr);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is a u16 in the first entry, which the kernel
        // reads concurrently: hence the atomic store with release order.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this layout.
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// Bytes to echo: `len` bytes at `off` in buffer `bid` (or the
/// connection's own buffer).
struct Chunk {
    bid: u16,
    off: u32,
    len: u32,
}

struct Conn {
    fd: RawFd,
    /// A receive is armed (multishot, or one-shot in plain mode).
    recv_armed: bool,
    /// The head of `queue` is being sent.
    sending: bool,
    queue: VecDeque<Chunk>,
    /// No more input: end of stream, an error, or a failed send.
    done: bool,
    /// Plain mode only: this connection's receive buffer.
    own: Option<Box<[u8]>>,
}

struct Worker {
    ring: IoUring,
    listener: RawFd,
    /// Receive buffer size.
    buf: usize,
    bufs: Option<BufRing>,
    flags: &'static str,
    conns: Vec<Option<Conn>>,
    free_slots: Vec<usize>,
    /// Connections whose multishot receive ended for want of buffers.
    starved: Vec<usize>,
    enters: u64,
    count: Arc<AtomicU64>,
}

impl Worker {
    fn new(
        listener: RawFd,
        buf: usize,
        coop: bool,
        plain: bool,
        count: Arc<AtomicU64>,
    ) -> io::Result<Worker> {
        let mut attempts: Vec<(&'static str, bool)> = vec![("COOP_TASKRUN", false)];
        if !coop {
            attempts.insert(0, ("SINGLE_ISSUER|DEFER_TASKRUN", true));
        }
        attempts.push(("no setup flags", false));
        let mut last = None;
        let mut built = None;
        for (i, &(name, defer)) in attempts.iter().enumerate() {
            let mut b = IoUring::builder();
            b.setup_cqsize(8192);
            if defer {
                b.setup_single_issuer().setup_defer_taskrun();
            } else if i + 1 < attempts.len() {
                b.setup_coop_taskrun().setup_taskrun_flag();
            }
            match b.build(1024) {
                Ok(r) => {
                    built = Some((r, name));
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some((ring, flags)) = built else {
            return Err(last.unwrap());
        };
        let bufs = if plain {
            None
        } else {
            match BufRing::register(&ring.submitter(), buf) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("floor-uring: no provided-buffer ring ({e}): plain receives");
                    None
                }
            }
        };
        Ok(Worker {
            ring,
            listener,
            buf,
            bufs,
            flags,
            conns: Vec::new(),
            free_slots: Vec::new(),
            starved: Vec::new(),
            enters: 0,
            count,
        })
    }

    fn describe(&self) -> String {
        let recv = if self.bufs.is_some() {
            "multishot recv from a provided-buffer ring"
        } else {
            "one-shot recv into per-connection buffers"
        };
        format!("{}, {recv} of {} B", self.flags, self.buf)
    }

    /// Queues `e`, submitting first if the submission queue is full.
    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every buffer an entry points at (provided buffers,
            // a connection's own buffer) lives until its completion: the
            // worker frees neither while an operation on it is in flight.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            self.enters += 1;
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => panic!("floor-uring: submit: {e}"),
            }
        }
    }

    fn arm_accept(&mut self) {
        let e = opcode::AcceptMulti::new(Fd(self.listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT);
        self.push(e);
    }

    fn arm_recv(&mut self, slot: usize) {
        let c = self.conns[slot].as_mut().unwrap();
        c.recv_armed = true;
        let fd = Fd(c.fd);
        let e = match &mut c.own {
            Some(own) => opcode::Recv::new(fd, own.as_mut_ptr(), own.len() as u32).build(),
            None => opcode::RecvMulti::new(fd, BGID).build(),
        };
        self.push(e.user_data(RECV | slot as u64));
    }

    /// Sends the head of the connection's queue, if it is not already.
    fn send_next(&mut self, slot: usize) {
        let c = self.conns[slot].as_mut().unwrap();
        if c.sending {
            return;
        }
        let Some(ch) = c.queue.front() else {
            return;
        };
        let base = if ch.bid == OWN {
            c.own.as_mut().unwrap().as_mut_ptr()
        } else {
            self.bufs.as_mut().unwrap().buf(ch.bid)
        };
        // SAFETY: `off + len` stays within the buffer the chunk came from.
        let ptr = unsafe { base.add(ch.off as usize) };
        c.sending = true;
        let e = opcode::Send::new(Fd(c.fd), ptr, ch.len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(SEND | slot as u64);
        self.push(e);
    }

    fn give_back(&mut self, bid: u16) {
        if bid != OWN {
            self.bufs.as_mut().unwrap().give_back(bid);
        }
    }

    /// Closes the connection if nothing of it is in flight any more.
    fn maybe_close(&mut self, slot: usize) {
        let c = self.conns[slot].as_ref().unwrap();
        if !c.done || c.recv_armed || c.sending {
            return;
        }
        let mut c = self.conns[slot].take().unwrap();
        for ch in c.queue.drain(..) {
            self.give_back(ch.bid);
        }
        self.free_slots.push(slot);
        self.push(opcode::Close::new(Fd(c.fd)).build().user_data(CLOSE));
    }

    fn on_accept(&mut self, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.arm_accept();
        }
        if res < 0 {
            return;
        }
        super::floor_epoll::set_nodelay(res);
        let conn = Conn {
            fd: res,
            recv_armed: false,
            sending: false,
            queue: VecDeque::new(),
            done: false,
            own: self
                .bufs
                .is_none()
                .then(|| vec![0u8; self.buf].into_boxed_slice()),
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.conns[s] = Some(conn);
                s
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.arm_recv(slot);
    }

    fn on_recv(&mut self, slot: usize, res: i32, flags: u32) {
        let plain = self.bufs.is_none();
        let more = !plain && cqueue::more(flags);
        let c = self.conns[slot].as_mut().unwrap();
        c.recv_armed = more;
        if res > 0 {
            let bid = if plain {
                OWN
            } else {
                cqueue::buffer_select(flags).expect("a provided buffer")
            };
            c.queue.push_back(Chunk {
                bid,
                off: 0,
                len: res as u32,
            });
            self.send_next(slot);
            // A multishot receive that stopped with data re-arms; a plain
            // one re-arms once its echo is sent.
            if !more && !plain {
                self.arm_recv(slot);
            }
        } else if res == -libc::ENOBUFS {
            self.starved.push(slot);
        } else if !more {
            c.done = true;
            self.maybe_close(slot);
        }
    }

    fn on_send(&mut self, slot: usize, res: i32) {
        let c = self.conns[slot].as_mut().unwrap();
        c.sending = false;
        if res < 0 {
            // The peer is gone: drop what is owed and end the receive.
            c.done = true;
            let owed: Vec<u16> = c.queue.drain(..).map(|ch| ch.bid).collect();
            if c.recv_armed {
                // SAFETY: a plain call on this connection's descriptor.
                unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
            }
            for bid in owed {
                self.give_back(bid);
            }
            self.maybe_close(slot);
            return;
        }
        let head = c.queue.front_mut().unwrap();
        head.off += res as u32;
        head.len -= res as u32;
        if head.len == 0 {
            let bid = head.bid;
            c.queue.pop_front();
            let idle = c.queue.is_empty() && !c.done;
            self.give_back(bid);
            if bid == OWN && idle {
                self.arm_recv(slot);
                return;
            }
        }
        self.send_next(slot);
        self.maybe_close(slot);
    }

    fn run(&mut self) -> io::Result<()> {
        self.arm_accept();
        let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(1024);
        loop {
            self.enters += 1;
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            self.count.store(self.enters, Ordering::Relaxed);
            cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (ud, res, flags) in cqes.drain(..) {
                let slot = (ud & !KIND) as usize;
                match ud & KIND {
                    ACCEPT => self.on_accept(res, flags),
                    RECV => self.on_recv(slot, res, flags),
                    SEND => self.on_send(slot, res),
                    _ => debug_assert_eq!(ud & KIND, CLOSE),
                }
            }
            // Buffers came back: receives that ran dry start again.
            while let Some(slot) = self.starved.pop() {
                if self.conns[slot]
                    .as_ref()
                    .is_some_and(|c| !c.done && !c.recv_armed)
                {
                    self.arm_recv(slot);
                }
            }
        }
    }
}
