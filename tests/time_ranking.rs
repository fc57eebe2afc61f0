//! Hybrid search ranks a memory by its place in time (`[retrieval] neighbour_weight`,
//! `time_boost`): through MCP with the real model, on the engine under test, each signal
//! against a server where it is turned off.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::util::{DataDir, Mcp, StdioClient};

/// A stdio server on `dir` with extra `MEMORYD_*` settings, model loaded.
fn server(dir: &DataDir, env: &[(&str, &str)]) -> StdioClient {
    let mut command = dir.command(&["stdio"]);
    command.envs(env.iter().copied()).stderr(Stdio::null());
    let mut c = StdioClient::start_command(command);
    c.wait_for_model();
    c
}

/// The score of the hit with this content (short, so its snippet is all of it).
fn score_of(found: &Value, content: &str) -> f64 {
    found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["snippet"] == content)
        .unwrap_or_else(|| panic!("'{content}' not found: {found}"))["score"]
        .as_f64()
        .unwrap()
}

// Two short answers that say the same; only the question before each tells them apart.
const ANSWER_POTTERY: &str = "Yes, it was lovely, thanks for asking.";
const ANSWER_MATCH: &str = "Yes, it was lovely, thanks for asking!";

/// An answer stored alone rises with the question just before it (same namespace, a minute
/// apart); the same answer days after an unrelated question does not, and with
/// `neighbour_weight = 0` the two answers score alike.
#[test]
fn a_turn_stored_alone_rises_with_the_question_before_it() {
    let dir = DataDir::new();
    let mut c = server(&dir, &[]);
    for (content, at) in [
        (
            "Did you go to the pottery class on Saturday?",
            "2023-05-06T10:00:00Z",
        ),
        (ANSWER_POTTERY, "2023-05-06T10:01:00Z"),
        ("Did you watch the football final?", "2023-06-20T18:00:00Z"),
        (ANSWER_MATCH, "2023-06-20T18:01:00Z"),
    ] {
        c.call(
            "store_memory",
            json!({"content": content, "occurred_at": at}),
        )
        .unwrap();
    }
    let query = json!({"query": "How was the pottery class?"});
    let found = c.call("search_memory", query.clone()).unwrap();
    assert_eq!(found["mode"], "hybrid");
    let gap = score_of(&found, ANSWER_POTTERY) - score_of(&found, ANSWER_MATCH);
    assert!(
        gap > 0.2,
        "the pottery answer gains from its question: {found}"
    );

    let mut off = server(&dir, &[("MEMORYD_RETRIEVAL__NEIGHBOUR_WEIGHT", "0")]);
    let found = off.call("search_memory", query).unwrap();
    let gap = score_of(&found, ANSWER_POTTERY) - score_of(&found, ANSWER_MATCH);
    assert!(
        gap.abs() < 0.1,
        "without neighbours they score alike: {found}"
    );
}

/// Memories from different sources are not neighbours, however close in time: an ADR section
/// stored the same day as an unrelated runbook gains nothing from it.
#[test]
fn a_neighbour_from_another_source_does_not_count() {
    let dir = DataDir::new();
    let mut c = server(&dir, &[]);
    for (content, at, source) in [
        (
            "Did you go to the pottery class on Saturday?",
            "2023-05-06T10:00:00Z",
            "chat-1",
        ),
        (ANSWER_POTTERY, "2023-05-06T10:01:00Z", "chat-2"),
        (
            "Did you watch the football final?",
            "2023-06-20T18:00:00Z",
            "chat-3",
        ),
        (ANSWER_MATCH, "2023-06-20T18:01:00Z", "chat-3"),
    ] {
        c.call(
            "store_memory",
            json!({"content": content, "occurred_at": at, "source": source}),
        )
        .unwrap();
    }
    let found = c
        .call(
            "search_memory",
            json!({"query": "How was the pottery class?"}),
        )
        .unwrap();
    let gap = score_of(&found, ANSWER_POTTERY) - score_of(&found, ANSWER_MATCH);
    assert!(
        gap.abs() < 0.1,
        "another source's question lifts nothing: {found}"
    );
}

/// A query naming a month lifts what happened in it (or the week after); a filter still
/// decides what can be found, and other months gain nothing.
#[test]
fn a_named_month_lifts_what_happened_in_it() {
    let dir = DataDir::new();
    let mut c = server(&dir, &[("MEMORYD_RETRIEVAL__NEIGHBOUR_WEIGHT", "0")]);
    let may = "We painted the garden fence blue.";
    let august = "We painted the garden fence blue!";
    // Scores are scaled by each list's min and max: an unrelated memory keeps the two fences'
    // near-equal similarities near equal once scaled.
    for (content, at) in [
        (may, "2023-05-10"),
        (august, "2023-08-10"),
        (
            "Our cat sleeps all afternoon on the windowsill.",
            "2023-05-11",
        ),
    ] {
        c.call(
            "store_memory",
            json!({"content": content, "occurred_at": at}),
        )
        .unwrap();
    }
    let found = c
        .call(
            "search_memory",
            json!({"query": "What did we paint in May 2023?"}),
        )
        .unwrap();
    assert_eq!(found["hits"][0]["snippet"], may, "{found}");
    assert!(
        score_of(&found, may) - score_of(&found, august) > 0.15,
        "{found}"
    );
    let august_only = c
        .call(
            "search_memory",
            json!({"query": "What did we paint in May 2023?", "since": "2023-06-01"}),
        )
        .unwrap();
    assert_eq!(
        august_only["hits"].as_array().unwrap().len(),
        1,
        "{august_only}"
    );

    let mut off = server(
        &dir,
        &[
            ("MEMORYD_RETRIEVAL__NEIGHBOUR_WEIGHT", "0"),
            ("MEMORYD_RETRIEVAL__TIME_BOOST", "0"),
        ],
    );
    let found = off
        .call(
            "search_memory",
            json!({"query": "What did we paint in May 2023?"}),
        )
        .unwrap();
    assert!(
        (score_of(&found, may) - score_of(&found, august)).abs() < 0.1,
        "without the bonus they score alike: {found}"
    );
}
