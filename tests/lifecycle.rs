//! Memories that change (issue #24): `supersedes` on store and update, versions and history,
//! `as_of`, and what each read leaves out, over MCP, plain JSON and the CLI, on both engines.

use serde_json::{Value, json};

use crate::util::{Backend, DataDir, Mcp, RpcError, backend};

/// The old fact, the new one that replaces it, and a memory unrelated to both.
const OLD: &str = "The staging database runs MySQL 5.7 on stage1.";
const NEW: &str = "The staging database now runs PostgreSQL 16 on db-staging; stage1 was retired.";
const OTHER: &str = "The staging deploy runs every weekday at noon.";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

fn store(c: &mut impl Mcp, args: Value) -> String {
    id(&c.call("store_memory", args).unwrap())
}

/// The ids of a search's hits (keyword mode: the model may still be loading).
fn searched(c: &mut impl Mcp, extra: Value) -> Vec<String> {
    let mut args = json!({"query": "database", "mode": "keyword"});
    args.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ids(&c.call("search_memory", args).unwrap()["hits"])
}

fn listed(c: &mut impl Mcp, extra: Value) -> Vec<String> {
    ids(&c.call("list_memories", extra).unwrap()["memories"])
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(id).collect()
}

/// The ids a bundle cites, pins and evidence.
fn bundled(bundle: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in bundle["sections"].as_array().unwrap() {
        out.extend(ids(&section["items"]));
    }
    out
}

/// Stores OLD (in 2025), OTHER, and NEW (in June 2026) superseding OLD; returns their ids.
fn old_and_new(c: &mut impl Mcp) -> (String, String, String) {
    let old = store(
        c,
        json!({"content": OLD, "kind": "fact", "occurred_at": "2025-03-01",
               "roles": ["planner"]}),
    );
    let other = store(c, json!({"content": OTHER, "occurred_at": "2025-03-02"}));
    let new = store(
        c,
        json!({"content": NEW, "kind": "fact", "occurred_at": "2026-06-01",
               "supersedes": [old]}),
    );
    (old, other, new)
}

fn invalid(result: Result<Value, RpcError>) -> String {
    let err = result.expect_err("refused");
    assert_eq!(err.code, -32602, "{err:?}");
    err.message
}

#[test]
fn a_superseded_memory_leaves_every_read_but_get_memory() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let (old, other, new) = old_and_new(&mut c);

    let got = c.call("get_memory", json!({"id": old})).unwrap();
    assert_eq!(got["superseded_by"], json!(new));
    assert_eq!(got["valid_until"], "2026-06-01T00:00:00.000Z");
    assert_eq!(got["content"], OLD, "kept as it was");
    let current = c.call("get_memory", json!({"id": new})).unwrap();
    assert_eq!(current["superseded_by"], Value::Null);
    assert_eq!(current["valid_until"], Value::Null);
    assert_eq!(current["version"], 1);

    assert_eq!(searched(&mut c, json!({})), vec![new.clone()]);
    let all = searched(&mut c, json!({"include_superseded": true}));
    assert!(all.contains(&old) && all.contains(&new), "{all:?}");
    assert_eq!(listed(&mut c, json!({})), [new.clone(), other.clone()]);
    assert_eq!(
        listed(&mut c, json!({"include_superseded": true})),
        [new.clone(), other.clone(), old.clone()]
    );
    // The pin of the old fact goes with it.
    assert!(listed(&mut c, json!({"role": "planner"})).is_empty());

    let bundle = c
        .call(
            "rehydrate_memory",
            json!({"role": "planner", "task": "which database does staging run"}),
        )
        .unwrap();
    let cited = bundled(&bundle);
    assert!(cited.contains(&new), "{bundle:#}");
    assert!(!cited.contains(&old), "{bundle:#}");
    assert!(!bundle["text"].as_str().unwrap().contains("MySQL"));

    let resources = c.request("resources/list", json!({})).unwrap();
    let uris: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(uris.iter().any(|u| u.ends_with(&new)), "{uris:?}");
    assert!(!uris.iter().any(|u| u.ends_with(&old)), "{uris:?}");
    // Still readable by its URI, as by get_memory.
    let read = c
        .request(
            "resources/read",
            json!({"uri": format!("memory://default/{old}")}),
        )
        .unwrap();
    assert_eq!(read["contents"][0]["text"], OLD);

    let recall = c
        .request(
            "prompts/get",
            json!({"name": "recall", "arguments": {"query": "staging database"}}),
        )
        .unwrap();
    let shown = recall.to_string();
    assert!(
        shown.contains(&new) && shown.contains("PostgreSQL 16"),
        "{recall:#}"
    );
    assert!(
        !shown.contains(&old) && !shown.contains("MySQL"),
        "{recall:#}"
    );
}

#[test]
fn semantic_and_hybrid_search_leave_superseded_memories_out_without_losing_hits() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let (old, other, new) = old_and_new(&mut c);
    for mode in ["semantic", "hybrid"] {
        let args = json!({"query": "which database does staging run", "mode": mode, "limit": 2});
        let hits = ids(&c.call("search_memory", args).unwrap()["hits"]);
        // Both slots filled by current memories: the filter is in the index, not after it.
        assert_eq!(hits.len(), 2, "{mode}: {hits:?}");
        assert!(hits.contains(&new) && hits.contains(&other), "{mode}");
        let args = json!({"query": "which database does staging run", "mode": mode,
                          "limit": 3, "include_superseded": true});
        let hits = ids(&c.call("search_memory", args).unwrap()["hits"]);
        assert!(hits.contains(&old), "{mode}: {hits:?}");
    }
}

#[test]
fn store_memory_names_similar_memories_so_the_agent_can_supersede_them() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let old = store(
        &mut c,
        json!({"content": OLD, "kind": "fact", "title": "Staging database",
               "occurred_at": "2025-03-01"}),
    );
    store(&mut c, json!({"content": "Lunch is at noon on Fridays."}));
    let out = c
        .call(
            "store_memory",
            json!({"content": NEW, "kind": "fact", "occurred_at": "2026-06-01"}),
        )
        .unwrap();
    let new = id(&out);
    let similar = out["similar"].as_array().expect("similar").clone();
    assert!(similar.len() <= 5, "{out}");
    // The old fact is named, with its title and start; the unrelated lunch note is not.
    assert_eq!(similar.len(), 1, "{out}");
    assert_eq!(similar[0]["id"], old, "{out}");
    assert_eq!(similar[0]["title"], "Staging database");
    assert!(
        OLD.starts_with(
            similar[0]["snippet"]
                .as_str()
                .unwrap()
                .trim_end_matches('…')
        )
    );
    let score = similar[0]["score"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&score), "{score}");

    // The agent follows the hint: the old fact leaves search.
    c.call("update_memory", json!({"id": new, "supersedes": [old]}))
        .unwrap();
    assert_eq!(
        searched(&mut c, json!({"query": "staging"})),
        vec![new.clone()]
    );
    // Storing the same content again writes nothing and names nothing; a superseded memory
    // is not current, so it is never named.
    let again = c
        .call("store_memory", json!({"content": NEW, "kind": "fact"}))
        .unwrap();
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["similar"], json!([]));
    let third = c
        .call(
            "store_memory",
            json!({"content": "The staging database now runs PostgreSQL 17 on db-staging.",
                   "kind": "fact"}),
        )
        .unwrap();
    let named: Vec<String> = ids(&third["similar"]);
    assert!(named.contains(&new) && !named.contains(&old), "{third}");
}

#[test]
fn without_a_hint_the_newer_of_two_alike_facts_ranks_first() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    // Stored in the other order too, so neither storage order nor rowid decides.
    let new = store(
        &mut c,
        json!({"content": "Deploys now go out on Tuesdays after the change freeze was lifted.",
               "kind": "fact", "occurred_at": "2026-05-01"}),
    );
    let old = store(
        &mut c,
        json!({"content": "Deploys go out on Thursdays.", "kind": "fact",
               "occurred_at": "2026-01-10"}),
    );
    store(
        &mut c,
        json!({"content": "The deploy pipeline runs on GitHub Actions.", "kind": "fact", "source": "docs/ci.md"}),
    );
    for mode in ["hybrid", "semantic"] {
        let hits = ids(&c
            .call(
                "search_memory",
                json!({"query": "which day do deploys go out", "mode": mode}),
            )
            .unwrap()["hits"]);
        let at = |id: &str| hits.iter().position(|h| h == id).unwrap();
        assert!(at(&new) < at(&old), "{mode}: {hits:?}");
    }
    // Conversation turns record what was said, and a later turn does not replace an earlier
    // one: the same pair as conversation turns ranks by relevance alone, as with the rule off.
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let turns = |c: &mut crate::util::StdioClient| {
        let old = store(
            c,
            json!({"content": "Deploys go out on Thursdays.", "kind": "conversation",
                   "occurred_at": "2026-01-10"}),
        );
        let new = store(
            c,
            json!({"content": "Deploys now go out on Tuesdays after the change freeze was lifted.",
                   "kind": "conversation", "occurred_at": "2026-05-01"}),
        );
        let hits = ids(&c
            .call(
                "search_memory",
                json!({"query": "which day do deploys go out", "mode": "semantic"}),
            )
            .unwrap()["hits"]);
        (hits, old, new)
    };
    let (hits, old, new) = turns(&mut c);
    let off = DataDir::new();
    let mut command = off.command(&["stdio"]);
    command
        .env("MEMORYD_RETRIEVAL__NEWER_FIRST_SIMILARITY", "0")
        .stderr(std::process::Stdio::null());
    let mut plain = crate::util::StdioClient::start_command(command);
    plain.wait_for_model();
    let (plain_hits, plain_old, plain_new) = turns(&mut plain);
    let order = |hits: &[String], old: &str, new: &str| {
        hits.iter()
            .map(|h| {
                if h == old {
                    "old"
                } else if h == new {
                    "new"
                } else {
                    "other"
                }
            })
            .collect::<Vec<_>>()
    };
    // With the rule off, the shorter old turn ranks first by meaning alone (so the rule
    // would have moved it), and with it on, it still does.
    let plain_order = order(&plain_hits, &plain_old, &plain_new);
    let at = |o: &[&str], which: &str| o.iter().position(|x| *x == which).unwrap();
    assert!(
        at(&plain_order, "old") < at(&plain_order, "new"),
        "{plain_order:?}"
    );
    assert_eq!(order(&hits, &old, &new), plain_order);
}

#[test]
fn as_of_answers_as_memory_stood_then() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let (old, other, new) = old_and_new(&mut c);
    // Before the change: the old fact, not the new one.
    assert_eq!(
        searched(&mut c, json!({"as_of": "2026-01-15"})),
        vec![old.clone()]
    );
    assert_eq!(
        listed(&mut c, json!({"as_of": "2026-01-15T12:00:00Z"})),
        [other.clone(), old.clone()]
    );
    let bundle = c
        .call(
            "rehydrate_memory",
            json!({"role": "planner", "task": "which database does staging run",
                   "as_of": "2026-01-15"}),
        )
        .unwrap();
    let cited = bundled(&bundle);
    assert!(cited.contains(&old) && !cited.contains(&new), "{bundle:#}");
    // From the moment of the change on, the new one only.
    assert_eq!(
        searched(&mut c, json!({"as_of": "2026-06-01"})),
        vec![new.clone()]
    );
    // Before either happened: nothing.
    assert!(searched(&mut c, json!({"as_of": "2024-01-01"})).is_empty());
    let err = invalid(c.call("search_memory", json!({"query": "x", "as_of": "last week"})));
    assert!(err.contains("'as_of'"), "{err}");
}

#[test]
fn update_keeps_every_version_and_get_memory_shows_them() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let a = store(
        &mut c,
        json!({"content": "v1 text", "title": "first", "tags": ["x"]}),
    );
    let m = c
        .call(
            "update_memory",
            json!({"id": a, "content": "v2 text", "title": "second"}),
        )
        .unwrap();
    assert_eq!(m["version"], 2);
    let m = c
        .call(
            "update_memory",
            json!({"id": a, "tags": ["y"], "kind": "fact"}),
        )
        .unwrap();
    assert_eq!(m["version"], 3);

    let plain = c.call("get_memory", json!({"id": a})).unwrap();
    assert!(plain.get("versions").is_none(), "{plain}");
    let full = c
        .call("get_memory", json!({"id": a, "history": true}))
        .unwrap();
    assert_eq!(full["version"], 3);
    assert_eq!(full["content"], "v2 text");
    let versions = full["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{full:#}");
    assert_eq!(versions[0]["version"], 2, "newest first");
    assert_eq!(versions[0]["content"], "v2 text");
    assert_eq!(versions[0]["tags"], json!(["x"]));
    assert_eq!(versions[1]["version"], 1);
    assert_eq!(versions[1]["content"], "v1 text");
    assert_eq!(versions[1]["title"], "first");
    assert_eq!(versions[1]["changed_at"], full["created_at"]);
    assert_eq!(versions[1]["changed_by"], Value::Null);

    let v1 = c
        .call("get_memory", json!({"id": a, "version": 1}))
        .unwrap();
    assert_eq!(
        (&v1["content"], &v1["title"], &v1["kind"], &v1["version"]),
        (
            &json!("v1 text"),
            &json!("first"),
            &json!("note"),
            &json!(1)
        )
    );
    assert_eq!(v1["id"], json!(a));
    let v3 = c
        .call("get_memory", json!({"id": a, "version": 3}))
        .unwrap();
    assert_eq!(v3["content"], "v2 text");
    let err = invalid(c.call("get_memory", json!({"id": a, "version": 4})));
    assert!(
        err.contains("'version'") && err.contains(&a) && err.contains("no version 4"),
        "{err}"
    );
    // A search finds the current text only.
    let hits = ids(&c
        .call("search_memory", json!({"query": "v1", "mode": "keyword"}))
        .unwrap()["hits"]);
    assert!(hits.is_empty(), "{hits:?}");
}

/// The supersede chain both ways: `history: true` names the memories a memory superseded,
/// and a superseded search hit names its successor.
#[test]
fn the_chain_reads_backwards_in_get_memory_history_and_forwards_in_hits() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let (old, other, new) = old_and_new(&mut c);
    let older = store(
        &mut c,
        json!({"content": "Staging once ran on SQLite.", "occurred_at": "2024-01-01"}),
    );
    c.call("update_memory", json!({"id": new, "supersedes": [older]}))
        .unwrap();
    let newest = store(
        &mut c,
        json!({"content": "Staging runs PostgreSQL 17 now.", "supersedes": [new]}),
    );

    let history = |c: &mut _, id: &str| {
        let got = Mcp::call(c, "get_memory", json!({"id": id, "history": true})).unwrap();
        got["supersedes"].clone()
    };
    assert_eq!(history(&mut c, &new), json!([old, older]), "oldest first");
    assert_eq!(history(&mut c, &newest), json!([new]));
    assert_eq!(history(&mut c, &old), json!([]));
    assert_eq!(history(&mut c, &other), json!([]));
    let back = c
        .call(
            "get_memory",
            json!({"id": new, "history": true, "version": 1}),
        )
        .unwrap();
    assert_eq!(
        back["supersedes"],
        json!([old, older]),
        "today's lifecycle fields"
    );
    let plain = c.call("get_memory", json!({"id": new})).unwrap();
    assert!(plain.get("supersedes").is_none(), "{plain}");
    let listed = c.call("list_memories", json!({})).unwrap();
    assert!(
        listed["memories"][0].get("supersedes").is_none(),
        "{listed}"
    );

    // And forwards from a search hit: a superseded hit says by which memory.
    let found = c
        .call(
            "search_memory",
            json!({"query": "staging", "mode": "keyword", "include_superseded": true}),
        )
        .unwrap();
    let by: Vec<(String, Value)> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                id(h),
                h.get("superseded_by").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    for (hit, want) in [
        (&old, json!(new)),
        (&new, json!(newest)),
        (&newest, Value::Null),
    ] {
        assert!(by.contains(&(hit.clone(), want.clone())), "{hit}: {by:?}");
    }
}

#[test]
fn update_memory_supersedes_too_and_plain_json_says_which_argument() {
    let dir = DataDir::new();
    let server = dir.serve();
    let call = |name: &str, arguments: Value| {
        server.tools_call(&json!({"name": name, "arguments": arguments}).to_string())
    };
    let (_, old) = call("store_memory", json!({"content": OLD}));
    let (_, new) = call("store_memory", json!({"content": NEW}));
    let (old, new) = (id(&old), id(&new));
    let (status, m) = call("update_memory", json!({"id": new, "supersedes": [old]}));
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m["version"], 1,
        "only superseding changes nothing of the memory itself"
    );
    let (_, got) = call("get_memory", json!({"id": old}));
    assert_eq!(got["superseded_by"], json!(new));
    assert_eq!(got["valid_until"], m["occurred_at"]);
    let (_, found) = call(
        "search_memory",
        json!({"query": "database", "mode": "keyword"}),
    );
    assert_eq!(ids(&found["hits"]), vec![new.clone()]);
    // The same call again is no change; naming the memory itself is refused.
    let (status, _) = call("update_memory", json!({"id": new, "supersedes": [old]}));
    assert_eq!(status, 200);
    let (status, err) = call("update_memory", json!({"id": new, "supersedes": [new]}));
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["argument"], "supersedes");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("memory '{new}' cannot supersede itself")),
        "{err}"
    );
}

#[test]
fn bad_supersedes_name_the_argument_and_the_id_and_write_nothing() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let old = store(&mut c, json!({"content": OLD}));
    let elsewhere = store(&mut c, json!({"content": "far away", "namespace": "other"}));
    let new = store(&mut c, json!({"content": NEW, "supersedes": [old]}));
    let before = listed(&mut c, json!({"include_superseded": true}));
    let old_before = c.call("get_memory", json!({"id": old})).unwrap();
    let new_before = c.call("get_memory", json!({"id": new})).unwrap();

    let cases: Vec<(Value, String)> = vec![
        (
            json!({"content": "fresh 1", "supersedes": ["no-such-id"]}),
            "no memory 'no-such-id' in namespace 'default'".into(),
        ),
        (
            json!({"content": "fresh 2", "supersedes": [elsewhere]}),
            format!("memory '{elsewhere}' is not in this namespace ('default')"),
        ),
        (
            json!({"content": "fresh 3", "supersedes": [old]}),
            format!("memory '{old}' is already superseded by '{new}'"),
        ),
        (
            // One good id and one bad: nothing of either is written.
            json!({"content": "fresh 4", "supersedes": [new, "ghost"]}),
            "no memory 'ghost'".into(),
        ),
        (
            json!({"content": "fresh 5", "supersedes": ["has space"]}),
            "'has space' is not a memory id".into(),
        ),
    ];
    for (args, expected) in cases {
        let err = invalid(c.call("store_memory", args.clone()));
        assert!(
            err.starts_with("invalid argument 'supersedes'") && err.contains(&expected),
            "{args}: {err}"
        );
    }
    // update_memory: itself, and a cycle (the old memory would supersede its successor).
    let err = invalid(c.call("update_memory", json!({"id": new, "supersedes": [new]})));
    assert!(
        err.contains(&format!("memory '{new}' cannot supersede itself")),
        "{err}"
    );
    let err = invalid(c.call(
        "update_memory",
        json!({"id": old, "content": "edited", "supersedes": [new]}),
    ));
    assert!(
        err.contains(&format!("memory '{new}' already supersedes '{old}'"))
            && err.contains("cycle"),
        "{err}"
    );
    // Storing content already held by the memory named (deduplicated to it) is superseding
    // itself.
    let err = invalid(c.call("store_memory", json!({"content": NEW, "supersedes": [new]})));
    assert!(err.contains("cannot supersede itself"), "{err}");

    // Nothing was written: no new memory, and both targets exactly as they were (the refused
    // update left the old memory's content and version alone too).
    assert_eq!(listed(&mut c, json!({"include_superseded": true})), before);
    assert_eq!(
        c.call("get_memory", json!({"id": old})).unwrap(),
        old_before
    );
    assert_eq!(
        c.call("get_memory", json!({"id": new})).unwrap(),
        new_before
    );
    let other = c
        .call("get_memory", json!({"id": elsewhere, "namespace": "other"}))
        .unwrap();
    assert_eq!(other["superseded_by"], Value::Null);
}

#[test]
fn a_supersede_through_one_process_is_seen_at_once_by_another() {
    let dir = DataDir::new();
    let mut a = dir.stdio();
    let old = store(&mut a, json!({"content": OLD}));
    // The other process's indexes load now, with the old memory current.
    assert_eq!(searched(&mut a, json!({})), vec![old.clone()]);
    let mut b = dir.stdio();
    assert_eq!(searched(&mut b, json!({})), vec![old.clone()]);
    let out = dir.run(&["--json", "store", NEW, "--supersedes", &old], "");
    let new = id(&out.json());
    // The very next call of each process sees it, from its in-memory index.
    assert_eq!(searched(&mut a, json!({})), vec![new.clone()]);
    assert_eq!(searched(&mut b, json!({})), vec![new.clone()]);
    assert_eq!(listed(&mut b, json!({})), vec![new.clone()]);
    // And the CLI reads history and the old state.
    let got = dir.run(&["--json", "get", &old], "").json();
    assert_eq!(got["superseded_by"], json!(new));
    let listed_cli = dir
        .run(&["--json", "list", "--include-superseded"], "")
        .json();
    assert_eq!(ids(&listed_cli["memories"]), [new.clone(), old.clone()]);
    let as_of = dir
        .run(
            &[
                "--json",
                "search",
                "--mode",
                "keyword",
                "--as-of",
                "2000-01-01",
                "database",
            ],
            "",
        )
        .json();
    assert!(ids(&as_of["hits"]).is_empty(), "{as_of}");
}

#[test]
fn metrics_count_superseded_memories() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut c = server.session();
    old_and_new(&mut c);
    let (_, metrics) = server.get_json("/metrics");
    assert_eq!(metrics["memories"]["superseded"], 1, "{metrics:#}");
    assert_eq!(metrics["memories"]["total"], 3);
    let (_, _, text) = server.get("/metrics?format=prometheus", None);
    assert!(text.contains("memoryd_memories_superseded 1"), "{text}");
}

/// An export carries versions, the supersede chain and expiry: SQLite → PostgreSQL → SQLite
/// gives the same export back (on the SQLite run, SQLite → SQLite → SQLite), and each copy
/// reads the same through the tools.
#[test]
fn export_and_import_carry_versions_and_lifecycle_across_engines() {
    let a = DataDir::sqlite();
    let mut c = a.stdio();
    let (old, other, new) = old_and_new(&mut c);
    c.call(
        "update_memory",
        json!({"id": new, "title": "Staging database"}),
    )
    .unwrap();
    // A chain of three: NEWER supersedes NEW, which superseded OLD; NEWER expires in 30 days
    // (to the millisecond) and OTHER at a set time.
    let newer = store(
        &mut c,
        json!({"content": "The staging database moved to db-staging-2.", "kind": "fact",
               "occurred_at": "2026-09-01", "supersedes": [new], "ttl": "30d"}),
    );
    c.call(
        "update_memory",
        json!({"id": other, "expires_at": "2999-01-01T12:00:00Z"}),
    )
    .unwrap();
    // What the tools show of each memory, to compare with each copy's.
    let shown = |c: &mut dyn Mcp| -> Vec<Value> {
        [&old, &other, &new, &newer]
            .iter()
            .map(|id| {
                c.call("get_memory", json!({"id": id, "history": true}))
                    .unwrap()
            })
            .collect()
    };
    let before = shown(&mut c);
    assert_eq!(before[2]["superseded_by"], json!(newer));
    assert_eq!(before[2]["supersedes"], json!([old]));
    assert_eq!(before[2]["versions"].as_array().unwrap().len(), 1);
    assert_eq!(before[3]["supersedes"], json!([new]));
    assert!(before[3]["expires_at"].is_string(), "{}", before[3]);
    assert_eq!(before[1]["expires_at"], "2999-01-01T12:00:00.000Z");
    drop(c);
    let original = a.run(&["export"], "").ok();
    assert!(original.contains("\"versions\":["), "{original}");
    assert_eq!(
        original.matches("\"expires_at\":\"").count(),
        2,
        "{original}"
    );

    let middle = DataDir::new();
    middle.run(&["--offline", "import", "-"], &original).ok();
    assert_eq!(middle.run(&["export"], "").ok(), original);
    let mut m = middle.stdio();
    assert_eq!(shown(&mut m), before);
    assert_eq!(
        searched(&mut m, json!({})),
        vec![newer.clone()],
        "one current memory of the chain"
    );
    assert_eq!(
        searched(&mut m, json!({"as_of": "2026-07-01"})),
        vec![new.clone()]
    );
    let got = m
        .call("get_memory", json!({"id": new, "version": 1}))
        .unwrap();
    assert_eq!(got["title"], Value::Null);
    drop(m);

    let back = DataDir::sqlite();
    let carried = middle.run(&["export"], "").ok();
    back.run(&["--offline", "import", "-"], &carried).ok();
    assert_eq!(back.run(&["export"], "").ok(), original);
    let mut b = back.stdio();
    assert_eq!(shown(&mut b), before);
    drop(b);

    // An export of an older memoryd (no lifecycle fields) still imports, as version 1.
    let line = json!({"id": "legacy-1", "content": "from an older export"}).to_string();
    let legacy = DataDir::new();
    legacy.run(&["--offline", "import", "-"], &line).ok();
    let got = legacy.run(&["--json", "get", "legacy-1"], "").json();
    assert_eq!(
        (&got["version"], &got["superseded_by"]),
        (&json!(1), &Value::Null)
    );
    // A version numbered at or above the memory's own is refused, naming the field.
    let bad = json!({"content": "x", "version": 2,
                     "versions": [{"version": 2, "content": "y", "title": null, "tags": [],
                       "changed_at": "2026-01-01T00:00:00Z", "changed_by": null,
                       "kind": "note", "source": null, "anchor": null, "context": null,
                       "roles": [], "priority": 0, "occurred_at": "2026-01-01T00:00:00Z",
                       "metadata": {}}]})
    .to_string();
    let out = legacy.run(&["--offline", "import", "-"], &bad);
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert!(out.stderr().contains("'versions'"), "{}", out.describe());
}

/// A database made before versions existed opens, migrated: its memories are version 1,
/// current, and can be superseded and updated.
#[test]
fn a_database_from_before_versions_is_migrated_on_open() {
    let dir = DataDir::new();
    let out = dir.run(&["--offline", "--json", "store", OLD], "").json();
    let old = id(&out);
    // Take the schema back to what the previous release left (SQLite re-reads the triggers,
    // which name sqlite-vec's vec0 tables, when a column goes: load it as memoryd does).
    register_sqlite_vec();
    match backend() {
        Backend::Sqlite => dir.execute_sql(
            "DROP TRIGGER memories_generation_insert; DROP TRIGGER memories_generation_update; \
             DROP TRIGGER memories_generation_delete; DROP TABLE namespace_generations; \
             CREATE TABLE store_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL); \
             INSERT INTO store_generation VALUES (1, 3); \
             CREATE TRIGGER memories_generation_insert AFTER INSERT ON memories BEGIN \
             UPDATE store_generation SET value = value + 1 WHERE id = 1; END; \
             CREATE TRIGGER memories_generation_update AFTER UPDATE ON memories BEGIN \
             UPDATE store_generation SET value = value + 1 WHERE id = 1; END; \
             CREATE TRIGGER memories_generation_delete AFTER DELETE ON memories BEGIN \
             UPDATE store_generation SET value = value + 1 WHERE id = 1; END; \
             DROP TABLE api_keys; ALTER TABLE memories DROP COLUMN created_by; \
             ALTER TABLE memories DROP COLUMN updated_by; \
             DROP TRIGGER memories_expiry_log; DROP INDEX memories_expiry; \
             DROP INDEX IF EXISTS memories_namespace_expiry; \
             ALTER TABLE memories DROP COLUMN expires_at; \
             DROP TRIGGER memories_supersede_log; DROP TRIGGER memories_versions_delete; \
             DROP TABLE memory_versions; DROP INDEX memories_superseded; \
             ALTER TABLE memories DROP COLUMN version; \
             ALTER TABLE memories DROP COLUMN superseded_by; \
             ALTER TABLE memories DROP COLUMN valid_until; PRAGMA user_version = 7;",
        ),
        Backend::Postgres => dir.execute_sql(
            "DROP TRIGGER memories_generation_insert ON memories; \
             DROP TRIGGER memories_generation_update ON memories; \
             DROP TRIGGER memories_generation_delete ON memories; \
             DROP FUNCTION memoryd_bump_namespaces(); DROP TABLE namespace_generations; \
             DROP TABLE text_changes; ALTER TABLE text_log ALTER COLUMN memory_rowid SET NOT NULL; \
             CREATE TABLE store_generation (id integer PRIMARY KEY CHECK (id = 1), value bigint NOT NULL); \
             INSERT INTO store_generation VALUES (1, 3); \
             CREATE FUNCTION memoryd_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; RETURN NULL; END $$; \
             CREATE TRIGGER memories_generation AFTER INSERT OR UPDATE OR DELETE ON memories \
             FOR EACH ROW EXECUTE FUNCTION memoryd_bump_generation(); \
             DROP TABLE api_keys; DROP TABLE memory_versions; DROP INDEX memories_superseded; \
             DROP INDEX memories_expiry; ALTER TABLE memories DROP COLUMN expires_at, \
             DROP COLUMN version, DROP COLUMN superseded_by, \
             DROP COLUMN valid_until, DROP COLUMN created_by, DROP COLUMN updated_by; \
             DELETE FROM refinery_schema_history WHERE version > 3;",
        ),
    }
    let doctor = dir.run(&["--offline", "doctor"], "");
    let latest = match backend() {
        Backend::Sqlite => 12,
        Backend::Postgres => 8,
    };
    assert!(
        doctor
            .stdout()
            .contains(&format!("opens (schema version {latest})")),
        "{}",
        doctor.describe()
    );
    let got = dir.run(&["--offline", "--json", "get", &old], "").json();
    assert_eq!(
        (&got["version"], &got["superseded_by"]),
        (&json!(1), &Value::Null)
    );
    let new = id(&dir
        .run(
            &["--offline", "--json", "store", NEW, "--supersedes", &old],
            "",
        )
        .json());
    let found = dir
        .run(
            &[
                "--offline",
                "--json",
                "search",
                "--mode",
                "keyword",
                "database",
            ],
            "",
        )
        .json();
    assert_eq!(ids(&found["hits"]), [new]);
    // The count the migration took, kept since by the triggers: the old memory and the new.
    assert_eq!(
        dir.query_sql("SELECT namespace, memories FROM namespace_generations"),
        "default|2"
    );
    dir.run(&["--offline", "update", &old, "--title", "Old"], "")
        .ok();
    let got = dir
        .run(&["--offline", "--json", "get", &old, "--history"], "")
        .json();
    assert_eq!(got["version"], 2);
    assert_eq!(got["versions"][0]["content"], OLD);
}

/// Makes sqlite-vec's `vec0` available to the connections this test process opens.
fn register_sqlite_vec() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_vec_init has the signature SQLite expects of an extension entry
        // point; sqlite-vec documents registering it this way (as src/store/sqlite does).
        unsafe {
            type Init = unsafe extern "C" fn(
                *mut rusqlite::ffi::sqlite3,
                *mut *mut std::os::raw::c_char,
                *const rusqlite::ffi::sqlite3_api_routines,
            ) -> std::os::raw::c_int;
            let init: Init = std::mem::transmute(sqlite_vec::sqlite3_vec_init as *const ());
            rusqlite::ffi::sqlite3_auto_extension(Some(init));
        }
    });
}
