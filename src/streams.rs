//! asyncio Streams: [`open_connection`] and [`start_server`] give a
//! [`StreamReader`] / [`StreamWriter`] pair per connection, with asyncio's
//! methods (`read`, `readline`, `readexactly`, `readuntil`, `at_eof`;
//! `write`, `drain`, `close`, `wait_closed`).
//!
//! Built only on [`crate::net`]'s public owned-buffer calls.
//!
//! ## Mapping from asyncio
//! - `await reader.read(-1)` is [`StreamReader::read_to_end`].
//! - `IncompleteReadError` and `LimitOverrunError` come back inside an
//!   `io::Error` (kinds `UnexpectedEof` and `InvalidData`); take them out
//!   with [`IncompleteReadError::from_io`] / [`LimitOverrunError::from_io`].
//! - `writer.write(data)` queues the bytes; a task per writer (asyncio's
//!   transport) sends them, so they go out even if you never `drain`.
//!   `drain()` waits while more than 64 KiB are queued, until 16 KiB or
//!   less remain (asyncio's default high- and low-water marks), and
//!   reports a failed send.
//! - Cancellation is dropping the future: every reader method is
//!   cancellation-safe, as in asyncio. Bytes already received stay
//!   buffered, and a receive still in flight stays in flight: the next
//!   call picks it up, so `wait_for(reader.readline(), d)` in a loop never
//!   loses data.
//! - Dropping a `StreamWriter` closes it (flushes, then shuts down the
//!   write side), as the garbage collector closes an asyncio transport.
//! - `readuntil`/`readline`'s `limit` is asyncio's: the separator must
//!   start within `limit` bytes; its own bytes do not count.
//! - When the runtime shuts down, the writer's sending task ends with it:
//!   bytes still queued are dropped, and `drain`, `wait_closed` and later
//!   writes return an error (kind `Other`) instead of waiting. Reader calls
//!   fail as any I/O does after shutdown.
//! - An idle writer keeps at most 64 KiB of buffer (plus a 64 KiB spare):
//!   a large write's buffer is freed once it is sent.
//!
//! ```
//! ferrio::run(async {
//!     let server = ferrio::start_server(
//!         |mut reader: ferrio::StreamReader, writer: ferrio::StreamWriter| async move {
//!             while let Ok(line) = reader.readline().await {
//!                 if line.is_empty() { break; }
//!                 writer.write(&line).unwrap();
//!                 writer.drain().await.unwrap();
//!             }
//!         },
//!         "127.0.0.1:0",
//!     ).await.unwrap();
//!     let (mut reader, writer) = ferrio::open_connection(server.local_addr()).await.unwrap();
//!     writer.write(b"hello\n").unwrap();
//!     assert_eq!(reader.readline().await.unwrap(), b"hello\n");
//!     writer.close();
//!     writer.wait_closed().await.unwrap();
//!     server.close();
//!     server.wait_closed().await;
//! });
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use crate::weak_list::WeakList;
use crate::Task;
use futures_core::Stream;

/// asyncio's default `limit` for `readline` / `readuntil`.
pub const DEFAULT_LIMIT: usize = 64 * 1024;
const HIGH_WATER: usize = 64 * 1024;
const LOW_WATER: usize = HIGH_WATER / 4;
/// The most capacity a writer's queue and its spare each keep once sent:
/// steady writes up to this size reuse their buffers, and a burst's
/// larger buffer is freed when it has gone out.
const KEEP_CAPACITY: usize = HIGH_WATER;

/// The connection under a reader/writer pair.
#[derive(Debug)]
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    async fn read_pooled(&self) -> io::Result<crate::io::RecvBuf> {
        match self {
            Conn::Tcp(s) => s.read_pooled().await,
            Conn::Unix(s) => s.read_pooled().await,
        }
    }

    async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Conn::Tcp(s) => s.write_all(buf).await,
            Conn::Unix(s) => s.write_all(buf).await,
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        let r = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    /// Shuts the connection down both ways now (queued bytes are lost).
    fn abort(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Conn::Tcp(s) => s.peer_addr().ok(),
            Conn::Unix(_) => None,
        }
    }
}

fn pair(conn: Conn, limit: usize) -> (StreamReader, StreamWriter) {
    let conn = Arc::new(conn);
    (
        StreamReader::new(conn.clone(), limit),
        StreamWriter::new(conn),
    )
}

/// Connects over TCP (asyncio's `open_connection`).
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    Ok(pair(Conn::Tcp(stream), DEFAULT_LIMIT))
}

/// Connects to a Unix-domain socket (asyncio's `open_unix_connection`).
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = UnixStream::connect(path).await?;
    Ok(pair(Conn::Unix(stream), DEFAULT_LIMIT))
}

/// The stream ended before `expected` bytes (or a separator) arrived
/// (asyncio's `IncompleteReadError`). `partial` holds the bytes read,
/// which were taken from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteReadError {
    /// What was read before the end of the stream.
    pub partial: Vec<u8>,
    /// The byte count asked for (`None` for `readuntil`).
    pub expected: Option<usize>,
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read before the end of the stream; the separator was not found",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteReadError {}

impl IncompleteReadError {
    /// The `IncompleteReadError` inside an `io::Error` from a reader.
    pub fn from_io(e: &io::Error) -> Option<&IncompleteReadError> {
        e.get_ref()?.downcast_ref()
    }

    /// Takes it out of the `io::Error` (with the partial bytes).
    pub fn into_partial(e: io::Error) -> Option<Vec<u8>> {
        e.into_inner()?
            .downcast::<IncompleteReadError>()
            .ok()
            .map(|b| b.partial)
    }
}

/// The separator was not found within the reader's limit (asyncio's
/// `LimitOverrunError`). Nothing was taken from the stream: `consumed`
/// bytes are buffered and can be read with `read`/`readexactly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOverrunError {
    /// How many bytes are buffered up to (and including) the separator,
    /// or that were searched without finding it. (asyncio counts up to
    /// the separator's start instead; including it here means
    /// `readexactly(consumed)` skips the whole overlong line.)
    pub consumed: usize,
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "separator not found within the limit ({} bytes buffered)",
            self.consumed
        )
    }
}

impl std::error::Error for LimitOverrunError {}

impl LimitOverrunError {
    /// The `LimitOverrunError` inside an `io::Error` from a reader.
    pub fn from_io(e: &io::Error) -> Option<&LimitOverrunError> {
        e.get_ref()?.downcast_ref()
    }
}

/// A receive in flight, kept across cancelled calls.
type PendingRead =
    std::pin::Pin<Box<dyn Future<Output = io::Result<crate::io::RecvBuf>> + Send + Sync>>;

/// The reading half of a connection (asyncio's `StreamReader`).
pub struct StreamReader {
    conn: Arc<Conn>,
    /// The receive a cancelled call left in flight: the next call resumes
    /// it, so bytes it brings are never lost.
    pending: Option<PendingRead>,
    /// Received bytes not yet returned: `buf[pos..]`. Freed when empty,
    /// so an idle reader holds no memory (receives use the worker's
    /// buffer pool).
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    limit: usize,
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    fn new(conn: Arc<Conn>, limit: usize) -> StreamReader {
        StreamReader {
            conn,
            pending: None,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            limit,
        }
    }

    /// The line-length limit of `readline`/`readuntil` (default 64 KiB).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the line-length limit.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
        out
    }

    /// Receives more bytes into the buffer; false at end of stream. If
    /// the caller is cancelled while waiting, the receive stays in flight
    /// and the next call resumes it, so no received byte is lost.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let conn = &self.conn;
        let pending = self.pending.get_or_insert_with(|| {
            let conn = conn.clone();
            Box::pin(async move { conn.read_pooled().await })
        });
        let chunk = pending.as_mut().await;
        self.pending = None;
        let chunk = chunk?;
        if chunk.is_empty() {
            self.eof = true;
            return Ok(false);
        }
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(&chunk);
        Ok(true)
    }

    /// The stream ended first: everything buffered goes into the error.
    fn incomplete(&mut self, expected: Option<usize>) -> io::Error {
        let k = self.buffered().len();
        let partial = self.take(k);
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            IncompleteReadError { partial, expected },
        )
    }

    /// Up to `n` bytes: what is buffered, or one receive's worth. Empty at
    /// end of stream (or when `n` is 0).
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered().is_empty() {
            self.fill().await?;
        }
        let k = self.buffered().len().min(n);
        Ok(self.take(k))
    }

    /// Everything until end of stream (asyncio's `read(-1)`).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? {}
        let k = self.buffered().len();
        Ok(self.take(k))
    }

    /// Exactly `n` bytes. At end of stream first, an `UnexpectedEof` error
    /// holding an [`IncompleteReadError`] with the bytes read.
    pub async fn readexactly(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buffered().len() < n {
            if !self.fill().await? {
                return Err(self.incomplete(Some(n)));
            }
        }
        Ok(self.take(n))
    }

    /// Bytes up to and including `separator`.
    ///
    /// The [`limit`](Self::limit) applies as in asyncio: the separator
    /// must *start* within it (at most `limit` bytes before it), so with
    /// the limit at 10 an 11-byte line `b"0123456789\n"` is accepted and
    /// a 12-byte one is not; the separator's own bytes do not count.
    ///
    /// - End of stream first: `UnexpectedEof` holding an
    ///   [`IncompleteReadError`] with everything that was buffered.
    /// - More than `limit` bytes before the separator (found, or not
    ///   found and no longer able to start within the limit):
    ///   `InvalidData` holding a [`LimitOverrunError`]; nothing is taken
    ///   from the stream.
    /// - An empty separator is `InvalidInput`.
    ///
    /// ```
    /// ferrio::run(async {
    ///     let server = ferrio::start_server(
    ///         |_r, w: ferrio::StreamWriter| async move {
    ///             w.write(b"0123456789\n0123456789A\n").unwrap();
    ///         },
    ///         "127.0.0.1:0",
    ///     ).await.unwrap();
    ///     let (mut reader, _w) = ferrio::open_connection(server.local_addr()).await.unwrap();
    ///     reader.set_limit(10);
    ///     assert_eq!(reader.readuntil(b"\n").await.unwrap(), b"0123456789\n");
    ///     let e = reader.readuntil(b"\n").await.unwrap_err();
    ///     assert!(ferrio::LimitOverrunError::from_io(&e).is_some());
    /// });
    /// ```
    pub async fn readuntil(&mut self, separator: &[u8]) -> io::Result<Vec<u8>> {
        if separator.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "readuntil: the separator must not be empty",
            ));
        }
        // Bytes known to hold no separator start: the search resumes here.
        let mut searched = 0;
        loop {
            let data = self.buffered();
            if let Some(i) = find(&data[searched..], separator) {
                let start = searched + i;
                let end = start + separator.len();
                if start > self.limit {
                    return Err(overrun(end));
                }
                return Ok(self.take(end));
            }
            // A separator not found yet can only start in its last
            // `len - 1` bytes (a partial match) or later.
            searched = (data.len() + 1).saturating_sub(separator.len());
            if searched > self.limit {
                return Err(overrun(data.len()));
            }
            if !self.fill().await? {
                return Err(self.incomplete(None));
            }
        }
    }

    /// One line, ending in `\n`; at end of stream, whatever is left (empty
    /// when nothing is). A line with more than `limit` bytes before its
    /// `\n` (see [`readuntil`](Self::readuntil)) is an `InvalidData`
    /// error holding a [`LimitOverrunError`]; unlike asyncio, which drops
    /// such a line, the bytes stay buffered (read them with `read`).
    pub async fn readline(&mut self) -> io::Result<Vec<u8>> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Ok(IncompleteReadError::into_partial(e).unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }

    /// True when the stream ended and nothing is buffered.
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered().is_empty()
    }
}

fn overrun(consumed: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, LimitOverrunError { consumed })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct WriterState {
    /// Queued bytes, not yet handed to the kernel.
    queued: Vec<u8>,
    /// Bytes being sent now.
    in_flight: usize,
    /// A spare buffer, so the queue does not reallocate every time.
    spare: Vec<u8>,
    closing: bool,
    closed: bool,
    /// A send failed: (kind, message); later writes and drains report it.
    error: Option<(io::ErrorKind, String)>,
    sender: Option<Waker>,
    drainers: Vec<Waker>,
    closers: Vec<Waker>,
}

impl WriterState {
    fn error(&self) -> Option<io::Error> {
        self.error
            .as_ref()
            .map(|(k, m)| io::Error::new(*k, m.clone()))
    }

    /// Marks the writer closed now, dropping what is queued; returns the
    /// waiters to wake once the lock is released.
    fn close_now(&mut self) -> Vec<Waker> {
        self.queued = Vec::new();
        self.spare = Vec::new();
        self.in_flight = 0;
        self.closing = true;
        self.closed = true;
        self.take_all_waiters()
    }

    /// Every drain and close waiter, to wake once the lock is released.
    fn take_all_waiters(&mut self) -> Vec<Waker> {
        self.drainers
            .drain(..)
            .chain(self.closers.drain(..))
            .collect()
    }
}

/// Adds `waker` to `list` unless it is already there (a future polled
/// again and again must not grow the list).
fn register(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

fn wake(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

struct WriterShared {
    conn: Arc<Conn>,
    state: Mutex<WriterState>,
}

/// The writing half of a connection (asyncio's `StreamWriter`).
pub struct StreamWriter {
    shared: Arc<WriterShared>,
    sender: Task<()>,
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("StreamWriter")
            .field("queued", &(st.queued.len() + st.in_flight))
            .field("closing", &st.closing)
            .finish()
    }
}

impl StreamWriter {
    fn new(conn: Arc<Conn>) -> StreamWriter {
        let shared = Arc::new(WriterShared {
            conn,
            state: Mutex::new(WriterState::default()),
        });
        // The guard travels inside the task's future: however the task
        // ends (its loop returns, or the runtime shuts down and drops it,
        // polled or not), waiters are released.
        let exit = SenderExit(shared.clone());
        let for_task = shared.clone();
        let sender = crate::spawn(async move {
            let _exit = exit;
            send_loop(for_task).await
        });
        StreamWriter { shared, sender }
    }

    /// Queues `data` for sending. Fails if the writer is closing or a
    /// previous send failed.
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        let mut st = lock(&self.shared.state);
        if let Some(e) = st.error() {
            return Err(e);
        }
        if st.closing {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "StreamWriter: write after close",
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        st.queued.extend_from_slice(data);
        if let Some(w) = st.sender.take() {
            drop(st);
            w.wake();
        }
        Ok(())
    }

    /// Queues each buffer in turn.
    pub fn writelines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for l in lines {
            self.write(l.as_ref())?;
        }
        Ok(())
    }

    /// Capacity held by the queue and its spare buffer (not counting a
    /// batch being sent).
    #[cfg(test)]
    pub(crate) fn queue_capacity(&self) -> usize {
        let st = lock(&self.shared.state);
        st.queued.capacity() + st.spare.capacity()
    }

    /// Bytes queued or being sent.
    pub fn buffered(&self) -> usize {
        let st = lock(&self.shared.state);
        st.queued.len() + st.in_flight
    }

    /// Flow control: waits while more than 64 KiB are queued, until 16 KiB
    /// or less remain. Reports a failed send.
    pub async fn drain(&self) -> io::Result<()> {
        let mut waiting = false;
        poll_fn(|cx| {
            let mut st = lock(&self.shared.state);
            if let Some(e) = st.error() {
                return Poll::Ready(Err(e));
            }
            let pending = st.queued.len() + st.in_flight;
            if st.closed || pending <= LOW_WATER || (!waiting && pending <= HIGH_WATER) {
                return Poll::Ready(Ok(()));
            }
            waiting = true;
            register(&mut st.drainers, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Sends what is queued, then shuts down the write side (the peer
    /// reads end of stream). Returns at once; see [`wait_closed`](Self::wait_closed).
    pub fn close(&self) {
        let mut st = lock(&self.shared.state);
        st.closing = true;
        if let Some(w) = st.sender.take() {
            drop(st);
            w.wake();
        }
    }

    /// Closes at once: queued bytes are dropped, the connection is shut
    /// down both ways (asyncio's `transport.abort()`).
    pub fn abort(&self) {
        // The state first, so the sender's exit guard (run by the cancel)
        // finds the writer closed and the abort's error stands.
        let waiters = {
            let mut st = lock(&self.shared.state);
            st.error.get_or_insert((
                io::ErrorKind::ConnectionAborted,
                "StreamWriter aborted".into(),
            ));
            st.close_now()
        };
        self.sender.cancel();
        self.shared.conn.abort();
        wake(waiters);
    }

    /// True once `close` was called (or a send failed).
    pub fn is_closing(&self) -> bool {
        let st = lock(&self.shared.state);
        st.closing || st.error.is_some()
    }

    /// Waits until the writer is closed; reports a failed send.
    pub async fn wait_closed(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = lock(&self.shared.state);
            if let Some(e) = st.error() {
                return Poll::Ready(Err(e));
            }
            if st.closed {
                return Poll::Ready(Ok(()));
            }
            register(&mut st.closers, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// The peer's address (TCP only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.conn.peer_addr()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // Like an asyncio transport collected unclosed: flush and close.
        // The sender task runs on (the `Task` handle detaches).
        self.close();
    }
}

/// Runs when the writer's sender task ends, however it ends. If the loop
/// did not close the writer itself (the runtime shut down and dropped the
/// task, before or during a send), the writer is closed with an error, so
/// `drain`, `wait_closed` and later writes report it instead of waiting
/// for a sender that is gone.
struct SenderExit(Arc<WriterShared>);

impl Drop for SenderExit {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        if st.closed {
            return;
        }
        st.error.get_or_insert((
            io::ErrorKind::Other,
            "StreamWriter: the runtime shut down before the queued bytes were sent".into(),
        ));
        let waiters = st.close_now();
        drop(st);
        wake(waiters);
    }
}

/// The writer's transport: sends whatever is queued, one buffer at a time.
async fn send_loop(shared: Arc<WriterShared>) {
    loop {
        let batch = poll_fn(|cx| {
            let mut st = lock(&shared.state);
            if !st.queued.is_empty() {
                let spare = std::mem::take(&mut st.spare);
                let batch = std::mem::replace(&mut st.queued, spare);
                st.in_flight = batch.len();
                return Poll::Ready(Some(batch));
            }
            if st.closing {
                return Poll::Ready(None);
            }
            st.sender = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let Some(batch) = batch else {
            let res = shared.conn.shutdown_write();
            let mut st = lock(&shared.state);
            if let Err(e) = res {
                st.error.get_or_insert((e.kind(), e.to_string()));
            }
            st.closed = true;
            let waiters = st.take_all_waiters();
            drop(st);
            wake(waiters);
            return;
        };
        let (res, mut batch) = shared.conn.write_all(batch).await;
        let mut st = lock(&shared.state);
        st.in_flight = 0;
        if let Err(e) = res {
            st.error.get_or_insert((e.kind(), e.to_string()));
            let waiters = st.close_now();
            drop(st);
            wake(waiters);
            return;
        }
        batch.clear();
        // Keep the larger buffer as the spare, up to KEEP_CAPACITY: a
        // connection that once sent a big response must not hold its
        // capacity while idle. (A bigger batch is freed here, after the
        // lock, and the queue it came from was replaced by the spare.)
        let freed = if batch.capacity() <= KEEP_CAPACITY && st.spare.capacity() < batch.capacity() {
            std::mem::replace(&mut st.spare, batch)
        } else {
            batch
        };
        if st.queued.len() <= LOW_WATER {
            let drainers = std::mem::take(&mut st.drainers);
            drop(st);
            wake(drainers);
        } else {
            drop(st);
        }
        drop(freed);
    }
}

/// A running connection handler: its task and its connection.
struct Handler {
    task: Arc<Task<()>>,
    conn: Arc<Conn>,
}

/// Counts live connection handlers; `wait_closed` waits for zero.
#[derive(Default)]
struct ServerState {
    active: usize,
    accepting: bool,
    waiters: Vec<Waker>,
    next_id: u64,
    handlers: HashMap<u64, Handler>,
    /// Handlers that ended before their task handle was filed.
    ended_early: HashSet<u64>,
    /// Connections whose handler returned: their writer may still be
    /// flushing, and `abort_clients` must reach them too.
    lingering: WeakList<Conn>,
}

struct ServerShared {
    listener: Arc<Listener>,
    state: Mutex<ServerState>,
    accept_loop: Mutex<Option<Task<()>>>,
    local: Option<SocketAddr>,
}

/// A listening server (asyncio's `Server`), serving from the moment
/// [`start_server`] returns. Dropping it stops accepting (nothing could
/// stop it otherwise); connections being handled go on.
pub struct Server {
    shared: Arc<ServerShared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local)
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// Which listener a server accepts on.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Stops listening now: new connections are refused and a pending
    /// accept fails. (Dropping the descriptor alone is not enough while
    /// the kernel still holds it for an accept in flight.)
    fn stop(&self) {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        };
        // SAFETY: plain syscall on a descriptor we own; shutting down a
        // listening socket's receive side closes it for new connections.
        unsafe { libc::shutdown(fd, libc::SHUT_RD) };
    }

    /// Accepts connections one after another through the listener's
    /// `incoming` stream (one multi-shot accept).
    fn incoming(
        &self,
    ) -> Box<dyn futures_core::Stream<Item = io::Result<Conn>> + Send + Unpin + '_> {
        match self {
            Listener::Tcp(l) => Box::new(MapStream(l.incoming(), |r: io::Result<TcpStream>| {
                r.map(|s| {
                    let _ = s.set_nodelay(true);
                    Conn::Tcp(s)
                })
            })),
            Listener::Unix(l) => Box::new(MapStream(l.incoming(), |r: io::Result<UnixStream>| {
                r.map(Conn::Unix)
            })),
        }
    }
}

/// `stream.map(f)` without a futures dependency.
struct MapStream<S, F>(S, F);

impl<S, F, T> futures_core::Stream for MapStream<S, F>
where
    S: futures_core::Stream + Unpin,
    F: FnMut(S::Item) -> T + Unpin,
{
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<T>> {
        let this = &mut *self;
        std::pin::Pin::new(&mut this.0)
            .poll_next(cx)
            .map(|o| o.map(&mut this.1))
    }
}

/// Starts a TCP server calling `handler(reader, writer)` for each
/// connection, each in its own task (asyncio's `start_server`). Sockets
/// get `TCP_NODELAY`, as in asyncio.
///
/// When the process runs out of descriptors (`EMFILE`/`ENFILE`) or
/// memory, accepting pauses for 100 ms and resumes: the server neither
/// spins nor stops.
pub async fn start_server<H, F>(handler: H, addr: impl ToSocketAddrs) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr)?;
    let local = Some(listener.local_addr()?);
    Ok(Server::start(Listener::Tcp(listener), local, handler))
}

/// [`start_server`] on a Unix-domain socket at `path`.
pub async fn start_unix_server<H, F>(handler: H, path: impl AsRef<Path>) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = UnixListener::bind(path)?;
    Ok(Server::start(Listener::Unix(listener), None, handler))
}

/// How long accepting pauses after running out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Decrements the handler count when a handler ends, however it ends.
struct HandlerGuard {
    shared: Arc<ServerShared>,
    id: u64,
    /// False when the handler never got a task (it panicked while making
    /// its future): there is no entry to clear.
    spawned: bool,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.active -= 1;
        let task = st.handlers.remove(&self.id);
        match &task {
            Some(h) => st.lingering.push(&h.conn),
            None if self.spawned => {
                st.ended_early.insert(self.id);
            }
            None => {}
        }
        let waiters = if st.active == 0 && !st.accepting {
            std::mem::take(&mut st.waiters)
        } else {
            Vec::new()
        };
        drop(st);
        // Our own Task handle detaches when dropped (outside the lock).
        drop(task);
        for w in waiters {
            w.wake();
        }
    }
}

impl Server {
    fn start<H, F>(listener: Listener, local: Option<SocketAddr>, handler: H) -> Server
    where
        H: Fn(StreamReader, StreamWriter) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = Arc::new(listener);
        let shared = Arc::new(ServerShared {
            listener: listener.clone(),
            state: Mutex::new(ServerState {
                accepting: true,
                ..ServerState::default()
            }),
            accept_loop: Mutex::new(None),
            local,
        });
        let s = shared.clone();
        let accept_loop = crate::spawn(async move {
            let _done = AcceptDone(s.clone());
            let mut incoming = listener.incoming();
            loop {
                let next = poll_fn(|cx| std::pin::Pin::new(&mut incoming).poll_next(cx)).await;
                let conn = match next.expect("incoming never ends") {
                    Ok(c) => c,
                    Err(e) if is_resource_exhaustion(&e) => {
                        crate::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        // Anything else (EPERM from a firewall, ...): the
                        // listener stays; pause so an error that repeats
                        // cannot spin.
                        crate::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let conn = Arc::new(conn);
                let reader = StreamReader::new(conn.clone(), DEFAULT_LIMIT);
                let writer = StreamWriter::new(conn.clone());
                let id = {
                    let mut st = lock(&s.state);
                    st.active += 1;
                    st.next_id += 1;
                    st.next_id
                };
                let mut guard = HandlerGuard {
                    shared: s.clone(),
                    id,
                    spawned: false,
                };
                // A handler that panics while making its future loses
                // that connection, not the server.
                let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler(reader, writer)
                }));
                let Ok(fut) = made else {
                    eprintln!("ferrio: start_server's handler panicked; connection dropped");
                    drop(guard);
                    continue;
                };
                guard.spawned = true;
                let task = Arc::new(crate::spawn(async move {
                    let _guard = guard;
                    fut.await
                }));
                let mut st = lock(&s.state);
                if st.ended_early.remove(&id) {
                    st.lingering.push(&conn);
                    drop(st);
                    drop(task);
                } else {
                    st.handlers.insert(id, Handler { task, conn });
                }
            }
        });
        *lock(&shared.accept_loop) = Some(accept_loop);
        Server { shared }
    }

    /// The bound TCP address.
    ///
    /// # Panics
    /// On a Unix-domain server (it has a path, not an IP address).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared
            .local
            .expect("Server::local_addr: a Unix-domain server has no IP address")
    }

    /// True until [`close`](Self::close).
    pub fn is_serving(&self) -> bool {
        lock(&self.shared.state).accepting
    }

    /// Stops accepting and closes the listening socket. Connections being
    /// handled go on (see [`close_clients`](Self::close_clients)).
    pub fn close(&self) {
        self.shared.listener.stop();
        let task = lock(&self.shared.accept_loop).take();
        if let Some(t) = task {
            t.cancel();
        }
    }

    /// Cancels every connection handler (asyncio 3.13's
    /// `close_clients`): dropping a handler drops its reader and writer,
    /// and the writer closes gracefully, sending what it had queued.
    pub fn close_clients(&self) {
        for (task, _) in self.handlers() {
            task.cancel();
        }
    }

    /// Cancels every connection handler and shuts each connection down at
    /// once, both directions, dropping queued bytes (asyncio 3.13's
    /// `abort_clients`): a peer that stopped reading cannot keep it alive.
    /// This also reaches connections whose handler already returned but
    /// whose writer is still flushing.
    pub fn abort_clients(&self) {
        for (task, conn) in self.handlers() {
            conn.abort();
            task.cancel();
        }
        let lingering = lock(&self.shared.state).lingering.take_live();
        for conn in lingering {
            conn.abort();
        }
    }

    /// The running handlers, copied out of the lock (cancelling one drops
    /// it at once, which takes the lock).
    fn handlers(&self) -> Vec<(Arc<Task<()>>, Arc<Conn>)> {
        lock(&self.shared.state)
            .handlers
            .values()
            .map(|h| (h.task.clone(), h.conn.clone()))
            .collect()
    }

    /// Waits until the server is closed and every handler has finished
    /// (asyncio 3.12+).
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            let mut st = lock(&self.shared.state);
            if !st.accepting && st.active == 0 {
                return Poll::Ready(());
            }
            register(&mut st.waiters, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Serves until [`close`](Self::close) is called. Dropping this future
    /// (cancelling it) closes the server, as in asyncio.
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _close = CloseOnDrop(self);
        poll_fn(|cx| {
            let mut st = lock(&self.shared.state);
            if !st.accepting {
                return Poll::Ready(());
            }
            register(&mut st.waiters, cx.waker());
            Poll::Pending
        })
        .await
    }
}

/// Marks the accept loop finished (closed, or the runtime shut down).
struct AcceptDone(Arc<ServerShared>);

impl Drop for AcceptDone {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.accepting = false;
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        for w in waiters {
            w.wake();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Nothing could stop a server whose handle is gone: dropping it
        // stops accepting. Handlers finish on their own.
        self.close();
    }
}
