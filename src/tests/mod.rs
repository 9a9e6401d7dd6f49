//! Behaviour tests of the public API. They live inside the crate (as
//! `cfg(test)` modules) so the repository's top level stays as the design
//! card lays it out; they use public paths (`ferrio::...`), and reach
//! internals only through `hooks.rs`.

mod auto_traits;
mod blocked_worker;
mod cancel_comb;
mod cancel_io;
mod cancel_streams;
mod cancel_sync;
mod cancel_time;
mod channels;
mod channels_fanout;
mod combinators;
mod common;
mod drivers_agree;
mod enter;
mod epoll;
mod fs;
mod fs_dir;
mod group;
mod hooks;
mod hyper_rt;
mod hyper_serve;
mod io;
mod io_copy;
mod join_set;
#[cfg(feature = "macros")]
mod macros;
mod net;
mod net_accept;
mod net_extras;
mod net_futures_io;
mod process;
mod queues;
mod select;
mod shutdown;
mod shutdown_sweep;
mod signals;
#[cfg(feature = "sim")]
mod sim;
#[cfg(feature = "sim")]
mod sim_net;
#[cfg(feature = "sim")]
mod sim_schedule;
mod streams;
mod stress;
mod sync;
mod sync_extra;
mod sync_once_cell;
mod sync_token;
mod task_dump;
mod task_dump_leaves;
mod task_local;
#[cfg(feature = "tracing")]
mod task_tracing;
mod tasks;
mod threads;
mod time;
#[cfg(feature = "test-util")]
mod time_pause;
mod time_reset;
mod tls;
mod tokio_io;
mod tokio_names;
