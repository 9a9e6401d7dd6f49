//! The operation kinds shared by files, sockets and pipes, and the loops
//! built on them (`read_exact`, `write_all`).
//!
//! # I/O types
//!
//! - **Two styles on every stream.** Completion-style owned buffers:
//!   `read(buf) -> (io::Result<usize>, buf)`, `write_all`, `read_exact`, over
//!   `IoBuf`/`IoBufMut` (`Vec<u8>`, `Box<[u8]>`, `&'static [u8]`, and `Slice`
//!   for a range of one, so a short write resubmits the rest without
//!   copying). And `futures-io` `AsyncRead`/`AsyncBufRead`/`AsyncWrite`
//!   (`io/compat.rs`): the caller's slice cannot be handed to the kernel (it
//!   may be dropped mid-read), so reads land in a buffer the stream owns and
//!   are copied out (none with `AsyncBufRead`); writes are copied into the
//!   stream's buffer and sent write-behind, the next write/flush/close
//!   reporting their outcome. One copy per direction, as documented.
//! - **Sockets read through the pool**: `read_pooled`, the `futures-io` read
//!   side and `StreamReader` receive into the ring's buffer pool (on epoll,
//!   into a buffer allocated for the attempt and freed on `EAGAIN`) and keep
//!   no buffer between reads, so an idle connection holds no read buffer
//!   (README, `idle_memory`, has the heap per idle connection).
//! - **Faults are errors**: `Send` with `MSG_NOSIGNAL` (a closed peer is
//!   `BrokenPipe`/`ConnectionReset`, never SIGPIPE); a reset read is
//!   `ConnectionReset`; invalid addresses and paths (too long, NUL bytes) are
//!   `InvalidInput`; `accept` under `EMFILE` returns the error and keeps the
//!   listener, and `start_server` backs off 100 ms (tested: out of
//!   descriptors it does not spin, then the waiting connection is served).
//! - **Files** (`fs/`): open, read/write at offsets, fsync/fdatasync,
//!   statx, unlink, rename, mkdir, link, symlink, ftruncate are io_uring
//!   opcodes on a ring (the newer ones where the ring's probe finds them,
//!   else on the blocking pool); directory listing, copy, chmod, readlink,
//!   realpath have no opcode and run on the blocking pool, as everything
//!   does on epoll.
//! - **Processes** (`process/`): `std::process::Command` forks and execs
//!   (a plain syscall); the child's exit is a pidfd polled on the ring
//!   (`IORING_OP_POLL_ADD`) or waited for on epoll readiness, then
//!   `waitpid(WNOHANG)`. No SIGCHLD handler, no thread per child. A
//!   `Child` dropped unwaited goes to one reaper thread
//!   that polls the pidfds of such children and reaps each as it exits, so no
//!   zombie is left; `kill_on_drop` kills first. `communicate` writes stdin
//!   and reads both pipes concurrently (`gather!`), so a child filling one
//!   pipe cannot deadlock; a pipe whose `AsyncRead` side was used is read
//!   through it, so bytes it buffered (or a read a cancelled call left in
//!   flight) come first. `output()` applies its piped defaults for its own
//!   spawn only. Spawn errors name the program or working directory.
//! - **Streams** (`streams/`): built on the sockets' public owned-buffer
//!   calls. `StreamReader` keeps received bytes in its own buffer (freed when
//!   empty) and is cancellation-safe. `StreamWriter::write` queues; a task
//!   per writer (asyncio's transport) sends; `drain` waits above 64 KiB until
//!   16 KiB remain. A buffer larger than 64 KiB is freed once sent; if the
//!   runtime drops the sending task (shutdown), a guard inside its future
//!   closes the writer with an error, so `drain`/`wait_closed` cannot wait
//!   forever. `Server` accepts through `incoming()`; `close()` shuts the
//!   listening socket's read side, which stops listening at once even while
//!   the kernel holds the descriptor for the accept in flight.

use std::io;

use super::{IoBuf, IoBufMut, SharedFd, Slice};
pub(crate) use crate::driver::CURRENT_POSITION;
use crate::driver::{Call, Completion, Op, OpKind};

pub(crate) fn result_of(c: io::Result<Completion>) -> io::Result<u32> {
    let c = c?;
    if c.res < 0 {
        Err(io::Error::from_raw_os_error(-c.res))
    } else {
        Ok(c.res as u32)
    }
}

/// Read into an owned buffer (`offset` CURRENT_POSITION: current
/// position), or receive from a socket.
pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
    socket: bool,
    /// A datagram socket: a short read does not mean it is drained.
    datagram: bool,
}

impl<B> Read<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> Read<B> {
        Read {
            fd,
            buf,
            offset,
            socket: false,
            datagram: false,
        }
    }

    /// `recv` (`Call::Recv`): the socket path, shorter than a file read's.
    pub(crate) fn recv(fd: SharedFd, buf: B) -> Read<B> {
        Read {
            fd,
            buf,
            offset: CURRENT_POSITION,
            socket: true,
            datagram: false,
        }
    }

    /// A receive on a datagram socket (one datagram per call).
    pub(crate) fn recv_datagram(fd: SharedFd, buf: B) -> Read<B> {
        Read {
            datagram: true,
            ..Read::recv(fd, buf)
        }
    }
}

impl<B: IoBufMut> OpKind for Read<B> {
    type Output = (io::Result<usize>, B);

    fn call(&mut self) -> Call<'_> {
        let len = self.buf.bytes_total();
        let buf = self.buf.stable_mut_ptr();
        if self.socket {
            Call::Recv {
                fd: &self.fd,
                buf,
                len,
                datagram: self.datagram,
            }
        } else {
            Call::Read {
                fd: &self.fd,
                buf,
                len,
                offset: self.offset,
            }
        }
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        match result_of(result) {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes from the start.
                unsafe { self.buf.set_init(n as usize) };
                (Ok(n as usize), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}

/// How a write reaches the descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WriteTo {
    /// `write`/`pwrite` at an offset (files, pipes).
    Offset(u64),
    /// `send` with `MSG_NOSIGNAL` (sockets: a closed peer is an
    /// error, never a SIGPIPE).
    Socket,
}

/// Write an owned buffer's initialised bytes.
pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    to: WriteTo,
    /// io_uring, sockets: `MSG_WAITALL`, so the kernel sends the whole
    /// buffer before completing (a write-behind has no tail to resubmit).
    whole: bool,
}

impl<B> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, to: WriteTo) -> Write<B> {
        Write {
            fd,
            buf,
            to,
            whole: false,
        }
    }

    /// On a socket on io_uring, the op completes only once every byte is
    /// sent (or on an error).
    pub(crate) fn whole(mut self) -> Write<B> {
        self.whole = true;
        self
    }
}

impl<B: IoBuf> OpKind for Write<B> {
    type Output = (io::Result<usize>, B);

    fn call(&mut self) -> Call<'_> {
        let len = self.buf.bytes_init();
        let buf = self.buf.stable_ptr();
        match self.to {
            WriteTo::Offset(offset) => Call::Write {
                fd: &self.fd,
                buf,
                len,
                offset,
            },
            WriteTo::Socket => Call::Send {
                fd: &self.fd,
                buf,
                len,
                whole: self.whole,
            },
        }
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        (result_of(result).map(|n| n as usize), self.buf)
    }
}

fn advance(offset: u64, n: usize) -> u64 {
    if offset == CURRENT_POSITION {
        offset
    } else {
        offset + n as u64
    }
}

/// Writes all of `buf`'s initialised bytes, resubmitting the rest after a
/// short write. A write of 0 bytes is `WriteZero`.
pub(crate) async fn write_all<B: IoBuf>(fd: &SharedFd, buf: B, to: WriteTo) -> (io::Result<()>, B) {
    let total = buf.bytes_init();
    let mut slice = Slice::new(buf, ..);
    let mut done = 0;
    while done < total {
        let at = match to {
            WriteTo::Offset(o) => WriteTo::Offset(advance(o, done)),
            WriteTo::Socket => WriteTo::Socket,
        };
        let (res, s) = Op::new(Write::new(fd.clone(), slice, at)).await;
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the descriptor accepted no more bytes",
                    )),
                    s.into_inner(),
                )
            }
            Ok(n) => {
                done += n;
                slice = Slice::new(s.into_inner(), done..);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => slice = s,
            Err(e) => return (Err(e), s.into_inner()),
        }
    }
    (Ok(()), slice.into_inner())
}

/// Fills `buf` to its capacity (`bytes_total`), reading as often as
/// needed. End of stream before that is `UnexpectedEof`; the bytes read so
/// far stay in the buffer.
pub(crate) async fn read_exact<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> (io::Result<()>, B) {
    let total = buf.bytes_total();
    let mut done = 0;
    let mut buf = buf;
    while done < total {
        let slice = Slice::new(buf, done..total);
        let (res, s) = Op::new(Read::new(fd.clone(), slice, advance(offset, done))).await;
        buf = s.into_inner();
        match res {
            Ok(0) => {
                return (
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("end of stream after {done} of {total} bytes"),
                    )),
                    buf,
                )
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Reads until end of stream, appending to `buf` and growing it when
/// full; from byte `offset` on, or at the current position
/// (`CURRENT_POSITION`: pipes, sockets).
pub(crate) async fn read_to_end(
    fd: &SharedFd,
    offset: u64,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(4096));
        }
        let at = buf.len();
        let slice = Slice::new(buf, at..);
        let (res, s) = Op::new(Read::new(fd.clone(), slice, advance(offset, at))).await;
        buf = s.into_inner();
        match res {
            Ok(0) => return Ok(buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
