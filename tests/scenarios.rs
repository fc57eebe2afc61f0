//! Scenarios that must behave the same on every transport; `stdio.rs` and `http.rs` run each
//! one over their own client.

use serde_json::{Value, json};

use crate::util::Mcp;

/// MCP's code for bad arguments.
pub const INVALID_PARAMS: i64 = -32602;
/// MCP's code for a resource (here: a memory id) that does not exist.
pub const NOT_FOUND: i64 = -32002;

/// `tools/list` has the seven tools, each with an object input schema and annotations.
pub fn lists_seven_tools(c: &mut impl Mcp) {
    let tools = c.request("tools/list", json!({})).unwrap()["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "delete_memory",
            "get_memory",
            "list_memories",
            "rehydrate_memory",
            "search_memory",
            "store_memory",
            "update_memory"
        ]
    );
    for tool in tools.as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(tool["description"].as_str().unwrap().len() > 20, "{tool}");
        assert!(tool["annotations"]["readOnlyHint"].is_boolean(), "{tool}");
    }
    let store = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "store_memory")
        .unwrap();
    assert_eq!(store["inputSchema"]["required"], json!(["content"]));
    assert_eq!(store["outputSchema"]["type"], "object");
    let delete = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "delete_memory")
        .unwrap();
    assert_eq!(delete["annotations"]["destructiveHint"], true);
}

/// Ids of a search result's hits, best first.
pub fn hit_ids(search: &Value) -> Vec<String> {
    search["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// store → search finds it → get → update → search sees the change → delete → get not found.
pub fn memory_lifecycle(c: &mut impl Mcp) {
    let stored = c
        .call(
            "store_memory",
            json!({
                "content": "The release train leaves every second Tuesday; freeze the branch on Monday.",
                "title": "Release cadence",
                "kind": "decision",
                "tags": ["process", "release"],
                "source": "docs/process.md",
                "anchor": "release-cadence",
                "roles": ["planner"],
                "priority": 5,
                "occurred_at": "2026-10-01",
                "metadata": {"owner": "ops"}
            }),
        )
        .unwrap();
    assert_eq!(stored["deduplicated"], false);
    let id = stored["id"].as_str().unwrap().to_string();
    c.call(
        "store_memory",
        json!({"content": "Unrelated: the office plants need water on Fridays."}),
    )
    .unwrap();

    let found = c
        .call(
            "search_memory",
            json!({"query": "when does the release train leave?"}),
        )
        .unwrap();
    assert_eq!(hit_ids(&found)[0], id, "{found}");
    let hit = &found["hits"][0];
    assert_eq!(hit["title"], "Release cadence");
    assert_eq!(hit["source"], "docs/process.md");
    assert!(
        hit["snippet"].as_str().unwrap().contains("release train"),
        "{hit}"
    );
    assert!(hit["score"].as_f64().unwrap() > 0.0);

    let got = c.call("get_memory", json!({"id": id})).unwrap();
    assert_eq!(got["kind"], "decision");
    assert_eq!(got["tags"], json!(["process", "release"]));
    assert_eq!(got["roles"], json!(["planner"]));
    assert_eq!(got["priority"], 5);
    assert_eq!(got["occurred_at"], "2026-10-01T00:00:00.000Z");
    assert_eq!(got["metadata"], json!({"owner": "ops"}));
    assert_eq!(got["namespace"], "default");
    assert_eq!(got["content_hash"].as_str().unwrap().len(), 64);

    let updated = c
        .call(
            "update_memory",
            json!({"id": id, "content": "The release train leaves every Thursday now.", "tags": ["release"]}),
        )
        .unwrap();
    assert_eq!(
        updated["content"],
        "The release train leaves every Thursday now."
    );
    assert_eq!(updated["tags"], json!(["release"]));
    assert_eq!(
        updated["title"], "Release cadence",
        "fields not given stay as they were"
    );
    // Keyword mode: these check the words indexed. In hybrid mode the answer depends on
    // whether the model finished loading by now (the unrelated memory about Fridays is a
    // semantic neighbour of "thursday"), which made this test flaky on PostgreSQL once the
    // model loaded faster (issue 16).
    let thursday = c
        .call(
            "search_memory",
            json!({"query": "thursday", "mode": "keyword"}),
        )
        .unwrap();
    assert_eq!(hit_ids(&thursday), vec![id.clone()]);
    let tuesday = c
        .call(
            "search_memory",
            json!({"query": "tuesday freeze", "mode": "keyword"}),
        )
        .unwrap();
    assert!(
        hit_ids(&tuesday).is_empty(),
        "the old text is no longer indexed: {tuesday}"
    );

    let deleted = c.call("delete_memory", json!({"id": id})).unwrap();
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let again = c.call("delete_memory", json!({"id": id})).unwrap();
    assert_eq!(again["deleted"], false);
    let err = c.call("get_memory", json!({"id": id})).unwrap_err();
    assert_eq!(err.code, NOT_FOUND);
    assert_eq!(
        err.message,
        format!("memory '{id}' not found in namespace 'default'")
    );
    let err = c
        .call("update_memory", json!({"id": id, "title": "x"}))
        .unwrap_err();
    assert_eq!(err.code, NOT_FOUND);
}

/// The same content twice in one namespace is one memory; another namespace does not see it.
pub fn dedupe_and_namespaces(c: &mut impl Mcp) {
    let content =
        json!({"content": "Use rustls, never OpenSSL, for outbound TLS.", "namespace": "proj-a"});
    let first = c.call("store_memory", content.clone()).unwrap();
    let second = c.call("store_memory", content).unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["deduplicated"], false);
    assert_eq!(second["deduplicated"], true);

    let in_b = c
        .call(
            "search_memory",
            json!({"query": "rustls", "namespace": "proj-b"}),
        )
        .unwrap();
    assert!(hit_ids(&in_b).is_empty());
    let err = c
        .call(
            "get_memory",
            json!({"id": first["id"], "namespace": "proj-b"}),
        )
        .unwrap_err();
    assert_eq!(err.code, NOT_FOUND);
    let in_default = c.call("list_memories", json!({})).unwrap();
    assert_eq!(in_default["memories"], json!([]));
    let in_a = c
        .call("list_memories", json!({"namespace": "proj-a"}))
        .unwrap();
    assert_eq!(in_a["memories"].as_array().unwrap().len(), 1);

    // The same content in another namespace is a memory of its own.
    let other = c
        .call("store_memory", json!({"content": "Use rustls, never OpenSSL, for outbound TLS.", "namespace": "proj-b"}))
        .unwrap();
    assert_ne!(other["id"], first["id"]);
    assert_eq!(other["deduplicated"], false);
}

/// Bad arguments get invalid-params errors that name them; nothing is written; the server
/// keeps serving.
pub fn invalid_arguments(c: &mut impl Mcp) {
    let cases = [
        (
            "store_memory",
            json!({}),
            "content",
            "invalid argument 'content': is required",
        ),
        (
            "store_memory",
            json!({"content": "   "}),
            "content",
            "must not be empty",
        ),
        (
            "store_memory",
            json!({"content": "x", "tags": "a"}),
            "tags",
            "invalid type",
        ),
        (
            "store_memory",
            json!({"content": "x", "occurred_at": "last week"}),
            "occurred_at",
            "is not a date",
        ),
        (
            "store_memory",
            json!({"content": "x", "roles": ["Planner!"]}),
            "roles",
            "is not a valid role",
        ),
        (
            "store_memory",
            json!({"content": "x", "namespace": "a b"}),
            "namespace",
            "not a valid namespace",
        ),
        (
            "store_memory",
            json!({"content": "x", "colour": "red"}),
            "colour",
            "is not an argument of this tool",
        ),
        (
            "search_memory",
            json!({"query": "x", "limit": -1}),
            "limit",
            "must be an integer from 1 to 100, got -1",
        ),
        (
            "search_memory",
            json!({"query": "x", "limit": 101}),
            "limit",
            "from 1 to 100, got 101",
        ),
        (
            "search_memory",
            json!({"query": "x", "mode": "fuzzy"}),
            "mode",
            "unknown variant `fuzzy`",
        ),
        (
            "search_memory",
            json!({"query": "x", "since": "2026-02-01", "until": "2026-01-01"}),
            "since",
            "is after until",
        ),
        (
            "get_memory",
            json!({"id": 5}),
            "id",
            "invalid type: integer `5`, expected a string",
        ),
        (
            "update_memory",
            json!({"id": "abc"}),
            "id",
            "nothing to update",
        ),
        (
            "list_memories",
            json!({"cursor": "garbage"}),
            "cursor",
            "is not a cursor this server issued",
        ),
        (
            "list_memories",
            json!({"limit": 0}),
            "limit",
            "from 1 to 200, got 0",
        ),
    ];
    for (tool, args, argument, needle) in cases {
        let err = c.call(tool, args.clone()).unwrap_err();
        assert_eq!(err.code, INVALID_PARAMS, "{tool} {args}: {err:?}");
        assert_eq!(err.data["argument"], argument, "{tool} {args}: {err:?}");
        assert!(
            err.message.contains(needle),
            "{tool} {args}: {:?} lacks {needle:?}",
            err.message
        );
    }

    let huge = "x".repeat(64 * 1024 + 1);
    let err = c
        .call("store_memory", json!({"content": huge}))
        .unwrap_err();
    assert_eq!(err.code, INVALID_PARAMS);
    assert_eq!(
        err.message,
        "invalid argument 'content': is 65537 bytes; the limit is 65536 bytes\nsplit it into smaller memories"
    );

    let err = c.call("forget_everything", json!({})).unwrap_err();
    assert_eq!(err.code, INVALID_PARAMS);
    assert!(
        err.message
            .starts_with("unknown tool 'forget_everything'\nthe tools are: delete_memory, "),
        "{err:?}"
    );

    // Nothing above was written, and the server still answers.
    let all = c.call("list_memories", json!({})).unwrap();
    assert_eq!(all["memories"], json!([]), "a failed call wrote something");
    let ok = c
        .call("store_memory", json!({"content": "still serving"}))
        .unwrap();
    assert_eq!(ok["deduplicated"], false);
}

/// `list_memories` pages with a cursor until the end, newest first, and filters by role.
pub fn list_pages(c: &mut impl Mcp) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let roles = if i % 3 == 0 {
            json!(["implementer"])
        } else {
            json!([])
        };
        let out = c
            .call(
                "store_memory",
                json!({"content": format!("memo {i}"), "roles": roles}),
            )
            .unwrap();
        ids.push(out["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({"limit": 3});
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        let page = c.call("list_memories", args).unwrap();
        seen.extend(
            page["memories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        cursor = page.get("next_cursor").cloned().unwrap_or(Value::Null);
        if cursor.is_null() {
            break;
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let pinned = c
        .call("list_memories", json!({"role": "implementer"}))
        .unwrap();
    assert_eq!(pinned["memories"].as_array().unwrap().len(), 3);
}
