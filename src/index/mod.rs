//! In-memory indexes that follow a database: a BM25 keyword index and a copy of the vectors,
//! each kept in step by a change log in the database, whichever process wrote.
//!
//! Nothing here knows a database engine. An engine hands an index a source (the traits
//! below: read the log, read the rows that changed, read everything), and a tokenizer; the
//! index decides what to re-read and ranks. The SQLite engine uses both indexes; the
//! PostgreSQL engine uses the keyword index (its vectors are searched by pgvector).
//!
//! Both are kept per namespace: a namespace's index loads on its first search, reading only
//! its rows, and the loaded ones share one byte budget, least recently used evicted first
//! (`namespaces`). A server's memory and start-up do not grow with the database.

mod bm25;
pub mod change_log;
pub mod keyword;
pub mod namespaces;
pub mod statistics;
pub mod vectors;

use std::collections::HashSet;
use std::sync::{RwLock, RwLockWriteGuard};

use crate::error::Result;

/// The state behind `lock` to write, or a fresh one if a panic interrupted an update: a
/// half-applied change must not be searched, and the next search reloads.
fn write_or_reset<T: Default>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    match lock.write() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            *guard = T::default();
            lock.clear_poison();
            guard
        }
    }
}

/// What the in-memory indexes hold, for `/metrics`' footprint and `/status`: each follows
/// the data of the namespaces searched lately, within the budget, so a soak that keeps the
/// data the same size expects these to stay put.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexFootprint {
    /// Memories in the loaded keyword indexes.
    pub keyword_memories: u64,
    /// Their slots, live and dead (the dead are dropped once they are a quarter of them).
    pub keyword_slots: u64,
    /// Distinct terms of their dictionaries (terms no memory uses go with the dead slots).
    pub keyword_terms: u64,
    /// Vectors in the loaded vector copies.
    pub vectors: u64,
    /// Namespace indexes loaded (a namespace searched by keywords and vectors counts twice).
    pub namespaces_loaded: u64,
    /// Estimated heap bytes they hold.
    pub bytes: u64,
    /// The budget they share (`[limits] index_memory_bytes`).
    pub budget_bytes: u64,
    /// Namespace indexes loaded since start.
    pub loads: u64,
    /// Loads that failed since start.
    pub load_failures: u64,
    /// Namespace indexes evicted to stay within the budget since start.
    pub evictions: u64,
    /// Memories the database-wide keyword statistics count (all of them up to 50,000, a
    /// sample past that; see `statistics`).
    pub statistics_memories: u64,
    /// Estimated heap bytes the statistics hold (outside the budget, and bounded).
    pub statistics_bytes: u64,
}

impl IndexFootprint {
    /// What the namespaces loaded in `resident` hold, beside the keyword statistics of
    /// `keywords` (none when keywords are ranked by the engine).
    pub fn of(
        resident: &namespaces::Resident,
        keywords: Option<&keyword::KeywordIndex>,
    ) -> IndexFootprint {
        let (statistics_memories, statistics_bytes) =
            keywords.map_or((0, 0), |k| k.statistics_held());
        let usage = resident.usage();
        IndexFootprint {
            keyword_memories: usage.held.memories,
            keyword_slots: usage.held.slots,
            keyword_terms: usage.held.terms,
            vectors: usage.held.vectors,
            namespaces_loaded: usage.loaded,
            bytes: usage.held.bytes,
            budget_bytes: usage.budget,
            loads: usage.loads,
            load_failures: usage.load_failures,
            evictions: usage.evictions,
            statistics_memories,
            statistics_bytes,
        }
    }
}

/// A candidate: a memory's rowid and its score in one ranking, higher is better.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// The memory's rowid.
    pub rowid: i64,
    /// Its score.
    pub score: f64,
}

/// What a keyword search looks for: the query's words and how to weigh them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeywordQuery {
    /// The query's words: lowercased, deduplicated, stopwords dropped (the caller makes
    /// them; this module only weighs them).
    pub terms: Vec<String>,
    /// When set, a term's idf is the lower of its database-wide idf and its idf within the
    /// namespace searched, but at least this share (0 to 1) of the database-wide one; `None`
    /// ranks exactly as FTS5's `bm25()`. Only the in-memory index reads it.
    pub namespace_idf_floor: Option<f64>,
    /// BM25's length normalisation `b` (0 to 1): how much a long memory's matches count
    /// less than a short one's; `None` is FTS5's 0.75. Only the in-memory index reads it.
    pub length_normalisation: Option<f64>,
}

impl From<Vec<String>> for KeywordQuery {
    /// The words, ranked exactly as FTS5's `bm25()` would.
    fn from(terms: Vec<String>) -> Self {
        KeywordQuery {
            terms,
            namespace_idf_floor: None,
            length_normalisation: None,
        }
    }
}

/// A change log: `(seq, memory rowid)` entries appended by every writing transaction, the
/// oldest pruned.
pub trait LogSource {
    /// The newest `seq` in the log (0 when empty); read before every search.
    fn newest(&mut self) -> Result<i64>;

    /// The oldest `seq` still in the log (0 when empty); read only when something changed.
    fn oldest(&mut self) -> Result<i64>;

    /// The entries after `seq`, each with its memory's namespace (read now).
    fn since(&mut self, seq: i64) -> Result<Vec<change_log::Change>>;
}

/// The searchable text of one memory.
#[derive(Debug, Clone)]
pub struct Document {
    /// The memory's rowid.
    pub rowid: i64,
    /// Its namespace.
    pub namespace: String,
    /// Its title.
    pub title: Option<String>,
    /// Its content.
    pub content: String,
    /// Its tags as stored (the JSON array's text: the tokenizer reads the words).
    pub tags: String,
    /// Whether another memory superseded it (default searches leave it out).
    pub superseded: bool,
    /// When it expires, in milliseconds since the epoch (`i64::MAX`: never); from then on no
    /// search finds it (see [`crate::expiry::millis`]).
    pub expires_at: i64,
}

/// What a search needs to know of a vector's memory besides its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Whether another memory superseded it (default searches leave it out).
    pub superseded: bool,
    /// When it expires, in milliseconds since the epoch (`i64::MAX`: never).
    pub expires_at: i64,
}

/// What the keyword index reads: its log, changed memories, and everything on a reload.
pub trait TextSource: LogSource {
    /// The text of one memory, if it still exists.
    fn document(&mut self, rowid: i64) -> Result<Option<Document>>;

    /// The text of every memory of `namespace`, in rowid order.
    fn documents(&mut self, namespace: &str, each: &mut dyn FnMut(Document)) -> Result<()>;

    /// Which of `rowids` pass the search's filter beyond its namespace.
    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>>;

    /// The highest rowid of any memory (0 when there is none): how far a sample reaches.
    fn highest_rowid(&mut self) -> Result<i64>;

    /// The text of every memory whose rowid is a multiple of `stride`, up to `highest`, in
    /// any namespace: one row per `stride` rowids read, whatever the database holds.
    fn sample(&mut self, stride: i64, highest: i64, each: &mut dyn FnMut(Document)) -> Result<()>;
}

/// What the vector copy reads: its log, changed vectors, and one namespace's on a load.
pub trait VectorSource: LogSource {
    /// The namespace and vector of one memory, if it has one, and its memory's standing.
    fn vector(&mut self, rowid: i64) -> Result<Option<(String, Vec<f32>, Standing)>>;

    /// Every vector of `namespace`, with its memory's standing.
    fn vectors(
        &mut self,
        namespace: &str,
        each: &mut dyn FnMut(i64, Vec<f32>, Standing),
    ) -> Result<()>;

    /// Which of `rowids` pass the search's filter beyond its namespace.
    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>>;
}

/// Splits text into the terms the keyword index counts.
pub trait Tokens: Send {
    /// Every token of a document's text, in order.
    fn tokens(&mut self, text: &str, each: &mut dyn FnMut(&str));

    /// Every token of query text.
    fn query_tokens(&mut self, text: &str, each: &mut dyn FnMut(&str));
}

/// Makes a tokenizer (an index makes one on first use).
pub type MakeTokens = fn() -> Result<Box<dyn Tokens>>;
