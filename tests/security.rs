//! Who may call `memoryd serve`: the token, Origin and Host checks, body and rate limits.
//! Each test starts the real binary and speaks plain HTTP to it, as an attacker's page or a
//! careless script would.

use serde_json::{Value, json};

use crate::util::{DataDir, HttpServer};

const TOKEN: &str = "s3cret-token-0123456789abcdef";

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "security-test", "version": "0"}}})
}

/// A request to `server` with optional extra headers; returns status, headers and body.
fn send(
    server: &HttpServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::blocking::Client::new();
    let url = format!("{}{path}", server.base);
    let mut req = client.request(method.parse().unwrap(), url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(body);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().unwrap())
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_public_bind_without_a_token_refuses_to_start() {
    let dir = DataDir::new();
    let out = dir.run_command(
        dir.bare_command(&["serve", "--bind", "0.0.0.0", "--port", "0", "--offline"]),
        &[],
        "",
    );
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(
        out.stderr()
            .contains("refusing to listen on 0.0.0.0 without a credential"),
        "{}",
        out.describe()
    );
    let short = dir.run_command(
        {
            let mut c =
                dir.bare_command(&["serve", "--bind", "0.0.0.0", "--port", "0", "--offline"]);
            c.env("MEMORYD_TOKEN", "short");
            c
        },
        &[],
        "",
    );
    assert_eq!(short.code(), 2);
    assert!(
        short
            .stderr()
            .contains("at least 16 printable ASCII characters"),
        "{}",
        short.describe()
    );
}

#[test]
fn with_a_token_every_route_but_health_needs_it() {
    let dir = DataDir::new();
    let mut command = dir.bare_command(&["serve", "--bind", "0.0.0.0", "--port", "0", "--offline"]);
    command
        .env("MEMORYD_TOKEN", TOKEN)
        .env("MEMORYD_LOG", "debug");
    let server = HttpServer::start_command(&dir, command);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];

    for path in ["/health", "/health/live", "/health/ready"] {
        assert_eq!(send(&server, "GET", path, &[], None).0, 200, "{path}");
    }
    for path in ["/metrics", "/status", "/metrics?format=prometheus"] {
        let (status, headers, body) = send(&server, "GET", path, &[], None);
        assert_eq!(status, 401, "{path}");
        assert_eq!(error_code(&body), "unauthorized");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        let want = if path == "/status" { "Basic" } else { "Bearer" };
        assert!(challenge.starts_with(want), "{path}: {challenge}");
        assert_eq!(send(&server, "GET", path, &auth, None).0, 200, "{path}");
    }
    // A browser opens the dashboard with Basic auth, the token as password.
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("me:{TOKEN}"))
    );
    assert_eq!(
        send(
            &server,
            "GET",
            "/status",
            &[("Authorization", &basic)],
            None
        )
        .0,
        200
    );
    let wrong = format!("Bearer {TOKEN}x");
    assert_eq!(
        send(
            &server,
            "GET",
            "/metrics",
            &[("Authorization", &wrong)],
            None
        )
        .0,
        401
    );

    let call = r#"{"name": "list_memories", "arguments": {}}"#.to_string();
    assert_eq!(
        send(&server, "POST", "/mcp/tools/call", &[], Some(call.clone())).0,
        401
    );
    assert_eq!(
        send(&server, "POST", "/mcp/tools/call", &auth, Some(call)).0,
        200
    );
    assert_eq!(
        send(&server, "POST", "/mcp", &[], Some(initialize().to_string())).0,
        401
    );
    let (status, headers, _) = send(
        &server,
        "POST",
        "/mcp",
        &auth,
        Some(initialize().to_string()),
    );
    assert_eq!(status, 200);
    assert!(headers.contains_key("mcp-session-id"));

    // Not even debug logging writes the token down.
    let log = server.stderr();
    assert!(log.contains("DEBUG"), "debug logging was on");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
}

#[test]
fn browser_pages_from_elsewhere_are_refused() {
    let dir = DataDir::new();
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command.env(
        "MEMORYD_SERVER__ALLOWED_ORIGINS",
        r#"["https://app.example.com"]"#,
    );
    let server = HttpServer::start_command(&dir, command);
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let local = format!("http://localhost:{port}");

    for (origin, want) in [
        ("http://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
        (local.as_str(), 200),
        ("http://127.0.0.1:9999", 200),
        ("https://app.example.com", 200),
    ] {
        let (status, headers, body) = send(
            &server,
            "POST",
            "/mcp",
            &[("Origin", origin)],
            Some(initialize().to_string()),
        );
        assert_eq!(status, want, "Origin {origin}: {body}");
        if want == 403 {
            assert_eq!(error_code(&body), "forbidden_origin");
            assert!(body.contains(&format!("origin '{origin}' may not call memoryd")));
        }
        assert!(
            !headers.contains_key("access-control-allow-origin"),
            "no CORS, wildcard or otherwise"
        );
    }
    let (status, _, _) = send(
        &server,
        "POST",
        "/mcp/tools/call",
        &[("Origin", "http://evil.example")],
        Some(r#"{"name": "list_memories"}"#.into()),
    );
    assert_eq!(status, 403, "the plain JSON route is guarded too");

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 still names its host.
    let host = format!("evil.example:{port}");
    let (status, _, body) = send(&server, "GET", "/metrics", &[("Host", &host)], None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "forbidden_host");
    let host = format!("localhost:{port}");
    assert_eq!(
        send(&server, "GET", "/metrics", &[("Host", &host)], None).0,
        200
    );
}

#[test]
fn a_ten_mib_body_is_413_and_the_server_stays_up() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    // The refusal comes as soon as the headers announce the size, so send only those: a
    // client still writing 10 MiB would see the connection close under it (curl waits with
    // `Expect: 100-continue`; a raw writer gets EPIPE).
    let addr = server.base.trim_start_matches("http://").to_string();
    for path in ["/mcp/tools/call", "/mcp"] {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            tcp,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
            10 * 1024 * 1024
        )
        .unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        let mut chunk = [0u8; 4096];
        // Until the JSON error has arrived whole (or the server closed).
        while !answer.ends_with("}}") {
            let n = tcp.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(error_code(body), "payload_too_large", "{path}");
        assert!(body.contains("more than the 1048576 allowed"), "{body}");
    }
    assert_eq!(server.get_json("/health/ready").0, 200);
    // Under the body limit but over the memory limit: a clear 400 naming the argument.
    let big = format!(
        r#"{{"name": "store_memory", "arguments": {{"content": "{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    let (status, body) = server.tools_call(&big);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["argument"], "content");
}

#[test]
fn a_client_over_its_rate_gets_429_and_probes_still_answer() {
    let dir = DataDir::new();
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command
        .env("MEMORYD_LIMITS__RATE_LIMIT_PER_SECOND", "1")
        .env("MEMORYD_LIMITS__RATE_LIMIT_BURST", "3");
    let server = HttpServer::start_command(&dir, command);
    // One connection, as fast as it goes: the bucket (3, refilled at 1/s) empties whatever
    // the machine's speed, and the answers allowed are bounded by the time taken.
    let client = reqwest::blocking::Client::new();
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..40 {
        let resp = client
            .get(format!("{}/metrics", server.base))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let retry = resp.headers().get("retry-after").cloned();
        answers.push((status, retry, resp.text().unwrap()));
    }
    let seconds = started.elapsed().as_secs();
    let allowed = answers.iter().filter(|a| a.0 == 200).count() as u64;
    assert!(
        allowed >= 3 && allowed <= 3 + seconds + 1,
        "{allowed} allowed in {seconds} s"
    );
    let (status, retry, body) = answers
        .iter()
        .find(|a| a.0 != 200)
        .expect("some requests were limited");
    assert_eq!(*status, 429);
    assert_eq!(retry.as_ref().unwrap(), "1");
    assert_eq!(error_code(body), "rate_limited");
    assert_eq!(
        server.get_json("/health").0,
        200,
        "probes are never limited"
    );
}
