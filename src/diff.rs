//! Key-level difference of two environments, as a value the renderers turn into text or JSON.

use crate::dotenv::{Document, Item, KeyMap};

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
    /// Keys whose values are sealed and could not be decrypted: present on both sides, but
    /// their values cannot be compared.
    pub not_compared: Vec<&'a str>,
    /// How many keys hold the same value on both sides.
    pub unchanged: usize,
}

impl Diff<'_> {
    /// Whether nothing differs (keys not compared do not count).
    pub fn is_empty(&self) -> bool {
        self.only_in_source.is_empty() && self.only_in_target.is_empty() && self.changed.is_empty()
    }

    /// Moves the changed keys for which `opaque(source, target)` holds (values that could not
    /// be decrypted) from `changed` to `not_compared`.
    pub fn set_aside(&mut self, opaque: impl Fn(&str, &str) -> bool) {
        let (aside, keep): (Vec<_>, Vec<_>) = self
            .changed
            .drain(..)
            .partition(|c| opaque(c.source, c.target));
        self.changed = keep;
        self.not_compared.extend(aside.into_iter().map(|c| c.key));
    }
}

/// Compares two key → value maps (as from `Document::to_map`) in one linear pass each.
///
/// Files of one project tend to list keys in the same order, so each source key is first
/// looked for at the target position after the previous match; only a miss costs a hash
/// lookup. Target keys that no source key matched are the ones only in the target.
pub fn diff<'a>(source: &KeyMap<'a>, target: &KeyMap<'a>) -> Diff<'a> {
    let mut d = Diff::default();
    let mut matched = vec![false; target.len()];
    let mut next = 0;
    for (&key, &value) in source {
        let hit = match target.get_index(next) {
            Some((&k, &v)) if k == key => Some((next, v)),
            _ => target.get_full(key).map(|(i, _, &v)| (i, v)),
        };
        match hit {
            None => d.only_in_source.push(OneSided { key, value }),
            Some((i, t)) => {
                matched[i] = true;
                next = i + 1;
                if t == value {
                    d.unchanged += 1;
                } else {
                    d.changed.push(Changed {
                        key,
                        source: value,
                        target: t,
                    });
                }
            }
        }
    }
    for ((&key, &value), seen) in target.iter().zip(matched) {
        if !seen {
            d.only_in_target.push(OneSided { key, value });
        }
    }
    d
}

/// Compares two documents. Without duplicate keys this walks the documents themselves,
/// using their key indexes, so no map is built; with duplicates it compares their maps.
pub fn diff_documents<'a>(source: &'a Document, target: &'a Document) -> Diff<'a> {
    if source.has_duplicates() || target.has_duplicates() {
        return diff(&source.to_map(), &target.to_map());
    }
    let items = target.items();
    let mut d = Diff::default();
    let mut matched = vec![false; items.len()];
    let mut next = 0;
    for e in source.entries() {
        let (key, value) = (e.key(), e.value());
        // Same-order files match at the next target entry without a lookup.
        while matches!(items.get(next), Some(Item::Trivia(_))) {
            next += 1;
        }
        let hit = match items.get(next) {
            Some(Item::Entry(t)) if t.key() == key => Some(next),
            _ => target.index_of(key),
        };
        let Some(i) = hit else {
            d.only_in_source.push(OneSided { key, value });
            continue;
        };
        let Item::Entry(t) = &items[i] else {
            unreachable!("the index points at entries")
        };
        matched[i] = true;
        next = i + 1;
        if t.value() == value {
            d.unchanged += 1;
        } else {
            d.changed.push(Changed {
                key,
                source: value,
                target: t.value(),
            });
        }
    }
    for (item, seen) in items.iter().zip(matched) {
        if let (Item::Entry(t), false) = (item, seen) {
            d.only_in_target.push(OneSided {
                key: t.key(),
                value: t.value(),
            });
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
        let back = diff(&pm, &dm);
        let only: Vec<_> = back.only_in_target.iter().map(|o| o.key).collect();
        assert_eq!(
            only,
            ["API_KEY", "FEATURE_NEW_CHECKOUT", "FEATURE_DARK_MODE"]
        );
        assert_eq!(back.changed.len(), 5);
    }
}
