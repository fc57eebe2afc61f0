//! The command line: every data command against the database directly, no server running.

use crate::util::DataDir;

#[test]
fn store_search_get_update_list_delete() {
    let dir = DataDir::new();
    let stored = dir
        .run(
            &[
                "--json",
                "store",
                "Postgres is only for analytics; the app uses SQLite.",
                "--title",
                "Database split",
                "--kind",
                "decision",
                "--tag",
                "db",
                "--tag",
                "architecture",
                "--source",
                "docs/adr/0002.md",
                "--anchor",
                "split",
                "--role",
                "planner",
                "--priority",
                "-2",
                "--metadata",
                r#"{"ticket": "ARCH-7"}"#,
            ],
            "",
        )
        .json();
    let id = stored["id"].as_str().unwrap().to_string();
    assert_eq!(stored["deduplicated"], false);

    // human output names the id and says when content was already stored
    let again = dir
        .run(
            &[
                "store",
                "Postgres is only for analytics; the app uses SQLite.",
            ],
            "",
        )
        .ok();
    assert_eq!(
        again.trim(),
        format!("already stored as {id} (deduplicated)")
    );

    let hits = dir
        .run(&["--json", "search", "which database for analytics"], "")
        .json();
    assert_eq!(hits["hits"][0]["id"], id.as_str());
    let human = dir.run(&["search", "analytics"], "").ok();
    assert!(
        human.starts_with(&format!("1. Database split  (decision, {id})")),
        "{human}"
    );
    assert!(human.contains("docs/adr/0002.md#split"), "{human}");

    let got = dir.run(&["--json", "get", &id], "").json();
    assert_eq!(got["priority"], -2);
    assert_eq!(got["metadata"]["ticket"], "ARCH-7");
    let shown = dir.run(&["get", &id], "").ok();
    assert!(shown.contains("tags:        db, architecture"), "{shown}");
    assert!(
        shown.trim_end().ends_with("the app uses SQLite."),
        "{shown}"
    );

    let updated = dir
        .run(
            &[
                "--json",
                "update",
                &id,
                "--title",
                "",
                "--no-tags",
                "--role",
                "reviewer",
            ],
            "",
        )
        .json();
    assert_eq!(updated["title"], serde_json::Value::Null);
    assert_eq!(updated["tags"], serde_json::json!([]));
    assert_eq!(updated["roles"], serde_json::json!(["reviewer"]));

    let list = dir.run(&["list"], "").ok();
    assert!(list.starts_with(&id), "{list}");
    let pinned = dir.run(&["--json", "list", "--role", "planner"], "").json();
    assert_eq!(pinned["memories"], serde_json::json!([]));

    assert_eq!(
        dir.run(&["delete", &id], "").ok().trim(),
        format!("deleted {id}")
    );
    let gone = dir.run(&["get", &id], "");
    assert_eq!(gone.code(), 1, "{}", gone.describe());
    assert!(
        gone.stderr()
            .contains(&format!("memoryd: memory '{id}' not found")),
        "{}",
        gone.describe()
    );
    assert_eq!(dir.run(&["delete", &id], "").code(), 1);
}

#[test]
fn content_from_stdin_and_namespaces() {
    let dir = DataDir::new();
    let out = dir
        .run(
            &["--json", "--namespace", "notes", "store"],
            "piped from stdin\n",
        )
        .json();
    let id = out["id"].as_str().unwrap();
    let got = dir.run(&["--json", "-n", "notes", "get", id], "").json();
    assert_eq!(got["content"], "piped from stdin\n");
    assert_eq!(
        dir.run(&["get", id], "").code(),
        1,
        "default namespace does not see it"
    );
}

#[test]
fn bad_input_exits_2_with_the_reason() {
    let dir = DataDir::new();
    let cases: [(&[&str], &str); 5] = [
        (
            &["search", "x", "--limit", "-1"],
            "invalid argument 'limit': must be an integer from 1 to 100, got -1",
        ),
        (
            &["search", "x", "--mode", "fuzzy"],
            "'fuzzy' is not a search mode",
        ),
        (
            &["store", "x", "--metadata", "[1]"],
            "invalid argument 'metadata': must be a JSON object",
        ),
        (
            &["store", "x", "--occurred-at", "soon"],
            "invalid argument 'occurred_at': 'soon' is not a date",
        ),
        (&["update", "some-id"], "nothing to update"),
    ];
    for (args, needle) in cases {
        let out = dir.run(args, "");
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(out.stderr().contains(needle), "{}", out.describe());
    }
    let list = dir.run(&["--json", "list"], "").json();
    assert_eq!(
        list["memories"],
        serde_json::json!([]),
        "a failed command wrote something"
    );
}

#[test]
fn schemas_command_writes_what_is_checked_in() {
    let dir = DataDir::new();
    let out_dir = dir.path().join("schemas");
    dir.run(&["schemas", "--out", out_dir.to_str().unwrap()], "")
        .ok();
    let checked_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for entry in std::fs::read_dir(&checked_in).unwrap() {
        let name = entry.unwrap().file_name();
        let want = std::fs::read_to_string(checked_in.join(&name)).unwrap();
        let have = std::fs::read_to_string(out_dir.join(&name)).unwrap();
        assert_eq!(have, want, "{name:?}");
    }
}

#[test]
fn config_file_and_environment_layer_over_defaults() {
    let dir = DataDir::new();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[rehydrate]\nmax_token_budget = 5000\n\n[roles.auditor]\nprefer_kinds = [\"incident\"]\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();

    // The file adds a role and lowers the budget bound.
    let out = dir.run(
        &[
            "--config",
            config,
            "--json",
            "rehydrate",
            "-r",
            "auditor",
            "-t",
            "x",
            "-b",
            "5000",
        ],
        "",
    );
    assert_eq!(out.json()["meta"]["role"], "auditor");
    let over = dir.run(
        &[
            "--config",
            config,
            "rehydrate",
            "-r",
            "auditor",
            "-t",
            "x",
            "-b",
            "5001",
        ],
        "",
    );
    assert!(
        over.stderr().contains("from 64 to 5000, got 5001"),
        "{}",
        over.describe()
    );

    // The environment overrides the file.
    let mut cmd = dir.command(&[
        "--config",
        config,
        "rehydrate",
        "-r",
        "auditor",
        "-t",
        "x",
        "-b",
        "4500",
    ]);
    cmd.env("MEMORYD_REHYDRATE__MAX_TOKEN_BUDGET", "4000");
    let env = dir.run_command(
        cmd,
        &["(with MEMORYD_REHYDRATE__MAX_TOKEN_BUDGET=4000)"],
        "",
    );
    assert!(
        env.stderr().contains("from 64 to 4000, got 4500"),
        "{}",
        env.describe()
    );

    // A bad file names the key; a missing one is an error, not silently ignored.
    std::fs::write(&file, "[limits]\nmax_tagz = 3\n").unwrap();
    let bad = dir.run(&["--config", config, "list"], "");
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr().contains("max_tagz"), "{}", bad.describe());
    let missing = dir.run(&["--config", "/no/such/memoryd.toml", "list"], "");
    assert!(
        missing
            .stderr()
            .contains("/no/such/memoryd.toml does not exist"),
        "{}",
        missing.describe()
    );
}

/// `memoryd … | head -1`: when the reader goes away, the command ends as Unix tools do
/// (SIGPIPE), not with a panic on stderr.
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let dir = DataDir::new();
    let mut child = dir
        .command(&["schemas"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the command writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}
