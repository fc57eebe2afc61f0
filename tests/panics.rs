//! A panic in a handler answers as an internal error, is logged and counted, and the server
//! keeps serving. The hook: a debug build started with `MEMORYD_TEST_PANIC=SITE` panics on
//! purpose at that one site (`tool:NAME`, `route:PATH` or `mcp:METHOD`).

use std::process::Stdio;

use serde_json::json;

use crate::util::{DataDir, HttpServer, StdioClient, tool_output};

/// A keyword-only server that panics at `site`.
fn serve_panicking_at(dir: &DataDir, site: &str) -> HttpServer {
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command.env("MEMORYD_TEST_PANIC", site);
    HttpServer::start_command(dir, command)
}

/// `panics_total` from `/metrics`.
fn panics_total(server: &HttpServer) -> u64 {
    let (status, metrics) = server.get_json("/metrics");
    assert_eq!(status, 200, "{metrics}");
    metrics["panics_total"]
        .as_u64()
        .unwrap_or_else(|| panic!("/metrics has no panics_total: {metrics}"))
}

#[test]
fn a_tool_that_panics_answers_internal_error_over_json_and_mcp_and_the_server_keeps_serving() {
    let dir = DataDir::new();
    let server = serve_panicking_at(&dir, "tool:search_memory");
    assert_eq!(panics_total(&server), 0);

    let (status, body) =
        server.tools_call(r#"{"name": "search_memory", "arguments": {"query": "anything"}}"#);
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("tool:search_memory"), "{message}");
    assert!(message.contains("logged"), "{message}");

    // The same server goes on answering, other tools and then the same one over MCP.
    let (status, stored) = server.tools_call(
        r#"{"name": "store_memory", "arguments": {"content": "still serving after a panic"}}"#,
    );
    assert_eq!(status, 200, "{stored}");
    let mut session = server.session();
    let err = session
        .request(
            "tools/call",
            json!({"name": "search_memory", "arguments": {"query": "serving"}}),
        )
        .expect_err("the panicking tool answers with an error");
    assert_eq!(err.code, -32603, "{err:?}");
    assert!(err.message.contains("tool:search_memory"), "{err:?}");
    let listed = tool_output(session.request(
        "tools/call",
        json!({"name": "list_memories", "arguments": {}}),
    ))
    .unwrap();
    assert_eq!(listed["memories"][0]["id"], stored["id"], "{listed}");

    // Counted once per panic, as a panic and as a failed call of the tool.
    assert_eq!(panics_total(&server), 2);
    let (_, metrics) = server.get_json("/metrics");
    assert_eq!(metrics["tools"]["search_memory"]["errors"], 2, "{metrics}");
    assert_eq!(server.get_json("/health/ready").0, 200);
    let log = server.stderr();
    assert!(
        log.contains("a handler panicked") && log.contains("tool:search_memory"),
        "{log}"
    );
}

#[test]
fn a_route_that_panics_answers_500_json_and_the_others_still_answer() {
    let dir = DataDir::new();
    let server = serve_panicking_at(&dir, "route:/status");
    let (status, content_type, body) = server.get("/status", None);
    assert_eq!(status, 500, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "internal", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("route:/status"),
        "{body}"
    );
    assert_eq!(server.get_json("/health").0, 200);
    let (status, _) = server.tools_call(r#"{"name": "list_memories", "arguments": {}}"#);
    assert_eq!(status, 200);
    assert_eq!(panics_total(&server), 1);
}

#[test]
fn an_mcp_method_that_panics_over_stdio_answers_internal_error_and_the_session_goes_on() {
    let dir = DataDir::new();
    let mut command = dir.bare_command(&["stdio", "--offline"]);
    command
        .env("MEMORYD_TEST_PANIC", "mcp:resources/list")
        .stderr(Stdio::null());
    let mut client = StdioClient::start_command(command);
    let err = client
        .request("resources/list", json!({}))
        .expect_err("resources/list panics");
    assert_eq!(err.code, -32603, "{err:?}");
    assert!(err.message.contains("mcp:resources/list"), "{err:?}");
    let tools = client.request("tools/list", json!({})).unwrap();
    assert_eq!(tools["tools"].as_array().unwrap().len(), 7, "{tools}");
    assert!(client.close().success());
}
