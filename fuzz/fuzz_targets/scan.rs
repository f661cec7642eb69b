//! Fuzzes the secret scanner: arbitrary bytes as a staged file next to an arbitrary env file
//! and config never panic, and a finding never carries the value it found.
#![no_main]

use envault::crypt::Identities;
use envault::scan::{detect, scan, Changed, Input, Source};
use libfuzzer_sys::fuzz_target;

struct Nothing;

impl Source for Nothing {
    fn new_file(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn old_file(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = detect::credentials(data, &Default::default());
    // Split into: a file, its old version, and an env file holding known values.
    let mut parts = data.splitn(3, |b| *b == 1);
    let (Some(new), Some(old), env) = (parts.next(), parts.next(), parts.next()) else { return };
    let mut changed = vec![Changed { path: "src/app.txt".into(), new: new.to_vec(), old: Some(old.to_vec()) }];
    if let Some(env) = env {
        changed.push(Changed { path: ".env.prod".into(), new: env.to_vec(), old: None });
    }
    changed.push(Changed {
        path: ".envault.yml".into(),
        new: b"environments:\n  prod: .env.prod\n".to_vec(),
        old: None,
    });
    let ids = Identities::empty();
    let findings = scan(&Input {
        changed,
        configs: vec![".envault.yml".into()],
        source: &Nothing,
        identities: &ids,
        whole_files: false,
        check_data_keys: true,
        baseline: None,
    })
    .expect("the config is valid");
    for f in findings {
        if let Some(r) = &f.redacted {
            assert!(r.contains(" chars)"));
        }
    }
});
