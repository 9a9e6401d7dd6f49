//! Subprocesses: pipes, communicate with large payloads (and the bytes a
//! pipe already buffered), exit statuses, kill, reaping of dropped
//! children, what `output()` leaves of a `Command`, and spawn errors.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use futures::AsyncBufReadExt;

use super::common::{on_worker, rt, until, Stepper};
use ferrio::process::{Command, Stdio};

#[test]
fn communicate_moves_more_than_a_mebibyte_each_way() {
    rt(2).block_on(async {
        // `cat` echoes stdin; `tee /dev/stderr` would need a tty, so the
        // shell copies stdin to both pipes.
        let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let child = Command::shell("tee /dev/fd/2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.communicate(input.clone()).await.unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        assert!(
            out.stdout == input,
            "stdout differs ({} bytes)",
            out.stdout.len()
        );
        assert!(
            out.stderr == input,
            "stderr differs ({} bytes)",
            out.stderr.len()
        );
    });
}

#[test]
fn exit_codes_signals_and_missing_programs() {
    ferrio::run(async {
        let s = Command::shell("exit 3").status().await.unwrap();
        assert_eq!(s.code(), Some(3));
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let e = Command::new("/no/such/program").spawn().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
        assert!(sleeper.try_wait().unwrap().is_none());
        let s = sleeper.kill().await.unwrap();
        assert_eq!(s.signal(), Some(libc::SIGKILL));
        // Waiting again gives the same status.
        assert_eq!(sleeper.wait().await.unwrap().signal(), Some(libc::SIGKILL));
        let e = Command::new("true")
            .spawn()
            .unwrap()
            .communicate(b"x".to_vec())
            .await;
        assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn child_pipes_are_streams() {
    rt(2).block_on(async {
        let mut child = Command::new("sh")
            .args(["-c", "while read l; do echo \"got $l\"; done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        for i in 0..20 {
            stdin
                .write_all(format!("{i}\n").into_bytes())
                .await
                .0
                .unwrap();
            let mut line = String::new();
            stdout.read_line(&mut line).await.unwrap();
            assert_eq!(line, format!("got {i}\n"));
        }
        drop(stdin);
        let mut rest = String::new();
        assert_eq!(stdout.read_line(&mut rest).await.unwrap(), 0);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn dropped_children_are_reaped_not_left_as_zombies() {
    rt(1).block_on(async {
        let mut pids = Vec::new();
        for _ in 0..5 {
            let child = Command::new("true").spawn().unwrap();
            pids.push(child.id());
            drop(child);
        }
        let killed = Command::new("sleep")
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        pids.push(killed.id());
        drop(killed);
        // A zombie keeps its /proc entry until reaped. The reaper waits on
        // each pidfd; give it until every child is gone (a generous bound:
        // this is about eventually). An entry counts only while it is still
        // our child: a reused pid (or a thread id) has another parent.
        fn still_our_child(pid: u32) -> bool {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and ')'.
            let after_comm = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            let ppid = after_comm.split_whitespace().nth(1);
            ppid == Some(std::process::id().to_string().as_str())
        }
        // The check sees an unreaped child of ours (here a std one).
        let mut unreaped = std::process::Command::new("true").spawn().unwrap();
        assert!(still_our_child(unreaped.id()));
        unreaped.wait().unwrap();
        until("every dropped child reaped", || {
            !pids.iter().any(|&p| still_our_child(p))
        })
        .await;
    });
}

/// `output()` pipes stdout/stderr for its own run only: afterwards the
/// same `Command` spawns with inherited streams again, as with std (a
/// stdout left piped would hang a later `status()` once the child wrote
/// more than a pipe holds).
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

/// `output()` then `status()` on a child that writes more than a pipe's
/// 64 KiB does not hang. The child writes only when its stdout is not the
/// test process's own, so an inherited stdout is not flooded; a stdout
/// still piped and unread would keep `status()` from ever returning.
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

/// A failed spawn names what is missing: the working directory, the
/// program, or the program looked up in PATH or relative to the working
/// directory; through `output()` and `status()` too.
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

/// Bytes the `AsyncBufRead` side of a child's stdout already buffered are
/// part of what `wait_with_output`/`communicate` collect (reading the
/// descriptor alone would lose the rest of the chunk a `read_line` took).
#[test]
fn communicate_collects_bytes_the_pipe_already_buffered() {
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
            let stepper = Arc::new(Stepper::default());
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
