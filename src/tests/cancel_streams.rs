// Over 500 lines: one cancellation harness run over every Streams and
// process future; each case is a few lines.
//! Cancellation harness and shutdown sweep for Streams and process.
//!
//! **Cancellation**: each operation is polled 1, 2, ... k times and then
//! dropped. Between polls the other end sends one more piece and the
//! harness waits for the operation's own waker, so every step of it is
//! reached; each step is dropped twice, once right after its poll (the
//! receive in flight, nothing arrived) and once after the next piece
//! arrived but before the operation saw it (the receive completed under a
//! cancelled call). Then the rest of the data is read with a fresh call,
//! and the harness checks that what the dropped call returned (if it
//! completed) plus the rest is exactly what was sent, in order, and that
//! no operation is left in flight (`Handle::metrics()`: submitted ==
//! completed).
//!
//! **Shutdown sweep**: each operation awaited through a `Handle` from a
//! plain thread before the runtime shuts down, while it shuts down (the
//! call is already waiting), and after it shut down, must end (complete or
//! fail) within [`BOUND`].

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc};
use std::task::Poll;

use futures::{AsyncBufReadExt, AsyncReadExt};

use super::common::{
    no_op_in_flight, on_worker, read_until_eof, rt, stream_pair, until, within, Stepper, BOUND,
};
use ferrio::net::TcpStream;
use ferrio::process::{ChildStdin, ChildStdout, Command, Stdio};
use ferrio::{Handle, StreamReader};

/// Where the dropped call stops.
#[derive(Clone, Copy, Debug)]
enum DropAt {
    /// Right after its k-th poll returned `Pending`.
    AfterPoll,
    /// After its k-th poll, once the next piece arrived and woke it, but
    /// before it is polled again.
    AfterWake,
}

/// Feeds the stepped operation: `send` puts the next piece on the wire.
trait Feed {
    async fn send(&mut self, piece: Vec<u8>);
    /// End of stream for the reading side.
    async fn finish(&mut self);
}

impl Feed for &TcpStream {
    async fn send(&mut self, piece: Vec<u8>) {
        self.write_all(piece).await.0.unwrap();
    }
    async fn finish(&mut self) {
        self.shutdown(std::net::Shutdown::Write).unwrap();
    }
}

impl Feed for Option<ChildStdin> {
    async fn send(&mut self, piece: Vec<u8>) {
        self.as_ref().unwrap().write_all(piece).await.0.unwrap();
    }
    async fn finish(&mut self) {
        drop(self.take());
    }
}

/// Polls `op` up to `k` times, sending one piece and waiting for the
/// op's wake-up before each poll after the first, then drops it at
/// `at`. Returns its output if it completed.
async fn step_then_drop<F: Future>(
    op: F,
    k: usize,
    at: DropAt,
    pieces: &mut VecDeque<Vec<u8>>,
    feed: &mut impl Feed,
    what: &str,
) -> Option<F::Output> {
    let stepper = Arc::new(Stepper::default());
    let mut op = pin!(op);
    for i in 0..k {
        if i > 0 {
            let piece = pieces.pop_front()?;
            feed.send(piece).await;
            stepper.woken(what).await;
        }
        if let Poll::Ready(out) = stepper.poll(op.as_mut()) {
            return Some(out);
        }
    }
    if let DropAt::AfterWake = at {
        if let Some(piece) = pieces.pop_front() {
            feed.send(piece).await;
            stepper.woken(what).await;
        }
    }
    None
}

/// The payload, in pieces: lines of different lengths, a `\r\n`
/// separator split across pieces.
fn pieces() -> VecDeque<Vec<u8>> {
    [
        &b"al"[..],
        b"pha\nbr",
        b"avo\r",
        b"\ncharlie-delta",
        b"-echo\nfox",
        b"trot\n",
    ]
    .iter()
    .map(|p| p.to_vec())
    .collect()
}

fn payload() -> Vec<u8> {
    pieces().into_iter().flatten().collect()
}

/// One StreamReader call under the harness; its output is the bytes it
/// took from the stream.
type ReaderOp =
    for<'a> fn(&'a mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>>;

fn op_read(r: &mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + '_>> {
    Box::pin(async move { r.read(4).await.unwrap() })
}
fn op_readline(r: &mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + '_>> {
    Box::pin(async move { r.readline().await.unwrap() })
}
fn op_readexactly(r: &mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + '_>> {
    Box::pin(async move { r.readexactly(20).await.unwrap() })
}
fn op_readuntil(r: &mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + '_>> {
    Box::pin(async move { r.readuntil(b"\r\n").await.unwrap() })
}
fn op_read_to_end(r: &mut StreamReader) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send + '_>> {
    Box::pin(async move { r.read_to_end().await.unwrap() })
}

fn reader_ops() -> [(&'static str, ReaderOp); 5] {
    [
        ("read", op_read),
        ("readline", op_readline),
        ("readexactly", op_readexactly),
        ("readuntil", op_readuntil),
        ("read_to_end", op_read_to_end),
    ]
}

#[test]
fn stream_reader_calls_dropped_at_every_step_lose_nothing() {
    on_worker(async {
        for (name, op) in reader_ops() {
            for k in 1..=7 {
                for at in [DropAt::AfterPoll, DropAt::AfterWake] {
                    let what = format!("{name}, dropped at poll {k} {at:?}");
                    let ((mut reader, writer), peer) = stream_pair().await;
                    let mut rest = pieces();
                    let mut feed = &peer;
                    let got = step_then_drop(op(&mut reader), k, at, &mut rest, &mut feed, &what)
                        .await
                        .unwrap_or_default();
                    for piece in rest {
                        feed.send(piece).await;
                    }
                    feed.finish().await;
                    let tail = reader.read_to_end().await.unwrap();
                    assert_eq!([got, tail].concat(), payload(), "{what}");
                    assert!(reader.at_eof());
                    drop((reader, writer, peer));
                    no_op_in_flight(&Handle::current(), &what).await;
                }
            }
        }
    });
}

/// Repeated cancellation of one call on one stream (the `wait_for` in a
/// loop pattern) hands every byte, in order, to the calls that complete.
#[test]
fn stream_reader_repeatedly_cancelled_readline_keeps_order() {
    on_worker(async {
        let ((mut reader, _w), peer) = stream_pair().await;
        let mut rest = pieces();
        let mut feed = &peer;
        let mut got = Vec::new();
        let mut k = 1;
        while !rest.is_empty() {
            let what = format!("readline round {k}");
            // Alternately: one poll and dropped once its receive brought
            // a piece; two polls and dropped while waiting.
            let (polls, at) = if k % 2 == 0 {
                (1, DropAt::AfterWake)
            } else {
                (2, DropAt::AfterPoll)
            };
            let out =
                step_then_drop(reader.readline(), polls, at, &mut rest, &mut feed, &what).await;
            got.extend(out.map(Result::unwrap).unwrap_or_default());
            k += 1;
        }
        feed.finish().await;
        got.extend(reader.read_to_end().await.unwrap());
        assert_eq!(got, payload());
        drop(peer);
        no_op_in_flight(&Handle::current(), "repeated readline").await;
    });
}

#[test]
fn stream_writer_drain_and_wait_closed_dropped_at_every_step_lose_nothing() {
    on_worker(async {
        let data: Vec<u8> = (0..(8u32 << 20)).map(|i| (i % 251) as u8).collect();
        for k in 1..=6 {
            for close_first in [false, true] {
                let what = format!(
                    "{} dropped at poll {k}",
                    if close_first { "wait_closed" } else { "drain" }
                );
                let ((reader, writer), peer) = stream_pair().await;
                writer.write(&data).unwrap();
                if close_first {
                    writer.close();
                }
                // The peer reads a slice between polls, so the call moves
                // on but cannot finish before it is dropped (most k).
                let mut received = Vec::new();
                {
                    let stepper = Arc::new(Stepper::default());
                    let mut op: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
                        if close_first {
                            Box::pin(writer.wait_closed())
                        } else {
                            Box::pin(writer.drain())
                        };
                    for _ in 0..k {
                        if let Poll::Ready(r) = stepper.poll(op.as_mut()) {
                            r.unwrap();
                            break;
                        }
                        let (r, buf) = peer.read(Vec::with_capacity(64 << 10)).await;
                        assert!(r.unwrap() > 0, "{what}");
                        received.extend_from_slice(&buf);
                    }
                }
                let reading = ferrio::spawn(async move {
                    received.extend(read_until_eof(&peer).await);
                    received
                });
                // Write more after the drop: it must come after, in order.
                if !close_first {
                    writer.write(b"after").unwrap();
                    ferrio::wait_for(writer.drain(), BOUND)
                        .await
                        .unwrap_or_else(|_| panic!("{what}: drain hung"))
                        .unwrap();
                    writer.close();
                }
                ferrio::wait_for(writer.wait_closed(), BOUND)
                    .await
                    .unwrap_or_else(|_| panic!("{what}: wait_closed hung"))
                    .unwrap();
                let received = reading.await.unwrap();
                let expected = if close_first {
                    data.clone()
                } else {
                    [&data[..], b"after"].concat()
                };
                assert!(received == expected, "{what}: bytes lost or reordered");
                drop((reader, writer));
                no_op_in_flight(&Handle::current(), &what).await;
            }
        }
    });
}

/// Kills a child by pid (the "piece" a `wait` waits for is the exit).
struct Kill(u32);

impl Feed for Kill {
    async fn send(&mut self, _: Vec<u8>) {
        // SAFETY: plain kill(2); the child is not reaped (its `Child` is
        // alive and only its wait could reap it), so the pid is ours.
        assert_eq!(unsafe { libc::kill(self.0 as i32, libc::SIGKILL) }, 0);
    }
    async fn finish(&mut self) {}
}

/// Feeds nothing: for operations that progress on their own (the harness
/// still waits for each wake-up between polls).
struct Nothing;

impl Feed for Nothing {
    async fn send(&mut self, _: Vec<u8>) {}
    async fn finish(&mut self) {}
}

fn dummies(n: usize) -> VecDeque<Vec<u8>> {
    (0..n).map(|_| Vec::new()).collect()
}

/// True while `pid` is a zombie child of this process.
fn is_our_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
        return false;
    };
    let mut fields = after.split_whitespace();
    let state = fields.next();
    let ppid: Option<u32> = fields.next().and_then(|p| p.parse().ok());
    state == Some("Z") && ppid == Some(std::process::id())
}

#[test]
fn child_wait_dropped_at_every_step_still_gets_the_status() {
    use std::os::unix::process::ExitStatusExt;
    on_worker(async {
        for k in 1..=3 {
            for at in [DropAt::AfterPoll, DropAt::AfterWake] {
                let what = format!("wait dropped at poll {k} {at:?}");
                let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
                let mut kill = Kill(child.id());
                let done =
                    step_then_drop(child.wait(), k, at, &mut dummies(1), &mut kill, &what).await;
                if let Some(status) = done {
                    assert_eq!(status.unwrap().signal(), Some(libc::SIGKILL), "{what}");
                }
                child.start_kill().unwrap();
                let status = ferrio::wait_for(child.wait(), BOUND)
                    .await
                    .unwrap_or_else(|_| panic!("{what}: wait hung"))
                    .unwrap();
                assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}");
                // Reaped: asking again gives the same status at once.
                assert_eq!(child.try_wait().unwrap(), Some(status));
                assert!(!is_our_zombie(child.id()));
                no_op_in_flight(&Handle::current(), &what).await;
            }
        }
    });
}

#[test]
fn child_communicate_and_output_dropped_at_every_step_leave_nothing_behind() {
    on_worker(async {
        for k in 1..=8 {
            for at in [DropAt::AfterPoll, DropAt::AfterWake] {
                let what = format!("communicate dropped at poll {k} {at:?}");
                let child = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let pid = child.id();
                let out = step_then_drop(
                    child.communicate(payload()),
                    k,
                    at,
                    &mut dummies(k),
                    &mut Nothing,
                    &what,
                )
                .await;
                if let Some(out) = out {
                    let out = out.unwrap();
                    assert!(out.status.success(), "{what}");
                    assert_eq!(out.stdout, payload(), "{what}");
                }
                // The dropped child (its stdin closed) exits and is reaped.
                until(&format!("{what}: child left a zombie"), || {
                    !is_our_zombie(pid)
                })
                .await;
                no_op_in_flight(&Handle::current(), &what).await;

                let what = format!("output dropped at poll {k} {at:?}");
                let mut cmd = Command::new("sh");
                cmd.args(["-c", "echo out; echo err >&2"]);
                let out =
                    step_then_drop(cmd.output(), k, at, &mut dummies(k), &mut Nothing, &what).await;
                if let Some(out) = out {
                    assert_eq!(out.unwrap().stdout, b"out\n", "{what}");
                }
                no_op_in_flight(&Handle::current(), &what).await;
                // The command is unchanged and runs again in full.
                let again = cmd.output().await.unwrap();
                assert_eq!(
                    (&again.stdout[..], &again.stderr[..]),
                    (&b"out\n"[..], &b"err\n"[..])
                );
                no_op_in_flight(&Handle::current(), &what).await;
            }
        }
    });
}

/// What a dropped child-pipe call took counts as received: its output if
/// it completed, or what it put in the caller's vector.
#[test]
fn child_stdout_reads_dropped_at_every_step_lose_nothing() {
    on_worker(async {
        // The owned-buffer `ChildStdout::read(buf)` is left out: like every
        // owned-buffer operation it is not cancellation-safe (a read
        // dropped after its bytes arrived loses them; documented there).
        for name in ["AsyncRead::read", "AsyncBufRead::read_until"] {
            for k in 1..=7 {
                for at in [DropAt::AfterPoll, DropAt::AfterWake] {
                    let what = format!("{name} dropped at poll {k} {at:?}");
                    let mut child = Command::new("cat")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap();
                    let mut feed = child.stdin.take();
                    let mut stdout: ChildStdout = child.stdout.take().unwrap();
                    let mut rest = pieces();
                    let mut got = Vec::new();
                    let mut small = [0u8; 4];
                    if name == "AsyncRead::read" {
                        let n = step_then_drop(
                            AsyncReadExt::read(&mut stdout, &mut small),
                            k,
                            at,
                            &mut rest,
                            &mut feed,
                            &what,
                        )
                        .await;
                        if let Some(n) = n {
                            got.extend_from_slice(&small[..n.unwrap()]);
                        }
                    } else {
                        // A dropped read_until leaves what it consumed in
                        // the caller's vector.
                        let _ = step_then_drop(
                            AsyncBufReadExt::read_until(&mut stdout, b'\n', &mut got),
                            k,
                            at,
                            &mut rest,
                            &mut feed,
                            &what,
                        )
                        .await;
                    }
                    for piece in rest {
                        feed.send(piece).await;
                    }
                    feed.finish().await;
                    AsyncReadExt::read_to_end(&mut stdout, &mut got)
                        .await
                        .unwrap();
                    assert_eq!(got, payload(), "{what}");
                    assert!(child.wait().await.unwrap().success());
                    drop(stdout);
                    no_op_in_flight(&Handle::current(), &what).await;
                }
            }
        }
    });
}

// ---- shutdown sweep --------------------------------------------------

/// A call under the sweep (its result, as text for the failure message)
/// and what makes it complete while the runtime runs.
type Call = Pin<Box<dyn Future<Output = String> + Send>>;
type Trigger = Box<dyn FnOnce(&Handle) + Send>;

/// Builds a call on the running runtime, waiting for an event that only
/// `Trigger` brings.
type Setup = fn(&ferrio::Runtime) -> (Call, Trigger);

fn described<T: std::fmt::Debug>(r: T) -> String {
    format!("{r:?}")
}

/// A reader whose peer sends nothing until triggered.
fn reader_call(rt: &ferrio::Runtime, call: fn(StreamReader) -> Call) -> (Call, Trigger) {
    let ((reader, writer), peer) = rt.block_on(rt.spawn(stream_pair())).unwrap();
    let trigger: Trigger = Box::new(move |h: &Handle| {
        let t = h.spawn(async move {
            peer.write_all(b"0123456789\r\nmore".to_vec())
                .await
                .0
                .unwrap();
            drop(writer);
            peer
        });
        drop(h.block_on(t));
    });
    (call(reader), trigger)
}

/// A writer with 8 MiB queued whose peer does not read until triggered.
fn writer_call(rt: &ferrio::Runtime, close: bool) -> (Call, Trigger) {
    let ((reader, writer), peer) = rt.block_on(rt.spawn(stream_pair())).unwrap();
    writer.write(&vec![1u8; 8 << 20]).unwrap();
    if close {
        writer.close();
    }
    let call: Call = if close {
        Box::pin(async move {
            let r = writer.wait_closed().await;
            // Writes after the runtime is gone fail, never panic.
            described((r, writer.write(b"x")))
        })
    } else {
        Box::pin(async move {
            let r = writer.drain().await;
            writer.close();
            described((r, writer.write(b"x")))
        })
    };
    let trigger: Trigger = Box::new(move |h: &Handle| {
        drop(h.spawn(async move {
            let _reader = reader;
            read_until_eof(&peer).await
        }));
    });
    (call, trigger)
}

/// A child that runs until killed (killed on drop too).
fn sleeping_child(piped: bool) -> ferrio::process::Child {
    let mut cmd = Command::new("sleep");
    cmd.arg("1000").kill_on_drop(true);
    if piped {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    }
    cmd.spawn().unwrap()
}

fn kill_trigger(pid: u32) -> Trigger {
    Box::new(move |_: &Handle| {
        // SAFETY: plain kill(2); the child is unreaped until its call
        // (which is waiting for this) reaps it.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    })
}

/// A server with one connection whose handler waits for a line; the
/// trigger closes the client, so the handler returns.
fn server_call(rt: &ferrio::Runtime) -> (Call, Trigger) {
    let (server, client) = rt
        .block_on(rt.spawn(async {
            let started = Arc::new(ferrio::sync::Event::new());
            let s = started.clone();
            let server = ferrio::start_server(
                move |mut r: StreamReader, w: ferrio::StreamWriter| {
                    let s = s.clone();
                    async move {
                        s.set();
                        let _ = r.readline().await;
                        drop(w);
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let client = TcpStream::connect(server.local_addr()).await.unwrap();
            started.wait().await;
            (server, client)
        }))
        .unwrap();
    (
        Box::pin(async move {
            server.close();
            server.wait_closed().await;
            described(Ok::<_, ()>(server.is_serving()))
        }),
        Box::new(move |_: &Handle| drop(client)),
    )
}

/// Each call, and whether it can only end with an error once its event
/// cannot come (a server's `wait_closed` ends normally: shutdown ends its
/// handlers).
fn sweep_setups() -> Vec<(&'static str, bool, Setup)> {
    vec![
        ("Server::wait_closed", false, server_call),
        ("StreamReader::read", true, |rt| {
            reader_call(rt, |mut r| {
                Box::pin(async move { described(r.read(10).await) })
            })
        }),
        ("StreamReader::readline", true, |rt| {
            reader_call(rt, |mut r| {
                Box::pin(async move { described(r.readline().await) })
            })
        }),
        ("StreamReader::readexactly", true, |rt| {
            reader_call(rt, |mut r| {
                Box::pin(async move { described(r.readexactly(10).await) })
            })
        }),
        ("StreamReader::readuntil", true, |rt| {
            reader_call(rt, |mut r| {
                Box::pin(async move { described(r.readuntil(b"\r\n").await) })
            })
        }),
        ("StreamWriter::drain", true, |rt| writer_call(rt, false)),
        ("StreamWriter::wait_closed", true, |rt| {
            writer_call(rt, true)
        }),
        ("Child::wait", true, |rt| {
            let mut child = rt.block_on(async { sleeping_child(false) });
            let trigger = kill_trigger(child.id());
            (
                Box::pin(async move { described(child.wait().await) }),
                trigger,
            )
        }),
        ("Child::communicate", true, |rt| {
            let child = rt.block_on(async { sleeping_child(true) });
            let trigger = kill_trigger(child.id());
            (
                Box::pin(async move { described(child.communicate(b"input".to_vec()).await) }),
                trigger,
            )
        }),
        ("ChildStdout AsyncRead", true, |rt| {
            let mut child = rt.block_on(async { sleeping_child(true) });
            let trigger = kill_trigger(child.id());
            let mut stdout = child.stdout.take().unwrap();
            (
                Box::pin(async move {
                    let _child = child;
                    let mut buf = [0u8; 16];
                    described(AsyncReadExt::read(&mut stdout, &mut buf).await)
                }),
                trigger,
            )
        }),
        ("Command::output", true, |_| {
            // The child's stdout is a pipe only `sleep`'s parent shell
            // holds open: it ends when triggered through the marker file.
            let dir = std::env::temp_dir().join(format!(
                "ferrio-sweep-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_file(&dir);
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(format!(
                    "while [ ! -e '{}' ]; do sleep 0.01; done; echo done",
                    dir.display()
                ))
                .kill_on_drop(true);
            let marker = dir.clone();
            (
                Box::pin(async move {
                    let r = cmd.output().await;
                    let _ = std::fs::remove_file(&dir);
                    described(r.map(|o| o.stdout))
                }),
                Box::new(move |_: &Handle| {
                    std::fs::write(&marker, b"").unwrap();
                }),
            )
        }),
    ]
}

/// Tells `started` once the call's first poll returned `Pending` (it is
/// waiting).
async fn signal_when_waiting(call: Call, started: mpsc::Sender<()>) -> String {
    let mut call = call;
    let mut started = Some(started);
    poll_fn(move |cx| {
        let r = call.as_mut().poll(cx);
        if r.is_pending() {
            if let Some(tx) = started.take() {
                let _ = tx.send(());
            }
        }
        r
    })
    .await
}

#[test]
fn shutdown_sweep_streams_and_process_calls_end_before_during_and_after() {
    for (name, only_errors, setup) in sweep_setups() {
        // Before: the runtime runs and the event comes: the call completes.
        let runtime = rt(2);
        let handle = runtime.handle();
        let (call, trigger) = setup(&runtime);
        let h = handle.clone();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || h.block_on(signal_when_waiting(call, tx)));
        rx.recv_timeout(BOUND).expect("the call started");
        trigger(&handle);
        let what = format!("{name} before shutdown");
        let out = within(&what, move || waiter.join().unwrap());
        assert!(
            out.starts_with("Ok") || out.starts_with("(Ok"),
            "{what}: {out}"
        );
        within(&format!("{name}: runtime drop"), move || drop(runtime));

        // During: the call is waiting when the runtime shuts down.
        let runtime = rt(2);
        let handle = runtime.handle();
        let (call, _trigger) = setup(&runtime);
        let (tx, rx) = mpsc::channel();
        let h = handle.clone();
        let waiter = std::thread::spawn(move || h.block_on(signal_when_waiting(call, tx)));
        rx.recv_timeout(BOUND).expect("the call started");
        within(&format!("{name}: runtime drop"), move || drop(runtime));
        let what = format!("{name} during shutdown");
        let out = within(&what, move || waiter.join().unwrap());
        // It was waiting for an event that never came: only an error ends it.
        assert!(!only_errors || out.contains("Err"), "{what}: {out}");

        // After: the call starts once the runtime is gone.
        let runtime = rt(2);
        let handle = runtime.handle();
        let (call, _trigger) = setup(&runtime);
        within(&format!("{name}: runtime drop"), move || drop(runtime));
        let what = format!("{name} after shutdown");
        let out = within(&what, move || handle.block_on(call));
        assert!(!only_errors || out.contains("Err"), "{what}: {out}");
    }
}
