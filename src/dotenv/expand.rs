//! Variable expansion for `envault run`: `$NAME` and `${NAME}` in unquoted and double-quoted
//! values, never in single-quoted ones; `\$` is a literal dollar.
//!
//! Three readings, one per reader ([`Style`]). The default reads names as shells and node's
//! dotenv-expand do (`$DB_USER` is the variable `DB_USER`, with `${NAME:-default}` and
//! `${NAME-default}`), a deliberate departure from dotenvy, whose `$DB_USER` is `$DB` followed by
//! `_USER` (a rule its own users report as a bug). dotenvy's reading is kept to say where an app
//! that reads the file with dotenvy would see something else (`check`).
//!
//! Parsing never expands (a diff shows what the file says); expansion happens only when a
//! program is given the environment. Names are looked up with `lookup` first (the process
//! environment, which wins as in dotenvy) and then among the values expanded so far.

use super::Document;

/// How `$` reads in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Shells and dotenv-expand: `$NAME` with `NAME` = `[A-Za-z_][A-Za-z0-9_]*`; `${NAME}`,
    /// `${NAME:-default}` (unset or empty) and `${NAME-default}` (unset); a `$` that starts no
    /// name stays a `$`.
    #[default]
    Shell,
    /// dotenvy 0.15.7: `$NAME` ends at the first character that is not alphanumeric (so `_`
    /// ends it), `${…}` takes everything up to `}` as the name, and a lone `$` vanishes.
    Dotenvy,
    /// python-dotenv: only `${NAME}` and `${NAME:-default}`; `$NAME` is literal.
    Braces,
    /// vlucas/phpdotenv: only `${NAME}` (names may hold dots), on the value as phpdotenv reads
    /// it; a `$` escaped in double quotes is literal, and an unknown name stays as written.
    Php,
    /// The Ruby dotenv gem: `$NAME`, `${NAME}` (names `[A-Za-z0-9_]+`) on the value as the gem
    /// reads it, unknown names empty, `\$` a literal `$`. `$(command)` stays as written: the
    /// gem would run the command, envault never does.
    Ruby,
}

/// The longest value expansion may produce (Linux's `MAX_ARG_STRLEN`, the most one variable
/// can hold when a program is started). Nested references double at each level, so without
/// a cap 26 levels reach half a gigabyte.
pub const MAX_VALUE_LEN: usize = 128 * 1024;

/// The most all the values of one run may expand to together (Linux's default `ARG_MAX`:
/// a program cannot be given more), so that many values that each stay under
/// [`MAX_VALUE_LEN`] cannot exhaust memory either.
pub const MAX_TOTAL_LEN: usize = 2 * 1024 * 1024;

/// A value whose expansion would exceed [`MAX_VALUE_LEN`], or that takes the values expanded
/// so far past [`MAX_TOTAL_LEN`] (`total`).
#[derive(Debug, thiserror::Error)]
#[error("{key} (line {line}) expands to more than {} bytes{}, more than a program can be given", if *.total { MAX_TOTAL_LEN } else { MAX_VALUE_LEN }, if *.total { " with the values before it" } else { "" })]
pub struct TooLong {
    pub key: String,
    pub line: usize,
    pub total: bool,
}

impl crate::error::Hint for TooLong {
    fn hint(&self) -> Option<String> {
        Some(
            "check the value's `${…}` references: one of them expands into itself many times"
                .to_owned(),
        )
    }
}

/// Expands one raw value text (as written in the file, quotes included) as `style` reads it.
///
/// Where dotenvy 0.15.7 accepts the value, [`Style::Dotenvy`] gives dotenvy's result. Where
/// dotenvy would fail, the result is the sensible reading: a closing quote right after a
/// variable name closes the quote (dotenvy keeps it as a character), and an unterminated `${…`
/// stays literal.
pub fn expand_raw(raw: &str, lookup: &dyn Fn(&str) -> Option<String>, style: Style) -> String {
    expand_capped(raw, lookup, usize::MAX, style).unwrap_or_default()
}

fn name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `c` continues the unbraced name `name` read so far.
fn continues_name(style: Style, name: &str, c: char) -> bool {
    match style {
        Style::Dotenvy => c.is_alphanumeric(),
        Style::Shell if name.is_empty() => name_start(c),
        Style::Shell => name_char(c),
        Style::Braces | Style::Php => false,
        Style::Ruby => name_char(c),
    }
}

/// The expansion's output, which stops growing past `cap` bytes.
struct Sink<'l> {
    out: String,
    cap: usize,
    over: bool,
    lookup: &'l dyn Fn(&str) -> Option<String>,
    style: Style,
}

impl Sink<'_> {
    fn push(&mut self, text: &str) {
        if self.out.len() + text.len() > self.cap {
            self.over = true;
        } else {
            self.out.push_str(text);
        }
    }

    fn substitute(&mut self, name: &str) {
        if let Some(v) = (self.lookup)(name) {
            self.push(&v);
        }
    }

    /// The end of an unbraced name: its value; for a `$` that starts no name, a `$` (dotenvy
    /// drops it).
    fn end_name(&mut self, name: &str) {
        if name.is_empty() && self.style != Style::Dotenvy {
            self.out.push('$');
        } else {
            self.substitute(name);
        }
    }

    /// `${…}`'s inside: a name, and for shells and python-dotenv a default.
    fn braced(&mut self, inner: &str) {
        if self.style == Style::Dotenvy {
            return self.substitute(inner);
        }
        let n = inner.chars().take_while(|c| name_char(*c)).count();
        let (name, rest) = inner.split_at(n);
        let (default, empty_too) = if let Some(d) = rest.strip_prefix(":-") {
            (Some(d), true)
        } else if let Some(d) = rest
            .strip_prefix('-')
            .filter(|_| self.style == Style::Shell)
        {
            (Some(d), false)
        } else {
            (None, false)
        };
        let Some(default) = default.filter(|_| !name.is_empty()) else {
            return self.substitute(inner);
        };
        match (self.lookup)(name) {
            Some(v) if !(empty_too && v.is_empty()) => self.push(&v),
            _ if self.style == Style::Shell => {
                // The default expands too, its characters otherwise literal.
                let quoted = format!("\"{}\"", default.replace('\\', "\\\\").replace('"', "\\\""));
                let room = self.cap.saturating_sub(self.out.len());
                match expand_capped(&quoted, self.lookup, room, self.style) {
                    Some(v) => self.push(&v),
                    None => self.over = true,
                }
            }
            _ => self.push(default),
        }
    }
}

/// [`expand_raw`], or `None` as soon as the result would exceed `cap` bytes.
fn expand_capped(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    cap: usize,
    style: Style,
) -> Option<String> {
    #[derive(PartialEq)]
    enum Mode {
        None,
        Block,
        Braced,
    }
    let chars: Vec<char> = raw.chars().collect();
    let mut sink = Sink {
        out: String::with_capacity(raw.len()),
        cap,
        over: false,
        lookup,
        style,
    };
    let (mut strong, mut weak, mut escaped, mut ended) = (false, false, false, false);
    let mut mode = Mode::None;
    let mut name = String::new();
    let (mut braced_start, mut depth) = (0, 0usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if ended || sink.over {
            break;
        } else if escaped {
            sink.out.push(if c == 'n' { '\n' } else { c });
            escaped = false;
        } else if strong {
            match c {
                '\'' => strong = false,
                c => sink.out.push(c),
            }
        } else if mode == Mode::Braced {
            if c == '{' && style != Style::Dotenvy {
                depth += 1;
            } else if c == '}' {
                depth -= 1;
                if depth == 0 || style == Style::Dotenvy {
                    sink.braced(&name);
                    name.clear();
                    mode = Mode::None;
                    continue;
                }
            }
            name.push(c);
        } else if mode == Mode::Block {
            if continues_name(style, &name, c) {
                name.push(c);
                continue;
            }
            if c == '{' && name.is_empty() {
                mode = Mode::Braced;
                braced_start = sink.out.len();
                depth = 1;
                continue;
            }
            sink.end_name(&name);
            name.clear();
            if style != Style::Dotenvy {
                // Shells: this character is read again on its own.
                mode = Mode::None;
                i -= 1;
            } else if c != '$' {
                // dotenvy keeps the character as it is, a closing quote excepted; a `$` starts
                // a new name.
                mode = Mode::None;
                match c {
                    '"' if weak => weak = false,
                    c => sink.out.push(c),
                }
            }
        } else if c == '$' {
            mode = Mode::Block;
        } else if weak {
            match c {
                '"' => weak = false,
                '\\' => escaped = true,
                c => sink.out.push(c),
            }
        } else {
            match c {
                '\'' => strong = true,
                '"' => weak = true,
                '\\' => escaped = true,
                ' ' | '\t' => ended = true,
                c => sink.out.push(c),
            }
        }
    }
    match mode {
        Mode::Block => sink.end_name(&name),
        Mode::Braced => {
            sink.out.truncate(braced_start);
            sink.out.push_str("${");
            sink.out.push_str(&name);
        }
        Mode::None => {}
    }
    (!sink.over && sink.out.len() <= cap).then_some(sink.out)
}

/// Where a name is looked up first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precedence {
    /// The process environment, then the keys defined above (the values a program is given
    /// when the process's own win).
    Process,
    /// The keys defined above, then the process environment (`run --override`, where the
    /// file's values replace the process's: as dotenvy, which sets each before reading on).
    File,
}

/// A one-line entry expanded as phpdotenv or the Ruby gem does, on the value that reader
/// reads (`None` where it reads no value on the line: the caller falls back to the raw text);
/// `Some(None)` past `cap` bytes.
fn expand_as_reader(
    line: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    cap: usize,
    style: Style,
) -> Option<Option<String>> {
    let mut sink = Sink {
        out: String::new(),
        cap,
        over: false,
        lookup,
        style,
    };
    if style == Style::Php {
        expand_php(line, &mut sink)?;
    } else {
        expand_ruby(line, &mut sink)?;
    }
    Some((!sink.over).then_some(sink.out))
}

/// phpdotenv: each `$` its reader marked starts a reference if `{NAME}` follows and NAME is
/// known; anything else stays as read. Its resolver takes the marks from the last to the first,
/// each on the text as the later ones left it, so `${${B}}` reads `B` first, then the name
/// that gives.
fn expand_php(line: &str, sink: &mut Sink<'_>) -> Option<()> {
    let (_, v) = super::readers::php_split(line)?;
    let (mut text, mut vars) = super::readers::php_value(v).ok()?;
    vars.sort_unstable_by(|a, b| b.cmp(a));
    for start in vars {
        let name = text[start..].strip_prefix("${").and_then(|r| {
            let n = r
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
                .count();
            (n > 0 && r[n..].starts_with('}')).then(|| r[..n].to_owned())
        });
        let Some(name) = name else { continue };
        let Some(value) = (sink.lookup)(&name) else {
            continue;
        };
        let end = start + name.len() + 3;
        if text.len() - (end - start) + value.len() > sink.cap {
            sink.over = true;
            return Some(());
        }
        text.replace_range(start..end, &value);
    }
    sink.push(&text);
    Some(())
}

/// The Ruby gem: `(\\)?\$(?!\()\{?([A-Za-z0-9_]+)?\}?`, case-insensitive, in one pass over
/// the value it reads; nothing in single quotes.
fn expand_ruby(line: &str, sink: &mut Sink<'_>) -> Option<()> {
    let (_, value, quote) = super::readers::ruby_line(line).ok()??;
    if quote == Some('\'') {
        sink.push(&value);
        return Some(());
    }
    let b = value.as_bytes();
    let (mut i, mut at) = (0, 0);
    while i < b.len() {
        let escaped = b[i] == b'\\' && b.get(i + 1) == Some(&b'$');
        if escaped && b.get(i + 2) == Some(&b'(') && value[i..].contains(')') {
            // `\$(command)`: the gem drops the backslash and runs nothing.
            sink.push(&value[at..i]);
            at = i + 1;
            i += 3;
            continue;
        }
        let dollar = if escaped { i + 1 } else { i };
        if b[dollar] != b'$' || b.get(dollar + 1) == Some(&b'(') {
            i += 1;
            continue;
        }
        let mut j = dollar + 1;
        if b.get(j) == Some(&b'{') {
            j += 1;
        }
        let n = b[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        let name = &value[j..j + n];
        j += n;
        if b.get(j) == Some(&b'}') {
            j += 1;
        }
        sink.push(&value[at..i]);
        if escaped {
            sink.push(&value[dollar..j]);
        } else if n > 0 {
            sink.substitute(name);
        } else {
            sink.push(&value[i..j]);
        }
        at = j;
        i = j;
    }
    sink.push(&value[at..]);
    Some(())
}

/// The document's values, expanded in file order as `style` reads them: each value sees
/// `lookup` (the process environment) and the values expanded before it (the file's earlier
/// keys, and whatever `known` already holds), in the order `precedence` says.
pub fn expand_document(
    doc: &Document,
    lookup: &dyn Fn(&str) -> Option<String>,
    known: &mut Vec<(String, String)>,
    (style, precedence): (Style, Precedence),
) -> Result<(), TooLong> {
    let mut total: usize = known.iter().map(|(_, v)| v.len()).sum();
    for e in doc.entries() {
        let value = {
            let earlier = |name: &str| {
                known
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let find = |name: &str| match precedence {
                Precedence::Process => lookup(name).or_else(|| earlier(name)),
                Precedence::File => earlier(name).or_else(|| lookup(name)),
            };
            let line = super::parse::strip_eol(e.raw());
            let read = match style {
                Style::Php | Style::Ruby if !line.contains(['\n', '\r']) => {
                    expand_as_reader(line, &find, MAX_VALUE_LEN, style)
                }
                _ => None,
            };
            read.unwrap_or_else(|| expand_capped(e.raw_value(), &find, MAX_VALUE_LEN, style))
                .ok_or_else(|| TooLong {
                    key: e.key().to_owned(),
                    line: e.line(),
                    total: false,
                })?
        };
        total += value.len();
        if total > MAX_TOTAL_LEN {
            return Err(TooLong {
                key: e.key().to_owned(),
                line: e.line(),
                total: true,
            });
        }
        known.push((e.key().to_owned(), value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_as(text: &str, style: Style) -> Vec<(String, String)> {
        let doc = Document::parse(text).unwrap();
        let env = |n: &str| (n == "FROMENV").then(|| "env".to_owned());
        let mut known = Vec::new();
        expand_document(&doc, &env, &mut known, (style, Precedence::Process)).unwrap();
        known
    }

    fn expand(text: &str) -> Vec<(String, String)> {
        expand_as(text, Style::Dotenvy)
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
        let e = expand_document(
            &doc,
            &|_| None,
            &mut known,
            (Style::Shell, Precedence::Process),
        )
        .unwrap_err();
        assert_eq!(e.key, "A14", "10 * 2^14 > 128 KiB");
        assert!(!e.total);
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

    #[test]
    fn shells_read_whole_names_and_defaults() {
        let v = expand_as(
            "DB_USER=app\nA=1\nB=$DB_USER\nC=\"$DB_USER-x\"\nD=a$\nE=$1x\nF=${MISSING:-dflt}\nG=${A:-dflt}\nH=${MISSING-d}\nI=\"${EMPTY:-e}\"\nEMPTY=\nJ=${EMPTY-kept}${EMPTY:-used}\nK=${MISSING:-${A}b}\nL=$A_B\nM=\"pre${A}post$A\"\nN=${A\n",
            Style::Shell,
        );
        let get = |k: &str| v.iter().rev().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("B"), "app", "the whole name, as shells read it");
        assert_eq!(get("C"), "app-x");
        assert_eq!(get("D"), "a$", "a `$` that starts no name stays");
        assert_eq!(get("E"), "$1x");
        assert_eq!(get("F"), "dflt");
        assert_eq!(get("G"), "1");
        assert_eq!(get("H"), "d");
        assert_eq!(get("I"), "e");
        assert_eq!(
            get("J"),
            "used",
            "`-` keeps an empty value, `:-` replaces it"
        );
        assert_eq!(get("K"), "1b", "defaults expand too");
        assert_eq!(get("L"), "", "A_B is unset");
        assert_eq!(get("M"), "pre1post1");
        assert_eq!(get("N"), "${A", "unterminated braces stay literal");
    }

    #[test]
    fn python_dotenv_reads_braces_only() {
        let v = expand_as("A=1\nB=$A\nC=${A}\nD=${MISSING:-d}\n", Style::Braces);
        let get = |k: &str| v.iter().rev().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(
            (get("B"), get("C"), get("D")),
            ("$A".into(), "1".into(), "d".into())
        );
    }

    /// A file read as `dialect`'s reader reads it, then expanded as it expands.
    fn expand_in(text: &str, dialect: super::super::Dialect) -> Vec<(String, String)> {
        let mut doc = Document::read(text.as_bytes().to_vec()).unwrap();
        doc.apply_dialect(dialect);
        let env = |n: &str| (n == "FROMENV").then(|| "env".to_owned());
        let mut known = Vec::new();
        expand_document(
            &doc,
            &env,
            &mut known,
            (dialect.expansion(), Precedence::Process),
        )
        .unwrap();
        known
    }

    /// phpdotenv resolves `${NAME}` only (dots allowed), keeps an unknown reference as written,
    /// and never resolves a `$` escaped in double quotes or one in single quotes.
    #[test]
    fn phpdotenv_resolves_braced_names_it_knows() {
        let v = expand_in(
            "A=1\nB=\"${A}x\"\nC='${A}'\nD=${MISSING}\nE=\"\\${A}\"\nF=$A\nG=${FROMENV}/x y\nH=a${A}b${A}c\n",
            super::super::Dialect::Php,
        );
        let get = |k: &str| v.iter().rev().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("B"), "1x");
        assert_eq!(get("C"), "${A}");
        assert_eq!(get("D"), "${MISSING}");
        assert_eq!(get("E"), "${A}");
        assert_eq!(get("F"), "$A");
        assert!(!v.iter().any(|(k, _)| k == "G"), "phpdotenv refuses `x y`");
        assert_eq!(get("H"), "a1b1c");
    }

    /// The Ruby gem reads `$NAME` and `${NAME}`, empties unknown names, keeps `\$` as a `$`,
    /// and leaves `$(command)` as written (envault never runs it).
    #[test]
    fn the_ruby_gem_substitutes_dollar_names() {
        let v = expand_in(
            "A=1\nB=$A\nC=${A}x\nD='$A'\nE=\"\\$A\"\nF=$MISSING.\nG=\"$(echo hi)\"\nH=$A_B\nI=\"\\$(id)\"\nJ=${FROMENV}\n",
            super::super::Dialect::Ruby,
        );
        let get = |k: &str| v.iter().rev().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("B"), "1");
        assert_eq!(get("C"), "1x");
        assert_eq!(get("D"), "$A");
        assert_eq!(get("E"), "$A");
        assert_eq!(get("F"), ".");
        assert_eq!(get("G"), "$(echo hi)");
        assert_eq!(get("H"), "");
        assert_eq!(get("I"), "$(id)");
        assert_eq!(get("J"), "env");
    }

    /// Many values, each under the cap, stop at the total cap (a 30 KB file used to reach a
    /// gigabyte).
    #[test]
    fn many_large_values_stop_at_the_total_cap() {
        let mut text = format!("X0={}\n", "a".repeat(1000));
        for i in 1..=7 {
            text.push_str(&format!("X{i}=$X{p}$X{p}\n", p = i - 1));
        }
        for n in 0..3000 {
            text.push_str(&format!("Y{n}=$X7\n"));
        }
        let doc = Document::parse(&text).unwrap();
        let mut known = Vec::new();
        let e = expand_document(
            &doc,
            &|_| None,
            &mut known,
            (Style::Shell, Precedence::Process),
        )
        .unwrap_err();
        assert!(e.total, "{e}");
        assert!(known.iter().map(|(_, v)| v.len()).sum::<usize>() <= MAX_TOTAL_LEN);
    }
}
