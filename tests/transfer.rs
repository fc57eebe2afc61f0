//! Data in and out: `import` (JSONL and Markdown), `export`, and `backup` while a server
//! writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::DataDir;

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command without the embedding model (vectors are not part of an export, and
/// embedding the whole fixture in a debug build takes a while).
fn run_bare(dir: &DataDir, args: &[&str]) -> crate::util::CliOutput {
    dir.run_command(dir.bare_command(args), args, "")
}

fn export(dir: &DataDir) -> Vec<Value> {
    dir.run(&["export"], "")
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn export_then_import_into_an_empty_data_dir_gives_identical_memories() {
    let a = DataDir::new();
    let out = run_bare(&a, &["import", &fixture("project-memories.jsonl")]);
    assert!(
        out.ok().starts_with("imported 138 of 138 memories"),
        "{}",
        out.describe()
    );
    // Fields the fixture lacks: another namespace, context, metadata, roles, priority, an update.
    a.run(
        &[
            "--namespace",
            "proj-b",
            "store",
            "Second namespace memory.",
            "--context",
            "what came before",
            "--metadata",
            r#"{"ticket":"ABC-1","n":[1,2]}"#,
            "--role",
            "planner",
            "--priority",
            "7",
            "--tag",
            "x",
        ],
        "",
    )
    .ok();
    // Who wrote a memory, and each earlier version (access control, issue #25): only a key or
    // a token names a writer, so this one comes in as an earlier export carried it.
    let written = json!({"id": "0190a1b2-0000-7000-8000-00000000cafe", "namespace": "proj-b",
        "content": "Deploys need two approvals.", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z", "version": 2,
        "created_by": "alice", "updated_by": "ci-bot",
        "versions": [{"version": 1, "content": "Deploys need one approval.", "title": null,
            "tags": [], "changed_at": "2026-01-01T00:00:00Z", "changed_by": "alice",
            "kind": "note", "source": null, "anchor": null, "context": null, "roles": [],
            "priority": 0, "occurred_at": "2026-01-01T00:00:00Z", "metadata": {}}]});
    a.run_command(
        a.bare_command(&["import", "-"]),
        &["import", "-"],
        &written.to_string(),
    )
    .ok();
    let first = export(&a);
    let updated = first[0]["id"].as_str().unwrap().to_string();
    a.run(&["update", &updated, "--title", "Changed title"], "")
        .ok();
    let file = a.path().join("export.jsonl");
    let out = a.run(&["export", "--out", file.to_str().unwrap()], "");
    assert!(
        out.stderr().contains("exported 140 memories"),
        "{}",
        out.describe()
    );
    let original = std::fs::read_to_string(&file).unwrap();

    let b = DataDir::new();
    let out = run_bare(&b, &["import", file.to_str().unwrap()]);
    assert!(
        out.ok().starts_with("imported 140 of 140"),
        "{}",
        out.describe()
    );
    let copy = b.run(&["export"], "").ok();
    assert_eq!(copy, original, "export → import → export is the identity");
    let m: Vec<Value> = copy
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let changed = m.iter().find(|m| m["id"] == json!(updated)).unwrap();
    assert_eq!(changed["title"], "Changed title");
    assert_ne!(
        changed["updated_at"], changed["created_at"],
        "timestamps kept"
    );
    let other = m.iter().find(|m| m["namespace"] == "proj-b").unwrap();
    assert_eq!(other["metadata"], json!({"ticket": "ABC-1", "n": [1, 2]}));
    assert_eq!(other["context"], "what came before");
    assert_eq!(other["roles"], json!(["planner"]));
    assert_eq!(other["priority"], 7);
    // Memories nobody named wrote say so; named writers come back with every version.
    assert_eq!(
        (&other["created_by"], &other["updated_by"]),
        (&Value::Null, &Value::Null)
    );
    let written = m.iter().find(|m| m["id"] == written["id"]).unwrap();
    assert_eq!(
        (&written["created_by"], &written["updated_by"]),
        (&json!("alice"), &json!("ci-bot"))
    );
    assert_eq!(written["versions"][0]["changed_by"], "alice");
    // Importing the same file again writes nothing.
    let again = run_bare(&b, &["import", file.to_str().unwrap()]);
    assert!(
        again.ok().contains("imported 0 of 140 memories")
            && again.stdout().contains("140 already present"),
        "{}",
        again.describe()
    );
}

#[test]
fn import_embeds_in_batches_so_imported_memories_are_found_by_meaning() {
    let dir = DataDir::new();
    let lines: Vec<&str> = include_str!("../fixtures/project-memories.jsonl")
        .lines()
        .take(12)
        .collect();
    let file = dir.path().join("some.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = dir.run(&["import", file.to_str().unwrap()], "");
    assert!(
        out.ok().starts_with("imported 12 of 12 memories") && out.stdout().contains("(12 embedded"),
        "{}",
        out.describe()
    );
    let hits = dir.run(
        &[
            "--json",
            "search",
            "which cloud database do we run on",
            "--mode",
            "semantic",
            "--limit",
            "3",
        ],
        "",
    );
    assert!(
        hits.json()["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["title"]
                .as_str()
                .unwrap_or_default()
                .contains("PostgreSQL")),
        "{}",
        hits.describe()
    );
    // Without the model, the same import stores the memories for a server to embed later.
    let bare = DataDir::new();
    let out = run_bare(&bare, &["import", file.to_str().unwrap()]);
    assert!(out.ok().contains("(0 embedded"), "{}", out.describe());
    assert!(
        out.stderr().contains("12 memories have no vector yet"),
        "{}",
        out.describe()
    );
}

#[test]
fn an_invalid_record_imports_nothing_and_every_problem_is_located() {
    let dir = DataDir::new();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"content\": \"fine\"}\n{\"content\": \"\"}\n\n{\"content\": \"x\", \"tagz\": [\"a\"]}\n{\"content\": \"y\", \"occurred_at\": \"yesterday\"}\n",
    )
    .unwrap();
    let out = dir.run(&["import", file.to_str().unwrap()], "");
    assert_eq!(out.code(), 2, "{}", out.describe());
    let path = file.display();
    let err = out.stderr();
    assert!(
        err.contains(&format!("{path}:2: invalid argument 'content'")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:4: not a memory record: unknown field `tagz`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}:5: invalid argument 'occurred_at'")),
        "{err}"
    );
    assert!(
        err.contains("3 invalid record(s); nothing was imported"),
        "{err}"
    );
    assert!(export(&dir).is_empty(), "nothing was written");

    let missing = dir.run(&["import", "/no/such/file.jsonl"], "");
    assert_eq!(missing.code(), 2);
    assert!(
        missing
            .stderr()
            .contains("/no/such/file.jsonl does not exist"),
        "{}",
        missing.describe()
    );

    // A record whose content is already stored under another id is a duplicate, not an error.
    dir.run(&["store", "fine"], "").ok();
    let dup = dir.path().join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"content\": \"fine\"}\n{\"id\": \"kept-id\", \"content\": \"new\"}\n",
    )
    .unwrap();
    let out = dir.run(&["import", dup.to_str().unwrap()], "");
    assert!(
        out.ok().contains("imported 1 of 2") && out.stdout().contains("1 duplicates"),
        "{}",
        out.describe()
    );
    // A known id with other content is skipped and named.
    std::fs::write(&dup, "{\"id\": \"kept-id\", \"content\": \"changed\"}\n").unwrap();
    let out = dir.run(&["import", dup.to_str().unwrap()], "");
    assert!(out.ok().contains("1 id conflicts"), "{}", out.describe());
    assert!(
        out.stderr().contains("skipped id 'kept-id'"),
        "{}",
        out.describe()
    );
    assert_eq!(
        dir.run(&["--json", "get", "kept-id"], "").json()["content"],
        "new"
    );
}

#[test]
fn a_markdown_folder_is_split_by_heading_into_anchored_chunks() {
    let dir = DataDir::new();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("adr")).unwrap();
    std::fs::write(
        docs.join("adr/0003-ledger.md"),
        "# ADR-0003: Event-sourced ledger\n\nStatus: accepted.\n\n## Decision\n\nPosted ledger events are immutable.\n\n```sh\n# not a heading\n```\n\n## Consequences\n\nCorrections are reversing entries.\n",
    )
    .unwrap();
    std::fs::write(docs.join("README.md"), "Intro before any heading.\n").unwrap();
    std::fs::write(docs.join("notes.txt"), "# not markdown\n\nskipped").unwrap();
    let out = dir.run(
        &["--namespace", "docs", "import", docs.to_str().unwrap()],
        "",
    );
    assert!(
        out.ok().starts_with("imported 4 of 4"),
        "{}",
        out.describe()
    );
    let m = export(&dir);
    let got: Vec<(String, String, Value, Value)> = m
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["title"].as_str().unwrap().to_string(),
                m["anchor"].clone(),
                m["context"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "README.md".into(),
                "README".into(),
                Value::Null,
                json!("README")
            ),
            (
                "adr/0003-ledger.md".into(),
                "ADR-0003: Event-sourced ledger".into(),
                json!("adr-0003-event-sourced-ledger"),
                json!("ADR-0003: Event-sourced ledger")
            ),
            (
                "adr/0003-ledger.md".into(),
                "Decision".into(),
                json!("decision"),
                json!("ADR-0003: Event-sourced ledger › Decision")
            ),
            (
                "adr/0003-ledger.md".into(),
                "Consequences".into(),
                json!("consequences"),
                json!("ADR-0003: Event-sourced ledger › Consequences")
            ),
        ]
    );
    assert!(
        m.iter()
            .all(|m| m["kind"] == "doc" && m["namespace"] == "docs")
    );
    assert!(
        m[2]["content"]
            .as_str()
            .unwrap()
            .contains("# not a heading")
    );
}

/// Tests of what only SQLite has: nextest runs them only on that engine's run (see
/// `.config/nextest.toml`); the other run lists them as skipped.
mod on_sqlite {
    use super::*;
    use crate::util::{Backend, require};

    #[test]
    fn a_backup_taken_during_writes_opens_and_passes_integrity_check() {
        require(Backend::Sqlite);
        let dir = DataDir::new();
        let server = dir.serve();
        let stop = Arc::new(AtomicBool::new(false));
        let (base, s) = (server.base.clone(), stop.clone());
        let writer = std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut n = 0;
            while !s.load(Ordering::Relaxed) {
                let body = json!({"name": "store_memory", "arguments": {"content": format!("written during backup {n}")}});
                let resp = http
                    .post(format!("{base}/mcp/tools/call"))
                    .json(&body)
                    .send()
                    .unwrap();
                assert!(resp.status().is_success());
                n += 1;
            }
            n
        });
        // Wait for some writes, then back up while they continue.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while export(&dir).len() < 30 {
            assert!(std::time::Instant::now() < deadline, "writes did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let target = DataDir::new();
        let copy = target.path().join("memoryd.db");
        let out = dir.run(&["backup", copy.to_str().unwrap()], "");
        assert!(out.ok().contains("integrity ok"), "{}", out.describe());
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        drop(server);

        // The copy is a working data dir of its own: doctor's full integrity check passes, and it
        // holds the writes from before the backup.
        let doctor = target.run(&["--json", "doctor"], "");
        let checks = doctor.stdout();
        let rows: Vec<Value> =
            serde_json::from_str(&checks).unwrap_or_else(|e| panic!("{e}: {}", doctor.describe()));
        let integrity = rows
            .iter()
            .find(|r| r["check"] == "integrity")
            .expect("an integrity check");
        assert_eq!(integrity["ok"], true, "{}", doctor.describe());
        let backed_up = export(&target).len();
        assert!(
            backed_up >= 30 && backed_up <= written,
            "{backed_up} of {written}"
        );

        // Refusals: an existing file without --force, and a folder.
        let again = dir.run(&["backup", copy.to_str().unwrap()], "");
        assert_eq!(again.code(), 2);
        assert!(
            again.stderr().contains("exists\npass --force"),
            "{}",
            again.describe()
        );
        let folder = dir.run(&["backup", target.path().to_str().unwrap()], "");
        assert!(
            folder.stderr().contains("is a folder"),
            "{}",
            folder.describe()
        );
        assert!(
            dir.run(&["backup", "--force", copy.to_str().unwrap()], "")
                .ok()
                .contains("integrity ok")
        );
    }
}
