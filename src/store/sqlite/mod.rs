//! The SQLite engine: one database file, one writer, a pool of readers.
//!
//! Owns the connection setup (WAL, busy timeout), the versioned migrations, and every SQL
//! statement memoryd runs. It does not embed, rank or count tokens.
//!
//! Why one writer and several readers: SQLite allows one write transaction at a time per
//! database. Inside a process, writes queue on a mutex instead of racing for the file lock;
//! across processes (several `memoryd stdio` on one data dir) every write transaction starts
//! with `BEGIN IMMEDIATE`, so it takes the write lock up front and waits in SQLite's busy
//! handler rather than failing half-way with "database is locked". Readers never block the
//! writer in WAL mode.

mod backend;
mod expiry;
mod filter;
mod fts;
mod keys;
mod maintenance;
mod memories;
#[cfg(test)]
mod ranking_tests;
mod sources;
mod transfer;
mod vectors;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::error::{Error, Result};
use crate::index::keyword::KeywordIndex;
use crate::index::namespaces::Resident;
use crate::index::vectors::VectorIndex;
use crate::memory::{Memory, MemoryPatch, NewMemory};
use crate::store::rules::{self, VectorWrite};
use crate::store::tokenizer::Tokenizer;
use crate::store::{
    Filter, Hit, KeywordQuery, KeywordRanking, Page, Pending, Ranked, Stored, Validity,
};

pub use maintenance::verify_copy;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Database(err.to_string())
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(err: rusqlite_migration::Error) -> Self {
        Error::Migration(err.to_string())
    }
}

impl From<r2d2::Error> for Error {
    fn from(err: r2d2::Error) -> Self {
        Error::Database(format!("reader pool: {err}"))
    }
}

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Reader connections kept per process.
const READERS: u32 = 4;

/// The forward-only schema history. Never edit a shipped entry; add a new file.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_vectors.sql")),
        M::up(include_str!("migrations/0003_context.sql")),
        M::up(include_str!("migrations/0004_generation.sql")),
        M::up(include_str!("migrations/0005_pinned_index.sql")),
        M::up(include_str!("migrations/0006_vector_log.sql")),
        M::up(include_str!("migrations/0007_text_log.sql")),
        M::up(include_str!("migrations/0008_lifecycle.sql")),
        M::up(include_str!("migrations/0009_expiry.sql")),
        M::up(include_str!("migrations/0010_access.sql")),
        M::up(include_str!("migrations/0011_namespace_generation.sql")),
        M::up(include_str!("migrations/0012_namespace_counts.sql")),
    ])
}

/// Makes sqlite-vec's `vec0` available to every connection this process opens. SQLite's
/// auto-extension list is process-wide, so this runs once, before the first open.
fn register_sqlite_vec() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_vec_init has the signature SQLite expects of an extension entry
        // point; sqlite-vec documents registering it this way.
        unsafe {
            type Init = unsafe extern "C" fn(
                *mut rusqlite::ffi::sqlite3,
                *mut *mut std::os::raw::c_char,
                *const rusqlite::ffi::sqlite3_api_routines,
            ) -> std::os::raw::c_int;
            let init: Init = std::mem::transmute(sqlite_vec::sqlite3_vec_init as *const ());
            rusqlite::ffi::sqlite3_auto_extension(Some(init));
        }
    });
}

/// A cheap-to-clone handle on a SQLite database.
#[derive(Clone)]
pub(crate) struct SqliteStore(Arc<Inner>);

struct Inner {
    /// The one connection that writes. A std mutex: it is only taken inside
    /// `spawn_blocking`, never across an `.await`.
    writer: Mutex<Connection>,
    /// Read-only connections, handed out per query.
    readers: r2d2::Pool<SqliteConnectionManager>,
    /// In-memory copy of the vectors, for fast KNN.
    index: VectorIndex,
    /// The namespaces both in-memory indexes have loaded, within `[limits]
    /// index_memory_bytes`.
    resident: Arc<Resident>,
    /// In-memory BM25 index, when keyword ranking uses it.
    keywords: Option<KeywordIndex>,
    /// The database file, for its size on disk.
    path: PathBuf,
    /// Namespaces where ranking the whole full-text index first does not pay.
    keyword_plan: KeywordPlan,
}

/// Remembers the namespaces for which [`fts::ranked`]'s index-first pass came up short (small
/// namespaces beside big ones), so the next searches there skip it, and tries it again now
/// and then in case the namespace has grown.
#[derive(Default)]
struct KeywordPlan {
    /// Searches left that skip the first pass, by namespace. A std mutex, held for a lookup.
    skip: Mutex<std::collections::HashMap<String, u32>>,
}

/// Searches that skip the index-first pass after it came up short once.
const SKIP_INDEX_FIRST: u32 = 64;

impl KeywordPlan {
    fn index_first(&self, namespace: &str) -> bool {
        let mut skip = self.skip.lock().unwrap_or_else(|p| p.into_inner());
        match skip.get_mut(namespace) {
            Some(left) if *left > 0 => {
                *left -= 1;
                false
            }
            _ => true,
        }
    }

    fn record(&self, namespace: String, worked: bool) {
        let mut skip = self.skip.lock().unwrap_or_else(|p| p.into_inner());
        if worked {
            skip.remove(&namespace);
        } else {
            skip.insert(namespace, SKIP_INDEX_FIRST);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it to the current
    /// schema, ranking keywords in memory.
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, KeywordRanking::InMemory)
    }

    /// [`Store::open`] with a choice of keyword ranking and the default index budget.
    #[cfg(test)]
    pub fn open_with(path: &Path, keyword_ranking: KeywordRanking) -> Result<SqliteStore> {
        let budget = crate::config::Limits::default().index_memory_bytes;
        SqliteStore::open_within(path, keyword_ranking, budget)
    }

    /// Opens the database at `path` with a choice of keyword ranking, its in-memory indexes
    /// holding at most about `index_memory_bytes`.
    pub fn open_within(
        path: &Path,
        keyword_ranking: KeywordRanking,
        index_memory_bytes: u64,
    ) -> Result<SqliteStore> {
        register_sqlite_vec();
        let writer = {
            // Several processes may open a brand-new data dir at once; the migration library
            // reads the schema version outside its transaction, so serialise setup with a lock
            // file to make sure exactly one of them creates the schema.
            let lock_path = path.with_extension("lock");
            let lock = File::create(&lock_path).map_err(|source| Error::Io {
                context: format!("cannot create lock file {}", lock_path.display()),
                source,
            })?;
            lock.lock().map_err(|source| Error::Io {
                context: format!("cannot lock {}", lock_path.display()),
                source,
            })?;
            let mut conn = Connection::open(path)?;
            configure(&conn)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.set_transaction_behavior(TransactionBehavior::Immediate);
            migrations().to_latest(&mut conn)?;
            conn
            // the lock file is unlocked when `lock` drops here
        };

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                configure(c)?;
                c.pragma_update(None, "query_only", true)
            });
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .build(manager)?;

        let resident = Arc::new(Resident::new(index_memory_bytes));
        Ok(SqliteStore(Arc::new(Inner {
            writer: Mutex::new(writer),
            readers,
            index: VectorIndex::new(resident.clone()),
            keywords: (keyword_ranking == KeywordRanking::InMemory)
                .then(|| KeywordIndex::new(Tokenizer::boxed, resident.clone())),
            resident,
            path: path.to_path_buf(),
            keyword_plan: KeywordPlan::default(),
        })))
    }

    /// Runs `f` on a reader connection in the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers.get()?;
            f(&conn)
        })
        .await?
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; commits only on `Ok`.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T> + Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside a previous write poisons the mutex but leaves the connection
            // usable (its transaction rolled back on drop), so keep going.
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await?
    }

    /// Id of the memory holding exactly this content in the namespace, if any.
    pub async fn id_for_content(
        &self,
        namespace: String,
        content_hash: String,
    ) -> Result<Option<String>> {
        self.read(move |c| memories::id_for_hash(c, &namespace, &content_hash))
            .await
    }

    /// Inserts a memory (with its vector when one was made), or returns the existing one with
    /// the same content in its namespace.
    pub async fn insert(&self, memory: NewMemory, vector: Option<Vec<f32>>) -> Result<Stored> {
        self.insert_superseding(memory, vector, Vec::new()).await
    }

    /// [`SqliteStore::insert`], and the memories `supersedes` names marked as superseded by
    /// the stored one in the same transaction (nothing is written when one is refused).
    pub async fn insert_superseding(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
        supersedes: Vec<String>,
    ) -> Result<Stored> {
        self.write(move |tx| {
            let stored = memories::insert(tx, &memory)?;
            if !supersedes.is_empty() {
                let by = memories::get(tx, &memory.namespace, &stored.id)?;
                memories::supersede(tx, &by, &supersedes)?;
            }
            if let (false, Some(v)) = (stored.deduplicated, vector) {
                vectors::put(tx, stored.rowid, &memory.namespace, &v)?;
            }
            Ok(stored)
        })
        .await
    }

    /// Inserts many memories in one transaction; `vectors[i]` belongs to `memories[i]`.
    pub async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>> {
        self.write(move |tx| {
            let mut out = Vec::with_capacity(memories.len());
            for (i, m) in memories.iter().enumerate() {
                let stored = memories::insert(tx, m)?;
                if let (false, Some(vs)) = (stored.deduplicated, &vectors) {
                    vectors::put(tx, stored.rowid, &m.namespace, &vs[i])?;
                }
                out.push(stored);
            }
            Ok(out)
        })
        .await
    }

    /// Fetches one memory by id within a namespace.
    pub async fn get(&self, namespace: String, id: String) -> Result<Memory> {
        self.read(move |c| memories::get(c, &namespace, &id)).await
    }

    /// Applies a patch to one memory and returns it as stored, with whether it now lacks a
    /// vector. `vector` is (text embedded, its embedding) for the memory as patched; it is
    /// written only if the stored memory's text is exactly that (a concurrent update may have
    /// changed it), otherwise the memory waits for the backfill.
    pub async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)> {
        self.write(move |tx| {
            let (current, rowid) = memories::fetch(tx, &namespace, &id)?;
            let had_vector = vectors::has_vector(tx, rowid)?;
            let patched = rules::update(current, &patch)?;
            if let Some(hash) = &patched.duplicate_check {
                patched.refuse_duplicate(memories::id_for_hash(tx, &namespace, hash)?)?;
                expiry::purge_expired_holder(tx, &namespace, hash)?;
            }
            let (change, missing) = patched.vector(had_vector, vector);
            if let Some(previous) = &patched.previous {
                // Triggers drop the vector of changed text in the same statement.
                memories::rewrite(tx, rowid, &patched.memory)?;
                memories::put_version(tx, &patched.memory.id, previous)?;
            }
            if let Some(expires_at) = &patched.expiry {
                expiry::set(tx, rowid, expires_at.as_deref())?;
            }
            match change {
                VectorWrite::Keep => {}
                VectorWrite::Put(v) => vectors::put(tx, rowid, &namespace, &v)?,
                VectorWrite::Clear => vectors::remove(tx, rowid)?,
            }
            memories::supersede(tx, &patched.memory, &patch.supersedes)?;
            Ok((patched.memory, missing))
        })
        .await
    }

    /// Deletes one memory; `false` when there was none with that id.
    pub async fn delete(&self, namespace: String, id: String) -> Result<bool> {
        self.write(move |tx| memories::delete(tx, &namespace, &id))
            .await
    }

    /// One page of memories, newest first.
    pub async fn list(&self, filter: Filter, after: Option<i64>, limit: usize) -> Result<Page> {
        self.read(move |c| memories::list(c, &filter, after, limit))
            .await
    }

    /// BM25 ranking of memories within `filter` containing any of the query's terms (see
    /// [`query_terms`](crate::store::query_terms)), best first. FTS5's `bm25()` (without the
    /// in-memory index) ignores `namespace_idf_floor` and `length_normalisation`.
    pub async fn keyword_ranked(
        &self,
        query: KeywordQuery,
        filter: Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        if query.terms.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.0.clone();
        self.read(move |c| {
            if let Some(index) = &inner.keywords {
                let mut source = sources::Source::text(c, &filter);
                return index.ranked(
                    &mut source,
                    &query,
                    &filter.namespace,
                    filter.narrows(),
                    !filter.validity.skips_superseded(),
                    limit,
                );
            }
            let expression = fts::expression(&query.terms);
            let namespace = filter.namespace.clone();
            let index_first = inner.keyword_plan.index_first(&namespace);
            let (ranked, worked) = fts::ranked(c, &expression, &filter, limit, index_first)?;
            if index_first {
                inner.keyword_plan.record(namespace, worked);
            }
            Ok(ranked)
        })
        .await
    }

    /// Loads the database-wide keyword statistics now rather than on the first search; the
    /// number of memories they count, or `None` when keyword ranking does not use them.
    pub async fn warm_keyword_statistics(&self) -> Result<Option<u64>> {
        let inner = self.0.clone();
        self.read(move |c| match &inner.keywords {
            Some(index) => index
                .warm(&mut sources::Source::text(c, &Filter::default()))
                .map(Some),
            None => Ok(None),
        })
        .await
    }

    /// The `k` memories nearest to `query` within `filter`, nearest first.
    pub async fn vector_ranked(
        &self,
        query: Arc<Vec<f32>>,
        filter: Filter,
        k: usize,
    ) -> Result<Vec<Ranked>> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.readers.get()?;
            vectors::knn(&conn, &inner.index, &query, &filter, k)
        })
        .await?
    }

    /// Full search hits for ranked candidates, in order, with excerpts around `terms`.
    pub async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>> {
        self.read(move |c| fts::hits(c, &ranked, &terms)).await
    }

    /// Up to `limit` memories still waiting for a vector.
    pub async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>> {
        self.read(move |c| vectors::pending(c, limit)).await
    }

    /// Number of memories still waiting for a vector.
    pub async fn pending_vector_count(&self) -> Result<u64> {
        self.read(vectors::pending_count).await
    }

    /// Stores vectors made for pending memories (skipping any whose content changed since);
    /// returns how many were written.
    pub async fn put_vectors(&self, done: Vec<(Pending, Vec<f32>)>) -> Result<usize> {
        self.write(move |tx| vectors::put_pending(tx, &done)).await
    }

    /// Records the embedding model of this database, or refuses a different one.
    pub async fn check_model(&self, model: &'static str, dim: usize) -> Result<()> {
        self.write(move |tx| vectors::check_model(tx, model, dim))
            .await
    }

    /// Drops every vector and records `model` as the database's model (for `reembed`).
    pub async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()> {
        self.write(move |tx| {
            vectors::clear(tx)?;
            vectors::set_model(tx, model, dim)
        })
        .await
    }

    /// Memories pinned for `role` (or for every role) and valid as `validity` says, highest
    /// priority first.
    pub async fn pinned_for(
        &self,
        namespace: String,
        role: String,
        validity: Validity,
    ) -> Result<Vec<Memory>> {
        self.read(move |c| memories::pinned_for(c, &namespace, &role, &validity))
            .await
    }

    /// The memories with these rowids, in their order (missing ones are skipped).
    pub async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>> {
        self.read(move |c| memories::by_rowid(c, &rowids)).await
    }

    /// A number that changes whenever a memory in `namespace` is written, by any process.
    pub async fn generation(&self, namespace: String) -> Result<i64> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT ifnull((SELECT value FROM namespace_generations WHERE namespace = ?1), 0)",
            )?
            .query_row(rusqlite::params![namespace], |r| r.get(0))?)
        })
        .await
    }

    /// The sum of every namespace's generation: changes whenever any memory is written.
    pub async fn generation_sum(&self) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT ifnull(sum(value), 0) FROM namespace_generations")?
                    .query_row([], |r| r.get(0))?,
            )
        })
        .await
    }

    /// Number of memories within `filter`.
    pub async fn count(&self, filter: Filter) -> Result<u64> {
        self.read(move |c| memories::count(c, &filter)).await
    }

    /// Memories per namespace, by namespace name.
    pub async fn namespace_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read(memories::namespace_counts).await
    }

    /// Bytes on disk of the database file and of its write-ahead log (0 for a missing file).
    pub fn file_sizes(&self) -> (u64, u64) {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.0.path.clone().into_os_string();
        wal.push("-wal");
        (size(&self.0.path), size(Path::new(&wal)))
    }
}

/// Settings every connection needs, writer or reader.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // NORMAL is durable across process crashes in WAL mode; only a power cut can lose the
    // last transactions, never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_plan_skips_the_index_first_pass_for_a_while_after_it_came_up_short() {
        let plan = KeywordPlan::default();
        assert!(plan.index_first("small"));
        plan.record("small".into(), false);
        for _ in 0..SKIP_INDEX_FIRST {
            assert!(!plan.index_first("small"));
        }
        assert!(plan.index_first("small"), "tried again in case it grew");
        assert!(plan.index_first("big"), "other namespaces are unaffected");
        plan.record("small".into(), true);
        assert!(plan.index_first("small"));
    }

    #[test]
    fn migrations_are_valid() {
        register_sqlite_vec();
        migrations().validate().unwrap();
    }
}
