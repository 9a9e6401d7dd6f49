//! `#[ferrio::main]` and `#[ferrio::test]`: use them through `ferrio`
//! (its default feature `macros` re-exports them), where they are
//! documented with examples.
//!
//! No dependencies: the arguments are a few `key = literal` pairs
//! (`args.rs`, unit-tested on a plain token model) and the function is only
//! taken apart around its `async` keyword, return type and body
//! (`expand.rs`), which needs no Rust parser.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use proc_macro::TokenStream;

mod args;
mod expand;

use args::Kind;

/// Runs an `async fn main` on a ferrio runtime (tokio's `#[tokio::main]`);
/// see `ferrio::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Main, args, item)
}

/// Runs an `async fn` test on a fresh ferrio runtime (tokio's
/// `#[tokio::test]`); see `ferrio::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Test, args, item)
}
