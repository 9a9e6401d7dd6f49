//! Subprocesses: pipes, communicate with large payloads, exit statuses,
//! kill, and reaping of dropped children.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;

use futures::AsyncBufReadExt;

use super::common::{rt, until};
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
