//! Several processes and sessions writing one data dir at once: no "database is locked".

use serde_json::json;

use crate::util::{DataDir, Mcp};

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
