//! `memoryd bench`: the corpus is deterministic and importable, the load generator drives a
//! real server over both transports with every answer checked, cold start reports numbers,
//! and bad flags get errors that name them.
//!
//! The servers here run `--offline` without the model (keyword retrieval): what is under test
//! is the tool, not the server's speed, and a debug build embeds slowly.

use std::path::Path;

use serde_json::Value;

use crate::util::{CliOutput, DataDir, HttpServer};

/// Runs `memoryd --data-dir DIR --offline <args>` without the shared model.
fn run_bare(dir: &DataDir, args: &[&str]) -> CliOutput {
    let mut command = dir.bare_command(args);
    command.arg("--offline");
    dir.run_command(command, args, "")
}

fn write_corpus(dir: &DataDir, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let out = path.to_str().unwrap().to_string();
    let mut args = vec!["bench", "corpus", "--out", &out];
    args.extend_from_slice(extra);
    let run = run_bare(dir, &args);
    assert!(
        run.stderr().contains("wrote"),
        "{}\n{}",
        run.ok(),
        run.describe()
    );
    path
}

/// Serves `dir` (keyword-only) after importing a small corpus into it.
fn seeded_server(dir: &DataDir) -> HttpServer {
    let corpus = write_corpus(dir, "seed.jsonl", &["--memories", "200"]);
    let import = run_bare(dir, &["import", corpus.to_str().unwrap()]);
    assert!(
        import.ok().starts_with("imported 200 of 200"),
        "{}",
        import.describe()
    );
    dir.bare_serve()
}

/// Runs `bench load --json` against `server` and returns the report.
fn load(dir: &DataDir, server: &HttpServer, extra: &[&str]) -> Value {
    let mut args = vec!["--json", "bench", "load", "--url", &server.base];
    args.extend_from_slice(extra);
    let run = run_bare(dir, &args);
    run.json()
}

fn requests_total(server: &HttpServer) -> u64 {
    let (status, metrics) = server.get_json("/metrics");
    assert_eq!(status, 200);
    metrics["requests_total"].as_u64().unwrap()
}

fn assert_sane(report: &Value, requests: u64, server: &HttpServer) {
    assert_eq!(report["requests"], requests, "{report:#}");
    assert_eq!(report["ok"], requests, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(
        report["errors_by_kind"],
        serde_json::json!({}),
        "{report:#}"
    );
    assert!(
        report["throughput_rps"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    let l = &report["latency_ms"];
    let v = |k: &str| {
        l[k].as_f64()
            .unwrap_or_else(|| panic!("latency {k}: {report:#}"))
    };
    assert!(v("min") > 0.0, "{report:#}");
    assert!(
        v("min") <= v("p50")
            && v("p50") <= v("p95")
            && v("p95") <= v("p99")
            && v("p99") <= v("max"),
        "{report:#}"
    );
    // The pid comes from the runtime file of --data-dir, and its memory is read.
    assert_eq!(report["server"]["pid"], server.pid(), "{report:#}");
    assert!(
        report["server"]["rss_mib_after"].as_f64().unwrap() > 1.0,
        "{report:#}"
    );
}

#[test]
fn corpus_is_byte_identical_for_a_seed_and_imports_whole() {
    let dir = DataDir::new();
    let a = write_corpus(&dir, "a.jsonl", &["--memories", "300"]);
    let b = write_corpus(&dir, "b.jsonl", &["--memories", "300"]);
    let c = write_corpus(&dir, "c.jsonl", &["--memories", "300", "--seed", "42"]);
    let (a_bytes, b_bytes) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(a_bytes, b_bytes, "same seed, different corpus");
    assert_ne!(a_bytes, std::fs::read(&c).unwrap(), "the seed is ignored");
    let text = String::from_utf8(a_bytes).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 300);
    let pinned = records.iter().filter(|r| r["roles"].is_array()).count();
    assert!(pinned >= 1, "no pins in the corpus");
    let kinds: std::collections::HashSet<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 5, "kinds: {kinds:?}");

    // `--namespace` lands in every record, and import keeps it.
    let ns = write_corpus(
        &dir,
        "ns.jsonl",
        &["--memories", "50", "--namespace", "proj-x"],
    );
    assert!(
        std::fs::read_to_string(&ns)
            .unwrap()
            .lines()
            .all(|l| l.contains(r#""namespace":"proj-x""#))
    );

    let fresh = DataDir::new();
    for path in [&a, &ns] {
        let import = run_bare(&fresh, &["import", path.to_str().unwrap()]);
        assert!(import.ok().starts_with("imported"), "{}", import.describe());
    }
    let exported = run_bare(&fresh, &["export"]).ok();
    assert_eq!(exported.lines().count(), 350);
    let in_ns = run_bare(&fresh, &["export", "--only-namespace", "proj-x"]).ok();
    assert_eq!(in_ns.lines().count(), 50);
}

#[test]
fn corpus_to_stdout_matches_the_file() {
    let dir = DataDir::new();
    let file = write_corpus(&dir, "a.jsonl", &["--memories", "20"]);
    let stdout = run_bare(&dir, &["bench", "corpus", "--memories", "20", "--out", "-"]).ok();
    assert_eq!(stdout, std::fs::read_to_string(file).unwrap());
}

#[test]
fn load_over_plain_json_and_mcp_checks_every_answer() {
    let dir = DataDir::new();
    let server = seeded_server(&dir);
    let before = requests_total(&server);
    let json = load(
        &dir,
        &server,
        &[
            "--transport",
            "json",
            "--workload",
            "mixed",
            "--clients",
            "4",
            "--requests",
            "80",
        ],
    );
    assert_sane(&json, 80, &server);
    assert_eq!(json["transport"], "json");
    assert_eq!(json["workload"], "mixed");
    assert_eq!(json["clients"], 4);
    // A mixed run also reports each kind of request on its own, and they add up.
    let by_op = json["latency_by_op_ms"]
        .as_object()
        .expect("latency_by_op_ms");
    assert!(
        by_op.contains_key("search") && by_op.contains_key("store"),
        "{by_op:?}"
    );
    for l in by_op.values() {
        assert!(
            l["p50"].as_f64().unwrap() <= l["p95"].as_f64().unwrap(),
            "{l}"
        );
    }

    let mcp = load(
        &dir,
        &server,
        &[
            "--transport",
            "mcp",
            "--workload",
            "rehydrate-cached",
            "--clients",
            "3",
            "--requests",
            "60",
        ],
    );
    assert_sane(&mcp, 60, &server);
    assert_eq!(mcp["transport"], "mcp");
    assert!(
        mcp.get("latency_by_op_ms").is_none(),
        "one kind of request: no breakdown"
    );
    // Every request reached the server (and nothing else did meanwhile).
    assert!(requests_total(&server) >= before + 140);
}

#[test]
fn load_store_writes_one_memory_per_request_over_mcp() {
    let dir = DataDir::new();
    let server = seeded_server(&dir);
    let report = load(
        &dir,
        &server,
        &[
            "--transport",
            "mcp",
            "--workload",
            "store",
            "--clients",
            "2",
            "--requests",
            "25",
        ],
    );
    assert_sane(&report, 25, &server);
    // 200 seeded, one warm-up write per client, 25 measured.
    let (_, health) = server.get_json("/health");
    assert_eq!(health["memory_count"], 227, "{health:#}");
    let search = load(&dir, &server, &["--workload", "search", "--seconds", "0.5"]);
    assert!(search["requests"].as_u64().unwrap() > 0, "{search:#}");
    assert_eq!(search["errors"], 0, "{search:#}");
    assert!(
        search["elapsed_seconds"].as_f64().unwrap() >= 0.5,
        "{search:#}"
    );
}

#[test]
fn load_counts_failures_by_kind_and_exits_nonzero() {
    let dir = DataDir::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let args = [
        "--json",
        "bench",
        "load",
        "--url",
        &url,
        "--requests",
        "6",
        "--clients",
        "2",
        "--warmup",
        "0",
    ];
    let run = run_bare(&dir, &args);
    assert_eq!(run.code(), 2, "{}", run.describe());
    let report: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(report["errors"], 6, "{report:#}");
    assert_eq!(report["errors_by_kind"]["connect"], 6, "{report:#}");
    assert!(report["latency_ms"].is_null());
    assert!(
        run.stderr().contains("6 of 6 requests failed"),
        "{}",
        run.describe()
    );

    // A refused request is a failure too, named by its status; --token is sent.
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command.env("MEMORYD_TOKEN", "s3cret-token-for-bench-tests");
    let server = HttpServer::start_command(&dir, command);
    for transport in ["json", "mcp"] {
        let args = [
            "--json",
            "bench",
            "load",
            "--url",
            &server.base,
            "--requests",
            "3",
            "--clients",
            "1",
            "--transport",
            transport,
        ];
        // A client that cannot start (its session refused, or a warm-up call failed) stops
        // the run before the clock starts.
        let run = run_bare(&dir, &args);
        assert_eq!(run.code(), 2, "{}", run.describe());
        assert!(
            run.stderr().contains("could not start (http 401)"),
            "{}",
            run.describe()
        );
        assert!(run.stdout().is_empty(), "{}", run.describe());
        if transport == "json" {
            // Without a warm-up, each refused request is counted.
            let mut args = args.to_vec();
            args.extend(["--warmup", "0"]);
            let run = run_bare(&dir, &args);
            assert_eq!(run.code(), 2, "{}", run.describe());
            let report: Value = serde_json::from_str(&run.stdout()).unwrap();
            assert_eq!(report["errors_by_kind"]["http 401"], 3, "{report:#}");
        }
        let mut args = args.to_vec();
        args.extend(["--token", "s3cret-token-for-bench-tests"]);
        let report = run_bare(&dir, &args).json();
        assert_eq!(report["errors"], 0, "{report:#}");
        assert_eq!(report["ok"], 3, "{report:#}");
    }
}

#[test]
fn cold_start_reports_each_run() {
    let dir = DataDir::new();
    let report = run_bare(&dir, &["--json", "bench", "cold-start", "--runs", "3"]).json();
    assert_eq!(report["runs"], 3, "{report:#}");
    let samples: Vec<f64> = report["samples_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(samples.len(), 3);
    assert!(
        samples.iter().all(|s| *s > 0.0 && *s < 30_000.0),
        "{samples:?}"
    );
    let (min, p50, max) = (
        report["min_ms"].as_f64().unwrap(),
        report["p50_ms"].as_f64().unwrap(),
        report["max_ms"].as_f64().unwrap(),
    );
    assert!(min <= p50 && p50 <= max, "{report:#}");
    assert_eq!(report["target_ms"], 50.0);
    // The human table says the same.
    let table = run_bare(&dir, &["bench", "cold-start", "--runs", "1"]).ok();
    assert!(
        table.contains("spawn to initialize answered, 1 run"),
        "{table}"
    );
}

/// `bench sweep` loads expired and live memories, searches with and without the sweep, and
/// the sweep purges every expired memory and no live one (no timing is asserted).
#[test]
fn sweep_purges_the_expired_and_reports_searches_with_and_without_it() {
    let dir = DataDir::new();
    let args = [
        "--json",
        "bench",
        "sweep",
        "--expired",
        "2000",
        "--live",
        "300",
        "--seconds",
        "0.5",
    ];
    let report = run_bare(&dir, &args).json();
    assert_eq!(report["expired"], 2000, "{report:#}");
    assert_eq!(report["live"], 300, "{report:#}");
    assert_eq!(report["sweep"]["purged"], 2000, "{report:#}");
    assert_eq!(report["sweep"]["batch"], 500, "{report:#}");
    assert!(
        report["sweep"]["seconds"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert_eq!(report["expired_left"], 0, "{report:#}");
    assert_eq!(report["live_left"], 300, "{report:#}");
    for phase in ["idle", "during_sweep"] {
        let p = &report[phase];
        assert_eq!(p["errors"], 0, "{phase}: {report:#}");
        assert!(p["requests"].as_u64().unwrap() >= 1, "{phase}: {report:#}");
        let (p50, p95) = (
            p["latency_ms"]["p50"].as_f64().unwrap(),
            p["latency_ms"]["p95"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p95 >= p50, "{phase}: {report:#}");
    }
    // The table names both phases and the purge (a fresh database: the corpus would repeat
    // the contents already stored on PostgreSQL).
    let table = run_bare(
        &DataDir::new(),
        &[
            "bench",
            "sweep",
            "--expired",
            "20",
            "--live",
            "20",
            "--seconds",
            "0.1",
        ],
    )
    .ok();
    for line in ["no sweep", "sweeping", "sweep     20 purged"] {
        assert!(table.contains(line), "{line}: {table}");
    }
}

#[test]
fn bad_flags_are_refused_with_the_flag_named() {
    let dir = DataDir::new();
    let missing = dir.path().join("no/such/folder/x.jsonl");
    let missing = missing.to_str().unwrap();
    let u = "http://127.0.0.1:9";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["bench", "load", "--url", u, "--clients", "0"],
            &["'--clients'", "from 1 to 1024, got 0"],
        ),
        (
            &["bench", "load", "--url", u, "--clients", "2000"],
            &["'--clients'", "from 1 to 1024"],
        ),
        (
            &["bench", "load", "--url", u, "--seconds", "0"],
            &["'--seconds'", "more than 0"],
        ),
        (
            &["bench", "load", "--url", u, "--seconds", "NaN"],
            &["'--seconds'"],
        ),
        (
            &["bench", "load", "--url", u, "--requests", "0"],
            &["'--requests'", "from 1"],
        ),
        (
            &["bench", "load", "--url", u, "--warmup", "5000"],
            &["'--warmup'", "from 0 to 1000"],
        ),
        (
            &["bench", "load", "--url", u, "--namespace", "a b"],
            &["'namespace'"],
        ),
        (
            &["bench", "load", "--url", "localhost:3000"],
            &["'--url'", "such as http://127.0.0.1:3000"],
        ),
        (
            &["bench", "load", "--url", u, "--transport", "grpc"],
            &["'grpc'", "--transport"],
        ),
        (
            &["bench", "load", "--url", u, "--workload", "nope"],
            &["'nope'", "--workload"],
        ),
        (
            &[
                "bench",
                "load",
                "--url",
                u,
                "--seconds",
                "1",
                "--requests",
                "5",
            ],
            &["--seconds", "--requests", "cannot be used with"],
        ),
        (&["bench", "load"], &["no --url given", "memoryd serve"]),
        (
            &["bench", "corpus", "--memories", "0", "--out", "x"],
            &["'--memories'", "from 1"],
        ),
        (
            &["bench", "sweep", "--expired", "0"],
            &["'--expired'", "from 1"],
        ),
        (
            &["bench", "sweep", "--seconds", "0"],
            &["'--seconds'", "more than 0"],
        ),
        (
            &["bench", "sweep", "--workload", "store"],
            &["'--workload'", "search-keyword"],
        ),
        (
            &["bench", "corpus", "--memories", "5", "--out", missing],
            &["'--out'", "does not exist"],
        ),
        (
            &[
                "bench",
                "corpus",
                "--memories",
                "5",
                "--out",
                "-",
                "--namespace",
                "a b",
            ],
            &["namespace"],
        ),
        (
            &["bench", "cold-start", "--runs", "0"],
            &["'--runs'", "from 1 to 1000"],
        ),
        (
            &[
                "bench",
                "corpus",
                "--memories",
                "5",
                "--out",
                "-",
                "--namespaces",
                "0",
            ],
            &["'--namespaces'", "from 1 to 1000000"],
        ),
        (
            &[
                "bench",
                "corpus",
                "--memories",
                "5",
                "--out",
                "-",
                "--namespaces",
                "6",
            ],
            &[
                "'--namespaces'",
                "6 namespaces need at least as many memories",
            ],
        ),
        (
            &[
                "bench",
                "corpus",
                "--memories",
                "5",
                "--out",
                "-",
                "--largest",
                "2",
            ],
            &["'--largest'", "--namespaces 2 or more"],
        ),
        (
            &[
                "bench",
                "corpus",
                "--memories",
                "5",
                "--out",
                "-",
                "--namespaces",
                "3",
                "--largest",
                "4",
            ],
            &["'--largest'", "from 1 to 3", "got 4"],
        ),
    ];
    for (args, expected) in cases {
        let run = run_bare(&dir, args);
        assert_eq!(run.code(), 2, "{}", run.describe());
        let stderr = run.stderr();
        for part in *expected {
            assert!(
                stderr.contains(part),
                "expected {part:?}\n{}",
                run.describe()
            );
        }
    }
    assert!(!Path::new(missing).exists());
}

#[test]
fn a_corpus_spread_over_namespaces_with_vectors_imports_without_embedding() {
    let dir = DataDir::new();
    let corpus = write_corpus(
        &dir,
        "spread.jsonl",
        &[
            "--memories",
            "30",
            "--namespaces",
            "4",
            "--largest",
            "12",
            "--vectors",
        ],
    );
    // --offline: no model, so every vector stored came with its record.
    let import = run_bare(&dir, &["import", corpus.to_str().unwrap()]);
    assert!(
        import.ok().contains("imported 30 of 30 memories from")
            && import
                .ok()
                .contains("(30 embedded, 30 of them with the vector they carried,"),
        "{}",
        import.describe()
    );
    let counts: Vec<(String, u64)> = ["scale-0", "scale-1", "scale-2", "scale-3"]
        .iter()
        .map(|ns| {
            let list = run_bare(&dir, &["--json", "-n", ns, "list", "--limit", "100"]);
            let n = list.json()["memories"].as_array().unwrap().len() as u64;
            (ns.to_string(), n)
        })
        .collect();
    let sizes: Vec<u64> = counts.iter().map(|c| c.1).collect();
    assert_eq!(sizes, [12, 6, 6, 6], "{counts:?}");
}
