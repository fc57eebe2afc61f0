//! `memoryd eval`: the project set from the repository's fixtures, and a small LoCoMo-shaped
//! split written by the test (the real split is not part of the repository), with both
//! ingestions and per-conversation rows.

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
