//! envault: diff, sync, rotate and protect the `.env` files of a project's environments.
//!
//! The library is layered (see ARCHITECTURE.md at the repository root): the core modules take
//! and return values and never print, exit or read the process environment; `cli` is the only
//! edge that talks to the terminal.

// Linux is built and tested, macOS is built by the release workflow; Windows lacks what envault
// relies on, so a build there stops here with the reason rather than deep in a dependency.
#[cfg(not(unix))]
compile_error!(
    "envault supports Unix systems only (Linux; macOS untested): it relies on Unix file modes \
     (0600 identities and backups), rename over open files, and POSIX terminals (hidden \
     prompts). On Windows, build and run it under WSL."
);

pub mod audit;
pub mod catalogue;
pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod confine;
pub mod crypt;
pub mod diff;
pub mod dotenv;
pub mod env_vars;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod glob;
pub mod matrix;
pub mod merge;
pub mod output;
pub mod rotate;
pub mod rule;
pub mod scan;
pub mod settings;
pub mod source;
pub mod store;
pub mod sync;
pub mod workspace;

/// Every `.rs` file under src/, with its text (for the tests that read the source itself).
#[cfg(test)]
pub(crate) fn source_files() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

/// The layering of ARCHITECTURE.md, enforced: every `crate::module` path a module uses names a
/// module of a lower layer. The table is read from ARCHITECTURE.md, so the map and the check
/// cannot drift apart. Run it alone with `cargo test --lib layering`.
#[cfg(test)]
mod layering {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// module → layer, from the table's rows: `| 3 | `config` | … |`.
    fn layers() -> BTreeMap<String, u32> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
        let mut out = BTreeMap::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(n), Some(mods)) = (cells.get(1), cells.get(2)) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            for m in mods.split(',') {
                let m = m.trim().trim_matches('`').trim_end_matches('/');
                out.insert(m.to_owned(), n);
            }
        }
        out
    }

    /// The code of a file without its `#[cfg(test)] mod tests` (tests may use anything).
    fn code_of(text: &str) -> &str {
        text.find("#[cfg(test)]\nmod tests")
            .map_or(text, |i| &text[..i])
    }

    #[test]
    fn no_import_runs_upward_or_in_a_circle() {
        let layers = layers();
        assert!(layers.len() > 15, "the table was not found: {layers:?}");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        for (path, text) in crate::source_files() {
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel.iter().next().unwrap().to_str().unwrap();
            let module = top.trim_end_matches(".rs");
            if matches!(module, "lib" | "main") || rel.ends_with("tests.rs") {
                continue;
            }
            let Some(&mine) = layers.get(module) else {
                problems.push(format!("{module} is not in ARCHITECTURE.md's table"));
                continue;
            };
            for (i, line) in code_of(&text).lines().enumerate() {
                for (at, _) in line.match_indices("crate::") {
                    let used: String = line[at + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if used == module || used.is_empty() {
                        continue;
                    }
                    match layers.get(&used) {
                        Some(&theirs) if theirs < mine => {}
                        Some(&theirs) => problems.push(format!(
                            "{}:{}: {module} (layer {mine}) uses {used} (layer {theirs})",
                            rel.display(),
                            i + 1
                        )),
                        None => problems.push(format!(
                            "{}:{}: {used} is not in ARCHITECTURE.md's table",
                            rel.display(),
                            i + 1
                        )),
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
