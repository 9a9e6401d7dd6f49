//! `StreamReader`: buffered, cancellation-safe reads over pooled
//! receives (`read_pooled`).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use super::{Conn, IncompleteReadError, LimitOverrunError};
use crate::task::core::wait::At;

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
    /// buffer pool, or on epoll a buffer freed when nothing arrived).
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
    pub(super) fn new(conn: Arc<Conn>, limit: usize) -> StreamReader {
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
    #[track_caller]
    pub fn read(&mut self, n: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
        At::here(async move {
            if n == 0 {
                return Ok(Vec::new());
            }
            if self.buffered().is_empty() {
                self.fill().await?;
            }
            let k = self.buffered().len().min(n);
            Ok(self.take(k))
        })
    }

    /// Everything until end of stream (asyncio's `read(-1)`).
    #[track_caller]
    pub fn read_to_end(&mut self) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
        At::here(async move {
            while self.fill().await? {}
            let k = self.buffered().len();
            Ok(self.take(k))
        })
    }

    /// Exactly `n` bytes. At end of stream first, an `UnexpectedEof` error
    /// holding an [`IncompleteReadError`] with the bytes read.
    #[track_caller]
    pub fn readexactly(&mut self, n: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
        At::here(async move {
            while self.buffered().len() < n {
                if !self.fill().await? {
                    return Err(self.incomplete(Some(n)));
                }
            }
            Ok(self.take(n))
        })
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
    #[track_caller]
    pub fn readuntil<'a>(
        &'a mut self,
        separator: &'a [u8],
    ) -> impl Future<Output = io::Result<Vec<u8>>> + 'a {
        At::here(async move {
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
        })
    }

    /// One line, ending in `\n`; at end of stream, whatever is left (empty
    /// when nothing is). A line with more than `limit` bytes before its
    /// `\n` (see [`readuntil`](Self::readuntil)) is an `InvalidData`
    /// error holding a [`LimitOverrunError`]; unlike asyncio, which drops
    /// such a line, the bytes stay buffered (read them with `read`).
    #[track_caller]
    pub fn readline(&mut self) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
        At::here(async move {
            match self.readuntil(b"\n").await {
                Ok(line) => Ok(line),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Ok(IncompleteReadError::into_partial(e).unwrap_or_default())
                }
                Err(e) => Err(e),
            }
        })
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
