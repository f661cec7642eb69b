//! A test per family: made-up tokens in each provider's documented shape, in the places they
//! are pasted (env lines, code, YAML, JSON), and look-alikes that must be left alone.

use super::*;

/// The ids of the families found in `text`.
fn ids(text: &str) -> Vec<&'static str> {
    find(text.as_bytes())
        .into_iter()
        .map(|m| m.family.id)
        .collect()
}

/// `text` holds exactly one credential, of family `id`, and it is `secret`.
#[track_caller]
fn one(id: &str, text: &str, secret: &str) {
    let found = find(text.as_bytes());
    assert_eq!(
        found.iter().map(|m| m.family.id).collect::<Vec<_>>(),
        [id],
        "in {text:?}"
    );
    assert_eq!(&text[found[0].span.clone()], secret, "span in {text:?}");
}

#[track_caller]
fn none(text: &str) {
    assert_eq!(ids(text), Vec::<&str>::new(), "in {text:?}");
}

#[test]
fn ids_are_unique_kebab_case_and_documented() {
    let mut seen = std::collections::HashSet::new();
    for f in FAMILIES {
        assert!(seen.insert(f.id), "{} twice", f.id);
        assert!(
            f.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{}",
            f.id
        );
        assert!(f.doc.starts_with("https://"), "{}", f.id);
        assert!(!f.what.is_empty() && !f.catches.is_empty() && !f.leaves.is_empty());
        assert!(!f.anchors.is_empty(), "{}", f.id);
    }
}

#[test]
fn aws() {
    let id = "AKIAIS5COUHFUMVGU6H4";
    one("aws-access-key-id", &format!("AWS_ACCESS_KEY_ID={id}"), id);
    one("aws-access-key-id", &format!("  access_key: \"{id}\""), id);
    none("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE");
    none("xAKIAIS5COUHFUMVGU6H4");
    none("AKIAIS5COUHFUMVGU6H");
    let secret = "FG5B5EGnwAp+cz2jlPR9+RrxEmlKi+Mf549e3y3F";
    one(
        "aws-secret-access-key",
        &format!("aws_secret_access_key = {secret}"),
        secret,
    );
    one(
        "aws-secret-access-key",
        &format!("\"awsSecretKey\": \"{secret}\""),
        secret,
    );
    one(
        "aws-secret-access-key",
        &format!("AWS_SECRET_ACCESS_KEY='{secret}'"),
        secret,
    );
    none("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    none("aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}");
    none("AWS_SECRET_ACCESS_KEY = os.environ[\"AWS_SECRET_ACCESS_KEY\"]");
    // 40 base64 characters under another name are not this family.
    none(&format!("build_hash = \"{secret}\""));
}

#[test]
fn github_tokens_and_their_checksum() {
    let valid = "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";
    let unchecked = "ghp_cZzfLcZrrkGPwTdbb6WNZS1kkHJztBuR2PdL";
    let found = find(format!("GITHUB_TOKEN={valid}").as_bytes());
    assert_eq!(found[0].confidence, Confidence::Checksum);
    // A failed checksum does not hide the token: it only lowers the confidence.
    let found = find(format!("token: {unchecked}").as_bytes());
    assert_eq!(found[0].family.id, "github-token");
    assert_eq!(found[0].confidence, Confidence::Shape);
    let pat = "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";
    one("github-token", &format!("GITHUB_PAT={pat}"), pat);
    none("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    none("GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345");
    none("GITHUB_TOKEN=ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    none("see ghp_short");
}

#[test]
fn gitlab_slack_and_webhooks() {
    one(
        "gitlab-token",
        "GITLAB_PAT=\"glpat-Jox17RWEVxropmO6W9_y\"",
        "glpat-Jox17RWEVxropmO6W9_y",
    );
    none("GITLAB_PAT=glpat-XXXXXXXXXXXXXXXXXXXX");
    let bot = "xoxb-84258555005-9231262134436-i5rAcZfanIAalpntSJ3c4523";
    one("slack-token", &format!("slack_token: {bot}"), bot);
    none("SLACK_BOT_TOKEN=xoxb-xxxxxxxxxxx-xxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx");
    let hook = "https://hooks.slack.com/services/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";
    one("slack-webhook", &format!("url = \"{hook}\""), hook);
    none("url = \"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\"");
    none("docs: https://hooks.slack.com/");
}

#[test]
fn stripe() {
    one(
        "stripe-key",
        "STRIPE_KEY=\"rk_live_rpPtKYrHydQSqSWcmjW3RtPP\"",
        "rk_live_rpPtKYrHydQSqSWcmjW3RtPP",
    );
    one(
        "stripe-test-key",
        "stripe.api_key = 'sk_test_TeH9h3V8czKBuemqNttfBZvr'",
        "sk_test_TeH9h3V8czKBuemqNttfBZvr",
    );
    one(
        "stripe-webhook-secret",
        "STRIPE_WEBHOOK_SECRET=whsec_WWLlR7PzUB7Cl1yNLiwoJu5qYRpcSSWD",
        "whsec_WWLlR7PzUB7Cl1yNLiwoJu5qYRpcSSWD",
    );
    none("STRIPE_KEY=sk_live_AAAAAAAAAAAAAAAAAAAAAAAA");
    let pk = find(b"STRIPE_PUBLISHABLE_KEY=pk_live_uaka8jkhBv8rwz8VhIraCCrd");
    assert_eq!(pk.len(), 1);
    assert!(pk[0].family.public, "publishable keys are public by design");
}

#[test]
fn google() {
    let key = "AIzasOnFg4xarI6F3H_r-up8cUb1ErTHEZnVwX5";
    one("google-api-key", &format!("GOOGLE_MAPS_KEY={key}"), key);
    one(
        "google-api-key",
        &format!("<string name=\"google_api_key\">{key}</string>"),
        key,
    );
    none("AIzasOnFg4xarI6F3H_r-up8cUb1ErTHEZnVwX");
    one(
        "google-oauth-client-secret",
        "client_secret: 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",
        "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",
    );
    let id = find(
        b"client_id: 118473937211-4vbm6b0jmp5u2trr0f2ch21m5g8o5q1l.apps.googleusercontent.com",
    );
    assert!(id.iter().all(|m| m.family.public), "{id:?}");
}

#[test]
fn private_keys_in_every_layout() {
    let body = "ZMS8rluXZrQerJnKLwWmKcFEL1XAy5foxwRKbEBwt1XGwF1DFJsChvAIz5rpoTzY\nCMqDN/wxRpH6ZCEFKSSUUo3yzZB+It+iPUADkyETOAklTMXrGspMKzV2i88f1YBa";
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----");
    one("private-key", &format!("{pem}\n"), &pem);
    // Service-account JSON: the whole key on one line with `\n` escapes.
    let escaped = pem.replace('\n', "\\n");
    one(
        "private-key",
        &format!("  \"private_key\": \"{escaped}\\n\",\n"),
        &escaped,
    );
    // A YAML block scalar, indented.
    let indented = format!(
        "tls:\n  key: |\n    -----BEGIN EC PRIVATE KEY-----\n    {}\n    -----END EC PRIVATE KEY-----\n",
        body.replace('\n', "\n    ")
    );
    assert_eq!(ids(&indented), ["private-key"]);
    none("-----BEGIN PRIVATE KEY-----\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n-----END PRIVATE KEY-----\n");
    none("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n");
    none(&format!(
        "-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    ));
    none(&format!(
        "-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"
    ));
}

#[test]
fn urls_with_passwords() {
    one(
        "database-url",
        "db = create_engine(\"postgresql://app:Vq3x9LmT2pZr@db.internal:5432/app\")",
        "Vq3x9LmT2pZr",
    );
    one(
        "database-url",
        "MONGO_URI=mongodb+srv://svc:k8Jd2nWq@cluster0.abcde.mongodb.net/prod",
        "k8Jd2nWq",
    );
    one(
        "database-url",
        "url: jdbc:mysql://root:Xy7pQ2m@10.0.0.5:3306/shop",
        "Xy7pQ2m",
    );
    one(
        "database-url",
        "REDIS_URL=redis://:s9KfLw2Q@cache:6379/0",
        "s9KfLw2Q",
    );
    none("DATABASE_URL=postgresql://db.server.com:5432/production");
    none("DATABASE_URL=postgres://user:password@localhost:5432/app");
    none("DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app");
    none("DATABASE_URL=postgres://postgres:postgres@localhost/app");
    one(
        "url-credentials",
        "https://deploy:3hT9kLq2Vx@github.com\n",
        "3hT9kLq2Vx",
    );
    none("see https://example.com/path:with@sign");
    one(
        "database-url",
        "sql.Open(\"mysql\", \"orders:Tq8vN2xK7pLmR4wZ@tcp(db:3306)/orders\")",
        "Tq8vN2xK7pLmR4wZ",
    );
    none("fmt.Sprintf(\"%s:%s@tcp(%s)/%s\", user, pass, host, name)");
    none("dsn := \"root:root@tcp(127.0.0.1:3306)/app\"");
    none("proxy = http://user:pass@proxy:3128");
}

#[test]
fn ai_providers() {
    let proj = "sk-proj-vW3-_q-UXX84FI0Ta01Mjk4JyoQdEjS8ZZAZ4F8VV2xjCnzvz_d8hO3mvRFbT3BlbkFJzupZJn48DPn5UcxeX1auGRyvr2GhlShhmeZV_R2gMwNRxovC14Hqrjz16A8e";
    one("openai-api-key", &format!("OPENAI_API_KEY={proj}"), proj);
    let legacy = "sk-OpOiHa3SZ9s2z4dIUADyT78gx27zQ3zzOzIp6c8s2RZC2fzA";
    one(
        "openai-api-key",
        &format!("openai.api_key = \"{legacy}\""),
        legacy,
    );
    let ant = "sk-ant-api03-DeWQmeZxldbwrg_WQrsAVZSEzia18ZDLLtxzVMoiE7CfpzNN3HLr4-wBcdqt61C4QttZQ-dKKfR9BEo8Ijf-L_LPSX6ifAA";
    one(
        "anthropic-api-key",
        &format!("ANTHROPIC_API_KEY={ant}"),
        ant,
    );
    none("OPENAI_API_KEY=sk-...");
    none("OPENAI_API_KEY=sk-your-key-here");
    one(
        "huggingface-token",
        "HF_TOKEN=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",
        "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",
    );
}

#[test]
fn jwts() {
    let t = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAic3ZjLWJpbGxpbmciLCAiaWF0IjogMTc2NDU0NzIwMH0.6ElAcpkGXv-XjCnGvpYta8JntZfwxusEfLxNA4gcHw5";
    one("jwt", &format!("Authorization: Bearer {t}"), t);
    none("eyJub3QiOiAiYSBoZWFkZXIifQ.eyJzdWIiOiAic3ZjIn0.abc");
}

#[test]
fn package_registries() {
    let npm = "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";
    let found = find(format!("//registry.npmjs.org/:_authToken={npm}\n").as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].family.id, "npm-token");
    assert_eq!(found[0].confidence, Confidence::Checksum);
    one(
        "npm-token",
        "//npm.pkg.example.com/:_authToken=0b1c7a4e-58d2-4f6a-9e3b-2d7c1f0a8e64\n",
        "0b1c7a4e-58d2-4f6a-9e3b-2d7c1f0a8e64",
    );
    none("//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n");
    none("DB_AUTH_TOKEN_NAME=primary-database-auth\n");
    let pypi = "pypi-AgEIcHlwaS5vcmc2ECUMeEYDJjGhohBpwYEuf1BWKWiO_r8Fg9ZFIBv4YSmtIAD1TjFBPQBouywU-S7PWD_hZ";
    one(
        "pypi-token",
        &format!("[pypi]\nusername = __token__\npassword = {pypi}\n"),
        pypi,
    );
}

#[test]
fn messaging_and_email() {
    one(
        "twilio-api-key",
        "TWILIO_API_KEY=SK489c62d7b7c37c3debaa1a1201d6486c",
        "SK489c62d7b7c37c3debaa1a1201d6486c",
    );
    one(
        "twilio-api-key",
        "TWILIO_AUTH_TOKEN=8216eb9071bcd17f41ad2f01987ca126",
        "8216eb9071bcd17f41ad2f01987ca126",
    );
    none("TWILIO_ACCOUNT_SID=AC8216eb9071bcd17f41ad2f01987ca126");
    let sg = "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";
    one("sendgrid-api-key", &format!("SENDGRID_API_KEY='{sg}'"), sg);
    one(
        "mailgun-api-key",
        "MAILGUN_API_KEY=key-041aadf0d366c48c6a5d6960c34793cd",
        "key-041aadf0d366c48c6a5d6960c34793cd",
    );
    one(
        "mailchimp-api-key",
        "MAILCHIMP_KEY=2d65f3d692cffcca18b413337d3d6ca9-us21",
        "2d65f3d692cffcca18b413337d3d6ca9-us21",
    );
    one(
        "telegram-bot-token",
        "BOT_TOKEN=282958600:AAE1XZhV4kQs969v6TcdUFQM3GDxP8qwn2o",
        "282958600:AAE1XZhV4kQs969v6TcdUFQM3GDxP8qwn2o",
    );
    none("starts at 12:30, port 8080:AAA");
}

#[test]
fn clouds() {
    let key =
        "18ePYq6Aq+berGFlly6Ek2X83aT4iXujHBpJmNnOLpeZaYPjPITayynpUiJquH7cndSLLcei5rYEKkYgy4nx2A==";
    let conn = format!("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={key};EndpointSuffix=core.windows.net");
    one(
        "azure-storage-key",
        &format!("AZURE_STORAGE_CONNECTION_STRING=\"{conn}\""),
        key,
    );
    one(
        "azure-storage-key",
        &format!("storage_account_key = \"{key}\""),
        key,
    );
    // The storage emulator's published key opens nothing; one character off, it is a key.
    let emulator =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    none(&format!(
        "UseDevelopmentStorage;AccountName=devstoreaccount1;AccountKey={emulator};"
    ));
    let near = emulator.replace("Eby8", "Eby9");
    one(
        "azure-storage-key",
        &format!("AccountName=x;AccountKey={near};"),
        &near,
    );
    let secret = "5CZ7Q~srh_SB9_51m3Oaz6tdMgHi2VTKsvlW8G2G";
    one(
        "azure-client-secret",
        &format!("AZURE_CLIENT_SECRET={secret}"),
        secret,
    );
    let dop = "dop_v1_fe223f77991b421b1f957815d30d20558c7a6a088c681b4e70c53b99b8e562dc";
    one(
        "digitalocean-token",
        &format!("DIGITALOCEAN_TOKEN={dop}"),
        dop,
    );
    one(
        "shopify-token",
        "SHOPIFY_ACCESS_TOKEN=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",
        "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",
    );
    let hrku = "HRKU-AAtSNT3OgeHS3lTh130rkHc2J3En0fI9Cf-wlHrk8-9u6e8J_-s7RCbxZ0tB";
    one("heroku-api-key", &format!("HEROKU_API_KEY={hrku}"), hrku);
    one(
        "heroku-api-key",
        "HEROKU_API_KEY=650fbd80-dbd4-c842-5d79-00c7ad60f7b2",
        "650fbd80-dbd4-c842-5d79-00c7ad60f7b2",
    );
    none("REQUEST_ID=650fbd80-dbd4-c842-5d79-00c7ad60f7b2");
    none("HEROKU_APP_NAME=my-fancy-application-name-for-prod1");
    one(
        "datadog-api-key",
        "DD_API_KEY=74bf00d1efe6b9db1748b3a3f7c6ba70",
        "74bf00d1efe6b9db1748b3a3f7c6ba70",
    );
    one(
        "datadog-api-key",
        "datadog_app_key: 59797a16e5a1067f87ee0904473821b6c3f0acac",
        "59797a16e5a1067f87ee0904473821b6c3f0acac",
    );
    none("GIT_SHA=59797a16e5a1067f87ee0904473821b6c3f0acac");
}

#[test]
fn secret_stores() {
    let hvs = "hvs.kEwtMnP7tY4s_JaHGsmmf1WHku68v5r7Oea8lQyoBGZ7_wBXcyrBXjSuEaRrpTnOfFUyyZMcj8nlHmN27lsm12UrdN";
    one("vault-token", &format!("VAULT_TOKEN={hvs}"), hvs);
    one(
        "vault-token",
        "VAULT_TOKEN=s.UJ6HiMmgOFFXU92Ig5GodXuW",
        "s.UJ6HiMmgOFFXU92Ig5GodXuW",
    );
    none("VAULT_TOKEN=root");
    let dp = "dp.st.prd.XL9xpTZnErAHZ874rjYQVvwYTKAeRATkDJDTDHW067S";
    one("doppler-token", &format!("DOPPLER_TOKEN={dp}"), dp);
    let ops = "ops_eyJFE3+IR/S/kpWe42spqBO6TO3rOQDopfhZHHF0/EFt8p+bD6i9BPkDj3zHdo1B055YjnhDxS3aQHbOzg7GCi2DYpk6iMsUWKR5J8TIlpc7SP/y3tzJs+/3MnFwGSJLjX3jMFbzr23fgoqY";
    one(
        "onepassword-service-account-token",
        &format!("OP_SERVICE_ACCOUNT_TOKEN={ops}"),
        ops,
    );
    let age = "AGE-SECRET-KEY-1PEG2PUZWG0Y6EJXQ70CCLLFGC8DJSAX7UHJG0AQ74T7NK8A98D58XQT4UJ";
    one("age-secret-key", &format!("{age}\n"), age);
}

#[test]
fn docker_config_auths() {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("ci-bot:Rk7vN2xQp9Lm");
    one(
        "docker-registry-auth",
        &format!("{{\"auths\": {{\"ghcr.io\": {{\"auth\": \"{auth}\"}}}}}}"),
        &auth,
    );
    let empty = base64::engine::general_purpose::STANDARD.encode("nothing-here");
    none(&format!(
        "{{\"auths\": {{\"ghcr.io\": {{\"auth\": \"{empty}\"}}}}}}"
    ));
}

#[test]
fn identify_whole_values() {
    assert_eq!(
        identify("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").map(|f| f.id),
        Some("github-token")
    );
    assert_eq!(
        identify("prefix 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"),
        None
    );
    assert_eq!(
        identify_assigned("TWILIO_AUTH_TOKEN", "8216eb9071bcd17f41ad2f01987ca126").map(|f| f.id),
        Some("twilio-api-key")
    );
    assert_eq!(
        identify_assigned("BUILD_ID", "8216eb9071bcd17f41ad2f01987ca126"),
        None
    );
}

#[test]
fn references_are_not_values() {
    for r in [
        "$DB_PASSWORD",
        "${DB_PASSWORD}",
        "%(db_password)s",
        "{{ .Values.db.password }}",
        "<your password>",
        "os.environ[\"DJANGO_SECRET_KEY\"]",
        "os.getenv(\"API_TOKEN\")",
        "process.env.API_TOKEN",
        "ENV[\"API_TOKEN\"]",
        "random_password.master.result",
        "var.db_password",
        "",
    ] {
        assert!(is_reference(r), "{r}");
    }
    for v in [
        "Xk9_mQ2-vL8pW4nZr7tY",
        "hunter2",
        "s.UJ6HiMmgOFFXU92Ig5GodXuW",
        "Tr0ub4dor&3",
    ] {
        assert!(!is_reference(v), "{v}");
    }
}

#[test]
fn checksum_round_trip() {
    let random = b"9vzF9ECA4vx5E8Kzu2qTrBdg6JoAtY";
    let token = format!(
        "ghp_{}{}",
        std::str::from_utf8(random).unwrap(),
        shapes::crc32_base62(random)
    );
    assert!(shapes::crc32_base62_holds(token.as_bytes()));
    let mut broken = token.into_bytes();
    let last = broken.len() - 1;
    broken[last] = if broken[last] == b'A' { b'B' } else { b'A' };
    assert!(!shapes::crc32_base62_holds(&broken));
}

/// Found by fuzzing: a value that covers several smaller matches replaces them all, once.
#[test]
fn a_match_replaces_every_match_it_covers() {
    let text = "//r.example/:_authToken=x://a:Qw3rTy9Ui0pLm@h.internal:1/x://b:Zx8cVb7Nm6LkJ@h2.internal/\n";
    let found = find(text.as_bytes());
    assert_eq!(
        found.iter().map(|m| m.family.id).collect::<Vec<_>>(),
        ["npm-token"],
        "{found:?}"
    );
}

/// Found by fuzzing: a key block with no end line ends with its last material, whatever
/// follows it.
#[test]
fn a_key_block_without_an_end_ends_with_its_material() {
    let block = "-----BEGIN EC PRIVATE KEY-----\nZMS8rluXZrQerJnKLwWmKcFEL1XAy5foxwRKbEBwt1XGwF1DFJsChvAIz5rpoTzY\n";
    let spans = |t: &str| {
        find(t.as_bytes())
            .into_iter()
            .map(|m| (m.span.start, m.span.end))
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(block), [(0, block.len() - 1)]);
    assert_eq!(spans(&format!("{block}\n\n")), [(0, block.len() - 1)]);
}

/// The value of the assignment around `word` in `text`, as the scanner sees it.
fn assigned(text: &str, word: &str) -> Option<(String, String)> {
    let at = text.find(word).expect("the word is in the text");
    let a = assignment_around(text.as_bytes(), at, at + word.len())?;
    Some((a.name, text[a.value].to_owned()))
}

#[test]
fn assignments_in_every_placement() {
    let pair = |n: &str, v: &str| Some((n.to_owned(), v.to_owned()));
    assert_eq!(
        assigned("db_password = 'x1'", "password"),
        pair("DB_PASSWORD", "x1")
    );
    // Kubernetes, Compose and ECS give a name and its value as two fields.
    let k8s = "env:\n  - name: DB_PASSWORD\n    value: \"Wq7vR2tZ\"\n";
    assert_eq!(assigned(k8s, "PASSWORD"), pair("DB_PASSWORD", "Wq7vR2tZ"));
    let ecs = r#"{ "name": "SIGNING_SECRET", "value": "b8Vq2LmZ" }"#;
    assert_eq!(assigned(ecs, "SECRET"), pair("SIGNING_SECRET", "b8Vq2LmZ"));
    let crlf = "- name: API_TOKEN\r\n  value: t0k3n\r\n";
    assert_eq!(assigned(crlf, "TOKEN"), pair("API_TOKEN", "t0k3n"));
    assert_eq!(
        assigned("- name: DB_PASSWORD\n  valueFrom:\n", "PASSWORD"),
        None
    );
    assert_eq!(assigned("- name: DB_PASSWORD\n", "PASSWORD"), None);
    assert_eq!(
        assigned(
            "- name: DB_PASSWORD\n  image: app\n  value: x\n",
            "PASSWORD"
        ),
        None,
        "the value must follow its name"
    );
    // A Terraform variable's default, wherever it sits in the block.
    let tf = "variable \"admin_password\" {\n  type = string\n  default = \"pN4xR8vT\"\n}\n";
    assert_eq!(assigned(tf, "password"), pair("ADMIN_PASSWORD", "pN4xR8vT"));
    let later =
        "variable \"admin_password\" {\n  type = string\n}\nlocals {\n  default = \"x\"\n}\n";
    assert_eq!(assigned(later, "password"), None, "another block's default");
    // Gradle's escaped quotes, and a URL's query parameter.
    let gradle = r#"buildConfigField "String", "MAPS_API_KEY", "\"c4f8a1e9\"""#;
    assert_eq!(
        assigned(gradle, "API_KEY"),
        pair("MAPS_API_KEY", "c4f8a1e9")
    );
    let url = r#"get("https://h/v2?city=x&api_key=f3a9c27e&page=2")"#;
    assert_eq!(assigned(url, "api_key"), pair("API_KEY", "f3a9c27e"));
}
