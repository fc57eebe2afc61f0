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

/// Closing stdin while the model is still loading in the background must end the process
/// cleanly. Exiting used to run ONNX Runtime's C++ destructors under the loading thread and
/// die with SIGSEGV (seen once in a dozen runs under load). The model takes about 0.6 s to
/// load and exit waits 0.3 s for it, so these runs close mid-load.
#[test]
fn closing_stdin_while_the_model_loads_exits_0() {
    for _ in 0..4 {
        let dir = DataDir::new();
        let mut command = dir.command(&["stdio", "--standalone"]);
        let log = dir.path().join("stdio.stderr");
        command.stderr(std::fs::File::create(&log).unwrap());
        let client = crate::util::StdioClient::start_command(command);
        let status = client.close();
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "exited with {status}: {stderr}");
    }
}
