//! Loom models of `CancellationToken`'s tree protocol (the shipped
//! `ferrio::sync::CancellationToken`): a cancel racing a waiter's
//! registration, a child's creation, a concurrent cancel of part of the
//! tree, and a child's drop. A lost wake-up is a loom deadlock.
#![cfg(ferrio_loom)]

use ferrio::loom_models::token_children;
use ferrio::sync::CancellationToken;
use loom::future::block_on;
use loom::thread;

#[test]
fn cancel_racing_a_waiters_registration_wakes_it() {
    loom::model(|| {
        let token = CancellationToken::new();
        let canceller = {
            let token = token.clone();
            thread::spawn(move || token.cancel())
        };
        // Registers on its first poll (before or after the cancel): it
        // must return either way.
        block_on(token.cancelled());
        canceller.join().unwrap();
        assert!(token.is_cancelled());
    });
}

#[test]
fn cancel_of_an_ancestor_racing_a_waiter_on_a_child_wakes_it() {
    loom::model(|| {
        let root = CancellationToken::new();
        let child = root.child_token();
        let waiter = thread::spawn(move || {
            block_on(child.cancelled_owned());
        });
        root.cancel();
        waiter.join().unwrap();
    });
}

#[test]
fn cancel_of_the_parent_racing_child_creation_cancels_the_child() {
    loom::model(|| {
        let parent = CancellationToken::new();
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel())
        };
        let child = parent.child_token();
        canceller.join().unwrap();
        assert!(child.is_cancelled(), "a child escaped its parent's cancel");
        block_on(child.cancelled());
    });
}

#[test]
fn cancel_of_the_grandparent_racing_child_creation_cancels_the_child() {
    loom::model(|| {
        let root = CancellationToken::new();
        let parent = root.child_token();
        let canceller = {
            let root = root.clone();
            thread::spawn(move || root.cancel())
        };
        // Created while the cancel may be walking the tree.
        let child = parent.child_token();
        canceller.join().unwrap();
        assert!(
            child.is_cancelled(),
            "a child escaped its grandparent's cancel"
        );
    });
}

#[test]
fn cancel_returns_only_once_the_subtree_is_cancelled_despite_a_concurrent_cancel() {
    loom::model(|| {
        let root = CancellationToken::new();
        let parent = root.child_token();
        let leaf = parent.child_token();
        let other = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel())
        };
        root.cancel();
        // Whoever cancels the parent, the leaf is cancelled when ours
        // returns.
        assert!(leaf.is_cancelled());
        other.join().unwrap();
    });
}

#[test]
fn child_dropped_racing_the_parents_cancel_leaves_nothing_listed() {
    loom::model(|| {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let grandchild = child.child_token();
        let dropper = thread::spawn(move || {
            drop(child);
            drop(grandchild);
        });
        parent.cancel();
        dropper.join().unwrap();
        assert_eq!(token_children(&parent), 0);
    });
}

#[test]
fn child_dropped_racing_a_sibling_creation_leaves_only_the_sibling() {
    loom::model(|| {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let dropper = thread::spawn(move || drop(child));
        let sibling = parent.child_token();
        dropper.join().unwrap();
        assert_eq!(token_children(&parent), 1);
        drop(sibling);
        assert_eq!(token_children(&parent), 0);
    });
}
