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

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::task::Waker;

use crate::net::{TcpStream, UnixStream};

mod conn;
mod errors;
mod reader;
mod server;
mod writer;

use conn::Conn;
pub use errors::{IncompleteReadError, LimitOverrunError};
pub use reader::StreamReader;
pub use server::{start_server, start_unix_server, Server};
pub use writer::StreamWriter;

/// asyncio's default `limit` for `readline` / `readuntil`.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

fn pair(conn: Conn, limit: usize) -> (StreamReader, StreamWriter) {
    let conn = Arc::new(conn);
    (
        StreamReader::new(conn.clone(), limit),
        StreamWriter::new(conn),
    )
}

/// Connects over TCP (asyncio's `open_connection`).
pub async fn open_connection(
    addr: impl crate::net::ToSocketAddrs,
) -> io::Result<(StreamReader, StreamWriter)> {
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
