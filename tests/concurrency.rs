//! Several processes and sessions writing one data dir at once: no "database is locked".

use std::collections::HashSet;

use serde_json::json;

use crate::util::{Backend, DataDir, Mcp, StdioClient, backend};

/// Four `memoryd stdio` processes on one fresh data dir, 250 distinct memories each, at the
/// same time: 1,000 memories afterwards and not one error.
#[test]
fn four_stdio_processes_store_1000_memories() {
    let dir = DataDir::new();
    std::thread::scope(|scope| {
        for p in 0..4 {
            let dir = &dir;
            scope.spawn(move || {
                // Every process opens the brand-new database at the same moment.
                let mut client = dir.stdio();
                for i in 0..250 {
                    let content = format!("process {p} memory {i}: a distinct note");
                    let out = client.call("store_memory", json!({"content": content}));
                    let out = out.unwrap_or_else(|e| panic!("process {p} write {i}: {e:?}"));
                    assert_eq!(out["deduplicated"], false);
                }
            });
        }
    });
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--json", "list", "--limit", "200"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = dir.run(&args, "").json();
        count += page["memories"].as_array().unwrap().len();
        match page.get("next_cursor").and_then(|c| c.as_str()) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(count, 1000);
}

/// HTTP sessions and stdio processes mixed, writing at once.
#[test]
fn http_sessions_and_stdio_processes_mixed() {
    let dir = DataDir::new();
    let server = dir.serve();
    std::thread::scope(|scope| {
        for p in 0..2 {
            let dir = &dir;
            scope.spawn(move || {
                let mut c = dir.stdio();
                for i in 0..100 {
                    c.call(
                        "store_memory",
                        json!({"content": format!("stdio {p} note {i}")}),
                    )
                    .unwrap();
                }
            });
            let server = &server;
            scope.spawn(move || {
                let mut s = server.session();
                for i in 0..100 {
                    s.call(
                        "store_memory",
                        json!({"content": format!("http {p} note {i}")}),
                    )
                    .unwrap();
                    s.call(
                        "search_memory",
                        json!({"query": format!("note {i}"), "mode": "keyword"}),
                    )
                    .unwrap();
                }
            });
        }
    });
    let mut s = server.session();
    let page = s.call("list_memories", json!({"limit": 200})).unwrap();
    let first = page["memories"].as_array().unwrap().len();
    let rest = s
        .call(
            "list_memories",
            json!({"limit": 200, "cursor": page["next_cursor"]}),
        )
        .unwrap();
    assert_eq!(first + rest["memories"].as_array().unwrap().len(), 400);
}

/// One client of the mixed test: 1,000 writes, each read back at once (a `get_memory` of the
/// id, or every tenth time a keyword search for the write's unique token), and every error
/// collected rather than panicking, so one failure does not hide the others.
fn write_and_read_back(client: &mut dyn Mcp, name: &str) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut errors) = (Vec::new(), Vec::new());
    for i in 0..1000 {
        let token = format!("{}w{i}x", name.replace(' ', ""));
        let content = format!("{name} write {i}, token {token}: eight clients at once");
        let id = match client.call("store_memory", json!({"content": content})) {
            Ok(out) if out["deduplicated"] == false => out["id"].as_str().unwrap().to_string(),
            other => {
                errors.push(format!("{name} store {i}: {other:?}"));
                continue;
            }
        };
        let read = if i % 10 == 0 {
            client
                .call(
                    "search_memory",
                    json!({"query": token, "mode": "keyword", "limit": 5}),
                )
                .map(|out| out["hits"][0]["id"] == json!(id))
        } else {
            client
                .call("get_memory", json!({"id": id}))
                .map(|out| out["content"] == json!(content))
        };
        match read {
            Ok(true) => {}
            other => errors.push(format!("{name} read {i} of {id}: {other:?}")),
        }
        ids.push(id);
    }
    (ids, errors)
}

/// The load: eight clients at once on one data dir — four `memoryd stdio
/// --standalone` processes (each its own SQLite writer) and four MCP Streamable HTTP sessions
/// on one `memoryd serve` — each doing 1,000 writes and 1,000 reads. Not one error, no
/// "database is locked" in any process's log, and all 8,000 writes there at the end.
///
/// Keyword-only processes (`--offline`, no model) so the test measures the database, not
/// inference; a write with the model takes the same lock for the same short transaction.
#[test]
fn eight_clients_stdio_and_http_1000_writes_and_reads_each() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    let started = std::time::Instant::now();
    let results: Vec<(Vec<String>, Vec<String>)> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for p in 0..4 {
            let dir = &dir;
            handles.push(scope.spawn(move || {
                let log = dir.path().join(format!("stdio-{p}.stderr"));
                let mut command = dir.bare_command(&["stdio", "--standalone", "--offline"]);
                command.stderr(std::fs::File::create(&log).unwrap());
                let mut client = StdioClient::start_command(command);
                // Standalone means its own database connection, not forwarding to the daemon.
                #[cfg(target_os = "linux")]
                assert!(
                    backend() != Backend::Sqlite
                        || std::fs::read_dir(format!("/proc/{}/fd", client.pid()))
                            .unwrap()
                            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                            .any(|f| f.ends_with("memoryd.db")),
                    "stdio {p} opened the database itself"
                );
                let out = write_and_read_back(&mut client, &format!("stdio {p}"));
                assert!(client.close().success(), "stdio {p} exits 0");
                out
            }));
            let server = &server;
            handles.push(scope.spawn(move || {
                let mut session = server.session();
                write_and_read_back(&mut session, &format!("http {p}"))
            }));
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = started.elapsed();
    eprintln!("8 clients x 1,000 writes and 1,000 reads: {took:?}");

    let errors: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    assert!(errors.is_empty(), "{} errors: {errors:#?}", errors.len());
    let mut logs = vec![("serve".to_string(), server.stderr())];
    for p in 0..4 {
        let path = dir.path().join(format!("stdio-{p}.stderr"));
        logs.push((format!("stdio {p}"), std::fs::read_to_string(path).unwrap()));
    }
    for (who, log) in &logs {
        assert!(
            !log.to_lowercase().contains("locked"),
            "{who} logged a lock error:\n{log}"
        );
    }

    // Every write is there, read by a fresh process.
    let written: HashSet<&str> = results
        .iter()
        .flat_map(|r| &r.0)
        .map(String::as_str)
        .collect();
    assert_eq!(written.len(), 8000);
    let mut stored = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--json", "--offline", "list", "--limit", "200"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = dir.run_command(dir.bare_command(&args), &args, "").json();
        for m in page["memories"].as_array().unwrap() {
            stored.insert(m["id"].as_str().unwrap().to_string());
        }
        match page.get("next_cursor").and_then(|c| c.as_str()) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(stored.len(), 8000);
    assert!(written.iter().all(|id| stored.contains(*id)));
}
