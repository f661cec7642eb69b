//! Fuzzes the catalogue of secret shapes: any text is searched without a panic; matches are in
//! bounds, sorted and disjoint; a token found by its prefix is found again on its own; and
//! what is found does not depend on what surrounds the text (a space before, a newline after).
#![no_main]

use envault::catalogue::{self, Anchor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let found = catalogue::find(data);
    let mut end = 0;
    for m in &found {
        assert!(m.span.start >= end, "sorted and disjoint: {found:?}");
        assert!(m.span.end <= data.len() && m.span.start < m.span.end);
        end = m.span.end;
        let text = &data[m.span.clone()];
        let by_prefix = m.name.is_none()
            && m.family.anchors.iter().any(|a| match a {
                Anchor::Prefix { prefixes, .. } => {
                    prefixes.iter().any(|p| text.starts_with(p.as_bytes()))
                }
                _ => false,
            });
        if by_prefix {
            let alone = catalogue::find(text);
            assert!(
                alone
                    .iter()
                    .any(|a| a.family == m.family && a.span == (0..text.len())),
                "{:?} not found alone: {alone:?}",
                m.family
            );
        }
    }
    let mut framed = vec![b' '];
    framed.extend_from_slice(data);
    framed.push(b'\n');
    let again: Vec<_> = catalogue::find(&framed)
        .into_iter()
        .map(|m| (m.family.id, m.span.start - 1..m.span.end - 1))
        .collect();
    let first: Vec<_> = found.iter().map(|m| (m.family.id, m.span.clone())).collect();
    assert_eq!(first, again, "the frame changed what was found");
});
