//! The harness every integration test uses: a fresh data dir, the real `memoryd` binary, and
//! small clients that speak MCP to it over stdio and Streamable HTTP.
//!
//! Nothing here sleeps to wait for readiness: the stdio client waits for the `initialize`
//! answer, and the HTTP server is ready when it prints the address it is listening on.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::{Value, json};

pub mod bearer;
pub mod issuer;

/// The folder `scripts/test` installs the npm MCP clients into (Node 22, the conformance
/// suite, the Inspector, the OAuth issuer).
pub fn mcp_clients() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mcp-clients");
    assert!(
        dir.join("node_modules/node/bin/node").exists(),
        "the MCP clients are not installed in {}\nrun scripts/test (it installs them from \
         tests/mcp-clients with npm)",
        dir.display()
    );
    dir
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memoryd")
}

/// The embedding model shared by every test, installed once per target dir with the real
/// `memoryd model install` (a file lock makes concurrent test processes wait for the first).
pub fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("model");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".install.lock")).unwrap();
    lock.lock().unwrap();
    let out = Command::new(bin())
        .args(["model", "install", "--model-dir"])
        .arg(&dir)
        .output()
        .expect("run memoryd model install");
    assert!(
        out.status.success(),
        "memoryd model install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The storage engine this run of the suite tests: `MEMORYD_TEST_BACKEND=postgres` runs every
/// test against a throwaway PostgreSQL server of its own; unset (or `sqlite`), against the
/// SQLite file in the data dir. `scripts/test` runs the suite once with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("MEMORYD_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("MEMORYD_TEST_BACKEND={other}: use sqlite or postgres"),
    }
}

/// For a test of what only one engine has (SQLite's file and online backup, PostgreSQL's
/// fleet): such tests live in a module named `on_sqlite` or `on_postgres`, which the nextest
/// profiles run only on that engine's run and list as skipped on the other
/// (`.config/nextest.toml`). Run by hand on the wrong engine, the test fails rather than pass
/// without testing anything.
pub fn require(engine: Backend) {
    assert_eq!(
        backend(),
        engine,
        "this test needs MEMORYD_TEST_BACKEND={}; nextest's default filter skips it on the other \
         engine's run (see .config/nextest.toml)",
        match engine {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
}

/// A fresh, empty data dir, removed when dropped; on the PostgreSQL run, with an empty
/// database on a server of its own.
pub struct DataDir {
    dir: tempfile::TempDir,
    postgres: Option<crate::postgres::Server>,
    /// Another data dir's database, for servers of one fleet.
    shared_url: Option<String>,
}

impl DataDir {
    pub fn new() -> DataDir {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: (backend() == Backend::Postgres).then(crate::postgres::Server::start),
            shared_url: None,
        }
    }

    /// A data dir of its own on `other`'s database (PostgreSQL): another server of a fleet.
    pub fn sharing(other: &DataDir) -> DataDir {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
            shared_url: Some(other.database_url().expect("a PostgreSQL data dir")),
        }
    }

    /// A data dir on SQLite whatever the run (to compare the engines).
    pub fn sqlite() -> DataDir {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
            shared_url: None,
        }
    }

    /// The PostgreSQL URL of this data dir's database, on the PostgreSQL run.
    pub fn database_url(&self) -> Option<String> {
        match &self.postgres {
            Some(p) => Some(p.url("memoryd")),
            None => self.shared_url.clone(),
        }
    }

    /// Runs one SQL statement on this data dir's database, whichever the engine.
    pub fn execute_sql(&self, sql: &str) {
        match &self.postgres {
            Some(pg) => {
                pg.psql("memoryd", sql);
            }
            None => {
                let db = rusqlite::Connection::open(self.path().join("memoryd.db")).unwrap();
                db.execute_batch(sql).unwrap();
            }
        }
    }

    /// Runs one query on this data dir's database: its rows as psql prints them unaligned
    /// (`a|b`, a line each), on either engine.
    pub fn query_sql(&self, sql: &str) -> String {
        match &self.postgres {
            Some(pg) => pg.psql("memoryd", sql),
            None => {
                let db = rusqlite::Connection::open(self.path().join("memoryd.db")).unwrap();
                let mut stmt = db.prepare(sql).unwrap();
                let columns = stmt.column_count();
                let rows = stmt
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                    rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<_>>>()
                            .map(|cells| cells.join("|"))
                    })
                    .unwrap();
                rows.collect::<rusqlite::Result<Vec<_>>>()
                    .unwrap()
                    .join("\n")
            }
        }
    }

    /// The PostgreSQL server of this data dir, on the PostgreSQL run.
    pub fn postgres(&self) -> Option<&crate::postgres::Server> {
        self.postgres.as_ref()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `memoryd --data-dir DIR --model-dir MODEL <args>` with every `MEMORYD_*` variable
    /// cleared, using the shared installed model.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare_command(args);
        cmd.arg("--model-dir").arg(model_dir());
        cmd
    }

    /// Like [`DataDir::command`] but without the shared model: the model dir is the data
    /// dir's own (empty) one unless `args` say otherwise.
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("MEMORYD_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--data-dir").arg(self.path());
        if let Some(url) = self.database_url() {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(args);
        cmd
    }

    /// Runs a CLI command to completion, feeding `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> CliOutput {
        self.run_command(self.command(args), args, stdin)
    }

    /// Runs a prepared command to completion, feeding `stdin`.
    pub fn run_command(&self, mut command: Command, args: &[&str], stdin: &str) -> CliOutput {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn memoryd");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        CliOutput {
            args: args.iter().map(|s| s.to_string()).collect(),
            out,
        }
    }

    /// Starts `memoryd stdio` and completes the MCP handshake.
    pub fn stdio(&self) -> StdioClient {
        StdioClient::start(self)
    }

    /// Starts `memoryd serve --port 0` and waits until it is listening.
    pub fn serve(&self) -> HttpServer {
        HttpServer::start_command(self, self.command(&["serve", "--port", "0"]))
    }

    /// Like [`DataDir::serve`], with extra environment variables (config overrides).
    pub fn serve_with_env(&self, env: &[(&str, &str)]) -> HttpServer {
        let mut command = self.command(&["serve", "--port", "0"]);
        command.envs(env.iter().copied());
        HttpServer::start_command(self, command)
    }

    /// `memoryd serve --offline` without the shared model: keyword search only.
    pub fn bare_serve(&self) -> HttpServer {
        HttpServer::start_command(
            self,
            self.bare_command(&["serve", "--port", "0", "--offline"]),
        )
    }
}

/// A finished CLI run.
pub struct CliOutput {
    pub args: Vec<String>,
    pub out: Output,
}

impl CliOutput {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Asserts exit code 0 and returns stdout.
    pub fn ok(&self) -> String {
        assert_eq!(self.code(), 0, "{}", self.describe());
        self.stdout()
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.ok()).unwrap_or_else(|e| panic!("{e}\n{}", self.describe()))
    }

    /// Everything needed to understand a failure.
    pub fn describe(&self) -> String {
        format!(
            "command: memoryd {}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.out.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// A JSON-RPC error as the server sent it.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Value,
}

fn into_result(response: Value) -> Result<Value, RpcError> {
    if let Some(err) = response.get("error") {
        return Err(RpcError {
            code: err["code"].as_i64().unwrap(),
            message: err["message"].as_str().unwrap_or_default().to_string(),
            data: err.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    Ok(response["result"].clone())
}

/// Reads a tool result: its structured content, or the failure.
pub fn tool_output(result: Result<Value, RpcError>) -> Result<Value, RpcError> {
    let result = result?;
    assert_ne!(
        result["isError"],
        json!(true),
        "tool reported an error: {result}"
    );
    Ok(result["structuredContent"].clone())
}

fn initialize_request(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "memoryd-tests", "version": "0"}
        }
    })
}

/// An MCP client over a child's stdin/stdout, one request at a time; notifications the
/// server sends meanwhile are kept for [`StdioClient::notification`].
pub struct StdioClient {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Messages from stdout, read by a thread so a wait can time out.
    lines: std::sync::mpsc::Receiver<Value>,
    /// Notifications that arrived while waiting for a response.
    pub notifications: Vec<Value>,
    next_id: u64,
    /// The `initialize` result.
    pub init: Value,
}

impl StdioClient {
    fn start(dir: &DataDir) -> StdioClient {
        let mut command = dir.command(&["stdio"]);
        command.stderr(Stdio::null());
        StdioClient::start_command(command)
    }

    /// Starts a prepared `memoryd stdio` command and completes the MCP handshake.
    pub fn start_command(mut command: Command) -> StdioClient {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn memoryd stdio");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let msg: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        let mut client = StdioClient {
            child,
            stdin: Some(stdin),
            lines,
            notifications: Vec::new(),
            next_id: 1,
            init: Value::Null,
        };
        let init = client.send(initialize_request(0));
        client.init = into_result(init).expect("initialize");
        client.notify("notifications/initialized");
        client
    }

    /// The next message from the server within `timeout`.
    fn next_message(&mut self, timeout: std::time::Duration) -> Option<Value> {
        match self.lines.recv_timeout(timeout) {
            Ok(msg) => Some(msg),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("memoryd closed stdout")
            }
        }
    }

    /// Waits up to `timeout` for a notification with `method` that `matches`, taking it from
    /// those already received first; `None` when none came.
    pub fn notification(
        &mut self,
        method: &str,
        timeout: std::time::Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let wanted = |m: &Value| m["method"] == method && matches(m);
        if let Some(i) = self.notifications.iter().position(wanted) {
            return Some(self.notifications.remove(i));
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let msg = self.next_message(left)?;
            if wanted(&msg) {
                return Some(msg);
            }
            self.notifications.push(msg);
        }
    }

    fn write(&mut self, message: &Value) {
        let mut line = serde_json::to_string(message).unwrap();
        line.push('\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns the response with its id (keeping notifications).
    pub fn send(&mut self, request: Value) -> Value {
        let id = request["id"].clone();
        self.write(&request);
        loop {
            let msg = self
                .next_message(std::time::Duration::from_secs(120))
                .unwrap_or_else(|| panic!("no response {id} within 120 s"));
            if msg.get("id") == Some(&id) {
                return msg;
            }
            self.notifications.push(msg);
        }
    }

    /// Sends a notification with params (no response).
    pub fn notify_with(&mut self, method: &str, params: Value) {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a notification (no response).
    pub fn notify(&mut self, method: &str) {
        self.write(&json!({"jsonrpc": "2.0", "method": method}));
    }

    /// Calls any method and returns its result or error.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        into_result(
            self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})),
        )
    }

    /// The process id of `memoryd stdio`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin and waits for a clean exit.
    pub fn close(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for StdioClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `memoryd serve`, killed when dropped.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    stderr_path: PathBuf,
}

impl HttpServer {
    /// Starts a prepared `memoryd serve` command and waits until it is listening.
    pub fn start_command(dir: &DataDir, mut command: Command) -> HttpServer {
        let stderr_path = dir.path().join("serve.stderr");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("spawn memoryd serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("memoryd listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "serve did not report its address; stdout: {line:?}\nstderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            });
        let base = url.trim_end_matches("/mcp").to_string();
        HttpServer {
            child,
            base,
            stderr_path,
        }
    }

    /// The process id of `memoryd serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// GETs `path`; returns the status, the content type and the body.
    pub fn get(&self, path: &str, accept: Option<&str>) -> (u16, String, String) {
        let mut req = reqwest::blocking::Client::new().get(format!("{}{path}", self.base));
        if let Some(accept) = accept {
            req = req.header("Accept", accept);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, resp.text().unwrap())
    }

    /// GETs `path` and decodes the JSON body.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get(path, None);
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path} gave no JSON ({e}): {body}"));
        (status, json)
    }

    /// POSTs `body` to `/mcp/tools/call`; returns the status and the JSON body.
    pub fn tools_call(&self, body: &str) -> (u16, Value) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/mcp/tools/call", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap())
    }

    /// Waits until `/health` says the embedding model is ready, without making tool calls
    /// (which would show up in the metrics).
    pub fn wait_for_model(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, health) = self.get_json("/health");
            if health["embedder"]["state"] == "ready" {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the embedding model did not load within 60 s: {health}\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts an MCP session.
    pub fn session(&self) -> HttpSession {
        HttpSession::start(self.mcp_url())
    }

    /// Sends SIGKILL to the server's pid, as a crash or the OOM killer would (no shutdown
    /// path runs), and waits for the exit status.
    pub fn kill9(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON-RPC messages in an HTTP response body: plain JSON or an SSE stream.
pub fn messages(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        return vec![serde_json::from_str(body).unwrap()];
    }
    memoryd::sse::data_of(body.as_bytes())
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// One MCP request of the stateless 2026-07-28 revision (no session, the protocol version
/// and client capabilities in `_meta`), as a fleet behind a load balancer receives it.
pub fn mcp_stateless(
    http: &reqwest::blocking::Client,
    base: &str,
    id: u64,
    method: &str,
    mut params: Value,
) -> Result<Result<Value, RpcError>, String> {
    // The revision's keys join whatever `_meta` the caller set (a namespace to list, say).
    let meta = params["_meta"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "memoryd-tests", "version": "1"},
    });
    params["_meta"].as_object_mut().unwrap().extend(meta);
    let mut request = http
        .post(format!("{base}/mcp"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        // The revision's standard headers repeat the method and the tool's name.
        .header("Mcp-Method", method);
    if let Some(name) = params["name"].as_str() {
        request = request.header("Mcp-Name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let resp = request
        .body(body.to_string())
        .send()
        .map_err(|e| format!("POST /mcp: {e}"))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().map_err(|e| format!("POST /mcp body: {e}"))?;
    if status != 200 {
        return Err(format!("POST /mcp: HTTP {status}: {text}"));
    }
    let answer = messages(&content_type, &text)
        .into_iter()
        .find(|m| m.get("id") == Some(&json!(id)))
        .ok_or_else(|| format!("no answer to request {id} in: {text}"))?;
    Ok(into_result(answer))
}

/// An MCP Streamable HTTP session.
pub struct HttpSession {
    url: String,
    http: reqwest::blocking::Client,
    /// The `Mcp-Session-Id` the server issued.
    pub session_id: String,
    next_id: u64,
    /// The `initialize` result.
    pub init: Value,
}

impl HttpSession {
    fn start(url: String) -> HttpSession {
        let http = reqwest::blocking::Client::new();
        let resp = post(&http, &url, None, &initialize_request(0));
        assert_eq!(resp.status, 200, "initialize: {}", resp.body);
        let session_id = resp
            .session_id
            .clone()
            .expect("initialize response carries Mcp-Session-Id");
        let init = into_result(resp.messages.into_iter().next().expect("a response")).unwrap();
        let session = HttpSession {
            url,
            http,
            session_id,
            next_id: 1,
            init,
        };
        let ack = session.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(ack.status, 202, "initialized notification: {}", ack.body);
        session
    }

    /// POSTs one message with this session's id.
    pub fn post(&self, message: &Value) -> HttpReply {
        post(&self.http, &self.url, Some(&self.session_id), message)
    }

    /// Calls any method and returns its result or error.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let reply =
            self.post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        assert_eq!(reply.status, 200, "{method}: {}", reply.body);
        let response = reply
            .messages
            .into_iter()
            .find(|m| m["id"] == json!(id))
            .unwrap_or_else(|| panic!("no response to {method}: {}", reply.body));
        into_result(response)
    }

    /// Ends the session with DELETE; returns the HTTP status.
    pub fn delete(&self) -> u16 {
        self.http
            .delete(&self.url)
            .header("Mcp-Session-Id", &self.session_id)
            .send()
            .unwrap()
            .status()
            .as_u16()
    }
}

/// One HTTP reply to a POST on `/mcp`.
pub struct HttpReply {
    pub status: u16,
    pub session_id: Option<String>,
    pub body: String,
    pub messages: Vec<Value>,
}

/// POSTs a JSON-RPC message to `/mcp` with the headers the spec requires.
pub fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    session_id: Option<&str>,
    message: &Value,
) -> HttpReply {
    let mut req = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(message.to_string());
    if let Some(id) = session_id {
        req = req.header("Mcp-Session-Id", id);
    }
    let resp = req.send().expect("POST /mcp");
    let status = resp.status().as_u16();
    let session_id = resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.text().unwrap();
    let messages = if status == 200 {
        messages(&content_type, &body)
    } else {
        Vec::new()
    };
    HttpReply {
        status,
        session_id,
        body,
        messages,
    }
}

/// What a scenario needs from a client, whatever the transport.
pub trait Mcp {
    /// Calls any method and returns its result or error.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError>;

    /// `tools/call` and the raw result or error.
    fn call_raw(&mut self, name: &str, arguments: Value) -> Result<Value, RpcError> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
    }

    /// `tools/call` returning the structured output.
    fn call(&mut self, name: &str, arguments: Value) -> Result<Value, RpcError> {
        tool_output(self.call_raw(name, arguments))
    }

    /// Waits until the server's embedding model is loaded (it loads in the background after
    /// start), by asking for a semantic search until one is answered.
    fn wait_for_model(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let probe = self.call(
                "search_memory",
                json!({"query": "probe", "mode": "semantic"}),
            );
            match probe {
                Ok(_) => return,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(
                        e.message.contains("embedding model"),
                        "unexpected error: {e:?}"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("the embedding model did not load within 60 s: {e:?}"),
            }
        }
    }
}

impl Mcp for StdioClient {
    fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        StdioClient::request(self, method, params)
    }
}

impl Mcp for HttpSession {
    fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        HttpSession::request(self, method, params)
    }
}
