//! Keys from `memoryd key create` against a real `memoryd serve`: which namespaces and which
//! scope each may reach on every surface (plain JSON, MCP over HTTP, resources, prompts,
//! completions, the browser's API, the operator's pages, the stdio shim), what a bad key
//! gets, and that a refused call writes nothing. Runs on both engines.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

use crate::util::bearer::{call, client, count, get, message, within_a_second};
use crate::util::{DataDir, HttpServer, Mcp, StdioClient, mcp_stateless};

/// A key made with `memoryd key create`; returns its full text.
fn create_key(dir: &DataDir, label: &str, scope: &str, namespaces: &[&str]) -> String {
    let mut args = vec![
        "key", "create", "--label", label, "--scope", scope, "--json",
    ];
    for namespace in namespaces {
        args.extend(["--namespace", namespace]);
    }
    let created = dir.run(&args, "").json();
    created["key"]
        .as_str()
        .expect("key create --json prints the key")
        .to_string()
}

/// The id part of a key's text (`mdk_<id>_<secret>`).
fn key_id(key: &str) -> &str {
    &key["mdk_".len().."mdk_".len() + 16]
}

#[test]
fn keys_decide_who_reads_and_writes_which_namespace_on_every_surface() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    // Before any key exists a loopback server is open, as it always was.
    let (status, _, before) = call(
        &server,
        None,
        "store_memory",
        json!({"content": "Team B deploys on Fridays.", "namespace": "team-b"}),
    );
    assert_eq!(status, 200, "{before}");
    let team_b_id = before["id"].as_str().unwrap().to_string();

    let alice = create_key(&dir, "alice", "write", &["team-a/*"]);
    let bob = create_key(&dir, "bob", "read", &["team-a/*"]);
    let ops = create_key(&dir, "ops", "admin", &[]);

    // The first key closes the server to anyone without one, within a second.
    within_a_second("the first key closes the server", || {
        call(&server, None, "list_memories", json!({})).0 == 401
    });
    let (_, headers, body) = call(&server, None, "list_memories", json!({}));
    assert!(message(&body).contains("memoryd key create"), "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // Writes: only into the key's namespaces, only with write scope.
    let (status, _, stored) = call(
        &server,
        Some(&alice),
        "store_memory",
        json!({"content": "Team A ships on Tuesdays.", "namespace": "team-a/api"}),
    );
    assert_eq!(status, 200, "{stored}");
    let team_a_id = stored["id"].as_str().unwrap().to_string();
    let (status, headers, refused) = call(
        &server,
        Some(&alice),
        "store_memory",
        json!({"content": "Alice writes into team B.", "namespace": "team-b"}),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert_eq!(
        message(&refused),
        "key 'alice' may not write to namespace 'team-b'\nit may read and write namespaces team-a/*"
    );
    let (status, _, refused) = call(
        &server,
        Some(&bob),
        "update_memory",
        json!({"id": team_a_id, "namespace": "team-a/api", "title": "bob was here"}),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        message(&refused),
        "key 'bob' may not write to namespace 'team-a/api'\nit may read namespaces team-a/*"
    );
    // Reads: the key's namespaces only; who wrote what is on the memory.
    let (status, _, found) = call(
        &server,
        Some(&bob),
        "search_memory",
        json!({"query": "Tuesdays", "namespace": "team-a/api", "mode": "keyword"}),
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    let (status, _, got) = call(
        &server,
        Some(&bob),
        "get_memory",
        json!({"id": team_a_id, "namespace": "team-a/api"}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["created_by"], "alice", "{got}");
    assert_eq!(got["updated_by"], "alice", "{got}");
    assert_eq!(
        got["title"],
        Value::Null,
        "bob's refused update changed nothing"
    );
    let (status, _, refused) = call(
        &server,
        Some(&bob),
        "get_memory",
        json!({"id": team_b_id, "namespace": "team-b"}),
    );
    assert_eq!(status, 403, "{refused}");
    assert!(message(&refused).starts_with("key 'bob' may not read namespace 'team-b'"));
    // Nothing refused was written.
    assert_eq!(count(&server, &ops, "team-b"), 1);
    assert_eq!(count(&server, &ops, "team-a/api"), 1);

    // The operator's pages are the admin's.
    for path in ["/metrics", "/status"] {
        let (status, headers, body) = get(&server, Some(&alice), path);
        assert_eq!(status, 403, "{path}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(body.contains("needs an admin key"), "{body}");
        assert_eq!(get(&server, Some(&ops), path).0, 200, "{path}");
    }
    // The probes stay open.
    assert_eq!(get(&server, None, "/health").0, 200);

    // MCP over HTTP: the same rules, refused with HTTP 403 before rmcp sees the call.
    let http = client(Some(&bob));
    let found = mcp_stateless(
        &http,
        &server.base,
        1,
        "tools/call",
        json!({"name": "search_memory", "arguments":
            {"query": "Tuesdays", "namespace": "team-a/api", "mode": "keyword"}}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        found["structuredContent"]["hits"].as_array().unwrap().len(),
        1
    );
    let refused = mcp_stateless(
        &http,
        &server.base,
        2,
        "tools/call",
        json!({"name": "store_memory", "arguments":
            {"content": "Bob over MCP.", "namespace": "team-a/api"}}),
    )
    .unwrap_err();
    assert!(refused.contains("HTTP 403"), "{refused}");
    assert!(
        refused.contains("may not write to namespace 'team-a/api'"),
        "{refused}"
    );
    // Resources: a namespace the key may not read lists nothing; reading one is refused.
    let listed = |namespace: &str| {
        let mut params = json!({});
        params["_meta"] = json!({"memoryd/namespace": namespace});
        let listed = mcp_stateless(&http, &server.base, 3, "resources/list", params)
            .unwrap()
            .unwrap();
        listed["resources"].as_array().unwrap().len()
    };
    assert_eq!(listed("team-a/api"), 1);
    assert_eq!(listed("team-b"), 0);
    let uri = format!("memory://team-b/{team_b_id}");
    let refused = mcp_stateless(
        &http,
        &server.base,
        4,
        "resources/read",
        json!({"uri": uri}),
    )
    .unwrap_err();
    assert!(refused.contains("HTTP 403"), "{refused}");
    // So is following it.
    let refused = mcp_stateless(
        &http,
        &server.base,
        7,
        "resources/subscribe",
        json!({"uri": format!("memory://team-b/{team_b_id}")}),
    )
    .unwrap_err();
    assert!(refused.contains("HTTP 403"), "{refused}");
    // Prompts read a namespace too.
    let refused = mcp_stateless(
        &http,
        &server.base,
        5,
        "prompts/get",
        json!({"name": "recall", "arguments": {"query": "deploys", "namespace": "team-b"}}),
    )
    .unwrap_err();
    assert!(refused.contains("HTTP 403"), "{refused}");
    // Completions offer only what the key may read.
    let completed = mcp_stateless(
        &http,
        &server.base,
        6,
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "recall"},
               "argument": {"name": "namespace", "value": ""}}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(completed["completion"]["values"], json!(["team-a/api"]));
    // The browser's pickers too.
    let (status, _, context) = get(&server, Some(&bob), "/memories/api/context");
    assert_eq!(status, 200, "{context}");
    let context: Value = serde_json::from_str(&context).unwrap();
    let names: Vec<&str> = context["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team-a/api"]);

    // A revocation holds within a second.
    let revoked = dir.run(&["key", "revoke", key_id(&alice)], "");
    assert!(
        revoked.ok().contains("revoked key"),
        "{}",
        revoked.describe()
    );
    let took = within_a_second("the revocation", || {
        call(
            &server,
            Some(&alice),
            "list_memories",
            json!({"namespace": "team-a/api"}),
        )
        .0 == 401
    });
    let (_, _, body) = call(&server, Some(&alice), "list_memories", json!({}));
    assert!(
        message(&body).contains("was revoked"),
        "{body} (after {took:?})"
    );

    // No key ever reaches the log.
    let log = server.stderr();
    for key in [&alice, &bob, &ops] {
        assert!(!log.contains(key.as_str()), "a key is in the log");
        assert!(!log.contains(&key[20..]), "a key's secret is in the log");
    }
}

#[test]
fn bad_keys_get_401_with_a_reason_and_change_nothing() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    let admin = create_key(&dir, "ops", "admin", &[]);
    let revoked = create_key(&dir, "gone", "write", &["*"]);
    dir.run(&["key", "revoke", key_id(&revoked)], "").ok();
    let expiring = create_key_expiring(&dir, "brief", "1s");
    let unknown = format!("mdk_{}_{}", "0123456789abcdef", "A".repeat(43));
    let oversized = format!("mdk_{}", "x".repeat(10_000));
    std::thread::sleep(Duration::from_millis(1100));
    let cases: [(&str, &str, &str); 5] = [
        ("malformed", "mdk_zz", "the key is malformed"),
        ("unknown", &unknown, "the key is not known to this server"),
        ("revoked", &revoked, "was revoked at"),
        ("expired", &expiring, "expired at"),
        ("oversized", &oversized, "more than the 8192 accepted"),
    ];
    for (what, key, says) in cases {
        let (status, headers, body) = call(
            &server,
            Some(key),
            "store_memory",
            json!({"content": format!("written with a {what} key")}),
        );
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        assert!(message(&body).contains(says), "{what}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }
    assert_eq!(count(&server, &admin, "default"), 0, "a refused call wrote");
    let log = server.stderr();
    for key in [&revoked, &expiring, &unknown] {
        assert!(!log.contains(key.as_str()), "a key is in the log");
    }
}

/// A key of every namespace that expires after `expires`.
fn create_key_expiring(dir: &DataDir, label: &str, expires: &str) -> String {
    let created = dir
        .run(
            &[
                "key",
                "create",
                "--label",
                label,
                "--scope",
                "write",
                "--namespace",
                "*",
                "--expires",
                expires,
                "--json",
            ],
            "",
        )
        .json();
    created["key"].as_str().unwrap().to_string()
}

#[test]
fn each_key_has_its_own_rate() {
    let dir = DataDir::new();
    let alice = create_key(&dir, "alice", "read", &["*"]);
    let bob = create_key(&dir, "bob", "read", &["*"]);
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command
        .env("MEMORYD_LIMITS__RATE_LIMIT_PER_SECOND", "1")
        .env("MEMORYD_LIMITS__RATE_LIMIT_BURST", "3");
    let server = HttpServer::start_command(&dir, command);
    let statuses = |key: &str| -> Vec<u16> {
        (0..4)
            .map(|_| call(&server, Some(key), "list_memories", json!({})).0)
            .collect()
    };
    // Both call from the same address; each has its own burst of 3.
    assert_eq!(statuses(&alice), [200, 200, 200, 429]);
    assert_eq!(statuses(&bob), [200, 200, 200, 429]);
    let (_, _, body) = call(&server, Some(&alice), "list_memories", json!({}));
    assert!(
        message(&body).starts_with(&format!("too many requests from key {}", key_id(&alice))),
        "{body}"
    );
}

#[test]
fn the_stdio_shim_forwards_with_its_key() {
    let dir = DataDir::new();
    let _server = dir.bare_serve();
    let writer = create_key(&dir, "writer", "write", &["default"]);
    let reader = create_key(&dir, "reader", "read", &["default"]);
    let shim = |key: &str| {
        StdioClient::start_command({
            let mut command = dir.bare_command(&["stdio", "--offline"]);
            command
                .env("MEMORYD_KEY", key)
                .stderr(std::process::Stdio::null());
            command
        })
    };
    let mut as_writer = shim(&writer);
    let stored = as_writer
        .call(
            "store_memory",
            json!({"content": "Stored through the shim."}),
        )
        .unwrap();
    let mut as_reader = shim(&reader);
    let got = as_reader
        .call("get_memory", json!({"id": stored["id"]}))
        .unwrap();
    assert_eq!(got["created_by"], "writer");
    let refused = as_reader
        .call(
            "store_memory",
            json!({"content": "The reader tries to write."}),
        )
        .unwrap_err();
    assert!(
        refused
            .message
            .contains("key 'reader' may not write to namespace 'default'"),
        "{refused:?}"
    );
}

#[test]
fn the_bad_credential_corpus_gets_401_and_changes_nothing() {
    let dir = DataDir::new();
    let server = dir.bare_serve();
    let admin = create_key(&dir, "ops", "admin", &[]);
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad-credentials");
    let mut cases: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "header"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "the corpus is in fixtures/bad-credentials"
    );
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        let value = HeaderValue::from_bytes(&std::fs::read(case).unwrap()).unwrap();
        let resp = Client::new()
            .post(format!("{}/mcp/tools/call", server.base))
            .header(AUTHORIZATION, value)
            .json(&json!({"name": "store_memory", "arguments": {"content": format!("via {name}")}}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{name}");
        assert!(resp.headers().contains_key("www-authenticate"), "{name}");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{name}: {body}");
        let said = message(&body);
        assert!(
            said.contains("memoryd key create") || said.starts_with("the key is"),
            "{name}: {said}"
        );
    }
    assert_eq!(count(&server, &admin, "default"), 0, "a refused call wrote");
    assert_eq!(get(&server, None, "/health").0, 200, "the server is up");
}
