//! The installs users run: the wheel `pip install .` builds (maturin, `bindings = "bin"`)
//! installs a working `envault` into a fresh virtual environment; `envault --version` names
//! the commit; `envault man` writes the pages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_ok, stdout};

fn maturin() -> PathBuf {
    common::peer("venv/bin/maturin", "maturin")
}

#[test]
fn the_wheel_installs_envault_into_a_fresh_venv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    // The dev profile reuses the test build; `pip install .` builds the same wheel in release.
    run_ok(
        Command::new(maturin())
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
        .starts_with(&format!("envault-{}-py3-none-", env!("CARGO_PKG_VERSION"))));
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
    let p = common::Project::empty();
    let a = p.run(&["man"]).success();
    let page = stdout(&a);
    assert!(page.contains(".TH envault 1"), "{page}");
    assert!(page.contains("envault\\-scan"), "commands are listed");
    p.run(&["man", "--dir", "man1"]).success();
    let scan = p.read("man1/envault-scan.1");
    assert!(scan.contains(".TH envault-scan 1"), "{scan}");
    assert!(scan.contains("\\-\\-staged"));
}
