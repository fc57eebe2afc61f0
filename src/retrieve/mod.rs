//! Retrieval: turns a query into ranked hits within a scope.
//!
//! Keyword ranking is BM25 over FTS5; semantic ranking is cosine similarity over the store's
//! vectors (an in-memory copy of the sqlite-vec table);
//! hybrid fuses the two candidate lists (see [`fuse`]), puts the later of two near restatements
//! first (see [`newer`]), and then ranks each candidate by where
//! it sits in time: beside a strong neighbour, or in a period the query names (see
//! [`situate`]). When the embedding model is not ready,
//! hybrid degrades to keyword and says why. This module ranks; it does not count tokens or
//! render bundles.

mod fuse;
mod newer;
mod situate;
mod when;

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Retrieval;
use crate::embed::Embedder;
use crate::error::{Error, Result};
pub use crate::store::Hit;
use crate::store::{Dating, Filter, KeywordQuery, Ranked, Store, query_terms};
pub use fuse::fuse;
pub use newer::{Dated, Restating, newer_first};
pub use situate::{Situating, situate};
pub use when::{Period, named_period};

/// How `search_memory` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Keyword and semantic ranking fused (keyword only while no model is loaded).
    #[default]
    Hybrid,
    /// Embedding similarity only (needs the embedding model).
    Semantic,
    /// BM25 over the full-text index only.
    Keyword,
}

/// Ranked hits and how they were ranked.
#[derive(Debug, Clone)]
pub struct Retrieved {
    /// Best first.
    pub hits: Vec<Hit>,
    /// The mode actually used.
    pub mode: SearchMode,
    /// Why the mode used differs from the one asked for, if it does.
    pub note: Option<String>,
}

/// Ranked candidates (rowids and scores) and how they were ranked.
#[derive(Debug, Clone)]
pub struct Ranking {
    /// Best first.
    pub items: Vec<Ranked>,
    /// The mode actually used.
    pub mode: SearchMode,
    /// Why the mode used differs from the one asked for, if it does.
    pub note: Option<String>,
}

/// What a search needs: the store, the embedder and the tuning.
pub struct Searcher<'a> {
    /// The database.
    pub store: &'a Store,
    /// The embedding model.
    pub embedder: &'a Embedder,
    /// Fusion settings.
    pub tuning: &'a Retrieval,
}

impl Searcher<'_> {
    /// Searches for `query` within `filter`, returning at most `limit` hits with excerpts.
    pub async fn search(
        &self,
        query: &str,
        filter: Filter,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Retrieved> {
        let ranking = self.ranked(query, filter, limit, mode).await?;
        let hits = self.store.hits(ranking.items, query_terms(query)).await?;
        Ok(Retrieved {
            hits,
            mode: ranking.mode,
            note: ranking.note,
        })
    }

    /// The best `limit` candidates for `query` within `filter`, as rowids and scores; only the
    /// winners are ever read in full.
    pub async fn ranked(
        &self,
        query: &str,
        filter: Filter,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Ranking> {
        let off = || self.embedder.state().reason_off();
        match mode {
            SearchMode::Keyword => Ok(Ranking {
                items: self.keyword(query, filter, limit, false).await?,
                mode: SearchMode::Keyword,
                note: None,
            }),
            SearchMode::Semantic => match self.embedder.embed_query(query).await? {
                Some(v) => {
                    let window = self.newer_first_window(limit);
                    let mut items = self
                        .newer_first(
                            self.store.vector_ranked(v, filter.clone(), window).await?,
                            &filter.namespace,
                            limit,
                        )
                        .await?;
                    items.truncate(limit);
                    Ok(Ranking {
                        items,
                        mode: SearchMode::Semantic,
                        note: None,
                    })
                }
                None => Err(Error::invalid(
                    "mode",
                    format!(
                        "'semantic' needs the embedding model\n{}\nor use mode 'keyword' or 'hybrid'",
                        off().unwrap_or_default()
                    ),
                )),
            },
            SearchMode::Hybrid => {
                // The keyword search runs while the query is embedded (the model takes ~7 ms
                // on one thread; BM25 needs none of it).
                let keyword = self.keyword(
                    query,
                    filter.clone(),
                    self.tuning.keyword_candidates.max(limit),
                    true,
                );
                let semantic = async {
                    match self.embedder.embed_query(query).await? {
                        Some(v) => self
                            .store
                            .vector_ranked(
                                v,
                                filter.clone(),
                                self.tuning.semantic_candidates.max(limit),
                            )
                            .await
                            .map(Some),
                        None => Ok(None),
                    }
                };
                let (keyword, semantic) = tokio::try_join!(keyword, semantic)?;
                let (mut items, mode, note) = match semantic {
                    Some(semantic) => (
                        self.situated(
                            query,
                            self.newer_first(
                                fuse(keyword, semantic, self.tuning.keyword_weight),
                                &filter.namespace,
                                limit,
                            )
                            .await?,
                            limit,
                        )
                        .await?,
                        SearchMode::Hybrid,
                        None,
                    ),
                    None => (keyword, SearchMode::Keyword, off()),
                };
                items.truncate(limit);
                Ok(Ranking { items, mode, note })
            }
        }
    }

    /// Fused candidates reranked by their place in time (see [`situate`]), exact for the best
    /// `limit`; one read of the store, skipped when neither signal is on.
    ///
    /// Situating only raises a score, by at most `neighbour_weight × the best fused score +
    /// time_boost`. A candidate whose fused score plus that gain stays below the `limit`-th
    /// fused score can never reach the best `limit`, so only the others are looked up.
    async fn situated(&self, query: &str, fused: Vec<Ranked>, limit: usize) -> Result<Vec<Ranked>> {
        let t = self.tuning;
        let period = named_period(query).filter(|_| t.time_boost > 0.0);
        if fused.is_empty() || (t.neighbour_weight <= 0.0 && period.is_none()) {
            return Ok(fused);
        }
        let best = fused.first().map_or(0.0, |r| r.score);
        let gain = f64::from(t.neighbour_weight) * best
            + if period.is_some() {
                f64::from(t.time_boost)
            } else {
                0.0
            };
        let bar = match fused.get(limit.max(1) - 1) {
            Some(r) if fused.len() > limit => r.score - gain,
            _ => f64::NEG_INFINITY,
        };
        let rowids = fused
            .iter()
            .take_while(|r| r.score >= bar)
            .map(|r| r.rowid)
            .collect();
        let places = self.store.situate(rowids).await?;
        let how = Situating {
            neighbour_weight: f64::from(t.neighbour_weight),
            window: i64::try_from(t.neighbour_window_seconds)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .unwrap_or(chrono::Duration::MAX),
            period,
            time_boost: f64::from(t.time_boost),
        };
        Ok(situate(fused, &places, how))
    }

    /// How many of the best candidates newer-first ranking considers: a newer memory just
    /// outside the best `limit` can still take an older one's place.
    fn newer_first_window(&self, limit: usize) -> usize {
        if self.tuning.newer_first_similarity > 0.0 {
            limit.saturating_mul(3)
        } else {
            limit
        }
    }

    /// Candidates reordered so that the later of two near restatements ranks above the
    /// earlier (see [`newer_first`]). In hybrid search this runs before situating: a memory
    /// lifted by the turn before it or by a period the query names ("in May 2023") is what
    /// the question is about, whichever came later; the first `3 × limit` are considered, with one read of
    /// their dates and kinds, and of the eligible ones' vectors. Skipped when
    /// `newer_first_similarity` is 0.
    async fn newer_first(
        &self,
        ranked: Vec<Ranked>,
        namespace: &str,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        let similarity = self.tuning.newer_first_similarity;
        if similarity <= 0.0 || ranked.len() < 2 {
            return Ok(ranked);
        }
        let how = Restating {
            similarity,
            skip_kinds: &self.tuning.newer_first_skip_kinds,
            window: self.newer_first_window(limit).min(ranked.len()),
        };
        let rowids: Vec<i64> = ranked[..how.window].iter().map(|r| r.rowid).collect();
        // Dates and kinds first: most candidates (conversation turns, document chunks) are
        // never eligible, and their vectors need not be read.
        let eligible: Vec<Dating> = self
            .store
            .dating(rowids)
            .await?
            .into_iter()
            .filter(|d| how.eligible(&d.kind, d.sourced))
            .collect();
        if eligible.len() < 2 {
            return Ok(ranked);
        }
        let mut vectors: HashMap<i64, Vec<f32>> = self
            .store
            .ranking_vectors(
                namespace.to_string(),
                eligible.iter().map(|d| d.rowid).collect(),
            )
            .await?
            .into_iter()
            .collect();
        let dated = eligible
            .into_iter()
            .filter_map(|d| {
                let vector = vectors.remove(&d.rowid)?;
                Some((
                    d.rowid,
                    Dated {
                        occurred_at: d.occurred_at,
                        vector,
                        kind: d.kind,
                    },
                ))
            })
            .collect();
        Ok(newer_first(ranked, &dated, &how))
    }

    /// BM25 candidates. For `hybrid` search each term is weighed by the namespace searched
    /// and lengths count as `length_normalisation` says (see [`KeywordQuery`]); keyword search
    /// ranks as FTS5 would.
    async fn keyword(
        &self,
        query: &str,
        filter: Filter,
        limit: usize,
        hybrid: bool,
    ) -> Result<Vec<Ranked>> {
        let t = self.tuning;
        let query = KeywordQuery {
            terms: query_terms(query),
            namespace_idf_floor: (hybrid && t.namespace_idf_floor < 1.0)
                .then_some(f64::from(t.namespace_idf_floor)),
            length_normalisation: hybrid.then_some(f64::from(t.length_normalisation)),
        };
        self.store.keyword_ranked(query, filter, limit).await
    }
}
