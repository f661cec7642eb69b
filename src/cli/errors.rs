//! The one table of the library's error types: `hint_in` finds the hint of an error however
//! deeply it was wrapped. `every_error_type_is_listed` (below) fails when an error type
//! declared anywhere in src/ is missing from it, so a new error cannot silently lose its hint.

use std::error::Error;

use crate::error::Hint;

macro_rules! hinted_errors {
    ($($t:ty),* $(,)?) => {
        /// The hint of the outermost error in `chain` that has one.
        pub fn hint_in<'a>(
            chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>,
        ) -> Option<String> {
            chain.into_iter().find_map(|e| {
                $(
                    if let Some(e) = e.downcast_ref::<$t>() {
                        return Hint::hint(e);
                    }
                )*
                None
            })
        }

        /// The excerpt of the outermost error in `chain` that points into a file.
        pub fn excerpt_in<'a>(
            chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>,
        ) -> Option<crate::error::Excerpt> {
            chain.into_iter().find_map(|e| {
                $(
                    if let Some(e) = e.downcast_ref::<$t>() {
                        return Hint::excerpt(e);
                    }
                )*
                None
            })
        }

        /// The names of the error types [`hint_in`] knows (for the completeness test).
        #[cfg(test)]
        const LISTED: &[&str] = &[$(stringify!($t)),*];
    };
}

hinted_errors!(
    crate::error::Hinted,
    super::Declined,
    crate::audit::AuditError,
    crate::config::ConfigError,
    crate::config::InitError,
    crate::confine::ConfineError,
    crate::crypt::CryptError,
    crate::crypt::DocError,
    crate::dotenv::EditError,
    crate::dotenv::ParseError,
    crate::dotenv::expand::TooLong,
    crate::fsutil::FsError,
    crate::git::GitError,
    crate::merge::NeedsDecision,
    crate::rotate::BackupError,
    crate::rotate::RotateError,
    crate::scan::ScanError,
    crate::source::LoadError,
    crate::store::PartialWrite,
    crate::store::StoreError,
    crate::workspace::Refusal,
    crate::workspace::WorkspaceError,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hinted;

    /// Every error type declared in src/ (a `thiserror::Error` derive or an `Error` impl) is in
    /// the table of [`hint_in`]; one missing would lose its hint in every message.
    #[test]
    fn every_error_type_is_listed() {
        let declared: Vec<String> = crate::source_files()
            .iter()
            .flat_map(|(_, text)| error_types_in(text))
            .collect();
        assert!(declared.len() >= 15, "found only {declared:?}");
        for name in declared {
            assert!(
                LISTED
                    .iter()
                    .any(|l| l.rsplit("::").next() == Some(name.as_str())),
                "{name} is an error type but not listed in error::hint_in's table"
            );
        }
    }

    /// The names of the types a source file declares as errors.
    fn error_types_in(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("#[derive(") && line.contains("Error") {
                // The type follows the attributes.
                if let Some(name) = lines[i + 1..]
                    .iter()
                    .find(|l| !l.trim_start().starts_with("#["))
                    .and_then(|l| declared_name(l))
                {
                    out.push(name);
                }
            }
            if let Some(rest) = line
                .trim_start()
                .strip_prefix("impl std::error::Error for ")
            {
                out.push(
                    rest.trim_end_matches(" {}")
                        .trim_end_matches(" {")
                        .to_owned(),
                );
            }
        }
        out
    }

    fn declared_name(line: &str) -> Option<String> {
        let rest = line
            .trim_start()
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        let rest = rest
            .strip_prefix("struct ")
            .or_else(|| rest.strip_prefix("enum "))?;
        Some(
            rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()?
                .to_owned(),
        )
    }

    /// A parse error's line shows however it was wrapped, transparent wrappers included.
    #[test]
    fn a_parse_error_shows_its_line_through_every_wrapper() {
        let pe = crate::dotenv::Document::parse("A=1\nB=\"open\nTOKEN=s3cr3t \\q\n")
            .expect_err("an unsupported escape");
        let want = crate::error::Hint::excerpt(&pe).expect("a line to show");
        assert!(!want.text.contains("s3cr3t"), "{want:?}");
        let load = crate::source::LoadError::Parse(pe);
        let wrapped = anyhow::Error::new(crate::workspace::WorkspaceError::Load(load))
            .context("cannot read prod");
        assert_eq!(excerpt_in(wrapped.chain()), Some(want));
        let plain = anyhow::anyhow!("no file here");
        assert_eq!(excerpt_in(plain.chain()), None);
    }

    #[test]
    fn the_outermost_hint_wins() {
        let inner = Hinted::new("inner", "inner hint");
        let outer = Hinted::new("outer", "outer hint");
        let chain: [&(dyn Error + 'static); 2] = [&outer, &inner];
        assert_eq!(hint_in(chain).as_deref(), Some("outer hint"));
        let plain = std::io::Error::other("plain");
        let chain: [&(dyn Error + 'static); 2] = [&plain, &inner];
        assert_eq!(hint_in(chain).as_deref(), Some("inner hint"));
    }
}
