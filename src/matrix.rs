//! The team view: which key exists in which environment, and whether its values agree. A value
//! model the terminal, HTML and JSON renderers share.

use crate::classify::Classifier;
use crate::dotenv::Document;

/// One cell's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The environment lacks the key.
    Missing,
    /// The value equals another environment's.
    Same,
    /// The value differs from every other environment's.
    Differs,
    /// Only this environment has the key.
    Only,
    /// Sealed and not opened: not compared.
    Sealed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Same => "same",
            State::Differs => "differs",
            State::Only => "only",
            State::Sealed => "encrypted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub state: State,
    /// The value as shown (masked for secrets unless asked); `None` when missing.
    pub shown: Option<String>,
    /// Which of the row's values this is (0 for the first distinct value met, 1 for the next…),
    /// when the row holds more than one: cells with the same number agree. `None` when the row
    /// has one value only, or the cell is missing or sealed.
    pub value_group: Option<usize>,
}

/// The letter naming value group `n` in the terminal and HTML: `A`, `B`…, then `Z`.
pub fn group_letter(n: usize) -> char {
    char::from(b'A' + u8::try_from(n.min(25)).unwrap_or(25))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    /// The key's prefix (`DB` for `DB_HOST`), for grouping.
    pub group: String,
    pub secret: bool,
    /// Missing somewhere, or values that differ.
    pub drift: bool,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub envs: Vec<String>,
    pub rows: Vec<Row>,
}

pub fn group_of(key: &str) -> String {
    match key.split_once('_') {
        Some((g, _)) if !g.is_empty() => g.to_owned(),
        _ => "(other)".to_owned(),
    }
}

/// The matrix of `envs` (name, document with values opened where possible). Rows are grouped
/// by prefix, groups and keys in the order they first appear.
pub fn build(envs: &[(&str, &Document)], classifier: &Classifier, show_secrets: bool) -> Matrix {
    let maps: Vec<_> = envs.iter().map(|(_, d)| d.to_map()).collect();
    let mut keys: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, d) in envs {
        for e in d.entries() {
            if seen.insert(e.key()) {
                keys.push(e.key());
            }
        }
    }
    let mut groups: Vec<String> = Vec::new();
    for k in &keys {
        let g = group_of(k);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut rows = Vec::with_capacity(keys.len());
    for g in &groups {
        for k in keys.iter().filter(|k| group_of(k) == *g) {
            let values: Vec<Option<&str>> = maps.iter().map(|m| m.get(k).copied()).collect();
            let present: Vec<&str> = values.iter().flatten().copied().collect();
            let secret = classifier.masks(k, &present);
            // The row's distinct values (sealed ones are not compared), in order of appearance.
            let mut distinct: Vec<&str> = Vec::new();
            for v in present.iter().filter(|v| !crate::crypt::is_sealed(v)) {
                if !distinct.contains(v) {
                    distinct.push(v);
                }
            }
            let group_of_value = |v: &str| {
                (distinct.len() > 1)
                    .then(|| distinct.iter().position(|d| *d == v))
                    .flatten()
            };
            let cells: Vec<Cell> = values
                .iter()
                .map(|v| match v {
                    None => Cell {
                        state: State::Missing,
                        shown: None,
                        value_group: None,
                    },
                    Some(v) if crate::crypt::is_sealed(v) => Cell {
                        state: State::Sealed,
                        shown: Some("(encrypted)".to_owned()),
                        value_group: None,
                    },
                    Some(v) => {
                        let others = values.iter().flatten().filter(|o| *o == v).count();
                        let state = if present.len() == 1 {
                            State::Only
                        } else if others > 1 {
                            State::Same
                        } else {
                            State::Differs
                        };
                        let shown = if secret && !show_secrets {
                            crate::dotenv::MASK.to_owned()
                        } else {
                            (*v).to_owned()
                        };
                        Cell {
                            state,
                            shown: Some(shown),
                            value_group: group_of_value(v),
                        }
                    }
                })
                .collect();
            // Two groups that agree within themselves (dev = test, prod = prod-eu) are drift
            // too, though every cell equals another.
            let drift = distinct.len() > 1
                || cells
                    .iter()
                    .any(|c| matches!(c.state, State::Missing | State::Differs | State::Only));
            rows.push(Row {
                key: (*k).to_owned(),
                group: g.clone(),
                secret,
                drift,
                cells,
            });
        }
    }
    Matrix {
        envs: envs.iter().map(|(n, _)| (*n).to_owned()).collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_groups() {
        let dev =
            Document::parse("DB_HOST=localhost\nDB_PASSWORD=a\nLOG_LEVEL=debug\nX=1\n").unwrap();
        let stg = Document::parse("DB_HOST=stg\nDB_PASSWORD=b\nLOG_LEVEL=debug\n").unwrap();
        let prd = Document::parse("DB_HOST=prd\nLOG_LEVEL=warn\nDB_PORT=5432\n").unwrap();
        let m = build(
            &[("dev", &dev), ("staging", &stg), ("prod", &prd)],
            &Classifier::default(),
            false,
        );
        let row = |k: &str| m.rows.iter().find(|r| r.key == k).unwrap();
        let states = |k: &str| row(k).cells.iter().map(|c| c.state).collect::<Vec<_>>();
        assert_eq!(
            states("LOG_LEVEL"),
            [State::Same, State::Same, State::Differs]
        );
        assert_eq!(
            states("DB_PASSWORD"),
            [State::Differs, State::Differs, State::Missing]
        );
        assert_eq!(
            states("DB_PORT"),
            [State::Missing, State::Missing, State::Only]
        );
        assert_eq!(row("DB_PASSWORD").cells[0].shown.as_deref(), Some("••••••"));
        let order: Vec<&str> = m.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            order,
            ["DB_HOST", "DB_PASSWORD", "DB_PORT", "LOG_LEVEL", "X"]
        );
        assert!(row("DB_HOST").drift);
        assert_eq!(
            row("LOG_LEVEL")
                .cells
                .iter()
                .map(|c| c.value_group)
                .collect::<Vec<_>>(),
            [Some(0), Some(0), Some(1)]
        );
    }

    /// dev = test and prod = prod-eu: every cell equals another, yet the row drifts, and the
    /// cells say which agree with which.
    #[test]
    fn two_agreeing_groups_are_drift() {
        let docs: Vec<Document> = ["A=1\nB=x\n", "A=1\nB=x\n", "A=2\nB=x\n", "A=2\nB=x\n"]
            .iter()
            .map(|t| Document::parse(t).unwrap())
            .collect();
        let envs: Vec<(&str, &Document)> = ["dev", "test", "prod", "prod-eu"]
            .into_iter()
            .zip(&docs)
            .collect();
        let m = build(&envs, &Classifier::default(), false);
        let a = &m.rows[0];
        assert!(a.drift);
        assert!(a.cells.iter().all(|c| c.state == State::Same));
        let groups: Vec<_> = a.cells.iter().map(|c| c.value_group).collect();
        assert_eq!(groups, [Some(0), Some(0), Some(1), Some(1)]);
        let b = &m.rows[1];
        assert!(!b.drift);
        assert!(b.cells.iter().all(|c| c.value_group.is_none()));
        assert_eq!(
            (group_letter(0), group_letter(1), group_letter(40)),
            ('A', 'B', 'Z')
        );
    }
}
