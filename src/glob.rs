//! Key-name patterns from the config (`skip_keys`, `secret_keys`, …): `*` and `?` wildcards.

/// A list of key patterns; a name matches when any pattern does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobSet {
    patterns: Vec<String>,
    /// Letters match whatever their case (ASCII).
    ignore_case: bool,
}

impl GlobSet {
    pub fn new(patterns: Vec<String>) -> GlobSet {
        GlobSet {
            patterns,
            ignore_case: false,
        }
    }

    /// Patterns whose letters match in either case (`internal_*` matches `INTERNAL_FOO`).
    pub fn ignoring_case(patterns: Vec<String>) -> GlobSet {
        GlobSet {
            patterns,
            ignore_case: true,
        }
    }

    /// Adds patterns (e.g. from `--skip` flags).
    pub fn extend(&mut self, more: impl IntoIterator<Item = String>) {
        self.patterns.extend(more);
    }

    pub fn matches(&self, name: &str) -> bool {
        if self.ignore_case {
            let name = name.to_ascii_lowercase();
            self.patterns
                .iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), &name))
        } else {
            self.patterns.iter().any(|p| glob_match(p, name))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Matches `name` against `pattern`, where `*` is any run and `?` any one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Position of the last `*` and the name index it was tried at, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
