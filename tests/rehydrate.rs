//! `rehydrate_memory` against the fixture project (fixtures/project-memories.jsonl), with the
//! real embedding model, over stdio and HTTP.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::util::{DataDir, Mcp};

const TASKS: [&str; 8] = [
    "add a new endpoint for exporting the ledger to auditors",
    "plan next quarter's roadmap for bank feeds",
    "review a pull request that changes database migrations",
    "research faster ways to import bank statements",
    "fix the bug where multi-currency totals are off by a cent",
    "write the runbook section for a failed deploy",
    "test",
    "what do we know about PostgreSQL performance?",
];

/// Per-source cap of each built-in role (config/default.toml).
fn source_cap(role: &str) -> usize {
    match role {
        "implementer" | "researcher" => 3,
        _ => 2,
    }
}

/// Stores every fixture memory; returns them by content for lookups.
pub fn load_fixtures(c: &mut impl Mcp) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/project-memories.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let args: Value = serde_json::from_str(line).unwrap();
        let stored = c.call("store_memory", args.clone()).unwrap();
        let mut m = args;
        m["id"] = stored["id"].clone();
        out.push(m);
    }
    out
}

fn shingles(text: &str) -> HashSet<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.len() < 3 {
        return words.into_iter().collect();
    }
    words.windows(3).map(|w| w.join(" ")).collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let union = a.union(b).count();
    if union == 0 {
        0.0
    } else {
        a.intersection(b).count() as f32 / union as f32
    }
}

fn rehydrate(c: &mut impl Mcp, args: Value) -> (String, Value) {
    let raw = c
        .call_raw("rehydrate_memory", args.clone())
        .unwrap_or_else(|e| panic!("{args}: {e:?}"));
    let text = raw["content"][0]["text"].as_str().unwrap().to_string();
    let bundle = raw["structuredContent"].clone();
    assert_eq!(
        bundle["text"],
        text.as_str(),
        "text block and structured text agree"
    );
    (text, bundle)
}

fn section_ids(bundle: &Value, name: &str) -> Vec<String> {
    bundle["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// The issue's property sweep: budgets from 64 to 8,000, many tasks, every role.
#[test]
fn bundles_respect_budget_pins_diversity_and_caps() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let fixtures = load_fixtures(&mut c);
    let by_id: HashMap<String, &Value> = fixtures
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_string(), m))
        .collect();
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let budgets = [
        64, 100, 160, 250, 400, 640, 1000, 1600, 2500, 4000, 6000, 8000,
    ];

    for role in [
        "planner",
        "implementer",
        "researcher",
        "reviewer",
        "general",
    ] {
        for task in TASKS {
            for budget in budgets {
                let (text, bundle) = rehydrate(
                    &mut c,
                    json!({"role": role, "task": task, "token_budget": budget}),
                );
                let context = format!("role {role}, budget {budget}, task {task:?}");
                let tokens = bpe.encode_ordinary(&text).len();
                assert!(tokens <= budget, "{context}: {tokens} tokens\n{text}");
                assert_eq!(bundle["meta"]["tokens"]["total"], tokens, "{context}");

                // Pins come first, are pinned for this role, and stay within the pin budget.
                let pins = section_ids(&bundle, "pins");
                let evidence = section_ids(&bundle, "evidence");
                if let (Some(p), Some(e)) = (text.find("## Pinned"), text.find("## Evidence")) {
                    assert!(p < e, "{context}: pins after evidence");
                }
                assert!(
                    bundle["meta"]["tokens"]["pins"].as_u64().unwrap() <= 200,
                    "{context}"
                );
                for id in &pins {
                    let roles = by_id[id]["roles"].as_array().unwrap();
                    assert!(
                        roles.iter().any(|r| r == role || r == "*"),
                        "{context}: foreign pin {id}"
                    );
                }
                // Evidence never carries another role's pins, duplicates or too much of a source.
                let mut per_source: HashMap<&str, usize> = HashMap::new();
                let mut seen: Vec<HashSet<String>> = pins
                    .iter()
                    .map(|id| shingles(by_id[id]["content"].as_str().unwrap()))
                    .collect();
                for id in &evidence {
                    let m = by_id[id];
                    if let Some(roles) = m["roles"].as_array() {
                        assert!(
                            roles.iter().any(|r| r == role || r == "*"),
                            "{context}: {id} is another role's pin"
                        );
                    }
                    if let Some(source) = m["source"].as_str() {
                        let n = per_source.entry(source).or_default();
                        *n += 1;
                        assert!(*n <= source_cap(role), "{context}: {source} over its cap");
                    }
                    let sh = shingles(m["content"].as_str().unwrap());
                    for other in &seen {
                        assert!(jaccard(other, &sh) < 0.6, "{context}: near-duplicate {id}");
                    }
                    seen.push(sh);
                }
                // Every item is cited in the text.
                for id in pins.iter().chain(&evidence) {
                    assert!(
                        text.contains(&format!("id {id}")),
                        "{context}: {id} not cited"
                    );
                }
                assert_eq!(bundle["meta"]["retrieval_mode"], "hybrid");
            }
        }
    }
}

/// Near-duplicate fixture pairs never both appear, even with a large budget.
#[test]
fn larger_budgets_bring_more_evidence_and_truncation_is_marked() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    load_fixtures(&mut c);
    let task = "how do we handle database migrations and schema changes?";
    let (_, small) = rehydrate(
        &mut c,
        json!({"role": "implementer", "task": task, "token_budget": 300}),
    );
    let (_, large) = rehydrate(
        &mut c,
        json!({"role": "implementer", "task": task, "token_budget": 4000}),
    );
    let n_small = section_ids(&small, "evidence").len();
    let n_large = section_ids(&large, "evidence").len();
    assert!(n_large > n_small, "{n_small} vs {n_large}");
    assert!(
        large["meta"]["items"]["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reason"] == "near_duplicate"
                || d["reason"] == "source_cap"
                || d["reason"] == "limit")
    );
    // In a tight budget the last item that fits is cut at a sentence and says so.
    for s in small["sections"].as_array().unwrap() {
        for item in s["items"].as_array().unwrap() {
            if item["truncated"] == true {
                let content = item["content"].as_str().unwrap();
                assert!(
                    content.ends_with('.')
                        || content.ends_with('!')
                        || content.ends_with('?')
                        || content.ends_with('`')
                        || content.ends_with(')'),
                    "{content}"
                );
            }
        }
    }
}

/// An implementer's bundle never holds planner-only pins, and the reverse.
#[test]
fn roles_never_see_each_others_pins() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    c.wait_for_model();
    let fixtures = load_fixtures(&mut c);
    let pinned_only_for = |role: &str| -> HashSet<String> {
        fixtures
            .iter()
            .filter(|m| {
                m["roles"]
                    .as_array()
                    .is_some_and(|r| r.len() == 1 && r[0] == role)
            })
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let planner_only = pinned_only_for("planner");
    let implementer_only = pinned_only_for("implementer");
    assert!(!planner_only.is_empty() && !implementer_only.is_empty());
    for task in TASKS {
        for (role, forbidden) in [
            ("implementer", &planner_only),
            ("planner", &implementer_only),
        ] {
            let (_, bundle) = rehydrate(
                &mut c,
                json!({"role": role, "task": task, "token_budget": 8000, "limit": 50}),
            );
            let all: HashSet<String> = section_ids(&bundle, "pins")
                .into_iter()
                .chain(section_ids(&bundle, "evidence"))
                .collect();
            assert!(
                all.is_disjoint(forbidden),
                "{role} got another role's pin for {task:?}"
            );
            // (Own pins compete with `*` pins for the 200-token pin budget, so only the
            // section's presence is certain.)
            assert!(
                !section_ids(&bundle, "pins").is_empty(),
                "{role} got no pins"
            );
        }
    }
}

/// The seed's call works over HTTP; a repeat is a cache hit; a relevant write changes the next
/// bundle.
#[test]
fn cache_hits_until_a_write_changes_the_bundle() {
    let dir = DataDir::new();
    let server = dir.serve();
    let mut s = server.session();
    s.wait_for_model();
    load_fixtures(&mut s);

    let seed = json!({"role": "planner", "task": "test", "limit": 3, "token_budget": 800});
    let (_, first) = rehydrate(&mut s, seed.clone());
    assert_eq!(first["meta"]["cache_hit"], false);
    assert!(section_ids(&first, "evidence").len() <= 3);
    let (text2, second) = rehydrate(&mut s, seed.clone());
    assert_eq!(second["meta"]["cache_hit"], true);
    assert_eq!(text2, first["text"].as_str().unwrap());
    let (_, third) = rehydrate(
        &mut s,
        json!({"role": "planner", "task": "  TEST ", "limit": 3, "token_budget": 800}),
    );
    assert_eq!(
        third["meta"]["cache_hit"], true,
        "case and spacing of the task do not matter"
    );

    let task = "plan the migration of invoices to the new tax engine";
    let (_, before) = rehydrate(&mut s, json!({"role": "planner", "task": task}));
    let stored = s
        .call(
            "store_memory",
            json!({"content": "Decision: invoices move to the new tax engine in Q3, behind the tax_engine_v2 flag; migration of old invoices is out of scope.", "kind": "decision", "title": "Tax engine migration plan"}),
        )
        .unwrap();
    let (_, after) = rehydrate(&mut s, json!({"role": "planner", "task": task}));
    assert_eq!(
        after["meta"]["cache_hit"], false,
        "a write invalidates cached bundles"
    );
    let id = stored["id"].as_str().unwrap().to_string();
    assert!(!section_ids(&before, "evidence").contains(&id));
    assert_eq!(
        section_ids(&after, "evidence")[0],
        id,
        "the new memory leads the next bundle"
    );
}

#[test]
fn bad_arguments_are_named() {
    let dir = DataDir::new();
    let mut c = dir.stdio();
    let cases = [
        (
            json!({"role": "wizard", "task": "x"}),
            "role",
            "the roles are: general, implementer, planner, researcher, reviewer",
        ),
        (json!({"task": "x"}), "role", "is required"),
        (json!({"role": "planner"}), "task", "is required"),
        (
            json!({"role": "planner", "task": "  "}),
            "task",
            "must not be empty",
        ),
        (
            json!({"role": "planner", "task": "x", "token_budget": 10}),
            "token_budget",
            "from 64 to 32000, got 10",
        ),
        (
            json!({"role": "planner", "task": "x", "token_budget": 100000}),
            "token_budget",
            "from 64 to 32000",
        ),
        (
            json!({"role": "planner", "task": "x", "limit": 0}),
            "limit",
            "from 1 to 50, got 0",
        ),
    ];
    for (args, argument, needle) in cases {
        let err = c.call_raw("rehydrate_memory", args.clone()).unwrap_err();
        assert_eq!(err.code, -32602, "{args}");
        assert_eq!(err.data["argument"], argument, "{args}: {err:?}");
        assert!(err.message.contains(needle), "{args}: {}", err.message);
    }
}

#[test]
fn cli_prints_the_bundle() {
    let dir = DataDir::new();
    for (content, roles) in [
        (
            "Always run cargo fmt before committing.",
            json!(["implementer"]),
        ),
        ("The export job writes ZIP files to S3.", json!([])),
    ] {
        let mut args = vec!["store", content];
        if roles.as_array().unwrap().len() == 1 {
            args.extend(["--role", "implementer"]);
        }
        dir.run(&args, "").ok();
    }
    let out = dir.run(
        &[
            "rehydrate",
            "--role",
            "implementer",
            "--task",
            "change the export job",
            "--budget",
            "300",
        ],
        "",
    );
    let text = out.ok();
    assert!(
        text.starts_with("# memoryd context for role implementer\n\n## Pinned\n- (untitled)"),
        "{text}"
    );
    assert!(text.contains("## Evidence\n1. (untitled)"), "{text}");
    assert!(out.stderr().contains("of 300 tokens"), "{}", out.describe());
    let json = dir
        .run(
            &["--json", "rehydrate", "-r", "implementer", "-t", "export"],
            "",
        )
        .json();
    assert_eq!(json["meta"]["token_budget"], 2500);
}
