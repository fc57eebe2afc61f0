//! The PostgreSQL engine: memories, their pgvector embedding and their full-text document in
//! one row; a pooled async client (tokio-postgres with deadpool); forward-only migrations
//! applied by refinery.
//!
//! Why tokio-postgres rather than sqlx: memoryd's queries are few and written by hand, the
//! client is natively async (no blocking pool), pipelines statements, and pgvector's crate
//! speaks its binary format. deadpool recycles connections and refinery keeps the schema
//! history in the database it migrates.
//!
//! Vector search runs in the database (HNSW over `vector(384)`). Keyword search ranks with the
//! same in-memory BM25 index as the SQLite engine (`index::keyword`), which follows
//! `text_log` so that it sees every process's writes before each search; with `[retrieval]
//! in_memory_keyword_index = false` it is PostgreSQL's own `ts_rank_cd` over a GIN-indexed
//! `tsvector` instead. The store generation that keys the bundle cache is a row every
//! writing transaction updates, so a write through any process is seen by every other on its
//! next call.
//!
//! This file holds the handle and the [`Backend`] impl, each method the inherent one of the
//! same name in: `memories.rs` (rows), `search.rs` (ranking and hits), `vectors.rs` (pending
//! vectors and the model record), `transfer.rs` (export and import), `maintenance.rs`
//! (sizes, checks, statistics, the generation), `fleet.rs` (the servers sharing the
//! database), `keys.rs` (access keys). `schema.rs` sets a database up, `connect.rs` reaches
//! it, `columns.rs` reads values out of rows and `errors.rs` maps the client's failures. The
//! rules an update or an import follow are not here: they live above the seam
//! (`store::rules`).

mod columns;
mod connect;
mod errors;
mod expiry;
mod fleet;
mod keys;
mod lifecycle;
mod maintenance;
mod memories;
mod schema;
mod search;
mod sources;
mod sql;
mod transfer;
mod vectors;

// The integration suite's throwaway server, the same file: one way to start PostgreSQL for
// tests. Its helpers for the suite's own checks go unused here.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../../tests/postgres.rs"]
mod test_server;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, PoolError};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use self::sql::Query;
use crate::error::{Error, Result};
use crate::index::IndexFootprint;
use crate::index::keyword::KeywordIndex;
use crate::index::namespaces::Resident;
use crate::memory::{Memory, MemoryPatch, NewMemory, Version};
use crate::store::tokenizer::Tokenizer;
use crate::store::{
    ApiKey, Backend, Checkpoint, Dating, Engine, Filter, Hit, Imported, KeywordQuery,
    KeywordRanking, Member, Page, Pending, PoolStatus, Ranked, Situated, Sizes, Stored, Validity,
};

/// A handle on a PostgreSQL database.
pub(crate) struct PgStore {
    /// Pooled connections; each is checked out for one call.
    pool: Pool,
    /// In-memory BM25 index, when keyword ranking uses it. Shared with blocking tasks.
    keywords: Option<Arc<KeywordIndex>>,
    /// The namespaces the keyword index has loaded, within `[limits] index_memory_bytes`.
    resident: Arc<Resident>,
    /// The URL without its password.
    shown: String,
}

impl PgStore {
    /// Connects, checks the server (pgvector present, schema not newer than this build) and
    /// migrates it to this build's schema.
    pub(crate) async fn connect(
        url: &str,
        keyword_ranking: KeywordRanking,
        index_memory_bytes: u64,
    ) -> Result<PgStore> {
        let target = connect::parse_url(url)?;
        let pool = connect::pool(&target)?;
        let mut client = pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => connect::connect_error(&target, e),
            PoolError::Timeout(_) => Error::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: timed out\ncheck that the server is running and reachable",
                connect::endpoint(&target.config)
            )),
            other => Error::from(other),
        })?;
        schema::prepare(&target, &mut client).await?;
        drop(client);
        let resident = Arc::new(Resident::new(index_memory_bytes));
        Ok(PgStore {
            pool,
            keywords: (keyword_ranking == KeywordRanking::InMemory)
                .then(|| Arc::new(KeywordIndex::new(Tokenizer::boxed, resident.clone()))),
            resident,
            shown: target.shown,
        })
    }

    /// A pooled connection for one call.
    async fn conn(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    /// Runs a statement built at run time on a pooled connection.
    async fn query(&self, q: &Query) -> Result<Vec<Row>> {
        let client = self.conn().await?;
        let stmt = client.prepare_cached(&q.text).await?;
        Ok(client.query(&stmt, &q.params()).await?)
    }
}

#[async_trait]
impl Backend for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn location(&self) -> String {
        self.shown.clone()
    }

    fn index_footprint(&self) -> IndexFootprint {
        // Nearest neighbours are pgvector's: no vectors are copied into this process.
        IndexFootprint::of(&self.resident, self.keywords.as_deref())
    }

    fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            size: status.size as u64,
            in_use: (status.size - status.available) as u64,
            waiting: status.waiting as u64,
        }
    }

    async fn ping(&self) -> Result<()> {
        self.conn().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn id_for_content(
        &self,
        namespace: String,
        content_hash: String,
    ) -> Result<Option<String>> {
        PgStore::id_for_content(self, namespace, content_hash).await
    }

    async fn insert(&self, memory: NewMemory, vector: Option<Vec<f32>>) -> Result<Stored> {
        PgStore::insert(self, memory, vector).await
    }

    async fn insert_superseding(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
        supersedes: Vec<String>,
    ) -> Result<Stored> {
        PgStore::insert_superseding(self, memory, vector, supersedes).await
    }

    async fn versions(&self, id: String) -> Result<Vec<Version>> {
        PgStore::versions(self, id).await
    }

    async fn superseded_by_memory(&self, namespace: String, id: String) -> Result<Vec<String>> {
        PgStore::superseded_by(self, namespace, id).await
    }

    async fn superseded_count(&self) -> Result<u64> {
        PgStore::superseded_count(self).await
    }

    async fn expired_count(&self, now: String) -> Result<u64> {
        PgStore::expired_count(self, now).await
    }

    async fn next_expiry(&self, namespace: String, now: String) -> Result<Option<String>> {
        PgStore::next_expiry(self, namespace, now).await
    }

    async fn notice_expired(&self, since: String, now: String) -> Result<u64> {
        PgStore::notice_expired(self, since, now).await
    }

    async fn purge_expired(&self, cutoff: String, limit: usize) -> Result<Option<u64>> {
        PgStore::purge_expired(self, cutoff, limit).await
    }

    async fn get_any(&self, namespace: String, id: String) -> Result<Memory> {
        PgStore::get_any(self, namespace, id).await
    }

    async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>> {
        PgStore::insert_many(self, memories, vectors).await
    }

    async fn get(&self, namespace: String, id: String) -> Result<Memory> {
        PgStore::get(self, namespace, id).await
    }

    async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)> {
        PgStore::update(self, namespace, id, patch, vector).await
    }

    async fn delete(&self, namespace: String, id: String) -> Result<bool> {
        PgStore::delete(self, namespace, id).await
    }

    async fn list(&self, filter: Filter, after: Option<i64>, limit: usize) -> Result<Page> {
        PgStore::list(self, filter, after, limit).await
    }

    async fn keyword_ranked(
        &self,
        query: KeywordQuery,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        PgStore::keyword_ranked(self, query, filter, limit).await
    }

    async fn warm_keyword_statistics(&self) -> Result<Option<u64>> {
        PgStore::warm_keyword_statistics(self).await
    }

    async fn vector_ranked(
        &self,
        query: Arc<Vec<f32>>,
        filter: Filter,
        k: usize,
    ) -> Result<Vec<Ranked>> {
        PgStore::vector_ranked(self, query, filter, k).await
    }

    async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>> {
        PgStore::hits(self, ranked, terms).await
    }

    async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>> {
        PgStore::pending_vectors(self, limit).await
    }

    async fn pending_vector_count(&self) -> Result<u64> {
        PgStore::pending_vector_count(self).await
    }

    async fn put_vectors(&self, done: Vec<(Pending, Vec<f32>)>) -> Result<usize> {
        PgStore::put_vectors(self, done).await
    }

    async fn check_model(&self, model: &'static str, dim: usize) -> Result<()> {
        PgStore::check_model(self, model, dim).await
    }

    async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()> {
        PgStore::reset_vectors(self, model, dim).await
    }

    async fn pinned_for(
        &self,
        namespace: String,
        role: String,
        validity: Validity,
    ) -> Result<Vec<Memory>> {
        PgStore::pinned_for(self, namespace, role, validity).await
    }

    async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>> {
        PgStore::memories_by_rowid(self, rowids).await
    }

    async fn situate(&self, rowids: Vec<i64>) -> Result<Vec<Situated>> {
        PgStore::situate(self, rowids).await
    }

    async fn dating(&self, rowids: Vec<i64>) -> Result<Vec<Dating>> {
        PgStore::dating(self, rowids).await
    }

    async fn generation(&self, namespace: String) -> Result<i64> {
        PgStore::generation(self, namespace).await
    }

    async fn generation_sum(&self) -> Result<i64> {
        PgStore::generation_sum(self).await
    }

    async fn count(&self, filter: Filter) -> Result<u64> {
        PgStore::count(self, filter).await
    }

    async fn namespace_counts(&self) -> Result<Vec<(String, u64)>> {
        PgStore::namespace_counts(self).await
    }

    async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
        PgStore::export_page(self, after, limit).await
    }

    async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>> {
        PgStore::import_memories(self, memories, vectors).await
    }

    async fn vectors_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Vec<f32>)>> {
        PgStore::vectors_by_rowid(self, rowids).await
    }

    async fn sizes(&self) -> Result<Sizes> {
        PgStore::sizes(self).await
    }

    /// PostgreSQL checkpoints by itself: nothing to flush.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        Ok(None)
    }

    async fn integrity_check(&self, full: bool) -> Result<Vec<String>> {
        PgStore::integrity_check(self, full).await
    }

    async fn schema_version(&self) -> Result<i64> {
        schema::applied_version(&self.conn().await?).await
    }

    async fn refresh_statistics(&self) -> Result<()> {
        PgStore::refresh_statistics(self).await
    }

    async fn announce(&self, instance: &str) -> Result<()> {
        PgStore::announce(self, instance).await
    }

    async fn retire(&self, instance: &str) -> Result<()> {
        PgStore::retire(self, instance).await
    }

    async fn fleet(&self, fresh: f64) -> Result<Option<Vec<Member>>> {
        PgStore::fleet(self, fresh).await.map(Some)
    }

    async fn create_key(&self, key: ApiKey) -> Result<()> {
        PgStore::create_key(self, key).await
    }

    async fn keys(&self) -> Result<Vec<ApiKey>> {
        PgStore::keys(self).await
    }

    async fn revoke_key(&self, id: String, at: String) -> Result<Option<ApiKey>> {
        PgStore::revoke_key(self, id, at).await
    }

    async fn backup_to(&self, _dest: PathBuf) -> Result<()> {
        Err(Error::Setup(format!(
            "memoryd backup copies a SQLite file, and this store is PostgreSQL ({})\nback it up with pg_dump: pg_dump --format=custom --file=memoryd.dump 'postgres://USER@HOST/DATABASE' (or your provider's snapshots); memoryd export writes portable JSONL too",
            self.shown
        )))
    }
}

/// A parameter of a [`Query`].
type Param = Box<dyn ToSql + Sync + Send>;
