//! Semantic and hybrid search with the real embedding model (installed once from PyPI by the
//! harness), and what happens without it.

use serde_json::{Value, json};

use crate::scenarios::hit_ids as ids;
use crate::util::{DataDir, Mcp, model_dir};

const CAR: &str = "Fixing my car cost a fortune last month: new brakes and a clutch.";
const OTHERS: [&str; 3] = [
    "The team agreed to ship the beta after the security review.",
    "Grandma's lemon cake needs two eggs and a cup of sugar.",
    "Our cat sleeps all afternoon on the sunny windowsill.",
];
/// Shares no word (or stem) with CAR.
const PARAPHRASE: &str = "expensive automobile repairs";

fn store_all(c: &mut impl Mcp) -> String {
    let car = c.call("store_memory", json!({"content": CAR})).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for text in OTHERS {
        c.call("store_memory", json!({"content": text})).unwrap();
    }
    car
}

/// Over stdio: a paraphrase with no shared keyword finds the memory, in semantic and hybrid
/// mode; keyword mode cannot.
#[test]
fn paraphrases_are_found_by_meaning() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let car = store_all(&mut c);

    let keyword = c
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "mode": "keyword"}),
        )
        .unwrap();
    assert!(
        ids(&keyword).is_empty(),
        "the query shares no keyword: {keyword}"
    );

    let semantic = c
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "mode": "semantic"}),
        )
        .unwrap();
    assert_eq!(semantic["mode"], "semantic");
    assert_eq!(ids(&semantic)[0], car, "{semantic}");
    assert!(
        semantic["hits"][0]["score"].as_f64().unwrap()
            > semantic["hits"][1]["score"].as_f64().unwrap()
    );

    let hybrid = c
        .call("search_memory", json!({"query": PARAPHRASE}))
        .unwrap();
    assert_eq!(hybrid["mode"], "hybrid");
    assert!(hybrid.get("note").is_none(), "{hybrid}");
    assert_eq!(ids(&hybrid)[0], car, "{hybrid}");
}

/// Over HTTP: an update re-embeds, a delete removes the vector; nothing stale comes back.
#[test]
fn updates_and_deletes_never_return_stale_vectors() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut s = server.session();
    s.wait_for_model();
    let car = store_all(&mut s);

    let score_of = |hits: &Value, id: &str| {
        hits["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id)
            .map(|h| h["score"].as_f64().unwrap())
    };
    let before = s
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "mode": "semantic"}),
        )
        .unwrap();
    let before = score_of(&before, &car).unwrap();
    assert!(before > 0.4, "paraphrase similarity {before}");

    s.call(
        "update_memory",
        json!({"id": car, "content": "Kneading sourdough takes patience and warm hands."}),
    )
    .unwrap();
    let after = s
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "mode": "semantic"}),
        )
        .unwrap();
    let after = score_of(&after, &car).unwrap();
    assert!(
        after < before - 0.3,
        "the old vector is still searched: {before} then {after}"
    );
    let bread = s
        .call(
            "search_memory",
            json!({"query": "baking bread at home", "mode": "semantic", "limit": 1}),
        )
        .unwrap();
    assert_eq!(ids(&bread), vec![car.clone()], "{bread}");

    s.call("delete_memory", json!({"id": car})).unwrap();
    let after = s
        .call(
            "search_memory",
            json!({"query": "baking bread at home", "mode": "semantic"}),
        )
        .unwrap();
    assert!(
        !ids(&after).contains(&car),
        "deleted memory returned: {after}"
    );
    assert_eq!(ids(&after).len(), 3);
}

/// Filters apply to semantic hits too.
#[test]
fn semantic_search_respects_filters_and_namespaces() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    c.call(
        "store_memory",
        json!({"content": CAR, "tags": ["home"], "occurred_at": "2024-03-01"}),
    )
    .unwrap();
    c.call("store_memory", json!({"content": "The mechanic replaced the gearbox.", "tags": ["work"], "occurred_at": "2025-06-01"})).unwrap();
    c.call(
        "store_memory",
        json!({"content": CAR, "namespace": "elsewhere"}),
    )
    .unwrap();

    let tagged = c
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "mode": "semantic", "tags": ["work"]}),
        )
        .unwrap();
    assert_eq!(tagged["hits"].as_array().unwrap().len(), 1);
    assert_eq!(tagged["hits"][0]["tags"], json!(["work"]));
    let since = c
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "since": "2025-01-01"}),
        )
        .unwrap();
    assert_eq!(since["hits"].as_array().unwrap().len(), 1, "{since}");
    assert!(
        since["hits"][0]["occurred_at"]
            .as_str()
            .unwrap()
            .starts_with("2025-06-01")
    );
    let other = c
        .call(
            "search_memory",
            json!({"query": PARAPHRASE, "namespace": "elsewhere"}),
        )
        .unwrap();
    assert_eq!(other["hits"].as_array().unwrap().len(), 1);
}

/// Memories stored while no model was available get their vectors once a server has one.
#[test]
fn memories_stored_without_a_model_are_embedded_later() {
    let dir = DataDir::new();
    let empty_models = dir.path().join("no-model");
    let mut cmd = dir.bare_command(&[
        "--offline",
        "--model-dir",
        empty_models.to_str().unwrap(),
        "--json",
        "store",
        CAR,
    ]);
    cmd.env_remove("MEMORYD_MODEL_DIR");
    let stored = dir.run_command(cmd, &["store (offline)"], "").json();
    let car = stored["id"].as_str().unwrap().to_string();

    let mut c = dir.stdio();
    c.wait_for_model();
    // The backfill runs right after the model loads; poll until the memory is searchable.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let hits = c
            .call(
                "search_memory",
                json!({"query": PARAPHRASE, "mode": "semantic"}),
            )
            .unwrap();
        if ids(&hits) == vec![car.clone()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never embedded: {hits}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// No model and no network: keyword search works and every answer says why semantic is off.
#[test]
fn without_a_model_keyword_search_still_works_and_says_why() {
    let dir = DataDir::new();
    let no_model = ["--offline", "--model-dir", "/nonexistent/memoryd-models"];
    let run = |args: &[&str]| {
        let all: Vec<&str> = no_model.iter().chain(args).copied().collect();
        dir.run_command(dir.bare_command(&all), &all, "")
    };
    run(&["store", CAR]).ok();
    let out = run(&["--json", "search", "car brakes"]);
    let hits = out.json();
    assert_eq!(hits["mode"], "keyword");
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1);
    assert!(
        hits["note"].as_str().unwrap().contains("not installed"),
        "{hits}"
    );
    assert!(
        hits["note"]
            .as_str()
            .unwrap()
            .contains("memoryd model install"),
        "{hits}"
    );

    let semantic = run(&["search", "car", "--mode", "semantic"]);
    assert_eq!(semantic.code(), 2, "{}", semantic.describe());
    assert!(
        semantic
            .stderr()
            .contains("'semantic' needs the embedding model"),
        "{}",
        semantic.describe()
    );

    let status = run(&["model", "status"]);
    assert!(
        status.ok().contains("state:     not_installed"),
        "{}",
        status.describe()
    );

    let doctor = run(&["doctor"]);
    assert_eq!(doctor.code(), 2, "{}", doctor.describe());
    let report = doctor.stdout();
    assert!(report.contains("ok   database"), "{report}");
    assert!(
        report.contains(
            "FAIL embedding model  semantic search is off: the embedding model is not installed"
        ),
        "{report}"
    );
}

/// The CLI loads the installed model itself: semantic search from a terminal works.
#[test]
fn cli_searches_by_meaning() {
    let dir = DataDir::new();
    let car = dir.run(&["--json", "store", CAR], "").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for text in OTHERS {
        dir.run(&["store", text], "").ok();
    }
    let hits = dir
        .run(&["--json", "search", PARAPHRASE, "--mode", "semantic"], "")
        .json();
    assert_eq!(ids(&hits)[0], car);
}

/// A database embedded with another model is refused until `memoryd reembed`.
#[test]
fn another_models_vectors_are_refused_until_reembed() {
    let dir = DataDir::new();
    let car = dir.run(&["--json", "store", CAR], "").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    dir.execute_sql("UPDATE meta SET value = 'some-other-model' WHERE key = 'embedding_model'");
    let refused = dir.run(&["list"], "");
    assert_eq!(refused.code(), 2, "{}", refused.describe());
    assert!(
        refused.stderr().contains("the database was embedded with some-other-model (384-d), but this memoryd uses all-MiniLM-L6-v2-int8 (384-d)"),
        "{}",
        refused.describe()
    );
    assert!(
        refused.stderr().contains("run 'memoryd reembed'"),
        "{}",
        refused.describe()
    );

    // Without a model, reembed fails and changes nothing: the old vectors stay, still refused.
    let args = [
        "--offline",
        "--model-dir",
        "/nonexistent/memoryd-models",
        "reembed",
    ];
    let no_model = dir.run_command(dir.bare_command(&args), &args, "");
    assert_eq!(no_model.code(), 2, "{}", no_model.describe());
    assert!(
        no_model.stderr().contains("nothing was changed"),
        "{}",
        no_model.describe()
    );
    let still = dir.run(&["list"], "");
    assert!(
        still.stderr().contains("embedded with some-other-model"),
        "{}",
        still.describe()
    );

    let reembed = dir.run(&["reembed"], "").ok();
    assert!(reembed.starts_with("re-embedded 1 memories"), "{reembed}");
    let hits = dir
        .run(&["--json", "search", PARAPHRASE, "--mode", "semantic"], "")
        .json();
    assert_eq!(ids(&hits), vec![car]);
}

#[test]
fn model_install_is_idempotent() {
    let dir = model_dir();
    let out = std::process::Command::new(crate::util::bin())
        .args(["model", "install", "--model-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("already installed in"));
}
