//! Memory expiry (issue #24): `ttl`/`expires_at` on store and update, per-kind defaults, an
//! expired memory gone from every read but `get_memory` with `include_expired`, the sweep that
//! purges it, the refusals, and (PostgreSQL) one purge across a fleet, on both engines.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{DataDir, HttpServer, Mcp, RpcError};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(id).collect()
}

fn invalid(result: Result<Value, RpcError>) -> String {
    let err = result.expect_err("refused");
    assert_eq!(err.code, -32602, "{err:?}");
    err.message
}

/// `memoryd serve` with `[lifecycle]` keys set through the environment.
fn serve(dir: &DataDir, env: &[(&str, &str)]) -> HttpServer {
    dir.serve_with_env(env)
}

/// What every read returns for `query` (keyword and hybrid search, list, a planner bundle).
fn everywhere(c: &mut impl Mcp, query: &str) -> Vec<Vec<String>> {
    let search = |c: &mut dyn FnMut(&str, Value) -> Value, mode: &str| {
        ids(&c("search_memory", json!({"query": query, "mode": mode}))["hits"])
    };
    let mut call = |name: &str, args: Value| c.call(name, args).unwrap();
    let keyword = search(&mut call, "keyword");
    let semantic = search(&mut call, "semantic");
    let superseded = ids(&call(
        "search_memory",
        json!({"query": query, "mode": "keyword", "include_superseded": true}),
    )["hits"]);
    let listed = ids(&call("list_memories", json!({}))["memories"]);
    let bundle = call(
        "rehydrate_memory",
        json!({"role": "planner", "task": query}),
    );
    let mut bundled = Vec::new();
    for section in bundle["sections"].as_array().unwrap() {
        bundled.extend(ids(&section["items"]));
    }
    vec![keyword, semantic, superseded, listed, bundled]
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_expired_memory_leaves_every_read_but_get_memory_with_include_expired() {
    let dir = DataDir::new();
    let server = serve(&dir, &[]);
    let mut c = server.session();
    c.wait_for_model();
    let soon = c
        .call(
            "store_memory",
            json!({"content": "The staging database password rotates on Fridays.",
                   "kind": "fact", "roles": ["planner"], "ttl": "3s"}),
        )
        .unwrap();
    let soon = id(&soon);
    let later = id(&c
        .call(
            "store_memory",
            json!({"content": "The staging database lives on db-staging.",
                   "roles": ["planner"], "expires_at": "2999-01-01"}),
        )
        .unwrap());
    let got = c.call("get_memory", json!({"id": soon})).unwrap();
    let expires_at = got["expires_at"].as_str().unwrap().to_string();
    assert_eq!(
        c.call("get_memory", json!({"id": later})).unwrap()["expires_at"],
        "2999-01-01T00:00:00.000Z"
    );
    for (i, found) in everywhere(&mut c, "staging database password")
        .iter()
        .enumerate()
    {
        assert!(found.contains(&soon), "read {i} before expiry: {found:?}");
    }
    std::thread::sleep(Duration::from_millis(3300));
    for (i, found) in everywhere(&mut c, "staging database password")
        .iter()
        .enumerate()
    {
        assert!(!found.contains(&soon), "read {i} after expiry: {found:?}");
        assert!(
            found.contains(&later),
            "read {i} lost the live one: {found:?}"
        );
    }
    let err = c.call("get_memory", json!({"id": soon})).unwrap_err();
    assert_eq!(err.code, -32002, "not found: {err:?}");
    let kept = c
        .call("get_memory", json!({"id": soon, "include_expired": true}))
        .unwrap();
    assert_eq!(kept["expires_at"], json!(expires_at));
    let err = c
        .call("update_memory", json!({"id": soon, "title": "x"}))
        .unwrap_err();
    assert_eq!(err.code, -32002, "update of an expired memory: {err:?}");
    let deleted = c.call("delete_memory", json!({"id": soon})).unwrap();
    assert_eq!(deleted["deleted"], false);
    let read = c.request(
        "resources/read",
        json!({"uri": format!("memory://default/{soon}")}),
    );
    assert!(
        read.is_err(),
        "resources/read of an expired memory: {read:?}"
    );
    let listed = c.request("resources/list", json!({})).unwrap();
    assert!(!listed.to_string().contains(&soon), "{listed}");
    let (_, metrics) = server.get_json("/metrics");
    assert_eq!(metrics["memories"]["expired"], 1, "{metrics:#}");
    // The content is new again: storing it makes a new memory.
    let again = c
        .call(
            "store_memory",
            json!({"content": "The staging database password rotates on Fridays."}),
        )
        .unwrap();
    assert_eq!(again["deduplicated"], false);
    assert_ne!(id(&again), soon);
}

/// A memory expiring in one namespace makes that namespace's cached bundle miss, and leaves
/// another namespace's cached.
#[test]
fn an_expiry_misses_only_its_own_namespaces_cached_bundles() {
    let dir = DataDir::new();
    let server = serve(&dir, &[]);
    let mut c = server.session();
    c.wait_for_model();
    let mut store = |namespace: &str, content: &str, ttl: Option<&str>| {
        let mut args = json!({"content": content, "namespace": namespace, "roles": ["planner"]});
        if let Some(ttl) = ttl {
            args["ttl"] = json!(ttl);
        }
        id(&c.call("store_memory", args).unwrap())
    };
    store("steady", "The deploy runbook lives in the wiki.", None);
    store("brief", "The deploy freeze starts on Friday.", None);
    // Three seconds leave the four calls below time to run before it expires, on a slow
    // machine too.
    let short = store("brief", "The deploy window is 14:00 today.", Some("3s"));
    let bundle = |c: &mut crate::util::HttpSession, namespace: &str| {
        c.call(
            "rehydrate_memory",
            json!({"role": "planner", "task": "deploy", "namespace": namespace}),
        )
        .unwrap()
    };
    for namespace in ["steady", "brief"] {
        assert_eq!(bundle(&mut c, namespace)["meta"]["cache_hit"], false);
        assert_eq!(bundle(&mut c, namespace)["meta"]["cache_hit"], true);
    }
    std::thread::sleep(Duration::from_millis(3300));
    let steady = bundle(&mut c, "steady");
    assert_eq!(steady["meta"]["cache_hit"], true, "{steady:#}");
    let brief = bundle(&mut c, "brief");
    assert_eq!(brief["meta"]["cache_hit"], false, "{brief:#}");
    assert!(!brief.to_string().contains(&short), "{brief:#}");
}

#[test]
fn a_kind_default_applies_and_the_sweep_purges_with_versions_and_vector() {
    let dir = DataDir::new();
    let server = serve(
        &dir,
        &[
            ("MEMORYD_LIFECYCLE__TTL__CONVERSATION", "2s"),
            ("MEMORYD_LIFECYCLE__PURGE_AFTER", "1s"),
            ("MEMORYD_LIFECYCLE__SWEEP_EVERY", "1s"),
        ],
    );
    let mut c = server.session();
    let chat = id(&c
        .call(
            "store_memory",
            json!({"content": "We talked about the release train.", "kind": "conversation"}),
        )
        .unwrap());
    let kept = id(&c
        .call(
            "store_memory",
            json!({"content": "We talked about the build cache.", "kind": "conversation",
                   "ttl": "never"}),
        )
        .unwrap());
    let note = id(&c
        .call("store_memory", json!({"content": "A note without expiry."}))
        .unwrap());
    assert!(c.call("get_memory", json!({"id": chat})).unwrap()["expires_at"].is_string());
    for other in [&kept, &note] {
        let m = c.call("get_memory", json!({"id": other})).unwrap();
        assert_eq!(m["expires_at"], Value::Null, "{m}");
    }
    // A version to purge with it.
    c.call(
        "update_memory",
        json!({"id": chat, "title": "Release train"}),
    )
    .unwrap();
    wait_until("the sweep to purge the conversation", || {
        c.call("get_memory", json!({"id": chat, "include_expired": true}))
            .is_err()
    });
    let (_, metrics) = server.get_json("/metrics");
    assert_eq!(metrics["memories"]["purged"], 1, "{metrics:#}");
    assert_eq!(metrics["memories"]["expired"], 0, "{metrics:#}");
    assert_eq!(metrics["memories"]["total"], 2, "{metrics:#}");
    let (_, _, text) = server.get("/metrics", Some("text/plain"));
    assert!(text.contains("memoryd_memories_purged_total 1"), "{text}");
    assert!(text.contains("memoryd_memories_expired 0"), "{text}");
    let export = dir.run(&["export"], "").ok();
    assert!(
        !export.contains(&chat),
        "purged with its versions: {export}"
    );
    let found = c
        .call(
            "search_memory",
            json!({"query": "release train", "mode": "keyword"}),
        )
        .unwrap();
    assert!(!found.to_string().contains(&chat), "{found}");
}

#[test]
fn update_sets_and_clears_expiry_on_every_transport() {
    let dir = DataDir::new();
    let server = dir.serve();
    let (status, stored) = server.tools_call(
        &json!({"name": "store_memory",
                "arguments": {"content": "Expiring over plain JSON.", "ttl": "12h"}})
        .to_string(),
    );
    assert_eq!(status, 200, "{stored}");
    let memory = id(&stored);
    let mut c = server.session();
    let m = c.call("get_memory", json!({"id": memory})).unwrap();
    assert!(m["expires_at"].is_string());
    let cleared = c
        .call("update_memory", json!({"id": memory, "ttl": "never"}))
        .unwrap();
    assert_eq!(cleared["expires_at"], Value::Null);
    assert_eq!(cleared["version"], 1, "an expiry change keeps no version");
    let set = c
        .call(
            "update_memory",
            json!({"id": memory, "expires_at": "2999-06-01T12:00:00Z"}),
        )
        .unwrap();
    assert_eq!(set["expires_at"], "2999-06-01T12:00:00.000Z");
    drop(c);
    drop(server);
    let out = dir.run(&["store", "Expiring from the CLI.", "--ttl", "30d"], "");
    let stored_id = out.ok().trim().trim_start_matches("stored ").to_string();
    let shown = dir.run(&["get", &stored_id], "").ok();
    assert!(shown.contains("expires_at:"), "{shown}");
    let updated = dir.run(&["update", &stored_id, "--ttl", "never"], "").ok();
    assert!(!updated.contains("expires_at:"), "{updated}");
    let refused = dir.run(
        &[
            "store",
            "Both.",
            "--ttl",
            "1d",
            "--expires-at",
            "2999-01-01",
        ],
        "",
    );
    assert_ne!(refused.code(), 0);
    assert!(refused.stderr().contains("'ttl'"), "{}", refused.stderr());
}

#[test]
fn bad_expiry_arguments_name_the_argument_and_write_nothing() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let store = |c: &mut crate::util::StdioClient, extra: Value| {
        let mut args = json!({"content": "Never written."});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        invalid(c.call("store_memory", args))
    };
    for (extra, starts) in [
        (json!({"ttl": "0s"}), "invalid argument 'ttl': '0s' is zero"),
        (
            json!({"ttl": "-1h"}),
            "invalid argument 'ttl': '-1h' is negative",
        ),
        (
            json!({"ttl": "soon"}),
            "invalid argument 'ttl': 'soon' is not a duration",
        ),
        (json!({"ttl": "1.5h"}), "invalid argument 'ttl'"),
        (
            json!({"expires_at": "tomorrow"}),
            "invalid argument 'expires_at': 'tomorrow' is not a date",
        ),
        (
            json!({"expires_at": "2024-01-01", "occurred_at": "2025-01-01"}),
            "invalid argument 'expires_at': the memory would expire at 2024-01-01",
        ),
        (
            json!({"expires_at": "2020-01-01"}),
            "invalid argument 'expires_at'",
        ),
        (
            json!({"ttl": "1d", "expires_at": "2999-01-01"}),
            "invalid argument 'ttl': cannot be given together with expires_at",
        ),
    ] {
        let message = store(&mut c, extra.clone());
        assert!(message.starts_with(starts), "{extra}: {message}");
    }
    let listed = c.call("list_memories", json!({})).unwrap();
    assert_eq!(listed["memories"], json!([]), "nothing was written");
    let memory = id(&c
        .call(
            "store_memory",
            json!({"content": "Occurred in 2030.", "occurred_at": "2030-01-01"}),
        )
        .unwrap());
    let message = invalid(c.call(
        "update_memory",
        json!({"id": memory, "expires_at": "2029-01-01"}),
    ));
    assert!(
        message.starts_with("invalid argument 'expires_at'"),
        "{message}"
    );
    let message = invalid(c.call("update_memory", json!({"id": memory, "ttl": "0d"})));
    assert!(message.starts_with("invalid argument 'ttl'"), "{message}");
    let m = c.call("get_memory", json!({"id": memory})).unwrap();
    assert_eq!(m["expires_at"], Value::Null, "nothing was written");
}

mod on_postgres {
    use super::*;
    use crate::util::{Backend, require};

    /// Two servers on one database, both sweeping every second: 1,200 expired memories
    /// (imported) are purged once in all, the servers' purged counters adding up to 1,200.
    #[test]
    fn two_servers_sweep_one_database_and_purge_each_memory_once() {
        require(Backend::Postgres);
        let first = DataDir::new();
        let second = DataDir::sharing(&first);
        let mut lines = String::new();
        for i in 0..1200 {
            lines.push_str(
                &json!({"content": format!("expired memory number {i}"),
                        "occurred_at": "2020-01-01", "expires_at": "2020-01-02"})
                .to_string(),
            );
            lines.push('\n');
        }
        let file = first.path().join("expired.jsonl");
        std::fs::write(&file, lines).unwrap();
        let args = ["--offline", "import", file.to_str().unwrap()];
        first.run_command(first.bare_command(&args), &args, "").ok();
        let env = [
            ("MEMORYD_LIFECYCLE__PURGE_AFTER", "1s"),
            ("MEMORYD_LIFECYCLE__SWEEP_EVERY", "1s"),
        ];
        let start = |dir: &DataDir| {
            let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
            command.envs(env);
            HttpServer::start_command(dir, command)
        };
        let servers = [start(&first), start(&second)];
        let purged = |s: &HttpServer| {
            s.get_json("/metrics").1["memories"]["purged"]
                .as_u64()
                .unwrap()
        };
        wait_until("both servers to purge everything", || {
            servers.iter().map(purged).sum::<u64>() >= 1200
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(servers.iter().map(purged).sum::<u64>(), 1200);
        let (_, metrics) = servers[0].get_json("/metrics");
        assert_eq!(metrics["memories"]["total"], 0, "{metrics:#}");
    }
}
