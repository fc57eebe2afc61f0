//! What both backends share about search results: the query's words, a candidate's score,
//! the hit a search returns, and the excerpt shown for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::index::{KeywordQuery, Ranked};

/// `hits` (by rowid, scores unset) in the order of `ranked`, each with its ranked score;
/// candidates without a hit (deleted meanwhile) are skipped.
pub fn in_ranked_order(
    ranked: &[Ranked],
    mut hits: std::collections::HashMap<i64, Hit>,
) -> Vec<Hit> {
    ranked
        .iter()
        .filter_map(|r| {
            hits.remove(&r.rowid).map(|mut h| {
                h.score = r.score;
                h
            })
        })
        .collect()
}

/// Rows of `(rowid, score)` as candidates.
pub fn ranked_pairs(rows: impl IntoIterator<Item = (i64, f64)>) -> Vec<Ranked> {
    rows.into_iter()
        .map(|(rowid, score)| Ranked { rowid, score })
        .collect()
}

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
    /// The memory that superseded this one; present only on such a hit (`include_superseded`
    /// or `as_of` lets them in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// The words of a query that keyword search uses: lowercased, deduplicated, stopwords dropped
/// unless the query is nothing but stopwords ("to be or").
pub fn query_terms(text: &str) -> Vec<String> {
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
        if !terms.contains(word) {
            terms.push(word.clone());
        }
        if terms.len() == MAX_TERMS {
            break;
        }
    }
    terms
}

/// About 32 words of `content` around the first word that starts with a query term (terms
/// are matched by prefix, which covers what the porter stemmer folds: "migrate" finds
/// "migrations").
pub fn excerpt(content: &str, terms: &[String]) -> String {
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
}
