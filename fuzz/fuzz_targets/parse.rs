//! Fuzzes the dotenv parser: never panics; whatever it accepts renders back byte for byte,
//! and an edit keeps the document re-readable with the edited value.
#![no_main]

use envault::dotenv::Document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut doc) = Document::parse_bytes(data) else {
        return;
    };
    assert_eq!(doc.render().as_bytes(), data);
    let keys: Vec<String> = doc.entries().map(|e| e.key().to_owned()).collect();
    // Use the input itself as a value to write: any text must be writable.
    let value = String::from_utf8_lossy(&data[..data.len().min(24)]).into_owned();
    for key in keys.iter().take(2) {
        if value.contains('\0') {
            assert!(doc.set(key, &value).is_err(), "NUL cannot be written");
            continue;
        }
        doc.set(key, &value).expect("valid keys are settable");
        let again = Document::parse(&doc.render()).expect("an edited document re-parses");
        assert_eq!(again.get(key), Some(value.as_str()));
    }
    if let Some(first) = keys.first() {
        doc.remove(first);
        assert!(Document::parse(&doc.render()).expect("re-parses").get(first).is_none());
    }
});
