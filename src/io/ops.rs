//! The io_uring operation kinds shared by files, sockets and pipes, and
//! the loops built on them (`read_exact`, `write_all`).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{IoBuf, IoBufMut, SharedFd, Slice};
use crate::driver::op::Completion;
use crate::driver::{Op, OpKind};

/// Use the descriptor's current position (pipes, sockets, appending files).
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

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
}

impl<B> Read<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> Read<B> {
        Read {
            fd,
            buf,
            offset,
            socket: false,
        }
    }

    /// `IORING_OP_RECV`: the socket path, shorter than a file read's.
    pub(crate) fn recv(fd: SharedFd, buf: B) -> Read<B> {
        Read {
            fd,
            buf,
            offset: CURRENT_POSITION,
            socket: true,
        }
    }
}

impl<B: IoBufMut> OpKind for Read<B> {
    type Output = (io::Result<usize>, B);

    fn entry(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_mut_ptr();
        if self.socket {
            opcode::Recv::new(types::Fd(self.fd.as_raw_fd()), ptr, len).build()
        } else {
            opcode::Read::new(types::Fd(self.fd.as_raw_fd()), ptr, len)
                .offset(self.offset)
                .build()
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
    /// `IORING_OP_WRITE` at an offset (files, pipes).
    Offset(u64),
    /// `IORING_OP_SEND` with `MSG_NOSIGNAL` (sockets: a closed peer is an
    /// error, never a SIGPIPE).
    Socket,
}

/// Write an owned buffer's initialised bytes.
pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    to: WriteTo,
}

impl<B> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, to: WriteTo) -> Write<B> {
        Write { fd, buf, to }
    }
}

impl<B: IoBuf> OpKind for Write<B> {
    type Output = (io::Result<usize>, B);

    fn entry(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        let ptr = self.buf.stable_ptr();
        let fd = types::Fd(self.fd.as_raw_fd());
        match self.to {
            WriteTo::Offset(offset) => opcode::Write::new(fd, ptr, len).offset(offset).build(),
            WriteTo::Socket => opcode::Send::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
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
