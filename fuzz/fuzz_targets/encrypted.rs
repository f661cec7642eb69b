//! Fuzzes the encrypted-file reader: any header text and any sealed value fail cleanly or
//! parse, never panic; a parsed header renders back to the same header.
#![no_main]

use envault::crypt::{self, DataKey, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(header)) = Header::parse(text) {
        let again = Header::parse(&(header.lines().join("\n") + "\n"));
        assert_eq!(again.ok().flatten(), Some(header));
    }
    if let Ok(key) = DataKey::generate() {
        for line in text.lines() {
            let (name, value) = line.split_once('=').unwrap_or(("K", line));
            let _ = crypt::open(&key, &[0; 16], name, value);
        }
    }
});
