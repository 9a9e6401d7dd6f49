//! The time driver below the scheduler: each worker's timer wheel, the
//! queues other threads reach it through, and the timer entries they share
//! with their futures. It names neither the scheduler nor the runtime: a
//! worker owns one [`TimeDriver`] and calls it (`insert`, `cancel`,
//! `process`, `next_deadline`, `shutdown`); the user-facing futures
//! (`Sleep`, timeouts, `Interval`) sit above the runtime in `time`.
//!
//! - `wheel.rs`: the hierarchical timing wheel (a plain data structure);
//! - `entry.rs`: `TimerShared`, one timer's state word, key and waker;
//! - `requests.rs`: `TimerQueues`, requests from other threads;
//! - `driver.rs`: `TimeDriver` (one per worker);
//! - `clock.rs`: `Clock` (per runtime), and its virtual mode (feature
//!   `test-util`: pause, advance, auto-advance; protocol at its head).
//!
//! # Protocol
//!
//! - **A wheel per worker** (`wheel.rs`): 6 levels × 64 slots at 1 ms,
//!   rotations of 64^6 ms ≈ 2.2 years; a deadline in a later rotation
//!   waits in an overflow list, re-linked when its rotation begins (no
//!   clamp: a runtime up for years, or a paused clock advanced that far,
//!   fires every timer at its deadline, so a fired timer is always due).
//!   Entries live in a slab with a doubly linked list per slot: O(1)
//!   insert and remove, and slab slots are reused (a timeout reset in a loop
//!   does not grow memory; tested).
//! - **Lazy registration**: a `Sleep` registers at its first poll, in the wheel
//!   of the worker polling it; dropping an unpolled `Sleep` costs nothing.
//! - **Cancellation without a global lock**: dropping a registered `Sleep` on
//!   its owner worker removes it at once; elsewhere it marks the timer
//!   CANCELLED (one CAS on the timer's own state) and queues its key on the
//!   owner's cancellation queue, drained at the owner's next maintenance; the
//!   first request queued wakes a sleeping owner, so memory is reclaimed
//!   promptly, not at the cancelled deadline. Keys carry a generation, so a stale key never removes another
//!   timer. A sleep in a worker's wheel keeps only its runtime's id (a
//!   clone of the runtime's `Arc` per sleep would bounce one count between
//!   the workers): dropped on a thread outside that runtime, its entry
//!   stays cancelled in the wheel until its deadline or the runtime's end;
//!   reset there, its task is woken and re-registers at its next poll.
//! - **Due at the first poll**: on a worker, a deadline at or before the
//!   wheel's time (the last millisecond it advanced to) completes without a
//!   timer and without reading the clock; `sleep(ZERO)` is done at creation.
//!   A remote registration (from `block_on`) goes to a worker's queue
//!   and wakes it (its park timeout may shrink).
//! - **Reset** (`Sleep::reset` of a waiting sleep): on the owner, the entry
//!   moves in the wheel (`TimeDriver::rearm`: remove and insert under the
//!   wheel's lock, the new key stored in the timer before the lock is let
//!   go; the same `TimerShared`, so nothing is allocated); elsewhere, or
//!   when the entry has left the wheel (fired, or a watchdog round holds
//!   the lock), the old timer is cancelled as on a drop and a new one
//!   registered with the same waker. Either way the task is woken at the
//!   new deadline without polling again; a deadline already past wakes it
//!   at once and needs no timer.
//! - **Request queues** (`TimerQueues`, one per worker): a requester
//!   pushes under the queue's lock, then bumps `pending`; the owner resets
//!   `pending` to 0 *before* taking the queues, so a request that races the
//!   take is left with `pending > 0` for the next round. The worker and the
//!   loom model run this same code.
//! - **Shutdown**: a worker, as it exits (after dropping its tasks), closes
//!   its register queue and ends every timer in its wheel or queue
//!   (`SHUT_DOWN` state: the future is woken and ends at once); the runtime
//!   refuses registrations once its shutdown flag is set, and a registration
//!   that raced past the flag is refused by the closed queue or ended by the
//!   closing worker. So a `Sleep` awaited through a kept `Handle` ends early,
//!   and `wait_for` / `TimeoutScope::run` fail with
//!   `TimeoutError::is_runtime_shutdown()`; nothing awaits a wheel that is gone.
//! - **Nested timeout scopes**: while a scope polls its body it records its
//!   deadline in the thread's context (the earliest of the enclosing ones);
//!   an expired scope that finds an enclosing one expired too leaves the
//!   report to it (asyncio: the outermost expired scope reports). Decided on
//!   deadlines, not on which wheel fires first.
//! - **Never early**: deadlines round up to the next millisecond; the park
//!   timeout is the next slot's time.
//! - **Interval** missed ticks: `Burst` (default, like tokio), `Delay`, `Skip`;
//!   instants saturate ("never") instead of overflowing.

mod clock;
mod driver;
mod entry;
mod requests;
pub(crate) mod wheel;

pub(crate) use clock::Clock;
#[cfg(all(feature = "test-util", not(ferrio_loom)))]
pub(crate) use clock::{any_shifted, ClockError, Hold, HoldSource};
pub(crate) use driver::TimeDriver;
pub(crate) use entry::{stored_key, TimerShared};
pub(crate) use requests::TimerQueues;
