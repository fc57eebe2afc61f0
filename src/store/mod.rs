//! Storage: where memories live, behind one seam.
//!
//! [`Store`] is a cheap-to-clone handle on a [`Backend`]: SQLite (`sqlite/`, one file in the
//! data dir, the default) or PostgreSQL with pgvector (`postgres/`, for teams and fleets).
//! Callers see only the types of this module; no database crate's type leaves `store/`.
//! This module owns the choice of engine and the rules every engine follows: what an update
//! and an import do (`rules.rs`) and how a fetched row becomes a [`crate::memory::Memory`]
//! (`row.rs`). The engines own every SQL statement memoryd runs; they store and fetch, and
//! decide nothing those rules decide. Nothing here embeds, ranks across engines or counts
//! tokens.

mod backend;
#[cfg(test)]
mod engine_checks;
mod filter;
mod postgres;
mod records;
mod row;
mod rules;
mod search;
mod sqlite;
mod tokenizer;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

pub use backend::{Backend, Engine, Member, PoolStatus, Sizes};
pub use filter::{Filter, Validity};
pub use records::{ApiKey, Checkpoint, Dating, Imported, Page, Pending, Situated, Stored};
pub use rules::at_version;
pub use search::{Hit, KeywordQuery, Ranked, excerpt, query_terms};
pub use sqlite::verify_copy;

use crate::config::redact_url as redact;
use crate::error::Result;

/// Where keyword search computes its ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordRanking {
    /// An in-memory BM25 index that follows the database's change log.
    InMemory,
    /// The engine's own full-text ranking (FTS5's `bm25()`, PostgreSQL's `ts_rank_cd`).
    Engine,
}

/// Where the memories are.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    File(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Url(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "File({})", p.display()),
            // Never print a password, even in a debug dump.
            Location::Url(u) => write!(f, "Url({})", redact(u)),
        }
    }
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Store {
    /// Opens the database at `location` (creating a SQLite file if needed) and migrates it to
    /// this build's schema.
    pub async fn open(
        location: &Location,
        keyword_ranking: KeywordRanking,
        index_memory_bytes: u64,
    ) -> Result<Store> {
        Ok(match location {
            Location::File(path) => Store(Arc::new(sqlite::SqliteStore::open_within(
                path,
                keyword_ranking,
                index_memory_bytes,
            )?)),
            Location::Url(url) => Store(Arc::new(
                postgres::PgStore::connect(url, keyword_ranking, index_memory_bytes).await?,
            )),
        })
    }
}

/// A memory with every optional field set, for the engines' unit tests.
#[cfg(test)]
pub(crate) fn sample_memory(namespace: &str, content: &str) -> crate::memory::NewMemory {
    crate::memory::NewMemory {
        namespace: namespace.into(),
        content: content.into(),
        title: Some("A title".into()),
        kind: "note".into(),
        tags: vec!["alpha".into(), "beta".into()],
        source: Some("docs/a.md".into()),
        anchor: Some("intro".into()),
        context: None,
        roles: vec!["planner".into()],
        priority: 3,
        occurred_at: None,
        metadata: serde_json::Map::new(),
        expires_at: None,
        by: None,
    }
}
