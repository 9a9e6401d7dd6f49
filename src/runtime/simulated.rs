//! A runtime that runs a `ferrio::sim` world (feature `sim`): what cannot
//! be simulated is refused where it starts, with an error that says so,
//! instead of running for real and out of the world's order.
//!
//! The flag is the scheduler config's `simulated`, set by the sim when it
//! builds its runtime. It is read only where such work starts (opening a
//! file, spawning a process, making a socket, `to_thread`), through the
//! thread's current handle: the I/O path of a running op never reads it,
//! and without the feature the check is compiled out (`Ok(())`).

use std::io;

/// `Err(Unsupported)` "ferrio: not simulated: {what}" when the runtime
/// entered on this thread runs a simulation; `Ok` otherwise (no runtime,
/// or an ordinary one).
#[inline]
pub(crate) fn refuse_in_sim(what: &str) -> io::Result<()> {
    #[cfg(all(feature = "sim", not(ferrio_loom)))]
    if in_sim() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("ferrio: not simulated: {what}"),
        ));
    }
    let _ = what;
    Ok(())
}

/// Whether the runtime entered on this thread runs a simulation.
#[cfg(all(feature = "sim", not(ferrio_loom)))]
pub(crate) fn in_sim() -> bool {
    super::context::with_current_handle(|h| h.is_some_and(|h| h.shared.config.simulated))
}
