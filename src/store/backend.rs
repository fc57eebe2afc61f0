//! The storage seam: what memoryd asks of a database, whichever engine keeps it.
//!
//! Every engine (`sqlite/`, `postgres/`) implements [`Backend`]; the rest of memoryd holds a
//! [`Store`](super::Store) and never sees an engine's own types. Adding an engine means adding
//! a folder that implements this trait and one arm in [`Store::open`](super::Store::open).
//! The engine runs the update and import rules of `super::rules` and reads memories with
//! `super::row`, rather than deciding those itself.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::filter::{Filter, Validity};
use super::records::{ApiKey, Checkpoint, Dating, Imported, Page, Pending, Situated, Stored};
use super::search::{Hit, KeywordQuery, Ranked};
use crate::error::Result;
use crate::index::IndexFootprint;
use crate::memory::{Memory, MemoryPatch, NewMemory, Version};

/// Which engine holds the memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// One SQLite file in the data dir.
    Sqlite,
    /// A PostgreSQL database with pgvector.
    Postgres,
}

impl Engine {
    /// The engine's name as `/health` and `doctor` print it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Connections of a pooled client, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    /// Connections open.
    pub size: u64,
    /// Connections handed out right now.
    pub in_use: u64,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// One server of a fleet, as the database last heard of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Member {
    /// Its `[server] instance_id`.
    pub id: String,
    /// Its memoryd version.
    pub version: String,
    /// Seconds since it last said it was serving.
    pub seen_seconds_ago: f64,
}

/// Bytes the database takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// The database itself (SQLite file, or PostgreSQL's `pg_database_size`).
    pub database: u64,
    /// SQLite's write-ahead log; 0 on PostgreSQL.
    pub wal: u64,
}

/// What a storage engine does for memoryd. Methods that read take owned arguments so that an
/// engine can move them into a blocking task.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Which engine this is.
    fn engine(&self) -> Engine;

    /// Where the data lives, safe to print: a file path, or a URL without its password.
    fn location(&self) -> String;

    /// The connection pool's state.
    fn pool_status(&self) -> PoolStatus;

    /// What this process's in-memory indexes hold.
    fn index_footprint(&self) -> IndexFootprint;

    /// One round trip to the database (`/health` times it).
    async fn ping(&self) -> Result<()>;

    /// Id of the memory holding exactly this content in the namespace, if any.
    async fn id_for_content(
        &self,
        namespace: String,
        content_hash: String,
    ) -> Result<Option<String>>;

    /// Inserts a memory (with its vector when one was made), or returns the existing one with
    /// the same content in its namespace.
    async fn insert(&self, memory: NewMemory, vector: Option<Vec<f32>>) -> Result<Stored>;

    /// [`Backend::insert`], and in the same transaction the memories `supersedes` names marked
    /// as superseded by the memory stored (or found holding the same content), as
    /// `store::rules::supersede` decides; nothing is written when it refuses one.
    async fn insert_superseding(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
        supersedes: Vec<String>,
    ) -> Result<Stored>;

    /// The earlier versions of the memory `id`, newest first (the caller has read the memory
    /// in its namespace).
    async fn versions(&self, id: String) -> Result<Vec<Version>>;

    /// The ids of the memories of `namespace` that the memory `id` superseded (their
    /// `superseded_by` is `id`), oldest first: the chain one step back.
    async fn superseded_by_memory(&self, namespace: String, id: String) -> Result<Vec<String>>;

    /// Number of superseded memories, over every namespace.
    async fn superseded_count(&self) -> Result<u64>;

    /// Number of memories expired at `now` and not yet purged, over every namespace.
    async fn expired_count(&self, now: String) -> Result<u64>;

    /// When the next live memory of `namespace` expires (the soonest `expires_at` after
    /// `now`), if any: a cache key, since no write moves the generation when a memory expires.
    async fn next_expiry(&self, namespace: String, now: String) -> Result<Option<String>>;

    /// Number of memories that expired after `since` and by `now`; when there are any, their
    /// namespaces' generations move (so caches keyed by it miss, and subscribers hear of it).
    async fn notice_expired(&self, since: String, now: String) -> Result<u64>;

    /// Purges, in one short transaction, up to `limit` memories that expired at or before
    /// `cutoff`, with their versions and vectors, logging each so every process's indexes
    /// drop it; the number purged, or `None` when another server of a fleet is sweeping.
    async fn purge_expired(&self, cutoff: String, limit: usize) -> Result<Option<u64>>;

    /// Fetches one memory by id within a namespace, expired or not (`get_memory` with
    /// `include_expired`); [`Backend::get`] finds only live ones.
    async fn get_any(&self, namespace: String, id: String) -> Result<Memory>;

    /// Inserts many memories in one transaction; `vectors[i]` belongs to `memories[i]`.
    async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>>;

    /// Fetches one live (unexpired) memory by id within a namespace.
    async fn get(&self, namespace: String, id: String) -> Result<Memory>;

    /// Applies a patch to one memory (keeping the state it leaves as a version, and marking
    /// the memories of `patch.supersedes`, in one transaction) and returns it as stored, with
    /// whether it now lacks a vector. `vector` is (text embedded, its embedding) for the memory as patched; it is
    /// written only if the stored memory's text is exactly that (a concurrent update may have
    /// changed it), otherwise the memory waits for the backfill.
    async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)>;

    /// Deletes one live memory; `false` when there was none with that id (or it expired).
    async fn delete(&self, namespace: String, id: String) -> Result<bool>;

    /// One page of memories, newest first, after the row `after`.
    async fn list(&self, filter: Filter, after: Option<i64>, limit: usize) -> Result<Page>;

    /// Keyword ranking of memories within `filter` containing any of the query's terms (see
    /// [`query_terms`](super::query_terms)), best first.
    async fn keyword_ranked(
        &self,
        query: KeywordQuery,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>>;

    /// Loads the database-wide keyword statistics now rather than on the first search; the
    /// number of memories they count, or `None` when keyword ranking does not use them.
    async fn warm_keyword_statistics(&self) -> Result<Option<u64>>;

    /// The `k` memories nearest to `query` within `filter`, nearest first; the score is the
    /// cosine similarity.
    async fn vector_ranked(
        &self,
        query: Arc<Vec<f32>>,
        filter: Filter,
        k: usize,
    ) -> Result<Vec<Ranked>>;

    /// Full search hits for ranked candidates, in order, with excerpts around `terms`.
    async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>>;

    /// Up to `limit` memories still waiting for a vector, oldest first.
    async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>>;

    /// Number of memories still waiting for a vector.
    async fn pending_vector_count(&self) -> Result<u64>;

    /// Stores vectors made for pending memories (skipping any whose text changed since);
    /// returns how many were written.
    async fn put_vectors(&self, done: Vec<(Pending, Vec<f32>)>) -> Result<usize>;

    /// Records the embedding model of this database, or refuses a different one.
    async fn check_model(&self, model: &'static str, dim: usize) -> Result<()>;

    /// Drops every vector and records `model` as the database's model (for `reembed`).
    async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()>;

    /// Memories pinned for `role` (or for every role) and valid as `validity` says, highest
    /// priority first.
    async fn pinned_for(
        &self,
        namespace: String,
        role: String,
        validity: Validity,
    ) -> Result<Vec<Memory>>;

    /// The memories with these rowids, in their order (missing ones are skipped).
    async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>>;

    /// Where each of these memories sits in its namespace's timeline (missing ones are
    /// skipped; neighbours from another source are left out), for ranking a memory by its
    /// neighbours and by when it happened.
    async fn situate(&self, rowids: Vec<i64>) -> Result<Vec<Situated>>;

    /// When each of these memories happened, its kind and whether it has a source, in the
    /// order given (missing ones skipped): what newer-first ranking needs, without the text.
    async fn dating(&self, rowids: Vec<i64>) -> Result<Vec<Dating>>;

    /// A number that changes whenever a memory in `namespace` is written, by any process
    /// (0 for a namespace never written): bundle-cache keys of that namespace.
    async fn generation(&self, namespace: String) -> Result<i64>;

    /// The sum of every namespace's generation: changes whenever any memory is written, by
    /// any process (what subscriptions poll).
    async fn generation_sum(&self) -> Result<i64>;

    /// Number of memories within `filter` (never an expired one): `Filter::namespace(ns)`
    /// counts what `list_memories` lists, current memories; `Validity::Any` every one.
    async fn count(&self, filter: Filter) -> Result<u64>;

    /// Memories per namespace, by namespace name.
    async fn namespace_counts(&self) -> Result<Vec<(String, u64)>>;

    /// Up to `limit` memories of every namespace after row `after`, in storing order, with
    /// their rows and (in `versions`, when they have any) their earlier versions.
    async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>>;

    /// Inserts memories exactly as given (ids, timestamps, hashes, lifecycle, and the earlier
    /// versions in `versions`) in one transaction;
    /// `vectors[i]`, when there is one, belongs to `memories[i]`.
    async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>>;

    /// The stored vectors of these rowids (those that have one), for `export --vectors`.
    async fn vectors_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Vec<f32>)>>;

    /// The vectors of these memories of `namespace` for ranking right after a search of it:
    /// an engine that keeps a copy in memory answers from it.
    async fn ranking_vectors(
        &self,
        namespace: String,
        rowids: Vec<i64>,
    ) -> Result<Vec<(i64, Vec<f32>)>> {
        let _ = namespace;
        self.vectors_by_rowid(rowids).await
    }

    /// Bytes the database takes.
    async fn sizes(&self) -> Result<Sizes>;

    /// Flushes the engine's log before shutdown (SQLite's WAL); `None` when it has none.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>>;

    /// The engine's consistency check: `["ok"]`, or the problems found.
    async fn integrity_check(&self, full: bool) -> Result<Vec<String>>;

    /// The schema version the database is at.
    async fn schema_version(&self) -> Result<i64>;

    /// Updates the planner's statistics after a bulk load (PostgreSQL's `ANALYZE`: until
    /// autovacuum gets to it, a freshly imported table is planned as if it were empty).
    async fn refresh_statistics(&self) -> Result<()>;

    /// Records that the server `instance` is serving now (the fleet view of engines shared
    /// by several servers); engines without one do nothing.
    async fn announce(&self, instance: &str) -> Result<()>;

    /// Removes `instance` from the fleet view (it is stopping).
    async fn retire(&self, instance: &str) -> Result<()>;

    /// The servers heard from within `fresh` seconds; `None` when the engine has no fleet.
    async fn fleet(&self, fresh: f64) -> Result<Option<Vec<Member>>>;

    /// Writes a consistent copy of the database to the file `dest` (SQLite only; other
    /// engines say which tool backs them up).
    async fn backup_to(&self, dest: PathBuf) -> Result<()>;

    /// Stores a new access key (its id is new; the secret is only its hash).
    async fn create_key(&self, key: ApiKey) -> Result<()>;

    /// Every access key, revoked and expired ones included, oldest first.
    async fn keys(&self) -> Result<Vec<ApiKey>>;

    /// Marks key `id` revoked at `at` (a second revocation keeps the first time); the key as
    /// it now is, or none when no key has this id.
    async fn revoke_key(&self, id: String, at: String) -> Result<Option<ApiKey>>;
}
