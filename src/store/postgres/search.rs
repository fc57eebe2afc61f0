//! Ranking: keywords (the in-memory BM25 index fed from `text_log`, or PostgreSQL's
//! `ts_rank_cd`), nearest vectors (pgvector's HNSW), and the hits for ranked candidates.

use std::collections::HashMap;
use std::sync::Arc;

use pgvector::Vector;

use super::columns::get;
use super::sql::Query;
use super::{PgStore, sources};
use crate::error::Result;
use crate::store::row::read_hit;
use crate::store::search::{in_ranked_order, ranked_pairs};
use crate::store::{Dating, Filter, Hit, KeywordQuery, Ranked};

/// The columns `store::row::read_hit` reads, in its order, for a table aliased `m`.
pub(super) const HIT_COLUMNS: &str = "m.id, m.rowid, m.title, m.content, m.source, m.anchor, \
     m.kind, m.tags::text, m.occurred_at, m.superseded_by";

impl PgStore {
    /// Keyword ranking of memories within `filter` containing any of the query's terms.
    pub(super) async fn keyword_ranked(
        &self,
        query: KeywordQuery,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        if query.terms.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(index) = &self.keywords {
            let (index, client) = (index.clone(), self.conn().await?);
            let handle = tokio::runtime::Handle::current();
            return tokio::task::spawn_blocking(move || {
                let mut source = sources::Source {
                    client: &client,
                    handle: &handle,
                    filter: &filter,
                };
                index.ranked(
                    &mut source,
                    &query,
                    &filter.namespace,
                    filter.narrows(),
                    !filter.validity.skips_superseded(),
                    limit,
                )
            })
            .await?;
        }
        // Terms are words of letters and digits (query_terms), so joining them with `|`
        // always makes a valid tsquery; stemming and stopwords are PostgreSQL's English ones.
        let mut q = Query::new(
            "SELECT m.rowid, ts_rank_cd(m.search, q, 1)::float8 AS score \
             FROM memories m, to_tsquery('english', "
                .to_string(),
        );
        // ts_rank_cd (without the in-memory index) ignores `namespace_idf_floor` and
        // `length_normalisation`.
        q.bind(query.terms.join(" | "));
        q.push(") q WHERE m.search @@ q AND ");
        q.filter(&filter);
        q.push(" ORDER BY score DESC, m.rowid DESC LIMIT ");
        q.bind(limit as i64);
        scored(&self.query(&q).await?)
    }

    /// Loads the database-wide keyword statistics now; the number of memories they count.
    pub(super) async fn warm_keyword_statistics(&self) -> Result<Option<u64>> {
        let Some(index) = &self.keywords else {
            return Ok(None);
        };
        let (index, client) = (index.clone(), self.conn().await?);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let filter = Filter::default();
            let mut source = sources::Source {
                client: &client,
                handle: &handle,
                filter: &filter,
            };
            index.warm(&mut source).map(Some)
        })
        .await?
    }

    /// The `k` memories nearest to `query` within `filter`, by cosine similarity.
    pub(super) async fn vector_ranked(
        &self,
        query: Arc<Vec<f32>>,
        filter: Filter,
        k: usize,
    ) -> Result<Vec<Ranked>> {
        let mut q = Query::new(
            "SELECT m.rowid, (1 - (m.embedding <=> $1))::float8 FROM memories m \
             WHERE m.embedding IS NOT NULL AND "
                .to_string(),
        );
        q.param(Vector::from(query.as_ref().clone()));
        q.filter(&filter);
        q.push(" ORDER BY m.embedding <=> $1 LIMIT ");
        q.bind(k as i64);
        scored(&self.query(&q).await?)
    }

    /// Full search hits for ranked candidates, in order, with excerpts around `terms`.
    pub(super) async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>> {
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let rowids: Vec<i64> = ranked.iter().map(|r| r.rowid).collect();
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {HIT_COLUMNS} FROM memories m WHERE m.rowid = ANY($1)"
            ))
            .await?;
        let mut by_rowid: HashMap<i64, Hit> = HashMap::new();
        for r in client.query(&stmt, &[&rowids]).await? {
            by_rowid.insert(get(&r, 1)?, read_hit(&r, &terms)?);
        }
        Ok(in_ranked_order(&ranked, by_rowid))
    }
}

/// Rows of `(rowid, score)`, best first, as rankings.
fn scored(rows: &[tokio_postgres::Row]) -> Result<Vec<Ranked>> {
    let pairs = rows
        .iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
        .collect::<Result<Vec<(i64, f64)>>>()?;
    Ok(ranked_pairs(pairs))
}

impl PgStore {
    /// Each memory's date, kind and whether it has a source; see `Backend::dating`.
    pub(super) async fn dating(&self, rowids: Vec<i64>) -> Result<Vec<Dating>> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT rowid, occurred_at, kind, source IS NOT NULL FROM memories \
                 WHERE rowid = ANY($1)",
            )
            .await?;
        let mut found: HashMap<i64, Dating> = HashMap::new();
        for r in client.query(&stmt, &[&rowids]).await? {
            let rowid: i64 = get(&r, 0)?;
            found.insert(
                rowid,
                Dating {
                    rowid,
                    occurred_at: get(&r, 1)?,
                    kind: get(&r, 2)?,
                    sourced: get(&r, 3)?,
                },
            );
        }
        Ok(rowids.iter().filter_map(|r| found.remove(r)).collect())
    }
}
