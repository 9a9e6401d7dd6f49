// Over 500 lines: one state (`PollIo`) whose two sides meet (a read
// moves the write-behind on; a write or a seek gives the read-ahead
// back), and `FdStream`'s thin calls over it; split apart, each half
// would reach into the other's fields.
//! `futures-io` (`AsyncRead`, `AsyncBufRead`, `AsyncWrite`) on top of
//! completion I/O.
//!
//! A readiness-style `poll_read(&mut [u8])` cannot hand the caller's slice
//! to the kernel (the caller may drop it while the read is in flight), so
//! each stream keeps one owned read buffer: the kernel fills it, and
//! `poll_read` copies out of it. That copy is the whole cost;
//! `AsyncBufRead` (`poll_fill_buf` / `consume`) skips it by lending the
//! buffer itself.
//!
//! A write copies the bytes into the stream's owned write buffer and
//! submits them. On a ring (or the blocking pool) the write goes on by
//! itself and `poll_write` returns at once (write-behind); the next
//! `poll_write`, `poll_flush` or `poll_close` waits for it and reports its
//! error, if any, and a read on the same stream moves it on too (the rest
//! after a short one), so a task that writes a request and awaits the
//! reply needs no flush. On a ring, a socket's write-behind is sent with
//! `MSG_WAITALL`: the kernel sends all of it before completing. On epoll a
//! write does nothing unless polled, so `poll_write` claims only what the
//! kernel took and answers `Pending` on `EAGAIN`, as tokio's does: no byte
//! it reported written is left unsent, on a split half either. So each
//! direction costs exactly one copy.
//!
//! As with any buffered writer (`futures::io::BufWriter`, compio's
//! streams), call `flush` or `close` before dropping the stream: on a
//! ring, a write still in flight at drop is cancelled, like every other
//! dropped operation, and its bytes may not arrive. Bytes read into the
//! stream's buffer but not consumed are dropped with it. Conversions hand
//! them over instead: `into_split` keeps them (and the write in flight)
//! with the half that owns the direction, and `into_std_parts` cancels a
//! receive in flight, waits for the cancel's outcome and returns every
//! byte received and not yet read (`into_std` refuses to drop any).
//!
//! The buffers are allocated at first use and kept; a stream used only
//! through the owned-buffer API never allocates them.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::ops::{Read, Write, WriteTo, CURRENT_POSITION};
use super::pooled::{is_enobufs, owned, recv_plain_op, recv_pooled_op, RecvBuf, RecvPooled};
use super::{SharedFd, Slice};
use crate::driver::Op;

/// Size of the read buffer of a non-socket stream, and the most one
/// `poll_write` takes.
const CHUNK: usize = 16 * 1024;

/// What the read side is waiting for.
enum Reading {
    Idle,
    /// A socket receive from the worker's buffer pool.
    Pooled(Op<RecvPooled>),
    /// A read into an owned buffer (pipes and files; sockets when the
    /// pool ran dry).
    Plain(Op<Read<Vec<u8>>>),
}

#[derive(Default)]
pub(crate) struct PollIo {
    /// Sockets receive through the buffer pool and keep no buffer between
    /// reads; other descriptors keep one owned buffer.
    socket: bool,
    /// Received bytes not yet handed out: `data[rpos..]`.
    data: Option<RecvBuf>,
    rpos: usize,
    /// The owned read buffer kept between reads (non-sockets).
    spare: Vec<u8>,
    reading: Option<Reading>,
    /// The write buffer while idle.
    wbuf: Vec<u8>,
    writing: Option<Op<Write<Slice<Vec<u8>>>>>,
    /// A write waiting for readiness on epoll, which took nothing: it is
    /// never polled again (its bytes were not accepted), only dropped by
    /// the next write, flush or close. It holds the writable wake-up.
    unaccepted: Option<Op<Write<Slice<Vec<u8>>>>>,
    /// The error of a write-behind that a read drove to its end, for the
    /// next write, flush or close to report.
    write_error: Option<io::Error>,
    /// The waker the write in flight was last polled with. A read drives
    /// the write only with that same waker: the two sides of one state may
    /// be polled by two tasks (tokio's `io::split` shares it behind a
    /// lock), and the op keeps one waker, so a read from another task must
    /// not take the writer's wake-up.
    write_waker: Option<std::task::Waker>,
}

impl std::fmt::Debug for PollIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollIo")
            .field("buffered", &self.buffered().len())
            .field("reading", &self.reading.is_some())
            .field("writing", &self.writing.is_some())
            .finish()
    }
}

impl PollIo {
    fn new(socket: bool) -> PollIo {
        PollIo {
            socket,
            ..PollIo::default()
        }
    }

    fn buffered(&self) -> &[u8] {
        match &self.data {
            Some(d) => &d[self.rpos..],
            None => &[],
        }
    }

    /// Makes the buffered bytes non-empty, unless at end of stream (then
    /// they stay empty).
    pub(crate) fn poll_fill_buf(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&[u8]>> {
        if self.socket {
            self.drive_write(fd, to, cx);
        } else {
            // A file's read at the current position must follow the
            // write before it.
            ready!(self.poll_flush(fd, to, cx))?;
        }
        if self.buffered().is_empty() {
            // Give a consumed pool buffer back before waiting: an idle
            // socket holds none.
            if let Some(done) = self.data.take() {
                if !self.socket && done.capacity_hint() {
                    self.spare = done.into_owned();
                }
            }
            self.rpos = 0;
            loop {
                match self.reading.get_or_insert(Reading::Idle) {
                    Reading::Idle => {
                        let next = if self.socket {
                            Reading::Pooled(recv_pooled_op(fd))
                        } else {
                            let mut buf = std::mem::take(&mut self.spare);
                            buf.clear();
                            buf.reserve(CHUNK);
                            Reading::Plain(Op::new(Read::new(fd.clone(), buf, CURRENT_POSITION)))
                        };
                        self.reading = Some(next);
                    }
                    Reading::Pooled(op) => match ready!(Pin::new(op).poll(cx)) {
                        Err(e) if is_enobufs(&e) => {
                            self.reading = Some(Reading::Plain(recv_plain_op(fd)));
                        }
                        res => {
                            self.reading = None;
                            self.data = Some(res?);
                            break;
                        }
                    },
                    Reading::Plain(op) => {
                        let (res, buf) = ready!(Pin::new(op).poll(cx));
                        self.reading = None;
                        match res {
                            Ok(_) => {
                                self.data = Some(owned(buf));
                                break;
                            }
                            Err(e) => {
                                self.spare = buf;
                                return Poll::Ready(Err(e));
                            }
                        }
                    }
                }
            }
        }
        Poll::Ready(Ok(self.buffered()))
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.rpos += n.min(self.buffered().len());
    }

    /// Ends the `futures-io` state for a conversion, handing over the
    /// bytes received and not yet read: the buffered ones, then those a
    /// receive in flight took before its cancel reached it (the cancel's
    /// outcome is awaited, so no receive is left running to take later
    /// bytes). A write in flight is cancelled and awaited the same way;
    /// whether its bytes went out is not reported (flush first).
    pub(crate) fn into_received(self) -> io::Result<Vec<u8>> {
        let mut out = self.buffered().to_vec();
        match self.reading {
            Some(Reading::Pooled(op)) => {
                if let Some(Ok(buf)) = op.cancel_and_wait().transpose()? {
                    out.extend_from_slice(&buf);
                }
            }
            Some(Reading::Plain(op)) => {
                if let Some((Ok(n), buf)) = op.cancel_and_wait().transpose()? {
                    out.extend_from_slice(&buf[..n.min(buf.len())]);
                }
            }
            Some(Reading::Idle) | None => {}
        }
        if let Some(op) = self.writing {
            op.cancel_and_wait().transpose()?;
        }
        Ok(out)
    }

    pub(crate) fn poll_read(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = ready!(self.poll_fill_buf(fd, to, cx))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    pub(crate) fn poll_write(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(fd, to, cx, &[io::IoSlice::new(data)])
    }

    /// A gathering write: the slices, in order, are copied into the one
    /// write buffer (up to `CHUNK` bytes) and go out as one write, so a
    /// vectored write costs the same one copy as a plain one.
    pub(crate) fn poll_write_vectored(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_flush(fd, to, cx))?;
        if !self.socket {
            ready!(self.poll_give_back_read_ahead(fd, cx))?;
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        // A write that waited for readiness took nothing (epoll): the
        // caller is offering its bytes again, perhaps other ones.
        self.unaccepted = None;
        let mut buf = std::mem::take(&mut self.wbuf);
        buf.clear();
        for b in bufs {
            let take = b.len().min(CHUNK - buf.len());
            buf.extend_from_slice(&b[..take]);
            if buf.len() == CHUNK {
                break;
            }
        }
        let n = buf.len();
        self.note_write_waker(cx);
        let mut op = Op::new(Write::new(fd.clone(), Slice::new(buf, ..), to).whole());
        match Pin::new(&mut op).poll(cx) {
            // Done at once (the epoll driver's call succeeded): exactly
            // what the kernel took is reported, nothing is left behind.
            Poll::Ready((res, slice)) => {
                self.wbuf = slice.into_inner();
                match res {
                    Ok(0) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the peer accepted no more bytes",
                    ))),
                    other => Poll::Ready(other),
                }
            }
            // On a ring (or the blocking pool) the write goes on by itself:
            // write-behind, collected by the next write, flush or close.
            Poll::Pending if op.runs_unpolled() => {
                self.writing = Some(op);
                Poll::Ready(Ok(n))
            }
            // Waiting for readiness (epoll, `EAGAIN`): nothing was taken,
            // so nothing is claimed (as tokio's `poll_write`); the op only
            // holds the wake-up until the caller offers the bytes again.
            Poll::Pending => {
                self.unaccepted = Some(op);
                Poll::Pending
            }
        }
    }

    /// Non-sockets: the read side reads ahead (a whole chunk), which moves
    /// the descriptor's position past what was handed out. Before a write
    /// or a seek, the read in flight is awaited and the position moved
    /// back over the bytes not handed out, which are dropped: the kernel's
    /// position is then the caller's. A descriptor without a position (a
    /// pipe, a terminal) keeps its bytes. Returns how many bytes were
    /// given back.
    pub(crate) fn poll_give_back_read_ahead(
        &mut self,
        fd: &SharedFd,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u64>> {
        let reading = matches!(self.reading, Some(Reading::Plain(_)));
        if !reading && self.buffered().is_empty() {
            return Poll::Ready(Ok(0));
        }
        // SAFETY: plain syscall on our own descriptor; moves nothing.
        if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_CUR) } < 0 {
            // No position (a pipe, a terminal): a read in flight is not
            // waited for, and nothing is given back.
            return Poll::Ready(Ok(0));
        }
        if let Some(Reading::Plain(op)) = self.reading.as_mut() {
            let (res, buf) = ready!(Pin::new(op).poll(cx));
            self.reading = None;
            match res {
                Ok(_) => {
                    // Appended after what is still buffered.
                    let mut all = self.buffered().to_vec();
                    all.extend_from_slice(&buf);
                    self.data = Some(owned(all));
                    self.rpos = 0;
                }
                Err(e) => {
                    self.spare = buf;
                    return Poll::Ready(Err(e));
                }
            }
        }
        let unread = self.buffered().len();
        if unread == 0 {
            return Poll::Ready(Ok(0));
        }
        // SAFETY: plain syscall on our own descriptor (seekable: checked
        // above).
        let r = unsafe { libc::lseek(fd.as_raw_fd(), -(unread as libc::off_t), libc::SEEK_CUR) };
        if r < 0 {
            return Poll::Ready(Err(io::Error::last_os_error()));
        }
        self.data = None;
        self.rpos = 0;
        Poll::Ready(Ok(unread as u64))
    }

    /// Moves the position (files): the write-behind finished, the read
    /// ahead given back, then one `lseek`.
    pub(crate) fn poll_seek(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
        pos: io::SeekFrom,
    ) -> Poll<io::Result<u64>> {
        ready!(self.poll_flush(fd, to, cx))?;
        ready!(self.poll_give_back_read_ahead(fd, cx))?;
        let (offset, whence) = match pos {
            io::SeekFrom::Start(n) => (
                libc::off_t::try_from(n).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek offset out of range")
                })?,
                libc::SEEK_SET,
            ),
            io::SeekFrom::End(n) => (n as libc::off_t, libc::SEEK_END),
            io::SeekFrom::Current(n) => (n as libc::off_t, libc::SEEK_CUR),
        };
        // SAFETY: plain syscall on our own descriptor.
        let r = unsafe { libc::lseek(fd.as_raw_fd(), offset, whence) };
        if r < 0 {
            return Poll::Ready(Err(io::Error::last_os_error()));
        }
        Poll::Ready(Ok(r as u64))
    }

    /// A read (or anything else that polls this state) moves the
    /// write-behind on: the write in flight, and the rest after a short
    /// one, so a task that writes and then awaits the reply on the same
    /// stream never waits on its own unsent bytes (on epoll the write
    /// waits for readiness, and its wake-up re-polls the read). An error
    /// is kept for the next write, flush or close.
    fn drive_write(&mut self, fd: &SharedFd, to: WriteTo, cx: &mut Context<'_>) {
        match &self.write_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => return,
        }
        while let Some(op) = self.writing.as_mut() {
            let Poll::Ready(out) = Pin::new(op).poll(cx) else {
                return;
            };
            self.writing = None;
            if let Err(e) = self.finish_write(fd, to, out) {
                self.write_error = Some(e);
                return;
            }
        }
    }

    /// Records the waker the write side is polled with (no clone when it
    /// is the same task's).
    fn note_write_waker(&mut self, cx: &Context<'_>) {
        match &self.write_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.write_waker = Some(cx.waker().clone()),
        }
    }

    /// Handles one finished write: resubmits the rest after a short write.
    fn finish_write(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        (res, slice): (io::Result<usize>, Slice<Vec<u8>>),
    ) -> io::Result<()> {
        let begin = slice.begin();
        let buf = slice.into_inner();
        match res {
            Ok(0) if begin < buf.len() => {
                self.wbuf = buf;
                Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the peer accepted no more bytes",
                ))
            }
            Ok(n) if begin + n < buf.len() => {
                let at = match to {
                    WriteTo::Offset(o) if o != CURRENT_POSITION => {
                        WriteTo::Offset(o + (begin + n) as u64)
                    }
                    other => other,
                };
                self.writing = Some(Op::new(
                    Write::new(fd.clone(), Slice::new(buf, begin + n..), at).whole(),
                ));
                Ok(())
            }
            Ok(_) => {
                self.wbuf = buf;
                Ok(())
            }
            Err(e) => {
                self.wbuf = buf;
                Err(e)
            }
        }
    }

    /// Waits for the write in flight (and the rest of it, after short
    /// writes).
    pub(crate) fn poll_flush(
        &mut self,
        fd: &SharedFd,
        to: WriteTo,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        // Bytes not accepted are not flushed: the caller was told Pending.
        self.unaccepted = None;
        if let Some(e) = self.write_error.take() {
            return Poll::Ready(Err(e));
        }
        if self.writing.is_some() {
            self.note_write_waker(cx);
        }
        while let Some(op) = self.writing.as_mut() {
            let out = ready!(Pin::new(op).poll(cx));
            self.writing = None;
            self.finish_write(fd, to, out)?;
        }
        Poll::Ready(Ok(()))
    }
}

/// A descriptor read and written as a byte stream (socket or pipe), with
/// both the owned-buffer calls and the `futures-io` state.
#[derive(Debug)]
pub(crate) struct FdStream {
    fd: SharedFd,
    to: WriteTo,
    io: PollIo,
}

impl FdStream {
    pub(crate) fn socket(fd: std::os::fd::OwnedFd) -> FdStream {
        FdStream {
            fd: SharedFd::new(fd),
            to: WriteTo::Socket,
            io: PollIo::new(true),
        }
    }

    /// A connected socket whose descriptor ops already share.
    pub(crate) fn socket_shared(fd: SharedFd) -> FdStream {
        FdStream {
            fd,
            to: WriteTo::Socket,
            io: PollIo::new(true),
        }
    }

    pub(crate) fn pipe(fd: std::os::fd::OwnedFd) -> FdStream {
        FdStream {
            fd: SharedFd::new(fd),
            to: WriteTo::Offset(CURRENT_POSITION),
            io: PollIo::new(false),
        }
    }

    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// A socket (its write side shuts with `shutdown`).
    pub(crate) fn is_socket(&self) -> bool {
        matches!(self.to, WriteTo::Socket)
    }

    /// The `futures-io` read side has a receive in flight, whose bytes
    /// would come after anything read around it (`io::copy` then copies
    /// through the traits).
    pub(crate) fn read_in_flight(&self) -> bool {
        matches!(
            self.io.reading,
            Some(Reading::Pooled(_) | Reading::Plain(_))
        )
    }

    /// Bytes the `futures-io` read side received and has not handed out.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.io.buffered()
    }

    /// Two streams on one descriptor, each with its own `futures-io`
    /// state: one to read from, one to write to (from different tasks).
    /// The write-behind state (a write in flight, the write buffer) goes
    /// with the writer, so its outcome is reported by the writer's next
    /// write, flush or close.
    pub(crate) fn split(mut self) -> (FdStream, FdStream) {
        let writer = self.take_writer();
        (self, writer)
    }

    /// A stream on the same descriptor holding this one's write-behind
    /// state (the write in flight, the write buffer, its error), leaving
    /// this one the read side: the halves of `split`, or the lent writer
    /// of a borrowed split until [`rejoin`](FdStream::rejoin).
    pub(crate) fn take_writer(&mut self) -> FdStream {
        let mut writer_io = PollIo::new(self.io.socket);
        writer_io.wbuf = std::mem::take(&mut self.io.wbuf);
        writer_io.writing = self.io.writing.take();
        writer_io.unaccepted = self.io.unaccepted.take();
        writer_io.write_error = self.io.write_error.take();
        writer_io.write_waker = self.io.write_waker.take();
        FdStream {
            fd: self.fd.clone(),
            to: self.to,
            io: writer_io,
        }
    }

    /// Takes the write-behind state back from `writer` (from
    /// [`take_writer`](FdStream::take_writer) on this stream, or the write
    /// half of the same split), so one stream has both sides again.
    pub(crate) fn rejoin(&mut self, writer: FdStream) {
        debug_assert!(self.fd.same(&writer.fd), "rejoined halves of one stream");
        let mut w = writer.io;
        self.io.wbuf = std::mem::take(&mut w.wbuf);
        self.io.writing = w.writing.take();
        self.io.unaccepted = w.unaccepted.take();
        self.io.write_error = w.write_error.take();
        self.io.write_waker = w.write_waker.take();
    }

    /// The descriptor itself (a duplicate while operations of dropped
    /// futures still hold it; they let go when their cancellation
    /// completes), and the bytes received but not yet read
    /// (`PollIo::into_received`).
    pub(crate) fn into_fd_and_received(self) -> io::Result<(std::os::fd::OwnedFd, Vec<u8>)> {
        let FdStream { fd, io, .. } = self;
        let received = io.into_received()?;
        let fd = SharedFd::try_unwrap(fd).or_else(|shared| shared.try_clone())?;
        Ok((fd, received))
    }

    /// The descriptor for a conversion that cannot carry received bytes:
    /// an error (naming `into_std_parts`) if there are any, rather than
    /// losing them.
    pub(crate) fn into_fd(self, what: &str) -> io::Result<std::os::fd::OwnedFd> {
        let (fd, received) = self.into_fd_and_received()?;
        if received.is_empty() {
            return Ok(fd);
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "ferrio: {what}::into_std would drop {} bytes received and not yet read; \
                 {what}::into_std_parts hands them over with the descriptor",
                received.len()
            ),
        ))
    }

    fn raw(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) async fn read<B: super::IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        let fd = self.fd.clone();
        match self.to {
            WriteTo::Socket => Op::new(Read::recv(fd, buf)).await,
            WriteTo::Offset(_) => Op::new(Read::new(fd, buf, CURRENT_POSITION)).await,
        }
    }

    /// One receive into the worker's buffer pool (sockets).
    pub(crate) async fn read_pooled(&self) -> io::Result<RecvBuf> {
        super::pooled::recv_pooled(&self.fd).await
    }

    pub(crate) async fn read_exact<B: super::IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        super::ops::read_exact(&self.fd, buf, CURRENT_POSITION).await
    }

    pub(crate) async fn write<B: super::IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Write::new(self.fd.clone(), buf, self.to)).await
    }

    pub(crate) async fn write_all<B: super::IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        super::ops::write_all(&self.fd, buf, self.to).await
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(&self.fd, self.to, cx, out)
    }

    /// tokio's read: received bytes copied straight into `buf`'s unfilled
    /// part (one copy, no zero-fill).
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        let data = ready!(self.poll_fill_buf(cx))?;
        let n = data.len().min(room);
        buf.put_slice(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.io.poll_fill_buf(&self.fd, self.to, cx)
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.io.consume(n)
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(&self.fd, self.to, cx, data)
    }

    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_vectored(&self.fd, self.to, cx, bufs)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(&self.fd, self.to, cx)
    }

    /// Moves a file's position (`PollIo::poll_seek`).
    pub(crate) fn poll_seek(
        &mut self,
        cx: &mut Context<'_>,
        pos: io::SeekFrom,
    ) -> Poll<io::Result<u64>> {
        self.io.poll_seek(&self.fd, self.to, cx, pos)
    }

    /// Flushes, then shuts the write side of a socket (a pipe's write end
    /// is closed by dropping it).
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        if let WriteTo::Socket = self.to {
            let r = crate::driver::shutdown_socket(self.raw(), libc::SHUT_WR);
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ENOTCONN) {
                    return Poll::Ready(Err(e));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}
