//! The integration tests, one binary: each module drives the built `envault` binary (real git,
//! real peers and servers) for one area. One binary links the library once and runs every
//! area's tests in parallel; `every_test_file_is_a_module` keeps a new file from being
//! forgotten.
//!
//! Run one area with `cargo test --test it scan::`, one test with its full name.

mod common;

mod check;
mod cli;
mod crypt_interop;
mod detection;
mod dotenvy_oracle;
mod encrypt;
mod git_install;
mod laws;
mod matrix;
mod merges;
mod packaging;
mod peer_oracles;
mod revisions;
mod rotate;
mod run;
mod scan;
mod snapshots;
mod stores;
mod trust_boundary;
mod values;

/// Every `.rs` file beside this one is declared above (a forgotten one would never run).
#[test]
fn every_test_file_is_a_module() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(here.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&here).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && stem != "main" {
            assert!(
                main.contains(&format!("\nmod {stem};\n")),
                "tests/it/{stem}.rs is not declared in tests/it/main.rs"
            );
        }
    }
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(top).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            path.extension().is_none_or(|e| e != "rs"),
            "{} is a test binary of its own: move it into tests/it/",
            path.display()
        );
    }
}
