//! Which I/O driver a runtime runs: [`IoDriver`], what was asked for
//! (`Builder::io_driver` or the `FERRIO_IO_DRIVER` environment variable,
//! possibly `Auto`); [`IoBackend`], what runs; and [`IoDriverInfo`], both
//! and why, as `Handle::io_driver()` reports them.

use std::fmt;
use std::io;

use super::setup::{build_ring, build_ring_raw, explain_setup_error, SetupHook};

/// The environment variable that picks the driver when the code does not
/// (`auto`, `io_uring` or `epoll`).
pub(crate) const IO_DRIVER_ENV: &str = "FERRIO_IO_DRIVER";

/// The I/O driver asked of a runtime.
///
/// `Auto` (the default) uses io_uring and falls back to epoll where
/// io_uring is unavailable: a seccomp profile that denies it (Docker's and
/// containerd's defaults), `kernel.io_uring_disabled`, a kernel without
/// it, a too-low locked-memory limit, a sandbox such as gVisor.
///
/// ```
/// use ferrio::{IoDriver, Runtime};
/// let rt = Runtime::builder().io_driver(IoDriver::Epoll).build().unwrap();
/// assert_eq!(rt.handle().io_driver().driver(), ferrio::IoBackend::Epoll);
/// let n = rt.block_on(async {
///     let (a, b) = ferrio::net::UnixStream::pair()?;
///     a.write_all(b"hi".to_vec()).await.0?;
///     let (n, _) = b.read(vec![0; 8]).await;
///     n
/// });
/// assert_eq!(n.unwrap(), 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoDriver {
    /// io_uring where it can be set up, else epoll (the reason is kept).
    #[default]
    Auto,
    /// io_uring only: building the runtime fails, with the cause and the
    /// fix, where it is unavailable.
    IoUring,
    /// The epoll readiness driver (files run on the blocking pool).
    Epoll,
}

impl IoDriver {
    /// Parses `auto`, `io_uring` (or `io-uring`, `iouring`, `uring`) and
    /// `epoll`, ignoring case and surrounding blanks.
    pub fn parse(s: &str) -> Option<IoDriver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Some(IoDriver::Auto),
            "io_uring" | "io-uring" | "iouring" | "uring" => Some(IoDriver::IoUring),
            "epoll" => Some(IoDriver::Epoll),
            _ => None,
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoDriver::Auto => "auto",
            IoDriver::IoUring => "io_uring",
            IoDriver::Epoll => "epoll",
        })
    }
}

/// The I/O driver a runtime runs (what [`IoDriver::Auto`] resolved to).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoBackend {
    /// One io_uring ring per worker.
    #[default]
    IoUring,
    /// One epoll instance per worker (files on the blocking pool).
    Epoll,
}

/// Asks for the driver that runs (to build another runtime alike).
impl From<IoBackend> for IoDriver {
    fn from(backend: IoBackend) -> IoDriver {
        match backend {
            IoBackend::IoUring => IoDriver::IoUring,
            IoBackend::Epoll => IoDriver::Epoll,
        }
    }
}

impl fmt::Display for IoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoBackend::IoUring => "io_uring",
            IoBackend::Epoll => "epoll",
        })
    }
}

/// The driver a runtime runs, and why (`Handle::io_driver()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoDriverInfo {
    driver: IoBackend,
    requested: IoDriver,
    fallback_errno: Option<i32>,
    fallback_reason: Option<String>,
}

impl IoDriverInfo {
    /// The driver that runs.
    pub fn driver(&self) -> IoBackend {
        self.driver
    }

    /// What was asked for (by the builder or `FERRIO_IO_DRIVER`).
    pub fn requested(&self) -> IoDriver {
        self.requested
    }

    /// Why `Auto` fell back to epoll: io_uring's setup error, explained.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The OS error io_uring's setup gave when `Auto` fell back (for
    /// example `EPERM` under a seccomp profile).
    pub fn fallback_os_error(&self) -> Option<i32> {
        self.fallback_errno
    }
}

impl fmt::Display for IoDriverInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.driver)?;
        if let Some(r) = &self.fallback_reason {
            write!(f, " (fell back: {r})")?;
        }
        Ok(())
    }
}

/// The setup errors after which `Auto` falls back to epoll: io_uring is
/// absent or denied here (not a transient shortage such as `EMFILE`).
fn falls_back(errno: Option<i32>) -> bool {
    matches!(
        errno,
        Some(libc::ENOSYS)
            | Some(libc::EPERM)
            | Some(libc::EACCES)
            | Some(libc::ENOMEM)
            | Some(libc::EOPNOTSUPP)
            | Some(libc::EINVAL)
    )
}

/// Resolves the driver: the builder's choice if it made one, else the
/// environment's, else `Auto`; `Auto` probes io_uring.
pub(crate) fn resolve(
    chosen: Option<IoDriver>,
    env: Option<String>,
    simulate: SetupHook,
) -> io::Result<IoDriverInfo> {
    let requested = match (chosen, env) {
        (Some(d), _) => d,
        (None, Some(v)) => IoDriver::parse(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio: {IO_DRIVER_ENV}={v:?} is not one of auto, io_uring, epoll"),
            )
        })?,
        (None, None) => IoDriver::Auto,
    };
    let info = |driver, errno: Option<i32>, reason: Option<String>| IoDriverInfo {
        driver,
        requested,
        fallback_errno: errno,
        fallback_reason: reason,
    };
    match requested {
        IoDriver::Epoll => Ok(info(IoBackend::Epoll, None, None)),
        IoDriver::IoUring => build_ring(simulate).map(|_| info(IoBackend::IoUring, None, None)),
        IoDriver::Auto => match build_ring_raw(simulate) {
            Ok(_) => Ok(info(IoBackend::IoUring, None, None)),
            Err(e) if falls_back(e.raw_os_error()) => {
                let errno = e.raw_os_error();
                let reason = explain_setup_error(e).to_string();
                Ok(info(IoBackend::Epoll, errno, Some(reason)))
            }
            Err(e) => Err(explain_setup_error(e)),
        },
    }
}
