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

/// The report's DOM after its script ran in headless Chromium, with `hash` in the URL.
fn render(p: &Project, hash: &str) -> String {
    let chromium = which("chromium")
        .expect("chromium is not installed: run scripts/install-peers (scripts/test does)");
    let url = format!("file://{}#{hash}", p.path("report.html").display());
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--dump-dom",
            &url,
        ])
        .env("HOME", p.path("home"))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("<body data-ready=\"1\">"),
        "the script ran: {dom}"
    );
    dom
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}
