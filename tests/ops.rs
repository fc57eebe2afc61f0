//! The operator's surface of `memoryd serve`: `/metrics` (JSON and Prometheus), `/health`,
//! and the `/status` page rendered in a real headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{Backend, DataDir, HttpServer, Mcp, backend};

const SEED: &str = r#"{"name": "rehydrate_memory", "arguments": {"role": "planner", "task": "test", "limit": 3, "token_budget": 800}}"#;

/// A known sequence of calls on two transports: 1 store, 3 identical rehydrates, 1 rehydrate
/// with an unknown role (over MCP), 1 get of a missing memory.
fn known_sequence(server: &HttpServer) {
    let (status, _) = server.tools_call(
        r#"{"name": "store_memory", "arguments": {"namespace": "proj", "content": "Ship the ops surface first."}}"#,
    );
    assert_eq!(status, 200);
    for _ in 0..3 {
        assert_eq!(server.tools_call(SEED).0, 200);
    }
    let refused = server.session().call(
        "rehydrate_memory",
        json!({"role": "astronaut", "task": "test"}),
    );
    assert!(refused.is_err());
    let (status, _) = server.tools_call(r#"{"name": "get_memory", "arguments": {"id": "nope"}}"#);
    assert_eq!(status, 404);
}

#[test]
fn metrics_json_counts_a_known_sequence() {
    let dir = DataDir::new();
    let server = dir.serve();
    server.wait_for_model();
    known_sequence(&server);

    let (status, m) = server.get_json("/metrics");
    assert_eq!(status, 200);
    assert_eq!(m["requests_total"], 6, "{m:#}");
    assert_eq!(m["errors_total"], 2);
    assert_eq!(m["window_requests"], 6);
    assert_eq!(m["error_rate_percent"], 33.33);
    // Bundle cache: miss, hit, hit. Query-embedding cache: the one miss that computed the
    // bundle. The unknown role is refused before any cache is asked.
    let bundle = &m["caches"]["rehydrate_bundle"];
    assert_eq!((&bundle["hits"], &bundle["misses"]), (&json!(2), &json!(1)));
    assert_eq!(bundle["hit_rate_percent"], 66.67);
    let query = &m["caches"]["query_embedding"];
    assert_eq!((&query["hits"], &query["misses"]), (&json!(0), &json!(1)));
    assert_eq!(m["cache_hit_rate_percent"], 50.0);
    assert_eq!(m["cache_lookups"], 4);

    let rehydrate = &m["tools"]["rehydrate_memory"];
    assert_eq!(
        (&rehydrate["calls"], &rehydrate["errors"]),
        (&json!(4), &json!(1))
    );
    assert_eq!(m["tools"]["get_memory"]["errors"], 1);
    assert_eq!(m["tools"]["search_memory"]["calls"], 0);
    assert_eq!(m["roles"]["planner"], json!({"calls": 3, "errors": 0}));
    assert_eq!(m["roles"]["other"], json!({"calls": 1, "errors": 1}));
    assert_eq!(m["roles"]["implementer"], json!({"calls": 0, "errors": 0}));
    assert_eq!(m["transports"]["tools_call"], 5);
    assert_eq!(m["transports"]["mcp_http"], 1);

    let latency = &m["latency_ms"];
    let (p50, p95, p99) = (
        latency["p50"].as_f64().unwrap(),
        latency["p95"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99, "{latency}");
    assert!(m["avg_response_time_ms"].as_f64().unwrap() > 0.0);

    assert_eq!(m["memories"]["total"], 1);
    assert_eq!(m["memories"]["by_namespace"], json!({"proj": 1}));
    assert!(m["database"]["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(m["embedder"]["state"], "ready");
    assert_eq!(m["status"], "healthy", "{m:#}");
    // The in-memory indexes hold the namespaces searched, nothing else. On SQLite vectors are
    // copied in per namespace searched, and storing the memory looked for `similar` ones in
    // its namespace, so its one vector is there; on PostgreSQL pgvector finds them and nothing
    // is copied. The budget is the default's, far from reached.
    let indexes = &m["footprint"]["indexes"];
    assert!(
        indexes["keyword_memories"].as_u64().unwrap() <= 1,
        "{indexes}"
    );
    let copied = if backend() == Backend::Sqlite { 1 } else { 0 };
    assert_eq!(indexes["vectors"], copied, "{indexes}");
    let loaded = indexes["namespaces_loaded"].as_u64().unwrap();
    assert!(loaded >= copied, "{indexes}");
    assert_eq!(indexes["loads"].as_u64().unwrap(), loaded, "{indexes}");
    assert_eq!(indexes["evictions"], 0, "{indexes}");
    assert_eq!(indexes["budget_bytes"], 256 * 1024 * 1024, "{indexes}");
    // (an index of a namespace searched while empty holds nothing)
    let bytes = indexes["bytes"].as_u64().unwrap();
    let held = indexes["keyword_memories"].as_u64().unwrap() + copied;
    assert!((held == 0) == (bytes == 0), "{indexes}");
    assert!(m["footprint"]["rss_bytes"].as_u64().unwrap() > 0);

    let errors = m["recent_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["code"], "not_found", "newest first");
    assert_eq!(errors[1]["code"], "invalid_argument");
    assert_eq!(errors[1]["role"], "other");
    assert_eq!(errors[1]["transport"], "mcp_http");

    // /health reports the same numbers.
    let (status, h) = server.get_json("/health");
    assert_eq!(status, 200);
    for key in [
        "error_rate_percent",
        "cache_hit_rate_percent",
        "requests_total",
        "status",
    ] {
        assert_eq!(h[key], m[key], "{key}");
    }
    assert_eq!(h["memory_count"], 1);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["database"]["status"], "ok");
    assert_eq!(h["embedder"]["semantic_search"], true);
    assert_eq!(h["reasons"], json!([]));

    // Every call logged one line with its request id.
    let log = server.stderr();
    assert_eq!(log.matches("tool call").count(), 6, "{log}");
    assert!(log.contains("request_id="), "{log}");
}

#[test]
fn probes_answer() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    assert_eq!(
        server.get_json("/health/live"),
        (200, json!({"status": "alive"}))
    );
    assert_eq!(
        server.get_json("/health/ready"),
        (200, json!({"status": "ready"}))
    );
    // No model here: serving, keyword search only, and /health says why.
    let (status, h) = server.get_json("/health");
    assert_eq!(status, 200);
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["embedder"]["state"], "not_installed");
    let reasons = h["reasons"].as_array().unwrap();
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .contains("the embedding model is not installed"),
        "{h:#}"
    );
}

#[test]
fn failures_flip_health_to_degraded_with_the_reason() {
    let dir = DataDir::new();
    let server = dir.serve();
    server.wait_for_model();
    for i in 0..6 {
        assert_eq!(
            server
                .tools_call(r#"{"name": "list_memories", "arguments": {}}"#)
                .0,
            200
        );
        if i < 4 {
            let body = format!(r#"{{"name": "get_memory", "arguments": {{"id": "missing-{i}"}}}}"#);
            assert_eq!(server.tools_call(&body).0, 404);
        }
    }
    let (status, h) = server.get_json("/health");
    assert_eq!(status, 200, "degraded still serves");
    assert_eq!(h["status"], "degraded", "{h:#}");
    assert_eq!(
        h["reasons"],
        json!(["error rate 40% of 10 calls in the last 300 s is over the 10% threshold"])
    );
    assert_eq!(h["alerts"][0]["name"], "error_rate");
    assert_eq!(h["alerts"][0]["threshold"], 10.0);
    let (_, m) = server.get_json("/metrics");
    assert_eq!(m["status"], "degraded");
    assert_eq!(m["reasons"], h["reasons"]);
}

#[test]
fn thresholds_come_from_config() {
    let dir = DataDir::new();
    let server = dir.serve_with_env(&[
        ("MEMORYD_HEALTH__MAX_AVG_RESPONSE_MS", "0.001"),
        ("MEMORYD_HEALTH__MIN_CALLS", "1"),
    ]);
    server.wait_for_model();
    assert_eq!(server.tools_call(SEED).0, 200);
    let (_, h) = server.get_json("/health");
    assert_eq!(h["status"], "degraded", "{h:#}");
    assert_eq!(h["alerts"][0]["name"], "latency");
    assert_eq!(h["thresholds"]["max_avg_response_ms"], 0.001);
    assert!(
        h["reasons"][0]
            .as_str()
            .unwrap()
            .ends_with("is over the 0.001 ms threshold"),
        "{h:#}"
    );
}

/// `promtool`, which Debian's `prometheus` package ships (scripts/test installs it).
fn promtool() -> &'static str {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool is not installed\nrun scripts/test (it installs it), or apt-get install prometheus"
    );
    "promtool"
}

#[test]
fn prometheus_exposition_passes_promtool() {
    let dir = DataDir::new();
    let server = dir.serve();
    server.wait_for_model();
    known_sequence(&server);

    let by_accept = server.get("/metrics", Some("text/plain; version=0.0.4"));
    let openmetrics = server.get(
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    );
    let by_query = server.get("/metrics?format=prometheus", None);
    for (status, content_type, _) in [&by_accept, &openmetrics, &by_query] {
        assert_eq!(*status, 200);
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    }
    let text = by_query.2;
    for line in [
        r#"memoryd_tool_calls_total{outcome="ok",tool="rehydrate_memory",transport="tools_call"} 3"#,
        r#"memoryd_tool_calls_total{outcome="invalid_argument",tool="rehydrate_memory",transport="mcp_http"} 1"#,
        r#"memoryd_rehydrate_calls_total{outcome="ok",role="planner"} 3"#,
        r#"memoryd_cache_lookups_total{cache="rehydrate_bundle",result="hit"} 2"#,
        r#"memoryd_tool_duration_seconds_count{tool="rehydrate_memory"} 4"#,
        r#"memoryd_memories{namespace="proj"} 1"#,
        r#"memoryd_embedder_state{state="ready"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }

    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, _, body) = server.get("/metrics?format=xml", None);
    assert_eq!(status, 400);
    assert!(body.contains("unknown format 'xml'"), "{body}");
    // A browser or curl gets JSON.
    let (_, content_type, _) = server.get("/metrics", Some("*/*"));
    assert_eq!(content_type, "application/json");
}

/// Debian's Chromium (scripts/test installs it).
fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "chromium is not installed\nrun scripts/test (it installs it), or apt-get install chromium"
    );
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=PATH`), letting
/// the page's scripts run for a few seconds of virtual time.
fn chromium_run(url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,1100",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The page's own number format (`fmt` in status.html).
fn page_format(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 {
                format!("{f}")
            } else {
                format!("{f:.2}")
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn lookup<'a>(m: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(m, |v, key| &v[key])
}

#[test]
fn status_page_renders_the_metrics_in_chromium() {
    let dir = DataDir::new();
    let server = dir.serve();
    server.wait_for_model();
    known_sequence(&server);

    let (status, content_type, html) = server.get("/status", None);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_self_contained(&html);

    let url = format!("{}/status", server.base);
    let dom = chromium_run(&url, "--dump-dom");
    let (_, m) = server.get_json("/metrics");
    assert_eq!(
        m["requests_total"], 6,
        "viewing the page made no tool calls"
    );

    assert!(
        !dom.contains(r#"data-refreshed="0""#) && dom.contains("data-refreshed="),
        "the page never rendered /metrics:\n{dom}"
    );
    let mut checked = Vec::new();
    let shown = shown_metrics(&dom);
    for (path, text) in &shown {
        if path.starts_with("alerts.") {
            assert_eq!(text, "ok", "{path}: no threshold is crossed");
            continue;
        }
        let want = page_format(lookup(&m, path));
        assert_eq!(text, &want, "{path} on the page vs /metrics");
        checked.push(path.as_str());
    }
    for must in [
        "status",
        "requests_total",
        "errors_total",
        "error_rate_percent",
        "avg_response_time_ms",
        "latency_ms.p50",
        "latency_ms.p95",
        "latency_ms.p99",
        "cache_hit_rate_percent",
        "memories.total",
        "memories.by_namespace.proj",
        "roles.planner.calls",
        "tools.rehydrate_memory.calls",
        "caches.rehydrate_bundle.hit_rate_percent",
    ] {
        assert!(checked.contains(&must), "{must} is not on the page:\n{dom}");
    }
    assert!(
        dom.contains("memory &#39;nope&#39; not found") || dom.contains("memory 'nope' not found"),
        "recent errors are listed:\n{dom}"
    );

    // The screenshot in the README comes from here: UPDATE_SCREENSHOT=1 refreshes it.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status.png");
    chromium_run(&url, &format!("--screenshot={}", shot.display()));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("status.png"), png).unwrap();
    }
}

/// Nothing in `html` is fetched from anywhere but this server: no `src=` or `@import`, links
/// relative to the page, and no URL but the SVG namespace (a name, never fetched).
pub fn assert_self_contained(html: &str) {
    for outside in ["src=", "@import", "url("] {
        assert!(!html.contains(outside), "the page references {outside}");
    }
    let urls = html.replace("\"http://www.w3.org/2000/svg\"", "");
    for outside in ["http://", "https://", "//"] {
        let found = urls.match_indices(outside).find(|(at, _)| {
            // `//` starts a comment in the script; as an attribute value it is a URL.
            outside != "//" || urls[..*at].ends_with('"')
        });
        assert!(found.is_none(), "the page references {outside}");
    }
    for (at, _) in html.match_indices("href=\"") {
        let target = &html[at + 6..];
        let target = &target[..target.find('"').unwrap()];
        assert!(
            !target.contains(':') && !target.starts_with('/'),
            "links stay relative to the page: {target}"
        );
    }
}

/// Every `data-metric="PATH">TEXT<` on the page.
fn shown_metrics(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-metric=\"") {
        rest = &rest[at + "data-metric=\"".len()..];
        let path_end = rest.find('"').unwrap();
        let path = rest[..path_end].to_string();
        let text_start = rest.find('>').unwrap() + 1;
        let text_end = text_start + rest[text_start..].find('<').unwrap();
        out.push((path, rest[text_start..text_end].to_string()));
        rest = &rest[text_end..];
    }
    out
}
