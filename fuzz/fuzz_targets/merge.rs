//! Fuzzes the three-way merge: never panics; merging a side with itself gives it back; a
//! conflict-free result parses.
#![no_main]

use envault::dotenv::Document;
use envault::merge::{merge, Labels};
use libfuzzer_sys::fuzz_target;

const LABELS: Labels = Labels { ours: "ours", theirs: "theirs", marker_len: 7 };

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\u{1}');
    let (Some(b), Some(o), Some(t)) = (parts.next(), parts.next(), parts.next()) else { return };
    let (Ok(b), Ok(o), Ok(t)) = (Document::parse(b), Document::parse(o), Document::parse(t)) else {
        return;
    };
    assert_eq!(merge(&b, &o, &o, LABELS).text, o.render());
    let m = merge(&b, &o, &t, LABELS);
    if m.conflicts.is_empty() {
        Document::parse(&m.text).expect("a clean merge parses");
    }
});
