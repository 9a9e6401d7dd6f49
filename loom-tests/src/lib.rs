//! Loom model checks for ferrio live in `tests/`; this library holds what
//! the models share. Build with `RUSTFLAGS="--cfg ferrio_loom"`.
//!
//! # Loom strategy
//!
//! `src/loom.rs` is the only place that names `std::sync` or `loom`. Building
//! with `RUSTFLAGS="--cfg ferrio_loom"` swaps every atomic, mutex, condvar,
//! cell, thread and thread-local for loom's; a namespaced cfg keeps other
//! crates (crossbeam, tokio) on their normal code. `src/loom_models/`
//! exposes, only under that cfg, a single-queue `TestScheduler` driving
//! the real task code, the real `Parker`, op cell and time driver, and
//! the drivers' shipped park routine over an eventfd stand-in. Under
//! loom, workers park on the condvar parker (loom cannot run io_uring or
//! epoll). Models in `loom-tests/tests/`:
//!
//! | model | protocol |
//! | --- | --- |
//! | `task::wake_during_poll_is_not_lost` | NOTIFIED while RUNNING → reschedule |
//! | `task::cancel_during_poll_drops_future_once` | cancel vs poll |
//! | `task::cancel_races_completion` | cancel vs complete (true ⇒ Cancelled) |
//! | `task::join_handle_drop_races_completion` | output dropped exactly once |
//! | `task::join_waker_hand_off` | JOIN_WAKER swap and completion |
//! | `task::waker_clones_woken_and_dropped_concurrently` | reference counting |
//! | `task::shutdown_races_wake` | shutdown vs wake |
//! | `task::panicking_detached_task_is_reported_once` | panic report vs handle drop |
//! | `task::concurrent_future_result_hand_off_to_a_blocked_thread` | `ConcurrentFuture::result` parked on a thread vs completion |
//! | `park::unpark_is_never_lost`, `park::two_unparks_one_park` | parker |
//! | `runtime::block_on_spawned_task_returns_its_value` | the whole runtime, one worker: `spawn` from `block_on` (injector, `schedule_remote`), the worker's run/park, the join wake-up, shutdown (3,199 interleavings) |
//! | `runtime::task_spawned_from_outside_while_workers_idle_is_run` | two workers starting up and going idle vs a spawn from outside: a lost wake-up is a loom deadlock (bound 1: 5,376; fails without `Worker::park`'s last-searcher re-check) |
//! | `runtime::tasks_spawned_from_a_task_run_once_with_a_stealing_worker` | LIFO slot → local queue → the other worker steals: each child once, results back; asserts some execution really steals (bound 1: 7,536, 2,136 of them steal) |
//! | `runtime::remote_spawn_racing_shutdown_runs_or_is_cancelled` | `Handle::spawn` (bind, `schedule_remote`) vs the runtime's drop: runs or is cancelled, future dropped once, nothing left in the injector (a leak of `Shared`) (6,840; fails without `schedule_remote`'s shutdown check) |
//! | `runtime::remote_sleep_racing_shutdown_is_ended` | a sleep registered from outside (remote timer queue) vs the runtime's drop: refused or ended by the worker's shutdown (2,908; fails without `TimeDriver::shutdown`) |
//! | `driver::park_routine_never_loses_a_wakeup`, `driver::park_routine_two_unparks_one_park` | the park routine both drivers use (`driver::parking::{park, unpark}`, shipped) over an eventfd stand-in: a wake-up is never lost, and only a parked worker costs an eventfd write |
//! | `epoll::the_shipped_op_loop_never_misses_the_edge_of_a_send`, `epoll::the_shipped_op_loop_takes_two_sends_across_a_drained_read`, `epoll::the_shipped_op_loop_keeps_a_hang_up_in_the_same_edge_as_the_last_data` | the epoll driver's operation loop (`driver::ready_loop::poll_call`, shipped; `driver::epoll_op::EpollOp::poll` runs it) over `ScheduledIo`, a stand-in socket and owner: an event between an `EAGAIN` and the wait makes it retry (deadlock if a `Retry` is taken for a wait), an edge queued by `EPOLL_CTL_ADD` for bytes already there, a drained read clears the mark only if no event came since, a hang-up coalesced with the last data survives that clear (deadlock without the sticky mark) |
//! | `epoll::readiness_close_wakes_a_waiter`, `epoll::readiness_cancelled_waiter_leaves_nothing_racing_an_event` | shutdown wakes every waiter; a dropped operation's waiter is removed whatever the event does |
//! | `epoll::a_reader_and_a_writer_on_one_descriptor_end_when_close_races_the_event`, `epoll::one_edge_both_ways_wakes_the_reader_and_the_writer` | two waiters of opposite directions on one `ScheduledIo`: one edge wakes both (deadlock if `dispatch` wakes only one), and a close racing the edge ends both with nothing left behind |
//! | `epoll::a_registration_dropped_while_its_event_is_in_a_batch_is_freed_after_it`, `epoll::a_registration_dropped_across_the_shutdown_is_closed_or_freed_once` | freeing a registration (`driver::epoll_set::EpollSet`, shipped, over a stand-in kernel set that checks each event's `ScheduledIo` is alive): `EPOLL_CTL_DEL`, then the release list emptied after the owner's batch (fails if the release list is skipped) |
//! | `driver::op_completion_races_future_drop` | an op's buffer is freed exactly once, never in flight |
//! | `driver::pooled_buffer_of_an_abandoned_receive_goes_back_exactly_once` | provided buffers of completions vs the future's drop |
//! | `driver::op_dropped_on_its_worker_never_overtakes_its_remote_submit`, `driver::op_dropped_off_the_workers_races_the_drain`, `driver::cancel_requested_while_kept_races_the_drain`, `driver::local_op_cancelled_from_another_thread_is_cancelled` | `driver::remote` over a stand-in submission queue: an op's SQE reaches the ring before any cancel aimed at it (issue 14 #5) |
//! | `driver::late_requests_at_shutdown_are_finished`, `driver::late_drop_at_shutdown_frees_the_op_once`, `driver::two_remote_ops_dropped_on_both_sides_across_shutdown` | the remote queue's `closed` flag: nothing pushed around shutdown is stranded or freed twice |
//! | `time::timer_requests_racing_the_owners_round_are_never_stranded` | the shipped `TimeDriver::process` and `TimerQueues`' `pending` handshake (fails with the reset moved after the take) |
//! | `time::remote_registrations_wake_a_sleeping_owner` | remote registrations and their wake-up vs an owner that processes and parks (`TimeDriver` + `Parker`): a stranded request is a loom deadlock (74 interleavings; fails with the reset moved after the take) |
//! | `time::timer_cancelled_from_another_thread_fires_or_is_removed` | remote cancel vs the owner taking in a remote registration and firing it |
//! | `time::timer_cancel_races_firing` | remote cancel vs the owner firing |
//! | `time::timer_registration_racing_shutdown_is_ended_or_refused` | remote registration vs the owner closing its queue (fails without the `closed` check) |
//! | `sync::semaphore_hand_off_is_exclusive_and_never_lost` | semaphore waiter queue, release hand-off |
//! | `sync::dropped_semaphore_waiter_passes_the_permit_on` | cancelled waiter vs release |
//! | `sync::event_set_wakes_the_waiter` | event set vs wait |
//! | `sync::promise_set_result_reaches_the_waiter` | promise set vs await |
//! | `sync::queue_put_wakes_a_waiting_get`, `sync::cancelled_get_loses_no_item` | the queue's getter list |
//! | `sync::once_cell_close_wakes_the_waiter_and_one_initialiser_runs`, `sync::once_cell_cancelled_initialiser_hands_over` | `OnceCell` over the semaphore: the closing set turns the waiter away (deadlock if the close loses a wake-up), one initialiser runs; a dropped initialiser hands the permit on |
//! | `cancel_token::cancel_racing_a_waiters_registration_wakes_it`, `cancel_token::cancel_of_an_ancestor_racing_a_waiter_on_a_child_wakes_it` | `CancellationToken`: a waiter registering under the node's lock vs the cancel taking the waiters (deadlock without the phase re-check under the lock) |
//! | `cancel_token::cancel_of_the_parent_racing_child_creation_cancels_the_child`, `cancel_token::cancel_of_the_grandparent_racing_child_creation_cancels_the_child` | a child created during a cancel starts cancelled or is listed before the cancel copies the list (fails if only a finished cancel is checked) |
//! | `cancel_token::cancel_returns_only_once_the_subtree_is_cancelled_despite_a_concurrent_cancel` | two cancellers in one subtree: a node is marked cancelled only after its children (fails if a canceller skips a node another one is cancelling) |
//! | `cancel_token::child_dropped_racing_the_parents_cancel_leaves_nothing_listed`, `cancel_token::child_dropped_racing_a_sibling_creation_leaves_only_the_sibling` | a dropped child (and a handle-less middle) leaves its parent's list whatever the cancel or a sibling's creation does |
//! | `channels::a_receiver_waiting_while_the_last_sender_drops_sees_the_end` | `mpsc`: the last sender's drop vs a waiting `recv` (the receiver's waker; buffered value first, then `None`) |
//! | `channels::a_sender_waiting_for_a_slot_is_woken_when_the_receiver_takes_one`, `channels::a_dropped_waiting_sender_passes_its_slot_on` | `mpsc`: a slot freed by `recv` is handed to the waiting sender; a sender dropped after one poll passes the slot on |
//! | `channels::a_close_reaches_a_sender_waiting_for_a_slot` | `mpsc`: `Receiver::close` vs a sender queueing for a slot |
//! | `sync_cancel::condition_notification_survives_a_cancelled_waiter` | a notified `Condition` waiter cancelled while re-locking passes the notification on (#8) |
//! | `sync_cancel::barrier_cancelled_waiter_leaves_the_round_cleanly` | a cancelled `Barrier` waiter: indices 0..n-1 once each (#18) |
//! | `sync_cancel::queue_two_waiting_producers_both_get_in`, `sync_cancel::bounded_queue_cancelled_put_passes_its_slot_on` | bounded `Queue` put claims and their cancellation (#3) |
//! | `sync_cancel::cancelled_queue_join_leaves_no_waker` | `Queue::join` cancellation (#13) |
//! | `blocking::a_job_submitted_racing_the_shutdown_runs_or_is_dropped_and_told`, `blocking::a_job_queued_behind_a_busy_pool_at_shutdown_is_dropped_and_told`, `blocking::two_jobs_on_a_one_thread_pool_both_run`, `blocking::two_submitters_and_a_shutdown_leave_nothing_behind` | the blocking pool (`blocking::BlockingPool`, shipped, its threads loom threads): every job runs, is dropped with its awaiting side told, or is refused; none is stranded and every pool thread exits (the last fails without the retiring thread's drain at shutdown) |
//! | `group::group_drop_vs_spawn_leaves_no_child` | `TaskGroup` drop vs a spawn under way (issue 14 #9) |
//! | `group::group_abort_vs_spawn_leaves_no_child` | a child's failure (abort) vs a spawn under way |
//! | `wait_record::a_dump_never_reads_a_torn_record`, `wait_record::a_cleared_record_reads_as_none_or_the_record_before`, `wait_record::two_waits_of_one_line_mix_only_their_own_words` | a task's wait record (`task::core::wait::WaitRecord`, shipped) written by its poller while a dump reads it: never the location of one write with the words of another (fails without either fence or the second location read), a clear reads as none or the record before; two writes of one location may mix their kind and detail, and some execution does (the module head says so) |
//!
//! They run in release with `LOOM_MAX_PREEMPTIONS=2` in well under a minute;
//! CI also runs `task::join_waker_hand_off` at bound 4 and the two-worker
//! `runtime::task_spawned_from_outside_while_workers_idle_is_run` (the
//! shipped idle/park/notify protocol) at bound 2 (667,264 interleavings,
//! about 1.5 minutes). Every model calls shipped functions; none copies a
//! protocol's steps.
//! Not modelled yet: the blocking pool's idle-thread claim (a SeqCst fence
//! pairing plus counters under its mutex, on std types and crossbeam's
//! injector, which loom cannot see).
//!
//! The whole runtime runs under loom (`runtime.rs`): `Builder::build` starts
//! loom threads running the shipped `Worker::run`, waiting for them on a
//! start-up handshake over the shim's mutex and condvar (not a std channel,
//! which loom cannot see). Two things to know:
//!
//! - Loom replays a recorded schedule assuming every execution of the model
//!   does the same thing. Nothing under `cfg(ferrio_loom)` may branch on a
//!   value that differs between executions: the `loom::plain` counters (task
//!   ids) keep counting across them, and the clock moves. Picking a task's
//!   owned-list shard by id did exactly that, and loom, replaying a path onto
//!   a different shard's mutex, handed a load a store its coherence rules
//!   forbid (`apply_load_coherence` then gave two stores the same
//!   modification order) and tripped its internal assertion in
//!   `match_load_to_stores` (loom 0.7.3, `atomic.rs:751`; loom#252/#389),
//!   here on the worker's load of the `shutdown` flag after about 330
//!   executions. Under loom there is one remote shard (`REMOTE_SHARDS`),
//!   chosen without the id. Loom's condvar never times out, so the models
//!   use far deadlines: no timer fires in them.
//! - The queues are loom mutexes there, which loom orders as SeqCst: the
//!   SeqCst fences in `notify_parked` and `Worker::park` (needed with
//!   crossbeam's release/acquire queues) cannot be checked, and removing them
//!   does not fail any model. The two-worker models run at preemption bound
//!   1 (at 2 the spawn-from-outside model takes 651,704 interleavings,
//!   about 2.5 minutes, and passes).

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
