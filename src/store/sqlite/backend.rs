//! The SQLite engine's side of the storage seam: `store::Backend` for [`SqliteStore`]. Each
//! method runs one statement module's function on a reader or the writer, or is the inherent
//! method of the same name; the SQL is in the sibling files and no rule is decided here.

use std::path::PathBuf;
use std::sync::Arc;

use super::{SqliteStore, expiry, keys, memories, vectors};
use crate::error::Result;
use crate::index::IndexFootprint;
use crate::memory::{Memory, MemoryPatch, NewMemory, Version};
use crate::store::{
    ApiKey, Backend, Checkpoint, Dating, Engine, Filter, Hit, Imported, KeywordQuery, Page,
    Pending, PoolStatus, Ranked, Situated, Sizes, Stored, Validity,
};

/// Each method is the inherent one of the same name (they are kept inherent so that unit
/// tests and the maintenance code can call them without the trait).
#[async_trait::async_trait]
impl Backend for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn location(&self) -> String {
        self.0.path.display().to_string()
    }

    fn index_footprint(&self) -> IndexFootprint {
        IndexFootprint::of(&self.0.resident, self.0.keywords.as_ref())
    }

    fn pool_status(&self) -> PoolStatus {
        let state = self.0.readers.state();
        PoolStatus {
            size: u64::from(state.connections) + 1,
            in_use: u64::from(state.connections - state.idle_connections),
            waiting: 0,
        }
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn id_for_content(
        &self,
        namespace: String,
        content_hash: String,
    ) -> Result<Option<String>> {
        SqliteStore::id_for_content(self, namespace, content_hash).await
    }

    async fn insert(&self, memory: NewMemory, vector: Option<Vec<f32>>) -> Result<Stored> {
        SqliteStore::insert(self, memory, vector).await
    }

    async fn insert_superseding(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
        supersedes: Vec<String>,
    ) -> Result<Stored> {
        SqliteStore::insert_superseding(self, memory, vector, supersedes).await
    }

    async fn versions(&self, id: String) -> Result<Vec<Version>> {
        self.read(move |c| memories::versions(c, &id)).await
    }

    async fn superseded_by_memory(&self, namespace: String, id: String) -> Result<Vec<String>> {
        self.read(move |c| memories::superseded_by(c, &namespace, &id))
            .await
    }

    async fn superseded_count(&self) -> Result<u64> {
        self.read(memories::superseded_count).await
    }

    async fn expired_count(&self, now: String) -> Result<u64> {
        self.read(move |c| expiry::expired_count(c, &now)).await
    }

    async fn next_expiry(&self, namespace: String, now: String) -> Result<Option<String>> {
        self.read(move |c| expiry::next(c, &namespace, &now)).await
    }

    async fn notice_expired(&self, since: String, now: String) -> Result<u64> {
        self.write(move |tx| expiry::notice(tx, &since, &now)).await
    }

    async fn purge_expired(&self, cutoff: String, limit: usize) -> Result<Option<u64>> {
        // One process writes at a time already (the write lock): no lock of a fleet needed.
        self.write(move |tx| expiry::purge(tx, &cutoff, limit))
            .await
            .map(Some)
    }

    async fn get_any(&self, namespace: String, id: String) -> Result<Memory> {
        self.read(move |c| expiry::get_any(c, &namespace, &id))
            .await
    }

    async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>> {
        SqliteStore::insert_many(self, memories, vectors).await
    }

    async fn get(&self, namespace: String, id: String) -> Result<Memory> {
        SqliteStore::get(self, namespace, id).await
    }

    async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)> {
        SqliteStore::update(self, namespace, id, patch, vector).await
    }

    async fn delete(&self, namespace: String, id: String) -> Result<bool> {
        SqliteStore::delete(self, namespace, id).await
    }

    async fn list(&self, filter: Filter, after: Option<i64>, limit: usize) -> Result<Page> {
        SqliteStore::list(self, filter, after, limit).await
    }

    async fn keyword_ranked(
        &self,
        query: KeywordQuery,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        SqliteStore::keyword_ranked(self, query, filter, limit).await
    }

    async fn warm_keyword_statistics(&self) -> Result<Option<u64>> {
        SqliteStore::warm_keyword_statistics(self).await
    }

    async fn vector_ranked(
        &self,
        query: Arc<Vec<f32>>,
        filter: Filter,
        k: usize,
    ) -> Result<Vec<Ranked>> {
        SqliteStore::vector_ranked(self, query, filter, k).await
    }

    async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>> {
        SqliteStore::hits(self, ranked, terms).await
    }

    async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>> {
        SqliteStore::pending_vectors(self, limit).await
    }

    async fn pending_vector_count(&self) -> Result<u64> {
        SqliteStore::pending_vector_count(self).await
    }

    async fn put_vectors(&self, done: Vec<(Pending, Vec<f32>)>) -> Result<usize> {
        SqliteStore::put_vectors(self, done).await
    }

    async fn check_model(&self, model: &'static str, dim: usize) -> Result<()> {
        SqliteStore::check_model(self, model, dim).await
    }

    async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()> {
        SqliteStore::reset_vectors(self, model, dim).await
    }

    async fn pinned_for(
        &self,
        namespace: String,
        role: String,
        validity: Validity,
    ) -> Result<Vec<Memory>> {
        SqliteStore::pinned_for(self, namespace, role, validity).await
    }

    async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>> {
        SqliteStore::memories_by_rowid(self, rowids).await
    }

    async fn situate(&self, rowids: Vec<i64>) -> Result<Vec<Situated>> {
        self.read(move |c| memories::situate(c, &rowids)).await
    }

    async fn dating(&self, rowids: Vec<i64>) -> Result<Vec<Dating>> {
        self.read(move |c| memories::dating(c, &rowids)).await
    }

    async fn generation(&self, namespace: String) -> Result<i64> {
        SqliteStore::generation(self, namespace).await
    }

    async fn generation_sum(&self) -> Result<i64> {
        SqliteStore::generation_sum(self).await
    }

    async fn count(&self, filter: Filter) -> Result<u64> {
        SqliteStore::count(self, filter).await
    }

    async fn namespace_counts(&self) -> Result<Vec<(String, u64)>> {
        SqliteStore::namespace_counts(self).await
    }

    async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
        SqliteStore::export_page(self, after, limit).await
    }

    async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>> {
        SqliteStore::import_memories(self, memories, vectors).await
    }

    async fn ranking_vectors(
        &self,
        namespace: String,
        rowids: Vec<i64>,
    ) -> Result<Vec<(i64, Vec<f32>)>> {
        match self.0.index.held(&namespace, &rowids) {
            Some(held) if held.len() == rowids.len() => Ok(held),
            _ => self.read(move |c| vectors::by_rowid(c, &rowids)).await,
        }
    }

    async fn vectors_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Vec<f32>)>> {
        self.read(move |c| vectors::by_rowid(c, &rowids)).await
    }

    async fn sizes(&self) -> Result<Sizes> {
        let (database, wal) = self.file_sizes();
        Ok(Sizes { database, wal })
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        SqliteStore::checkpoint(self).await.map(Some)
    }

    async fn integrity_check(&self, full: bool) -> Result<Vec<String>> {
        SqliteStore::integrity_check(self, full).await
    }

    async fn schema_version(&self) -> Result<i64> {
        SqliteStore::schema_version(self).await
    }

    async fn create_key(&self, key: ApiKey) -> Result<()> {
        self.write(move |tx| keys::create(tx, &key)).await
    }

    async fn keys(&self) -> Result<Vec<ApiKey>> {
        self.read(keys::all).await
    }

    async fn revoke_key(&self, id: String, at: String) -> Result<Option<ApiKey>> {
        self.write(move |tx| keys::revoke(tx, &id, &at)).await
    }

    async fn backup_to(&self, dest: PathBuf) -> Result<()> {
        SqliteStore::backup_to(self, dest).await
    }

    /// SQLite plans without table statistics here (no `sqlite_stat1`): nothing to refresh.
    async fn refresh_statistics(&self) -> Result<()> {
        Ok(())
    }

    /// One file has one server (the runtime file says which): no fleet to record.
    async fn announce(&self, _instance: &str) -> Result<()> {
        Ok(())
    }

    async fn retire(&self, _instance: &str) -> Result<()> {
        Ok(())
    }

    async fn fleet(&self, _fresh: f64) -> Result<Option<Vec<crate::store::Member>>> {
        Ok(None)
    }
}
