//! Key-level difference of two environments, as a value the renderers turn into text or JSON.

use indexmap::IndexMap;

/// A key present on one side only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneSided<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// A key whose values differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed<'a> {
    pub key: &'a str,
    pub source: &'a str,
    pub target: &'a str,
}

/// The difference between a source and a target environment. Keys only in the source and
/// changed keys are in source-file order; keys only in the target in target-file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff<'a> {
    pub only_in_source: Vec<OneSided<'a>>,
    pub only_in_target: Vec<OneSided<'a>>,
    pub changed: Vec<Changed<'a>>,
    /// How many keys hold the same value on both sides.
    pub unchanged: usize,
}

impl Diff<'_> {
    pub fn is_empty(&self) -> bool {
        self.only_in_source.is_empty() && self.only_in_target.is_empty() && self.changed.is_empty()
    }
}

/// Compares two key → value maps (as from `Document::to_map`) in one linear pass each.
pub fn diff<'a>(
    source: &IndexMap<&'a str, &'a str>,
    target: &IndexMap<&'a str, &'a str>,
) -> Diff<'a> {
    let mut d = Diff::default();
    for (&key, &value) in source {
        match target.get(key) {
            None => d.only_in_source.push(OneSided { key, value }),
            Some(&t) if t == value => d.unchanged += 1,
            Some(&t) => d.changed.push(Changed {
                key,
                source: value,
                target: t,
            }),
        }
    }
    for (&key, &value) in target {
        if !source.contains_key(key) {
            d.only_in_target.push(OneSided { key, value });
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dotenv::Document;

    #[test]
    fn tutorial_dev_to_prod() {
        let dev = Document::parse(include_str!("../fixtures/tutorial/.env.dev")).unwrap();
        let prod = Document::parse(include_str!("../fixtures/tutorial/.env.prod")).unwrap();
        let (dm, pm) = (dev.to_map(), prod.to_map());
        let d = diff(&dm, &pm);
        let only: Vec<_> = d.only_in_source.iter().map(|o| o.key).collect();
        assert_eq!(
            only,
            ["API_KEY", "FEATURE_NEW_CHECKOUT", "FEATURE_DARK_MODE"]
        );
        assert!(d.only_in_target.is_empty());
        let changed: Vec<_> = d
            .changed
            .iter()
            .map(|c| (c.key, c.source, c.target))
            .collect();
        assert_eq!(
            changed,
            [
                ("DB_HOST", "localhost", "prod-db.internal"),
                ("DB_NAME", "myapp_dev", "myapp_prod"),
                ("DB_PASSWORD", "dev_password_123", "prod_password_789"),
                ("LOG_LEVEL", "debug", "warn"),
                ("CACHE_TTL", "300", "1200"),
            ]
        );
        assert_eq!(d.unchanged, 1);
        assert!(diff(&dm, &dm).is_empty());
    }
}
