//! The memory browser at `/memories` and the charts on `/status`: driven in Debian's Chromium
//! through playwright-core (tests/browser.cjs), with every result checked through real MCP
//! calls to the same server; and the browser API's defences against forged requests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::ops::assert_self_contained;
use crate::util::{DataDir, HttpServer, Mcp};

/// Where scripts/test installs playwright-core.
fn node_modules() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-test/node_modules");
    assert!(
        dir.join("playwright-core/package.json").exists(),
        "playwright-core is not installed in {}\nrun scripts/test (it installs it), or: npm install --prefix target/browser-test playwright-core",
        dir.display()
    );
    dir
}

/// A server whose charts get a point every second.
fn serve(dir: &DataDir) -> HttpServer {
    dir.serve_with_env(&[("MEMORYD_HEALTH__HISTORY_STEP_SECONDS", "1")])
}

fn store(c: &mut impl Mcp, args: Value) -> String {
    c.call("store_memory", args).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs tests/browser.cjs on `plan` against the server; what it saw.
fn run_script(server: &HttpServer, modules: &Path, plan: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser.cjs");
    // scripts/test puts Node 22 beside playwright-core when the system's is too old.
    let local_node = modules.join("node/bin/node");
    let node = if local_node.exists() {
        local_node
    } else {
        PathBuf::from("node")
    };
    let run = Command::new(node)
        .arg(&script)
        .arg(&server.base)
        .arg(plan.to_string())
        .env("NODE_PATH", modules)
        .output()
        .expect("run node (Node 20 or later)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the browser script failed\nstdout: {stdout}\nstderr: {}\nserver:\n{}",
        String::from_utf8_lossy(&run.stderr),
        server.stderr()
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// What the page showed must be what the tools say.
#[test]
fn browser_finds_reads_curates_and_previews_in_chromium() {
    let modules = node_modules();
    let dir = DataDir::new();
    let server = serve(&dir);
    server.wait_for_model();
    let mut mcp = server.session();

    let open_id = store(
        &mut mcp,
        json!({"title": "Staging database", "kind": "fact", "tags": ["infra"],
               "content": "The staging database runs PostgreSQL 16 on db-staging.internal; migrations run from CI."}),
    );
    let delete_id = store(
        &mut mcp,
        json!({"title": "Old staging host", "kind": "fact", "tags": ["infra", "stale"],
               "content": "Staging used to run on a single VM called stage1 with MySQL; retired in March."}),
    );
    let xss_id = store(
        &mut mcp,
        json!({"title": "<img src=x onerror=\"window.__pwned=1\"><b>bold</b>", "kind": "note",
               "content": "<script>window.__pwned=1</script> the deploy key rotates monthly"}),
    );
    let pin_id = store(
        &mut mcp,
        json!({"title": "Format before committing", "kind": "convention", "roles": ["implementer"],
               "priority": 5, "content": "Run cargo fmt and cargo clippy before every commit."}),
    );
    store(
        &mut mcp,
        json!({"title": "Release train", "kind": "decision",
               "content": "We release every second Tuesday; hotfixes go out the same day."}),
    );
    let other_id = store(
        &mut mcp,
        json!({"namespace": "ops", "title": "Pager rota", "content": "The on-call rota lives in the ops wiki."}),
    );
    let task = "change the staging database migrations";

    let screenshots = std::env::var_os("UPDATE_SCREENSHOT")
        .map(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-shots"));
    if let Some(shots) = &screenshots {
        std::fs::create_dir_all(shots).unwrap();
        // The charts need a little history to be worth a picture: a minute of mixed calls.
        for i in 0..60 {
            let _ = mcp.call(
                "search_memory",
                json!({"query": format!("staging {}", i % 7)}),
            );
            let _ = mcp.call(
                "rehydrate_memory",
                json!({"role": "planner", "task": format!("plan {}", i % 3)}),
            );
            if i % 9 == 0 {
                let _ = mcp.call("get_memory", json!({"id": "nope"}));
            }
            std::thread::sleep(std::time::Duration::from_millis(1000));
        }
    }
    let plan = json!({
        "query": "which database does staging run",
        "open_id": open_id,
        "tag": "verified",
        "delete_id": delete_id,
        "xss_id": xss_id,
        "role": "implementer",
        "task": task,
        "other_namespace": "ops",
        "other_id": other_id,
        "screenshots": screenshots,
    });
    let seen = run_script(&server, &modules, &plan);

    // Self-contained: the page and everything it loaded came from this server.
    let (_, _, html) = server.get("/memories", None);
    assert_self_contained(&html);
    assert_eq!(seen["outside_requests"], json!([]), "{seen:#}");
    assert_eq!(seen["page_errors"], json!([]), "{seen:#}");
    assert_eq!(seen["browse_link"], "memories", "/status links the browser");
    assert_eq!(
        seen["cookie"],
        json!([{"name": "memoryd_browser", "httpOnly": true, "sameSite": "Strict", "path": "/memories"}])
    );

    // Paging walked the whole namespace, newest first, as list_memories does.
    let listed = mcp.call("list_memories", json!({"limit": 200})).unwrap();
    let listed_now: Vec<&str> = listed["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let paged: Vec<&str> = seen["paged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The delete happened after paging: put it back where it was.
    let mut now_plus_deleted = listed_now.clone();
    let at = paged.iter().position(|id| *id == delete_id).unwrap();
    now_plus_deleted.insert(at, &delete_id);
    assert_eq!(paged, now_plus_deleted, "pages of two, newest first");
    assert_eq!(paged.len(), 5);
    assert!(paged.contains(&pin_id.as_str()));

    // Search: the same hits, in the same order, as search_memory.
    let hits = mcp
        .call(
            "search_memory",
            json!({"query": "which database does staging run", "mode": "hybrid", "limit": 10}),
        )
        .unwrap();
    let hit_ids: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .filter(|id| *id != delete_id)
        .collect();
    let shown: Vec<&str> = seen["search"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(|id| *id != delete_id)
        .collect();
    assert_eq!(shown, hit_ids, "{seen:#}");
    assert_eq!(shown[0], open_id, "the staging fact ranks first");

    // Open + edit a tag: the memory as get_memory returns it now.
    let memory = mcp.call("get_memory", json!({"id": open_id})).unwrap();
    assert_eq!(seen["opened"]["title"], "Staging database");
    assert_eq!(seen["opened"]["content"], memory["content"]);
    assert_eq!(seen["opened"]["fields"]["kind"], "fact");
    assert_eq!(seen["opened"]["fields"]["roles"], "not pinned");
    assert_eq!(memory["tags"], json!(["infra", "verified"]));
    assert_eq!(seen["edited_tags"], json!(["infra", "verified"]));
    assert_eq!(memory["priority"], 0, "the refused priority wrote nothing");
    let message = seen["bad_priority_message"].as_str().unwrap();
    assert!(message.starts_with("save: "), "{message}");
    assert!(
        message.contains("priority"),
        "the server's message names the field: {message}"
    );

    // Stored markup stayed text.
    let xss = mcp.call("get_memory", json!({"id": xss_id})).unwrap();
    assert_eq!(seen["xss"]["pwned"], false);
    assert_eq!(seen["xss"]["injected_elements"], 0);
    assert_eq!(seen["xss"]["title"], xss["title"]);
    assert_eq!(seen["xss"]["content"], xss["content"]);

    // Delete: confirmed by name, gone for the tools too.
    let confirm = seen["confirm_text"].as_str().unwrap();
    assert!(
        confirm.contains("“Old staging host”") && confirm.contains(&delete_id),
        "{confirm}"
    );
    assert!(seen.get("native_dialog").is_none(), "no native dialog");
    let gone = mcp
        .call("get_memory", json!({"id": delete_id}))
        .unwrap_err();
    assert!(gone.message.contains("not found"), "{}", gone.message);

    // The filters: pinned for a role, and another namespace, as list_memories has them.
    let ids = |v: &Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let pinned = mcp
        .call("list_memories", json!({"role": "implementer"}))
        .unwrap();
    assert_eq!(ids(&pinned, "memories"), std::slice::from_ref(&pin_id));
    assert_eq!(seen["pinned"], json!([pin_id]));
    let pinned_hits: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .filter(|id| *id == pin_id)
        .collect();
    assert_eq!(
        pinned_hits,
        [pin_id.as_str()],
        "semantic search reaches every memory"
    );
    assert_eq!(seen["pinned_search"], json!(pinned_hits), "search ∩ pinned");
    assert_eq!(seen["namespaces"], json!([["default", "5"], ["ops", "1"]]));
    let ops = mcp
        .call("list_memories", json!({"namespace": "ops"}))
        .unwrap();
    assert_eq!(json!(ids(&ops, "memories")), seen["other_namespace"]);
    assert_eq!(seen["other_namespace"], json!([other_id]));

    // The bundle preview is what rehydrate_memory hands an implementer.
    let bundle = mcp
        .call(
            "rehydrate_memory",
            json!({"role": "implementer", "task": task}),
        )
        .unwrap();
    assert_eq!(seen["bundle"]["text"], bundle["text"]);
    assert!(
        bundle["text"].as_str().unwrap().contains("cargo fmt"),
        "the pin"
    );
    let meta = &seen["bundle"]["meta"];
    assert_eq!(meta["role"], "implementer");
    assert_eq!(
        meta["tokens.total"],
        bundle["meta"]["tokens"]["total"].to_string()
    );
    assert_eq!(
        meta["items.included"],
        bundle["meta"]["items"]["included"].to_string()
    );
    let dropped = bundle["meta"]["items"]["dropped"].as_array().unwrap();
    let shown_dropped = seen["bundle"]["dropped"].as_array().unwrap();
    if dropped.is_empty() {
        assert_eq!(shown_dropped.len(), 1, "one 'nothing' row");
    } else {
        let rows: Vec<Value> = dropped
            .iter()
            .map(|d| json!([d["id"], d["reason"]]))
            .collect();
        assert_eq!(shown_dropped, &rows);
    }

    // The charts drew the calls above, with the [health] thresholds as lines.
    let charts: Vec<&Value> = seen["charts"].as_array().unwrap().iter().collect();
    let ids: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["rps", "latency", "errors", "cache", "rss"]);
    for chart in &charts {
        assert!(chart["points"].as_u64().unwrap() > 0, "{chart}");
        assert!(chart["paths"].as_u64().unwrap() > 0, "{chart}");
    }
    let threshold = |id: &str| charts.iter().find(|c| c["id"] == id).unwrap()["threshold"].clone();
    assert_eq!(threshold("latency"), "max_avg_response_ms");
    assert_eq!(threshold("errors"), "max_error_rate_percent");
    assert_eq!(threshold("cache"), "min_cache_hit_rate_percent");
    assert!(seen["since_start_points"].as_u64().unwrap() > 0);

    // Forged requests from other origins (another site, another port here) changed nothing.
    for forged in seen["forged"].as_array().unwrap() {
        let statuses = forged["statuses"].as_array().unwrap();
        assert!(
            !statuses.is_empty(),
            "the forged requests reached the server: {forged}"
        );
        assert!(statuses.iter().all(|s| s == 403), "{forged}");
    }
    assert!(mcp.call("get_memory", json!({"id": open_id})).is_ok());

    if let Some(shots) = &screenshots {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        for name in ["browser.png", "bundle.png", "charts.png"] {
            let png = std::fs::read(shots.join(name)).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
            std::fs::write(docs.join(name), png).unwrap();
        }
    }
}

/// The ids of a list of memories or hits.
fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The ids of the rows the page showed.
fn shown_ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().or(r["id"].as_str()).unwrap().to_string())
        .collect()
}

/// Issue #24: superseded memories hidden and shown on request, the supersede chain followed
/// both ways (to an expired memory too), a memory's versions, expiry, and bundles as memory
/// stood at a time; checked against the tools of the same server.
#[test]
fn browser_shows_the_supersede_chain_versions_expiry_and_bundles_as_of() {
    const GONE: &str = "The staging database ran on a VM called stage0.";
    const OLD: &str = "The staging database runs MySQL 5.7 on stage1.";
    const NEW_V1: &str = "The staging database now runs PostgreSQL 16 on db-staging.";
    const NEW_V2: &str =
        "The staging database now runs PostgreSQL 16 on db-staging; stage1 was retired in June.";
    let modules = node_modules();
    let dir = DataDir::new();
    let server = dir.serve();
    server.wait_for_model();
    let mut mcp = server.session();

    // The oldest link of the chain expires (and is not purged: the server purges after 30
    // days).
    let gone_id = store(
        &mut mcp,
        json!({"title": "Staging database (2024)", "kind": "fact", "content": GONE,
               "occurred_at": "2024-06-01", "ttl": "2s"}),
    );
    let gone_expires = mcp.call("get_memory", json!({"id": gone_id})).unwrap()["expires_at"]
        .as_str()
        .unwrap()
        .to_string();
    let old_id = store(
        &mut mcp,
        json!({"title": "Staging database (2025)", "kind": "fact", "content": OLD,
               "occurred_at": "2025-03-01", "supersedes": [gone_id]}),
    );
    store(
        &mut mcp,
        json!({"title": "Release train", "kind": "decision", "occurred_at": "2025-04-01",
               "content": "We release every second Tuesday; hotfixes go out the same day."}),
    );
    let new_id = store(
        &mut mcp,
        json!({"title": "Staging database", "kind": "fact", "content": NEW_V1,
               "occurred_at": "2026-06-01", "supersedes": [old_id]}),
    );
    let updated = mcp
        .call("update_memory", json!({"id": new_id, "content": NEW_V2}))
        .unwrap();
    assert_eq!(updated["version"], 2);
    let left = (chrono::DateTime::parse_from_rfc3339(&gone_expires).unwrap()
        - chrono::Utc::now().fixed_offset())
    .to_std()
    .unwrap_or_default();
    std::thread::sleep(left + std::time::Duration::from_millis(100));
    assert!(
        mcp.call("get_memory", json!({"id": gone_id})).is_err(),
        "expired"
    );
    let plan = json!({
        "scenario": "lifecycle",
        "gone_id": gone_id,
        "old_id": old_id,
        "new_id": new_id,
        "role": "planner",
        "task": "which database does staging run",
        "as_of_before": "2026-01-15T12:00",
        "as_of_after": "2026-07-01T12:00",
        "expired_at": "2020-01-01T00:00:00.000Z",
        "expires_at": "2999-01-01T00:00:00.000Z",
        "screenshots": std::env::var_os("UPDATE_SCREENSHOT")
            .map(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-shots")),
    });
    if let Some(shots) = plan["screenshots"].as_str() {
        std::fs::create_dir_all(shots).unwrap();
    }
    let seen = run_script(&server, &modules, &plan);
    assert_eq!(seen["outside_requests"], json!([]), "{seen:#}");
    assert_eq!(seen["page_errors"], json!([]), "{seen:#}");

    // Hidden by default, as list_memories and search_memory leave them out; shown and marked
    // with the toggle, as include_superseded lets them in.
    let list = |extra: Value| {
        let mut args = json!({"limit": 20});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        mcp_ids(&server, "list_memories", args, "memories")
    };
    assert_eq!(shown_ids(&seen["listed"]), list(json!({})));
    assert!(!shown_ids(&seen["listed"]).contains(&old_id));
    let all = list(json!({"include_superseded": true}));
    assert_eq!(shown_ids(&seen["listed_all"]), all);
    assert!(all.contains(&old_id));
    let search = |extra: Value| {
        let mut args = json!({"query": "staging database", "mode": "keyword", "limit": 20});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        mcp_ids(&server, "search_memory", args, "hits")
    };
    assert_eq!(shown_ids(&seen["searched"]), search(json!({})));
    assert_eq!(
        shown_ids(&seen["searched_all"]),
        search(json!({"include_superseded": true}))
    );
    for rows in [&seen["listed_all"], &seen["searched_all"]] {
        for row in rows.as_array().unwrap() {
            let superseded = row["id"] == json!(old_id);
            assert_eq!(row["superseded"], superseded, "{row}");
            let chips = if superseded {
                json!(["superseded"])
            } else {
                json!([])
            };
            assert_eq!(row["chips"], chips, "{row}");
        }
    }

    // The chain, both ways, as get_memory has it.
    let old = mcp
        .call("get_memory", json!({"id": old_id, "history": true}))
        .unwrap();
    let new = mcp
        .call("get_memory", json!({"id": new_id, "history": true}))
        .unwrap();
    assert_eq!(old["superseded_by"], json!(new_id));
    assert_eq!(new["supersedes"], json!([old_id]));
    let shown_old = &seen["old"];
    assert_eq!(shown_old["content"], OLD);
    assert_eq!(shown_old["state"], "superseded");
    assert_eq!(
        shown_old["superseded_by"],
        json!([{"id": new_id, "text": "Staging database"}])
    );
    assert_eq!(shown_old["valid_until"], old["valid_until"]);
    assert_eq!(shown_old["valid_until"], "2026-06-01T00:00:00.000Z");
    assert_eq!(
        old["supersedes"],
        json!([gone_id]),
        "an expired one is history too"
    );
    assert_eq!(
        shown_old["supersedes"],
        json!([{"id": gone_id, "text": "Staging database (2024)"}])
    );
    // The expired memory opens from the link, marked expired, as get_memory with
    // include_expired returns it.
    let gone = mcp
        .call(
            "get_memory",
            json!({"id": gone_id, "history": true, "include_expired": true}),
        )
        .unwrap();
    let shown_gone = &seen["gone"];
    assert_eq!(shown_gone["content"], GONE);
    assert_eq!(shown_gone["state"], "expired");
    let expiry = shown_gone["expiry"].as_str().unwrap();
    assert!(
        expiry.starts_with(&format!("expired {gone_expires} (")),
        "{expiry}"
    );
    assert_eq!(gone["superseded_by"], json!(old_id));
    assert_eq!(
        shown_gone["superseded_by"],
        json!([{"id": old_id, "text": "Staging database (2025)"}])
    );
    assert_eq!(shown_gone["valid_until"], gone["valid_until"]);
    let shown_new = &seen["new"];
    assert_eq!(shown_new["content"], NEW_V2);
    assert_eq!(shown_new["state"], Value::Null);
    assert_eq!(shown_new["superseded_by"], json!([]));
    assert_eq!(
        shown_new["supersedes"],
        json!([{"id": old_id, "text": "Staging database (2025)"}])
    );
    assert_eq!(seen["back"]["id"], json!(old_id), "followed back");

    // Versions: the current one and the earlier one, whose text is the first wording.
    assert_eq!(shown_new["version"], new["version"].to_string());
    assert_eq!(shown_new["versions"], json!(["2", "1"]));
    let v1 = &new["versions"][0];
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["content"], NEW_V1);
    let shown_v1 = &shown_new["version_1"];
    assert_eq!(shown_v1["content"], v1["content"]);
    assert_eq!(shown_v1["visible"], true);
    assert_eq!(shown_v1["title"], "Staging database");
    let summary = shown_v1["summary"].as_str().unwrap();
    assert!(
        summary.contains(v1["changed_at"].as_str().unwrap()),
        "{summary}"
    );

    // Expiry, when the memory has an expires_at; nothing when it has none.
    let expiry = seen["expiry"].as_array().unwrap();
    let text = |i: usize| expiry[i]["expiry"].as_str().unwrap_or("");
    assert!(
        text(0).starts_with("expired 2020-01-01T00:00:00.000Z ("),
        "{}",
        text(0)
    );
    assert!(text(0).ends_with(" days ago)"), "{}", text(0));
    assert_eq!(expiry[0]["state"], "expired");
    assert!(
        text(1).starts_with("expires 2999-01-01T00:00:00.000Z (in "),
        "{}",
        text(1)
    );
    assert_eq!(expiry[1]["state"], Value::Null);
    assert_eq!(expiry[2]["expiry"], Value::Null, "null: no expiry row");

    // Bundles as of a time: what rehydrate_memory hands the same agent then.
    let bundles = seen["bundles"].as_array().unwrap();
    for shown in bundles {
        let mut args = json!({"role": "planner", "task": "which database does staging run"});
        let as_of = shown["as_of"].as_str().unwrap();
        if !as_of.is_empty() {
            args["as_of"] = json!(as_of);
        }
        let bundle = mcp.call("rehydrate_memory", args).unwrap();
        assert_eq!(shown["text"], bundle["text"], "{shown:#}");
    }
    let (before, after, now) = (&bundles[0], &bundles[1], &bundles[2]);
    assert!(
        before["as_of"].as_str().unwrap().starts_with("2026-01-1"),
        "the local time typed, in UTC: {before}"
    );
    let text = |b: &Value| b["text"].as_str().unwrap().to_string();
    assert!(
        text(before).contains(OLD) && !text(before).contains("PostgreSQL"),
        "{before:#}"
    );
    assert!(
        text(after).contains(NEW_V2) && !text(after).contains("MySQL"),
        "{after:#}"
    );
    assert_eq!(text(now), text(after));
    assert_eq!(now["as_of"], "");
    assert!(
        before["when"].as_str().unwrap().starts_with(&format!(
            "As memory stood at {}",
            before["as_of"].as_str().unwrap()
        )),
        "{before}"
    );
    if let Some(shots) = plan["screenshots"].as_str() {
        let png = std::fs::read(Path::new(shots).join("lifecycle.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::write(docs.join("lifecycle.png"), png).unwrap();
    }
}

/// The ids a tool lists under `key`, called through plain JSON on the server.
fn mcp_ids(server: &HttpServer, tool: &str, args: Value, key: &str) -> Vec<String> {
    let (status, out) = server.tools_call(&json!({"name": tool, "arguments": args}).to_string());
    assert_eq!(status, 200, "{out}");
    ids_of(&out[key])
}

/// A POST to the browser API as `headers`; returns the status and the error code.
fn post_api(server: &HttpServer, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}/memories/api/call", server.base))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// The page's session: its cookie and the token in its HTML.
fn session(server: &HttpServer) -> (String, String) {
    let resp = reqwest::blocking::get(format!("{}/memories", server.base)).unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let html = resp.text().unwrap();
    let start = html.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    let token = html[start..start + 64].to_string();
    (cookie, token)
}

#[test]
fn browser_api_refuses_forged_requests() {
    let dir = DataDir::new();
    let server = serve(&dir);
    let mut mcp = server.session();
    let id = store(&mut mcp, json!({"content": "keep me", "title": "Keep"}));
    let delete = json!({"name": "delete_memory", "arguments": {"id": id}});
    let own = server.base.clone();
    let (cookie, token) = session(&server);
    let (_, other_token) = session(&server);
    assert_ne!(
        token, other_token,
        "every page load without a cookie is a new session"
    );

    let refusals = [
        // Another site: the guard refuses it before anything else.
        (
            vec![
                ("Origin", "http://evil.example"),
                ("Cookie", cookie.as_str()),
                ("x-memoryd-csrf", token.as_str()),
            ],
            "forbidden_origin",
        ),
        // Another page on this machine: loopback passes the guard, not the browser API.
        (
            vec![
                ("Origin", "http://127.0.0.1:9"),
                ("Cookie", cookie.as_str()),
                ("x-memoryd-csrf", token.as_str()),
            ],
            "forbidden_origin",
        ),
        // No Origin at all: not a page.
        (
            vec![
                ("Cookie", cookie.as_str()),
                ("x-memoryd-csrf", token.as_str()),
            ],
            "forbidden_origin",
        ),
        // This origin, but no session, no token, or another session's token.
        (
            vec![("Origin", own.as_str()), ("x-memoryd-csrf", token.as_str())],
            "csrf",
        ),
        (
            vec![("Origin", own.as_str()), ("Cookie", cookie.as_str())],
            "csrf",
        ),
        (
            vec![
                ("Origin", own.as_str()),
                ("Cookie", cookie.as_str()),
                ("x-memoryd-csrf", other_token.as_str()),
            ],
            "csrf",
        ),
    ];
    for (headers, code) in &refusals {
        let (status, body) = post_api(&server, headers, &delete);
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert_eq!(body["error"]["code"], *code, "{headers:?}: {body}");
    }
    assert_eq!(
        mcp.call("get_memory", json!({"id": id})).unwrap()["title"],
        "Keep"
    );

    let page = [
        ("Origin", own.as_str()),
        ("Cookie", cookie.as_str()),
        ("x-memoryd-csrf", token.as_str()),
    ];
    // The page stores nothing: that stays with the agents.
    let (status, body) = post_api(
        &server,
        &page,
        &json!({"name": "store_memory", "arguments": {"content": "x"}}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_tool")),
        "{body}"
    );
    // Bad arguments get the tool's own message.
    let (status, body) = post_api(
        &server,
        &page,
        &json!({"name": "update_memory", "arguments": {"id": id, "priority": "high"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["argument"], "priority");
    // With everything in place, the call goes through the tools, counted like any other.
    let (status, body) = post_api(&server, &page, &delete);
    assert_eq!((status, &body), (200, &json!({"id": id, "deleted": true})));
    assert!(mcp.call("get_memory", json!({"id": id})).is_err());
    let (_, m) = server.get_json("/metrics");
    assert_eq!(
        m["tools"]["delete_memory"]["calls"], 1,
        "refusals never reached a tool"
    );
    assert_eq!(m["tools"]["update_memory"]["errors"], 1);
}

#[test]
fn with_a_token_the_browser_asks_for_basic_auth() {
    let dir = DataDir::new();
    let token = "s3cret-token-0123456789abcdef";
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command.env("MEMORYD_TOKEN", token);
    let server = HttpServer::start_command(&dir, command);
    let resp = reqwest::blocking::get(format!("{}/memories", server.base)).unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/memories", server.base))
        .basic_auth("me", Some(token))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn status_history_counts_every_call() {
    let dir = DataDir::new();
    let server = serve(&dir);
    let mut mcp = server.session();
    for i in 0..12 {
        store(&mut mcp, json!({"content": format!("memory number {i}")}));
        if i % 4 == 0 {
            let _ = mcp.call("get_memory", json!({"id": "nope"}));
        }
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    let (status, h) = server.get_json("/status/history");
    assert_eq!(status, 200);
    let (_, m) = server.get_json("/metrics");
    let recent = h["recent"].as_array().unwrap();
    assert!(!recent.is_empty(), "a point a second: {h}");
    assert_eq!(h["step_seconds"], 1);
    let sum = |key: &str| {
        recent.iter().map(|p| p[key].as_u64().unwrap()).sum::<u64>()
            + h["current"][key].as_u64().unwrap()
    };
    // Every call lands in exactly one point (the history is younger than an hour).
    assert_eq!(sum("calls"), m["requests_total"].as_u64().unwrap(), "{h}");
    assert_eq!(sum("errors"), 3);
    assert_eq!(sum("errors"), m["errors_total"].as_u64().unwrap());
    let since_start: u64 = h["since_start"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(
        since_start + h["current"]["calls"].as_u64().unwrap(),
        sum("calls")
    );
    assert!(
        h["current"]["rss_kib"].as_u64().unwrap() > 10_000,
        "RSS is read: {h}"
    );
    assert_eq!(h["thresholds"]["max_error_rate_percent"], 10.0);
    for pair in recent.windows(2) {
        assert!(pair[0]["at"].as_i64() <= pair[1]["at"].as_i64());
    }
}
