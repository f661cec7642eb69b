//! envault's written values against the real python-dotenv and node dotenv readers.
//!
//! The readers are installed by `scripts/install-peers` (run by `scripts/test`). A missing
//! reader fails these tests with the command that installs it; nothing is skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use envault::dotenv::{Dialect, Document, Peer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

type Values = BTreeMap<String, Option<String>>;

fn peers_dir() -> PathBuf {
    crate::common::peer("node/node_modules/dotenv/package.json", "node's dotenv");
    crate::common::peer("venv/bin/python", "python-dotenv's venv");
    crate::common::peers_dir()
}

fn run_json(cmd: &mut Command) -> Values {
    let out = cmd.output().expect("peer reader runs");
    assert!(
        out.status.success(),
        "peer reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer reader prints JSON")
}

fn python_reads(path: &Path) -> Values {
    let dir = peers_dir();
    run_json(
        Command::new(dir.join("venv/bin/python"))
            .arg("-c")
            .arg("import json, sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1], interpolate=False)))")
            .arg(path),
    )
}

fn node_reads(path: &Path) -> Values {
    let dir = peers_dir();
    run_json(
        Command::new("node")
            .arg("-e")
            .arg("const d = require(process.argv[1]); process.stdout.write(JSON.stringify(d.parse(require('fs').readFileSync(process.argv[2]))))")
            .arg(dir.join("node/node_modules/dotenv"))
            .arg(path),
    )
}

fn dotenvy_reads(text: &str) -> Values {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.map(|(k, v)| (k, Some(v))))
        .collect::<Result<_, _>>()
        .expect("dotenvy reads what envault writes")
}

/// Writes every value through `Document::set` (on an entry of `style`) into one file, then
/// checks each reader against the writer's claim: dotenvy always reads the value back, and
/// python-dotenv / node dotenv / phpdotenv / the Ruby gem do whenever the writer did not name
/// them. (A named reader may still happen to agree: some misreadings depend on what follows in
/// the file.) phpdotenv and the gem refuse a whole file for one bad line, so each written line
/// is also read by them in a file of its own.
fn check_written(values: &[String], style_seed: &str) {
    let mut src = String::new();
    for i in 0..values.len() {
        src.push_str(&format!("K{i}={style_seed}\n"));
    }
    let mut doc = Document::parse(&src).unwrap();
    let mut claims = Vec::new();
    for (i, v) in values.iter().enumerate() {
        claims.push(doc.set(&format!("K{i}"), v).unwrap());
    }
    let text = doc.render();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, &text).unwrap();
    let (dotenvy, python, node) = (dotenvy_reads(&text), python_reads(&path), node_reads(&path));
    let lines: Vec<String> = (0..values.len())
        .map(|i| doc.entry(&format!("K{i}")).unwrap().raw().to_owned())
        .collect();
    let files = line_files(dir.path(), &lines);
    // The gem as apps run it: variable substitution on (`\$` is an escaped `$`), commands off.
    let (php, ruby) = php_ruby_read(&files, "[Dotenv::Substitutions::Variable]");
    let mut warned = 0;
    for (i, v) in values.iter().enumerate() {
        let key = format!("K{i}");
        let written = doc.entry(&key).unwrap().raw_value().to_owned();
        let want = Some(v.clone());
        assert_eq!(
            dotenvy.get(&key),
            Some(&want),
            "dotenvy, value {v:?} written as {written}"
        );
        for (peer, got) in [(Peer::PythonDotenv, &python), (Peer::NodeDotenv, &node)] {
            if !claims[i].contains(&peer) {
                assert_eq!(
                    got.get(&key),
                    Some(&want),
                    "{peer}: value {v:?} written as {written}; the writer claimed it reads the same"
                );
            } else {
                warned += 1;
            }
        }
        for (peer, got) in [(Peer::Php, &php[i]), (Peer::Ruby, &ruby[i])] {
            if !claims[i].contains(&peer) {
                assert_eq!(
                    got.get(&key),
                    Some(&serde_json::json!(v)),
                    "{peer}: value {v:?} written as {written}; the writer claimed it reads the same"
                );
            }
        }
    }
    // The warning is for the few values no quoting can carry, not a blanket excuse.
    assert!(
        warned * 4 < values.len() * 2,
        "{warned} warnings for {} values",
        values.len()
    );
}

const TRICKY: &[&str] = &[
    "",
    "plain",
    "two words",
    " lead",
    "trail ",
    "it's",
    "say \"hi\"",
    "$HOME",
    "${HOME}/x",
    "a\\b",
    "\\",
    "ends\\",
    "#hash",
    "a #b",
    "a#b",
    "multi\nline",
    "tab\tin",
    "ünïcödé",
    "`tick`",
    "'",
    "\"",
    "\\n literal",
    "it's $5",
    "both ' and \"",
    "cr\r\nlf",
    "=eq",
    "a=b",
    "  ",
    "x'y'z",
    "C:\\Program Files\\x",
    "\\\\double",
    "$",
    "#",
    "postgres://u:p@h:5432/db?ssl=true",
];

#[test]
fn tricky_values_are_written_readably() {
    let values: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
    for seed in ["x", "'x'", "\"x\""] {
        check_written(&values, seed);
    }
}

#[test]
fn random_values_are_written_readably() {
    let chars = prop::collection::vec(
        prop_oneof![
            6 => "[a-zA-Z0-9]",
            1 => Just(" ".to_string()), 1 => Just("'".to_string()), 1 => Just("\"".to_string()),
            1 => Just("\\".to_string()), 1 => Just("$".to_string()), 1 => Just("#".to_string()),
            1 => Just("\n".to_string()), 1 => Just("`".to_string()), 1 => Just("\t".to_string()),
            1 => Just("=".to_string()), 1 => Just("é".to_string()), 1 => Just("{".to_string()),
        ],
        0..12,
    )
    .prop_map(|v| v.concat());
    let mut runner = TestRunner::deterministic();
    let values: Vec<String> = (0..600)
        .map(|_| chars.new_tree(&mut runner).unwrap().current())
        .collect();
    for seed in ["x", "'x'", "\"x\""] {
        check_written(&values, seed);
    }
}

/// Each documented difference between the readers (docs/dotenv-dialect.md) is held against
/// the real readers: fixtures/peers/differences.json lists what each one reads.
#[test]
fn documented_reader_differences_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/peers");
    let path = dir.join("differences.env");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = Document::parse(&text).unwrap();
    // Per key, what each reader reads ("default" for the others); `false` means the reader
    // drops the entry.
    let expected: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("differences.json")).unwrap())
            .unwrap();
    let ours: Values = doc
        .entries()
        .map(|e| (e.key().to_owned(), Some(e.value().to_owned())))
        .collect();
    let readers = [
        ("envault", ours),
        ("dotenvy", dotenvy_reads(&text)),
        ("python-dotenv", python_reads(&path)),
        ("node dotenv", node_reads(&path)),
    ];
    for (key, per_reader) in &expected {
        for (reader, got) in &readers {
            let want = match per_reader
                .get(*reader)
                .or_else(|| per_reader.get("default"))
            {
                Some(serde_json::Value::String(s)) => Some(Some(s.clone())),
                Some(serde_json::Value::Null) => Some(None),
                _ => None,
            };
            assert_eq!(
                got.get(key),
                want.as_ref(),
                "{reader} reading {key} differs from differences.json"
            );
        }
    }
    assert_eq!(
        expected.len(),
        doc.to_map().len(),
        "every key is documented"
    );
}

/// Files of 1 to 5 generated lines, each key once (node's dotenv keeps a repeated key's last
/// value before expanding).
fn files_of(line: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(line, 1..6).prop_map(|lines| {
        let mut seen = std::collections::HashSet::new();
        lines
            .into_iter()
            .filter(|l| seen.insert(l.split('=').next().unwrap().to_owned()))
            .collect::<String>()
    })
}

/// The process environment the expansion tests give the program.
fn process_env() -> BTreeMap<&'static str, &'static str> {
    [("HOME", "/home/dev"), ("B1", "from-process")].into()
}

/// What node's dotenv-expand gives a program for `path`, with `env` as the process
/// environment (which wins over the file, as in `envault run`).
fn node_expands(path: &Path, env: &BTreeMap<&str, &str>) -> Values {
    let dir = peers_dir();
    crate::common::peer(
        "node/node_modules/dotenv-expand/package.json",
        "node's dotenv-expand",
    );
    run_json(
        Command::new("node")
            .arg("-e")
            .arg("const d = require(process.argv[1]); const {expand} = require(process.argv[2]); const parsed = d.parse(require('fs').readFileSync(process.argv[3])); process.stdout.write(JSON.stringify(expand({parsed, processEnv: JSON.parse(process.argv[4])}).parsed))")
            .arg(dir.join("node/node_modules/dotenv"))
            .arg(dir.join("node/node_modules/dotenv-expand"))
            .arg(path)
            .arg(serde_json::to_string(env).unwrap()),
    )
}

/// `envault run` expands `$NAME`, `${NAME}` and `${NAME:-default}` as node's dotenv-expand
/// does (names read as shells read them), on generated files of references to each other and
/// to the process environment.
#[test]
fn run_expands_as_dotenv_expand() {
    use envault::dotenv::expand::{expand_document, Precedence, Style};
    let names = ["A", "A_B", "DB_USER", "_U", "B1", "HOME", "UNSET"];
    let name = || prop::sample::select(names.to_vec());
    let piece = prop_oneof![
        3 => "[a-z0-9/:.@-]{1,4}",
        2 => name().prop_map(|n| format!("${n}")),
        2 => name().prop_map(|n| format!("${{{n}}}")),
        1 => (name(), "[a-z0-9]{0,3}").prop_map(|(n, d)| format!("${{{n}:-{d}}}")),
    ];
    let value = prop::collection::vec(piece, 1..5).prop_map(|p| p.concat());
    let line = (
        prop::sample::select(names[..5].to_vec()),
        value,
        any::<bool>(),
    )
        .prop_map(|(k, v, quoted)| {
            if quoted {
                format!("{k}=\"{v}\"\n")
            } else {
                format!("{k}={v}\n")
            }
        });
    let file = files_of(line);
    let env = process_env();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::deterministic();
    for case in 0..60 {
        let text = file.new_tree(&mut runner).unwrap().current();
        let path = dir.path().join(format!("case{case}.env"));
        std::fs::write(&path, &text).unwrap();
        let doc = Document::parse(&text).unwrap();
        let mut values = Vec::new();
        let process = |n: &str| env.get(n).map(|v| (*v).to_owned());
        expand_document(
            &doc,
            &process,
            &mut values,
            (Style::Shell, Precedence::Process),
        )
        .unwrap();
        // What the program is given: the process's own values win.
        let ours: Values = values
            .into_iter()
            .map(|(k, v)| {
                let given = env.get(k.as_str()).map_or(v, |p| (*p).to_owned());
                (k, Some(given))
            })
            .collect();
        assert_eq!(ours, node_expands(&path, &env), "reading {text:?}");
    }
}

/// Each of `files` read by a peer in one run: a JSON array of objects.
fn peer_reads_each(program: &str, script: &str, files: &[PathBuf]) -> Vec<Values> {
    let dir = peers_dir();
    let mut cmd = if program == "python" {
        let mut c = Command::new(dir.join("venv/bin/python"));
        c.arg("-c").arg(script);
        c
    } else {
        let mut c = Command::new("node");
        c.arg("-e")
            .arg(script)
            .arg(dir.join("node/node_modules/dotenv"));
        c
    };
    let out = cmd.args(files).output().expect("peer reader runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer reader prints JSON")
}

/// Lines built from the constructs real files hold (spaces, quotes, escapes, comments, bare
/// keys, `//`, references), after the real-world lines that started it.
fn generated_lines(n: usize) -> Vec<String> {
    let piece = prop_oneof![
        4 => "[A-Za-z0-9_./:-]{1,6}",
        2 => Just(" ".to_owned()),
        1 => Just("\t".to_owned()),
        1 => prop::sample::select(vec!["'", "\"", "`", "\\", "#", " #", "=", ":", "\\'", "\\\"", "\\n", "\\C", "//", "$"])
            .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["\\$", "${", "}", "\\t", "\\f", "\\\\", "$(", ")", "\u{b}"])
            .prop_map(str::to_owned),
    ];
    let value = prop::collection::vec(piece, 0..7).prop_map(|p| p.concat());
    let line = (
        prop::sample::select(vec!["", "export ", "  ", "export  "]),
        "[A-Z][A-Z0-9_]{0,6}",
        prop::sample::select(vec!["=", " = ", ": ", ":", " ", ""]),
        value,
    )
        .prop_map(|(pre, k, sep, v)| format!("{pre}{k}{sep}{v}"));
    let seeds = [
        "OIDC_DISPLAY_NAME=OpenID Connect",
        "// Vite reads VITE_ variables",
        "FEATURE_FLAG",
        r#"CACHE_ADAPTER="Symfony\Component\Cache\Adapter""#,
        r"GREETING='it\'s'",
        "DJANGO_SECRET_KEY=!!!SET DJANGO_SECRET_KEY!!!",
        "export APP_ENV=production",
        "export DB=1",
        r#"MAIL_FROM_NAME="${APP_NAME}""#,
        "SMTP_HOST: mail.example.com",
        "\u{a0}NBSP_INDENTED=1",
        "\u{a0}\u{a0}export NBSP_EXPORTED=1",
    ];
    seeds_then_generated(&seeds, line, n)
}

/// `seeds`, then `n` values of `strategy`, drawn the same way on every run.
fn seeds_then_generated(
    seeds: &[&str],
    strategy: impl Strategy<Value = String>,
    n: usize,
) -> Vec<String> {
    let mut runner = TestRunner::deterministic();
    let mut out: Vec<String> = seeds.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..n {
        out.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    out
}

/// Each line in a file of its own.
fn line_files(dir: &Path, lines: &[String]) -> Vec<PathBuf> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = dir.join(format!("l{i}.env"));
            std::fs::write(&p, format!("{l}\n")).unwrap();
            p
        })
        .collect()
}

/// What `dialect`'s reader gives an app for a file of one line, as envault reads the file.
fn read_under(dialect: Dialect, line: &str) -> Values {
    let mut doc = Document::read(format!("{line}\n").into_bytes()).unwrap();
    doc.apply_dialect(dialect);
    doc.to_map()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
        .collect()
}

/// A peer's values without its bare keys (envault holds values only).
fn with_values(theirs: &Values) -> Values {
    theirs
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How node's dotenv and python-dotenv read a line that dotenvy refuses, as envault tells
/// the user in its warning, equals what the real readers read, on generated lines built from
/// the constructs real files hold (spaces, quotes, escapes, comments, bare keys, `//`).
#[test]
fn line_readers_match_node_and_python() {
    use envault::dotenv::readers::{node_line, python_line};
    let dir = tempfile::tempdir().unwrap();
    let lines = generated_lines(400);
    let files = line_files(dir.path(), &lines);
    let (python, node) = python_node_read_each(&files);
    for (i, l) in lines.iter().enumerate() {
        let ours_node: Values = node_line(l)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        assert_eq!(ours_node, node[i], "node's dotenv reading {l:?}");
        let ours_python: Values = python_line(l).into_iter().collect();
        assert_eq!(ours_python, python[i], "python-dotenv reading {l:?}");
        // A file read under `dialect:` holds what that reader reads (a bare key has no value
        // to hold), wherever dotenvy reads the line or refuses it.
        for (dialect, theirs) in [
            (Dialect::Node, &node[i]),
            (Dialect::PythonDotenv, &python[i]),
        ] {
            let (ours, theirs) = (read_under(dialect, l), with_values(theirs));
            assert_eq!(ours, theirs, "dialect {dialect} reading {l:?}");
        }
    }
}

/// python-dotenv's (`dotenv_values`, without interpolation) and node's dotenv's (`parse`)
/// reading of each file.
fn python_node_read_each(files: &[PathBuf]) -> (Vec<Values>, Vec<Values>) {
    let python = peer_reads_each(
        "python",
        "import json, sys, logging\nlogging.disable(logging.CRITICAL)\nfrom dotenv import dotenv_values\nprint(json.dumps([dotenv_values(p, interpolate=False) for p in sys.argv[1:]]))",
        files,
    );
    let node = peer_reads_each(
        "node",
        "const d = require(process.argv[1]); const fs = require('fs'); process.stdout.write(JSON.stringify(process.argv.slice(2).map(p => d.parse(fs.readFileSync(p)))))",
        files,
    );
    (python, node)
}

/// phpdotenv's and the Ruby gem's reading of each file: its entries, or `"refused"` where the
/// reader throws (the app does not start).
fn php_ruby_read_each(files: &[PathBuf]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    php_ruby_read(files, "[]")
}

/// As [`php_ruby_read_each`], with the gem's substitutions given as a Ruby array (`[]`: none).
fn php_ruby_read(
    files: &[PathBuf],
    substitutions: &str,
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let autoload = "/usr/share/php/Dotenv/autoload.php";
    assert!(
        Path::new(autoload).exists(),
        "phpdotenv is not installed at {autoload}: run scripts/install-peers (scripts/test does)"
    );
    let php = crate::common::run_ok(
        Command::new("php")
            .arg("-r")
            .arg(format!(
                r#"require '{autoload}';
$out = [];
foreach (array_slice($argv, 1) as $p) {{
  try {{
    $m = new stdClass;
    foreach ((new Dotenv\Parser\Parser())->parse(file_get_contents($p)) as $e) {{
      $v = $e->getValue();
      $m->{{$e->getName()}} = $v->isDefined() ? $v->get()->getChars() : null;
    }}
    $out[] = $m;
  }} catch (Dotenv\Exception\InvalidFileException $x) {{ $out[] = "refused"; }}
}}
echo json_encode($out);"#
            ))
            .arg("--")
            .args(files),
    );
    let ruby = crate::common::run_ok(
        Command::new("ruby")
            .arg("-e")
            .arg(format!(
                r#"require 'dotenv'; require 'json'
Dotenv::Parser.instance_variable_set(:@substitutions, {substitutions})
out = ARGV.map do |p|
  begin
    Dotenv::Parser.call(File.open(p, "rb:bom|utf-8", &:read))
  rescue Dotenv::FormatError
    "refused"
  end
end
print JSON.generate(out)"#
            ))
            .args(files),
    );
    (
        serde_json::from_str(&php).expect("php prints JSON"),
        serde_json::from_str(&ruby).expect("ruby prints JSON"),
    )
}

/// envault's models of phpdotenv (vlucas/phpdotenv 5) and the Ruby dotenv gem read each
/// generated line as the real readers do, refusals included; and a file read under `dialect:
/// php` or `dialect: ruby` holds what that reader gives the app.
#[test]
fn line_readers_match_php_and_ruby() {
    use envault::dotenv::readers::{php_line, ruby_line};
    let dir = tempfile::tempdir().unwrap();
    let lines = generated_lines(600);
    let files = line_files(dir.path(), &lines);
    let (php, ruby) = php_ruby_read_each(&files);
    let refused = serde_json::Value::from("refused");
    let mut refusals = 0;
    for (i, l) in lines.iter().enumerate() {
        let ours_php = match php_line(l) {
            Err(_) => refused.clone(),
            Ok(r) => serde_json::json!(r.into_iter().collect::<Values>()),
        };
        assert_eq!(ours_php, php[i], "phpdotenv reading {l:?}");
        let ours_ruby = match ruby_line(l) {
            Err(_) => refused.clone(),
            Ok(r) => serde_json::json!(r
                .into_iter()
                .map(|(k, v, _)| (k, v))
                .collect::<BTreeMap<_, _>>()),
        };
        assert_eq!(ours_ruby, ruby[i], "ruby dotenv reading {l:?}");
        for (dialect, theirs) in [(Dialect::Php, &php[i]), (Dialect::Ruby, &ruby[i])] {
            if *theirs == refused {
                refusals += 1;
                continue;
            }
            let theirs: Values = serde_json::from_value(theirs.clone()).unwrap();
            let (ours, theirs) = (read_under(dialect, l), with_values(&theirs));
            assert_eq!(ours, theirs, "dialect {dialect} reading {l:?}");
        }
    }
    // Refusals are compared above; most lines are also read as a file.
    assert!(
        refusals < lines.len(),
        "{refusals} of {} refused",
        lines.len()
    );
}

/// `envault run` under `dialect: php` and `dialect: ruby` gives what phpdotenv
/// (`Dotenv::parse`) and the Ruby gem (`Dotenv::Parser` with its `$NAME` substitution) give,
/// on generated files of references to each other and, for Ruby, to the process environment.
#[test]
fn run_expands_as_php_and_ruby() {
    use envault::dotenv::expand::{expand_document, Precedence};
    let names = ["A", "A_B", "DB_USER", "B1", "HOME", "UNSET", "X.Y"];
    let name = || prop::sample::select(names.to_vec());
    let piece = prop_oneof![
        3 => "[a-z0-9/:.@-]{1,4}",
        2 => name().prop_map(|n| format!("${n}")),
        2 => name().prop_map(|n| format!("${{{n}}}")),
        1 => name().prop_map(|n| format!("\\${{{n}}}")),
        1 => name().prop_map(|n| format!("\\${n}")),
        1 => prop::sample::select(vec!["$", "${", "}", "$}", "${}"]).prop_map(str::to_owned),
        // A reference whose name is another's value: phpdotenv resolves the inner one first.
        1 => name().prop_map(|n| format!("${{${{{n}}}}}")),
        1 => name().prop_map(str::to_owned),
    ];
    let value = prop::collection::vec(piece, 1..5).prop_map(|p| p.concat());
    let line = (
        prop::sample::select(names[..4].to_vec()),
        value,
        prop::sample::select(vec!["", "\"", "'"]),
    )
        .prop_map(|(k, v, q)| format!("{k}={q}{v}{q}\n"));
    let file = files_of(line);
    let env = process_env();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::deterministic();
    let seeds = [
        "B1=A\nA=x\nDB_USER=${${B1}}\nA_B=\"${${B1}}-${B1}\"\n",
        "B1=UNSET\nA=${${B1}}\n",
        "B1=A_B\nA_B=${HOME}\nA=\"${${B1}}${${B1}}\"\n",
    ];
    let texts: Vec<String> = seeds
        .iter()
        .map(|s| (*s).to_owned())
        .chain((0..300).map(|_| file.new_tree(&mut runner).unwrap().current()))
        .collect();
    let files = line_files(dir.path(), &texts);
    let php: Vec<serde_json::Value> = serde_json::from_str(&crate::common::run_ok(
        Command::new("php")
            .arg("-r")
            .arg(
                r#"require '/usr/share/php/Dotenv/autoload.php';
$out = [];
foreach (array_slice($argv, 1) as $p) {
  try { $out[] = (object) Dotenv\Dotenv::parse(file_get_contents($p)); }
  catch (Dotenv\Exception\InvalidFileException $x) { $out[] = "refused"; }
}
echo json_encode($out);"#,
            )
            .arg("--")
            .args(&files),
    ))
    .unwrap();
    let ruby: Vec<serde_json::Value> = serde_json::from_str(&crate::common::run_ok(
        Command::new("/usr/bin/ruby")
            .env_clear()
            .envs(&env)
            .arg("-e")
            .arg(
                r#"require 'dotenv'; require 'json'
Dotenv::Parser.instance_variable_set(:@substitutions, [Dotenv::Substitutions::Variable])
print JSON.generate(ARGV.map { |p| Dotenv::Parser.call(File.read(p), true) })"#,
            )
            .args(&files),
    ))
    .unwrap();
    let mut compared = BTreeMap::new();
    for (i, text) in texts.iter().enumerate() {
        for (dialect, theirs, process) in [
            (Dialect::Php, &php[i], BTreeMap::new()),
            (Dialect::Ruby, &ruby[i], env.clone()),
        ] {
            if *theirs == "refused" {
                continue;
            }
            *compared.entry(dialect.to_string()).or_insert(0) += 1;
            let mut doc = Document::read(text.clone().into_bytes()).unwrap();
            doc.apply_dialect(dialect);
            let mut values = Vec::new();
            let lookup = |n: &str| process.get(n).map(|v| (*v).to_owned());
            expand_document(
                &doc,
                &lookup,
                &mut values,
                (dialect.expansion(), Precedence::Process),
            )
            .unwrap();
            let ours = serde_json::json!(values.into_iter().collect::<BTreeMap<_, _>>());
            assert_eq!(&ours, theirs, "dialect {dialect} running {text:?}");
        }
    }
    // Most files are compared (phpdotenv refuses some: a `\` before `$` in double quotes).
    assert!(
        compared.values().all(|n| *n > 200) && compared.len() == 2,
        "{compared:?}"
    );
}

/// Files with a quoted value that spans lines, between one-line entries: escapes, quotes of
/// the other kind, comments, `KEY=` lines and CRLF line endings inside, a comment after.
fn multiline_files(n: usize) -> Vec<String> {
    let piece = prop::sample::select(vec![
        "word",
        "two words",
        " ",
        "\n",
        "\n",
        "\r\n",
        "\\n",
        "\\\"",
        "\\'",
        "\\\\",
        "#",
        " # x",
        "$HOME",
        "B=2",
        "\nC=3\n",
        "'",
        "\"",
        "\\C",
        "é",
        "\r",
        "\rD=4",
    ]);
    let body = prop::collection::vec(piece, 1..6).prop_map(|p| p.concat());
    let file = (
        prop::sample::select(vec!["", "export "]),
        prop::sample::select(vec!['"', '\'']),
        body,
        prop::sample::select(vec!["", " # note", "x"]),
        prop::sample::select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(pre, q, body, tail, eol)| {
            let body = if body.contains('\n') {
                body
            } else {
                format!("{body}\n")
            };
            format!("FIRST=1{eol}{pre}MULTI={q}{body}{q}{tail}{eol}LAST=2{eol}")
        });
    let seeds = [
        "A=\"\nB=2\n\"\nC=3\n",
        "A='line1\nline2'\nB=2\n",
        "A=\"x\r\ny\"\r\nB=2\r\n",
        "A=\"x\\\"\ny\"\nB=2\n",
        "A=\"x\n# not a comment\ny\" # a comment\nB=2\n",
        // A lone CR ends a line for every other reader.
        "B=x y\rC=2\n",
        "export A=1\rexport B=2\n",
        "#\rA=1\n",
        "A=1\rB=2\n",
        "B= #\rZ=9\n",
        // A bare key clears the key for python-dotenv and phpdotenv, unless set again below.
        "A=1\nA\nB=2\n",
        "A=1\nexport A\nB=2\n",
        "A=1\nA\nA=3\n",
        "A=1\nB\nB=2\nB\n",
        // The Ruby gem skips a line indented with a no-break space; phpdotenv refuses it.
        "\u{a0}A=1\nB=2\n",
        "A=0\n\u{a0}A=1\nB=2\n",
        // phpdotenv drops a line dotenvy refuses inside a value it never sees closing.
        "Q=\"\nA=C:\\temp\n",
        "A=1\nB=\"x\ny\"z\nA\n",
        // With lone-CR line endings the bare key still clears the key.
        "A=old\rA\rB=2\r",
        "A=1\r\nA\r\nB=2\r\n",
    ];
    seeds_then_generated(&seeds, file, n)
}

/// Under `dialect:`, a value that spans lines is what that reader reads, wherever dotenvy
/// reads the file: node's dotenv and python-dotenv (which also read CRLF inside as LF),
/// phpdotenv (double quotes only, joined by its own count of quotes, which may run on to the
/// end of the file and drop the keys there) and the Ruby gem (which reads each physical line
/// on its own).
#[test]
fn multiline_values_read_as_each_dialects_reader() {
    let dir = tempfile::tempdir().unwrap();
    let texts = multiline_files(300);
    let files: Vec<PathBuf> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = dir.path().join(format!("m{i}.env"));
            std::fs::write(&p, t).unwrap();
            p
        })
        .collect();
    let (python, node) = python_node_read_each(&files);
    let (php, ruby) = php_ruby_read_each(&files);
    let refused = serde_json::Value::from("refused");
    let mut compared = 0;
    for (i, text) in texts.iter().enumerate() {
        let Ok(doc) = Document::read(text.clone().into_bytes()) else {
            continue;
        };
        let theirs = [
            (Dialect::Node, serde_json::json!(node[i])),
            (Dialect::PythonDotenv, serde_json::json!(python[i])),
            (Dialect::Php, php[i].clone()),
            (Dialect::Ruby, ruby[i].clone()),
        ];
        for (dialect, theirs) in theirs {
            if theirs == refused {
                continue;
            }
            let theirs: Values = serde_json::from_value(theirs).unwrap();
            let mut doc = doc.clone();
            doc.apply_dialect(dialect);
            let ours: Values = doc
                .to_map()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
                .collect();
            assert_eq!(
                ours,
                with_values(&theirs),
                "dialect {dialect} reading {text:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 600, "{compared} readings compared");
}
