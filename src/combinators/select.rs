//! `select!`: wait on several futures in the caller's task, run the
//! handler of the first to finish, drop the rest (tokio's `select!`).
//!
//! A declarative macro in three parts:
//!
//! - `__select_munch!` normalises the branches, one recursion per branch
//!   for patterns of one or two token trees (`_`, `v`, `Some(v)`), one per
//!   token beyond: each branch gets a variant name and an index from a
//!   list of 64, its pattern (as raw tokens), future, precondition and
//!   handler. It then emits the select itself: preconditions evaluated in
//!   order, every future created and pinned on the stack (a disabled
//!   branch's future too, never polled), and a `poll_fn` that polls the
//!   enabled futures from a random start (`biased;`: from the first) and
//!   returns *which* branch won, with its output, in an enum. The handlers
//!   run after the `poll_fn`, once the futures are dropped, in a plain
//!   `match` in the caller's body: `break`, `continue`, `return` and `?`
//!   act on the caller's loop and function, and a handler may use what a
//!   losing future borrowed.
//! - Inside the `poll_fn`, an output that does not match its pattern
//!   disables the branch and polling goes on. The check matches a reference
//!   to the output (the output must survive it), against the pattern with
//!   `mut` and `ref` taken out by `__select_clean!` (`Some(mut v)` would
//!   try to move out of the reference).
//! - `__private::random_below`: a xorshift64* generator per thread, seeded
//!   from std's `RandomState` (no dependency), for the start branch.

/// Waits on several futures at once, in the current task, and runs the
/// handler of the first one to complete whose output matches its pattern;
/// the other futures are dropped (tokio's `select!`; asyncio's
/// `wait(..., return_when=FIRST_COMPLETED)` followed by cancelling the
/// rest).
///
/// ```text
/// select! {
///     biased;                                   // optional: poll in order
///     <pattern> = <future> (, if <precondition>)? => <handler>,
///     ...
///     else => <handler>                         // optional
/// }
/// ```
///
/// 1. Every `<precondition>` is evaluated, in order; a branch whose
///    precondition is false is **disabled**.
/// 2. Every `<future>` is evaluated (anything `IntoFuture`), the disabled
///    branches' too, and pinned on the stack. A disabled branch's future
///    is never polled.
/// 3. The enabled futures are polled, starting from a random branch at
///    each poll (fairness), or from the first with `biased;` (order).
/// 4. When one completes, its output is matched against `<pattern>`. If
///    it matches, every future is dropped and `<handler>` runs with the
///    pattern's bindings; its value is the value of `select!`. If it does
///    not, that branch is disabled and step 3 goes on with the others.
/// 5. When every branch is disabled, the `else` handler runs; without
///    one, `select!` panics.
///
/// Handlers run in the enclosing function, after the futures are gone:
/// `break` and `continue` act on the enclosing loop, `return` and `?` on
/// the enclosing function, and a handler may use what a losing future
/// borrowed. Up to 64 branches. Dropping a `select!` (its task is
/// cancelled) drops every future, as dropping any future does.
///
/// ```
/// use std::time::Duration;
///
/// ferrio::run(async {
///     let fast = async { "fast" };
///     let slow = ferrio::sleep(Duration::from_secs(60));
///     let winner = ferrio::select! {
///         v = fast => v,
///         _ = slow => "slow",
///     };
///     assert_eq!(winner, "fast");
/// });
/// ```
///
/// In a loop, with a pattern that can fail, a precondition and `else`:
///
/// ```
/// use ferrio::sync::Queue;
///
/// ferrio::run(async {
///     let numbers = Queue::new(0);
///     let words = Queue::new(0);
///     for i in 1..=3 {
///         numbers.put_nowait(i).unwrap();
///     }
///     words.put_nowait("done").unwrap();
///     numbers.shutdown(false); // `get` fails once the queue is drained
///     let (mut sum, mut words_open) = (0, true);
///     loop {
///         ferrio::select! {
///             Ok(n) = numbers.get() => sum += n,
///             Ok(w) = words.get(), if words_open => {
///                 assert_eq!(w, "done");
///                 words_open = false;
///             }
///             else => break, // every branch disabled: numbers shut, words closed
///         }
///     }
///     assert_eq!(sum, 6);
/// });
/// ```
///
/// With `biased;` the branches are polled in order, so the first ready
/// one wins:
///
/// ```
/// ferrio::run(async {
///     let first = ferrio::select! {
///         biased;
///         a = async { 1 } => a,
///         b = async { 2 } => b,
///     };
///     assert_eq!(first, 1);
/// });
/// ```
///
/// `?` in a handler returns from the enclosing function:
///
/// ```
/// async fn first_line(q: &ferrio::sync::Queue<String>) -> Result<usize, ferrio::sync::QueueError> {
///     let n = ferrio::select! {
///         line = q.get() => line?.len(),
///         _ = ferrio::sleep(std::time::Duration::from_secs(5)) => 0,
///     };
///     Ok(n)
/// }
///
/// ferrio::run(async {
///     let q = ferrio::sync::Queue::new(0);
///     q.shutdown(true);
///     assert!(first_line(&q).await.is_err());
/// });
/// ```
///
/// # Panics
/// When every branch is disabled and there is no `else`.
#[macro_export]
macro_rules! select {
    () => {
        ::core::compile_error!("ferrio::select! needs at least one branch")
    };
    (biased; $($input:tt)+) => {
        $crate::__select_munch!(@ [true] [(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] [] [] $($input)+)
    };
    ($($input:tt)+) => {
        $crate::__select_munch!(@ [false] [(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] [] [] $($input)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    // The start branch of a poll.
    (@start true $n:ident) => {
        0
    };
    (@start false $n:ident) => {
        $crate::combinators::__private::random_below($n)
    };
    // What runs when every branch is disabled.
    (@else) => {
        ::core::panic!("ferrio::select!: all branches are disabled and there is no else branch")
    };
    (@else $h:tt) => {
        $h
    };

    // A pattern of three or more token trees, collected up to its `=`.
    (@pat [$b:tt] [] $($rest:tt)*) => {
        ::core::compile_error!("ferrio::select! takes at most 64 branches")
    };
    (@pat [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*] ($($p:tt)*)
        = $f:expr $(, if $c:expr)? => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($($p)*) ($f) ($($c)?) ($h)]] [$($e)*] $($rest)*)
    };
    (@pat [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*] ($($p:tt)*)
        = $f:expr $(, if $c:expr)? => $h:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($($p)*) ($f) ($($c)?) ($h)]] [$($e)*] $($($rest)*)?)
    };
    (@pat [$b:tt] [$($names:tt)*] [$($br:tt)*] [$($e:tt)*] ($($p:tt)*) $t:tt $($rest:tt)*) => {
        $crate::__select_munch!(@pat [$b] [$($names)*] [$($br)*] [$($e)*] ($($p)* $t) $($rest)*)
    };
    (@pat $($rest:tt)*) => {
        ::core::compile_error!(
            "ferrio::select!: expected `<pattern> = <future> (, if <condition>)? => <handler>`"
        )
    };

    // All branches read: emit the select.
    (@ [$b:tt] [$($names:tt)*] [] [$($e:tt)*]) => {
        ::core::compile_error!("ferrio::select! needs at least one branch besides `else`")
    };
    (@ [$b:tt] [$($names:tt)*]
        [$([$n:ident $i:tt ($($p:tt)*) ($f:expr) ($($c:expr)?) ($($h:tt)*)])+]
        [$($e:tt)*]) => {{
        #[allow(non_camel_case_types)]
        enum __FerrioSelectOut<$($n,)+> {
            $($n($n),)+
            Disabled,
        }
        const __FERRIO_BRANCHES: u32 = [$($i),+].len() as u32;
        let mut __disabled: u64 = 0;
        $($(
            if !$c {
                __disabled |= 1u64 << $i;
            }
        )?)+
        let __out = {
            let mut __futures = ($(
                ::core::pin::pin!(::core::future::IntoFuture::into_future($f)),
            )+);
            ::core::future::poll_fn(|__cx| {
                let __start: u32 = $crate::__select_munch!(@start $b __FERRIO_BRANCHES);
                let mut __pending = false;
                for __k in 0..__FERRIO_BRANCHES {
                    let mut __branch = __start + __k;
                    if __branch >= __FERRIO_BRANCHES {
                        __branch -= __FERRIO_BRANCHES;
                    }
                    if __disabled & (1u64 << __branch) != 0 {
                        continue;
                    }
                    match __branch {
                        $(
                            $i => match ::core::future::Future::poll(__futures.$i.as_mut(), __cx) {
                                ::core::task::Poll::Ready(__output) => {
                                    #[allow(unused_variables, unreachable_patterns)]
                                    match &__output {
                                        $crate::__select_clean!([] [] $($p)*) => {}
                                        _ => {
                                            __disabled |= 1u64 << $i;
                                            continue;
                                        }
                                    }
                                    return ::core::task::Poll::Ready(__FerrioSelectOut::$n(__output));
                                }
                                ::core::task::Poll::Pending => __pending = true,
                            },
                        )+
                        _ => ::core::unreachable!("ferrio::select!: no such branch"),
                    }
                }
                if __pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__FerrioSelectOut::Disabled)
                }
            })
            .await
        };
        #[allow(unreachable_patterns)]
        match __out {
            $(__FerrioSelectOut::$n($($p)*) => $($h)*,)+
            __FerrioSelectOut::Disabled => $crate::__select_munch!(@else $($e)*),
            _ => ::core::unreachable!("ferrio::select!: a branch's output stopped matching its pattern"),
        }
    }};

    // Between branches, after a block handler.
    (@ [$b:tt] [$($names:tt)*] [$($br:tt)*] [$($e:tt)*] , $($rest:tt)*) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)*] [$($e)*] $($rest)*)
    };
    // `else`.
    (@ [$b:tt] [$($names:tt)*] [$($br:tt)*] [$($e:tt)+] else $($rest:tt)*) => {
        ::core::compile_error!("ferrio::select! takes one `else` branch at most")
    };
    (@ [$b:tt] [$($names:tt)*] [$($br:tt)*] [] else => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)*] [$h] $($rest)*)
    };
    (@ [$b:tt] [$($names:tt)*] [$($br:tt)*] [] else => $h:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)*] [$h] $($($rest)*)?)
    };
    (@ [$b:tt] [] [$($br:tt)*] [$($e:tt)*] $($rest:tt)+) => {
        ::core::compile_error!("ferrio::select! takes at most 64 branches")
    };
    // A branch whose pattern is one token tree (`_`, `v`)...
    (@ [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*]
        $p1:tt = $f:expr $(, if $c:expr)? => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($p1) ($f) ($($c)?) ($h)]] [$($e)*] $($rest)*)
    };
    (@ [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*]
        $p1:tt = $f:expr $(, if $c:expr)? => $h:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($p1) ($f) ($($c)?) ($h)]] [$($e)*] $($($rest)*)?)
    };
    // ... or two (`Some(v)`, `Ok(n)`)...
    (@ [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*]
        $p1:tt $p2:tt = $f:expr $(, if $c:expr)? => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($p1 $p2) ($f) ($($c)?) ($h)]] [$($e)*] $($rest)*)
    };
    (@ [$b:tt] [($n:ident $i:tt) $($names:tt)*] [$($br:tt)*] [$($e:tt)*]
        $p1:tt $p2:tt = $f:expr $(, if $c:expr)? => $h:expr $(, $($rest:tt)*)?) => {
        $crate::__select_munch!(@ [$b] [$($names)*] [$($br)* [$n $i ($p1 $p2) ($f) ($($c)?) ($h)]] [$($e)*] $($($rest)*)?)
    };
    // ... or more: collect it token by token.
    (@ [$b:tt] [$($names:tt)*] [$($br:tt)*] [$($e:tt)*] $p1:tt $p2:tt $p3:tt $($rest:tt)*) => {
        $crate::__select_munch!(@pat [$b] [$($names)*] [$($br)*] [$($e)*] ($p1 $p2 $p3) $($rest)*)
    };
    (@ $($rest:tt)*) => {
        ::core::compile_error!(
            "ferrio::select!: expected `<pattern> = <future> (, if <condition>)? => <handler>`"
        )
    };
}

/// A pattern with `mut` and `ref` taken out of its bindings, to test an
/// output through a reference without moving out of it (match ergonomics
/// bind by reference; a `mut` binding would bind by value).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean {
    // Done.
    ([$($a:tt)*] []) => {
        $($a)*
    };
    // The end of a group: close it and go on after it.
    ([$($a:tt)*] [(paren [$($o:tt)*] [$($r:tt)*]) $($s:tt)*]) => {
        $crate::__select_clean!([$($o)* ($($a)*)] [$($s)*] $($r)*)
    };
    ([$($a:tt)*] [(bracket [$($o:tt)*] [$($r:tt)*]) $($s:tt)*]) => {
        $crate::__select_clean!([$($o)* [$($a)*]] [$($s)*] $($r)*)
    };
    ([$($a:tt)*] [(brace [$($o:tt)*] [$($r:tt)*]) $($s:tt)*]) => {
        $crate::__select_clean!([$($o)* {$($a)*}] [$($s)*] $($r)*)
    };
    // `&mut` of a reference pattern stays.
    ([$($a:tt)*] [$($s:tt)*] & mut $($r:tt)*) => {
        $crate::__select_clean!([$($a)* &mut] [$($s)*] $($r)*)
    };
    ([$($a:tt)*] [$($s:tt)*] && mut $($r:tt)*) => {
        $crate::__select_clean!([$($a)* &&mut] [$($s)*] $($r)*)
    };
    // Binding modes go.
    ([$($a:tt)*] [$($s:tt)*] mut $($r:tt)*) => {
        $crate::__select_clean!([$($a)*] [$($s)*] $($r)*)
    };
    ([$($a:tt)*] [$($s:tt)*] ref $($r:tt)*) => {
        $crate::__select_clean!([$($a)*] [$($s)*] $($r)*)
    };
    // Into a group.
    ([$($a:tt)*] [$($s:tt)*] ($($g:tt)*) $($r:tt)*) => {
        $crate::__select_clean!([] [(paren [$($a)*] [$($r)*]) $($s)*] $($g)*)
    };
    ([$($a:tt)*] [$($s:tt)*] [$($g:tt)*] $($r:tt)*) => {
        $crate::__select_clean!([] [(bracket [$($a)*] [$($r)*]) $($s)*] $($g)*)
    };
    ([$($a:tt)*] [$($s:tt)*] {$($g:tt)*} $($r:tt)*) => {
        $crate::__select_clean!([] [(brace [$($a)*] [$($r)*]) $($s)*] $($g)*)
    };
    // Any other token stays.
    ([$($a:tt)*] [$($s:tt)*] $t:tt $($r:tt)*) => {
        $crate::__select_clean!([$($a)* $t] [$($s)*] $($r)*)
    };
}

/// Run-time helpers of [`select!`](crate::select).
#[doc(hidden)]
pub mod __private {
    use std::cell::Cell;

    crate::loom::thread_local! {
        /// This thread's xorshift64* state; 0 until seeded.
        static RNG: Cell<u64> = Cell::new(0);
    }

    /// A uniform-enough number in `0..n` (0 when `n` is 0 or 1): the
    /// start branch of a `select!` poll.
    pub fn random_below(n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        let r = RNG
            .try_with(|state| {
                let mut x = state.get();
                if x == 0 {
                    x = seed();
                }
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                state.set(x);
                x.wrapping_mul(0x2545_F491_4F6C_DD1D)
            })
            .unwrap_or(0);
        // The high 32 bits, scaled to 0..n (Lemire's multiply-shift).
        (((r >> 32) * u64::from(n)) >> 32) as u32
    }

    /// A per-thread seed from std's randomly keyed hasher; never 0.
    fn seed() -> u64 {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0x5e1ec7u64) | 1
    }
}
