//! The io_uring driver: one ring per worker (`ring`), the operation
//! futures (`future`), and the completion protocol they share (`op`,
//! which is also compiled under loom for its model).

#[cfg(not(ferrio_loom))]
pub(crate) mod future;
pub(crate) mod op;
#[cfg(not(ferrio_loom))]
pub(crate) mod pool;
#[cfg(not(ferrio_loom))]
mod ring;

#[cfg(not(ferrio_loom))]
pub(crate) use future::{MultiKind, MultiOp, Op, OpKind};
#[cfg(not(ferrio_loom))]
pub(crate) use ring::*;
