//! `memoryd eval`: the project set from the repository's fixtures, a small LoCoMo-shaped
//! split written by the test (the real split is not part of the repository), with both
//! ingestions and per-conversation rows, and a slice of the fact-change set.

use std::path::Path;

use serde_json::json;

use crate::util::DataDir;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The row of `out` whose first four columns are these.
fn row<'a>(out: &'a str, key: [&str; 4]) -> Vec<&'a str> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.len() >= 10 && cols[..4] == key)
        .unwrap_or_else(|| panic!("no row {key:?} in:\n{out}"))
}

/// The project set loads, every relevant title exists, and hybrid search finds nearly all of
/// it (recall@10 is 0.988 with the defaults; a broken ranking or labelling falls far below).
#[test]
fn project_set_scores_hybrid_search() {
    let dir = DataDir::new();
    let memories = fixture("project-memories.jsonl");
    let queries = fixture("project-queries.jsonl");
    let out = dir
        .run(
            &[
                "eval",
                "project",
                "--mode",
                "hybrid",
                "--memories",
                &memories,
                "--queries",
                &queries,
            ],
            "",
        )
        .ok();
    let cols = row(&out, ["project", "-", "hybrid", "all"]);
    assert_eq!(cols[4], "114", "{out}");
    let recall10: f64 = cols[7].parse().unwrap();
    assert!(recall10 >= 0.95, "recall@10 {recall10}\n{out}");
}

/// A query naming a memory title that does not exist is refused before anything is scored.
#[test]
fn a_query_naming_an_unknown_title_is_an_error() {
    let dir = DataDir::new();
    let queries = dir.path().join("queries.jsonl");
    let line =
        json!({"qid": "q1", "query": "how do we deploy?", "relevant_ids": ["No such title"]});
    std::fs::write(&queries, format!("{line}\n")).unwrap();
    let out = dir.run(
        &[
            "eval",
            "project",
            "--mode",
            "keyword",
            "--memories",
            &fixture("project-memories.jsonl"),
            "--queries",
            queries.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(
        out.stderr().contains("names 'No such title'"),
        "{}",
        out.describe()
    );
}

/// Two conversations in LoCoMo's layout, each loaded twice (with the previous turn as context
/// and alone): a row per conversation and one for all, per ingestion.
#[test]
fn locomo_rows_per_conversation_and_ingestion() {
    let dir = DataDir::new();
    let split = dir.path().join("split");
    let turns = [
        (
            "conv-a",
            [
                "Ann: I adopted a puppy named Biscuit.",
                "Bo: What breed is Biscuit?",
                "Ann: A beagle, very loud.",
            ],
        ),
        (
            "conv-b",
            [
                "Cy: My sister runs marathons.",
                "Di: Which one is next?",
                "Cy: Berlin, in September.",
            ],
        ),
    ];
    let mut queries = String::new();
    for (conv, texts) in turns {
        std::fs::create_dir_all(split.join(conv)).unwrap();
        let lines: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({"id": format!("{conv}:D1:{}", i + 1), "text": t, "session": 1,
                       "session_datetime": "2023-05-08T13:56:00Z"})
                .to_string()
            })
            .collect();
        std::fs::write(split.join(conv).join("memories.jsonl"), lines.join("\n")).unwrap();
    }
    for (qid, conv, query, relevant) in [
        ("a1", "conv-a", "What is the puppy called?", "conv-a:D1:1"),
        ("a2", "conv-a", "Which breed is the dog?", "conv-a:D1:3"),
        ("b1", "conv-b", "Which marathon is next?", "conv-b:D1:3"),
    ] {
        let line =
            json!({"qid": qid, "conversation": conv, "query": query, "relevant_ids": [relevant]});
        queries.push_str(&format!("{line}\n"));
    }
    std::fs::write(split.join("queries.jsonl"), queries).unwrap();

    let out = dir
        .run(
            &[
                "eval",
                "locomo",
                split.to_str().unwrap(),
                "--mode",
                "keyword",
            ],
            "",
        )
        .ok();
    for ingest in ["context", "alone"] {
        assert_eq!(row(&out, ["locomo", ingest, "keyword", "conv-a"])[4], "2");
        assert_eq!(row(&out, ["locomo", ingest, "keyword", "conv-b"])[4], "1");
        assert_eq!(row(&out, ["locomo", ingest, "keyword", "all"])[4], "3");
    }
    // "puppy" is only in the answer turn: found first.
    let conv_a = row(&out, ["locomo", "alone", "keyword", "conv-a"]);
    assert!(conv_a[5].parse::<f64>().unwrap() >= 0.5, "{out}");
}

/// The `changes` row of `out` for this tool and mode: its columns.
fn changes_row<'a>(out: &'a str, tool: &str, mode: &str) -> Vec<&'a str> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.len() == 10 && cols[..3] == ["changes", tool, mode])
        .unwrap_or_else(|| panic!("no row changes {tool} {mode} in:\n{out}"))
}

/// The queries of the first `n` fact changes of the fixture.
fn fixture_queries(n: usize) -> usize {
    let text = std::fs::read_to_string(fixture("fact-changes.jsonl")).unwrap();
    text.lines()
        .take(n)
        .map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).unwrap();
            record["queries"].as_array().unwrap().len()
        })
        .sum()
}

/// A slice of the fact-change set among a few distractors, through the real binary and model:
/// a search row per mode and a rehydrate row, each share a fraction consistent with the
/// others, and one result line per query and row. The numbers are not fixed here: what they
/// are is measured, not asserted.
#[test]
fn changes_slice_scores_search_and_rehydrate() {
    let dir = DataDir::new();
    let results = dir.path().join("changes.jsonl");
    let pairs = 6;
    let out = dir
        .run(
            &[
                "eval",
                "changes",
                "--fixture",
                &fixture("fact-changes.jsonl"),
                "--memories",
                &fixture("project-memories.jsonl"),
                "--distractors",
                "150",
                "--limit",
                &pairs.to_string(),
                "--mode",
                "all",
                "--results",
                results.to_str().unwrap(),
            ],
            "",
        )
        .ok();
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..5],
        ["set", "tool", "mode", "hints", "pairs"],
        "{out}"
    );
    let queries = fixture_queries(pairs);
    let rows = [
        ("search", "keyword"),
        ("search", "semantic"),
        ("search", "hybrid"),
        ("rehydrate", "hybrid"),
    ];
    for (tool, mode) in rows {
        let cols = changes_row(&out, tool, mode);
        assert_eq!(cols[3], "none", "{out}");
        assert_eq!(cols[4], pairs.to_string(), "{out}");
        assert_eq!(cols[5], queries.to_string(), "{out}");
        let share = |i: usize| -> f64 {
            let v: f64 = cols[i].parse().unwrap();
            assert!((0.0..=1.0).contains(&v), "column {i} of {cols:?}\n{out}");
            v
        };
        let (old_above, new_in, old_in) = (share(6), share(7), share(8));
        // "Old above new" needs the old one present, and counts every answer that has the old
        // one without the new one.
        assert!(old_above <= old_in + 1e-9, "{cols:?}\n{out}");
        assert!(old_above + 1e-3 >= old_in - new_in, "{cols:?}\n{out}");
        assert!(cols[9].parse::<f64>().unwrap() >= 0.0, "{out}");
    }
    // The model finds most new facts among 150 distractors, by meaning alone.
    let semantic_new_in: f64 = changes_row(&out, "search", "semantic")[7].parse().unwrap();
    assert!(semantic_new_in >= 0.5, "{out}");

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), queries * rows.len());
    for line in &lines {
        assert!(line["qid"].as_str().unwrap().starts_with("fc-"), "{line}");
        for rank in ["old_rank", "new_rank"] {
            if let Some(r) = line[rank].as_u64() {
                assert!(r >= 1, "{line}");
                if line["tool"] == "search" {
                    assert!(r <= 10, "{line}");
                }
            }
        }
    }
}

/// `--supersede` stores each new fact with `supersedes: [old id]` through `store_memory`: the
/// old facts then leave search and bundles.
#[test]
fn changes_with_supersede_never_rank_or_bundle_the_old_fact() {
    let dir = DataDir::new();
    let out = dir.run(
        &[
            "eval",
            "changes",
            "--fixture",
            &fixture("fact-changes.jsonl"),
            "--memories",
            &fixture("project-memories.jsonl"),
            "--distractors",
            "20",
            "--limit",
            "3",
            "--supersede",
        ],
        "",
    );
    let stdout = out.ok();
    for (tool, mode) in [("search", "hybrid"), ("rehydrate", "hybrid")] {
        let cols = changes_row(&stdout, tool, mode);
        assert_eq!(cols[3], "supersede", "{stdout}");
        assert_eq!(cols[6], "0.000", "old above new with supersedes\n{stdout}");
        assert_eq!(
            cols[8], "0.000",
            "old still found with supersedes\n{stdout}"
        );
    }
}
