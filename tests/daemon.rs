//! Running as a daemon: port fallback and the runtime file, one daemon per data dir, graceful
//! shutdown under writes, and `memoryd stdio` forwarding to the daemon.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Backend, DataDir, HttpServer, Mcp, StdioClient, backend};

fn runtime_file(dir: &DataDir) -> Option<Value> {
    let text = std::fs::read_to_string(dir.path().join("memoryd.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn port_of(server: &HttpServer) -> u16 {
    server.base.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn taken_default_port_falls_back_and_the_runtime_file_says_where() {
    let dir = DataDir::new();
    // Hold a port the OS chose and make it the default: serve must move on to a later one.
    // (Real port 3000 may be in use by anything on this machine; the default itself, 3000
    // with fallbacks to 3010, is checked by a unit test of `port_choice`.)
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let mut command = dir.command(&["serve"]);
    command.env("MEMORYD_SERVER__DEFAULT_PORT", port.to_string());
    let server = HttpServer::start_command(&dir, command);
    let got = port_of(&server);
    // Normally port + 1; a parallel test may hold that one, so any fallback port is right.
    assert!(got > port && got <= port + 10, "held {port}, got {got}");
    assert!(
        server.stderr().contains("default port is in use"),
        "{}",
        server.stderr()
    );
    let rt = runtime_file(&dir).expect("runtime file written");
    assert_eq!(rt["port"], json!(got));
    assert_eq!(rt["url"], json!(server.mcp_url()));
    assert_eq!(rt["pid"], json!(server.pid()));
    assert_eq!(rt["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(rt["data_dir"], json!(dir.path()));

    // The daemon answers on the port it reported.
    let mut session = server.session();
    session
        .call("store_memory", json!({"content": "on the fallback port"}))
        .unwrap();

    // A port given explicitly is never swapped for another: busy is an error naming the holder.
    let other = DataDir::new();
    let me = std::process::id();
    for (how, command) in [
        (
            "flag",
            other.command(&["serve", "--port", &port.to_string()]),
        ),
        ("env", {
            let mut c = other.command(&["serve"]);
            c.env("MEMORYD_PORT", port.to_string());
            c
        }),
        ("config", {
            let file = other.path().join("config.toml");
            std::fs::write(&file, format!("[server]\nport = {port}\n")).unwrap();
            let mut c = other.command(&["serve"]);
            c.arg("--config").arg(&file);
            c
        }),
    ] {
        let out = other.run_command(command, &[how], "");
        assert_eq!(out.code(), 2, "{how}: {}", out.describe());
        let expected = format!("port {port} on 127.0.0.1 is in use");
        assert!(
            out.stderr().contains(&expected),
            "{how}: {}",
            out.describe()
        );
        if cfg!(target_os = "linux") {
            assert!(
                out.stderr().contains(&format!("by pid {me} (")),
                "{how}: the holder is named: {}",
                out.describe()
            );
        }
    }

    // One daemon per data dir.
    let second = dir.run(&["serve", "--port", "0"], "");
    assert_eq!(second.code(), 2, "{}", second.describe());
    assert!(
        second.stderr().contains(&format!(
            "a memoryd daemon (pid {}) already serves",
            server.pid()
        )),
        "{}",
        second.describe()
    );

    drop(session);
    assert!(server.terminate().success());
    assert!(
        runtime_file(&dir).is_none(),
        "the runtime file is removed on shutdown"
    );
    drop(held);
}

/// Stores memories through the plain JSON endpoint until the server stops answering; returns
/// the ids it acknowledged.
fn write_until_refused(base: String, tag: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut acked = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = json!({"name": "store_memory", "arguments": {"content": format!("burst write {tag} {i}")}});
        let Ok(resp) = http
            .post(format!("{base}/mcp/tools/call"))
            .json(&body)
            .send()
        else {
            break;
        };
        if !resp.status().is_success() {
            break;
        }
        let Ok(v) = resp.json::<Value>() else { break };
        acked.push(v["id"].as_str().unwrap().to_string());
    }
    acked
}

/// Stores memories over an MCP session until the server stops answering; returns the ids it
/// acknowledged.
fn write_over_mcp_until_refused(url: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = |session: Option<&str>, msg: &Value| {
        let mut req = http
            .post(&url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(msg.to_string());
        if let Some(s) = session {
            req = req.header("Mcp-Session-Id", s);
        }
        req.send().ok().filter(|r| r.status().is_success())
    };
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let resp = post(None, &init).expect("initialize");
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = resp.text();
    post(
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    let mut acked = Vec::new();
    for i in 1.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let call = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
            "name": "store_memory", "arguments": {"content": format!("burst write mcp {i}")}}});
        let Some(resp) = post(Some(&session), &call) else {
            break;
        };
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let Ok(body) = resp.text() else { break };
        let reply = crate::util::messages(&ct, &body)
            .into_iter()
            .find(|m| m["id"] == json!(i));
        match reply {
            Some(m) if m["result"]["isError"] == json!(false) => acked.push(
                m["result"]["structuredContent"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            _ => break,
        }
    }
    acked
}

#[test]
fn sigterm_during_a_burst_of_writes_exits_0_within_5s_keeping_every_acknowledged_write() {
    let dir = DataDir::new();
    let server = dir.serve();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..3 {
        let (base, stop) = (server.base.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            write_until_refused(base, t.to_string(), stop)
        }));
    }
    let (url, s) = (server.mcp_url(), stop.clone());
    writers.push(std::thread::spawn(move || {
        write_over_mcp_until_refused(url, s)
    }));
    // Let the burst get going: wait until the database holds a few dozen writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = dir.run(&["--json", "list", "--limit", "40"], "");
        if out.json()["memories"].as_array().unwrap().len() >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "writes did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = server.pid();
    let started = Instant::now();
    let status = server.terminate();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    eprintln!(
        "memoryd serve (pid {pid}) stopped in {} ms with {} acknowledged writes",
        took.as_millis(),
        acked.len()
    );
    assert!(status.success(), "exit status {status:?}");
    let log = std::fs::read_to_string(dir.path().join("serve.stderr")).unwrap_or_default();
    assert!(took < Duration::from_secs(5), "took {took:?}\n{log}");
    assert!(runtime_file(&dir).is_none(), "runtime file removed");
    let wal = dir.path().join("memoryd.db-wal");
    assert!(
        backend() != Backend::Sqlite || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "the WAL was checkpointed and truncated"
    );
    let export = dir.run(&["export"], "").ok();
    let stored: std::collections::HashSet<String> = export
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(acked.len() >= 40, "only {} acknowledged", acked.len());
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}

#[cfg(target_os = "linux")]
fn open_files(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect()
}

#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn stdio_forwards_to_the_running_daemon_without_its_own_database_or_model() {
    let dir = DataDir::new();
    let server = dir.serve();
    let stderr_path = dir.path().join("shim.stderr");
    let mut command = dir.command(&["stdio"]);
    command
        .env("MEMORYD_LOG", "info")
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut shim = StdioClient::start_command(command);
    assert_eq!(shim.init["serverInfo"]["name"], "memoryd");

    // A memory stored through the shim is the daemon's: an HTTP client of the daemon reads it.
    let stored = shim
        .call(
            "store_memory",
            json!({"content": "Stored through the stdio shim.", "tags": ["shim"]}),
        )
        .unwrap();
    let id = stored["id"].as_str().unwrap();
    let mut http = server.session();
    let got = http.call("get_memory", json!({"id": id})).unwrap();
    assert_eq!(got["content"], "Stored through the stdio shim.");
    // And the other way round, with errors passed through as they are.
    http.call(
        "store_memory",
        json!({"content": "Stored over HTTP, read through the shim."}),
    )
    .unwrap();
    let listed = shim.call("list_memories", json!({})).unwrap();
    assert_eq!(listed["memories"].as_array().unwrap().len(), 2);
    let err = shim
        .call("get_memory", json!({"id": "no-such-id"}))
        .unwrap_err();
    assert_eq!(err.code, -32002, "{err:?}");

    // The shim never opened the database nor loaded the model.
    let pid = shim.pid();
    let files = open_files(pid);
    assert!(
        !files.iter().any(|f| f.contains("memoryd.db")),
        "the shim opened the database: {files:#?}"
    );
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(!maps.contains("onnxruntime"), "the shim loaded the model");
    let rss = rss_kib(pid);
    eprintln!("forwarding memoryd stdio: VmRSS {rss} KiB");
    assert!(
        rss < 48 * 1024,
        "a forwarding shim should be small, got {rss} KiB"
    );
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        log.contains("forwarding MCP on stdio to the daemon"),
        "{log}"
    );

    // The same check on a standalone process finds the database, so it does test something.
    let mut command = dir.command(&["stdio", "--standalone"]);
    let standalone_log = dir.path().join("standalone.stderr");
    command.stderr(std::fs::File::create(&standalone_log).unwrap());
    let mut standalone = StdioClient::start_command(command);
    standalone.call("list_memories", json!({})).unwrap();
    assert!(
        backend() != Backend::Sqlite
            || open_files(standalone.pid())
                .iter()
                .any(|f| f.contains("memoryd.db")),
        "a standalone stdio opens the database"
    );
    let status = standalone.close();
    assert!(
        status.success(),
        "standalone stdio exited with {status}: {}",
        std::fs::read_to_string(&standalone_log).unwrap_or_default()
    );

    assert!(shim.close().success(), "the shim exits 0 when stdin closes");
}

#[cfg(target_os = "linux")]
#[test]
fn a_stale_runtime_file_is_ignored_and_stdio_serves_standalone() {
    let dir = DataDir::new();
    let server = dir.serve();
    let pid = server.pid();
    drop(server); // SIGKILL: no chance to remove the runtime file
    let rt = runtime_file(&dir).expect("a killed server leaves its runtime file");
    assert_eq!(rt["pid"], json!(pid));
    let mut c = dir.stdio();
    c.call(
        "store_memory",
        json!({"content": "standalone after a crash"}),
    )
    .unwrap();
    assert!(
        backend() != Backend::Sqlite
            || open_files(c.pid()).iter().any(|f| f.contains("memoryd.db")),
        "with no live daemon, stdio opens the database itself"
    );
    // And a new server takes over the data dir despite the stale file.
    let server = dir.serve();
    assert_eq!(runtime_file(&dir).unwrap()["pid"], json!(server.pid()));
}

/// `Type=notify`: with `NOTIFY_SOCKET` set, as systemd sets it, serve sends READY=1 once it
/// is listening and STOPPING=1 when it stops.
#[cfg(target_os = "linux")]
#[test]
fn serve_tells_systemd_when_it_is_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = DataDir::new();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut command = dir.command(&["serve", "--port", "0"]);
    command.env("NOTIFY_SOCKET", &socket_path);
    let server = HttpServer::start_command(&dir, command);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 20 s");
    assert_eq!(&buf[..n], b"READY=1\n");
    // Ready means ready: the daemon answers at once.
    server.session().call("list_memories", json!({})).unwrap();
    assert!(server.terminate().success());
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
}
