//! Bad input from outside: every request in `fixtures/bad-requests/` (the interesting cases
//! found so far: malformed JSON, wrong types, huge numbers, deep nesting, invalid UTF-8, empty
//! and enormous strings) is answered with a clear 4xx error, over both HTTP routes, and the
//! server stays up and writes nothing.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::{DataDir, HttpServer, Mcp, post};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad-requests");
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "body"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus is in fixtures/bad-requests");
    // Too big to keep as files.
    cases.push(("deep-nesting".into(), {
        let mut b = br#"{"name": "store_memory", "arguments": {"content": "x", "metadata": {"a": "#
            .to_vec();
        b.extend(std::iter::repeat_n(b'[', 100_000));
        b
    }));
    cases.push((
        "enormous-content".into(),
        format!(
            r#"{{"name": "store_memory", "arguments": {{"content": "{}"}}}}"#,
            "y".repeat(900 * 1024)
        )
        .into_bytes(),
    ));
    cases
}

fn post_raw(
    server: &HttpServer,
    path: &str,
    body: Vec<u8>,
    session: Option<&str>,
) -> (u16, String) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.base))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(body);
    if let Some(id) = session {
        req = req.header("Mcp-Session-Id", id);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn every_bad_request_gets_a_clear_4xx_and_nothing_is_written() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    let mut session = server.session();
    let http = reqwest::blocking::Client::new();

    for (name, body) in corpus() {
        // Plain JSON route: a 4xx with a JSON error that says something.
        let (status, text) = post_raw(&server, "/mcp/tools/call", body.clone(), None);
        assert!((400..500).contains(&status), "{name}: {status} {text}");
        let error: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: the error is not JSON ({e}): {text}"));
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "{name}: says what is wrong: {text}");

        // MCP: the same arguments in a tools/call are a JSON-RPC error, not a crash.
        if let Ok(call) = serde_json::from_slice::<Value>(&body)
            && let (Some(tool), Some(arguments)) = (call["name"].as_str(), call.get("arguments"))
        {
            let answer = session.call_raw(tool, arguments.clone());
            assert!(answer.is_err(), "{name}: accepted over MCP: {answer:?}");
        }
        // MCP: the raw bytes as a JSON-RPC message are refused with a 4xx or a JSON-RPC
        // error, never a 5xx.
        let (status, text) = post_raw(&server, "/mcp", body, Some(&session.session_id));
        assert!(status < 500, "{name}: /mcp answered {status}: {text}");
        if status == 200 {
            assert!(
                text.contains("\"error\""),
                "{name}: /mcp accepted it: {text}"
            );
        }
    }

    // Still up, still answering, and nothing was stored.
    assert_eq!(server.get_json("/health/ready").0, 200);
    let listed = session.call("list_memories", json!({})).unwrap();
    assert_eq!(
        listed["memories"],
        json!([]),
        "a failed call writes nothing"
    );
    let reply = post(
        &http,
        &server.mcp_url(),
        Some(&session.session_id),
        &json!({
        "jsonrpc": "2.0", "id": 99, "method": "tools/list"}),
    );
    assert_eq!(reply.status, 200);
}
