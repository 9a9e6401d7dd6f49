//! `CancellationToken`: trees (down, never up; children of a cancelled
//! token start cancelled), waiting (woken once, cancel-safe, no waker left
//! behind), drop guards, dropped children leaving their parent's list, deep
//! trees without recursion, and tasks on two workers.

use std::task::Poll;

use super::common::{rt, TestWaker};
use super::hooks::token_children;
use ferrio::sync::CancellationToken;

#[test]
fn token_cancel_goes_down_the_tree_never_up() {
    let root = CancellationToken::new();
    let a = root.child_token();
    let a1 = a.child_token();
    let b = root.child_token();
    let a_clone = a.clone();
    a.cancel();
    assert!(a.is_cancelled() && a_clone.is_cancelled() && a1.is_cancelled());
    assert!(!root.is_cancelled() && !b.is_cancelled());
    a.cancel(); // again: nothing changes
    root.cancel();
    assert!(root.is_cancelled() && b.is_cancelled());
    // Children of a cancelled token start cancelled.
    assert!(root.child_token().is_cancelled());
    assert!(a1.child_token().child_token().is_cancelled());
}

#[test]
fn token_cancelled_wakes_its_waiters_and_leaves_no_waker() {
    let token = CancellationToken::new();
    let child = token.child_token();
    let (w1, w2, w3) = (TestWaker::new(), TestWaker::new(), TestWaker::new());
    let mut wait = Box::pin(child.cancelled());
    assert!(w1.poll(wait.as_mut()).is_pending());
    // Polled again with another waker: only the latest is kept.
    assert!(w2.poll(wait.as_mut()).is_pending());
    assert_eq!(w1.outstanding(), 0, "the replaced waker was kept");
    // A waiter dropped after a `Pending` poll leaves nothing.
    let mut gone = Box::pin(token.cancelled());
    assert!(w3.poll(gone.as_mut()).is_pending());
    drop(gone);
    assert_eq!(w3.outstanding(), 0, "a dropped waiter's waker was kept");
    token.cancel();
    assert_eq!((w1.wakes(), w2.wakes(), w3.wakes()), (0, 1, 0));
    assert_eq!(w2.poll(wait.as_mut()), Poll::Ready(()));
    assert_eq!(w2.outstanding(), 0);
    drop(wait);
    // Already cancelled: ready at once, owned or not.
    assert_eq!(
        w1.poll(Box::pin(token.cancelled()).as_mut()),
        Poll::Ready(())
    );
    let mut owned = Box::pin(child.clone().cancelled_owned());
    assert_eq!(w1.poll(owned.as_mut()), Poll::Ready(()));
    assert_eq!(w1.outstanding(), 0);
}

#[test]
fn token_owned_waiter_dropped_leaves_no_waker() {
    let token = CancellationToken::new();
    let w = TestWaker::new();
    let mut wait = Box::pin(token.clone().cancelled_owned());
    assert!(w.poll(wait.as_mut()).is_pending());
    drop(wait);
    assert_eq!(w.outstanding(), 0);
    token.cancel();
    assert_eq!(w.wakes(), 0);
}

#[test]
fn token_drop_guard_cancels_unless_disarmed() {
    let token = CancellationToken::new();
    let child = token.child_token();
    let disarmed = child.clone().drop_guard().disarm();
    assert!(!disarmed.is_cancelled());
    drop(token.clone().drop_guard());
    assert!(token.is_cancelled() && child.is_cancelled());
}

#[test]
fn token_dropped_children_leave_the_parents_list() {
    let root = CancellationToken::new();
    for _ in 0..1000 {
        let child = root.child_token();
        let clone = child.clone();
        drop(child);
        assert_eq!(token_children(&root), 1, "a clone keeps it listed");
        drop(clone);
    }
    assert_eq!(
        token_children(&root),
        0,
        "dropped children are still listed"
    );
    // A child without handles stays listed while it has children (they
    // must hear of the root's cancel), and leaves with its last one.
    let middle = root.child_token();
    let leaf = middle.child_token();
    drop(middle);
    assert_eq!(token_children(&root), 1);
    let leaf2 = leaf.clone();
    drop(leaf);
    assert_eq!(token_children(&root), 1);
    drop(leaf2);
    assert_eq!(token_children(&root), 0, "the empty middle did not leave");
    // Through such a middle, a cancel still reaches the leaf.
    let leaf = root.child_token().child_token();
    root.cancel();
    assert!(leaf.is_cancelled());
    assert_eq!(token_children(&root), 0, "a cancelled token keeps children");
}

#[test]
fn token_deep_chain_cancels_and_frees_without_recursion() {
    const DEPTH: usize = 100_000;
    // Each middle token is dropped as soon as its child exists: the chain
    // is held by the leaf alone.
    fn chain(root: &CancellationToken) -> CancellationToken {
        let mut t = root.child_token();
        for _ in 0..DEPTH {
            t = t.child_token();
        }
        t
    }
    let root = CancellationToken::new();
    let leaf = chain(&root);
    assert_eq!(token_children(&root), 1);
    // Dropping the leaf frees the chain up to the root (a recursive drop
    // would overflow the test thread's stack).
    drop(leaf);
    assert_eq!(token_children(&root), 0);
    let leaf = chain(&root);
    let w = TestWaker::new();
    let mut wait = Box::pin(leaf.cancelled());
    assert!(w.poll(wait.as_mut()).is_pending());
    root.cancel();
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.poll(wait.as_mut()), Poll::Ready(()));
    drop(wait);
    drop(leaf);
}

#[test]
fn token_tree_cancels_tasks_on_two_workers() {
    rt(2).block_on(async {
        let root = CancellationToken::new();
        let branches: Vec<_> = (0..4).map(|_| root.child_token()).collect();
        let mut tasks = Vec::new();
        for branch in &branches {
            for _ in 0..8 {
                let leaf = branch.child_token();
                tasks.push(ferrio::spawn(async move {
                    leaf.cancelled().await;
                    assert!(leaf.is_cancelled());
                }));
            }
            let owned = branch.child_token().cancelled_owned();
            tasks.push(ferrio::spawn(owned));
        }
        // A sibling cancelled alone leaves the others waiting.
        let lone = root.child_token();
        let lone_task = ferrio::spawn(lone.clone().cancelled_owned());
        lone.cancel();
        lone_task.await.unwrap();
        assert!(
            tasks.iter().all(|t| !t.is_done()),
            "a sibling's cancel spread"
        );
        // Cancelled from another thread while the tasks wait.
        let r = root.clone();
        std::thread::spawn(move || r.cancel()).join().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(branches.iter().all(CancellationToken::is_cancelled));
        drop(branches);
        assert_eq!(token_children(&root), 0);
    });
}
