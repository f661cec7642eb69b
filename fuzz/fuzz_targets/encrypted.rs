//! Fuzzes the encrypted-file reader: any header text and any sealed value fail cleanly or
//! parse, never panic; a parsed header renders back to the same header. And the header check:
//! a genuine version 2 header with the fuzzer's bytes spliced into its text either fails to
//! parse, fails the check against its data key, or says exactly what the genuine one said
//! (same file id, recipients and key block): nobody without the key can change who it names.
#![no_main]

use std::sync::OnceLock;

use envault::crypt::{self, DataKey, Header, Recipient};
use libfuzzer_sys::fuzz_target;

const RECIPIENTS: [&str; 2] = [
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "age1yp33vqsvnncegecyytvar5y8nrlgqqg0d9phcqyafpnxvlhxxd0quyq7ff",
];

fn genuine() -> &'static (DataKey, Header, String) {
    static G: OnceLock<(DataKey, Header, String)> = OnceLock::new();
    G.get_or_init(|| {
        let key = DataKey::generate().unwrap();
        let rcpts: Vec<Recipient> = RECIPIENTS.iter().map(|r| r.parse().unwrap()).collect();
        let header = Header::wrap(&key, [9; 16], &rcpts).unwrap();
        let text = header.lines().join("\n") + "\n";
        (key, header, text)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(header)) = Header::parse(text) {
        let again = Header::parse(&(header.lines().join("\n") + "\n"));
        assert_eq!(again.ok().flatten(), Some(header));
    }
    let (key, real, real_text) = genuine();
    if !text.is_empty() {
        // Splice the input into the genuine text at a char boundary the input chooses.
        let mut at = data[0] as usize * real_text.len() / 256;
        while !real_text.is_char_boundary(at) {
            at -= 1;
        }
        let rest = &text[text.chars().next().map_or(0, char::len_utf8)..];
        let edited = format!("{}{rest}{}", &real_text[..at], &real_text[at..]);
        if let Ok(Some(h)) = Header::parse(&edited) {
            if h.verify(key).is_ok() && h.version == 2 {
                assert_eq!(h.file_id, real.file_id);
                assert_eq!(h.recipients, real.recipients);
                assert_eq!(h.wrapped, real.wrapped);
            }
        }
    }
    for line in text.lines() {
        let (name, value) = line.split_once('=').unwrap_or(("K", line));
        let _ = crypt::open(key, &[0; 16], name, value);
    }
    // A whole file: its header is found at the top or the file is damaged (never a panic), and
    // a file whose header reads is one whose first lines are that header.
    if let Ok(doc) = envault::dotenv::Document::parse(text) {
        if let Ok(Some(h)) = crypt::header_of(&doc) {
            let leading = doc.leading_lines(crypt::HEADER_PREFIX).join("\n");
            assert_eq!(Header::parse(&leading).ok().flatten(), Some(h));
        }
    }
});
