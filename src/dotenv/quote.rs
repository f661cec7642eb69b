//! How a value is written: the quoting style that all three common readers agree on.
//!
//! dotenvy, python-dotenv and node's dotenv disagree on escapes, so a value is written in the
//! first form (the entry's existing style first, then unquoted, double, single) that each of
//! them reads back as the same string. The checks below are small models of how each reader
//! treats that one form; tests hold the models against the real readers.

use std::fmt;

/// A quoting style of a written value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Unquoted,
    Single,
    Double,
}

impl Style {
    /// The style of a raw value text as found in a file.
    pub fn of_raw(raw: &str) -> Style {
        match raw.as_bytes().first() {
            Some(b'\'') => Style::Single,
            Some(b'"') => Style::Double,
            _ => Style::Unquoted,
        }
    }
}

/// Another dotenv reader whose reading of a written value envault checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    PythonDotenv,
    NodeDotenv,
    /// vlucas/phpdotenv (read for warnings; written values are checked against the two above).
    Php,
    /// The Ruby dotenv gem (as `Php`).
    Ruby,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::PythonDotenv => "python-dotenv",
            Peer::NodeDotenv => "node dotenv",
            Peer::Php => "phpdotenv",
            Peer::Ruby => "ruby dotenv",
        })
    }
}

/// A rendered value text and the readers (besides dotenvy) that would read it differently.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub style: Style,
    pub disagree: Vec<Peer>,
}

fn is_plain_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '#' | '\'' | '"' | '`' | '\\' | '$'))
}

fn form(value: &str, style: Style) -> Option<String> {
    match style {
        Style::Unquoted => value.chars().all(is_plain_char).then(|| value.to_owned()),
        Style::Single => {
            // dotenvy's line splitter skips the character after a backslash even in single
            // quotes, so a value ending in `\` would swallow its closing quote.
            (!value.contains('\'') && !value.ends_with('\\')).then(|| format!("'{value}'"))
        }
        Style::Double => {
            // Trailing backslashes go after the closing quote, escaped: inside the quotes
            // they would put `\"` before the closing quote, which python-dotenv and node read
            // as an escaped quote and run on into the following lines.
            let body = value.trim_end_matches('\\');
            let trailing = value.len() - body.len();
            let mut out = String::with_capacity(value.len() + trailing + 2);
            if !body.is_empty() || trailing == 0 {
                out.push('"');
                for c in body.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '"' => out.push_str("\\\""),
                        '$' => out.push_str("\\$"),
                        '\n' => out.push_str("\\n"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            for _ in 0..trailing {
                out.push_str("\\\\");
            }
            Some(out)
        }
    }
}

/// The readers that would not read `value` back from `text`, its `style` form: python-dotenv
/// and node by their rules, phpdotenv and the Ruby gem by reading the line as they do (either
/// also fails when it refuses the line).
fn disagreeing(value: &str, style: Style, text: &str) -> Vec<Peer> {
    let mut out = Vec::new();
    // Both normalise line endings (node rewrites CR and CRLF; Python reads in universal newline
    // mode), so a carriage return never survives them.
    let has_cr = value.contains('\r');
    let python_ok;
    let node_ok;
    match style {
        Style::Unquoted => {
            python_ok = true;
            node_ok = true;
        }
        Style::Single => {
            // python-dotenv decodes `\\` and `\'` inside single quotes.
            python_ok = !has_cr && !value.contains("\\\\");
            node_ok = !has_cr;
        }
        Style::Double => {
            // python-dotenv decodes `\\ \" \n` but keeps `\$`, and its quoted-value pattern
            // takes the `\"` of a value ending in `\` for an escaped quote and runs on to the
            // next `"` in the file; node only decodes `\n` and `\r`.
            python_ok = !has_cr && !value.contains('$') && !value.ends_with('\\');
            node_ok = !has_cr && !value.contains(['\\', '"', '$']);
        }
    }
    if !python_ok {
        out.push(Peer::PythonDotenv);
    }
    if !node_ok {
        out.push(Peer::NodeDotenv);
    }
    // The line readers read one line: a value written over several lines, or holding a
    // carriage return (phpdotenv turns every one into a line feed), is not vouched for.
    if text.contains(['\n', '\r']) {
        out.extend([Peer::Php, Peer::Ruby]);
        return out;
    }
    let (readings, refused) = super::read_by_peers(&format!("K={text}"));
    for (peer, reading) in readings {
        let read = match (peer, reading) {
            (Peer::Php | Peer::Ruby, Some((k, v))) if k == "K" => v,
            (Peer::Php | Peer::Ruby, _) => None,
            _ => continue,
        };
        // The gem's variable substitution, which apps run, turns `\$` into `$` outside
        // single quotes (the forms written here hold no other `$`).
        let read = match read {
            Some(v) if peer == Peer::Ruby && style != Style::Single => Some(v.replace("\\$", "$")),
            other => other,
        };
        if read.as_deref() != Some(value) || refused.contains(&peer) {
            out.push(peer);
        }
    }
    out
}

/// Renders `value` for writing, trying `preferred` (the entry's existing style) first.
pub fn render(value: &str, preferred: Option<Style>) -> Rendered {
    let order = [
        preferred,
        Some(Style::Unquoted),
        Some(Style::Double),
        Some(Style::Single),
    ];
    for style in order.into_iter().flatten() {
        if let Some(text) = form(value, style) {
            if disagreeing(value, style, &text).is_empty() {
                return Rendered {
                    text,
                    style,
                    disagree: Vec::new(),
                };
            }
        }
    }
    // No form reads the same everywhere: write dotenvy's form, which always exists.
    let text = form(value, Style::Double).unwrap_or_default();
    Rendered {
        disagree: disagreeing(value, Style::Double, &text),
        text,
        style: Style::Double,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dotenv::parse::read_value;

    #[test]
    fn plain_values_stay_unquoted() {
        assert_eq!(render("localhost", None).text, "localhost");
        assert_eq!(render("", None).text, "");
        assert_eq!(render("a=b:c/d?e", None).text, "a=b:c/d?e");
    }

    #[test]
    fn quotes_minimally() {
        assert_eq!(render("a b", None).text, "\"a b\"");
        assert_eq!(render("it's", None).text, "\"it's\"");
        assert_eq!(render("$HOME", None).text, "'$HOME'");
        assert_eq!(render("a#b", None).text, "\"a#b\"");
        assert_eq!(render("line1\nline2", None).text, "\"line1\\nline2\"");
        assert_eq!(render(r"C:\dir x", None).text, r"'C:\dir x'");
    }

    #[test]
    fn keeps_preferred_style_when_possible() {
        assert_eq!(render("abc", Some(Style::Single)).text, "'abc'");
        assert_eq!(render("abc", Some(Style::Double)).text, "\"abc\"");
        assert_eq!(render("it's", Some(Style::Single)).text, "\"it's\"");
    }

    #[test]
    fn warns_when_no_common_form_exists() {
        let r = render("it's $5", None);
        assert_eq!(r.text, "\"it's \\$5\"");
        assert_eq!(r.disagree, vec![Peer::PythonDotenv, Peer::NodeDotenv]);
        let r = render("say \"hi\" it's", None);
        assert_eq!(r.disagree, vec![Peer::NodeDotenv]);
    }

    #[test]
    fn every_rendering_reads_back_in_envault() {
        for v in [
            "",
            "x",
            "a b",
            " lead",
            "trail ",
            "it's",
            "q\"q",
            "$X",
            "${X}",
            "a\\b",
            "\\",
            "#",
            "a #b",
            "multi\nline",
            "tab\there",
            "ünï cödé",
            "`tick`",
            "'",
            "\"",
            "x\\",
            "\\n",
            "it's $5 \"q\" \\ \n",
        ] {
            let r = render(v, None);
            assert_eq!(
                read_value(&r.text).as_deref(),
                Some(v),
                "value {v:?} as {}",
                r.text
            );
            for style in [Style::Unquoted, Style::Single, Style::Double] {
                let r = render(v, Some(style));
                assert_eq!(
                    read_value(&r.text).as_deref(),
                    Some(v),
                    "{v:?} as {}",
                    r.text
                );
            }
        }
    }
}
