//! MCP over stdio: `memoryd stdio`, as IDEs start it.

use crate::scenarios;
use crate::util::DataDir;

#[test]
fn initialize_reports_memoryd_and_tools() {
    let dir = DataDir::new();
    let c = dir.stdio();
    assert_eq!(c.init["serverInfo"]["name"], "memoryd");
    assert!(c.init["capabilities"]["tools"].is_object());
    assert!(c.init["protocolVersion"].is_string());
    assert!(
        c.close().success(),
        "stdio exits 0 when the client closes stdin"
    );
}

#[test]
fn lists_seven_tools() {
    let dir = DataDir::new();
    scenarios::lists_seven_tools(&mut dir.stdio());
}

#[test]
fn memory_lifecycle() {
    let dir = DataDir::new();
    scenarios::memory_lifecycle(&mut dir.stdio());
}

#[test]
fn dedupe_and_namespaces() {
    let dir = DataDir::new();
    scenarios::dedupe_and_namespaces(&mut dir.stdio());
}

#[test]
fn invalid_arguments() {
    let dir = DataDir::new();
    scenarios::invalid_arguments(&mut dir.stdio());
}

#[test]
fn list_pages() {
    let dir = DataDir::new();
    scenarios::list_pages(&mut dir.stdio());
}

#[test]
fn data_persists_across_processes() {
    let dir = DataDir::new();
    let mut first = dir.stdio();
    let id = crate::util::Mcp::call(
        &mut first,
        "store_memory",
        serde_json::json!({"content": "kept"}),
    )
    .unwrap()["id"]
        .clone();
    assert!(first.close().success());
    let mut second = dir.stdio();
    let got =
        crate::util::Mcp::call(&mut second, "get_memory", serde_json::json!({"id": id})).unwrap();
    assert_eq!(got["content"], "kept");
}
