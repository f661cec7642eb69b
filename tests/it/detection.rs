//! The detection corpus (`fixtures/detection/`): made-up credentials of every family in the
//! files they get pasted into (code, YAML, JSON, Terraform, shell, `.npmrc`, `.pypirc`,
//! `.git-credentials`, Android XML, env files), and look-alikes that must pass: placeholders,
//! references, documented examples, hashes, UUIDs, public keys, sealed values.
//!
//! `found/<rule>/…`: every file must give a finding of that rule (a stray `.env*` file may
//! give `env-file-secret` instead, which judges its keys). `clean/…`: no finding at all.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/detection")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn files_under(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            files_under(&e.path(), &r, out);
        } else {
            out.push(r);
        }
    }
}

/// The rules of the findings `scan <folder>` reports, by file.
fn scan(p: &Project, folder: &str) -> (i32, BTreeMap<String, Vec<String>>) {
    let out = p
        .cmd()
        .args(["scan", folder, "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in json["findings"].as_array().unwrap() {
        by_file
            .entry(f["path"].as_str().unwrap().to_owned())
            .or_default()
            .push(f["rule"].as_str().unwrap().to_owned());
    }
    (out.status.code().unwrap(), by_file)
}

#[test]
fn every_family_is_found_where_it_is_pasted() {
    let p = Project::empty();
    copy_tree(&corpus().join("found"), &p.path("found"));
    let (code, by_file) = scan(&p, "found");
    assert_eq!(code, 1);
    let mut cases = Vec::new();
    files_under(&corpus().join("found"), Path::new("found"), &mut cases);
    assert!(cases.len() >= 90, "the corpus shrank to {}", cases.len());
    let mut missed = Vec::new();
    for case in &cases {
        let path = case.to_string_lossy().into_owned();
        let rule = case.iter().nth(1).unwrap().to_string_lossy().into_owned();
        let env_file = case
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".env"));
        let rules = by_file.get(&path).cloned().unwrap_or_default();
        if !rules
            .iter()
            .any(|r| *r == rule || (env_file && r == "env-file-secret"))
        {
            missed.push(format!("{path}: wanted {rule}, got {rules:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "missed {} of {}:\n{}",
        missed.len(),
        cases.len(),
        missed.join("\n")
    );
}

#[test]
fn look_alikes_pass() {
    let p = Project::empty();
    copy_tree(&corpus().join("clean"), &p.path("clean"));
    let (code, by_file) = scan(&p, "clean");
    assert_eq!(by_file, BTreeMap::new(), "false positives");
    assert_eq!(code, 0);
    let mut cases = Vec::new();
    files_under(&corpus().join("clean"), Path::new("clean"), &mut cases);
    assert!(cases.len() >= 35, "the corpus shrank to {}", cases.len());
}

/// Every family of the catalogue has cases (its folder under `found/`, or for public families
/// a look-alike under `clean/`).
#[test]
fn every_family_has_cases() {
    let out = Project::empty()
        .cmd()
        .args(["scan", "--rules", "--format", "json"])
        .output()
        .unwrap();
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut without = Vec::new();
    for r in rules.as_array().unwrap() {
        if r["kind"] != "credential" || r["public"] == true {
            continue;
        }
        let id = r["id"].as_str().unwrap();
        if !corpus().join("found").join(id).is_dir() {
            without.push(id.to_owned());
        }
    }
    assert!(without.is_empty(), "families without cases: {without:?}");
}

/// The README's table of families lists every family of the catalogue, with its catches and
/// leaves-alone text as `scan --rules` prints them.
#[test]
fn the_readme_lists_every_family() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let out = Project::empty()
        .cmd()
        .args(["scan", "--rules", "--format", "json"])
        .output()
        .unwrap();
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut missing = Vec::new();
    for r in rules.as_array().unwrap() {
        if r["kind"] != "credential" {
            continue;
        }
        let row = format!("| `{}`", r["id"].as_str().unwrap());
        let catches = r["catches"].as_str().unwrap().replace('|', "\\|");
        let leaves = r["leaves"].as_str().unwrap().replace('|', "\\|");
        let listed = readme
            .lines()
            .any(|l| l.starts_with(&row) && l.contains(&catches) && l.contains(&leaves));
        if !listed {
            missing.push(r["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(missing.is_empty(), "not in the README's table: {missing:?}");
}
