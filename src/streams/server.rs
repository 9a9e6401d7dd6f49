//! `start_server` / `Server`: the accept loop, connection handlers,
//! close, abort and `wait_closed`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::loom::sync::Mutex;
use crate::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use crate::task::core::wait::{Leaf, WaitKind};
use crate::weak_list::WeakList;
use crate::Task;
use futures_core::Stream;

use super::{register, Conn, StreamReader, StreamWriter, DEFAULT_LIMIT};

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
        // Shutting down a listening socket's receive side closes it for
        // new connections.
        crate::driver::shutdown_socket(fd, libc::SHUT_RD);
    }

    /// Accepts connections one after another through the listener's
    /// `incoming` stream (one multi-shot accept on io_uring).
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
pub async fn start_server<H, F>(
    handler: H,
    addr: impl crate::net::ToSocketAddrs,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    // A host name is looked up on the blocking pool, not on this worker.
    let addrs = crate::net::resolve(&addr).await?;
    let listener = TcpListener::bind(addrs.as_slice())?;
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
        let mut st = self.shared.state.lock();
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
                    let mut st = s.state.lock();
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
                let mut st = s.state.lock();
                if st.ended_early.remove(&id) {
                    st.lingering.push(&conn);
                    drop(st);
                    drop(task);
                } else {
                    st.handlers.insert(id, Handler { task, conn });
                }
            }
        });
        *shared.accept_loop.lock() = Some(accept_loop);
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
        self.shared.state.lock().accepting
    }

    /// Stops accepting and closes the listening socket. Connections being
    /// handled go on (see [`close_clients`](Self::close_clients)).
    pub fn close(&self) {
        self.shared.listener.stop();
        let task = self.shared.accept_loop.lock().take();
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
        let lingering = self.shared.state.lock().lingering.take_live();
        for conn in lingering {
            conn.abort();
        }
    }

    /// The running handlers, copied out of the lock (cancelling one drops
    /// it at once, which takes the lock).
    fn handlers(&self) -> Vec<(Arc<Task<()>>, Arc<Conn>)> {
        self.shared
            .state
            .lock()
            .handlers
            .values()
            .map(|h| (h.task.clone(), h.conn.clone()))
            .collect()
    }

    /// Waits until the server is closed and every handler has finished
    /// (asyncio 3.12+).
    #[track_caller]
    pub fn wait_closed(&self) -> impl Future<Output = ()> + '_ {
        Leaf::new(WaitKind::ServerClosed, 0, Location::caller(), async move {
            poll_fn(|cx| {
                let mut st = self.shared.state.lock();
                if !st.accepting && st.active == 0 {
                    return Poll::Ready(());
                }
                register(&mut st.waiters, cx.waker());
                Poll::Pending
            })
            .await
        })
    }

    /// Serves until [`close`](Self::close) is called. Dropping this future
    /// (cancelling it) closes the server, as in asyncio.
    #[track_caller]
    pub fn serve_forever(&self) -> impl Future<Output = ()> + '_ {
        Leaf::new(WaitKind::ServerClosed, 0, Location::caller(), async move {
            struct CloseOnDrop<'a>(&'a Server);
            impl Drop for CloseOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.close();
                }
            }
            let _close = CloseOnDrop(self);
            poll_fn(|cx| {
                let mut st = self.shared.state.lock();
                if !st.accepting {
                    return Poll::Ready(());
                }
                register(&mut st.waiters, cx.waker());
                Poll::Pending
            })
            .await
        })
    }
}

/// Marks the accept loop finished (closed, or the runtime shut down).
struct AcceptDone(Arc<ServerShared>);

impl Drop for AcceptDone {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
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
