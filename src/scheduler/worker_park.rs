//! Where a worker sleeps when it has nothing to do, and what wakes it.
//!
//! Normally the worker's I/O driver: [`WorkerPark`] is its
//! `driver::Driver` (sleeping in `io_uring_enter` or `epoll_wait`) and
//! [`WorkerWaker`] the driver's shared part (an eventfd write, paid only
//! when the worker is parked). Under loom, which cannot run io_uring, the condition-variable
//! `park::Parker` with the same state protocol (`park::ParkState`).
//!
//! A ring is created on the thread that owns it (its handler of the
//! watchdog's signal submits it), so a worker's park is made in two steps: [`pair`] on the runtime's
//! thread gives the waker (which other threads need at once) and a
//! [`ParkBuilder`], which the worker turns into its park on its own thread.

#[cfg(not(ferrio_loom))]
mod imp {
    use crate::driver::{Driver, DriverShared, IoBackend, SetupHook};
    use std::io;
    use std::time::Duration;

    pub(crate) type WorkerPark = Driver;
    pub(crate) type WorkerWaker = DriverShared;
    pub(crate) struct ParkBuilder(DriverShared);

    /// The waking end now and the builder of the sleeping end, for a
    /// driver of `kind` (`IoUring` or `Epoll`).
    pub(crate) fn pair(kind: IoBackend) -> io::Result<(ParkBuilder, WorkerWaker)> {
        let shared = DriverShared::new(kind)?;
        Ok((ParkBuilder(shared.clone()), shared))
    }

    /// The same, for a simulated world's driver (`driver/sim_hook.rs`).
    #[cfg(feature = "sim")]
    pub(crate) fn pair_sim(
        backend: std::sync::Arc<dyn crate::driver::sim_hook::SimBackend>,
    ) -> io::Result<(ParkBuilder, WorkerWaker)> {
        let shared = DriverShared::simulated(backend)?;
        Ok((ParkBuilder(shared.clone()), shared))
    }

    impl ParkBuilder {
        /// Creates the worker's driver, on the worker's own thread.
        pub(crate) fn build(
            self,
            simulate: SetupHook,
            pool: (u16, usize),
        ) -> io::Result<WorkerPark> {
            self.0.build(simulate, pool)
        }
    }

    pub(crate) fn park(p: &WorkerPark, timeout: Option<Duration>) {
        p.park(timeout);
    }
    pub(crate) fn maintain(p: &WorkerPark) {
        p.maintain();
    }
    pub(crate) fn shutdown(p: &WorkerPark) {
        p.shutdown();
    }
}

#[cfg(ferrio_loom)]
mod imp {
    use crate::park::{Parker, Unparker};
    use std::io;
    use std::time::Duration;

    pub(crate) type WorkerPark = Parker;
    pub(crate) type WorkerWaker = Unparker;
    pub(crate) struct ParkBuilder(Parker);

    pub(crate) fn pair() -> io::Result<(ParkBuilder, WorkerWaker)> {
        let p = Parker::new();
        let u = p.unparker();
        Ok((ParkBuilder(p), u))
    }

    impl ParkBuilder {
        pub(crate) fn build(
            self,
            _simulate: Option<i32>,
            _pool: (u16, usize),
        ) -> io::Result<WorkerPark> {
            Ok(self.0)
        }
    }

    pub(crate) fn park(p: &WorkerPark, timeout: Option<Duration>) {
        p.park(timeout);
    }
    pub(crate) fn maintain(_: &WorkerPark) {}
    pub(crate) fn shutdown(_: &WorkerPark) {}
}

#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub(crate) use imp::pair_sim;
pub(crate) use imp::{maintain, pair, park, shutdown, ParkBuilder, WorkerPark, WorkerWaker};
