//! Subprocesses on io_uring (asyncio's `create_subprocess_exec` /
//! `communicate`): run a command, stream a child's output line by line,
//! push a large payload through `sort` while reading its output, and kill
//! a child that runs too long.
//!
//! ```sh
//! cargo run --release --example subprocess
//! ```

use std::time::{Duration, Instant};

use ferrio::process::{Command, Stdio};
use futures::AsyncBufReadExt;

fn main() -> std::io::Result<()> {
    ferrio::run(async {
        // 1. Output of a short command.
        let out = Command::new("uname").arg("-sr").output().await?;
        print!("uname -sr -> {}", String::from_utf8_lossy(&out.stdout));

        // 2. A child's stdout as a stream of lines, while it runs.
        let mut child = Command::shell("for i in 1 2 3; do echo tick $i; sleep 0.1; done")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        let start = Instant::now();
        while stdout.read_line(&mut line).await? > 0 {
            print!("  [{:>4} ms] {line}", start.elapsed().as_millis());
            line.clear();
        }
        println!("  exit: {}", child.wait().await?);

        // 3. communicate: 5 MB in through stdin and out through stdout at
        //    the same time (a sequential write-then-read would deadlock
        //    once the pipes fill).
        let input: Vec<u8> = (0..500_000u32)
            .rev()
            .flat_map(|i| format!("{i:09}\n").into_bytes())
            .collect();
        let t = Instant::now();
        let sorted = Command::new("sort")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?
            .communicate(input.clone())
            .await?;
        println!(
            "sort: {} bytes in, {} bytes out in {:?}, first line {:?}",
            input.len(),
            sorted.stdout.len(),
            t.elapsed(),
            String::from_utf8_lossy(&sorted.stdout[..9])
        );

        // 4. A timeout around a child that would run for a minute.
        let mut slow = Command::new("sleep").arg("60").spawn()?;
        match ferrio::wait_for(slow.wait(), Duration::from_millis(200)).await {
            Ok(status) => println!("sleep finished early: {}", status?),
            Err(_) => println!(
                "sleep 60 timed out after 200 ms; killed: {}",
                slow.kill().await?
            ),
        }
        Ok(())
    })
}
