//! Subprocesses (asyncio's `create_subprocess_exec` / `_shell` and
//! `communicate`).
//!
//! A [`Command`] is `std::process::Command` underneath (the `fork`/`exec`
//! is a plain syscall); the child's pipes become ferrio streams, and its
//! exit is observed through a pidfd polled by the worker's I/O driver (on
//! the ring with `IORING_OP_POLL_ADD`, or for readiness on epoll): no
//! SIGCHLD handler, no helper thread per child.
//!
//! A [`Child`] dropped before it was waited for is reaped in the
//! background (by one shared reaper thread that polls the pidfds), so it
//! never stays a zombie; with [`Command::kill_on_drop`] it is killed
//! first.
//!
//! ```
//! use ferrio::process::{Command, Stdio};
//! ferrio::run(async {
//!     let out = Command::new("echo").arg("hello").stdout(Stdio::piped())
//!         .output().await.unwrap();
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"hello\n");
//! });
//! ```

pub use std::process::{ExitStatus, Output, Stdio};

mod child;
mod command;
mod pipes;
mod reaper;

pub use child::Child;
pub use command::Command;
pub use pipes::{ChildStderr, ChildStdin, ChildStdout};
