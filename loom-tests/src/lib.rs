//! Loom model checks for ferrio live in `tests/`; this library holds what
//! the models share. Build with `RUSTFLAGS="--cfg ferrio_loom"`.

#[cfg(ferrio_loom)]
mod shared {
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;

    /// A value that counts its drops: for "freed exactly once" checks.
    pub struct Counted(pub Arc<AtomicUsize>);

    impl Counted {
        /// A counted value and the counter it bumps.
        pub fn new() -> (Counted, Arc<AtomicUsize>) {
            let n = Arc::new(AtomicUsize::new(0));
            (Counted(n.clone()), n)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

#[cfg(ferrio_loom)]
pub use shared::Counted;
