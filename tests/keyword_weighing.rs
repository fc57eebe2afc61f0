//! How hybrid search weighs keyword matches, unlike FTS5's `bm25()`: a query word by how
//! common it is in the namespace searched (`[retrieval] namespace_idf_floor`), and a memory's
//! length less (`[retrieval] length_normalisation`). Through MCP with the real model, on the
//! engine under test, against a server where each is turned off. Keyword search keeps FTS5's
//! ranking.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::util::{DataDir, Mcp, StdioClient};

/// A stdio server on `dir` fusing only the best keyword and the best semantic candidate (so
/// the top hit shows which memory BM25 put first), without neighbours, model loaded.
fn server(dir: &DataDir, env: &[(&str, &str)]) -> StdioClient {
    let mut command = dir.command(&["stdio"]);
    command
        .envs([
            ("MEMORYD_RETRIEVAL__KEYWORD_CANDIDATES", "1"),
            ("MEMORYD_RETRIEVAL__SEMANTIC_CANDIDATES", "1"),
            ("MEMORYD_RETRIEVAL__NEIGHBOUR_WEIGHT", "0"),
        ])
        .envs(env.iter().copied())
        .stderr(Stdio::null());
    let mut c = StdioClient::start_command(command);
    c.wait_for_model();
    c
}

const POTTERY: &str = "Bob likes pottery";

/// The snippet of the best hit for `query` in the conversation.
fn top(c: &mut StdioClient, query: &str, mode: &str) -> String {
    let found: Value = c
        .call(
            "search_memory",
            json!({"query": query, "namespace": "chat", "limit": 1, "mode": mode}),
        )
        .unwrap();
    assert_eq!(found["mode"], mode, "{found}");
    found["hits"][0]["snippet"].as_str().unwrap().to_string()
}

/// In a conversation where Alice speaks six of seven turns, her name no longer outranks the
/// one turn about pottery, though database-wide (pottery is common in other notes) it is the
/// rarer word.
#[test]
fn a_name_in_most_of_a_namespace_stops_outranking_the_content_word() {
    let dir = DataDir::new();
    let mut c = server(&dir, &[]);
    let mut store = |content: String, namespace: &str| {
        c.call(
            "store_memory",
            json!({"content": content, "namespace": namespace}),
        )
        .unwrap();
    };
    for i in 0..6 {
        store(format!("Alice said w{i}"), "chat");
    }
    store(POTTERY.to_string(), "chat");
    for i in 0..10 {
        store(format!("Pottery note n{i}"), "notes");
    }
    for i in 0..30 {
        store(format!("Other note n{i}"), "notes");
    }
    assert_eq!(top(&mut c, "Alice pottery", "hybrid"), POTTERY);
    assert!(
        top(&mut c, "Alice pottery", "keyword").starts_with("Alice said"),
        "keyword search ranks as FTS5 does"
    );

    let mut off = server(&dir, &[("MEMORYD_RETRIEVAL__NAMESPACE_IDF_FLOOR", "1")]);
    assert!(top(&mut off, "Alice pottery", "hybrid").starts_with("Alice said"));
}

const KILN: &str = "the kiln was loaded at noon and the kiln stayed hot all night so the kiln \
                    cooled by morning";

/// A longer turn that names the kiln three times passes a short one that names it once,
/// which FTS5's length normalisation (b = 0.75) puts first.
#[test]
fn a_longer_memory_with_more_matches_passes_a_short_one() {
    let dir = DataDir::new();
    let mut c = server(&dir, &[]);
    for content in ["kiln fired today", KILN] {
        c.call(
            "store_memory",
            json!({"content": content, "namespace": "chat"}),
        )
        .unwrap();
    }
    for i in 0..10 {
        c.call(
            "store_memory",
            json!({"content": format!("glaze notes batch {i} done"), "namespace": "chat"}),
        )
        .unwrap();
    }
    assert_eq!(top(&mut c, "kiln", "hybrid"), KILN);
    assert_eq!(
        top(&mut c, "kiln", "keyword"),
        "kiln fired today",
        "keyword search ranks as FTS5 does"
    );

    let mut fts5 = server(&dir, &[("MEMORYD_RETRIEVAL__LENGTH_NORMALISATION", "0.75")]);
    assert_eq!(top(&mut fts5, "kiln", "hybrid"), "kiln fired today");
}
