// Over 500 lines: one two-driver harness (`agree`, the paced peers, the
// drop-while-waiting check) shared by every scenario; each scenario is a
// few dozen lines, and apart they would each need the whole harness.
//! The two drivers behind one API: every scenario here runs on an
//! io_uring runtime and on an epoll runtime, and the two must give the
//! same observable result (the bytes each side got, the counts returned,
//! the errors), whatever the peer's pace:
//!
//! - `Fast`: the peer acts before the operation starts (data already
//!   queued, a connection already waiting): the call succeeds at once;
//! - `Slow`: the operation waits first and the peer acts only then; for
//!   writes the peer reads in small pieces through small socket buffers,
//!   so sends come back short or would block.
//!
//! Each operation also runs dropped while it waits (what the next one
//! sees must not differ), from a task on a worker and from `block_on`,
//! and across the runtime's shutdown. The peers are plain std sockets on
//! plain threads, so they behave the same for both runtimes.

use std::fmt::Debug;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};

use super::common::{no_op_in_flight, poll_once, rt_on, tell_when_pending};
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use ferrio::{IoDriver, Runtime};

#[derive(Clone, Copy, Debug)]
enum Pace {
    Fast,
    Slow,
}

#[derive(Clone, Copy, Debug)]
enum Place {
    /// A task spawned on the runtime (a worker's ring or epoll instance).
    Task,
    /// `block_on` on the test's thread (a remote submission).
    BlockOn,
}

const PACES: [Pace; 2] = [Pace::Fast, Pace::Slow];
const PLACES: [Place; 2] = [Place::Task, Place::BlockOn];

/// Runs `scenario` on a runtime of each driver and asserts they agree;
/// returns the result for the scenario's own checks.
fn agree<T: PartialEq + Debug>(what: &str, scenario: impl Fn(Runtime) -> T) -> T {
    let on_ring = scenario(rt_on(IoDriver::IoUring, 2));
    let on_epoll = scenario(rt_on(IoDriver::Epoll, 2));
    assert_eq!(
        on_ring, on_epoll,
        "{what}: io_uring (left) and epoll (right) differ"
    );
    on_ring
}

/// Runs `fut` at `place`; at `pace` the peer acts first (`Fast`), or once
/// `fut` waits (`Slow`; the peer then never acts if it does not wait).
fn with_peer<T: Send + 'static>(
    rt: &Runtime,
    place: Place,
    pace: Pace,
    fut: impl Future<Output = T> + Send + 'static,
    peer: impl FnOnce() + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let peer = std::thread::spawn(move || {
        if rx.recv().is_ok() {
            peer();
        }
    });
    let fut = async move {
        match pace {
            Pace::Fast => {
                let _ = tx.send(());
                fut.await
            }
            Pace::Slow => tell_when_pending(fut, tx).await,
        }
    };
    let out = match place {
        Place::Task => rt.block_on(rt.handle().spawn(fut)).expect("the task ran"),
        Place::BlockOn => rt.block_on(fut),
    };
    peer.join().expect("the peer");
    out
}

/// Polls `fut` once where `place` says and drops it (it must be
/// waiting), then waits until the runtime has no op in flight: a ring's
/// cancel has been answered.
fn drop_while_waiting<F: Future + Send + 'static>(rt: &Runtime, place: Place, fut: F) {
    let once = async move {
        let mut fut = std::pin::pin!(fut);
        poll_once(fut.as_mut()).await.is_pending()
    };
    let waited = match place {
        Place::Task => rt.block_on(rt.handle().spawn(once)).expect("the task ran"),
        Place::BlockOn => rt.block_on(once),
    };
    assert!(waited, "the operation was meant to wait");
    rt.block_on(no_op_in_flight(&rt.handle(), "the dropped operation"));
}

/// An error as far as both drivers must agree on it.
fn error_of(e: &std::io::Error) -> String {
    format!(
        "{:?}{}",
        e.kind(),
        if e.to_string().contains("shutting down") {
            " (shutting down)"
        } else {
            ""
        }
    )
}

fn set_buffer(fd: &impl AsRawFd, opt: libc::c_int, bytes: libc::c_int) {
    // SAFETY: a plain setsockopt on a live socket, with a live int.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

/// A ferrio TCP stream and its std peer; with `small`, both socket
/// buffers are small, so big writes come back short or would block.
fn tcp_with_peer(rt: &Runtime, small: bool) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    if small {
        set_buffer(&listener, libc::SO_RCVBUF, 4096);
    }
    let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    if small {
        set_buffer(&ours, libc::SO_SNDBUF, 4096);
    }
    let (peer, _) = listener.accept().unwrap();
    let ours = rt
        .block_on(async move { TcpStream::from_std(ours) })
        .unwrap();
    (ours, peer)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Tcp,
    Unix,
    Pipe,
}

/// Reads of 4 bytes from `kind` until end of stream, the peer having
/// written ten bytes and closed (before, or once the first read waits).
#[test]
fn stream_reads_agree() {
    for kind in [Kind::Tcp, Kind::Unix, Kind::Pipe] {
        for pace in PACES {
            for place in PLACES {
                let what = format!("{kind:?} {pace:?} {place:?}");
                let got = agree(&what, |rt| {
                    let rt = &rt;
                    let (reader, mut peer): (Reader, Box<dyn std::io::Write + Send>) = match kind {
                        Kind::Tcp => {
                            let (s, p) = tcp_with_peer(rt, false);
                            let s = std::sync::Arc::new(s);
                            (Box::new(move |b| boxed_read(s.clone(), b)), Box::new(p))
                        }
                        Kind::Unix => {
                            let (s, p) = std::os::unix::net::UnixStream::pair().unwrap();
                            let s = std::sync::Arc::new(
                                rt.block_on(async move { UnixStream::from_std(s) }).unwrap(),
                            );
                            (
                                Box::new(move |b| boxed_unix_read(s.clone(), b)),
                                Box::new(p),
                            )
                        }
                        Kind::Pipe => {
                            let (r, w) = rt.block_on(async { super::common::pipe() });
                            let w = w.into_std().unwrap();
                            let r = std::sync::Arc::new(r);
                            (
                                Box::new(move |b| boxed_file_read(r.clone(), b)),
                                Box::new(w),
                            )
                        }
                    };
                    let first = with_peer(rt, place, pace, reader(vec![0u8; 4]), move || {
                        peer.write_all(b"0123456789").unwrap();
                        drop(peer);
                    });
                    let mut reads = vec![first];
                    while reads.last().is_some_and(|r| !r.is_empty()) {
                        reads.push(rt.block_on(reader(vec![0u8; 4])));
                    }
                    reads
                });
                assert_eq!(got.concat(), b"0123456789", "{what}");
            }
        }
    }
}

type ReadFut = std::pin::Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// Starts a read of the stream under test into the buffer given.
type Reader = Box<dyn Fn(Vec<u8>) -> ReadFut + Send + Sync>;

fn boxed_read(s: std::sync::Arc<TcpStream>, buf: Vec<u8>) -> ReadFut {
    Box::pin(async move {
        let (n, buf) = s.read(buf).await;
        buf[..n.unwrap()].to_vec()
    })
}

fn boxed_unix_read(s: std::sync::Arc<UnixStream>, buf: Vec<u8>) -> ReadFut {
    Box::pin(async move {
        let (n, buf) = s.read(buf).await;
        buf[..n.unwrap()].to_vec()
    })
}

fn boxed_file_read(f: std::sync::Arc<ferrio::fs::File>, buf: Vec<u8>) -> ReadFut {
    Box::pin(async move {
        let (n, buf) = f.read(buf).await;
        buf[..n.unwrap()].to_vec()
    })
}

/// `read_exact` then a pooled read, and a read dropped while it waits
/// (it takes nothing: the next read gets the bytes).
#[test]
fn exact_pooled_and_dropped_reads_agree() {
    for pace in PACES {
        for place in PLACES {
            let what = format!("{pace:?} {place:?}");
            let got = agree(&what, |rt| {
                let rt = &rt;
                let (s, mut peer) = tcp_with_peer(rt, false);
                let s = std::sync::Arc::new(s);
                let s2 = s.clone();
                let exact = with_peer(
                    rt,
                    place,
                    pace,
                    async move {
                        let (r, buf) = s2.read_exact(vec![0u8; 6]).await;
                        r.map(|()| buf).map_err(|e| error_of(&e))
                    },
                    {
                        let mut p = peer.try_clone().unwrap();
                        move || p.write_all(b"abcdefgh").unwrap()
                    },
                );
                let pooled = rt.block_on(s.read_pooled()).unwrap().to_vec();
                let s3 = s.clone();
                drop_while_waiting(rt, place, async move { s3.read(vec![0u8; 8]).await });
                peer.write_all(b"xyz").unwrap();
                let after_drop = rt.block_on(boxed_read(s.clone(), vec![0u8; 8]));
                (exact, pooled, after_drop)
            });
            assert_eq!(
                got,
                (Ok(b"abcdef".to_vec()), b"gh".to_vec(), b"xyz".to_vec())
            );
        }
    }
}

/// `write_all` of 1 MiB through small buffers to a peer reading 1 KiB at
/// a time: everything arrives, in order.
#[test]
fn a_large_write_to_a_slow_reader_agrees() {
    const LEN: usize = 1 << 20;
    for place in PLACES {
        let what = format!("{place:?}");
        let got = agree(&what, |rt| {
            let rt = &rt;
            let (s, mut peer) = tcp_with_peer(rt, true);
            let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            let expected = data.clone();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::with_capacity(LEN);
                let mut piece = [0u8; 1024];
                while got.len() < LEN {
                    let n = peer.read(&mut piece).unwrap();
                    assert!(n > 0, "end of stream after {} bytes", got.len());
                    got.extend_from_slice(&piece[..n]);
                }
                got
            });
            let res = with_peer(
                rt,
                place,
                Pace::Fast,
                async move { s.write_all(data).await.0.map_err(|e| error_of(&e)) },
                || {},
            );
            let got = reader.join().unwrap();
            (res, got == expected)
        });
        assert_eq!(got, (Ok(()), true), "{what}");
    }
}

/// Fills `fd`'s send buffer (non-blocking sends until `EAGAIN`); returns
/// how many bytes it took.
fn fill(fd: &impl AsRawFd) -> usize {
    let piece = [7u8; 4096];
    let mut sent = 0;
    loop {
        // SAFETY: sends from a live local buffer on a live socket.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                piece.as_ptr().cast(),
                piece.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "{e}");
            return sent;
        }
        sent += n as usize;
    }
}

/// A write into a full socket waits; dropped, it sent nothing; a write
/// after it, awaited while the peer drains, arrives right after the
/// filler. Then a write that waits for room and is not dropped.
#[test]
fn writes_into_a_full_socket_agree() {
    for place in PLACES {
        let what = format!("{place:?}");
        agree(&what, |rt| {
            let rt = &rt;
            let (s, mut peer) = tcp_with_peer(rt, true);
            let s = std::sync::Arc::new(s);
            let filler = fill(&*s);
            let s2 = s.clone();
            drop_while_waiting(rt, place, async move { s2.write(vec![1u8; 1024]).await });
            let s3 = s.clone();
            let marker = with_peer(
                rt,
                place,
                Pace::Slow,
                async move { s3.write_all(b"<marker>".to_vec()).await.0.is_ok() },
                move || {
                    let mut got = Vec::new();
                    let mut piece = [0u8; 1024];
                    while got.len() < filler + 8 {
                        let n = peer.read(&mut piece).unwrap();
                        assert!(n > 0);
                        got.extend_from_slice(&piece[..n]);
                    }
                    assert!(got[..filler].iter().all(|&b| b == 7), "the filler, whole");
                    assert_eq!(&got[filler..], b"<marker>", "nothing of the dropped write");
                },
            );
            marker
        });
    }
}

/// Accept with the connection waiting before (fast) or arriving once the
/// accept waits (slow); a byte goes each way.
#[test]
fn accepts_agree() {
    for pace in PACES {
        for place in PLACES {
            let what = format!("{pace:?} {place:?}");
            agree(&what, |rt| {
                let rt = &rt;
                let listener = rt
                    .block_on(async { TcpListener::bind("127.0.0.1:0") })
                    .unwrap();
                let addr = listener.local_addr().unwrap();
                let (client_tx, client_rx) = mpsc::channel();
                let accepted = with_peer(
                    rt,
                    place,
                    pace,
                    async move {
                        let (s, from) = listener.accept().await.unwrap();
                        let (n, buf) = s.read(vec![0u8; 1]).await;
                        s.write_all(vec![buf[0] + 1]).await.0.unwrap();
                        (n.unwrap(), from)
                    },
                    move || {
                        let mut c = std::net::TcpStream::connect(addr).unwrap();
                        c.write_all(&[41]).unwrap();
                        let mut reply = [0u8; 1];
                        c.read_exact(&mut reply).unwrap();
                        client_tx.send((c.local_addr().unwrap(), reply[0])).unwrap();
                    },
                );
                let (client_addr, reply) = client_rx.recv().unwrap();
                (accepted.0, accepted.1 == client_addr, reply)
            });
        }
    }
}

/// Connects: to a listener, and to a port nobody listens on.
#[test]
fn connects_agree() {
    for place in PLACES {
        let what = format!("{place:?}");
        let got = agree(&what, |rt| {
            let rt = &rt;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let ok = with_peer(
                rt,
                place,
                Pace::Fast,
                async move {
                    TcpStream::connect(addr)
                        .await
                        .map(|s| s.peer_addr().unwrap())
                },
                || {},
            );
            let closed = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let a = l.local_addr().unwrap();
                drop(l);
                a
            };
            let refused = with_peer(
                rt,
                place,
                Pace::Fast,
                async move { TcpStream::connect(closed).await.map(|_| ()) },
                || {},
            );
            (
                ok.map_err(|e| error_of(&e)) == Ok(addr),
                refused.map_err(|e| error_of(&e)),
            )
        });
        assert_eq!(got, (true, Err("ConnectionRefused".to_string())), "{what}");
    }
}

/// UDP: a receive waiting for (or finding) a datagram, a receive dropped
/// while it waits (the next one gets the datagram), and a send.
#[test]
fn datagrams_agree() {
    for pace in PACES {
        for place in PLACES {
            let what = format!("{pace:?} {place:?}");
            let got = agree(&what, |rt| {
                let rt = &rt;
                let ours = std::sync::Arc::new(
                    rt.block_on(async { UdpSocket::bind("127.0.0.1:0") })
                        .unwrap(),
                );
                let addr = ours.local_addr().unwrap();
                let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let peer_addr = peer.local_addr().unwrap();
                let p2 = peer.try_clone().unwrap();
                let o2 = ours.clone();
                let first = with_peer(
                    rt,
                    place,
                    pace,
                    async move {
                        let (r, buf) = o2.recv_from(vec![0u8; 16]).await;
                        let (n, from) = r.unwrap();
                        (buf[..n].to_vec(), from)
                    },
                    move || {
                        p2.send_to(b"one", addr).unwrap();
                    },
                );
                let o3 = ours.clone();
                drop_while_waiting(rt, place, async move { o3.recv_from(vec![0u8; 16]).await });
                peer.send_to(b"two", addr).unwrap();
                let (r, buf) = rt.block_on(ours.recv_from(vec![0u8; 16]));
                let second = buf[..r.unwrap().0].to_vec();
                let (sent, _) = rt.block_on(ours.send_to(b"back".to_vec(), peer_addr));
                let mut back = [0u8; 16];
                peer.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let n = peer.recv(&mut back).unwrap();
                (
                    first.0,
                    first.1 == peer_addr,
                    second,
                    sent.unwrap(),
                    back[..n].to_vec(),
                )
            });
            assert_eq!(got.0, b"one");
            assert_eq!(got.2, b"two");
        }
    }
}

/// futures-io through small buffers: a request written without a flush,
/// on the stream and on a split write half, then the reply read.
#[test]
fn futures_io_request_and_reply_agree() {
    const LEN: usize = 256 * 1024;
    for split in [false, true] {
        let what = format!("split={split}");
        agree(&what, |rt| {
            let rt = &rt;
            let (s, mut peer) = tcp_with_peer(rt, true);
            let server = std::thread::spawn(move || {
                let mut request = vec![0u8; LEN];
                peer.read_exact(&mut request).unwrap();
                let sum: u64 = request.iter().map(|&b| b as u64).sum();
                peer.write_all(&sum.to_le_bytes()).unwrap();
                sum
            });
            let request: Vec<u8> = (0..LEN).map(|i| (i % 13) as u8).collect();
            let reply = rt.block_on(rt.handle().spawn(async move {
                let mut reply = [0u8; 8];
                if split {
                    let (mut r, mut w) = s.into_split();
                    AsyncWriteExt::write_all(&mut w, &request).await.unwrap();
                    AsyncReadExt::read_exact(&mut r, &mut reply).await.unwrap();
                } else {
                    let mut s = s;
                    AsyncWriteExt::write_all(&mut s, &request).await.unwrap();
                    AsyncReadExt::read_exact(&mut s, &mut reply).await.unwrap();
                }
                u64::from_le_bytes(reply)
            }));
            let sum = server.join().unwrap();
            (reply.unwrap() == sum, sum)
        });
    }
}

/// A read waiting on a silent peer when the runtime is dropped: both
/// drivers end it with the same error.
#[test]
fn a_read_across_the_shutdown_ends_alike() {
    let got = agree("shutdown", |rt| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = rt.block_on(async move { UnixStream::from_std(a) }).unwrap();
        let handle = rt.handle();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let (r, _) = handle.block_on(tell_when_pending(a.read(vec![0u8; 4]), tx));
            r.map_err(|e| error_of(&e))
        });
        rx.recv().unwrap();
        drop(rt);
        let out = reader.join().unwrap();
        drop(b);
        out
    });
    assert!(got.is_err(), "{got:?}");
}

/// Files: positional writes and reads, and a read through the traits
/// then a write (the write lands where the read stopped).
#[test]
fn file_reads_and_writes_agree() {
    let got = agree("files", |rt| {
        let dir = std::env::temp_dir().join(format!("ferrio-agree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        rt.block_on(async move {
            let f = ferrio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await
                .unwrap();
            f.write_all_at(b"0123456789".to_vec(), 0).await.0.unwrap();
            let (n, buf) = f.read_at(vec![0u8; 4], 3).await;
            let at = buf[..n.unwrap()].to_vec();
            drop(f);
            let mut f = ferrio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .await
                .unwrap();
            let mut four = [0u8; 4];
            AsyncReadExt::read_exact(&mut f, &mut four).await.unwrap();
            AsyncWriteExt::write_all(&mut f, b"XY").await.unwrap();
            AsyncWriteExt::flush(&mut f).await.unwrap();
            drop(f);
            let whole = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            (at, four.to_vec(), whole)
        })
    });
    assert_eq!(got.2, b"0123XY6789");
}
