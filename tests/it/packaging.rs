//! The installs users run: the wheel `pip install .` builds (maturin, `bindings = "bin"`)
//! installs a working `envault` into a fresh virtual environment; `envault --version` names
//! the commit; `envault man` writes the pages.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{run_ok, stdout};

fn maturin() -> PathBuf {
    crate::common::peer("venv/bin/maturin", "maturin")
}

#[test]
fn the_wheel_installs_envault_into_a_fresh_venv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    // The dev profile keeps the build quick; `pip install .` builds the same wheel in release.
    // maturin builds with flags of its own, so it gets a target folder of its own: relinking
    // the tests' `envault` would pull it from under the tests running beside this one.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("maturin");
    run_ok(
        Command::new(maturin())
            .env("CARGO_TARGET_DIR", &target)
            .args([
                "build",
                "--profile",
                "dev",
                "--compatibility",
                "linux",
                "--out",
            ])
            .arg(&wheels)
            .current_dir(root),
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    assert!(wheel
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(&format!(
            "envault_rs-{}-py3-none-",
            env!("CARGO_PKG_VERSION")
        )));
    let venv = work.path().join("venv");
    run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run_ok(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--no-index", "--no-deps"])
            .arg(&wheel),
    );
    let version = run_ok(Command::new(venv.join("bin/envault")).arg("--version"));
    let commit = run_ok(
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(root),
    );
    assert_eq!(
        version,
        format!(
            "envault {} ({})\n",
            env!("CARGO_PKG_VERSION"),
            commit.trim()
        )
    );
}

#[test]
fn man_pages() {
    let p = crate::common::Project::empty();
    let a = p.run(&["man"]).success();
    let page = stdout(&a);
    assert!(page.contains(".TH envault 1"), "{page}");
    assert!(page.contains("envault\\-scan"), "commands are listed");
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    p.run(&["man", "--dir", "man1"]).success();
    let scan = p.read("man1/envault-scan.1");
    assert!(scan.contains(".TH envault-scan 1"), "{scan}");
    assert!(scan.contains("\\-\\-staged"));
    // Nested commands have pages of their own; synopses read as users type the command; every
    // page has the global options and the ENVIRONMENT and EXIT STATUS sections.
    for (file, typed) in [
        ("envault-store-push.1", "envault store push"),
        ("envault-git-install.1", "envault git install"),
        ("envault-recipients-add.1", "envault recipients add"),
        ("envault-diff.1", "envault diff"),
    ] {
        let page = p.read(&format!("man1/{file}"));
        let synopsis = &page[page.find(".SH SYNOPSIS").expect("a synopsis")..];
        let synopsis = &synopsis[..synopsis[1..].find(".SH").unwrap_or(synopsis.len())];
        assert!(
            synopsis.contains(&format!("\\fB{}\\fR", typed.replace('-', "\\-"))),
            "{file}: {synopsis}"
        );
        for part in [
            "\\-\\-identity",
            ".SH ENVIRONMENT",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
            "ENVAULT_IDENTITY_KEY",
        ] {
            assert!(page.contains(part), "{file} lacks {part}");
        }
        // The footer names the page and the version, not the bare subcommand.
        let footer = format!(
            "\"{} {}",
            file.trim_end_matches(".1"),
            env!("CARGO_PKG_VERSION")
        );
        assert!(page.contains(&footer), "{file}: {footer}");
    }
}

/// `scripts/lint-workflows` (actionlint and shellcheck, run by the test command) passes on the
/// repository's workflows and action, and fails on the mistakes it exists to catch.
#[test]
fn workflows_and_action_pass_actionlint_which_catches_mistakes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lint = || {
        let mut c = Command::new(root.join("scripts/lint-workflows"));
        c.current_dir(root);
        c
    };
    let out = lint().output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(" file(s), 0 problem(s)"));
    let work = tempfile::tempdir().unwrap();
    // A workflow: a pull request's title in a script, a step that does not exist, an unknown
    // runner, and a script with an unquoted variable.
    let workflow = work.path().join("bad.yml");
    std::fs::write(
        &workflow,
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-lastest\n    steps:\n      \
         - run: echo \"${{ github.event.pull_request.title }}\"\n      \
         - run: echo \"${{ steps.nope.outputs.x }}\"\n      - run: cd $DIR\n",
    )
    .unwrap();
    // An action whose step reads an input it does not declare.
    let action = work.path().join("action.yml");
    std::fs::write(
        &action,
        "name: a\ndescription: d\ninputs:\n  x: {description: x}\nruns:\n  using: composite\n  \
         steps:\n    - shell: bash\n      run: echo \"${{ inputs.y }}\"\n",
    )
    .unwrap();
    let out = lint().arg(&workflow).arg(&action).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "\"github.event.pull_request.title\" is potentially untrusted",
        "property \"nope\" is not defined",
        "label \"ubuntu-lastest\" is unknown",
        "SC2086",
        "property \"y\" is not defined",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
}

/// The action's own shell steps, run here as a runner would (scripts/run-action; the cache
/// reports a hit for the built binary): check's and scan's annotations, the SARIF file for the
/// upload, the statuses as outputs, and a failing job on findings; a clean project passes.
#[test]
fn the_action_checks_scans_and_fails_on_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = assert_cmd::cargo::cargo_bin("envault");
    let run = |p: &crate::common::Project, inputs: &[&str]| {
        let out = Command::new(root.join("scripts/run-action"))
            .arg(p.dir.path())
            .args(inputs)
            .env("ENVAULT_BIN_DIR", bin.parent().unwrap())
            .env("ENVAULT_PEERS_DIR", crate::common::peers_dir())
            .env("HOME", p.path("home"))
            .env("XDG_STATE_HOME", p.path("state"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let p = crate::common::Project::tutorial_git();
    crate::common::git(&p, &["add", "-A"]);
    crate::common::git(&p, &["commit", "-qm", "tutorial"]);
    p.write(
        "billing.txt",
        "STRIPE_KEY=sk_live_9xQ2mVb7Lr4Tz8Kd1Wp6Hs3NcY\n",
    );
    crate::common::git(&p, &["add", "billing.txt"]);
    crate::common::git(&p, &["commit", "-qm", "billing"]);
    let (code, out) = run(&p, &["scan-range=HEAD~1..HEAD", "sarif=true"]);
    assert_eq!(code, Some(1), "{out}");
    for expected in [
        "cache hit",
        "::error file=.env.prod,line=1,title=envault check missing-key::API_KEY is missing",
        "::error file=billing.txt,line=1,col=12,title=envault stripe-key::",
        "would run github/codeql-action/upload-sarif",
        "::error title=envault check::envault check exited 1",
        "::: output check-status=1",
        "::: output scan-status=1",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }
    assert!(
        !out.contains("sk_live_9xQ2"),
        "the key itself never reaches the log"
    );

    // A project without drift or secrets in clear, nothing to scan: the job passes.
    let clean = crate::common::Project::empty();
    clean.write(
        ".envault.yml",
        "environments:\n  dev: {file: .env.dev, encrypted: false}\n  prod: {file: .env.prod, encrypted: false}\n",
    );
    clean.write(".env.dev", "LOG_LEVEL=debug\n");
    clean.write(".env.prod", "LOG_LEVEL=warn\n");
    let (code, out) = run(&clean, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("::: output check-status=0"), "{out}");
    assert!(out.contains("nothing scanned"), "{out}");
}

/// The registry packages named `envault` (PyPI, crates.io) belong to other projects: no page,
/// hook or help text may tell anyone to install them, only warn against it.
#[test]
fn no_install_command_names_a_foreign_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join(".pre-commit-hooks.yaml"),
        root.join("pyproject.toml"),
    ];
    for dir in ["docs", "hooks", "src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
    }
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let l = line.to_ascii_lowercase();
            let words: Vec<&str> = l
                .split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ',')
                .collect();
            // `<installer> install [flags] envault`: a registry name, not a path or a URL.
            let installs_registry_name = words.iter().enumerate().any(|(i, w)| {
                *w == "install"
                    && i > 0
                    && ["pip", "pip3", "pipx", "cargo", "uv", "npm", "binstall"]
                        .contains(&words[i - 1])
                    && words[i + 1..]
                        .iter()
                        .find(|a| !a.is_empty() && !a.starts_with('-'))
                        .is_some_and(|a| a.trim_end_matches(['.', ';']) == "envault")
            });
            let foreign_repo =
                l.contains("github.com/") && l.contains("/envault") && !l.contains("<");
            if (installs_registry_name && !l.contains("never")) || foreign_repo {
                found.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "install commands naming a foreign package:\n{}",
        found.join("\n")
    );
}
