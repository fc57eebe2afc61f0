//! Retrieval: turns a query into ranked hits within a scope.
//!
//! Today that is BM25 over FTS5. Vector KNN and fusion join here with the embedding model;
//! callers already pass a [`SearchMode`] and read back the mode that was used, so adding them
//! changes no caller. This module ranks; it does not count tokens or render bundles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::store::Hit;
use crate::store::{Filter, Store, match_expression};

/// How `search_memory` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Keyword and semantic ranking fused (falls back to keyword while no model is loaded).
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

/// Searches `store` for `query` within `filter`.
pub async fn search(
    store: &Store,
    query: &str,
    filter: Filter,
    limit: usize,
    mode: SearchMode,
) -> Result<Retrieved> {
    let note = match mode {
        SearchMode::Keyword => None,
        SearchMode::Hybrid => Some(
            "semantic search is off: no embedding model is loaded, so results are keyword (BM25) only"
                .to_string(),
        ),
        SearchMode::Semantic => {
            return Err(Error::invalid(
                "mode",
                "'semantic' needs the embedding model, which is not loaded\nuse mode 'keyword' or 'hybrid'",
            ));
        }
    };
    let Some(expression) = match_expression(query) else {
        return Ok(Retrieved {
            hits: Vec::new(),
            mode: SearchMode::Keyword,
            note,
        });
    };
    let hits = store.keyword_search(expression, filter, limit).await?;
    Ok(Retrieved {
        hits,
        mode: SearchMode::Keyword,
        note,
    })
}
