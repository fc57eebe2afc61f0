//! `[storage] store_embedding = "background"`: `store_memory` answers before the model runs;
//! the memory is found by keywords at once and by meaning soon after, `/health` reports the
//! wait, and a process that ends between the write and the embedding loses no vector.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{DataDir, HttpServer};

const BACKGROUND: (&str, &str) = ("MEMORYD_STORAGE__STORE_EMBEDDING", "background");
const CONTENT: &str = "The staging database is refreshed from production every Sunday night.";
/// Worded with none of the memory's words, so only its vector can find it.
const MEANING: &str = "when does the test environment get a fresh copy of live data";

fn call(server: &HttpServer, name: &str, arguments: Value) -> Value {
    let (status, out) =
        server.tools_call(&json!({"name": name, "arguments": arguments}).to_string());
    assert_eq!(status, 200, "{name}: {out}");
    out
}

fn ids(out: &Value) -> Vec<String> {
    out["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls until a semantic search finds `id` (the vector was written), at most 30 s.
fn found_by_meaning(server: &HttpServer, id: &str) -> Duration {
    let started = Instant::now();
    loop {
        let out = call(
            server,
            "search_memory",
            json!({"query": MEANING, "mode": "semantic"}),
        );
        if ids(&out).iter().any(|hit| hit == id) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never found by meaning: {out}\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_memory_stored_with_background_embedding_is_found_by_keywords_at_once_and_by_meaning_soon() {
    let dir = DataDir::new();
    let server = dir.serve_with_env(&[BACKGROUND]);
    server.wait_for_model();
    let stored = call(&server, "store_memory", json!({"content": CONTENT}));
    assert_eq!(stored["deduplicated"], false, "{stored}");
    let id = stored["id"].as_str().unwrap();
    let keyword = call(
        &server,
        "search_memory",
        json!({"query": "staging refreshed", "mode": "keyword"}),
    );
    assert_eq!(ids(&keyword), [id], "{keyword}");
    found_by_meaning(&server, id);
    // The backlog drains; /health says nothing waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, health) = server.get_json("/health");
        let embedder = &health["embedder"];
        if embedder["pending_vectors"] == 0 {
            assert_eq!(embedder["oldest_pending_ms"], Value::Null, "{health}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog never drained: {health}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Storing the same content again is still a deduplicated answer.
    let again = call(&server, "store_memory", json!({"content": CONTENT}));
    assert_eq!(
        (&again["id"], &again["deduplicated"]),
        (&json!(id), &json!(true))
    );
}

#[test]
fn a_process_that_ends_before_the_background_embedding_loses_no_vector() {
    let dir = DataDir::new();
    // A one-shot `memoryd store` writes the memory and exits: nothing embeds it there.
    let mut store = dir.command(&["store", "--json", CONTENT]);
    store.env(BACKGROUND.0, BACKGROUND.1);
    let stored = dir.run_command(store, &["store"], "").json();
    let id = stored["id"].as_str().unwrap().to_string();
    let doctor = dir.run(&["doctor"], "");
    assert!(
        doctor.stdout().contains("1 memories wait for a vector"),
        "{}",
        doctor.describe()
    );
    // The next server embeds it at start (inline mode, the default, changes nothing there).
    let server = dir.serve();
    server.wait_for_model();
    found_by_meaning(&server, &id);
    // The same after SIGKILL right after a background store's answer.
    let server2 = {
        drop(server);
        dir.serve_with_env(&[BACKGROUND])
    };
    server2.wait_for_model();
    let other = call(
        &server2,
        "store_memory",
        json!({"content": "Staging gets a production snapshot each weekend, late Sunday."}),
    );
    let other_id = other["id"].as_str().unwrap().to_string();
    server2.kill9();
    let server3 = dir.serve();
    server3.wait_for_model();
    found_by_meaning(&server3, &other_id);
}

#[test]
fn an_unknown_store_embedding_is_refused_with_the_choices() {
    let dir = DataDir::new();
    let mut command = dir.command(&["config", "show"]);
    command.env(BACKGROUND.0, "later");
    let out = dir.run_command(command, &["config", "show"], "");
    assert_eq!(out.code(), 2, "{}", out.describe());
    let err = out.stderr();
    assert!(
        err.contains("later") && err.contains("inline") && err.contains("background"),
        "{}",
        out.describe()
    );
    assert!(err.contains("STORE_EMBEDDING"), "{}", out.describe());
}
