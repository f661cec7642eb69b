//! Variable expansion for `envault run`, following dotenvy 0.15.7: `$NAME` and `${NAME}` in
//! unquoted and double-quoted values, never in single-quoted ones; `\$` is a literal dollar.
//!
//! Parsing never expands (a diff shows what the file says); expansion happens only when a
//! program is given the environment. Names are looked up with `lookup` first (the process
//! environment, which wins as in dotenvy) and then among the values expanded so far.

use super::Document;

/// The longest value expansion may produce (Linux's `MAX_ARG_STRLEN`, the most one variable
/// can hold when a program is started). Nested references double at each level, so without
/// a cap 26 levels reach half a gigabyte.
pub const MAX_VALUE_LEN: usize = 128 * 1024;

/// A value whose expansion would exceed [`MAX_VALUE_LEN`].
#[derive(Debug, thiserror::Error)]
#[error("{key} (line {line}) expands to more than {MAX_VALUE_LEN} bytes, more than a program can be given")]
pub struct TooLong {
    pub key: String,
    pub line: usize,
}

impl crate::error::Hint for TooLong {
    fn hint(&self) -> Option<String> {
        Some(
            "check the value's `${…}` references: one of them expands into itself many times"
                .to_owned(),
        )
    }
}

/// Expands one raw value text (as written in the file, quotes included).
///
/// Where dotenvy 0.15.7 accepts the value, the result is dotenvy's. Where dotenvy would fail,
/// the result is the sensible reading: a closing quote right after a variable name closes the
/// quote (dotenvy keeps it as a character), and an unterminated `${…` stays literal.
pub fn expand_raw(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    expand_capped(raw, lookup, usize::MAX).unwrap_or_default()
}

/// [`expand_raw`], or `None` as soon as the result would exceed `cap` bytes.
fn expand_capped(raw: &str, lookup: &dyn Fn(&str) -> Option<String>, cap: usize) -> Option<String> {
    #[derive(PartialEq)]
    enum Mode {
        None,
        Block,
        Braced,
    }
    let mut out = String::with_capacity(raw.len());
    let (mut strong, mut weak, mut escaped, mut ended) = (false, false, false, false);
    let mut mode = Mode::None;
    let mut name = String::new();
    let mut braced_start = 0;
    let over = std::cell::Cell::new(false);
    let substitute = |name: &str, out: &mut String| {
        if let Some(v) = lookup(name) {
            if out.len() + v.len() > cap {
                over.set(true);
            } else {
                out.push_str(&v);
            }
        }
    };
    for c in raw.chars() {
        if ended || over.get() {
            break;
        } else if escaped {
            match c {
                'n' => out.push('\n'),
                c => out.push(c),
            }
            escaped = false;
        } else if strong {
            if c == '\'' {
                strong = false;
            } else {
                out.push(c);
            }
        } else if mode != Mode::None {
            if c.is_alphanumeric() {
                name.push(c);
                continue;
            }
            if mode == Mode::Braced {
                if c == '}' {
                    substitute(&name, &mut out);
                    name.clear();
                    mode = Mode::None;
                } else {
                    name.push(c);
                }
                continue;
            }
            if c == '{' && name.is_empty() {
                mode = Mode::Braced;
                braced_start = out.len();
                continue;
            }
            substitute(&name, &mut out);
            name.clear();
            if c == '$' {
                continue; // a new name starts
            }
            mode = Mode::None;
            if weak && c == '"' {
                weak = false;
            } else {
                out.push(c);
            }
        } else if c == '$' {
            mode = Mode::Block;
        } else if weak {
            match c {
                '"' => weak = false,
                '\\' => escaped = true,
                c => out.push(c),
            }
        } else {
            match c {
                '\'' => strong = true,
                '"' => weak = true,
                '\\' => escaped = true,
                ' ' | '\t' => ended = true,
                c => out.push(c),
            }
        }
    }
    match mode {
        Mode::Block => substitute(&name, &mut out),
        Mode::Braced => {
            out.truncate(braced_start);
            out.push_str("${");
            out.push_str(&name);
        }
        Mode::None => {}
    }
    (!over.get() && out.len() <= cap).then_some(out)
}

/// The document's values, expanded in file order: each value sees `lookup` first, then the
/// values expanded before it (the file's earlier keys, and whatever `known` already holds).
pub fn expand_document(
    doc: &Document,
    lookup: &dyn Fn(&str) -> Option<String>,
    known: &mut Vec<(String, String)>,
) -> Result<(), TooLong> {
    for e in doc.entries() {
        let value = {
            let find = |name: &str| {
                lookup(name).or_else(|| {
                    known
                        .iter()
                        .rev()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                })
            };
            expand_capped(e.raw_value(), &find, MAX_VALUE_LEN).ok_or_else(|| TooLong {
                key: e.key().to_owned(),
                line: e.line(),
            })?
        };
        known.push((e.key().to_owned(), value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> Vec<(String, String)> {
        let doc = Document::parse(text).unwrap();
        let env = |n: &str| (n == "FROMENV").then(|| "env".to_owned());
        let mut known = Vec::new();
        expand_document(&doc, &env, &mut known).unwrap();
        known
    }

    /// Each level doubles the last: 26 levels would be 2^26 copies of `xxxxxxxxxx`.
    #[test]
    fn doubling_references_stop_at_the_cap() {
        let mut text = String::from("A0=xxxxxxxxxx\n");
        for i in 1..=26 {
            text.push_str(&format!("A{i}=${{A{p}}}${{A{p}}}\n", p = i - 1));
        }
        let doc = Document::parse(&text).unwrap();
        let mut known = Vec::new();
        let e = expand_document(&doc, &|_| None, &mut known).unwrap_err();
        assert_eq!(e.key, "A14", "10 * 2^14 > 128 KiB");
        assert!(known.iter().all(|(_, v)| v.len() <= MAX_VALUE_LEN));
    }

    #[test]
    fn expansion_rules() {
        let v = expand(
            "A=1\nB=$A\nC=\"${A}x\"\nD='$A'\nE=\\$A\nF=$A_SUFFIX\nG=$FROMENV\nH=$MISSING\nI=\"$A\"\nJ=${A\nK=a$\nL=\"x $A y\"\n",
        );
        let get = |k: &str| v.iter().rev().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("B"), "1");
        assert_eq!(get("C"), "1x");
        assert_eq!(get("D"), "$A", "never inside single quotes");
        assert_eq!(get("E"), "$A", "escaped dollar");
        assert_eq!(get("F"), "1_SUFFIX", "names stop at `_` as in dotenvy");
        assert_eq!(get("G"), "env");
        assert_eq!(get("H"), "");
        assert_eq!(get("I"), "1", "a quote after a name closes the quote");
        assert_eq!(get("J"), "${A", "unterminated braces stay literal");
        assert_eq!(get("K"), "a", "a lone dollar vanishes, as in dotenvy");
        assert_eq!(get("L"), "x 1 y");
    }
}
