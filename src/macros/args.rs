//! The attribute's arguments: `key = value` pairs separated by commas,
//! parsed from a plain token model ([`Tok`]) so that the parser and its
//! messages are unit-tested without a compiler (`proc_macro`'s types only
//! work inside a macro expansion).
//!
//! Adding an argument takes four lines: a field of [`Args`], its name in
//! [`KNOWN`], an arm in [`Args::set`] (with a value helper:
//! [`Value::int`], [`Value::string`], or a new one beside them), and its use
//! in `expand.rs`, where the runtime builder is written.

use std::fmt;

/// One token of the attribute's arguments, as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier or keyword (`workers`, `crate`, `true`).
    Ident(String),
    /// One punctuation character (`=`, `,`, `-`).
    Punct(char),
    /// A literal as written (`4`, `"multi_thread"`).
    Literal(String),
    /// A delimited group, as written (`(1, 2)`).
    Group(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Literal(s) | Tok::Group(s) => f.write_str(s),
            Tok::Punct(c) => write!(f, "{c}"),
        }
    }
}

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[ferrio::main]`
    Main,
    /// `#[ferrio::test]`
    Test,
}

impl Kind {
    /// The attribute's name, as error messages spell it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Main => "ferrio::main",
            Kind::Test => "ferrio::test",
        }
    }
}

/// tokio's two runtime flavors, as ferrio maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// One worker thread (ferrio has no runtime without workers: the
    /// function's body runs on the calling thread inside `block_on`, the
    /// tasks it spawns on the one worker).
    CurrentThread,
    /// `workers` worker threads (default: one per CPU).
    MultiThread,
}

/// A parse error: the message, and the index of the token it is about
/// (`None`: the whole attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError {
    pub(crate) message: String,
    pub(crate) at: Option<usize>,
}

/// The arguments given, before defaults are applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Args {
    /// `flavor = "current_thread" | "multi_thread"`.
    pub(crate) flavor: Option<Flavor>,
    /// `workers = N`, or tokio's spelling `worker_threads = N`.
    pub(crate) workers: Option<usize>,
    /// The index of `workers`' value token (for an error about it).
    workers_at: Option<usize>,
    /// `crate = "path"`: where ferrio is, for a crate that re-exports it.
    pub(crate) krate: Option<String>,
    /// `start_paused = true`: the clock starts paused (ferrio's feature
    /// `test-util`, as tokio's).
    pub(crate) start_paused: Option<bool>,
}

/// The argument names, for the "unknown argument" message.
pub(crate) const KNOWN: &[&str] = &[
    "flavor",
    "workers",
    "worker_threads",
    "crate",
    "start_paused",
];

/// What the expansion needs: the arguments with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// Worker threads to ask the builder for; `None`: its default (one per
    /// CPU).
    pub(crate) workers: Option<usize>,
    /// The path to ferrio (`::ferrio` unless `crate = ".."` was given).
    pub(crate) krate: String,
    /// Whether the runtime's clock starts paused.
    pub(crate) start_paused: bool,
}

/// A value after `=`: the token and its index.
#[derive(Debug)]
pub(crate) struct Value<'a> {
    key: &'a str,
    tok: &'a Tok,
    at: usize,
    kind: Kind,
}

impl Value<'_> {
    fn error(&self, what: &str) -> ArgError {
        ArgError {
            message: format!(
                "{}: `{}` takes {what}, not `{}`",
                self.kind.name(),
                self.key,
                self.tok
            ),
            at: Some(self.at),
        }
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&self) -> Result<bool, ArgError> {
        match self.tok {
            Tok::Ident(b) if b == "true" => Ok(true),
            Tok::Ident(b) if b == "false" => Ok(false),
            _ => Err(self.error("`true` or `false`")),
        }
    }

    /// An unsigned integer literal (`4`, `4usize`, `1_000`).
    pub(crate) fn int(&self) -> Result<usize, ArgError> {
        let Tok::Literal(text) = self.tok else {
            return Err(self.error("a number"));
        };
        let digits = text
            .strip_suffix("usize")
            .or_else(|| text.strip_suffix("u32"))
            .or_else(|| text.strip_suffix("u64"))
            .unwrap_or(text)
            .replace('_', "");
        digits.parse().map_err(|_| self.error("a number"))
    }

    /// A string literal's contents (`"multi_thread"`, `r"a::b"`).
    pub(crate) fn string(&self) -> Result<String, ArgError> {
        let Tok::Literal(text) = self.tok else {
            return Err(self.error("a string"));
        };
        let raw = text.strip_prefix('r').map(|t| t.trim_matches('#'));
        let quoted = raw.unwrap_or(text);
        match quoted.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) if raw.is_some() || !inner.contains('\\') => Ok(inner.to_string()),
            _ => Err(self.error("a plain string")),
        }
    }
}

impl Args {
    /// Parses `key = value, ...` (a trailing comma is fine).
    pub(crate) fn parse(toks: &[Tok], kind: Kind) -> Result<Args, ArgError> {
        let mut args = Args::default();
        let mut seen: Vec<String> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let key = match &toks[i] {
                Tok::Ident(key) => key.clone(),
                other => {
                    return Err(ArgError {
                        message: format!(
                            "{}: expected an argument name (one of {}), found `{other}`",
                            kind.name(),
                            known_list()
                        ),
                        at: Some(i),
                    })
                }
            };
            if toks.get(i + 1) != Some(&Tok::Punct('=')) {
                return Err(ArgError {
                    message: format!("{}: expected `{key} = <value>`", kind.name()),
                    at: Some(i),
                });
            }
            let Some(tok) = toks.get(i + 2) else {
                return Err(ArgError {
                    message: format!("{}: `{key} =` needs a value", kind.name()),
                    at: Some(i + 1),
                });
            };
            let canonical = if key == "worker_threads" {
                "workers"
            } else {
                key.as_str()
            };
            if seen.iter().any(|k| k == canonical) {
                return Err(ArgError {
                    message: format!("{}: `{key}` is given twice", kind.name()),
                    at: Some(i),
                });
            }
            seen.push(canonical.to_string());
            let value = Value {
                key: &key,
                tok,
                at: i + 2,
                kind,
            };
            args.set(&key, &value, i, kind)?;
            i += 3;
            match toks.get(i) {
                None => {}
                Some(Tok::Punct(',')) => i += 1,
                Some(other) => {
                    return Err(ArgError {
                        message: format!(
                            "{}: expected `,` between arguments, found `{other}`",
                            kind.name()
                        ),
                        at: Some(i),
                    })
                }
            }
        }
        Ok(args)
    }

    /// Stores one argument.
    fn set(&mut self, key: &str, value: &Value<'_>, at: usize, kind: Kind) -> Result<(), ArgError> {
        match key {
            "flavor" => {
                self.flavor = Some(match value.string()?.as_str() {
                    "current_thread" => Flavor::CurrentThread,
                    "multi_thread" => Flavor::MultiThread,
                    other => {
                        return Err(ArgError {
                            message: format!(
                                "{}: unknown flavor \"{other}\"; expected \"current_thread\" \
                                 or \"multi_thread\"",
                                kind.name()
                            ),
                            at: Some(value.at),
                        })
                    }
                })
            }
            "workers" | "worker_threads" => {
                let n = value.int()?;
                if n == 0 {
                    return Err(ArgError {
                        message: format!("{}: `{key}` must be at least 1", kind.name()),
                        at: Some(value.at),
                    });
                }
                self.workers = Some(n);
                self.workers_at = Some(value.at);
            }
            "crate" => self.krate = Some(value.string()?),
            "start_paused" => self.start_paused = Some(value.boolean()?),
            _ => {
                return Err(ArgError {
                    message: format!(
                        "{}: unknown argument `{key}`; expected one of {}",
                        kind.name(),
                        known_list()
                    ),
                    at: Some(at),
                })
            }
        }
        Ok(())
    }

    /// Applies the defaults: `main` is multi-threaded (one worker per CPU),
    /// `test` is `current_thread` (one worker), as in tokio; `workers`
    /// alone implies `multi_thread`.
    pub(crate) fn resolve(self, kind: Kind) -> Result<Config, ArgError> {
        let flavor = self.flavor.unwrap_or(match (kind, self.workers) {
            (_, Some(_)) | (Kind::Main, None) => Flavor::MultiThread,
            (Kind::Test, None) => Flavor::CurrentThread,
        });
        let workers = match (flavor, self.workers) {
            (Flavor::CurrentThread, Some(_)) => {
                return Err(ArgError {
                    message: format!(
                        "{}: `workers` needs `flavor = \"multi_thread\"`; \
                         `current_thread` runs one worker",
                        kind.name()
                    ),
                    at: self.workers_at,
                })
            }
            (Flavor::CurrentThread, None) => Some(1),
            (Flavor::MultiThread, n) => n,
        };
        let krate = self.krate.unwrap_or_else(|| "::ferrio".to_string());
        Ok(Config {
            workers,
            krate,
            start_paused: self.start_paused.unwrap_or(false),
        })
    }
}

fn known_list() -> String {
    KNOWN
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crude lexer for the tests: splits on spaces, commas and `=`.
    fn toks(src: &str) -> Vec<Tok> {
        let spaced = src.replace(',', " , ").replace('=', " = ");
        spaced
            .split_whitespace()
            .map(|t| match t {
                "," => Tok::Punct(','),
                "=" => Tok::Punct('='),
                "-" => Tok::Punct('-'),
                t if t.starts_with('"') || t.starts_with(|c: char| c.is_ascii_digit()) => {
                    Tok::Literal(t.to_string())
                }
                t if t.starts_with('(') => Tok::Group(t.to_string()),
                t => Tok::Ident(t.to_string()),
            })
            .collect()
    }

    fn config(src: &str, kind: Kind) -> Result<Config, ArgError> {
        Args::parse(&toks(src), kind)?.resolve(kind)
    }

    fn message(src: &str, kind: Kind) -> String {
        config(src, kind).unwrap_err().message
    }

    #[test]
    fn defaults_main_is_multi_thread_test_is_one_worker() {
        let main = config("", Kind::Main).unwrap();
        assert_eq!(main.workers, None);
        assert_eq!(main.krate, "::ferrio");
        assert_eq!(config("", Kind::Test).unwrap().workers, Some(1));
    }

    #[test]
    fn start_paused_is_a_boolean_off_by_default() {
        assert!(!config("", Kind::Test).unwrap().start_paused);
        assert!(
            config("start_paused = true", Kind::Test)
                .unwrap()
                .start_paused
        );
        assert!(
            !config("start_paused = false", Kind::Main)
                .unwrap()
                .start_paused
        );
    }

    #[test]
    fn workers_and_flavors() {
        assert_eq!(config("workers = 4", Kind::Main).unwrap().workers, Some(4));
        assert_eq!(
            config("worker_threads = 3,", Kind::Test).unwrap().workers,
            Some(3)
        );
        assert_eq!(
            config("workers = 2_usize", Kind::Test).unwrap().workers,
            Some(2)
        );
        let multi = config("flavor = \"multi_thread\", workers = 2", Kind::Test).unwrap();
        assert_eq!(multi.workers, Some(2));
        assert_eq!(
            config("flavor = \"multi_thread\"", Kind::Test)
                .unwrap()
                .workers,
            None
        );
        assert_eq!(
            config("flavor = \"current_thread\"", Kind::Main)
                .unwrap()
                .workers,
            Some(1)
        );
        assert_eq!(
            config("crate = \"my::ferrio\"", Kind::Main).unwrap().krate,
            "my::ferrio"
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        assert_eq!(
            message("threads = 4", Kind::Main),
            "ferrio::main: unknown argument `threads`; expected one of `flavor`, `workers`, \
             `worker_threads`, `crate`, `start_paused`"
        );
        assert_eq!(
            message("start_paused = 1", Kind::Test),
            "ferrio::test: `start_paused` takes `true` or `false`, not `1`"
        );
        assert_eq!(
            message("workers = 0", Kind::Main),
            "ferrio::main: `workers` must be at least 1"
        );
        assert_eq!(
            message("workers = \"4\"", Kind::Test),
            "ferrio::test: `workers` takes a number, not `\"4\"`"
        );
        assert_eq!(
            message("workers = - 1", Kind::Test),
            "ferrio::test: `workers` takes a number, not `-`"
        );
        assert_eq!(
            message("flavor = \"single\"", Kind::Main),
            "ferrio::main: unknown flavor \"single\"; expected \"current_thread\" or \"multi_thread\""
        );
        assert_eq!(
            message("flavor = multi_thread", Kind::Main),
            "ferrio::main: `flavor` takes a string, not `multi_thread`"
        );
        assert_eq!(
            message("flavor = \"current_thread\", workers = 2", Kind::Test),
            "ferrio::test: `workers` needs `flavor = \"multi_thread\"`; `current_thread` runs one \
             worker"
        );
        assert_eq!(
            message("workers = 2, worker_threads = 3", Kind::Main),
            "ferrio::main: `worker_threads` is given twice"
        );
        assert_eq!(
            message("workers", Kind::Main),
            "ferrio::main: expected `workers = <value>`"
        );
        assert_eq!(
            message("workers =", Kind::Main),
            "ferrio::main: `workers =` needs a value"
        );
        assert_eq!(
            message("workers = 2 flavor = \"multi_thread\"", Kind::Main),
            "ferrio::main: expected `,` between arguments, found `flavor`"
        );
        assert_eq!(
            message("4", Kind::Main),
            "ferrio::main: expected an argument name (one of `flavor`, `workers`, \
             `worker_threads`, `crate`, `start_paused`), found `4`"
        );
    }

    #[test]
    fn errors_point_at_their_token() {
        let err = Args::parse(&toks("workers = 2, flavor = \"x\""), Kind::Main).unwrap_err();
        assert_eq!(err.at, Some(6));
        let err = Args::parse(&toks("bogus = 1"), Kind::Main).unwrap_err();
        assert_eq!(err.at, Some(0));
        let err = config("flavor = \"current_thread\", workers = 2", Kind::Main).unwrap_err();
        assert_eq!(err.at, Some(6));
    }
}
