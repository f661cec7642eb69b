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
            let cells: Vec<Cell> = values
                .iter()
                .map(|v| match v {
                    None => Cell {
                        state: State::Missing,
                        shown: None,
                    },
                    Some(v) if crate::crypt::is_sealed(v) => Cell {
                        state: State::Sealed,
                        shown: Some("(encrypted)".to_owned()),
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
                        }
                    }
                })
                .collect();
            let drift = cells
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
    }
}
