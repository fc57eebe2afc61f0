//! MCP over Streamable HTTP: `memoryd serve`, sessions and their headers.

use serde_json::json;

use crate::scenarios;
use crate::util::{DataDir, Mcp, post};

#[test]
fn initialize_issues_a_session_id() {
    let dir = DataDir::new();
    let server = dir.serve();
    let session = server.session();
    assert!(!session.session_id.is_empty());
    assert_eq!(session.init["serverInfo"]["name"], "memoryd");
}

#[test]
fn lists_seven_tools() {
    let dir = DataDir::new();
    scenarios::lists_seven_tools(&mut dir.serve().session());
}

#[test]
fn memory_lifecycle() {
    let dir = DataDir::new();
    scenarios::memory_lifecycle(&mut dir.serve().session());
}

#[test]
fn dedupe_and_namespaces() {
    let dir = DataDir::new();
    scenarios::dedupe_and_namespaces(&mut dir.serve().session());
}

#[test]
fn invalid_arguments() {
    let dir = DataDir::new();
    scenarios::invalid_arguments(&mut dir.serve().session());
}

#[test]
fn list_pages() {
    let dir = DataDir::new();
    scenarios::list_pages(&mut dir.serve().session());
}

#[test]
fn sessions_share_one_store() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut a = server.session();
    let mut b = server.session();
    assert_ne!(a.session_id, b.session_id);
    let id = a
        .call(
            "store_memory",
            json!({"content": "shared between sessions"}),
        )
        .unwrap()["id"]
        .clone();
    let got = b.call("get_memory", json!({"id": id})).unwrap();
    assert_eq!(got["content"], "shared between sessions");
}

#[test]
fn requests_without_a_valid_session_are_refused() {
    let dir = DataDir::new();
    let server = dir.serve();
    let http = reqwest::blocking::Client::new();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});

    let no_session = post(&http, &server.mcp_url(), None, &list);
    assert_eq!(no_session.status, 400, "{}", no_session.body);
    let unknown = post(&http, &server.mcp_url(), Some("no-such-session"), &list);
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // A POST that does not accept SSE is refused per the transport spec.
    let resp = http
        .post(server.mcp_url())
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(list.to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 406);

    // DELETE ends a session; it is gone afterwards.
    let session = server.session();
    let status = session.delete();
    assert!((200..300).contains(&status), "DELETE answered {status}");
    let after = session.post(&list);
    assert_eq!(after.status, 404, "{}", after.body);
}

#[test]
fn malformed_json_is_an_error_not_a_crash() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut session = server.session();
    let resp = reqwest::blocking::Client::new()
        .post(server.mcp_url())
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", &session.session_id)
        .body("{not json")
        .send()
        .unwrap();
    assert!(resp.status().is_client_error(), "got {}", resp.status());
    // the server is still up
    session
        .call("store_memory", json!({"content": "after bad json"}))
        .unwrap();
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut session = server.session();
    session
        .call("store_memory", json!({"content": "before shutdown"}))
        .unwrap();
    drop(session);
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    let out = dir.run(&["--json", "search", "shutdown", "--mode", "keyword"], "");
    assert_eq!(
        out.json()["hits"].as_array().unwrap().len(),
        1,
        "{}",
        out.describe()
    );
}

#[test]
fn non_loopback_bind_is_refused() {
    let dir = DataDir::new();
    let out = dir.run(&["serve", "--bind", "0.0.0.0", "--port", "0"], "");
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(
        out.stderr().contains("refusing to listen on 0.0.0.0"),
        "{}",
        out.describe()
    );
}

/// The seed's curl loop, verbatim, and the same tools as over MCP.
#[test]
fn plain_json_tools_call_runs_the_same_tools() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut session = server.session();
    session.wait_for_model();

    let (status, stored) = server.tools_call(
        r#"{"name": "store_memory", "arguments": {"content": "Planners cut scope before adding people.", "roles": ["planner"], "title": "Scope rule"}}"#,
    );
    assert_eq!(status, 200, "{stored}");
    let id = stored["id"].as_str().unwrap().to_string();

    let seed = r#"{"name": "rehydrate_memory", "arguments": {"role": "planner", "task": "test", "limit": 3, "token_budget": 800}}"#;
    let (status, bundle) = server.tools_call(seed);
    assert_eq!(status, 200, "{bundle}");
    assert!(
        bundle["text"]
            .as_str()
            .unwrap()
            .contains(&format!("id {id}")),
        "{bundle}"
    );
    assert_eq!(bundle["meta"]["token_budget"], 800);
    assert_eq!(bundle["meta"]["cache_hit"], false);
    let (_, again) = server.tools_call(seed);
    assert_eq!(again["meta"]["cache_hit"], true);

    // The same call over MCP gives the same memory.
    let (_, got) = server.tools_call(&format!(
        r#"{{"name": "get_memory", "arguments": {{"id": "{id}"}}}}"#
    ));
    let over_mcp = session.call("get_memory", json!({"id": id})).unwrap();
    assert_eq!(got, over_mcp);
}

#[test]
fn plain_json_tools_call_errors_are_json_with_4xx() {
    let dir = DataDir::new();
    let server = dir.serve();
    let cases = [
        (
            r#"{"name": "forget_everything", "arguments": {}}"#,
            404,
            "unknown_tool",
            "unknown tool 'forget_everything'",
        ),
        (
            r#"{"name": "search_memory", "arguments": {"query": "x", "limit": -1}}"#,
            400,
            "invalid_argument",
            "must be an integer from 1 to 100, got -1",
        ),
        (
            r#"{"name": "store_memory"}"#,
            400,
            "invalid_argument",
            "invalid argument 'content': is required",
        ),
        (
            r#"{"name": "get_memory", "arguments": {"id": "missing"}}"#,
            404,
            "not_found",
            "memory 'missing' not found",
        ),
        (
            r#"{"name": "rehydrate_memory", "arguments": {"role": "wizard", "task": "x"}}"#,
            400,
            "invalid_argument",
            "the roles are:",
        ),
        (
            "{not json",
            400,
            "bad_request",
            "the body must be a JSON object",
        ),
        (r#"{"name": 5}"#, 400, "bad_request", "invalid type"),
    ];
    for (body, want_status, want_code, needle) in cases {
        let (status, err) = server.tools_call(body);
        assert_eq!(status, want_status, "{body}: {err}");
        assert_eq!(err["error"]["code"], want_code, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    // still serving
    let (status, _) = server.tools_call(r#"{"name": "list_memories"}"#);
    assert_eq!(status, 200);
}
