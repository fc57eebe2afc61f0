//! Keyword search over the FTS5 index, ranked by BM25.
//!
//! A user's query is free text, not FTS5 syntax: an apostrophe or a hyphen in it would be a
//! syntax error. [`match_expression`] turns it into quoted terms joined by OR, so any text is a
//! valid query and BM25 ranks documents by how many (and how rare) terms they contain.

use rusqlite::{Connection, params_from_iter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::filter::Filter;
use super::memories::json_column;
use crate::error::Result;

/// Most query terms passed to FTS5; the rest of a very long query is ignored.
const MAX_TERMS: usize = 64;

/// English function words dropped from queries. BM25's idf should discount them, but FTS5
/// floors idf, so in a small store "the" outranks the one content word that matters.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its",
    "me", "my", "of", "on", "or", "our", "s", "should", "so", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "to", "up", "us", "was", "we", "were",
    "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// One ranked search result, as `search_memory` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hit {
    /// Memory id (pass it to `get_memory` for the full text).
    pub id: String,
    /// Relevance, higher is better; comparable only within one response.
    pub score: f64,
    /// Memory title.
    pub title: Option<String>,
    /// Excerpt of the content around the matching words.
    pub snippet: String,
    /// Where the memory came from.
    pub source: Option<String>,
    /// Place inside `source`.
    pub anchor: Option<String>,
    /// Memory kind.
    pub kind: String,
    /// Memory tags.
    pub tags: Vec<String>,
    /// When the recorded thing happened.
    pub occurred_at: String,
}

/// The FTS5 expression for free text, or `None` when it has no searchable words.
///
/// Stopwords are dropped unless the query is nothing but stopwords ("to be or not to be").
pub fn match_expression(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let content: Vec<&String> = words
        .iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect();
    let chosen = if content.is_empty() {
        words.iter().collect()
    } else {
        content
    };
    let mut terms: Vec<String> = Vec::new();
    for word in chosen {
        let term = format!("\"{word}\"");
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == MAX_TERMS {
            break;
        }
    }
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// Runs `expression` against the index within `filter`, best first.
pub(super) fn search(
    conn: &Connection,
    expression: &str,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<Hit>> {
    let terms: Vec<String> = expression
        .split(" OR ")
        .map(|t| t.trim_matches('"').to_string())
        .collect();
    let terms = &terms;
    let (conditions, mut values) = filter.to_sql();
    let mut all = vec![rusqlite::types::Value::Text(expression.to_string())];
    all.append(&mut values);
    all.push((limit as i64).into());
    // Excerpts are cut in Rust from the returned rows: FTS5's snippet() needs the MATCH
    // context, which made SQLite evaluate it for every match (or run the query twice).
    // Title matches weigh double: a title is the author's own summary of the memory.
    let sql = format!(
        "SELECT m.id, -bm25(memories_fts, 2.0, 1.0, 1.0) AS score, {HIT_COLUMNS} \
         FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND {conditions} \
         ORDER BY score DESC, m.rowid DESC LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let hits = stmt
        .query_map(params_from_iter(all), |r| {
            hit_from_row(r, r.get(1)?, |content| excerpt(content, terms))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
}

/// The columns [`hit_from_row`] reads from index 2 on, for a table aliased `m` (index 0 is
/// the id, index 1 the score or rowid).
pub(super) const HIT_COLUMNS: &str =
    "m.title, m.content, m.source, m.anchor, m.kind, m.tags, m.occurred_at";

/// A hit from a row `id, <score or rowid>, HIT_COLUMNS`, with its snippet made from content.
pub(super) fn hit_from_row(
    r: &rusqlite::Row,
    score: f64,
    snippet: impl FnOnce(&str) -> String,
) -> rusqlite::Result<Hit> {
    let content: String = r.get(3)?;
    Ok(Hit {
        id: r.get(0)?,
        score,
        title: r.get(2)?,
        snippet: snippet(&content),
        source: r.get(4)?,
        anchor: r.get(5)?,
        kind: r.get(6)?,
        tags: json_column(r, 7)?,
        occurred_at: r.get(8)?,
    })
}

/// About 32 words of `content` around the first word that starts with a query term (terms
/// are matched by prefix, which covers what the porter stemmer folds: "migrate" finds
/// "migrations").
fn excerpt(content: &str, terms: &[String]) -> String {
    const WORDS: usize = 32;
    let words: Vec<&str> = content.split_whitespace().collect();
    if words.len() <= WORDS {
        return words.join(" ");
    }
    let stems: Vec<String> = terms
        .iter()
        .map(|t| t.chars().take(t.chars().count().clamp(1, 4)).collect())
        .collect();
    let hit = words
        .iter()
        .position(|w| {
            let w = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            stems.iter().any(|s| w.starts_with(s.as_str()))
        })
        .unwrap_or(0);
    let start = hit.saturating_sub(WORDS / 4).min(words.len() - WORDS);
    let end = start + WORDS;
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&words[start..end].join(" "));
    if end < words.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_centre_on_the_first_match() {
        let text: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let mut text = text.join(" ");
        text.push_str(" migrations are forward only");
        let terms = vec!["migrate".to_string()];
        let got = excerpt(&text, &terms);
        assert!(
            got.starts_with('…') && got.contains("migrations are forward only"),
            "{got}"
        );
        assert_eq!(excerpt("short text", &terms), "short text");
    }

    #[test]
    fn any_text_becomes_a_valid_expression() {
        assert_eq!(
            match_expression("What's the DB-layer plan?").unwrap(),
            "\"db\" OR \"layer\" OR \"plan\""
        );
        assert_eq!(
            match_expression("to be or").unwrap(),
            "\"to\" OR \"be\" OR \"or\""
        );
        assert_eq!(match_expression("  ?!  "), None);
        assert_eq!(
            match_expression("naïve café").unwrap(),
            "\"naïve\" OR \"café\""
        );
    }
}
