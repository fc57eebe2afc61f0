//! The MCP surface beyond tools: memories as resources, subscriptions, prompts, completions
//! and logging, and what real MCP clients (the official conformance suite and the MCP
//! Inspector CLI) make of the whole server.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{DataDir, Mcp, StdioClient, mcp_clients};

/// How long a change by another process may take to reach a subscriber (the server polls
/// every 250 ms).
const NOTICE: Duration = Duration::from_secs(10);

fn store(client: &mut impl Mcp, arguments: Value) -> String {
    client.call("store_memory", arguments).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn uri(id: &str) -> String {
    format!("memory://default/{id}")
}

#[test]
fn a_memory_reads_by_uri_with_its_fields_in_meta() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let id = store(
        &mut client,
        json!({"content": "We deploy on Fridays only with a rollback plan.", "title": "Deploy rule",
               "kind": "decision", "tags": ["ops", "release"]}),
    );
    let read = client
        .request("resources/read", json!({"uri": uri(&id)}))
        .unwrap();
    let contents = &read["contents"][0];
    assert_eq!(contents["uri"], uri(&id));
    assert_eq!(contents["mimeType"], "text/markdown");
    assert_eq!(
        contents["text"],
        "We deploy on Fridays only with a rollback plan."
    );
    let fields = &contents["_meta"]["memoryd/memory"];
    assert_eq!(fields["title"], "Deploy rule");
    assert_eq!(fields["kind"], "decision");
    assert_eq!(fields["tags"], json!(["ops", "release"]));
    assert!(
        fields.get("content").is_none(),
        "content is the text, not meta"
    );

    // An unknown memory is the spec's resource-not-found error, naming the URI.
    let missing = "memory://default/0000-nope";
    let err = client
        .request("resources/read", json!({"uri": missing}))
        .unwrap_err();
    assert_eq!(err.code, -32002, "{err:?}");
    assert_eq!(err.data["uri"], missing);
    assert!(err.message.contains("'0000-nope' not found"), "{err:?}");
    // A URI that is not ours says what shape it should have.
    let err = client
        .request("resources/read", json!({"uri": "file:///etc/passwd"}))
        .unwrap_err();
    assert_eq!(err.code, -32602, "{err:?}");
    assert!(err.message.contains("memory://{namespace}/{id}"), "{err:?}");

    // The list holds the memory; another namespace is asked for through _meta.
    let other = store(
        &mut client,
        json!({"content": "Project B uses Postgres.", "namespace": "team/b"}),
    );
    let listed = client.request("resources/list", json!({})).unwrap();
    let uris: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, [uri(&id)]);
    assert_eq!(listed["resources"][0]["title"], "Deploy rule");
    let listed = client
        .request(
            "resources/list",
            json!({"_meta": {"memoryd/namespace": "team/b"}}),
        )
        .unwrap();
    let b_uri = format!("memory://team%2Fb/{other}");
    assert_eq!(listed["resources"][0]["uri"], b_uri);
    let read = client
        .request("resources/read", json!({"uri": b_uri}))
        .unwrap();
    assert_eq!(read["contents"][0]["text"], "Project B uses Postgres.");

    let templates = client
        .request("resources/templates/list", json!({}))
        .unwrap();
    let templates: Vec<&str> = templates["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        [
            "memory://{namespace}/{id}",
            "memory://{namespace}/pins/{role}"
        ]
    );
}

#[test]
fn resources_list_pages_newest_first() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let ids: Vec<String> = (0..55)
        .map(|i| {
            store(
                &mut client,
                json!({"content": format!("memory number {i}")}),
            )
        })
        .collect();
    let first = client.request("resources/list", json!({})).unwrap();
    assert_eq!(first["resources"].as_array().unwrap().len(), 50);
    assert_eq!(first["resources"][0]["uri"], uri(&ids[54]));
    let cursor = first["nextCursor"].as_str().expect("a next page");
    let second = client
        .request("resources/list", json!({"cursor": cursor}))
        .unwrap();
    let rest: Vec<&str> = second["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    let want: Vec<String> = ids[..5].iter().rev().map(|id| uri(id)).collect();
    assert_eq!(rest, want);
    assert!(second.get("nextCursor").is_none(), "{second}");
}

#[test]
fn a_subscriber_hears_when_another_process_changes_or_deletes_its_memory() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let id = store(
        &mut client,
        json!({"content": "The cache holds 512 entries."}),
    );
    let quiet = store(&mut client, json!({"content": "Unrelated note."}));
    client
        .request("resources/subscribe", json!({"uri": uri(&id)}))
        .unwrap();
    // Listing asks to hear of changes to the list.
    client.request("resources/list", json!({})).unwrap();

    // Another process (the CLI) edits the memory.
    dir.run(&["update", &id, "--title", "Cache size"], "").ok();
    let updated = client.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&id)
    });
    assert!(
        updated.is_some(),
        "no update notice: {:?}",
        client.notifications
    );

    // Another process adds a memory: the list changed.
    dir.run(&["store", "A new memory from the CLI."], "").ok();
    let changed = client.notification("notifications/resources/list_changed", NOTICE, |_| true);
    assert!(
        changed.is_some(),
        "no list_changed: {:?}",
        client.notifications
    );

    // An unsubscribed memory is not reported; a deleted subscribed one is.
    client
        .request("resources/subscribe", json!({"uri": uri(&quiet)}))
        .unwrap();
    client
        .request("resources/unsubscribe", json!({"uri": uri(&quiet)}))
        .unwrap();
    dir.run(&["update", &quiet, "--title", "Still quiet"], "")
        .ok();
    dir.run(&["delete", &id], "").ok();
    let deleted = client.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&id)
    });
    assert!(
        deleted.is_some(),
        "no notice of the delete: {:?}",
        client.notifications
    );
    let stray = client.notification(
        "notifications/resources/updated",
        Duration::from_secs(1),
        |n| n["params"]["uri"] == uri(&quiet),
    );
    assert!(stray.is_none(), "unsubscribed memory reported: {stray:?}");

    // Subscribing to something that does not exist is refused.
    let err = client
        .request("resources/subscribe", json!({"uri": uri("nope")}))
        .unwrap_err();
    assert_eq!(err.code, -32002, "{err:?}");
}

/// The URIs a `resources/list` answer names (first page).
fn listed_uris(client: &mut impl Mcp) -> Vec<String> {
    let listed = client.request("resources/list", json!({})).unwrap();
    listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .collect()
}

/// Takes every notification that arrives within `quiet`, so that a later wait hears only
/// what comes after.
fn drain(client: &mut StdioClient, quiet: Duration) {
    client.notification("none", quiet, |_| false);
    client.notifications.clear();
}

/// Issue #24: "Subscribers hear about supersede." Another process supersedes a followed
/// memory, by storing its successor and by `update_memory` of a memory already there (which
/// changes neither the number of stored memories nor the newest one, only which are current).
#[test]
fn a_subscriber_hears_when_another_process_supersedes_its_memory() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let a = store(
        &mut client,
        json!({"content": "The build runs on Jenkins."}),
    );
    let a2 = store(
        &mut client,
        json!({"content": "Releases are cut on Tuesdays."}),
    );
    let c = store(
        &mut client,
        json!({"content": "Releases are cut on Thursdays."}),
    );
    for id in [&a, &a2] {
        client
            .request("resources/subscribe", json!({"uri": uri(id)}))
            .unwrap();
    }
    // Listing asks to hear of changes to the list.
    assert_eq!(listed_uris(&mut client), [uri(&c), uri(&a2), uri(&a)]);

    // Another process (the CLI) stores B superseding A.
    let out = dir.run(
        &[
            "--json",
            "store",
            "The build runs on GitHub Actions.",
            "--supersedes",
            &a,
        ],
        "",
    );
    let b = out.json()["id"].as_str().unwrap().to_string();
    let updated = client.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&a)
    });
    assert!(
        updated.is_some(),
        "no update notice: {:?}",
        client.notifications
    );
    let changed = client.notification("notifications/resources/list_changed", NOTICE, |_| true);
    assert!(
        changed.is_some(),
        "no list_changed: {:?}",
        client.notifications
    );
    assert_eq!(listed_uris(&mut client), [uri(&b), uri(&c), uri(&a2)]);
    let read = client
        .request("resources/read", json!({"uri": uri(&a)}))
        .unwrap();
    let fields = &read["contents"][0]["_meta"]["memoryd/memory"];
    assert_eq!(fields["superseded_by"], json!(b), "{read}");
    assert!(fields["valid_until"].is_string(), "{read}");
    assert_eq!(read["contents"][0]["text"], "The build runs on Jenkins.");

    // Another process updates C (already stored, and not the newest) to supersede A2.
    drain(&mut client, Duration::from_secs(1));
    dir.run(&["update", &c, "--supersedes", &a2], "").ok();
    let updated = client.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&a2)
    });
    assert!(
        updated.is_some(),
        "no update notice: {:?}",
        client.notifications
    );
    let changed = client.notification("notifications/resources/list_changed", NOTICE, |_| true);
    assert!(
        changed.is_some(),
        "no list_changed when an update superseded a listed memory: {:?}",
        client.notifications
    );
    assert_eq!(listed_uris(&mut client), [uri(&b), uri(&c)]);
    let read = client
        .request("resources/read", json!({"uri": uri(&a2)}))
        .unwrap();
    assert_eq!(
        read["contents"][0]["_meta"]["memoryd/memory"]["superseded_by"],
        json!(c),
        "{read}"
    );
}

/// Issue #24: "Subscribers hear about expiry." The sweep of `memoryd serve` notices the
/// expiry; a `memoryd stdio` forwarding to it carries the notices to its client.
#[test]
fn a_subscriber_hears_when_its_memory_expires() {
    let dir = DataDir::new();
    let _server = dir.serve();
    let mut shim = StdioClient::start_command({
        let mut command = dir.command(&["stdio"]);
        command.stderr(std::process::Stdio::null());
        command
    });
    let kept = store(
        &mut shim,
        json!({"content": "The wiki lives on docs.internal."}),
    );
    let stored = shim
        .call(
            "store_memory",
            json!({"content": "The on-call phone is with Dana this week.", "ttl": "2s"}),
        )
        .unwrap();
    let e = stored["id"].as_str().unwrap().to_string();
    shim.request("resources/subscribe", json!({"uri": uri(&e)}))
        .unwrap();
    assert_eq!(listed_uris(&mut shim), [uri(&e), uri(&kept)]);
    let updated = shim.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&e)
    });
    assert!(
        updated.is_some(),
        "no notice of the expiry: {:?}",
        shim.notifications
    );
    // Not before it expired.
    let expires_at = shim
        .call("get_memory", json!({"id": e, "include_expired": true}))
        .unwrap()["expires_at"]
        .as_str()
        .unwrap()
        .to_string();
    let expires_at = chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap();
    assert!(
        chrono::Utc::now() >= expires_at,
        "heard before {expires_at}"
    );
    let changed = shim.notification("notifications/resources/list_changed", NOTICE, |_| true);
    assert!(
        changed.is_some(),
        "no list_changed: {:?}",
        shim.notifications
    );
    assert_eq!(listed_uris(&mut shim), [uri(&kept)]);
    let err = shim
        .request("resources/read", json!({"uri": uri(&e)}))
        .unwrap_err();
    assert_eq!(err.code, -32002, "{err:?}");
}

#[test]
fn the_rehydrate_prompt_hands_the_role_its_pin() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let pin = store(
        &mut client,
        json!({"content": "Plans are numbered steps, each with a test.", "title": "Plan format",
               "roles": ["planner"], "priority": 5}),
    );
    store(
        &mut client,
        json!({"content": "The release branch is cut every second Tuesday."}),
    );
    let prompts = client.request("prompts/list", json!({})).unwrap();
    let names: Vec<&str> = prompts["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rehydrate", "recall", "remember"]);

    let got = client
        .request(
            "prompts/get",
            json!({"name": "rehydrate", "arguments": {"role": "planner", "task": "plan the next release"}}),
        )
        .unwrap();
    let message = &got["messages"][0];
    assert_eq!(message["role"], "user");
    let text = message["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("Plans are numbered steps, each with a test."),
        "{text}"
    );
    assert!(text.contains("plan the next release"), "{text}");

    // recall embeds whole memories as resources.
    let got = client
        .request(
            "prompts/get",
            json!({"name": "recall", "arguments": {"query": "release branch Tuesday", "limit": "2"}}),
        )
        .unwrap();
    let resource = &got["messages"][1]["content"];
    assert_eq!(resource["type"], "resource", "{got}");
    assert_eq!(
        resource["resource"]["text"],
        "The release branch is cut every second Tuesday."
    );
    assert!(
        resource["resource"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("memory://default/")
    );
    let got = client
        .request("prompts/get", json!({"name": "remember", "arguments": {}}))
        .unwrap();
    assert!(
        got["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("store_memory")
    );

    // The pins resource shows the same pin.
    let pins = client
        .request(
            "resources/read",
            json!({"uri": "memory://default/pins/planner"}),
        )
        .unwrap();
    let text = pins["contents"][0]["text"].as_str().unwrap();
    assert!(text.contains("Plans are numbered steps"), "{text}");
    assert!(text.contains(&uri(&pin)), "{text}");

    // Bad arguments name what is wrong.
    for (arguments, wanted) in [
        (
            json!({"name": "rehydrate", "arguments": {"task": "x"}}),
            "'role': is required",
        ),
        (
            json!({"name": "rehydrate", "arguments": {"role": "planner", "task": "x", "token_budget": "lots"}}),
            "'token_budget': must be a whole number",
        ),
        (
            json!({"name": "rehydrate", "arguments": {"role": "pilot", "task": "x"}}),
            "pilot",
        ),
        (
            json!({"name": "recall", "arguments": {"query": "x", "colour": "red"}}),
            "'colour': is not an argument of the recall prompt",
        ),
        (
            json!({"name": "summon", "arguments": {}}),
            "no prompt 'summon'",
        ),
    ] {
        let err = client
            .request("prompts/get", arguments.clone())
            .unwrap_err();
        assert_eq!(err.code, -32602, "{arguments}: {err:?}");
        assert!(err.message.contains(wanted), "{arguments}: {err:?}");
    }
    let err = client
        .request(
            "resources/read",
            json!({"uri": "memory://default/pins/pilot"}),
        )
        .unwrap_err();
    assert_eq!(err.code, -32002, "{err:?}");
    assert!(err.message.contains("the roles are:"), "{err:?}");
}

#[test]
fn completions_offer_roles_namespaces_and_ids() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    let id = store(
        &mut client,
        json!({"content": "Alpha project notes.", "namespace": "proj-alpha"}),
    );
    store(&mut client, json!({"content": "Default note."}));
    let complete = |client: &mut StdioClient,
                    reference: Value,
                    name: &str,
                    value: &str,
                    context: Value| {
        client
            .request(
                "completion/complete",
                json!({"ref": reference, "argument": {"name": name, "value": value}, "context": context}),
            )
            .unwrap()["completion"]
            .clone()
    };
    let prompt = json!({"type": "ref/prompt", "name": "rehydrate"});
    let roles = complete(&mut client, prompt.clone(), "role", "pl", json!({}));
    assert_eq!(roles["values"], json!(["planner"]));
    let roles = complete(&mut client, prompt.clone(), "role", "", json!({}));
    assert_eq!(
        roles["values"],
        json!([
            "general",
            "implementer",
            "planner",
            "researcher",
            "reviewer"
        ])
    );
    let namespaces = complete(&mut client, prompt.clone(), "namespace", "pro", json!({}));
    assert_eq!(namespaces["values"], json!(["proj-alpha"]));
    let template = json!({"type": "ref/resource", "uri": "memory://{namespace}/{id}"});
    let ids = complete(
        &mut client,
        template,
        "id",
        &id[..6],
        json!({"arguments": {"namespace": "proj-alpha"}}),
    );
    assert_eq!(ids["values"], json!([id]));
    // Free text and unknown prompts have nothing to offer.
    let none = complete(&mut client, prompt, "task", "pl", json!({}));
    assert_eq!(none["values"], json!([]));
    let none = complete(
        &mut client,
        json!({"type": "ref/prompt", "name": "summon"}),
        "role",
        "",
        json!({}),
    );
    assert_eq!(none["values"], json!([]));
}

#[test]
fn a_session_that_raises_its_log_level_hears_of_its_own_calls_only() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    client
        .call(
            "search_memory",
            json!({"query": "before any level", "mode": "keyword"}),
        )
        .unwrap();
    client
        .request("logging/setLevel", json!({"level": "info"}))
        .unwrap();
    client.call("list_memories", json!({"limit": 1})).unwrap();
    let message = client
        .notification("notifications/message", NOTICE, |_| true)
        .expect("a log message after setLevel");
    assert_eq!(message["params"]["level"], "info");
    assert_eq!(message["params"]["logger"], "memoryd");
    assert_eq!(message["params"]["data"]["tool"], "list_memories");
    assert_eq!(message["params"]["data"]["outcome"], "ok");
    assert!(
        !client
            .notifications
            .iter()
            .any(|n| n["params"]["data"]["tool"] == "search_memory"),
        "a call before setLevel was logged: {:?}",
        client.notifications
    );
    // A failed call is a warning.
    client
        .request(
            "tools/call",
            json!({"name": "get_memory", "arguments": {"id": "nope"}}),
        )
        .unwrap_err();
    let warning = client
        .notification("notifications/message", NOTICE, |n| {
            n["params"]["data"]["tool"] == "get_memory"
        })
        .expect("a warning for the failed call");
    assert_eq!(warning["params"]["level"], "warning");
    assert_eq!(warning["params"]["data"]["outcome"], "not_found");

    // Over HTTP each session has its own level and hears only its own calls, on its stream.
    let server = dir.serve();
    let mut a = server.session();
    let mut b = server.session();
    let stream = EventStream::open(&server.mcp_url(), &a.session_id);
    a.request("logging/setLevel", json!({"level": "debug"}))
        .unwrap();
    b.request("logging/setLevel", json!({"level": "debug"}))
        .unwrap();
    b.call(
        "search_memory",
        json!({"query": "session b secret", "mode": "keyword"}),
    )
    .unwrap();
    a.call("list_memories", json!({"limit": 2})).unwrap();
    let heard = stream.until(NOTICE, |m| m["params"]["data"]["tool"] == "list_memories");
    assert!(
        heard
            .iter()
            .all(|m| m["params"]["data"]["tool"] != "search_memory"),
        "session a heard session b: {heard:?}"
    );
}

/// A session's standalone SSE stream (GET /mcp), read on a thread.
struct EventStream {
    messages: std::sync::mpsc::Receiver<Value>,
}

impl EventStream {
    fn open(url: &str, session_id: &str) -> EventStream {
        EventStream::read(
            client()
                .get(url)
                .header("Accept", "text/event-stream")
                .header("Mcp-Session-Id", session_id),
        )
    }

    /// Sends `request` and reads its SSE reply as it streams.
    fn read(request: reqwest::blocking::RequestBuilder) -> EventStream {
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200, "{response:?}");
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for data in memoryd::sse::blocking_data(response) {
                if let Ok(message) = serde_json::from_str::<Value>(&data)
                    && tx.send(message).is_err()
                {
                    return;
                }
            }
        });
        EventStream { messages }
    }

    /// Every message up to and including the first that `stop` accepts; panics if none
    /// comes within `timeout`.
    fn until(&self, timeout: Duration, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(message) => {
                    let done = stop(&message);
                    seen.push(message);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("the awaited message did not come; saw {seen:?}"),
            }
        }
    }
}

/// An HTTP client that waits on a stream as long as it lasts.
fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
}

#[test]
fn a_2026_subscription_stream_reports_changes_by_other_processes() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut session = server.session();
    let id = store(
        &mut session,
        json!({"content": "Watched on the new revision."}),
    );
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen", "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "memoryd-tests", "version": "1"}
        },
        "notifications": {"resourcesListChanged": true,
                          "resourceSubscriptions": [uri(&id), "file:///not/ours"]}
    }});
    let stream = EventStream::read(
        client()
            .post(server.mcp_url())
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "subscriptions/listen")
            .body(body.to_string()),
    );
    let ack = stream.until(NOTICE, |m| {
        m["method"] == "notifications/subscriptions/acknowledged"
    });
    let accepted = &ack.last().unwrap()["params"]["notifications"];
    assert_eq!(
        accepted["resourceSubscriptions"],
        json!([uri(&id)]),
        "{ack:?}"
    );
    assert_eq!(accepted["resourcesListChanged"], true);
    dir.run(&["update", &id, "--title", "Changed by the CLI"], "")
        .ok();
    let heard = stream.until(NOTICE, |m| m["method"] == "notifications/resources/updated");
    assert_eq!(heard.last().unwrap()["params"]["uri"], uri(&id));
    dir.run(&["store", "Another memory, another process."], "")
        .ok();
    stream.until(NOTICE, |m| {
        m["method"] == "notifications/resources/list_changed"
    });
}

/// `node <clients>/node_modules/.bin/<tool> args...` with Node 22 first on PATH.
fn node_tool(tool: &str, args: &[&str]) -> Command {
    let clients = mcp_clients();
    let node_bin = clients.join("node_modules/node/bin");
    let path = format!(
        "{}:{}",
        node_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(node_bin.join("node"));
    command
        .arg(clients.join("node_modules/.bin").join(tool))
        .args(args)
        .env("PATH", path)
        .current_dir(&clients);
    command
}

#[test]
fn the_conformance_scenarios_for_any_server_pass() {
    let dir = DataDir::new();
    let server = dir.serve();
    let url = server.mcp_url();
    for scenario in [
        "server-initialize",
        "ping",
        "logging-set-level",
        "completion-complete",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ] {
        let out = node_tool(
            "conformance",
            &["server", "--url", &url, "--scenario", scenario],
        )
        .output()
        .expect("run the conformance suite");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("Passed: "))
            .unwrap_or_default();
        assert!(
            out.status.success() && summary.contains(", 0 failed, 0 warnings"),
            "{scenario}: {summary}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_inspector_lists_everything_without_a_warning_over_stdio_and_http() {
    let dir = DataDir::new();
    let mut client = dir.stdio();
    store(
        &mut client,
        json!({"content": "Pinned for reviewers.", "roles": ["reviewer"]}),
    );
    drop(client);
    let pins = "memory://default/pins/reviewer";
    let server = dir.serve();
    let url = server.mcp_url();
    let mut stdio: Vec<String> = vec![
        crate::util::bin().into(),
        "stdio".into(),
        "--standalone".into(),
    ];
    stdio.extend(
        dir.command(&[])
            .get_args()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    for (method, key, wanted) in [
        ("tools/list", "tools", "rehydrate_memory"),
        (
            "resources/list",
            "resources",
            "memory://default/pins/reviewer",
        ),
        (
            "resources/templates/list",
            "resourceTemplates",
            "memory://{namespace}/{id}",
        ),
        ("prompts/list", "prompts", "rehydrate"),
    ] {
        // --strict (every schema-portability warning in detail) only goes with tools/list.
        let mut cli = vec!["--cli".to_string()];
        if method == "tools/list" {
            cli.push("--strict".into());
        }
        let mut over_http = cli.clone();
        over_http.extend([url.clone(), "--method".into(), method.into()]);
        let mut over_stdio = cli;
        over_stdio.extend(stdio.iter().cloned());
        over_stdio.extend(["--method".into(), method.into()]);
        for args in [over_http, over_stdio] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = inspector(&args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let listed: Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"));
            assert!(
                listed[key].to_string().contains(wanted),
                "{args:?}: {stdout}"
            );
            assert!(
                !stderr.to_lowercase().contains("warning"),
                "{args:?} warned:\n{stderr}"
            );
        }
    }
    // The Inspector also reads a resource and gets a prompt: the role's pin in both.
    let read = inspector(&["--cli", &url, "--method", "resources/read", "--uri", pins]);
    let read: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert!(
        read["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Pinned for reviewers."),
        "{read}"
    );
    let mut args = vec!["--cli".to_string()];
    args.extend(stdio.iter().cloned());
    args.extend(
        [
            "--method",
            "prompts/get",
            "--prompt-name",
            "rehydrate",
            "--prompt-args",
            "role=reviewer",
            "task=review the next change",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let got = inspector(&args);
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert!(
        got["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Pinned for reviewers."),
        "{got}"
    );
}

/// Runs the MCP Inspector CLI and checks that it succeeded.
fn inspector(args: &[&str]) -> std::process::Output {
    let out = node_tool("mcp-inspector", args)
        .output()
        .expect("run the MCP Inspector");
    assert!(
        out.status.success(),
        "{args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn stdio_forwarding_to_the_daemon_carries_log_messages_and_resource_updates() {
    let dir = DataDir::new();
    let _server = dir.serve();
    let mut shim = StdioClient::start_command({
        let mut command = dir.command(&["stdio"]);
        command.stderr(std::process::Stdio::null());
        command
    });
    let id = store(
        &mut shim,
        json!({"content": "Forwarded sessions hear updates."}),
    );
    shim.request("logging/setLevel", json!({"level": "info"}))
        .unwrap();
    shim.request("resources/subscribe", json!({"uri": uri(&id)}))
        .unwrap();
    shim.call("get_memory", json!({"id": id})).unwrap();
    let logged = shim.notification("notifications/message", NOTICE, |n| {
        n["params"]["data"]["tool"] == "get_memory"
    });
    assert!(logged.is_some(), "no log message: {:?}", shim.notifications);
    dir.run(&["update", &id, "--title", "Updated elsewhere"], "")
        .ok();
    let updated = shim.notification("notifications/resources/updated", NOTICE, |n| {
        n["params"]["uri"] == uri(&id)
    });
    assert!(
        updated.is_some(),
        "no update notice: {:?}",
        shim.notifications
    );
}

#[test]
fn both_revisions_advertise_exactly_what_works() {
    let dir = DataDir::new();
    let server = dir.serve();
    let want = json!({"logging": {}, "completions": {}, "prompts": {},
                      "resources": {"subscribe": true, "listChanged": true}, "tools": {}});
    let session = server.session();
    assert_eq!(session.init["capabilities"], want);
    let instructions = session.init["instructions"].as_str().unwrap();
    for word in [
        "memory://{namespace}/{id}",
        "rehydrate",
        "recall",
        "remember",
    ] {
        assert!(instructions.contains(word), "{instructions}");
    }
    let discovered = crate::util::mcp_stateless(
        &reqwest::blocking::Client::new(),
        &server.base,
        1,
        "server/discover",
        json!({}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(discovered["capabilities"], want, "{discovered}");
    assert!(
        discovered["supportedVersions"]
            .to_string()
            .contains("2026-07-28"),
        "{discovered}"
    );
    // Every advertised list answers on the stateless revision too.
    for method in [
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "tools/list",
    ] {
        let listed = crate::util::mcp_stateless(
            &reqwest::blocking::Client::new(),
            &server.base,
            2,
            method,
            json!({}),
        )
        .unwrap();
        assert!(listed.is_ok(), "{method}: {listed:?}");
    }
}
