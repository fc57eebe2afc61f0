//! Access keys on the command line (issue #25): `memoryd key create`, `key list` and
//! `key revoke` against the database directly, on whichever engine the run tests; and who
//! wrote a memory, as `memoryd get` shows it.

use serde_json::{Value, json};

use crate::util::{CliOutput, DataDir};

/// `memoryd key ARGS…` without the embedding model (keys need none).
fn key(dir: &DataDir, args: &[&str]) -> CliOutput {
    let args: Vec<&str> = std::iter::once("key").chain(args.iter().copied()).collect();
    dir.run_command(dir.bare_command(&args), &args, "")
}

fn listed(dir: &DataDir) -> Vec<Value> {
    match key(dir, &["list", "--json"]).json() {
        Value::Array(keys) => keys,
        other => panic!("key list --json printed {other}"),
    }
}

/// Asserts the command failed with exit code 2, saying `expected` on stderr.
fn refused(out: &CliOutput, expected: &str) {
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(out.stderr().contains(expected), "{}", out.describe());
    assert!(out.stdout().is_empty(), "{}", out.describe());
}

#[test]
fn create_prints_the_key_once_and_list_never_shows_it() {
    let dir = DataDir::new();
    let out = key(
        &dir,
        &[
            "create",
            "--scope",
            "write",
            "--label",
            "ci-bot",
            "--namespace",
            "team-a/*",
            "--namespace",
            "shared",
            "--expires",
            "90d",
        ],
    );
    let text = out.ok();
    let secret = text
        .lines()
        .find(|l| l.starts_with("mdk_"))
        .unwrap_or_else(|| panic!("no key on a line of its own\n{}", out.describe()))
        .to_string();
    assert!(
        text.contains("the only time the key is shown"),
        "{}",
        out.describe()
    );
    assert!(text.contains("Authorization: Bearer"), "{}", out.describe());

    let created = key(
        &dir,
        &["create", "--scope", "admin", "--label", "ops", "--json"],
    )
    .json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(
        created["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("mdk_{id}_")),
        "{created:#}"
    );
    assert_eq!(
        (&created["label"], &created["scope"], &created["namespaces"]),
        (&json!("ops"), &json!("admin"), &json!(["*"])),
        "an admin key reaches every namespace"
    );
    assert_eq!(created["expires_at"], Value::Null);
    let mut fields: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "key",
            "label",
            "namespaces",
            "scope"
        ]
    );

    // Oldest first, every field but the secret (and no hash of it).
    let keys = listed(&dir);
    assert_eq!(keys.len(), 2, "{keys:#?}");
    let first = &keys[0];
    assert_eq!(
        (&first["label"], &first["scope"], &first["namespaces"]),
        (
            &json!("ci-bot"),
            &json!("write"),
            &json!(["team-a/*", "shared"])
        )
    );
    assert!(first["expires_at"].as_str().unwrap() > first["created_at"].as_str().unwrap());
    assert_eq!(first["status"], "active");
    assert_eq!(keys[1]["id"], json!(id));
    for k in &keys {
        assert!(k.get("key").is_none() && k.get("hash").is_none(), "{k:#}");
    }
    let human = key(&dir, &["list"]).ok();
    assert!(human.starts_with("ID "), "{human}");
    assert!(
        human.contains("ci-bot") && human.contains("team-a/*,shared"),
        "{human}"
    );
    let (_, secret_part) = secret.rsplit_once('_').unwrap();
    let json_list = key(&dir, &["list", "--json"]).ok();
    assert!(
        !human.contains(secret_part) && !json_list.contains(secret_part),
        "the secret is shown only by create"
    );
}

#[test]
fn list_says_which_keys_are_active_expired_or_revoked() {
    let dir = DataDir::new();
    assert!(key(&dir, &["list"]).ok().starts_with("no keys"));
    assert_eq!(listed(&dir), Vec::<Value>::new());
    let make = |label: &str| {
        key(
            &dir,
            &[
                "create", "--scope", "read", "--label", label, "-n", "a", "--json",
            ],
        )
        .json()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (active, expired, revoked) = (make("active"), make("expired"), make("revoked"));
    // Expired without waiting: the stored expiry is moved into the past.
    dir.execute_sql(&format!(
        "UPDATE api_keys SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = '{expired}'"
    ));
    key(&dir, &["revoke", &revoked]).ok();
    let status: Vec<(Value, Value)> = listed(&dir)
        .iter()
        .map(|k| (k["id"].clone(), k["status"].clone()))
        .collect();
    assert_eq!(
        status,
        [
            (json!(active), json!("active")),
            (json!(expired), json!("expired")),
            (json!(revoked), json!("revoked")),
        ]
    );
    let human = key(&dir, &["list"]).ok();
    for word in ["active", "expired", "revoked"] {
        assert_eq!(human.matches(word).count(), 2, "label and status\n{human}");
    }
}

#[test]
fn revoke_twice_keeps_the_first_time_and_unknown_or_malformed_ids_fail() {
    let dir = DataDir::new();
    let id = key(
        &dir,
        &[
            "create", "--scope", "write", "--label", "bot", "-n", "x", "--json",
        ],
    )
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = key(&dir, &["revoke", &id]).ok();
    assert_eq!(out.trim(), format!("revoked key {id} (bot)"));
    let at = listed(&dir)[0]["revoked_at"].as_str().unwrap().to_string();
    let again = key(&dir, &["revoke", &id]).ok();
    assert_eq!(
        again.trim(),
        format!("key {id} (bot) was already revoked at {at}")
    );
    assert_eq!(listed(&dir)[0]["revoked_at"], json!(at));

    let unknown = key(&dir, &["revoke", "ffffffffffffffff"]);
    refused(
        &unknown,
        "no key has id ffffffffffffffff; 'memoryd key list' shows them",
    );
    let malformed = key(&dir, &["revoke", "not-an-id"]);
    refused(&malformed, "'not-an-id' is not a key id");
    assert!(malformed.stderr().contains("16 hex digits"));
}

#[test]
fn a_refused_create_says_why_and_writes_nothing() {
    let dir = DataDir::new();
    let create = |extra: &[&str]| {
        let mut args = vec!["create", "--label", "bot"];
        args.extend_from_slice(extra);
        key(&dir, &args)
    };
    refused(
        &create(&["--scope", "read", "--namespace", "team a"]),
        "invalid argument 'namespace': 'team a' is not a namespace pattern",
    );
    refused(
        &create(&["--scope", "write", "--namespace", "te*am"]),
        "is not a namespace pattern",
    );
    refused(
        &create(&["--scope", "admin", "--namespace", "team-a"]),
        "an admin key reaches every namespace",
    );
    refused(
        &create(&["--scope", "write"]),
        "a write key needs at least one --namespace",
    );
    refused(
        &create(&["--scope", "read", "-n", "a", "--expires", "soon"]),
        "invalid argument 'expires': 'soon' is not a duration",
    );
    refused(
        &create(&["--scope", "read", "-n", "a", "--expires", "0d"]),
        "'0d' is zero",
    );
    refused(
        &create(&["--scope", "root", "-n", "a"]),
        "invalid value 'root'",
    );
    let long = "x".repeat(65);
    refused(
        &key(
            &dir,
            &["create", "--scope", "read", "-n", "a", "--label", &long],
        ),
        "invalid argument 'label': must be 1 to 64 characters, got 65",
    );
    // MEMORYD_NAMESPACE names where to read and write; it never stands in for a key's reach.
    let args = ["key", "create", "--scope", "write", "--label", "bot"];
    let mut command = dir.bare_command(&args);
    command.env("MEMORYD_NAMESPACE", "team-a");
    refused(
        &dir.run_command(command, &args, ""),
        "a write key needs at least one --namespace",
    );
    assert_eq!(listed(&dir), Vec::<Value>::new());
    // An admin key may name '*', which is what it reaches anyway.
    let admin = key(
        &dir,
        &[
            "create", "--scope", "admin", "--label", "ops", "-n", "*", "--json",
        ],
    )
    .json();
    assert_eq!(admin["namespaces"], json!(["*"]));
}

/// `memoryd get` names who wrote a memory and each earlier version, when someone named did
/// (here as an export carried it: only a key or a token names a writer).
#[test]
fn get_shows_who_wrote_the_memory_and_each_version() {
    let dir = DataDir::new();
    let record = json!({"id": "0190a1b2-0000-7000-8000-00000000beef",
        "content": "Deploys need two approvals.", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z", "version": 2,
        "created_by": "alice", "updated_by": "ci-bot",
        "versions": [{"version": 1, "content": "Deploys need one approval.", "title": null,
            "tags": [], "changed_at": "2026-01-01T00:00:00.000Z", "changed_by": "alice",
            "kind": "note", "source": null, "anchor": null, "context": null, "roles": [],
            "priority": 0, "occurred_at": "2026-01-01T00:00:00Z", "metadata": {}}]});
    let args = ["import", "-"];
    dir.run_command(dir.bare_command(&args), &args, &record.to_string())
        .ok();
    let args = ["get", "0190a1b2-0000-7000-8000-00000000beef", "--history"];
    let shown = dir.run_command(dir.bare_command(&args), &args, "").ok();
    assert!(shown.contains("created_by:  alice\n"), "{shown}");
    assert!(shown.contains("updated_by:  ci-bot\n"), "{shown}");
    assert!(
        shown.contains("--- version 1 (from 2026-01-01T00:00:00.000Z, by alice)"),
        "{shown}"
    );
    // A memory nobody named wrote shows neither line.
    let args = ["--json", "store", "A local note."];
    let id = dir.run_command(dir.bare_command(&args), &args, "").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let args = ["get", id.as_str()];
    let shown = dir.run_command(dir.bare_command(&args), &args, "").ok();
    assert!(
        !shown.contains("created_by") && !shown.contains("updated_by"),
        "{shown}"
    );
}
