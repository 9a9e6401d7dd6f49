//! Regression tests for issue 14's Streams and process defects (4, 14,
//! 20, 21) and for what the cancellation harness and shutdown sweep
//! (`cancel_streams.rs`) found in this area.

use std::io::ErrorKind;
use std::time::Duration;

use std::future::Future;

use super::cancel_streams::Stepper;
use super::common::{rt, until};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::process::{Command, Stdio};
use ferrio::{LimitOverrunError, StreamReader, StreamWriter};

/// Runs `fut` as a task on a one-worker runtime, so its operations are
/// submitted from the worker.
pub(super) fn on_worker<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = rt(1);
    let task = rt.spawn(fut);
    rt.block_on(task).expect("test task")
}

/// A `StreamReader`/`StreamWriter` pair and the plain socket at the other
/// end of the connection.
pub(super) async fn stream_pair() -> ((StreamReader, StreamWriter), TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The handshake completes in the kernel's backlog, before `accept`.
    let pair = ferrio::open_connection(addr).await.unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    peer.set_nodelay(true).unwrap();
    (pair, peer)
}

/// Reads from `peer` until end of stream.
pub(super) async fn read_until_eof(peer: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    loop {
        buf.clear();
        let (r, b) = peer.read(buf).await;
        buf = b;
        match r.unwrap() {
            0 => return out,
            _ => out.extend_from_slice(&buf),
        }
    }
}

// ---- defect 4 -------------------------------------------------------

/// `output()` pipes stdout/stderr for its own run only: afterwards the
/// same `Command` spawns with inherited streams again, as with std. (It
/// used to leave stdout piped, so a later `status()` hung once the child
/// wrote more than a pipe holds.)
#[test]
fn output_does_not_change_the_commands_stdio() {
    on_worker(async {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2"]);
        let out = cmd.output().await.unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");

        let mut quiet = Command::new("true");
        quiet.output().await.unwrap();
        let mut child = quiet.spawn().unwrap();
        assert!(child.stdin.is_none(), "stdin left as set by output()");
        assert!(child.stdout.is_none(), "stdout left piped by output()");
        assert!(child.stderr.is_none(), "stderr left piped by output()");
        assert!(child.wait().await.unwrap().success());

        // A stream the caller set explicitly stays set, for both calls.
        let mut piped = Command::new("true");
        piped.stdout(Stdio::piped());
        piped.output().await.unwrap();
        let mut child = piped.spawn().unwrap();
        assert!(child.stdout.is_some());
        assert!(child.stderr.is_none());
        child.wait().await.unwrap();

        // And output() again still collects.
        let again = cmd.output().await.unwrap();
        assert_eq!(again.stdout, b"out\n");
    });
}

/// The hang from the issue: `output()` then `status()` on a child that
/// writes more than a pipe's 64 KiB. The child writes only when its stdout
/// is not the test process's own, so an inherited stdout is not flooded;
/// on the old code stdout was still an unread pipe and `status()` never
/// returned.
#[test]
fn output_then_status_on_a_chatty_child_does_not_hang() {
    on_worker(async {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            // Floods stdout only when it is not the test process's own
            // (a pipe output() made); an inherited stdout stays quiet.
            "if [ \"$(readlink /proc/$$/fd/1)\" != \"$(readlink /proc/$PPID/fd/1)\" ]; \
             then head -c 200000 /dev/zero; fi",
        ]);
        let out = cmd.output().await.unwrap();
        assert_eq!(out.stdout.len(), 200_000);
        let status = ferrio::wait_for(cmd.status(), Duration::from_secs(20))
            .await
            .expect("status() after output() hung");
        assert!(status.unwrap().success());
    });
}

// ---- defect 20 ------------------------------------------------------

#[test]
fn spawn_errors_name_the_missing_path() {
    on_worker(async {
        let e = Command::new("true")
            .current_dir("/no/such/working/dir")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains("/no/such/working/dir"), "{msg}");
        assert!(msg.contains("working directory"), "{msg}");

        let e = Command::new("/no/such/program").spawn().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains("/no/such/program"), "{msg}");
        assert!(!msg.contains("working directory"), "{msg}");

        let e = Command::new("ferrio-no-such-program-in-path")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains("ferrio-no-such-program-in-path"), "{msg}");
        assert!(msg.contains("PATH"), "{msg}");

        // The directory exists: the program is blamed, relative to it.
        let e = Command::new("./no-such-program")
            .current_dir("/")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains("./no-such-program"), "{msg}");
        assert!(msg.contains("relative to working directory \"/\""), "{msg}");

        // Same through output() and status().
        let e = Command::new("/no/such/program").output().await.unwrap_err();
        assert!(e.to_string().contains("/no/such/program"), "{e}");
        let e = Command::new("true")
            .current_dir("/no/such/working/dir")
            .status()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/no/such/working/dir"), "{e}");
    });
}

// ---- defect 21 ------------------------------------------------------

/// asyncio's rule: the separator must *start* within the limit.
#[test]
fn readuntil_limit_counts_bytes_before_the_separator() {
    on_worker(async {
        let ((mut reader, _w), peer) = stream_pair().await;
        reader.set_limit(10);
        // 11 bytes with the separator: the separator starts at 10.
        peer.write_all(b"0123456789\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readuntil(b"\n").await.unwrap(), b"0123456789\n");
        // A two-byte separator starting at 10, arriving in two pieces: the
        // first piece alone (11 bytes, no separator yet) is not an overrun.
        peer.write_all(b"0123456789\r".to_vec()).await.0.unwrap();
        let first = ferrio::wait_for(reader.readuntil(b"\r\n"), Duration::from_millis(50)).await;
        assert!(first.is_err(), "must wait for the rest: {first:?}");
        peer.write_all(b"\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readuntil(b"\r\n").await.unwrap(), b"0123456789\r\n");
        // 12 bytes: the separator starts at 11, past the limit.
        peer.write_all(b"0123456789A\n".to_vec()).await.0.unwrap();
        let e = reader.readuntil(b"\n").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert_eq!(LimitOverrunError::from_io(&e).unwrap().consumed, 12);
        // Nothing was taken.
        assert_eq!(reader.readexactly(12).await.unwrap(), b"0123456789A\n");
        // Not found and unable to start within the limit any more.
        peer.write_all(b"0123456789AB".to_vec()).await.0.unwrap();
        let e = reader.readuntil(b"\n").await.unwrap_err();
        assert!(LimitOverrunError::from_io(&e).is_some(), "{e}");
        assert_eq!(reader.readexactly(12).await.unwrap(), b"0123456789AB");
        // readline follows the same rule.
        peer.write_all(b"abcdefghij\n".to_vec()).await.0.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"abcdefghij\n");
    });
}

// ---- defect 14 ------------------------------------------------------

/// After an 8 MiB response has gone out, the idle writer keeps at most a
/// modest buffer, not the response's capacity.
#[test]
fn writer_frees_a_large_write_buffer_once_sent() {
    on_worker(async {
        let ((_r, writer), peer) = stream_pair().await;
        let big = vec![0x5au8; 8 << 20];
        writer.write(&big).unwrap();
        let reader = ferrio::spawn(async move {
            let mut n = 0;
            let mut buf = Vec::with_capacity(1 << 20);
            while n < 8 << 20 {
                buf.clear();
                let (r, b) = peer.read(buf).await;
                buf = b;
                n += r.unwrap();
            }
            peer
        });
        let peer = reader.await.unwrap();
        until("writer idle", || writer.buffered() == 0).await;
        let kept = super::hooks::writer_queue_capacity(&writer);
        assert!(kept <= 2 * 64 * 1024, "idle writer keeps {kept} bytes");
        drop(peer);
    });
}

// ---- child pipes: hand-over to communicate ---------------------------

/// Bytes the `AsyncBufRead` side of a child's stdout already buffered are
/// part of what `wait_with_output`/`communicate` collect. (They read the
/// descriptor directly, so a line read with `read_line` lost the rest of
/// its chunk.)
#[test]
fn communicate_collects_bytes_the_pipe_already_buffered() {
    use futures::AsyncBufReadExt;
    on_worker(async {
        let mut child = Command::new("sh")
            .args(["-c", "printf 'first\\nsecond\\nthird\\n'"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first\n");
        child.stdout = Some(stdout);
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.stdout, b"second\nthird\n");
    });
}

/// The same after a cancelled read whose bytes had arrived: they are
/// collected first, in order.
#[test]
fn communicate_collects_a_read_a_cancelled_call_completed() {
    use futures::AsyncReadExt;
    on_worker(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        {
            let mut buf = [0u8; 64];
            let mut read = std::pin::pin!(AsyncReadExt::read(&mut stdout, &mut buf));
            let stepper = std::sync::Arc::new(Stepper::default());
            assert!(stepper.poll(read.as_mut()).is_pending());
            stdin.write_all(b"first, ".to_vec()).await.0.unwrap();
            stepper.woken("pipe read").await;
            // Dropped with its read completed but not yet taken.
        }
        child.stdin = Some(stdin);
        child.stdout = Some(stdout);
        let out = child.communicate(b"then the rest".to_vec()).await.unwrap();
        assert_eq!(out.stdout, b"first, then the rest");
    });
}

// ---- StreamWriter across shutdown -----------------------------------

/// `drain` and `wait_closed` on a writer whose runtime shut down end with
/// an error (they waited for the dropped sender task forever), and later
/// writes fail.
#[test]
fn writer_waiters_end_when_the_runtime_shuts_down() {
    let runtime = rt(1);
    let handle = runtime.handle();
    let ((_reader, writer), peer) = runtime.block_on(runtime.spawn(stream_pair())).unwrap();
    // More than the socket buffers take while the peer does not read.
    writer.write(&vec![0u8; 16 << 20]).unwrap();
    drop(runtime);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let drained = handle.block_on(writer.drain());
        writer.close();
        let closed = handle.block_on(writer.wait_closed());
        let _ = tx.send((drained, closed, writer.write(b"late")));
        drop(peer);
    });
    let (drained, closed, late) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("drain/wait_closed hung after shutdown");
    assert!(drained.is_err() && closed.is_err() && late.is_err());
}
