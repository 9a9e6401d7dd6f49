//! The deep view's frames trimmed to the task's own: from the leaf future
//! that returned `Pending` up to the task's future, without the recorder
//! below them (`wait.rs`) or the runtime above them (the harness's poll,
//! the scheduler, the worker thread's start, std's unwinding guards).
//!
//! The stack is captured unresolved (`Backtrace::force_capture`); this
//! resolves it (std's symbolizer, once per capture) and cuts the text:
//! std's `Backtrace` gives no stable access to its frames.

use std::backtrace::{Backtrace, BacktraceStatus};

/// Frames of the recorder itself, innermost (`wait::record` and below).
const RECORDER: &[&str] = &[
    "ferrio::task::core::wait::",
    "std::backtrace::",
    "std::backtrace_rs::",
    "<std::backtrace::",
];

/// The first frame of the runtime's poll of a task: everything from it on
/// is the runtime's (the harness polls the task's future; where inlining
/// hid the harness, the raw task or the scheduler is the first seen).
const RUNTIME: &[&str] = &[
    "ferrio::task::core::harness::",
    "ferrio::task::core::raw::",
    "ferrio::scheduler::",
];

/// `frames` from the leaf's `poll` up to the task's future, numbered from
/// 0, in std's format (`N: symbol` then `at file:line:col`). Unresolvable
/// or disabled stacks are printed as std prints them.
pub(crate) fn task_frames(frames: &Backtrace) -> String {
    let text = frames.to_string();
    if frames.status() != BacktraceStatus::Captured {
        return text;
    }
    let parsed = split_frames(&text);
    if parsed.is_empty() {
        return text;
    }
    let first = parsed
        .iter()
        .position(|(symbol, _)| !RECORDER.iter().any(|p| symbol.starts_with(p)))
        .unwrap_or(parsed.len());
    let end = parsed[first..]
        .iter()
        .position(|(symbol, _)| RUNTIME.iter().any(|p| symbol.starts_with(p)))
        .map_or(parsed.len(), |n| first + n);
    let mut out = String::new();
    for (i, (symbol, at)) in parsed[first..end].iter().enumerate() {
        out.push_str(&format!("{i:>4}: {symbol}\n"));
        for line in at {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// std's text as frames: each frame's symbol and its `at` lines.
fn split_frames(text: &str) -> Vec<(&str, Vec<&str>)> {
    let mut frames: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let numbered = trimmed
            .split_once(": ")
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match numbered {
            Some((_, symbol)) => frames.push((symbol, Vec::new())),
            None => {
                if let Some((_, at)) = frames.last_mut() {
                    at.push(line);
                }
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_std_frames() {
        let text = "   0: a::b\n             at ./x.rs:1:2\n   1: c\n  12: d::e\n             at y.rs:3:4\n";
        let frames = split_frames(text);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].0, "a::b");
        assert_eq!(frames[0].1, ["             at ./x.rs:1:2"]);
        assert!(frames[1].1.is_empty());
        assert_eq!(frames[2].0, "d::e");
    }
}
