use std::collections::HashMap;

use super::*;

#[derive(Default)]
struct Files {
    new: HashMap<String, String>,
    old: HashMap<String, String>,
}

impl Source for Files {
    fn new_file(&self, path: &str) -> Option<Vec<u8>> {
        self.new.get(path).map(|s| s.clone().into_bytes())
    }
    fn old_file(&self, path: &str) -> Option<Vec<u8>> {
        self.old.get(path).map(|s| s.clone().into_bytes())
    }
}

const CONFIG: &str =
    "environments:\n  dev: {file: .env.dev, encrypted: false}\n  prod: .env.prod\n";

/// Scans `staged` (path, text) against `head` (path, text), as a commit would.
fn scan_commit(head: &[(&str, &str)], staged: &[(&str, &str)]) -> Vec<Finding> {
    let mut files = Files::default();
    for (p, t) in head {
        files.old.insert((*p).into(), (*t).into());
        files.new.insert((*p).into(), (*t).into());
    }
    let mut changed = Vec::new();
    for (p, t) in staged {
        files.new.insert((*p).into(), (*t).into());
        changed.push(Changed {
            path: (*p).into(),
            new: t.as_bytes().to_vec(),
            old: files.old.get(*p).map(|s| s.clone().into_bytes()),
        });
    }
    let configs = files
        .new
        .keys()
        .filter(|p| base_name(p) == ".envault.yml")
        .cloned()
        .collect();
    let ids = Identities::empty();
    scan(&Input {
        changed,
        configs,
        source: &files,
        identities: &ids,
        whole_files: false,
        check_data_keys: true,
        baseline: None,
    })
    .unwrap()
}

fn rules(f: &[Finding]) -> Vec<(&str, usize, &str)> {
    f.iter()
        .map(|f| (f.path.as_str(), f.line, f.rule.id()))
        .collect()
}

#[test]
fn plaintext_secrets_in_configured_environments() {
    let f = scan_commit(
        &[],
        &[
            (".envault.yml", CONFIG),
            (".env.dev", "DB_PASSWORD=dev_password_123\n"),
            (
                ".env.prod",
                "DB_HOST=db\nDB_PASSWORD=prod_password_789\nLOG_LEVEL=warn\n",
            ),
        ],
    );
    assert_eq!(rules(&f), [(".env.prod", 2, "plaintext-secret")]);
    assert_eq!(f[0].redacted.as_deref(), Some("pr… (17 chars)"));
    assert!(f[0].fix.contains("envault encrypt prod"));
    // Nothing in any field holds the value.
    assert!(!format!("{f:?}").contains("prod_password_789"));
}

/// Found by a red-team: in an env file, a second credential on a line that already had one
/// was dropped, so allowing the first hid the second.
#[test]
fn two_credentials_on_one_env_line_are_two_findings() {
    let f = scan_commit(
        &[],
        &[(
            ".env.local",
            "TOKENS=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,AKIAIS5COUHFUMVGU6H4\n",
        )],
    );
    let mut ids: Vec<&str> = f.iter().map(|x| x.rule.id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["aws-access-key-id", "github-token"], "{f:?}");
}

/// A line the hook judges under every reading an app may give it: a secret that dotenvy
/// reads as an empty value (python-dotenv reads it), or on a line dotenvy refuses.
#[test]
fn every_reader_s_reading_is_judged() {
    let f = scan_commit(
        &[],
        &[
            (".envault.yml", CONFIG),
            (
                ".env.prod",
                "DB_HOST=db\nDB_PASSWORD= #Xk9pL2mQ7vR4zT8wBn3\nAPI_TOKEN=Wq7vR2tZ k9LmX4pB8sNc\n",
            ),
            (".env.local", "SIGNING_SECRET= #b8Vq2LmZ7xK4rT9wN3pH\n"),
        ],
    );
    assert_eq!(
        rules(&f),
        [
            (".env.local", 1, "env-file-secret"),
            (".env.prod", 2, "plaintext-secret"),
            (".env.prod", 3, "plaintext-secret"),
        ],
        "{f:?}"
    );
    assert!(!format!("{f:?}").contains("Xk9pL2mQ7vR4zT8wBn3"));
}

#[test]
fn encrypted_true_wants_every_value_sealed_but_plaintext_keys() {
    let config =
        "environments:\n  prod: {file: .env.prod, encrypted: true}\nplaintext_keys: [LOG_*]\n";
    let f = scan_commit(
        &[],
        &[
            (".envault.yml", config),
            (".env.prod", "DB_HOST=db\nLOG_LEVEL=warn\n"),
        ],
    );
    assert_eq!(rules(&f), [(".env.prod", 1, "unencrypted-value")]);
}

#[test]
fn env_files_outside_the_config() {
    let f = scan_commit(
        &[],
        &[
            (".env.local", "API_KEY=sk_abcdef123456\nDEBUG=1\n"),
            (
                ".env.example",
                "API_KEY=\nDB_PASSWORD=changeme\nSECRET=<your secret>\n",
            ),
        ],
    );
    assert_eq!(rules(&f), [(".env.local", 1, "env-file-secret")]);
}

#[test]
fn known_secrets_elsewhere_and_credential_formats() {
    let f = scan_commit(
        &[
            (".envault.yml", CONFIG),
            (".env.dev", "DB_PASSWORD=dev_password_123\n"),
        ],
        &[
            ("docs/setup.md", "Use `dev_password_123` to log in.\n"),
            (
                "deploy.sh",
                "export AWS_ACCESS_KEY_ID=AKIAIS5COUHFUMVGU6H4\n",
            ),
        ],
    );
    assert_eq!(
        rules(&f),
        [
            ("deploy.sh", 1, "aws-access-key-id"),
            ("docs/setup.md", 1, "known-secret")
        ]
    );
    assert!(f[1].message.contains(".env.dev"));
}

#[test]
fn only_added_lines_count_in_modified_files() {
    let old = "line one\ntoken = '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'\n";
    let new = format!("{old}AKIAIS5COUHFUMVGU6H4\n");
    let f = scan_commit(&[("a.txt", old)], &[("a.txt", &new)]);
    assert_eq!(rules(&f), [("a.txt", 3, "aws-access-key-id")]);
}

#[test]
fn allow_comments_and_ignore_file() {
    let text =
        "key: AKIAIS5COUHFUMVGU6H4  # envault:allow test fixture\nother: AKIAIS5COUHFUMVGU6H5\n";
    let errors = |f: &[Finding]| f.iter().filter(|f| !f.warning).cloned().collect::<Vec<_>>();
    let warnings = |f: &[Finding]| f.iter().filter(|f| f.warning).cloned().collect::<Vec<_>>();
    let f = scan_commit(&[], &[("a.yml", text)]);
    let e = errors(&f);
    assert_eq!(rules(&e), [("a.yml", 2, "aws-access-key-id")]);
    // The fingerprint does not depend on the value.
    assert_eq!(
        e[0].fingerprint,
        fingerprint("a.yml", "aws-access-key-id", "other: ")
    );
    // The allowance the change adds is reported to the reviewer, with what it silences.
    let w = warnings(&f);
    assert_eq!(rules(&w), [("a.yml", 1, "config-weakened")]);
    assert!(
        w[0].message
            .contains("silences aws-access-key-id at a.yml:1"),
        "{}",
        w[0].message
    );
    let ignore = format!("# test fixture\n{}  a.yml AWS example\n", e[0].fingerprint);
    let f = scan_commit(&[], &[("a.yml", text), (IGNORE_FILE, &ignore)]);
    assert!(errors(&f).is_empty(), "{f:?}");
    let w = warnings(&f);
    assert_eq!(
        rules(&w),
        [
            (IGNORE_FILE, 2, "config-weakened"),
            ("a.yml", 1, "config-weakened")
        ]
    );
    assert!(w[0]
        .message
        .contains("silences aws-access-key-id at a.yml:2"));
    // Allowances already there before the change are not news.
    let f = scan_commit(
        &[("a.yml", text), (IGNORE_FILE, &ignore)],
        &[("a.yml", &format!("{text}# more\n"))],
    );
    assert!(f.is_empty(), "{f:?}");
    // In an env file the marker counts in a comment, not inside the value.
    let env = "DB_PASSWORD=\"# envault:allow\nRealProdPassw0rd-Xk9vQ2mZ\"\n";
    let f = scan_commit(&[], &[(".env.local", env)]);
    assert_eq!(
        rules(&errors(&f)),
        [(".env.local", 1, "env-file-secret")],
        "{f:?}"
    );
    let f = scan_commit(
        &[],
        &[(
            ".env.local",
            "DB_PASSWORD=RealProdPassw0rd-Xk9vQ2mZ # envault:allow\n",
        )],
    );
    assert!(errors(&f).is_empty(), "{f:?}");
    // An allowance on a line dotenvy refuses (kept as it is) silences nothing else, and a
    // file that is not text cannot be judged at all.
    let f = scan_commit(
        &[(".envault.yml", CONFIG), (".env.prod", "LOG_LEVEL=warn\n")],
        &[(
            ".env.prod",
            "LOG_LEVEL=warn\nDB_PASSWORD=Xk9pL2mQ7vR4zT8wBn3\nNOTE=x\\#envault:allow\n",
        )],
    );
    assert_eq!(
        rules(&errors(&f)),
        [(".env.prod", 2, "plaintext-secret")],
        "{f:?}"
    );
    // And a change cannot silence the report of its own allowance.
    let own = format!("{ignore}{}\n", w[0].fingerprint);
    let f = scan_commit(&[], &[("a.yml", text), (IGNORE_FILE, &own)]);
    assert!(warnings(&f).len() >= 2, "{f:?}");
}

#[test]
fn config_changes_that_weaken_protection() {
    let before = "environments:\n  prod: {file: .env.prod, encrypted: true}\n";
    let after = "environments:\n  prod: {file: .env.prod}\nrecipients: [age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq]\n";
    let f = scan_commit(
        &[(".envault.yml", before), (".env.prod", "LOG_LEVEL=warn\n")],
        &[(".envault.yml", after)],
    );
    assert_eq!(
        rules(&f),
        [
            (".envault.yml", 2, "config-weakened"),
            (".envault.yml", 3, "config-weakened")
        ]
    );
    assert!(f[0].message.contains("no longer marked `encrypted: true`"));
    assert!(f[1].message.contains("recipient was added"));

    let f = scan_commit(
        &[
            (
                ".envault.yml",
                "environments:\n  dev: .env.dev\nplaintext_keys: [LOG_*]\n",
            ),
            (".env.dev", "DB_PASSWORD=x\n"),
        ],
        &[(
            ".envault.yml",
            "environments:\n  dev: .env.dev\nplaintext_keys: [LOG_*, DB_*]\n",
        )],
    );
    assert!(
        f.iter()
            .any(|f| f.rule == Rule::ConfigWeakened && f.message.contains("DB_PASSWORD")),
        "{f:?}"
    );

    // A new `dialect:` changes what every line means: a reviewer sees it.
    let f = scan_commit(
        &[
            (
                ".envault.yml",
                "environments:\n  dev: {file: .env.dev, encrypted: false}\n",
            ),
            (".env.dev", "LOG_LEVEL=debug\n"),
        ],
        &[(
            ".envault.yml",
            "environments:\n  dev: {file: .env.dev, encrypted: false, dialect: node}\n",
        )],
    );
    assert_eq!(rules(&f), [(".envault.yml", 2, "config-weakened")], "{f:?}");
    assert!(
        f[0].message
            .contains("`dev` (.env.dev) is now read as node instead of dotenvy (the default)"),
        "{f:?}"
    );
}

#[test]
fn monorepo_configs_resolve_their_own_files() {
    let f = scan_commit(
        &[],
        &[
            ("svc/a/.envault.yml", "environments:\n  prod: .env.prod\n"),
            ("svc/a/.env.prod", "API_TOKEN=abcdefgh12345678\n"),
        ],
    );
    assert_eq!(rules(&f), [("svc/a/.env.prod", 1, "plaintext-secret")]);
}

/// A UTF-16 file (as Windows editors and PowerShell write them) is read as its text.
#[test]
fn utf16_files_are_scanned_as_text() {
    let text = "GITHUB_TOKEN=ghp_R8vK2mQ7xT4nW9pL3sZ6yB1cF5hJ0dG8aE2u\n";
    for le in [true, false] {
        let mut bytes: Vec<u8> = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in text.encode_utf16() {
            bytes.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        let files = Files::default();
        let ids = Identities::empty();
        let f = scan(&Input {
            changed: vec![Changed {
                path: "notes.txt".into(),
                new: bytes,
                old: None,
            }],
            configs: Vec::new(),
            source: &files,
            identities: &ids,
            whole_files: false,
            check_data_keys: false,
            baseline: None,
        })
        .unwrap();
        assert_eq!(rules(&f), [("notes.txt", 1, "github-token")], "{le}");
    }
}

/// Found by a red-team: lines every other reader reads but dotenvy does not. A lone carriage
/// return in a comment ends the line for node, python-dotenv, phpdotenv and the Ruby gem; the
/// Ruby gem reads each line of a multi-line value on its own. Both are judged.
#[test]
fn entries_hidden_in_comments_and_multi_line_values_are_judged() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Qp3kLm2T";
    let f = scan_commit(
        &[],
        &[
            (".envault.yml", CONFIG),
            (
                ".env.prod",
                &format!("DB_HOST=db\n#\rAWS_SECRET_ACCESS_KEY={secret}\n"),
            ),
            (
                ".env.local",
                &format!("NOTE=\"\nAWS_SECRET_ACCESS_KEY={secret}\n\"\n"),
            ),
            (
                ".env.x",
                &format!("   # x\r\r\rSTRIPE_SECRET_KEY={secret}\n"),
            ),
        ],
    );
    let found = rules(&f);
    assert!(
        found.contains(&(".env.prod", 2, "plaintext-secret")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(p, l, _)| *p == ".env.local" && *l == 2),
        "{found:?}"
    );
    assert!(found.iter().any(|(p, _, _)| *p == ".env.x"), "{found:?}");
    assert!(!format!("{f:?}").contains(secret));
}
