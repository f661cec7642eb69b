//! Differential tests: envault's values equal dotenvy's on every input dotenvy accepts, and
//! every input envault accepts renders back byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use envault::dotenv::Document;
use proptest::prelude::*;

/// dotenvy's reading, or `None` when dotenvy rejects the input. dotenvy's iterator does not
/// skip a BOM (its `load` does), so the BOM is removed as `load` would.
fn dotenvy_values(src: &str) -> Option<Vec<(String, String)>> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    dotenvy::from_read_iter(src.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

fn envault_values(src: &str) -> Option<Vec<(String, String)>> {
    let doc = Document::parse(src).ok()?;
    assert_eq!(doc.render(), src, "render must give back the input");
    Some(
        doc.entries()
            .map(|e| (e.key().to_owned(), e.value().to_owned()))
            .collect(),
    )
}

fn check_against_dotenvy(src: &str) -> Result<(), TestCaseError> {
    let ours = envault_values(src);
    if let Some(theirs) = dotenvy_values(src) {
        prop_assert_eq!(ours, Some(theirs), "input {:?}", src);
    }
    Ok(())
}

#[test]
fn fixtures_match_dotenvy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dotenv");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "env") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let ours = envault_values(&src).unwrap_or_else(|| panic!("{} must parse", path.display()));
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("deviation-") {
            // Documented deviations carry their expected values beside them.
            let expected: BTreeMap<String, String> = serde_json::from_str(
                &std::fs::read_to_string(path.with_extension("json")).unwrap(),
            )
            .unwrap();
            let ours: BTreeMap<String, String> = ours.into_iter().collect();
            assert_eq!(ours, expected, "{name}");
        } else {
            let theirs = dotenvy_values(&src)
                .unwrap_or_else(|| panic!("dotenvy rejects fixture {name}; name it deviation-"));
            assert_eq!(ours, theirs, "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} fixtures found");
}

#[test]
fn tutorial_files_match_dotenvy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tutorial");
    for name in [".env.dev", ".env.staging", ".env.prod"] {
        let src = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(envault_values(&src), dotenvy_values(&src), "{name}");
    }
}

/// Characters weighted towards the ones the grammar cares about (no `$`: dotenvy expands it).
fn piece() -> impl Strategy<Value = &'static str> + Clone {
    prop_oneof![
        4 => Just("A"), 2 => Just("b"), 1 => Just("_"), 1 => Just("."), 1 => Just("9"),
        4 => Just("="), 3 => Just(" "), 1 => Just("\t"), 2 => Just("'"), 2 => Just("\""),
        2 => Just("\\"), 1 => Just("n"), 2 => Just("#"), 3 => Just("\n"), 1 => Just("\r\n"),
        1 => Just("\r"), 1 => Just("é"), 1 => Just("\u{a0}"), 1 => Just("`"),
        1 => Just("export "), 1 => Just("KEY="),
    ]
}

/// Lines shaped like entries, so that most inputs are accepted by both parsers.
fn entry_line() -> impl Strategy<Value = String> {
    let value = || prop::collection::vec(piece(), 0..8).prop_map(|p| p.concat());
    (
        prop_oneof![Just(""), Just("export "), Just("  ")],
        "[A-Za-z_][A-Za-z0-9_.]{0,6}",
        prop_oneof![Just("="), Just(" = "), Just("=  ")],
        prop_oneof![
            value(),
            value().prop_map(|v| format!("'{}'", v.replace('\'', ""))),
            value()
                .prop_map(|v| format!("\"{}\"", v.replace('"', "\\\"").replace("\\\\\"", "\\\""))),
        ],
        prop_oneof![Just(""), Just(" # note"), Just("#x"), Just("  ")],
        prop_oneof![Just("\n"), Just("\r\n"), Just("")],
    )
        .prop_map(|(p, k, eq, v, c, eol)| format!("{p}{k}{eq}{v}{c}{eol}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_text_matches_dotenvy(pieces in prop::collection::vec(piece(), 0..40)) {
        check_against_dotenvy(&pieces.concat())?;
    }

    #[test]
    fn entry_shaped_text_matches_dotenvy(lines in prop::collection::vec(entry_line(), 0..8)) {
        check_against_dotenvy(&lines.concat())?;
    }

    #[test]
    fn accepted_input_renders_identically(pieces in prop::collection::vec(piece(), 0..40)) {
        let src = pieces.concat();
        if let Ok(doc) = Document::parse(&src) {
            prop_assert_eq!(doc.render(), src);
        }
    }
}

#[test]
fn entry_shaped_inputs_are_mostly_accepted() {
    // Guards the generator: a differential test whose inputs dotenvy always rejects proves
    // nothing.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(entry_line(), 1..4);
    let mut accepted = 0;
    for _ in 0..1000 {
        let src = strategy.new_tree(&mut runner).unwrap().current().concat();
        if dotenvy_values(&src).is_some() {
            accepted += 1;
        }
    }
    assert!(
        accepted > 300,
        "dotenvy accepted only {accepted} of 1000 inputs"
    );
}

/// Files whose values reference earlier keys (`$ZQX0`, `${ZQX1}`) in every quoting context.
fn expanding_file() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-z0-9]{1,3}",
        2 => (0..4usize).prop_map(|i| format!("$ZQX{i}")),
        2 => (0..4usize).prop_map(|i| format!("${{ZQX{i}}}")),
        1 => Just("\\$".to_string()),
        1 => Just("$".to_string()),
        1 => Just("_".to_string()),
        1 => Just("-".to_string()),
    ];
    let value = prop::collection::vec(piece, 0..5).prop_map(|p| p.concat());
    let styled = prop_oneof![
        value.clone(),
        value.clone().prop_map(|v| format!("\"{v}\"")),
        value.prop_map(|v| format!("'{}'", v.replace("\\$", "$"))),
    ];
    prop::collection::vec(styled, 1..5).prop_map(|values| {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("ZQX{i}={v}\n"))
            .collect::<String>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// dotenvy's reading of `$` (kept to warn where an app reading with dotenvy sees something
    /// else) equals dotenvy's wherever dotenvy accepts the file.
    #[test]
    fn expansion_matches_dotenvy(src in expanding_file()) {
        let Some(theirs) = dotenvy_values(&src) else { return Ok(()); };
        let doc = Document::parse(&src).expect("envault reads what dotenvy reads");
        let mut ours = Vec::new();
        envault::dotenv::expand::expand_document(
            &doc,
            &|_| None,
            &mut ours,
            (envault::dotenv::expand::Style::Dotenvy, envault::dotenv::expand::Precedence::Process),
        )
        .unwrap();
        prop_assert_eq!(ours, theirs, "input {:?}", src);
    }
}
