//! What every library error shares: it can tell the user what to do about it.
//!
//! Each error type implements [`Hint`] and is listed once in the command line's table
//! (`cli::errors::hint_in`), which finds the hint of an error however deeply it was wrapped;
//! a test there fails when an error type is missing from the table.

use std::error::Error;

/// An error that can say what to do about it.
pub trait Hint: Error + 'static {
    /// One sentence for the user, or `None` when the message says it all.
    fn hint(&self) -> Option<String>;

    /// The input line the error points at, as the user may see it (every byte of a value
    /// masked), for errors about a place in a file. Errors that wrap one transparently pass
    /// it on: a transparent wrapper hides its inner error from the cause chain.
    fn excerpt(&self) -> Option<Excerpt> {
        None
    }
}

/// A line of input shown under an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// Its number in the file, from 1.
    pub line: usize,
    /// The line, masked.
    pub text: String,
}

/// A message and its hint, for errors that are made where they are found.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Hinted {
    msg: String,
    hint: String,
}

impl Hinted {
    pub fn new(msg: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
}

impl Hint for Hinted {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

/// An error and its causes on one line, `: ` between them (as anyhow's `{:#}` shows them).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
