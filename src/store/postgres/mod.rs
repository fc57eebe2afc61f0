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

mod connect;
mod sources;
mod sql;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, PoolError};
use pgvector::Vector;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use self::connect::Target;
use self::sql::Query;
use crate::error::{Error, Result};
use crate::index::IndexFootprint;
use crate::index::keyword::KeywordIndex;
use crate::memory::{self, Memory, MemoryPatch, NewMemory, embedding_text};
use crate::store::search::{in_ranked_order, ranked_pairs};
use crate::store::tokenizer::Tokenizer;
use crate::store::{
    Backend, Checkpoint, Engine, Filter, Hit, Imported, KeywordQuery, KeywordRanking, Page,
    Pending, PoolStatus, Ranked, Situated, Sizes, Stored, excerpt,
};

use connect::parse_url;

mod embedded {
    refinery::embed_migrations!("src/store/postgres/migrations");
}

/// The columns [`from_row`] reads, in its order, for a table aliased `m`.
const COLUMNS: &str = "m.id, m.namespace, m.content, m.title, m.kind, m.tags::text, \
     m.source, m.anchor, m.roles::text, m.priority, m.created_at, m.updated_at, m.occurred_at, \
     m.metadata, m.content_hash, m.context";

/// A key for `pg_advisory_lock` that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6d656d6f72796400; // "memoryd\0"

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        if let Some(db) = err.as_db_error() {
            let code = db.code().code();
            // Connection exceptions, and the server shutting down or starting up.
            if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
                return Error::Unavailable(db.message().to_string());
            }
            return Error::Database(db.message().to_string());
        }
        if err.is_closed()
            || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>())
        {
            return Error::Unavailable(err.to_string());
        }
        Error::Database(err.to_string())
    }
}

impl From<PoolError> for Error {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => {
                Error::Unavailable("no database connection could be had in time".into())
            }
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// A handle on a PostgreSQL database.
pub(crate) struct PgStore {
    /// Pooled connections; each is checked out for one call.
    pool: Pool,
    /// In-memory BM25 index, when keyword ranking uses it. Shared with blocking tasks.
    keywords: Option<Arc<KeywordIndex>>,
    /// The URL without its password.
    shown: String,
}

impl PgStore {
    /// Connects, checks the server (pgvector present, schema not newer than this build) and
    /// migrates it to this build's schema.
    pub(crate) async fn connect(url: &str, keyword_ranking: KeywordRanking) -> Result<PgStore> {
        let target = parse_url(url)?;
        let pool = connect::pool(&target)?;
        let mut client = pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => connect::connect_error(&target, e),
            PoolError::Timeout(_) => Error::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: timed out\ncheck that the server is running and reachable",
                connect::endpoint(&target.config)
            )),
            other => Error::from(other),
        })?;
        prepare(&target, &mut client).await?;
        drop(client);
        Ok(PgStore {
            pool,
            keywords: (keyword_ranking == KeywordRanking::InMemory)
                .then(|| Arc::new(KeywordIndex::new(Tokenizer::boxed))),
            shown: target.shown,
        })
    }

    async fn conn(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    async fn query(&self, q: &Query) -> Result<Vec<Row>> {
        let client = self.conn().await?;
        let stmt = client.prepare_cached(&q.text).await?;
        Ok(client.query(&stmt, &q.params()).await?)
    }
}

/// Creates the `vector` extension if needed and allowed, refuses a schema newer than this
/// build, and applies the migrations this database lacks, one process at a time.
async fn prepare(target: &Target, client: &mut Object) -> Result<()> {
    // Several processes may open a brand-new database at once (CREATE EXTENSION and the
    // migrations race otherwise); a session lock lets one of them at a time set it up.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = set_up(target, client).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    outcome
}

async fn set_up(target: &Target, client: &mut Object) -> Result<()> {
    let has_vector = client
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await?
        .is_some();
    if !has_vector {
        let available = client
            .query_opt(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'",
                &[],
            )
            .await?
            .is_some();
        let dbname = client
            .query_one("SELECT current_database(), current_user", &[])
            .await?;
        let (db, user): (String, String) = (dbname.get(0), dbname.get(1));
        if !available {
            return Err(Error::Setup(format!(
                "the PostgreSQL server at {} does not have pgvector installed\ninstall it (the postgresql-NN-pgvector package, or enable pgvector in your managed PostgreSQL), then run CREATE EXTENSION vector; in database '{db}'",
                connect::endpoint(&target.config)
            )));
        }
        if let Err(err) = client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
        {
            return Err(Error::Setup(format!(
                "database '{db}' has no 'vector' extension and user '{user}' may not create it ({})\nask an owner of the database to run: CREATE EXTENSION vector;  (it needs the CREATE privilege on database '{db}'; pgvector is a trusted extension from PostgreSQL 13 on, superuser before)",
                err.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| err.to_string())
            )));
        }
    }
    migrate(client).await
}

async fn migrate(client: &mut Object) -> Result<()> {
    let runner = embedded::migrations::runner();
    let latest = runner
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    let applied = applied_version(client).await?;
    if applied > latest {
        return Err(Error::Setup(format!(
            "the database's schema is version {applied}, newer than this memoryd knows ({latest})\nupgrade memoryd, or point it at another database"
        )));
    }
    let client: &mut tokio_postgres::Client = &mut *client;
    runner
        .run_async(client)
        .await
        .map_err(|e| Error::Migration(e.to_string()))?;
    Ok(())
}

/// The newest migration applied, 0 for a fresh database.
async fn applied_version(client: &Object) -> Result<i64> {
    let exists = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get::<_, bool>(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM refinery_schema_history",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("cannot encode JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored {column} is not valid JSON: {e}")))
}

/// Reads a memory from a row selected with [`COLUMNS`] first.
fn from_row(r: &Row) -> Result<Memory> {
    Ok(Memory {
        id: r.get(0),
        namespace: r.get(1),
        content: r.get(2),
        title: r.get(3),
        kind: r.get(4),
        tags: from_json(r.get(5), "tags")?,
        source: r.get(6),
        anchor: r.get(7),
        roles: from_json(r.get(8), "roles")?,
        priority: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
        occurred_at: r.get(12),
        metadata: from_json(r.get(13), "metadata")?,
        content_hash: r.get(14),
        context: r.get(15),
    })
}

const INSERT: &str = "INSERT INTO memories (id, namespace, content, title, kind, tags, source, \
     anchor, roles, priority, created_at, updated_at, occurred_at, metadata, content_hash, \
     context, embedding) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9::text::jsonb, \
     $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (namespace, content_hash) DO NOTHING \
     RETURNING rowid";

/// Inserts a complete row as given; its rowid, or `None` when the namespace already holds the
/// content.
async fn insert_row(
    tx: &deadpool_postgres::Transaction<'_>,
    m: &Memory,
    vector: Option<&[f32]>,
) -> Result<Option<i64>> {
    let stmt = tx.prepare_cached(INSERT).await?;
    let tags = to_json(&m.tags)?;
    let roles = to_json(&m.roles)?;
    let metadata = to_json(&m.metadata)?;
    let embedding = vector.map(|v| Vector::from(v.to_vec()));
    let row = tx
        .query_opt(
            &stmt,
            &[
                &m.id,
                &m.namespace,
                &m.content,
                &m.title,
                &m.kind,
                &tags,
                &m.source,
                &m.anchor,
                &roles,
                &m.priority,
                &m.created_at,
                &m.updated_at,
                &m.occurred_at,
                &metadata,
                &m.content_hash,
                &m.context,
                &embedding,
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn row_for_hash(
    tx: &deadpool_postgres::Transaction<'_>,
    namespace: &str,
    hash: &str,
) -> Result<Option<(String, i64)>> {
    let stmt = tx
        .prepare_cached("SELECT id, rowid FROM memories WHERE namespace = $1 AND content_hash = $2")
        .await?;
    Ok(tx
        .query_opt(&stmt, &[&namespace, &hash])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Inserts `m` (stamping id and times), or returns the memory that already has its content.
async fn insert_new(
    tx: &deadpool_postgres::Transaction<'_>,
    m: &NewMemory,
    vector: Option<&[f32]>,
) -> Result<Stored> {
    let hash = memory::content_hash(&m.content);
    if let Some((id, rowid)) = row_for_hash(tx, &m.namespace, &hash).await? {
        return Ok(Stored {
            id,
            rowid,
            deduplicated: true,
        });
    }
    let row = m.stamped(hash.clone());
    match insert_row(tx, &row, vector).await? {
        Some(rowid) => Ok(Stored {
            id: row.id,
            rowid,
            deduplicated: false,
        }),
        // Another process stored the same content between our look and our insert; the
        // unique index made us wait for its commit, so its row is visible now.
        None => {
            let (id, rowid) = row_for_hash(tx, &m.namespace, &hash)
                .await?
                .ok_or_else(|| Error::Internal("a conflicting insert left no row behind".into()))?;
            Ok(Stored {
                id,
                rowid,
                deduplicated: true,
            })
        }
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
        IndexFootprint::of(self.keywords.as_deref(), 0)
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
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT id FROM memories WHERE namespace = $1 AND content_hash = $2")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&namespace, &content_hash])
            .await?
            .map(|r| r.get(0)))
    }

    async fn insert(&self, memory: NewMemory, vector: Option<Vec<f32>>) -> Result<Stored> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stored = insert_new(&tx, &memory, vector.as_deref()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let mut out = Vec::with_capacity(memories.len());
        for (i, m) in memories.iter().enumerate() {
            let v = vectors.as_ref().map(|vs| vs[i].as_slice());
            out.push(insert_new(&tx, m, v).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn get(&self, namespace: String, id: String) -> Result<Memory> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM memories m WHERE m.namespace = $1 AND m.id = $2"
            ))
            .await?;
        match client.query_opt(&stmt, &[&namespace, &id]).await? {
            Some(row) => from_row(&row),
            None => Err(Error::NotFound { id, namespace }),
        }
    }

    async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid, m.embedding IS NOT NULL FROM memories m \
                 WHERE m.namespace = $1 AND m.id = $2 FOR UPDATE"
            ))
            .await?;
        let Some(row) = tx.query_opt(&stmt, &[&namespace, &id]).await? else {
            return Err(Error::NotFound { id, namespace });
        };
        let mut m = from_row(&row)?;
        let rowid: i64 = row.get(16);
        let had_vector: bool = row.get(17);
        let old_text = embedding_text(m.context.as_deref(), &m.content);
        if let Some(content) = &patch.content {
            let hash = memory::content_hash(content);
            if let Some((other, _)) = row_for_hash(&tx, &namespace, &hash).await?
                && other != m.id
            {
                return Err(Error::DuplicateContent {
                    existing_id: other,
                    namespace,
                });
            }
            m.content = content.clone();
            m.content_hash = hash;
        }
        patch.apply_fields(&mut m);
        m.updated_at = memory::now();
        let text = embedding_text(m.context.as_deref(), &m.content);
        let reembed = patch.content.is_some() || patch.context.is_some();
        // A vector of other text is never kept: the new one, or none until the backfill.
        let (set_vector, new_vector, missing) = if reembed && (text != old_text || !had_vector) {
            match vector {
                Some((embedded, v)) if embedded == text => (true, Some(Vector::from(v)), false),
                _ => (true, None, true),
            }
        } else {
            (false, None, false)
        };
        let tags = to_json(&m.tags)?;
        let roles = to_json(&m.roles)?;
        let metadata = to_json(&m.metadata)?;
        let stmt = tx
            .prepare_cached(
                "UPDATE memories SET content = $1, title = $2, kind = $3, tags = $4::text::jsonb, \
                 source = $5, anchor = $6, roles = $7::text::jsonb, priority = $8, \
                 occurred_at = $9, metadata = $10, content_hash = $11, updated_at = $12, \
                 context = $13, embedding = CASE WHEN $14 THEN $15 ELSE embedding END \
                 WHERE rowid = $16",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &m.content,
                &m.title,
                &m.kind,
                &tags,
                &m.source,
                &m.anchor,
                &roles,
                &m.priority,
                &m.occurred_at,
                &metadata,
                &m.content_hash,
                &m.updated_at,
                &m.context,
                &set_vector,
                &new_vector,
                &rowid,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok((m, missing))
    }

    async fn delete(&self, namespace: String, id: String) -> Result<bool> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("DELETE FROM memories WHERE namespace = $1 AND id = $2")
            .await?;
        Ok(client.execute(&stmt, &[&namespace, &id]).await? > 0)
    }

    async fn list(&self, filter: Filter, after: Option<i64>, limit: usize) -> Result<Page> {
        let mut q = Query::new(format!("SELECT {COLUMNS}, m.rowid FROM memories m WHERE "));
        q.filter(&filter);
        if let Some(after) = after {
            q.push(" AND m.rowid < ");
            q.bind(after);
        }
        q.push(" ORDER BY m.rowid DESC LIMIT ");
        // One extra row tells whether another page exists.
        q.bind(limit as i64 + 1);
        let rows = self.query(&q).await?;
        let mut memories = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows.iter().take(limit) {
            memories.push(from_row(row)?);
            last = Some(row.get::<_, i64>(16));
        }
        Ok(Page {
            next_after: if rows.len() > limit { last } else { None },
            memories,
        })
    }

    async fn keyword_ranked(
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
        let rows = self.query(&q).await?;
        Ok(ranked_pairs(rows.iter().map(|r| (r.get(0), r.get(1)))))
    }

    async fn warm_keyword_index(&self) -> Result<Option<usize>> {
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

    async fn vector_ranked(
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
        let rows = self.query(&q).await?;
        Ok(ranked_pairs(rows.iter().map(|r| (r.get(0), r.get(1)))))
    }

    async fn hits(&self, ranked: Vec<Ranked>, terms: Vec<String>) -> Result<Vec<Hit>> {
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let rowids: Vec<i64> = ranked.iter().map(|r| r.rowid).collect();
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT m.rowid, m.id, m.title, m.content, m.source, m.anchor, m.kind, \
                 m.tags::text, m.occurred_at FROM memories m WHERE m.rowid = ANY($1)",
            )
            .await?;
        let mut by_rowid: HashMap<i64, Hit> = HashMap::new();
        for r in client.query(&stmt, &[&rowids]).await? {
            let content: String = r.get(3);
            by_rowid.insert(
                r.get(0),
                Hit {
                    id: r.get(1),
                    score: 0.0,
                    title: r.get(2),
                    snippet: excerpt(&content, &terms),
                    source: r.get(4),
                    anchor: r.get(5),
                    kind: r.get(6),
                    tags: from_json(r.get(7), "tags")?,
                    occurred_at: r.get(8),
                },
            );
        }
        Ok(in_ranked_order(&ranked, by_rowid))
    }

    async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT rowid, namespace, context, content FROM memories \
                 WHERE embedding IS NULL ORDER BY rowid LIMIT $1",
            )
            .await?;
        let rows = client.query(&stmt, &[&(limit as i64)]).await?;
        Ok(rows
            .iter()
            .map(|r| Pending {
                rowid: r.get(0),
                namespace: r.get(1),
                text: embedding_text(r.get::<_, Option<&str>>(2), r.get(3)),
            })
            .collect())
    }

    async fn pending_vector_count(&self) -> Result<u64> {
        let client = self.conn().await?;
        let row = client
            .query_one("SELECT count(*) FROM memories WHERE embedding IS NULL", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn put_vectors(&self, mut done: Vec<(Pending, Vec<f32>)>) -> Result<usize> {
        // Every process with the model backfills the same pending rows. Locking them in rowid
        // order, and skipping rows another transaction holds (its process writes the same
        // vector, or a writer changes the row, which makes it pending again), keeps two
        // backfills, or a backfill and a store, from deadlocking: PostgreSQL then aborted one
        // of them with "deadlock detected", and a store failed (four processes storing at
        // once, once the model loaded quickly).
        done.sort_by_key(|(p, _)| p.rowid);
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let read = tx
            .prepare_cached(
                "SELECT context, content FROM memories WHERE rowid = $1 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let write = tx
            .prepare_cached("UPDATE memories SET embedding = $1 WHERE rowid = $2")
            .await?;
        let mut written = 0;
        for (p, vector) in done {
            let Some(row) = tx.query_opt(&read, &[&p.rowid]).await? else {
                continue;
            };
            if embedding_text(row.get::<_, Option<&str>>(0), row.get(1)) == p.text {
                tx.execute(&write, &[&Vector::from(vector), &p.rowid])
                    .await?;
                written += 1;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn check_model(&self, model: &'static str, dim: usize) -> Result<()> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        // Two processes opening a fresh database at once must record one model.
        tx.batch_execute("LOCK TABLE meta IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let rows = tx
            .query(
                "SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dim')",
                &[],
            )
            .await?;
        let get = |key: &str| {
            rows.iter()
                .find(|r| r.get::<_, &str>(0) == key)
                .map(|r| r.get::<_, String>(1))
        };
        match (get("embedding_model"), get("embedding_dim")) {
            (Some(m), Some(d)) if m == model && d == dim.to_string() => {}
            (Some(m), Some(d)) => {
                return Err(Error::ModelMismatch {
                    stored: format!("{m} ({d}-d)"),
                    configured: format!("{model} ({dim}-d)"),
                });
            }
            _ => set_model(&tx, model, dim).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE memories SET embedding = NULL WHERE embedding IS NOT NULL",
            &[],
        )
        .await?;
        // The generation moves even when no memory had a vector.
        tx.execute(
            "UPDATE store_generation SET value = value + 1 WHERE id = 1",
            &[],
        )
        .await?;
        set_model(&tx, model, dim).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pinned_for(&self, namespace: String, role: String) -> Result<Vec<Memory>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM memories m WHERE m.namespace = $1 \
                 AND m.roles <> '[]'::jsonb AND (m.roles ? $2 OR m.roles ? '*') \
                 ORDER BY m.priority DESC, m.updated_at DESC, m.rowid DESC"
            ))
            .await?;
        client
            .query(&stmt, &[&namespace, &role])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.rowid = ANY($1)"
            ))
            .await?;
        let mut found: HashMap<i64, Memory> = HashMap::new();
        for row in client.query(&stmt, &[&rowids]).await? {
            found.insert(row.get(16), from_row(&row)?);
        }
        Ok(rowids
            .iter()
            .filter_map(|r| found.remove(r).map(|m| (*r, m)))
            .collect())
    }

    async fn generation(&self) -> Result<i64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM store_generation WHERE id = 1")
            .await?;
        Ok(client.query_one(&stmt, &[]).await?.get(0))
    }

    async fn count(&self, namespace: String) -> Result<u64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM memories WHERE namespace = $1")
            .await?;
        Ok(client
            .query_one(&stmt, &[&namespace])
            .await?
            .get::<_, i64>(0) as u64)
    }

    async fn namespace_counts(&self) -> Result<Vec<(String, u64)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT namespace, count(*) FROM memories GROUP BY namespace ORDER BY namespace",
            )
            .await?;
        Ok(client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.rowid > $1 \
                 ORDER BY m.rowid LIMIT $2"
            ))
            .await?;
        client
            .query(&stmt, &[&after, &(limit as i64)])
            .await?
            .iter()
            .map(|r| Ok((r.get(16), from_row(r)?)))
            .collect()
    }

    async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let by_id = tx
            .prepare_cached("SELECT namespace, content_hash FROM memories WHERE id = $1")
            .await?;
        let mut out = Vec::with_capacity(memories.len());
        for (i, m) in memories.iter().enumerate() {
            if let Some(row) = tx.query_opt(&by_id, &[&m.id]).await? {
                let (namespace, hash): (String, String) = (row.get(0), row.get(1));
                out.push(if hash == m.content_hash && namespace == m.namespace {
                    Imported::AlreadyPresent
                } else {
                    Imported::IdConflict { namespace }
                });
                continue;
            }
            if let Some((existing_id, _)) = row_for_hash(&tx, &m.namespace, &m.content_hash).await?
            {
                out.push(Imported::DuplicateContent { existing_id });
                continue;
            }
            let v = vectors.get(i).and_then(|v| v.as_deref());
            out.push(match insert_row(&tx, m, v).await? {
                Some(_) => Imported::Inserted,
                None => Imported::DuplicateContent {
                    existing_id: row_for_hash(&tx, &m.namespace, &m.content_hash)
                        .await?
                        .map(|(id, _)| id)
                        .unwrap_or_default(),
                },
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn situate(&self, rowids: Vec<i64>) -> Result<Vec<Situated>> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.conn().await?;
        // As on SQLite: one step either way along the (namespace, occurred_at) index, the rowid
        // breaking ties; a step that lands on another source is no neighbour.
        let stmt = client
            .prepare_cached(
                "SELECT m.rowid, m.occurred_at, b.rowid, b.occurred_at, a.rowid, a.occurred_at \
                 FROM memories m \
                 LEFT JOIN LATERAL (SELECT x.rowid, x.occurred_at, x.source FROM memories x \
                     WHERE x.namespace = m.namespace \
                     AND (x.occurred_at, x.rowid) < (m.occurred_at, m.rowid) \
                     ORDER BY x.occurred_at DESC, x.rowid DESC LIMIT 1) b \
                     ON b.source IS NOT DISTINCT FROM m.source \
                 LEFT JOIN LATERAL (SELECT x.rowid, x.occurred_at, x.source FROM memories x \
                     WHERE x.namespace = m.namespace \
                     AND (x.occurred_at, x.rowid) > (m.occurred_at, m.rowid) \
                     ORDER BY x.occurred_at, x.rowid LIMIT 1) a \
                     ON a.source IS NOT DISTINCT FROM m.source \
                 WHERE m.rowid = ANY($1)",
            )
            .await?;
        let mut found: HashMap<i64, Situated> = HashMap::new();
        for r in client.query(&stmt, &[&rowids]).await? {
            let side = |i: usize| r.get::<_, Option<i64>>(i).map(|row| (row, r.get(i + 1)));
            let rowid: i64 = r.get(0);
            found.insert(
                rowid,
                Situated {
                    rowid,
                    occurred_at: r.get(1),
                    before: side(2),
                    after: side(4),
                },
            );
        }
        Ok(rowids.iter().filter_map(|r| found.remove(r)).collect())
    }

    async fn vectors_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Vec<f32>)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT rowid, embedding FROM memories \
                 WHERE rowid = ANY($1) AND embedding IS NOT NULL ORDER BY rowid",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&rowids])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get::<_, Vector>(1).to_vec()))
            .collect())
    }

    async fn sizes(&self) -> Result<Sizes> {
        let client = self.conn().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(Sizes {
            database: row.get::<_, i64>(0) as u64,
            wal: 0,
        })
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>> {
        Ok(None)
    }

    async fn integrity_check(&self, _full: bool) -> Result<Vec<String>> {
        let client = self.conn().await?;
        let mut problems = Vec::new();
        let version = applied_version(&client).await?;
        let latest = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max()
            .unwrap_or(0);
        if version != latest {
            problems.push(format!(
                "schema version {version}, this memoryd expects {latest}"
            ));
        }
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE content_hash = '') , \
                 (SELECT count(*) FROM store_generation) FROM memories",
                &[],
            )
            .await?;
        if row.get::<_, i64>(0) > 0 {
            problems.push(format!(
                "{} memories have no content hash",
                row.get::<_, i64>(0)
            ));
        }
        if row.get::<_, i64>(1) != 1 {
            problems.push("the store_generation row is missing".into());
        }
        if problems.is_empty() {
            problems.push("ok".into());
        }
        Ok(problems)
    }

    async fn schema_version(&self) -> Result<i64> {
        applied_version(&self.conn().await?).await
    }

    async fn refresh_statistics(&self) -> Result<()> {
        self.conn().await?.batch_execute("ANALYZE memories").await?;
        Ok(())
    }

    async fn announce(&self, instance: &str) -> Result<()> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO instances (id, version) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = now(), version = excluded.version",
            )
            .await?;
        client
            .execute(&stmt, &[&instance, &env!("CARGO_PKG_VERSION")])
            .await?;
        Ok(())
    }

    async fn retire(&self, instance: &str) -> Result<()> {
        let client = self.conn().await?;
        client
            .execute("DELETE FROM instances WHERE id = $1", &[&instance])
            .await?;
        Ok(())
    }

    async fn fleet(&self, fresh: f64) -> Result<Option<Vec<crate::store::Member>>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, version, extract(epoch FROM now() - seen_at)::float8 AS ago \
                 FROM instances WHERE seen_at > now() - make_interval(secs => $1) ORDER BY id",
            )
            .await?;
        Ok(Some(
            client
                .query(&stmt, &[&fresh])
                .await?
                .iter()
                .map(|r| crate::store::Member {
                    id: r.get(0),
                    version: r.get(1),
                    seen_seconds_ago: (r.get::<_, f64>(2) * 10.0).round() / 10.0,
                })
                .collect(),
        ))
    }

    async fn backup_to(&self, _dest: PathBuf) -> Result<()> {
        Err(Error::Setup(format!(
            "memoryd backup copies a SQLite file, and this store is PostgreSQL ({})\nback it up with pg_dump: pg_dump --format=custom --file=memoryd.dump 'postgres://USER@HOST/DATABASE' (or your provider's snapshots); memoryd export writes portable JSONL too",
            self.shown
        )))
    }
}

async fn set_model(tx: &deadpool_postgres::Transaction<'_>, model: &str, dim: usize) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('embedding_model', $1), ('embedding_dim', $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&model, &dim.to_string()],
    )
    .await?;
    Ok(())
}

/// A parameter of a [`Query`].
type Param = Box<dyn ToSql + Sync + Send>;
