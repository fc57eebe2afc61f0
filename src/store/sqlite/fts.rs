//! Keyword search over the FTS5 index, ranked by BM25.
//!
//! A user's query is free text, not FTS5 syntax: an apostrophe or a hyphen in it would be a
//! syntax error. [`query_terms`] picks its words and [`expression`] quotes them and joins them
//! by OR, so any text is a valid query and BM25 ranks documents by how many (and how rare)
//! terms they contain. (By default the in-memory index in `keyword_index` ranks instead, with
//! the same terms and the same scores; this ranking serves `in_memory_keyword_index = false`.)

use rusqlite::{Connection, params, params_from_iter};

use super::filter::{self, Filter, FilterSql};
use crate::error::Result;
use crate::store::row::read_hit;
use crate::store::search::{Hit, Ranked, in_ranked_order};

/// The FTS5 expression matching any of `terms` (words from [`query_terms`]).
pub(super) fn expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Candidates ranked by BM25 alone before the filter is applied, per candidate wanted.
const OVERSAMPLE: usize = 4;

/// BM25 ranking of `expression` within `filter`, best first. Title matches weigh double: a
/// title is the author's own summary of the memory.
///
/// When `index_first`, rank the full-text index alone first (no join per match) and filter
/// its top `limit × OVERSAMPLE`: in a database that is mostly this namespace, those are the
/// answer. When too few of them pass (a small namespace beside big ones), or without
/// `index_first`, rank within the filter. Returns the ranking and whether the first way
/// sufficed, so the caller can skip it for namespaces where it does not.
pub(super) fn ranked(
    conn: &Connection,
    expression: &str,
    filter: &Filter,
    limit: usize,
    index_first: bool,
) -> Result<(Vec<Ranked>, bool)> {
    if index_first && let Some(ranked) = ranked_index_first(conn, expression, filter, limit)? {
        return Ok((ranked, true));
    }
    Ok((ranked_within(conn, expression, filter, limit)?, false))
}

/// The best matches overall, filtered; `None` when too few pass to be sure of the top `limit`.
fn ranked_index_first(
    conn: &Connection,
    expression: &str,
    filter: &Filter,
    limit: usize,
) -> Result<Option<Vec<Ranked>>> {
    let sample = limit.saturating_mul(OVERSAMPLE);
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, -bm25(memories_fts, 2.0, 1.0, 1.0) AS score FROM memories_fts \
         WHERE memories_fts MATCH ?1 ORDER BY score DESC, rowid DESC LIMIT ?2",
    )?;
    let best: Vec<Ranked> = stmt
        .query_map(params![expression, sample as i64], |r| {
            Ok(Ranked {
                rowid: r.get(0)?,
                score: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    if best.is_empty() {
        return Ok(Some(best));
    }
    let rowids: Vec<i64> = best.iter().map(|r| r.rowid).collect();
    let keep = filter::passing(conn, filter, &rowids)?;
    let passed: Vec<Ranked> = best
        .iter()
        .filter(|r| keep.contains(&r.rowid))
        .copied()
        .take(limit)
        .collect();
    // Either enough passed, or the sample held every match (nothing more to find).
    Ok((passed.len() >= limit || best.len() < sample).then_some(passed))
}

/// BM25 ranking with the filter joined to every match.
fn ranked_within(
    conn: &Connection,
    expression: &str,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<Ranked>> {
    let (conditions, values) = filter.to_sql();
    let mut all = vec![rusqlite::types::Value::Text(expression.to_string())];
    all.extend(values);
    all.push((limit as i64).into());
    let sql = format!(
        "SELECT m.rowid, -bm25(memories_fts, 2.0, 1.0, 1.0) AS score \
         FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid \
         WHERE memories_fts MATCH ? AND {conditions} \
         ORDER BY score DESC, m.rowid DESC LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ranked = stmt
        .query_map(params_from_iter(all), |r| {
            Ok(Ranked {
                rowid: r.get(0)?,
                score: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ranked)
}

/// Full hits for ranked candidates, in their order, with excerpts around the query's terms.
pub(super) fn hits(conn: &Connection, ranked: &[Ranked], terms: &[String]) -> Result<Vec<Hit>> {
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; ranked.len()].join(", ");
    let sql = format!("SELECT {HIT_COLUMNS} FROM memories m WHERE m.rowid IN ({placeholders})");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut by_rowid: std::collections::HashMap<i64, Hit> = Default::default();
    let mut rows = stmt.query(params_from_iter(ranked.iter().map(|r| r.rowid)))?;
    while let Some(r) = rows.next()? {
        by_rowid.insert(r.get(1)?, read_hit(r, terms)?);
    }
    Ok(in_ranked_order(ranked, by_rowid))
}

/// The columns `store::row::read_hit` reads, in its order, for a table aliased `m`.
pub(super) const HIT_COLUMNS: &str = "m.id, m.rowid, m.title, m.content, m.source, m.anchor, \
     m.kind, m.tags, m.occurred_at, m.superseded_by";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query_terms;

    #[test]
    fn the_hit_columns_are_read_in_the_shared_order() {
        let names: Vec<_> = HIT_COLUMNS
            .split(", ")
            .map(|c| c.trim_start_matches("m."))
            .collect();
        assert_eq!(names, crate::store::row::HIT_COLUMNS);
    }

    #[test]
    fn any_text_becomes_a_valid_expression() {
        let of = |text: &str| expression(&query_terms(text));
        assert_eq!(
            of("What's the DB-layer plan?"),
            "\"db\" OR \"layer\" OR \"plan\""
        );
        assert_eq!(of("to be or"), "\"to\" OR \"be\" OR \"or\"");
        assert!(query_terms("  ?!  ").is_empty());
        assert_eq!(of("naïve café"), "\"naïve\" OR \"café\"");
    }
}
