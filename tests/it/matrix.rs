//! `envault matrix`: terminal, JSON, and the HTML report checked in headless Chromium.

use std::process::Command;

use crate::common::{stdout, Project};

#[test]
fn terminal_table_grouped_with_legend() {
    let p = Project::tutorial();
    let a = p.run(&["matrix"]).success();
    let out = stdout(&a);
    for line in [
        "KEY                   dev          staging               prod\n",
        "[DB]\n",
        "DB_PORT               = 5432       = 5432                = 5432\n",
        "DB_PASSWORD           ≠ ••••••     ≠ ••••••              ≠ ••••••\n",
        "FEATURE_DARK_MODE     · false      —                     —\n",
        "9 keys, 8 with drift, across 3 environments\n",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    assert!(!out.contains("prod_password_789"));
    let a = p.run(&["matrix", "--only-drift"]).success();
    assert!(!stdout(&a).contains("DB_PORT"));
}

#[test]
fn json_and_encrypted_environments_without_an_identity() {
    let p = Project::tutorial();
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    std::fs::remove_file(p.path("home/.config/envault/identity.txt")).unwrap();
    let a = p.run(&["matrix", "--format", "json"]).success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(
        v["environments"],
        serde_json::json!(["dev", "staging", "prod"])
    );
    let port = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "DB_PORT")
        .unwrap();
    assert_eq!(port["cells"]["prod"]["state"], "encrypted");
    assert_eq!(port["cells"]["dev"]["state"], "same");
}

#[test]
fn html_report_is_self_contained_and_its_filters_work_in_chromium() {
    let p = Project::tutorial();
    p.run(&["matrix", "--format", "html", "--output", "report.html"])
        .success();
    let html = p.read("report.html");
    assert!(
        !html.contains("src=") && !html.contains("<link") && !html.contains("http"),
        "no external assets"
    );
    assert!(!html.contains("prod_password_789"));
    let dom = render(&p, "filter=DB_&drift=1");
    assert!(dom.contains("<span id=\"count\">3</span>"), "{dom}");
    assert!(
        dom.contains("data-key=\"DB_HOST\" data-group=\"DB\" data-drift=\"1\">"),
        "{dom}"
    );
    assert!(
        dom.contains("data-key=\"DB_PORT\" data-group=\"DB\" data-drift=\"0\" hidden=\"\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-key=\"LOG_LEVEL\" data-group=\"LOG\" data-drift=\"1\" hidden=\"\""),
        "{dom}"
    );
}

#[test]
fn html_report_sorts_by_a_column_in_chromium() {
    let p = Project::tutorial();
    p.run(&["matrix", "--format", "html", "--output", "report.html"])
        .success();
    // Column 3 is prod: its cells sort by state (differs, missing, only, same).
    let dom = render(&p, "sort=3");
    let order: Vec<&str> = dom
        .split("<tr class=\"key\" data-key=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert_eq!(order.last(), Some(&"DB_PORT"), "{order:?}");
    assert!(
        order.iter().position(|k| *k == "API_KEY") > order.iter().position(|k| *k == "LOG_LEVEL"),
        "{order:?}"
    );
    assert!(dom.contains("class=\"sorted-asc\""), "{dom}");
}

#[test]
fn html_report_keeps_only_drift_and_sorted_rows_without_stray_group_headers() {
    let p = Project::tutorial();
    p.run(&[
        "matrix",
        "--format",
        "html",
        "--only-drift",
        "--output",
        "report.html",
    ])
    .success();
    // --only-drift: the box starts ticked, so keys identical everywhere are hidden.
    let dom = render(&p, "");
    assert!(
        dom.contains("id=\"drift\" type=\"checkbox\" checked=\"\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-key=\"DB_PORT\" data-group=\"DB\" data-drift=\"0\" hidden=\"\""),
        "{dom}"
    );
    // Sorted, then filtered: no group header is left standing above the sorted rows.
    let dom = render(&p, "sort=1&filter=DB_");
    let headers_shown = dom
        .split("<tr class=\"group\"")
        .skip(1)
        .filter(|g| !g.split('>').next().unwrap().contains("hidden"))
        .count();
    assert_eq!(headers_shown, 0, "{dom}");
    assert!(dom.contains("<span id=\"count\">3</span>"), "{dom}");
}

/// dev = test and prod = prod-eu: the drift shows in the terminal, in JSON-free HTML colours
/// and letters, and in a screenshot: missing cells and the two agreeing groups stand out.
#[test]
fn agreeing_groups_and_missing_keys_are_seen_at_a_glance() {
    let p = Project::empty();
    p.write(
        ".envault.yml",
        "environments:\n  dev: .env.dev\n  test: .env.test\n  prod: .env.prod\n  prod-eu: .env.prod-eu\n",
    );
    for (f, region, extra) in [
        (".env.dev", "local", "DEBUG_TOOLBAR=on\n"),
        (".env.test", "local", "DEBUG_TOOLBAR=on\n"),
        (".env.prod", "eu-west-1", ""),
        (".env.prod-eu", "eu-west-1", ""),
    ] {
        p.write(f, &format!("APP_REGION={region}\nAPP_NAME=shop\n{extra}"));
    }
    let out = stdout(&p.run(&["matrix"]).success());
    assert!(
        out.contains("APP_REGION     =A local  =A local  =B eu-west-1  =B eu-west-1\n"),
        "{out}"
    );
    assert!(
        out.contains("APP_NAME       = shop    = shop    = shop"),
        "{out}"
    );
    assert!(out.contains("3 keys, 2 with drift"), "{out}");

    p.run(&["matrix", "--format", "html", "--output", "report.html"])
        .success();
    let html = p.read("report.html");
    assert!(html.contains("class=\"same g0\""), "{html}");
    assert!(html.contains("class=\"same g1\""), "{html}");
    let png = screenshot(&p);
    let count = |rgb: [u8; 3]| png.chunks_exact(3).filter(|px| *px == rgb).count();
    // The missing cells' red, and the two groups' green and blue, each cover whole cells.
    for (what, rgb) in [
        ("missing", [0xef, 0x9a, 0x9a]),
        ("group A", [0xc8, 0xe6, 0xc9]),
        ("group B", [0xbb, 0xde, 0xfb]),
    ] {
        assert!(count(rgb) > 500, "{what}: {} pixels", count(rgb));
    }
}

#[test]
fn terminal_table_fits_a_narrow_terminal() {
    let p = Project::tutorial();
    let wide = stdout(&p.run(&["matrix"]).success());
    let widest = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest(&wide) > 60);
    // A pseudo-terminal 60 columns wide: every line fits, values are cut with `…`.
    let out = matrix_on_terminal(&p, 60);
    let table: String = out
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(widest(&table) <= 60, "{out}");
    assert!(out.contains('…'), "{out}");
    let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("values shortened to fit the terminal"),
        "{out}"
    );
    // Every line of the report fits (the note on stderr is the terminal's to wrap).
    assert!(
        out.lines()
            .filter(|l| !l.starts_with("note: "))
            .all(|l| l.chars().count() <= 60),
        "{out}"
    );
}

/// Twelve environments in 50 columns: the table wraps into blocks that each fit, and every
/// environment keeps its whole name.
#[test]
fn terminal_table_wraps_many_environments() {
    let p = Project::empty();
    let mut config = String::from("environments:\n");
    for i in 1..=12 {
        config.push_str(&format!(
            "  environment{i}: {{file: .env.{i}, encrypted: false}}\n"
        ));
        p.write(
            &format!(".env.{i}"),
            &format!("APP_NAME=shop\nAPP_REGION=region-{}\n", i % 3),
        );
    }
    p.write(".envault.yml", &config);
    let out = matrix_on_terminal(&p, 50);
    assert!(
        out.lines()
            .filter(|l| !l.starts_with("note: "))
            .all(|l| l.chars().count() <= 50),
        "{out}"
    );
    for i in 1..=12 {
        assert!(
            out.contains(&format!("environment{i} ")) || out.contains(&format!("environment{i}\n")),
            "environment{i}:\n{out}"
        );
    }
    assert!(out.matches("KEY ").count() > 1, "{out}");
}

/// `envault matrix` on a pseudo-terminal `cols` columns wide: what the screen shows, with the
/// note on stderr and without colour.
fn matrix_on_terminal(p: &Project, cols: usize) -> String {
    let script = format!("stty rows 40 cols {cols}; \"$ENVAULT\" matrix --color never");
    let out = crate::common::on_pty(p, &script).output().unwrap();
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

/// A screenshot of the report in headless Chromium, as RGB bytes.
fn screenshot(p: &Project) -> Vec<u8> {
    let shot = p.path("shot.png");
    let out = chromium(
        p,
        "",
        &[
            "--hide-scrollbars",
            "--window-size=1000,700",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    match info.color_type {
        png::ColorType::Rgb => bytes.to_vec(),
        png::ColorType::Rgba => bytes
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    }
}

/// The report's DOM after its script ran in headless Chromium, with `hash` in the URL.
fn render(p: &Project, hash: &str) -> String {
    let out = chromium(p, hash, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("<body data-ready=\"1\">"),
        "the script ran: {dom}"
    );
    dom
}

/// Runs headless Chromium with `extra` options on the project's report.html, `hash` in the URL.
fn chromium(p: &Project, hash: &str, extra: &[&str]) -> std::process::Output {
    let bin = which("chromium")
        .expect("chromium is not installed: run scripts/install-peers (scripts/test does)");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .args(extra)
        .arg(format!("file://{}#{hash}", p.path("report.html").display()))
        .env("HOME", p.path("home"))
        .output()
        .unwrap()
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}
