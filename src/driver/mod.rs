//! The io_uring driver: one ring per worker (`ring`), the operation
//! futures (`future`), the completion protocol they share (`op`), and the
//! requests other threads make of a ring (`remote`); `op` and `remote` are
//! also compiled under loom for their models.

#[cfg(not(ferrio_loom))]
pub(crate) mod future;
pub(crate) mod op;
#[cfg(not(ferrio_loom))]
pub(crate) mod pool;
pub(crate) mod remote;
#[cfg(not(ferrio_loom))]
mod ring;

#[cfg(not(ferrio_loom))]
pub(crate) use future::{MultiKind, MultiOp, Op, OpKind};
#[cfg(not(ferrio_loom))]
pub(crate) use ring::*;
