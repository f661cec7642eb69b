//! `envault check` over the repository's configurations.

use crate::common::{git, stderr, stdout, Project};

/// The tutorial with dev and staging declared dummy and prod encrypted: only drift remains.
fn protected() -> Project {
    let p = Project::tutorial_git();
    p.protect();
    p
}

#[test]
fn drift_and_plaintext_in_the_tutorial() {
    let p = Project::tutorial_git();
    let a = p.run(&["check"]).code(1);
    let out = stdout(&a);
    for line in [
        ".env.prod:1: missing-key: API_KEY is missing from prod (present in dev, staging)\n",
        ".env.staging:1: missing-key: FEATURE_NEW_CHECKOUT is missing from staging (present in dev)\n",
        ".env.prod:4: plaintext-secret: DB_PASSWORD is a secret in clear in the `prod` environment\n",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    assert!(!out.contains("prod_password_789"));
    assert!(stderr(&a).contains("envault check: 10 problems (3 environments of 1 config checked)"));
}

#[test]
fn clean_project_exceptions_and_formats() {
    let p = protected();
    p.write(
        ".envault.yml",
        &(p.read(".envault.yml").replace(
            "  dev: {file: .env.dev, encrypted: false}",
            "  dev: {file: .env.dev, encrypted: false, only: [FEATURE_*]}",
        ) + "optional_keys: [API_KEY]\n"),
    );
    let a = p.run(&["check"]).code(0);
    assert_eq!(stdout(&a), "");
    // An empty value of a key set elsewhere, and a duplicate.
    p.write(
        ".env.staging",
        &(p.read(".env.staging") + "LOG_LEVEL=\nCACHE_TTL=1\n"),
    );
    let a = p.run(&["check", "--format", "json"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let rules: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"empty-value") && rules.contains(&"duplicate-key"),
        "{v}"
    );
    let a = p.run(&["check", "--format", "github"]).code(1);
    assert!(
        stdout(&a).contains("::error file=.env.staging,line=8,title=envault check empty-value::LOG_LEVEL is empty in staging but set in"),
        "{}",
        stdout(&a)
    );
    let a = p.run(&["check", "--format", "sarif"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["runs"][0]["results"].as_array().unwrap().len() >= 2);
}

#[test]
fn every_config_of_a_monorepo_and_parse_errors() {
    let p = protected();
    std::fs::create_dir_all(p.path("svc/api")).unwrap();
    p.write("svc/api/.envault.yml", "environments:\n  dev: {file: .env.dev, encrypted: false}\n  prod: {file: .env.prod, encrypted: false}\n");
    // A line dotenvy refuses is a warning; a file that is not text does not parse.
    p.write("svc/api/.env.dev", "A=1\nB='unterminated\n");
    std::fs::write(p.path("svc/api/.env.prod"), b"A=1\nB=\xff\n").unwrap();
    git(&p, &["add", "-A"]);
    let a = p.run(&["check"]).code(1);
    let out = stdout(&a);
    assert!(out.contains("svc/api/.env.prod:2: parse-error: "), "{out}");
    assert!(
        out.contains("svc/api/.env.dev:2: warning: reader-disagreement: "),
        "{out}"
    );
    assert!(
        stderr(&a).contains("of 2 configs checked"),
        "{}",
        stderr(&a)
    );
    // A configuration that does not parse cannot be checked: exit 2.
    p.write("svc/api/.envault.yml", "environments: [\n");
    p.run(&["check"]).code(2);
}

#[test]
fn recipients_out_of_date_are_reported_never_fixed() {
    let p = protected();
    let other = stdout(&p.run(&["keygen", "--output", "home/other.txt"]).success())
        .lines()
        .last()
        .unwrap()
        .to_owned();
    // Listing a recipient in the config grants nothing.
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("recipients: [", &format!("recipients: [{other}, ")),
    );
    let a = p.run(&["check", "--fix"]).code(1);
    assert!(
        stdout(&a).contains(&format!(".env.prod:1: recipient-cannot-open: {other} is a recipient in .envault.yml but cannot open .env.prod's data key")),
        "{}",
        stdout(&a)
    );
    assert!(stdout(&a).contains(&format!("envault recipients add --env prod {other}")));
}

#[test]
fn fix_seals_values_in_clear_of_encrypted_environments() {
    let p = protected();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: {file: .env.prod, encrypted: true}\n",
        ),
    );
    p.write(
        ".env.prod",
        &(p.read(".env.prod") + "NEW_TOKEN=abc123def456\n"),
    );
    let a = p.run(&["check"]).code(1);
    assert!(
        stdout(&a).contains("unencrypted-value: NEW_TOKEN is in clear"),
        "{}",
        stdout(&a)
    );
    let a = p.run(&["check", "--fix"]).code(1);
    assert!(!stdout(&a).contains("unencrypted-value"), "{}", stdout(&a));
    assert!(!p.read(".env.prod").contains("abc123def456"));
}

#[test]
fn stores_drift_with_the_stores_flag() {
    let p = protected();
    p.write(
        ".envault.yml",
        &(p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: {file: .env.prod, store: local}\n",
        ) + "stores:\n  local: {type: file, path: ~/store.age}\n"),
    );
    p.run(&["store", "push", "prod"]).success();
    p.cmd()
        .args(["store", "set", "LOG_LEVEL"])
        .write_stdin("debug")
        .assert()
        .success();
    let a = p.run(&["check", "--stores"]).code(1);
    assert!(
        stdout(&a).contains("store-drift: LOG_LEVEL differs between prod and store 'local'"),
        "{}",
        stdout(&a)
    );
}

/// A value that dotenvy expands differently from `envault run` is a warning: shown with the
/// reference, never the value, and the check still passes.
#[test]
fn dotenvy_expansion_differences_are_warnings() {
    let p = protected();
    p.write(
        ".envault.yml",
        &(p.read(".envault.yml").replace(
            "  dev: {file: .env.dev, encrypted: false}",
            "  dev: {file: .env.dev, encrypted: false, only: [FEATURE_*, DATABASE_URL, SAFE]}",
        ) + "optional_keys: [API_KEY]\n"),
    );
    p.write(
        ".env.dev",
        &(p.read(".env.dev")
            + "DATABASE_URL=postgres://$DB_USER:${DB_PASSWORD}@db/app\nSAFE=\"${DB_HOST}:5432\"\n"),
    );
    let a = p.run(&["check"]).code(0);
    let out = stdout(&a);
    assert!(
        out.contains(".env.dev:10: warning: reader-disagreement: DATABASE_URL expands differently in an app that reads .env.dev with dotenvy (`$DB_USER` is `$DB` followed by `_USER` there)"),
        "{out}"
    );
    assert!(!out.contains("SAFE"), "braces read alike: {out}");
    assert!(!out.contains("@db/app"), "{out}");
    assert!(
        stderr(&a).contains("envault check: no problems, 1 warning"),
        "{}",
        stderr(&a)
    );
    let a = p.run(&["check", "--format", "github"]).code(0);
    assert!(
        stdout(&a).contains("::warning file=.env.dev,line=10,"),
        "{}",
        stdout(&a)
    );
}

/// Where node's dotenv or python-dotenv reads an entry otherwise than dotenvy (and so than
/// envault), check warns, describing the values by their length only.
#[test]
fn entries_other_readers_read_differently_are_warnings() {
    let p = protected();
    p.write(
        ".envault.yml",
        &(p.read(".envault.yml").replace(
            "  dev: {file: .env.dev, encrypted: false}",
            "  dev: {file: .env.dev, encrypted: false, only: [FEATURE_*, DOCS_URL, NOTE]}",
        ) + "optional_keys: [API_KEY]\n"),
    );
    p.write(
        ".env.dev",
        &(p.read(".env.dev") + "DOCS_URL= #see the readme\nNOTE=a#b\n"),
    );
    let a = p.run(&["check"]).code(0);
    let out = stdout(&a);
    assert!(
        out.contains(".env.dev:10: warning: reader-disagreement: DOCS_URL is read differently: dotenvy reads an empty value, python-dotenv reads a value of 15 characters"),
        "{out}"
    );
    assert!(
        out.contains(".env.dev:11: warning: reader-disagreement: NOTE is read differently: dotenvy reads a value of 3 characters, node dotenv reads a value of 1 character"),
        "{out}"
    );
    assert!(!out.contains("see the readme"), "{out}");
}

/// `dialect:` names the reader an environment's app uses: its lines are read as that reader
/// reads them (a line dotenvy refuses becomes an entry), `run` expands as it does, and an
/// unknown dialect is a configuration error.
#[test]
fn a_dialect_reads_the_file_as_the_app_does() {
    let p = Project::tutorial();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  dev: .env.dev",
            "  dev: {file: .env.dev, encrypted: false, dialect: python-dotenv}",
        ),
    );
    p.write(
        ".env.dev",
        &(p.read(".env.dev")
            + "OIDC_DISPLAY_NAME=OpenID Connect\nDOCS= #see readme\nHOME_URL=$DB_HOST/x\nCACHE=${DB_HOST}/y\n"),
    );
    let a = p
        .run(&["get", "OIDC_DISPLAY_NAME", "--env", "dev"])
        .success();
    assert_eq!(stdout(&a), "OpenID Connect\n");
    assert!(!stderr(&a).contains("refuses"), "{}", stderr(&a));
    let a = p.run(&["get", "DOCS", "--env", "dev"]).success();
    assert_eq!(stdout(&a), "#see readme\n");
    // python-dotenv expands braces only.
    let a = p
        .run(&[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$HOME_URL\" \"$CACHE\"",
        ])
        .success();
    assert_eq!(stdout(&a), "$DB_HOST/x|localhost/y");
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("dialect: python-dotenv", "dialect: ruby-ish"),
    );
    let a = p.run(&["get", "DOCS", "--env", "dev"]).code(2);
    assert!(stderr(&a).contains("ruby-ish"), "{}", stderr(&a));
}

/// `dialect: ruby` and `dialect: php` read and run the file as the Ruby gem and phpdotenv do;
/// `check` says where phpdotenv would fail the whole file.
#[test]
fn ruby_and_php_dialects_read_as_their_libraries() {
    let p = Project::tutorial();
    let config = p.read(".envault.yml");
    p.write(
        ".envault.yml",
        &config.replace(
            "  dev: .env.dev",
            "  dev: {file: .env.dev, encrypted: false, dialect: ruby}",
        ),
    );
    let dev = p.read(".env.dev");
    p.write(
        ".env.dev",
        &(dev.clone()
            + "SMTP_HOST: mail.example.com\nTAB=\"a\\tb\"\nURL=\"$DB_HOST:${DB_PORT}\"\nSHA=\"$(id)\"\n"),
    );
    let a = p.run(&["get", "SMTP_HOST", "--env", "dev"]).success();
    assert_eq!(stdout(&a), "mail.example.com\n");
    let a = p.run(&["get", "TAB", "--env", "dev"]).success();
    assert_eq!(stdout(&a), "atb\n");
    // Found by a red-team: the gem reads `token" # "` here; a token inside a value stays masked.
    let token = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
    p.write(
        ".env.dev",
        &(p.read(".env.dev") + &format!("x=\"{token}\" # \"\"\n#\rHIDDEN_KEY=abc\n")),
    );
    let a = p.run(&["diff", "dev", "prod"]).code(1);
    assert!(!stdout(&a).contains("ghp_"), "{}", stdout(&a));
    let a = p.run(&["check"]).code(1);
    assert!(
        stdout(&a).contains(
            "dotenvy reads a comment, but a lone carriage return ends the line for other readers"
        ),
        "{}",
        stdout(&a)
    );
    let dev_now = p.read(".env.dev");
    p.write(
        ".env.dev",
        &dev_now.replace(&format!("x=\"{token}\" # \"\"\n#\rHIDDEN_KEY=abc\n"), ""),
    );
    let a = p
        .run(&[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$URL\" \"$SHA\"",
        ])
        .success();
    assert_eq!(stdout(&a), "localhost:5432|$(id)", "never runs a command");

    p.write(
        ".envault.yml",
        &config.replace(
            "  dev: .env.dev",
            "  dev: {file: .env.dev, encrypted: false, dialect: php}",
        ),
    );
    p.write(
        ".env.dev",
        &(dev + "TAB=\"a\\tb\"\nURL=\"${DB_HOST}:${MISSING}\"\nexport A=1\n"),
    );
    let a = p.run(&["get", "TAB", "--env", "dev"]).success();
    assert_eq!(stdout(&a), "a\tb\n");
    let a = p
        .run(&[
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "printf '%s' \"$URL\"",
        ])
        .success();
    assert_eq!(stdout(&a), "localhost:${MISSING}");
    // The tutorial's environments differ in keys (problems, exit 1); the line is a warning.
    let a = p.run(&["check"]).code(1);
    let out = stdout(&a);
    assert!(
        out.contains(".env.dev:12: warning: reader-disagreement: A is read differently: dotenvy reads a value of 1 character, phpdotenv refuses it and fails the whole file"),
        "{out}"
    );
}
