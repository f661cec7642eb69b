//! Sync planning (from a diff, a strategy, skips and the environment-specific rule) and its
//! application to the target document.

use crate::classify::Classifier;
use crate::config::Strategy;
use crate::diff::diff_documents;
use crate::dotenv::{Document, Edit, EditError, QuoteWarning};

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use crate::glob::GlobSet;

/// What decides a plan besides the two documents.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    pub source_env: &'a str,
    pub target_env: &'a str,
    pub strategy: Strategy,
    pub allow_delete: bool,
    pub skip: &'a GlobSet,
    pub env_specific_keys: &'a GlobSet,
    pub shared_keys: &'a GlobSet,
    pub include_env_specific: bool,
    pub classifier: &'a Classifier,
}

/// A key to add to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub key: String,
    pub value: String,
    /// Set when the value names the source environment (`dev_key_abc` going into prod).
    pub names_source_env: Option<String>,
}

/// A target value to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub key: String,
    pub from: String,
    pub to: String,
}

/// Why a differing target value is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The key holds a secret: each environment keeps its own.
    Secret,
    /// A value names its environment (the word that did).
    NamesEnvironment { env: String, word: String },
    /// Listed in `env_specific_keys:`.
    Pinned,
    /// `--strategy target_wins`.
    TargetWins,
}

/// A differing key whose target value stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub key: String,
    pub source: String,
    pub target: String,
    pub reason: KeepReason,
}

/// A target key absent from the source, removed with `--allow-delete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub key: String,
    pub value: String,
}

/// Everything a sync would do, in source-file order (deletions in target order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub add: Vec<Add>,
    pub update: Vec<Update>,
    pub kept: Vec<Kept>,
    pub delete: Vec<Delete>,
    /// Keys left alone because they are skipped (present on either side and differing).
    pub skipped: Vec<String>,
}

impl Plan {
    /// Whether applying the plan changes the target.
    pub fn changes_target(&self) -> bool {
        !(self.add.is_empty() && self.update.is_empty() && self.delete.is_empty())
    }

    /// What applying the plan to a key-value target writes: the keys set, with their new
    /// values (added, then updated), and the keys deleted.
    pub fn writes(&self) -> (Vec<(&str, &str)>, Vec<&str>) {
        let sets = self
            .add
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str()))
            .chain(self.update.iter().map(|u| (u.key.as_str(), u.to.as_str())))
            .collect();
        let deletes = self.delete.iter().map(|d| d.key.as_str()).collect();
        (sets, deletes)
    }
}

/// The words that name an environment: its own name, plus its family's usual spellings.
pub fn env_words(env: &str) -> Vec<String> {
    const FAMILIES: &[&[&str]] = &[
        &["dev", "development", "local"],
        &["staging", "stage", "stg"],
        &["prod", "production", "prd"],
    ];
    let lower = env.to_ascii_lowercase();
    let mut words = vec![lower.clone()];
    if let Some(fam) = FAMILIES.iter().find(|f| f.contains(&lower.as_str())) {
        words.extend(fam.iter().filter(|w| **w != lower).map(|w| w.to_string()));
    }
    words
}

/// The first token of `value` (split on every non-alphanumeric character) that is one of
/// `words`, compared case-insensitively.
pub fn names_env<'w>(value: &str, words: &'w [String]) -> Option<&'w str> {
    value
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .find_map(|t| words.iter().find(|w| w.eq_ignore_ascii_case(t)))
        .map(String::as_str)
}

/// Plans a sync of `source` into `target`.
pub fn plan(source: &Document, target: &Document, opts: &Options) -> Plan {
    let d = diff_documents(source, target);
    let source_words = env_words(opts.source_env);
    let target_words = env_words(opts.target_env);
    let mut p = Plan::default();

    // Walk the source order once so additions, updates and skips come out in file order (a
    // key repeated in the source matches at its first occurrence only).
    let mut changed = d.changed.iter().peekable();
    let mut added = d.only_in_source.iter().peekable();
    for key in source.entries().map(|e| e.key()) {
        if let Some(a) = added.next_if(|a| a.key == key) {
            if opts.skip.matches(key) {
                p.skipped.push(key.to_owned());
                continue;
            }
            p.add.push(Add {
                key: key.to_owned(),
                value: a.value.to_owned(),
                names_source_env: names_env(a.value, &source_words).map(str::to_owned),
            });
        } else if let Some(c) = changed.next_if(|c| c.key == key) {
            if opts.skip.matches(key) {
                p.skipped.push(key.to_owned());
                continue;
            }
            let reason = keep_reason(key, c.source, c.target, opts, &source_words, &target_words);
            match reason {
                Some(reason) => p.kept.push(Kept {
                    key: key.to_owned(),
                    source: c.source.to_owned(),
                    target: c.target.to_owned(),
                    reason,
                }),
                None => p.update.push(Update {
                    key: key.to_owned(),
                    from: c.target.to_owned(),
                    to: c.source.to_owned(),
                }),
            }
        }
    }
    if opts.allow_delete {
        for o in &d.only_in_target {
            let protected = opts.skip.matches(o.key)
                || (opts.env_specific_keys.matches(o.key) && !opts.include_env_specific);
            if protected {
                p.skipped.push(o.key.to_owned());
            } else {
                p.delete.push(Delete {
                    key: o.key.to_owned(),
                    value: o.value.to_owned(),
                });
            }
        }
    }
    p
}

fn keep_reason(
    key: &str,
    source: &str,
    target: &str,
    opts: &Options,
    source_words: &[String],
    target_words: &[String],
) -> Option<KeepReason> {
    let env_specific = if opts.include_env_specific || opts.shared_keys.matches(key) {
        None
    } else if opts.env_specific_keys.matches(key) {
        Some(KeepReason::Pinned)
    } else if opts.classifier.is_secret(key, &[source, target]) {
        Some(KeepReason::Secret)
    } else if let Some(w) = names_env(source, source_words) {
        Some(KeepReason::NamesEnvironment {
            env: opts.source_env.to_owned(),
            word: w.to_owned(),
        })
    } else {
        names_env(target, target_words).map(|w| KeepReason::NamesEnvironment {
            env: opts.target_env.to_owned(),
            word: w.to_owned(),
        })
    };
    env_specific.or(match opts.strategy {
        Strategy::TargetWins => Some(KeepReason::TargetWins),
        Strategy::SourceWins => None,
    })
}

/// Applies `plan` to `target` (which must be the document it was planned against) in one
/// pass. An added key goes right after the nearest key preceding it in the source that the
/// target has (or gains in this sync), else at the end.
pub fn apply(
    plan: &Plan,
    source: &Document,
    target: &mut Document,
) -> Result<Vec<QuoteWarning>, EditError> {
    let mut edits = Vec::with_capacity(plan.update.len() + plan.add.len() + plan.delete.len());
    edits.extend(plan.update.iter().map(|u| Edit::Set {
        key: &u.key,
        value: &u.to,
    }));
    if !plan.add.is_empty() {
        let adding: HashSet<&str> = plan.add.iter().map(|a| a.key.as_str()).collect();
        let mut prev_present: Option<&str> = None;
        let mut anchor_of: HashMap<&str, Option<&str>> = HashMap::default();
        for k in source.entries().map(|e| e.key()) {
            if adding.contains(k) {
                anchor_of.entry(k).or_insert(prev_present);
            }
            if target.get(k).is_some() || adding.contains(k) {
                prev_present = Some(k);
            }
        }
        edits.extend(plan.add.iter().map(|a| Edit::Insert {
            key: &a.key,
            value: &a.value,
            after: anchor_of.get(a.key.as_str()).copied().flatten(),
        }));
    }
    edits.extend(plan.delete.iter().map(|d| Edit::Remove { key: &d.key }));
    Ok(target.edit(&edits)?.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tutorial(name: &str) -> Document {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tutorial/");
        Document::parse(&std::fs::read_to_string(format!("{dir}.env.{name}")).unwrap()).unwrap()
    }

    struct Fixture {
        skip: GlobSet,
        pinned: GlobSet,
        shared: GlobSet,
        classifier: Classifier,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                skip: GlobSet::new(vec!["COMMIT_SHA".into()]),
                pinned: GlobSet::default(),
                shared: GlobSet::default(),
                classifier: Classifier::default(),
            }
        }
        fn opts(&self, strategy: Strategy) -> Options<'_> {
            Options {
                source_env: "dev",
                target_env: "prod",
                strategy,
                allow_delete: false,
                skip: &self.skip,
                env_specific_keys: &self.pinned,
                shared_keys: &self.shared,
                include_env_specific: false,
                classifier: &self.classifier,
            }
        }
    }

    #[test]
    fn tutorial_plan() {
        let f = Fixture::new();
        let p = plan(
            &tutorial("dev"),
            &tutorial("prod"),
            &f.opts(Strategy::SourceWins),
        );
        let add: Vec<_> = p.add.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            add,
            ["API_KEY", "FEATURE_NEW_CHECKOUT", "FEATURE_DARK_MODE"]
        );
        assert_eq!(p.add[0].names_source_env.as_deref(), Some("dev"));
        let upd: Vec<_> = p
            .update
            .iter()
            .map(|u| (u.key.as_str(), u.from.as_str(), u.to.as_str()))
            .collect();
        assert_eq!(
            upd,
            [("LOG_LEVEL", "warn", "debug"), ("CACHE_TTL", "1200", "300")]
        );
        let kept: Vec<_> = p.kept.iter().map(|k| (k.key.as_str(), &k.reason)).collect();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].0, "DB_HOST");
        assert_eq!(
            kept[0].1,
            &KeepReason::NamesEnvironment {
                env: "prod".into(),
                word: "prod".into()
            }
        );
        assert_eq!(kept[1].0, "DB_NAME");
        assert_eq!(kept[2], ("DB_PASSWORD", &KeepReason::Secret));
        assert!(p.delete.is_empty());
    }

    #[test]
    fn target_wins_keeps_every_difference() {
        let f = Fixture::new();
        let p = plan(
            &tutorial("dev"),
            &tutorial("prod"),
            &f.opts(Strategy::TargetWins),
        );
        assert!(p.update.is_empty());
        assert_eq!(p.kept.len(), 5);
        assert_eq!(p.add.len(), 3);
    }

    #[test]
    fn apply_inserts_after_source_predecessor() {
        let f = Fixture::new();
        let (dev, mut prod) = (tutorial("dev"), tutorial("prod"));
        let p = plan(&dev, &prod, &f.opts(Strategy::SourceWins));
        apply(&p, &dev, &mut prod).unwrap();
        assert_eq!(
            prod.render(),
            "DB_HOST=prod-db.internal\nDB_PORT=5432\nDB_NAME=myapp_prod\nDB_PASSWORD=prod_password_789\nAPI_KEY=dev_key_abc123\nLOG_LEVEL=debug\nFEATURE_NEW_CHECKOUT=true\nFEATURE_DARK_MODE=false\nCACHE_TTL=300\n"
        );
    }

    #[test]
    fn overrides_and_deletes() {
        let mut f = Fixture::new();
        f.shared = GlobSet::new(vec!["DB_HOST".into()]);
        f.pinned = GlobSet::new(vec!["CACHE_TTL".into(), "ONLY_PROD".into()]);
        let dev = Document::parse("DB_HOST=localhost\nCACHE_TTL=1\nCOMMIT_SHA=a\n").unwrap();
        let prod =
            Document::parse("DB_HOST=prod-db\nCACHE_TTL=2\nCOMMIT_SHA=b\nONLY_PROD=1\nOLD=x\n")
                .unwrap();
        let mut o = f.opts(Strategy::SourceWins);
        o.allow_delete = true;
        let p = plan(&dev, &prod, &o);
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].key, "DB_HOST");
        assert_eq!(p.kept[0].reason, KeepReason::Pinned);
        assert_eq!(
            p.delete.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
            ["OLD"]
        );
        assert_eq!(p.skipped, ["COMMIT_SHA", "ONLY_PROD"]);
        o.include_env_specific = true;
        let p = plan(&dev, &prod, &o);
        assert_eq!(p.update.len(), 2);
    }

    #[test]
    fn env_name_matching() {
        let w = env_words("prod");
        assert_eq!(names_env("myapp_PROD", &w), Some("prod"));
        assert_eq!(names_env("production-db", &w), Some("production"));
        assert_eq!(names_env("reproduce", &w), None);
        assert_eq!(names_env("localhost", &env_words("dev")), None);
        assert_eq!(
            names_env("DEV_password_123", &env_words("dev")),
            Some("dev")
        );
        assert_eq!(names_env("qa-db", &env_words("qa")), Some("qa"));
    }
}
