//! The `user_data` of the driver's SQEs, typed: what a completion is for.
//!
//! An operation's SQE carries the kernel's reference to its cell (an
//! `Arc::into_raw` pointer, at least 8-aligned); the SQE of an
//! `ASYNC_CANCEL` aimed at a cell carries its own reference to that cell
//! with the low bit set, so the address cannot be reused by another op
//! while the cancel is in flight (which would cancel the wrong op). The
//! driver's own SQEs use small numbers, which no pointer can be.

use std::sync::Arc;

use super::op_cell::OpCell;

/// The low bit of a cancel's `user_data`.
const CANCEL_TAG: u64 = 1;

/// What a completion is for.
pub(super) enum UserData {
    /// The eventfd read that wakes a parked worker.
    Eventfd,
    /// The park timeout (kernels without `IORING_FEAT_EXT_ARG`).
    Timeout,
    /// A cancel of the driver's own (the eventfd read, the timeout, or
    /// everything at shutdown): nothing to do.
    Cancel,
    /// An `ASYNC_CANCEL` aimed at this cell, holding a reference to it.
    CancelOf(*const OpCell),
    /// An operation's completion; the SQE held the kernel's reference.
    Op(*const OpCell),
}

impl UserData {
    pub(super) const EVENTFD: u64 = 1;
    pub(super) const TIMEOUT: u64 = 2;
    pub(super) const CANCEL: u64 = 3;

    /// The `user_data` of an operation's SQE: the kernel's reference to
    /// `cell`, given back by [`UserData::Op`] on its last completion.
    pub(super) fn op(cell: Arc<OpCell>) -> u64 {
        Arc::into_raw(cell) as u64
    }

    /// The `user_data` of an `ASYNC_CANCEL` aimed at `cell`, holding this
    /// reference, given back by [`UserData::CancelOf`].
    pub(super) fn cancel_of(cell: Arc<OpCell>) -> u64 {
        Arc::into_raw(cell) as u64 | CANCEL_TAG
    }

    pub(super) fn decode(user_data: u64) -> UserData {
        match user_data {
            Self::EVENTFD => UserData::Eventfd,
            Self::TIMEOUT => UserData::Timeout,
            Self::CANCEL => UserData::Cancel,
            tagged if tagged & CANCEL_TAG != 0 => {
                UserData::CancelOf((tagged & !CANCEL_TAG) as *const OpCell)
            }
            ptr => UserData::Op(ptr as *const OpCell),
        }
    }
}
