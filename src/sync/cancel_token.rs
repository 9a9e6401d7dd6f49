//! `CancellationToken` (tokio-util's): a tree of cancellation flags.
//!
//! # Synchronisation
//!
//! Each token (with its clones) is a node; a node's mutex guards its
//! phase (active, cancelling, cancelled), its count of token handles, its
//! children (strong references) and its waiters. A child holds its parent
//! strongly too (it must reach the parent's list to leave it); the cycle
//! is broken when the child leaves the list. No code holds two nodes'
//! locks at once, and no strong reference to a node is dropped under a
//! lock (a node's drop may lock its parent), so there is no lock order to
//! keep and nothing can deadlock.
//!
//! - **Cancel** walks the subtree iteratively (no recursion: trees may be
//!   deep), twice per node: entering, it marks the node *cancelling* and
//!   copies its children list; leaving, after all those children are
//!   cancelled, it marks the node *cancelled* (phase, then the atomic flag
//!   `is_cancelled` reads), empties its children and waiters, and wakes
//!   the waiters. A node is thus cancelled only once its whole subtree is,
//!   so `cancel()` returning means the subtree is cancelled, even when
//!   another thread cancels part of it concurrently (each canceller walks
//!   what it finds; the work is idempotent).
//! - **Child creation** locks the parent: a cancelling or cancelled parent
//!   makes a child that starts cancelled (and is not listed); otherwise the
//!   child is listed before the lock is released, so the parent's cancel,
//!   which copies the list under the same lock later, reaches it.
//! - **Waiting** registers the waker under the node's lock after checking
//!   the phase there, and cancel takes the waiters under the same lock: a
//!   waiter either sees the cancel or is woken by it.
//! - **Leaving**: when a node's last handle drops and it has no children
//!   (or its last child leaves while it has no handles), nothing can reach
//!   it but its parent's list, and it leaves that list; this cascades up
//!   through parents left the same way. A node with live children stays
//!   listed, so cancelling its ancestors still reaches them.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::task::core::wait::{self, WaitKind};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Active,
    Cancelling,
    Cancelled,
}

struct Node {
    /// The parent and our key in its children list (set at creation).
    parent: Option<(Arc<Node>, u64)>,
    /// Set with the phase `Cancelled`, under the lock: the lock-free
    /// `is_cancelled`.
    cancelled: AtomicBool,
    state: Mutex<State>,
}

struct State {
    phase: Phase,
    /// `CancellationToken`s of this node alive.
    handles: usize,
    next_key: u64,
    // Ordered maps: deterministic order (loom replays schedules).
    children: BTreeMap<u64, Arc<Node>>,
    waiters: BTreeMap<u64, Waker>,
}

impl Node {
    fn new(parent: Option<(Arc<Node>, u64)>, phase: Phase) -> Node {
        Node {
            parent,
            cancelled: AtomicBool::new(phase == Phase::Cancelled),
            state: Mutex::new(State {
                phase,
                handles: 1,
                next_key: 0,
                children: BTreeMap::new(),
                waiters: BTreeMap::new(),
            }),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Free a chain of parents held only by us iteratively: dropping
        // them recursively could overflow the stack on a deep tree.
        let mut next = self.parent.take();
        while let Some((parent, _)) = next {
            next = match Arc::try_unwrap(parent) {
                Ok(mut node) => node.parent.take(),
                Err(_) => None,
            };
        }
    }
}

/// A token that tells tasks to stop (tokio-util's `CancellationToken`).
///
/// Clones share the token: cancelling one cancels all. A
/// [`child_token`](Self::child_token) is cancelled with its parent (and
/// with every ancestor), never the other way round. Tasks learn of the
/// cancellation by [`is_cancelled`](Self::is_cancelled) or by awaiting
/// [`cancelled`](Self::cancelled), typically raced against their work.
///
/// ```
/// use ferrio::sync::CancellationToken;
/// ferrio::run(async {
///     let token = CancellationToken::new();
///     let child = token.child_token();
///     let worker = ferrio::spawn(async move {
///         child.cancelled().await;
///         "stopped"
///     });
///     token.cancel();
///     assert_eq!(worker.await.unwrap(), "stopped");
///     assert!(token.is_cancelled());
/// });
/// ```
pub struct CancellationToken {
    node: Arc<Node>,
}

impl CancellationToken {
    /// A token, not cancelled, with no parent.
    pub fn new() -> CancellationToken {
        CancellationToken {
            node: Arc::new(Node::new(None, Phase::Active)),
        }
    }

    /// A token cancelled with this one (and its ancestors) but not the
    /// other way round. From a cancelled token, the child starts
    /// cancelled.
    ///
    /// ```
    /// let parent = ferrio::sync::CancellationToken::new();
    /// let child = parent.child_token();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    /// let other = parent.child_token();
    /// parent.cancel();
    /// assert!(other.is_cancelled());
    /// assert!(parent.child_token().is_cancelled());
    /// ```
    pub fn child_token(&self) -> CancellationToken {
        let mut st = self.node.state.lock();
        if st.phase != Phase::Active {
            drop(st);
            return CancellationToken {
                node: Arc::new(Node::new(None, Phase::Cancelled)),
            };
        }
        let key = st.next_key;
        st.next_key += 1;
        let child = Arc::new(Node::new(Some((self.node.clone(), key)), Phase::Active));
        st.children.insert(key, child.clone());
        drop(st);
        CancellationToken { node: child }
    }

    /// Cancels this token, its clones and all its descendants, and wakes
    /// every task waiting in [`cancelled`](Self::cancelled). When it
    /// returns, all of them report [`is_cancelled`](Self::is_cancelled).
    /// Cancelling again does nothing.
    pub fn cancel(&self) {
        enum Step {
            Enter(Arc<Node>),
            Leave(Arc<Node>),
        }
        let mut stack = vec![Step::Enter(self.node.clone())];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(node) => {
                    let mut st = node.state.lock();
                    if st.phase == Phase::Cancelled {
                        continue; // its subtree is done
                    }
                    // No child joins from now on.
                    st.phase = Phase::Cancelling;
                    let children: Vec<Arc<Node>> = st.children.values().cloned().collect();
                    drop(st);
                    stack.push(Step::Leave(node));
                    stack.extend(children.into_iter().map(Step::Enter));
                }
                Step::Leave(node) => {
                    // Every child listed on entering is cancelled now.
                    let mut st = node.state.lock();
                    if st.phase == Phase::Cancelled {
                        continue;
                    }
                    st.phase = Phase::Cancelled;
                    node.cancelled.store(true, Ordering::Release);
                    let waiters = mem::take(&mut st.waiters);
                    let children = mem::take(&mut st.children);
                    drop(st);
                    for w in waiters.into_values() {
                        w.wake();
                    }
                    drop(children);
                }
            }
        }
    }

    /// True once the token is cancelled (by itself, a clone or an
    /// ancestor).
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Ordering::Acquire)
    }

    /// Waits until the token is cancelled (at once if it is). Cancel-safe:
    /// dropping the future leaves nothing behind.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        WaitForCancellationFuture {
            token: self,
            wait: Waiting { key: None },
        }
    }

    /// [`cancelled`](Self::cancelled), owning the token (`'static`: it can
    /// be stored or moved into a task).
    pub fn cancelled_owned(self) -> WaitForCancellationFutureOwned {
        WaitForCancellationFutureOwned {
            token: self,
            wait: Waiting { key: None },
        }
    }

    /// A guard that cancels the token when dropped (unless
    /// [`disarm`](DropGuard::disarm)ed): cancellation tied to a scope.
    ///
    /// ```
    /// let token = ferrio::sync::CancellationToken::new();
    /// {
    ///     let _guard = token.clone().drop_guard();
    /// }
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }

    /// Children of this token still listed (tests).
    #[cfg(any(test, ferrio_loom))]
    pub(crate) fn listed_children(&self) -> usize {
        self.node.state.lock().children.len()
    }
}

/// Takes `node` out of its parent's list, and so on up through parents
/// left without handles and children.
fn leave_parent(node: &Arc<Node>) {
    // Dropped once no lock is held (a node's drop may lock its parent).
    let mut left: Vec<Arc<Node>> = Vec::new();
    let mut cur = node.clone();
    while let Some((parent, key)) = &cur.parent {
        let parent = parent.clone();
        let mut pst = parent.state.lock();
        // Absent when the parent's cancel emptied its list.
        let Some(me) = pst.children.remove(key) else {
            break;
        };
        let parent_unreachable = pst.handles == 0 && pst.children.is_empty();
        drop(pst);
        left.push(me);
        if !parent_unreachable {
            break;
        }
        left.push(mem::replace(&mut cur, parent));
    }
    drop(cur);
    // Children first: each drop then finds its parent still held here.
    drop(left);
}

impl Default for CancellationToken {
    fn default() -> CancellationToken {
        CancellationToken::new()
    }
}

impl Clone for CancellationToken {
    fn clone(&self) -> CancellationToken {
        self.node.state.lock().handles += 1;
        CancellationToken {
            node: self.node.clone(),
        }
    }
}

impl Drop for CancellationToken {
    fn drop(&mut self) {
        let mut st = self.node.state.lock();
        st.handles -= 1;
        let unreachable = st.handles == 0 && st.children.is_empty();
        drop(st);
        if unreachable {
            leave_parent(&self.node);
        }
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A waiter's registration in its node (its key once registered).
struct Waiting {
    key: Option<u64>,
}

impl Waiting {
    fn poll(&mut self, node: &Node, cx: &mut Context<'_>) -> Poll<()> {
        if !crate::coop::poll_proceed(cx) {
            return Poll::Pending;
        }
        if node.cancelled.load(Ordering::Acquire) {
            // The cancel took our waker, if any.
            self.key = None;
            return Poll::Ready(());
        }
        let mut st = node.state.lock();
        if st.phase == Phase::Cancelled {
            drop(st);
            self.key = None;
            return Poll::Ready(());
        }
        let old = match self.key {
            // Only the cancel (handled above) removes a registered waker.
            Some(key) => match st.waiters.get_mut(&key) {
                Some(w) if w.will_wake(cx.waker()) => None,
                Some(w) => Some(mem::replace(w, cx.waker().clone())),
                None => st.waiters.insert(key, cx.waker().clone()),
            },
            None => {
                let key = st.next_key;
                st.next_key += 1;
                st.waiters.insert(key, cx.waker().clone());
                self.key = Some(key);
                None
            }
        };
        drop(st);
        // A replaced waker is dropped outside the lock.
        drop(old);
        Poll::Pending
    }

    fn cancel(&mut self, node: &Node) {
        if let Some(key) = self.key.take() {
            let w = node.state.lock().waiters.remove(&key);
            drop(w);
        }
    }
}

/// The future returned by [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFuture<'a> {
    token: &'a CancellationToken,
    wait: Waiting,
}

impl Future for WaitForCancellationFuture<'_> {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        wait::pending(this.wait.poll(&this.token.node, cx), WaitKind::Cancelled, 0)
    }
}

impl Drop for WaitForCancellationFuture<'_> {
    fn drop(&mut self) {
        self.wait.cancel(&self.token.node);
    }
}

impl fmt::Debug for WaitForCancellationFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFuture")
            .field("is_cancelled", &self.token.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`CancellationToken::cancelled_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFutureOwned {
    token: CancellationToken,
    wait: Waiting,
}

impl Future for WaitForCancellationFutureOwned {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        wait::pending(this.wait.poll(&this.token.node, cx), WaitKind::Cancelled, 0)
    }
}

impl Drop for WaitForCancellationFutureOwned {
    fn drop(&mut self) {
        self.wait.cancel(&self.token.node);
    }
}

impl fmt::Debug for WaitForCancellationFutureOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFutureOwned")
            .field("is_cancelled", &self.token.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// Cancels its token when dropped ([`CancellationToken::drop_guard`]).
#[must_use = "the token is cancelled when the guard drops"]
pub struct DropGuard {
    /// `None` once disarmed.
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancellationToken {
        self.token
            .take()
            .expect("a guard holds its token until disarmed")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.token {
            token.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("token", &self.token)
            .finish()
    }
}
