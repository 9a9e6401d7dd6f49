//! Readiness for any Unix descriptor: [`AsyncFd`] (tokio's
//! `tokio::io::unix::AsyncFd`), for descriptors ferrio has no type for
//! (an eventfd, a timerfd, a device, a socket of another library), whose
//! I/O the caller makes itself once the descriptor is ready.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::ready::{self, Interest, Ready};
use super::SharedFd;
use crate::task::core::wait::At;

/// A descriptor `T` with readiness waits on the worker's I/O driver
/// (tokio's `AsyncFd`): wait for [`readable`](AsyncFd::readable) or
/// [`writable`](AsyncFd::writable), then make the call yourself inside the
/// guard's [`try_io`](AsyncFdReadyGuard::try_io), which turns a
/// `WouldBlock` into "wait again".
///
/// **The descriptor must be non-blocking** (`O_NONBLOCK`), as tokio
/// requires: your own calls run on a worker thread, and a blocking one
/// would stall every task there. Unlike tokio, [`AsyncFd::new`] checks
/// this and refuses a blocking descriptor (`InvalidInput`); keep the flag
/// set while the `AsyncFd` lives.
///
/// On io_uring a wait is an `IORING_OP_POLL_ADD`; on epoll it is the
/// driver's readiness wait. Either way it answers the descriptor's state
/// when it ends (a `poll`), not a cached mark: a wait returns only while
/// the descriptor is ready, so a guard whose readiness is not cleared
/// does not make the next wait return early for nothing (clearing it, as
/// tokio's pattern does, is harmless). The `AsyncFd` holds a duplicate of
/// the descriptor (one more descriptor per `AsyncFd`), so that a wait
/// still in the kernel when `T` is closed never names a closed, perhaps
/// reused, number. Dropping a wait's future cancels it.
///
/// ```
/// use ferrio::io::unix::AsyncFd;
/// use std::io::{Read, Write};
///
/// ferrio::run(async {
///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let a = AsyncFd::new(a).unwrap();
///     b.write_all(b"hi").unwrap();
///     let mut buf = [0u8; 8];
///     let n = loop {
///         let mut guard = a.readable().await.unwrap();
///         match guard.try_io(|fd| fd.get_ref().read(&mut buf)) {
///             Ok(result) => break result.unwrap(),
///             Err(_would_block) => continue,
///         }
///     };
///     assert_eq!(&buf[..n], b"hi");
/// });
/// ```
pub struct AsyncFd<T: AsRawFd> {
    /// A duplicate of `inner`'s descriptor, which the waits hold.
    fd: SharedFd,
    inner: T,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Wraps `inner`, a non-blocking descriptor. Errors: the descriptor is
    /// blocking (`InvalidInput`), or it cannot be duplicated (`EMFILE`);
    /// `inner` is dropped then ([`try_new`](AsyncFd::try_new) gives it
    /// back).
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        AsyncFd::try_new(inner).map_err(|e| e.cause)
    }

    /// As [`new`](AsyncFd::new), handing `inner` back with the error.
    ///
    /// ```
    /// use ferrio::io::unix::AsyncFd;
    /// ferrio::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     // Still blocking: refused, and handed back.
    ///     let (a, err) = AsyncFd::try_new(a).unwrap_err().into_parts();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    ///     a.set_nonblocking(true).unwrap();
    ///     assert!(AsyncFd::try_new(a).is_ok());
    /// });
    /// ```
    pub fn try_new(inner: T) -> Result<AsyncFd<T>, AsyncFdTryNewError<T>> {
        match dup_nonblocking(inner.as_raw_fd()) {
            Ok(fd) => Ok(AsyncFd { fd, inner }),
            Err(cause) => Err(AsyncFdTryNewError { inner, cause }),
        }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The wrapped value back (the duplicate descriptor is closed).
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Waits until the descriptor is readable.
    #[track_caller]
    pub fn readable(&self) -> impl Future<Output = io::Result<AsyncFdReadyGuard<'_, T>>> + '_ {
        At::here(async move { self.ready(Interest::READABLE).await })
    }

    /// Waits until the descriptor is writable.
    #[track_caller]
    pub fn writable(&self) -> impl Future<Output = io::Result<AsyncFdReadyGuard<'_, T>>> + '_ {
        At::here(async move { self.ready(Interest::WRITABLE).await })
    }

    /// Waits until the descriptor is ready for one of `interest`'s
    /// directions; the guard says which ([`AsyncFdReadyGuard::ready`]).
    #[track_caller]
    pub fn ready(
        &self,
        interest: Interest,
    ) -> impl Future<Output = io::Result<AsyncFdReadyGuard<'_, T>>> + '_ {
        At::here(async move {
            let ready = ready::ready(&self.fd, interest).await?;
            Ok(AsyncFdReadyGuard {
                async_fd: self,
                ready,
            })
        })
    }

    /// [`readable`](AsyncFd::readable), with a guard lending `&mut self`.
    #[track_caller]
    pub fn readable_mut(
        &mut self,
    ) -> impl Future<Output = io::Result<AsyncFdReadyMutGuard<'_, T>>> + '_ {
        At::here(async move { self.ready_mut(Interest::READABLE).await })
    }

    /// [`writable`](AsyncFd::writable), with a guard lending `&mut self`.
    #[track_caller]
    pub fn writable_mut(
        &mut self,
    ) -> impl Future<Output = io::Result<AsyncFdReadyMutGuard<'_, T>>> + '_ {
        At::here(async move { self.ready_mut(Interest::WRITABLE).await })
    }

    /// [`ready`](AsyncFd::ready), with a guard lending `&mut self`.
    #[track_caller]
    pub fn ready_mut(
        &mut self,
        interest: Interest,
    ) -> impl Future<Output = io::Result<AsyncFdReadyMutGuard<'_, T>>> + '_ {
        At::here(async move {
            let ready = ready::ready(&self.fd, interest).await?;
            Ok(AsyncFdReadyMutGuard {
                async_fd: self,
                ready,
            })
        })
    }

    /// Calls `f` until it does not answer `WouldBlock`, waiting for
    /// `interest` before each retry (tokio's `async_io`): the whole
    /// readable-then-try loop in one call.
    ///
    /// ```
    /// use ferrio::io::{unix::AsyncFd, Interest};
    /// use std::io::{Read, Write};
    ///
    /// ferrio::run(async {
    ///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     a.set_nonblocking(true).unwrap();
    ///     let a = AsyncFd::new(a).unwrap();
    ///     let writer = std::thread::spawn(move || b.write_all(b"late").unwrap());
    ///     let mut buf = [0u8; 4];
    ///     let n = a.async_io(Interest::READABLE, |s| (&*s).read(&mut buf)).await.unwrap();
    ///     assert_eq!(&buf[..n], b"late");
    ///     writer.join().unwrap();
    /// });
    /// ```
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        ready::io_loop(&self.fd, interest, || f(&self.inner)).await
    }

    /// [`async_io`](AsyncFd::async_io) with `&mut T`.
    pub async fn async_io_mut<R>(
        &mut self,
        interest: Interest,
        mut f: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let AsyncFd { fd, inner } = self;
        ready::io_loop(fd, interest, || f(inner)).await
    }
}

/// Duplicates `fd` (close-on-exec) once it is known to be non-blocking.
fn dup_nonblocking(fd: RawFd) -> io::Result<SharedFd> {
    // SAFETY: fcntl reads the flags of a descriptor the caller's `T`
    // holds open; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ferrio: AsyncFd needs a non-blocking descriptor (set O_NONBLOCK first, e.g. \
             `set_nonblocking(true)`): the calls made after a readiness wait run on a worker \
             thread and must not block it",
        ));
    }
    // SAFETY: the descriptor is open for the duration of this call (the
    // caller's `T` holds it).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(SharedFd::new(borrowed.try_clone_to_owned()?))
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .finish()
    }
}

/// The readiness an [`AsyncFd`] wait found, borrowing the `AsyncFd`.
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    async_fd: &'a AsyncFd<T>,
    ready: Ready,
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    /// What the wait found (cleared by [`clear_ready`](Self::clear_ready)).
    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Forgets the readiness: call it once a call answered `WouldBlock`
    /// (as tokio's). ferrio's next wait asks the descriptor anyway, so
    /// forgetting it, or not, never makes a wait return early.
    pub fn clear_ready(&mut self) {
        self.ready = Ready::EMPTY;
    }

    /// Forgets the readiness of `interest`'s directions only.
    pub fn clear_ready_matching(&mut self, interest: Interest) {
        self.ready = self.ready.without(interest);
    }

    /// Keeps the readiness (tokio's; a no-op here: the next wait asks the
    /// descriptor).
    pub fn retain_ready(&mut self) {}

    /// Runs `f`, your non-blocking call. `WouldBlock` clears the
    /// readiness and is `Err(TryIoError)`: wait again. Anything else is
    /// `Ok` with `f`'s result.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            r => Ok(r),
        }
    }

    /// The `AsyncFd`.
    pub fn get_ref(&self) -> &'a AsyncFd<T> {
        self.async_fd
    }

    /// The wrapped value.
    pub fn get_inner(&self) -> &'a T {
        self.async_fd.get_ref()
    }
}

impl<T: AsRawFd> std::fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("fd", &self.async_fd.as_raw_fd())
            .field("ready", &self.ready)
            .finish()
    }
}

/// The readiness an [`AsyncFd`] wait found, lending the `AsyncFd`
/// mutably (from `readable_mut`, `writable_mut`, `ready_mut`).
pub struct AsyncFdReadyMutGuard<'a, T: AsRawFd> {
    async_fd: &'a mut AsyncFd<T>,
    ready: Ready,
}

impl<T: AsRawFd> AsyncFdReadyMutGuard<'_, T> {
    /// What the wait found.
    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Forgets the readiness (see [`AsyncFdReadyGuard::clear_ready`]).
    pub fn clear_ready(&mut self) {
        self.ready = Ready::EMPTY;
    }

    /// Forgets the readiness of `interest`'s directions only.
    pub fn clear_ready_matching(&mut self, interest: Interest) {
        self.ready = self.ready.without(interest);
    }

    /// Keeps the readiness (a no-op here, as
    /// [`AsyncFdReadyGuard::retain_ready`]).
    pub fn retain_ready(&mut self) {}

    /// Runs `f` with `&mut AsyncFd<T>`; `WouldBlock` clears the readiness
    /// and is `Err(TryIoError)`.
    pub fn try_io<R>(
        &mut self,
        f: impl FnOnce(&mut AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match f(self.async_fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            r => Ok(r),
        }
    }

    /// The `AsyncFd`.
    pub fn get_ref(&self) -> &AsyncFd<T> {
        self.async_fd
    }

    /// The `AsyncFd`, mutably.
    pub fn get_mut(&mut self) -> &mut AsyncFd<T> {
        self.async_fd
    }

    /// The wrapped value.
    pub fn get_inner(&self) -> &T {
        self.async_fd.get_ref()
    }

    /// The wrapped value, mutably.
    pub fn get_inner_mut(&mut self) -> &mut T {
        self.async_fd.get_mut()
    }
}

impl<T: AsRawFd> std::fmt::Debug for AsyncFdReadyMutGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFdReadyMutGuard")
            .field("fd", &self.async_fd.as_raw_fd())
            .field("ready", &self.ready)
            .finish()
    }
}

/// A guard's `try_io` call answered `WouldBlock`: the readiness was
/// cleared; wait again.
#[derive(Debug)]
pub struct TryIoError(());

impl std::fmt::Display for TryIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the operation would block; wait for readiness again")
    }
}

impl std::error::Error for TryIoError {}

/// [`AsyncFd::try_new`] refused the descriptor: the cause, and the value
/// back.
pub struct AsyncFdTryNewError<T> {
    inner: T,
    cause: io::Error,
}

impl<T> AsyncFdTryNewError<T> {
    /// The value handed in, and why it was refused.
    pub fn into_parts(self) -> (T, io::Error) {
        (self.inner, self.cause)
    }
}

impl<T> std::fmt::Debug for AsyncFdTryNewError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFdTryNewError")
            .field("cause", &self.cause)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Display for AsyncFdTryNewError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cause.fmt(f)
    }
}

impl<T> std::error::Error for AsyncFdTryNewError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

impl<T> From<AsyncFdTryNewError<T>> for io::Error {
    fn from(e: AsyncFdTryNewError<T>) -> io::Error {
        e.cause
    }
}
