//! Key-name patterns from the config (`skip_keys`, `secret_keys`, …): `*` and `?` wildcards.

/// A list of key patterns; a name matches when any pattern does. Matching is the `globset`
/// crate's, with every character but `*` and `?` taken literally (`[`, `{` and `\` included:
/// key patterns have no classes or alternatives), so any pattern is valid.
#[derive(Debug, Clone, Default)]
pub struct GlobSet {
    patterns: Vec<String>,
    /// Letters match whatever their case.
    ignore_case: bool,
    compiled: globset::GlobSet,
}

impl PartialEq for GlobSet {
    fn eq(&self, other: &GlobSet) -> bool {
        self.patterns == other.patterns && self.ignore_case == other.ignore_case
    }
}

impl Eq for GlobSet {}

impl GlobSet {
    pub fn new(patterns: Vec<String>) -> GlobSet {
        GlobSet::build(patterns, false)
    }

    /// Patterns whose letters match in either case (`internal_*` matches `INTERNAL_FOO`).
    pub fn ignoring_case(patterns: Vec<String>) -> GlobSet {
        GlobSet::build(patterns, true)
    }

    fn build(patterns: Vec<String>, ignore_case: bool) -> GlobSet {
        let mut set = globset::GlobSetBuilder::new();
        for p in &patterns {
            set.add(glob(p, ignore_case));
        }
        GlobSet {
            compiled: set.build().expect("escaped patterns always compile"),
            patterns,
            ignore_case,
        }
    }

    /// Adds patterns (e.g. from `--skip` flags).
    pub fn extend(&mut self, more: impl IntoIterator<Item = String>) {
        let mut patterns = std::mem::take(&mut self.patterns);
        patterns.extend(more);
        *self = GlobSet::build(patterns, self.ignore_case);
    }

    pub fn matches(&self, name: &str) -> bool {
        self.compiled.is_match(name)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `pattern` as a glob where only `*` (any run) and `?` (any one character) are wildcards.
fn glob(pattern: &str, ignore_case: bool) -> globset::Glob {
    let mut escaped = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '*' | '?' => escaped.push(c),
            c => escaped.push_str(&globset::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    globset::GlobBuilder::new(&escaped)
        .case_insensitive(ignore_case)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .expect("escaped patterns always compile")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name` against the one pattern `pattern`, as a config's list matches it.
    fn glob_match(pattern: &str, name: &str) -> bool {
        GlobSet::new(vec![pattern.to_owned()]).matches(name)
    }

    #[test]
    fn case_is_ignored_only_when_asked() {
        let patterns = vec!["internal_*".to_owned()];
        assert!(GlobSet::ignoring_case(patterns.clone()).matches("INTERNAL_FOO"));
        assert!(!GlobSet::new(patterns).matches("INTERNAL_FOO"));
    }

    #[test]
    fn wildcards() {
        assert!(glob_match("COMMIT_SHA", "COMMIT_SHA"));
        assert!(!glob_match("COMMIT_SHA", "COMMIT_SHA1"));
        assert!(glob_match("FEATURE_*", "FEATURE_X"));
        assert!(glob_match("*_URL", "REDIS_URL"));
        assert!(glob_match("*", ""));
        assert!(glob_match("A?C", "ABC"));
        assert!(glob_match("*A*B*", "xxAyyBzz"));
        assert!(!glob_match("*A*B", "xxAyyBzz"));
        assert!(!glob_match("FEATURE_*", "FEATURES"));
        assert!(glob_match("A.B", "A.B"));
        assert!(!glob_match("A.B", "AxB"));
    }

    /// Only `*` and `?` are wildcards: a pattern with glob syntax of other kinds is literal,
    /// never an error and never wider than written.
    #[test]
    fn other_glob_syntax_is_literal() {
        for (pattern, literal, not) in [
            ("KEY[0-9]", "KEY[0-9]", "KEY1"),
            ("{A,B}_URL", "{A,B}_URL", "A_URL"),
            ("A\\*", "A\\xyz", "Axyz"),
            ("**", "ANY_KEY", ""),
        ] {
            assert!(glob_match(pattern, literal), "{pattern} vs {literal}");
            if !not.is_empty() {
                assert!(!glob_match(pattern, not), "{pattern} vs {not}");
            }
        }
        let mut set = GlobSet::new(vec!["LOG_*".into()]);
        set.extend(["*_URL".to_owned()]);
        assert!(set.matches("LOG_LEVEL") && set.matches("REDIS_URL") && !set.matches("X"));
    }
}
