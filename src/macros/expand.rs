//! The expansion: split the `async fn` around its `async` keyword, return
//! type and body, and write it back as a plain `fn` that builds a runtime
//! and blocks on the body.
//!
//! ```text
//! #[attrs] [#[::core::prelude::v1::test]] vis fn name() -> R {
//!     let body = async { <body> };
//!     let body: Pin<&mut dyn Future<Output = R>> = pin!(body);   // when `-> R` is written
//!     match <ferrio>::runtime::Builder::new()[.worker_threads(n)].build() {
//!         Ok(rt) => rt.block_on(body),
//!         Err(e) => panic!("ferrio::main: cannot start the runtime: {}", e),
//!     }
//! }
//! ```
//!
//! The `Pin<&mut dyn Future<Output = R>>` line gives the body's type to
//! the compiler up front, so `?` inside it converts errors to `R`'s (as
//! tokio's macro does); it is left out when `R` names an `impl` type,
//! which `dyn` cannot carry. The macro's own names (`body`, `rt`, `e`)
//! have mixed-site hygiene: the user's code cannot see them.

use proc_macro::{Delimiter, Group, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::args::{ArgError, Args, Config, Kind, Tok};

/// Expands `#[ferrio::main(args)]` or `#[ferrio::test(args)]` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let arg_trees: Vec<TokenTree> = args.into_iter().collect();
    let toks: Vec<Tok> = arg_trees.iter().map(to_tok).collect();
    let config = Args::parse(&toks, kind).and_then(|a| a.resolve(kind));
    let item_trees: Vec<TokenTree> = item.into_iter().collect();
    let func = match split(kind, &item_trees) {
        Ok(func) => func,
        Err((message, span)) => return error(&message, span, item_trees),
    };
    match config {
        Ok(config) => func.expand(kind, &config),
        Err(ArgError { message, at }) => {
            let span = at
                .and_then(|i| arg_trees.get(i))
                .map_or_else(Span::call_site, TokenTree::span);
            // The function without `async`, and a body that type-checks
            // whatever it returns: the error is the only one reported.
            let mut out = compile_error(&message, span);
            out.extend(func.stub());
            out
        }
    }
}

fn to_tok(tree: &TokenTree) -> Tok {
    match tree {
        TokenTree::Ident(i) => Tok::Ident(i.to_string()),
        TokenTree::Punct(p) => Tok::Punct(p.as_char()),
        TokenTree::Literal(l) => Tok::Literal(l.to_string()),
        TokenTree::Group(g) => Tok::Group(g.to_string()),
    }
}

/// The function, in pieces.
struct Func {
    /// `#[...]` attributes, each as its `#` and bracket group.
    attrs: Vec<TokenTree>,
    /// From after the attributes to the name's parameters, without `async`:
    /// `pub fn name ()`.
    head: Vec<TokenTree>,
    /// `-> R` and a `where` clause, as written (may be empty).
    ret: Vec<TokenTree>,
    /// `R` alone, when written and free of `impl`.
    output: Option<Vec<TokenTree>>,
    /// The body's brace group.
    body: TokenTree,
}

type SplitError = (String, Span);

fn split(kind: Kind, trees: &[TokenTree]) -> Result<Func, SplitError> {
    let name = kind.name();
    let mut i = 0;
    let mut attrs = Vec::new();
    while let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) =
        (trees.get(i), trees.get(i + 1))
    {
        if p.as_char() != '#' || g.delimiter() != Delimiter::Bracket {
            break;
        }
        if kind == Kind::Test && is_test_attr(g) {
            return Err((
                format!("{name}: remove this `#[test]`: `#[{name}]` adds it"),
                g.span(),
            ));
        }
        attrs.extend([trees[i].clone(), trees[i + 1].clone()]);
        i += 2;
    }
    let mut head = Vec::new();
    let mut saw_async = false;
    loop {
        match trees.get(i) {
            None => return Err((format!("{name}: expected an `async fn`"), Span::call_site())),
            Some(TokenTree::Ident(id)) if id.to_string() == "async" => saw_async = true,
            Some(TokenTree::Ident(id)) if id.to_string() == "fn" => break,
            Some(tree) => head.push(tree.clone()),
        }
        i += 1;
    }
    let fn_span = trees[i].span();
    if !saw_async {
        return Err((
            format!("{name}: the function must be `async` (write `async fn`)"),
            fn_span,
        ));
    }
    head.push(trees[i].clone());
    let fn_name = match trees.get(i + 1) {
        Some(TokenTree::Ident(id)) => id.clone(),
        _ => return Err((format!("{name}: expected the function's name"), fn_span)),
    };
    head.push(TokenTree::Ident(fn_name.clone()));
    match trees.get(i + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                let what = match kind {
                    Kind::Main => format!("`{fn_name}` (the program's entry point)"),
                    Kind::Test => "a test".to_string(),
                };
                return Err((format!("{name}: {what} takes no arguments"), g.span()));
            }
            head.push(TokenTree::Group(g.clone()));
        }
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err((format!("{name}: the function cannot be generic"), p.span()))
        }
        _ => {
            return Err((
                format!("{name}: expected `()` after the name"),
                fn_name.span(),
            ))
        }
    }
    let rest = &trees[i + 3..];
    let Some((TokenTree::Group(body), ret)) = rest.split_last().map(|(b, r)| (b.clone(), r)) else {
        return Err((format!("{name}: expected the function's body"), fn_span));
    };
    if body.delimiter() != Delimiter::Brace {
        return Err((format!("{name}: expected the function's body"), body.span()));
    }
    let output = output_type(ret);
    Ok(Func {
        attrs,
        head,
        ret: ret.to_vec(),
        output,
        body: TokenTree::Group(body),
    })
}

/// `#[test]` (not `#[test_case]`, not `#[ignore]`).
fn is_test_attr(g: &Group) -> bool {
    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
    matches!(inner.as_slice(), [TokenTree::Ident(id)] if id.to_string() == "test")
}

/// `R` out of `-> R [where ...]`, unless it mentions `impl`.
fn output_type(ret: &[TokenTree]) -> Option<Vec<TokenTree>> {
    let [TokenTree::Punct(dash), TokenTree::Punct(gt), rest @ ..] = ret else {
        return None;
    };
    if dash.as_char() != '-' || gt.as_char() != '>' {
        return None;
    }
    let ty: Vec<TokenTree> = rest
        .iter()
        .take_while(|t| !matches!(t, TokenTree::Ident(id) if id.to_string() == "where"))
        .cloned()
        .collect();
    (!ty.is_empty() && !mentions_impl(&ty)).then_some(ty)
}

fn mentions_impl(trees: &[TokenTree]) -> bool {
    trees.iter().any(|t| match t {
        TokenTree::Ident(id) => id.to_string() == "impl",
        TokenTree::Group(g) => mentions_impl(&g.stream().into_iter().collect::<Vec<_>>()),
        _ => false,
    })
}

impl Func {
    fn signature(&self, kind: Kind) -> TokenStream {
        let mut out = TokenStream::new();
        if kind == Kind::Test {
            out.extend(code("#[::core::prelude::v1::test]"));
        }
        out.extend(self.attrs.iter().cloned());
        out.extend(self.head.iter().cloned());
        out.extend(self.ret.iter().cloned());
        out
    }

    fn expand(&self, kind: Kind, config: &Config) -> TokenStream {
        let mut body = TokenStream::new();
        body.extend(code("let body = async"));
        body.extend([self.body.clone()]);
        body.extend(code(";"));
        if let Some(output) = &self.output {
            body.extend(code(
                "let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output =",
            ));
            body.extend(output.iter().cloned());
            body.extend(code(">> = ::core::pin::pin!(body);"));
        }
        let mut workers = config
            .workers
            .map_or_else(String::new, |n| format!(".worker_threads({n})"));
        if config.start_paused {
            workers.push_str(".start_paused(true)");
        }
        body.extend(code(&format!(
            "match {}::runtime::Builder::new(){workers}.build() {{
                ::core::result::Result::Ok(rt) => rt.block_on(body),
                ::core::result::Result::Err(e) => ::core::panic!(
                    \"{}: cannot start the runtime: {{}}\", e
                ),
            }}",
            config.krate,
            kind.name()
        )));
        let mut out = self.signature(kind);
        out.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
        out
    }

    /// The function with its body replaced by one that type-checks as any
    /// return type, so that a bad argument is the only error reported.
    fn stub(&self) -> TokenStream {
        let mut out = TokenStream::new();
        out.extend(self.attrs.iter().cloned());
        out.extend(self.head.iter().cloned());
        out.extend(self.ret.iter().cloned());
        out.extend(code("{ ::core::unimplemented!() }"));
        out
    }
}

/// Parses the macro's own code, with mixed-site spans (its local names are
/// invisible to the user's code; paths resolve at the call site).
fn code(src: &str) -> TokenStream {
    let parsed: TokenStream = src.parse().expect("the macro's own code parses");
    respan(parsed, Span::mixed_site())
}

fn respan(stream: TokenStream, span: Span) -> TokenStream {
    stream
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(g) = &tree {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tree = TokenTree::Group(group);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// `::core::compile_error!("message")`, reported at `span`.
fn compile_error(message: &str, span: Span) -> TokenStream {
    let mut out: TokenStream = respan(code("::core::compile_error!"), span);
    let mut lit = Literal::string(message);
    lit.set_span(span);
    let mut args = Group::new(Delimiter::Parenthesis, TokenTree::Literal(lit).into());
    args.set_span(span);
    let mut semi = Punct::new(';', Spacing::Alone);
    semi.set_span(span);
    out.extend([TokenTree::Group(args), TokenTree::Punct(semi)]);
    out
}

/// The error, and the item as given when it is not an `async fn` we can
/// take apart (the compiler may add its own errors about it).
fn error(message: &str, span: Span, item: Vec<TokenTree>) -> TokenStream {
    let mut out = compile_error(message, span);
    out.extend(item);
    out
}
