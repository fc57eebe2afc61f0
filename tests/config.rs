//! `memoryd config show` (each value and its origin) and `memoryd doctor`'s port and data
//! dir checks.

use serde_json::Value;

use crate::util::DataDir;

#[test]
fn config_show_names_the_origin_of_every_value() {
    let dir = DataDir::new();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[limits]\nmax_tags = 5\n\n[roles.planner]\ntoken_budget = 3000\n",
    )
    .unwrap();
    let args = ["config", "show", "--config", file.to_str().unwrap()];
    let mut command = dir.bare_command(&args);
    command
        .env("MEMORYD_SERVER__DEFAULT_PORT", "4100")
        .env("MEMORYD_TOKEN", "s3cret-token-0123456789")
        .env("MEMORYD_OFFLINE", "1");
    let out = dir.run_command(command, &args, "");
    let text = out.ok();
    let origin = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key}:\n{text}"))
            .rsplit("# ")
            .next()
            .unwrap()
            .to_string()
    };
    let f = file.display();
    assert_eq!(origin("max_tags"), format!("file {f}"));
    assert_eq!(origin("max_content_bytes"), "default");
    assert_eq!(origin("default_port"), "env MEMORYD_SERVER__DEFAULT_PORT");
    assert_eq!(origin("token"), "env MEMORYD_TOKEN");
    assert!(
        !text.contains("s3cret-token-0123456789"),
        "the token is never printed:\n{text}"
    );
    assert!(text.contains(&format!("# data_dir = \"{}\"", dir.path().display())));
    assert!(
        text.lines()
            .any(|l| l.starts_with("# data_dir") && l.ends_with("# flag --data-dir")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("# offline = true") && l.ends_with("# env MEMORYD_OFFLINE")),
        "{text}"
    );
    assert!(text.contains("keyword_weight = 0.6 "), "{text}");
    // The planner's budget comes from the file, the other roles' from the defaults.
    let planner = text.split("[roles.planner]").nth(1).unwrap();
    let budget = planner
        .lines()
        .find(|l| l.starts_with("token_budget"))
        .unwrap();
    assert!(
        budget.starts_with("token_budget = 3000") && budget.ends_with(&format!("file {f}")),
        "{budget}"
    );

    // What it prints is TOML that memoryd itself reads back (comments aside).
    let copy = dir.path().join("shown.toml");
    std::fs::write(
        &copy,
        text.replace("\"<redacted>\"", "\"xxxxxxxxxxxxxxxxxxxx\""),
    )
    .unwrap();
    let again = dir.run_command(
        dir.bare_command(&["config", "show", "--config", copy.to_str().unwrap()]),
        &[],
        "",
    );
    assert!(again.ok().contains("max_tags = 5"), "{}", again.describe());
}

fn doctor(dir: &DataDir, env: &[(&str, String)]) -> Vec<Value> {
    let args = ["--offline", "--json", "doctor"];
    let mut command = dir.bare_command(&args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = dir.run_command(command, &args, "");
    serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()))
}

fn check<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {rows:?}"))
}

#[test]
fn doctor_reports_who_holds_the_port_and_loose_permissions() {
    let dir = DataDir::new();
    // Held by something else: serve would fall back, and the holder is named.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let rows = doctor(&dir, &[("MEMORYD_SERVER__DEFAULT_PORT", port.to_string())]);
    let p = check(&rows, "port");
    assert_eq!(p["status"], "warn", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{port} is in use")), "{detail}");
    if cfg!(target_os = "linux") {
        assert!(
            detail.contains(&format!("pid {}", std::process::id())),
            "{detail}"
        );
    }
    // Given explicitly, the same port is a failure.
    let rows = doctor(&dir, &[("MEMORYD_SERVER__PORT", port.to_string())]);
    assert_eq!(check(&rows, "port")["status"], "fail");
    drop(held);

    // Held by this data dir's daemon.
    let server = dir.serve();
    let rows = doctor(&dir, &[]);
    let p = check(&rows, "port");
    assert_eq!(p["status"], "ok", "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("this data dir's daemon (pid {}", server.pid())),
        "{p}"
    );
    assert_eq!(check(&rows, "integrity")["status"], "ok");
    assert!(
        check(&rows, "database")["detail"]
            .as_str()
            .unwrap()
            .contains("schema version")
    );
    drop(server);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let rows = doctor(&dir, &[]);
        let d = check(&rows, "data dir");
        assert_eq!(d["status"], "warn", "{d}");
        assert!(d["detail"].as_str().unwrap().contains("chmod 700"), "{d}");
    }
}
