//! The network's clock hand: one task of the world's runtime that runs
//! the model's events (`world.rs`) as they fall due, sleeping on the
//! virtual clock until the next one, so a paused clock jumps straight
//! to it. A new event due earlier than the sleep's deadline wakes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::net::NetInner;
use crate::time::{self, Sleep};

/// The pump's future (never ends; dropped with the runtime).
pub(super) struct Pump {
    net: Arc<NetInner>,
    sleep: Option<Sleep>,
}

impl Pump {
    pub(super) fn new(net: Arc<NetInner>) -> Pump {
        Pump { net, sleep: None }
    }
}

impl Future for Pump {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let now = time::now();
            let next = self.net.with_world(|w, net| {
                w.run_due(net, now);
                let next = w.next_due();
                w.pump = Some(cx.waker().clone());
                w.armed = next;
                next
            });
            let Some(next) = next else {
                self.sleep = None;
                return Poll::Pending;
            };
            let sleep = match &mut self.sleep {
                Some(s) => {
                    if s.deadline() != next {
                        s.reset(next);
                    }
                    s
                }
                None => self.sleep.insert(time::sleep_until(next)),
            };
            match Pin::new(sleep).poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
