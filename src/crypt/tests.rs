//! Unit tests of the envelope: wrapping, sealing, binding, tampering.

use super::*;

fn identity() -> (Identities, Recipient) {
    let (secret, public) = generate_identity();
    (
        Identities::parse(&secret, "test").unwrap(),
        public.parse().unwrap(),
    )
}

#[test]
fn data_key_round_trip_through_the_header() {
    let (ids, rcpt) = identity();
    let key = DataKey::generate().unwrap();
    let header = Header::seal_key(&key, &[rcpt]).unwrap();
    let text = header.lines().join("\n") + "\nA=1\n";
    let parsed = Header::parse(&text).unwrap().unwrap();
    assert_eq!(parsed, header);
    let opened = parsed.unwrap(&ids).unwrap();
    assert_eq!(opened.bytes(), key.bytes());
    assert!(format!("{opened:?} {header:?}").contains("DataKey(..)"));
}

#[test]
fn other_identities_cannot_open_it() {
    let (_, rcpt) = identity();
    let (other, _) = identity();
    let header = Header::seal_key(&DataKey::generate().unwrap(), &[rcpt]).unwrap();
    match header.unwrap(&other) {
        Err(CryptError::NotARecipient { recipients }) => assert_eq!(recipients, header.recipients),
        other => panic!("{other:?}"),
    }
}

#[test]
fn values_are_bound_to_key_and_file() {
    let key = DataKey::generate().unwrap();
    let (id1, id2) = ([1u8; 16], [2u8; 16]);
    let sealed = seal(&key, &id1, "DB_PASSWORD", "'s3cret value'").unwrap();
    assert!(is_sealed(&sealed));
    assert!(sealed[VALUE_PREFIX.len()..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        open(&key, &id1, "DB_PASSWORD", &sealed).unwrap().as_str(),
        "'s3cret value'"
    );
    // Moved to another key, or into another file: refused, naming the key.
    let e = open(&key, &id1, "API_KEY", &sealed).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot decrypt API_KEY: the value was altered, or sealed for another key or file"
    );
    assert!(open(&key, &id2, "DB_PASSWORD", &sealed).is_err());
    assert!(open(&DataKey::generate().unwrap(), &id1, "DB_PASSWORD", &sealed).is_err());
    // Two seals of one value differ (random nonces).
    assert_ne!(
        sealed,
        seal(&key, &id1, "DB_PASSWORD", "'s3cret value'").unwrap()
    );
}

#[test]
fn tampering_fails_cleanly() {
    let key = DataKey::generate().unwrap();
    let id = [7u8; 16];
    let sealed = seal(&key, &id, "K", "value").unwrap();
    let body = &sealed[VALUE_PREFIX.len()..];
    let mut raw = B64.decode(body).unwrap();
    for i in [0, 12, 30, raw.len() - 1] {
        raw[i] ^= 0x01;
        let flipped = format!("{VALUE_PREFIX}{}", B64.encode(&raw));
        assert!(
            matches!(open(&key, &id, "K", &flipped), Err(CryptError::Open { .. })),
            "bit {i}"
        );
        raw[i] ^= 0x01;
    }
    for cut in [0, 10, body.len() / 2, body.len() - 1] {
        let truncated = format!("{VALUE_PREFIX}{}", &body[..cut]);
        assert!(open(&key, &id, "K", &truncated).is_err(), "cut {cut}");
    }
    assert!(matches!(
        open(&key, &id, "K", "plain"),
        Err(CryptError::NotSealed { .. })
    ));
}

#[test]
fn bad_headers_name_the_line() {
    assert!(Header::parse("A=1\n").unwrap().is_none());
    let e = Header::parse("#envault:v2 id=x\n").unwrap_err();
    assert!(e.to_string().starts_with("header line 1:"), "{e}");
    let e =
        Header::parse("#envault:v1 id=AAAAAAAAAAAAAAAAAAAAAA\n#envault:nonsense\n").unwrap_err();
    assert!(e.to_string().starts_with("header line 2:"), "{e}");
    let e = Header::parse("#envault:v1 id=AAAAAAAAAAAAAAAAAAAAAA\n").unwrap_err();
    assert!(e.to_string().contains("data key is missing"), "{e}");
    let e = Header::parse("#envault:v1 id=short\n#envault:key x\n").unwrap_err();
    assert!(e.to_string().contains("16 bytes"), "{e}");
}

#[test]
fn recipients_parse_or_explain() {
    let (_, public) = generate_identity();
    assert!(public.parse::<Recipient>().is_ok());
    let e = "nope".parse::<Recipient>().unwrap_err();
    assert!(e.to_string().contains("expected an age1"), "{e}");
    let e = "age1notakey".parse::<Recipient>().unwrap_err();
    assert!(
        e.to_string().starts_with("invalid recipient `age1notakey`"),
        "{e}"
    );
    let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
    assert!(ssh.parse::<Recipient>().is_ok());
}

#[test]
fn adding_a_recipient_keeps_the_file_id() {
    let (ids_a, a) = identity();
    let (ids_b, b) = identity();
    let key = DataKey::generate().unwrap();
    let h1 = Header::seal_key(&key, std::slice::from_ref(&a)).unwrap();
    let h2 = Header::wrap(&key, h1.file_id, &[a, b]).unwrap();
    assert_eq!(h1.file_id, h2.file_id);
    assert_eq!(h2.unwrap(&ids_a).unwrap().bytes(), key.bytes());
    assert_eq!(h2.unwrap(&ids_b).unwrap().bytes(), key.bytes());
}

#[test]
fn documents_round_trip() {
    use crate::dotenv::Document;
    use crate::glob::GlobSet;
    let (ids, rcpt) = identity();
    let text = "# prod\nDB_PASSWORD='p@ss word'\nLOG_LEVEL=warn\r\nEMPTY=\nexport TOKEN=\"a\\nb\" # note\n";
    let mut doc = Document::parse(text).unwrap();
    let key = DataKey::generate().unwrap();
    let header = Header::seal_key(&key, &[rcpt]).unwrap();
    let n = encrypt_document(&mut doc, &key, &header, &GlobSet::new(vec!["LOG_*".into()])).unwrap();
    assert_eq!(n, 3);
    let sealed = doc.render();
    assert!(sealed.starts_with("#envault:v2 id="), "{sealed}");
    assert!(
        sealed.contains("\nLOG_LEVEL=warn\r\n") && !sealed.contains("p@ss"),
        "{sealed}"
    );
    assert!(sealed.contains("export TOKEN=enc:v1:") && sealed.contains(" # note\n"));
    // Idempotent: nothing more to seal, same bytes.
    let again = Document::parse(&sealed).unwrap();
    let mut again2 = again.clone();
    assert_eq!(
        encrypt_document(&mut again2, &key, &header, &GlobSet::default()).unwrap(),
        1,
        "LOG_LEVEL without plaintext_keys"
    );
    let mut same = again.clone();
    encrypt_document(
        &mut same,
        &key,
        &header,
        &GlobSet::new(vec!["LOG_*".into()]),
    )
    .unwrap();
    assert_eq!(same.render(), sealed);
    // Decrypting gives the original bytes back.
    let parsed = Header::parse(&sealed).unwrap().unwrap();
    let opened_key = parsed.unwrap(&ids).unwrap();
    let plain = decrypt_document(&again, &opened_key, &parsed).unwrap();
    assert_eq!(plain.render(), text);
    // Duplicates are refused: the older one would stay in clear.
    let mut dup = Document::parse("A=1\nA=2\n").unwrap();
    let e = encrypt_document(&mut dup, &key, &header, &GlobSet::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("A is defined more than once (lines 1, 2)"),
        "{e}"
    );
}

#[test]
fn resealing_keeps_unchanged_ciphertext() {
    use crate::dotenv::Document;
    use crate::glob::GlobSet;
    let (_, rcpt) = identity();
    let key = DataKey::generate().unwrap();
    let header = Header::seal_key(&key, &[rcpt]).unwrap();
    let mut sealed = Document::parse("A=1\nB='two'\nC=3\n").unwrap();
    encrypt_document(&mut sealed, &key, &header, &GlobSet::default()).unwrap();
    let old_plain = decrypt_document(&sealed, &key, &header).unwrap();
    let mut edited = old_plain.clone();
    edited.set("B", "changed").unwrap();
    edited.insert("D", "new", Some("C")).unwrap();
    reseal_document(
        &mut edited,
        &sealed,
        &old_plain,
        &key,
        &header,
        &GlobSet::default(),
    )
    .unwrap();
    let (before, after) = (sealed.render(), edited.render());
    let line = |t: &str, k: &str| t.lines().find(|l| l.starts_with(k)).unwrap().to_owned();
    assert_eq!(
        line(&before, "A="),
        line(&after, "A="),
        "unchanged: same ciphertext"
    );
    assert_eq!(line(&before, "C="), line(&after, "C="));
    assert_ne!(line(&before, "B="), line(&after, "B="));
    assert!(line(&after, "D=").starts_with("D=enc:v1:"));
    let back = decrypt_document(&edited, &key, &header).unwrap();
    assert_eq!(back.render(), "A=1\nB='changed'\nC=3\nD=new\n");
}

/// Version 2 binds the recipient lines to the data key: a line added, changed, removed or
/// reordered by someone without the key is refused when the key is opened.
#[test]
fn recipient_lines_written_without_the_key_are_refused() {
    let (ids, rcpt) = identity();
    let (_, mallory) = identity();
    let (_, bob) = identity();
    let key = DataKey::generate().unwrap();
    let header = Header::wrap(&key, [7; 16], &[rcpt, bob]).unwrap();
    let text = header.lines().join("\n") + "\n";
    let forge = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        edit(&mut lines);
        Header::parse(&(lines.join("\n") + "\n")).unwrap().unwrap()
    };
    let attacks: Vec<(&str, Header)> = vec![
        (
            "added",
            forge(&|l| l.insert(1, format!("#envault:recipient {}", mallory.as_str()))),
        ),
        (
            "replaced",
            forge(&|l| l[2] = format!("#envault:recipient {}", mallory.as_str())),
        ),
        ("removed", forge(&|l| drop(l.remove(2)))),
        ("reordered", forge(&|l| l.swap(1, 2))),
        (
            "downgraded",
            forge(&|l| {
                l[0] = format!("#envault:v1 id={}", B64.encode([7u8; 16]));
                l.pop();
                l.insert(1, format!("#envault:recipient {}", mallory.as_str()));
            }),
        ),
    ];
    for (what, forged) in attacks {
        let e = forged.unwrap(&ids).unwrap_err();
        assert!(matches!(e, CryptError::Tampered { .. }), "{what}: {e}");
    }
    // The genuine header opens.
    assert!(Header::parse(&text).unwrap().unwrap().unwrap(&ids).is_ok());
}

/// Someone who knows only the public recipients writes a fresh data key under the same file
/// id: the header checks out against that key (it is theirs), but its public commitment
/// differs from the original, which is what readers and `scan --range` compare.
#[test]
fn a_replaced_data_key_changes_the_public_commitment() {
    let (ids, rcpt) = identity();
    let key = DataKey::generate().unwrap();
    let original = Header::seal_key(&key, std::slice::from_ref(&rcpt)).unwrap();
    let attacker_key = DataKey::generate().unwrap();
    let forged = Header::wrap(&attacker_key, original.file_id, &[rcpt]).unwrap();
    assert!(forged.unwrap(&ids).is_ok());
    assert_ne!(forged.commitment, original.commitment);
    // A commitment copied over from the original does not match the attacker's key.
    let copied = Header {
        commitment: original.commitment,
        ..forged.clone()
    };
    assert!(matches!(
        copied.unwrap(&ids).unwrap_err(),
        CryptError::Tampered { .. }
    ));
    // The commitment reveals nothing usable: it is not the key, nor its plain hash.
    assert_ne!(&original.commitment.unwrap()[..], key.bytes());
}

#[test]
fn version_1_headers_upgrade_without_rewrapping() {
    let (ids, rcpt) = identity();
    let key = DataKey::generate().unwrap();
    let v2 = Header::seal_key(&key, &[rcpt]).unwrap();
    let v1 = Header {
        version: 1,
        commitment: None,
        mac: None,
        ..v2.clone()
    };
    let text = v1.lines().join("\n") + "\n";
    assert!(text.starts_with("#envault:v1 id="));
    let parsed = Header::parse(&text).unwrap().unwrap();
    let k = parsed.unwrap(&ids).unwrap();
    let up = parsed.upgraded(&k);
    assert_eq!(up.version, 2);
    assert_eq!(up.wrapped, v1.wrapped, "nobody gains or loses access");
    assert_eq!(up, v2);
    // A version 1 header listing more recipients than the key was wrapped to is refused.
    let (_, mallory) = identity();
    let mut padded = v1.clone();
    padded.recipients.push(mallory.as_str().to_owned());
    assert!(matches!(
        padded.unwrap(&ids).unwrap_err(),
        CryptError::Tampered { .. }
    ));
}

#[test]
fn version_2_header_lines_are_strict() {
    let (_, rcpt) = identity();
    let key = DataKey::generate().unwrap();
    let h = Header::seal_key(&key, &[rcpt]).unwrap();
    let lines = h.lines();
    let without_mac = lines[..lines.len() - 1].join("\n") + "\n";
    let e = Header::parse(&without_mac).unwrap_err();
    assert!(e.to_string().contains("mac"), "{e}");
    let after_mac = lines.join("\n") + "\n#envault:recipient age1x\n";
    assert!(Header::parse(&after_mac).is_err());
    let e = Header::parse("#envault:v3 id=AAAAAAAAAAAAAAAAAAAAAA\n").unwrap_err();
    assert!(e.to_string().contains("newer format version"), "{e}");
}

/// Without commitments (a version 1 side), any new key block is a replaced key: recipients
/// reordered around a fresh key, or a forged "upgrade" to version 2, included.
#[test]
fn a_new_key_block_under_a_version_1_header_is_a_replaced_key() {
    let (a, b) = (generate_identity().1, generate_identity().1);
    let r = |t: &String| -> Recipient { t.parse().unwrap() };
    let k1 = DataKey::generate().unwrap();
    let k2 = DataKey::generate().unwrap();
    let mut v1 = Header::seal_key(&k1, &[r(&a), r(&b)]).unwrap();
    v1.version = 1;
    v1.commitment = None;
    v1.mac = None;
    let mut forged = Header::seal_key(&k2, &[r(&b), r(&a)]).unwrap();
    forged.file_id = v1.file_id;
    assert!(
        forged.key_replaced_since(&v1),
        "a forged upgrade to version 2"
    );
    let mut forged_v1 = forged.clone();
    forged_v1.version = 1;
    forged_v1.commitment = None;
    forged_v1.mac = None;
    assert!(
        forged_v1.key_replaced_since(&v1),
        "recipients reordered, version 1"
    );
    // A real upgrade keeps the key block.
    assert!(!v1.upgraded(&k1).key_replaced_since(&v1));
}

/// The last check of sealing reads the sealed text with every reader: a value any of them
/// would still read in clear is refused, whatever the checks before it let through. (The
/// three reviews' bypasses had this form: a line only other readers see, left in clear.)
#[test]
fn sealing_refuses_whatever_a_reader_would_still_read_in_clear() {
    use crate::dotenv::Document;
    use crate::glob::GlobSet;
    let token = "enc:v1:Q2lwaGVydGV4dC1vZi1hLXNlYWxlZC12YWx1ZQ";
    let check = |text: &str, clear: &[&str]| {
        let doc = Document::read(text.as_bytes().to_vec()).unwrap();
        left_nothing_in_clear(
            &doc,
            &GlobSet::new(clear.iter().map(|s| (*s).to_owned()).collect()),
            0,
        )
    };
    // Sealed values, empty ones, and plaintext keys pass.
    check(&format!("A={token}\nB=\nLOG_LEVEL=info\n"), &["LOG_*"]).unwrap();
    for text in [
        // A line after a lone CR in a comment, the same key or another.
        format!("A={token} #c\rA=\"hunter2\\n\"\n"),
        format!("A={token} #c\rB=hunter2\n"),
        // A value one reader runs on into the comment.
        format!("A='{token}\\' #1 hunter2'\n"),
        // An inner line of a quoted value that the Ruby gem reads on its own.
        format!("A=\"{token}\nDB_PASSWORD=hunter2\n\"\n"),
        // A line in clear.
        format!("A={token}\nB=hunter2\n"),
    ] {
        let e = check(&text, &[]).unwrap_err();
        assert!(e.to_string().contains("in clear"), "{text:?}: {e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    // A key that reads as a credential is refused too: key names stay in clear.
    let e = check(
        &format!("A={token} #\rghp_R3alTok3nhunter2inclear0123456789abcd=x\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("looks like a credential"), "{e}");
}
