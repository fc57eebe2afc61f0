//! Setting a database up: the `vector` extension, and the forward-only migrations (refinery,
//! `migrations/V<n>__<name>.sql`) applied one process at a time.

use deadpool_postgres::Object;

use super::columns::get;
use super::connect::{self, Target};
use crate::error::{Error, Result};

mod embedded {
    refinery::embed_migrations!("src/store/postgres/migrations");
}

/// A key for `pg_advisory_lock` that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6d656d6f72796400; // "memoryd\0"

/// Creates the `vector` extension if needed and allowed, refuses a schema newer than this
/// build, and applies the migrations this database lacks, one process at a time.
pub(super) async fn prepare(target: &Target, client: &mut Object) -> Result<()> {
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
        let (db, user): (String, String) = (get(&dbname, 0)?, get(&dbname, 1)?);
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
    let latest = latest_version();
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

/// The newest migration this build has.
pub(super) fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The newest migration applied, 0 for a fresh database.
pub(super) async fn applied_version(client: &Object) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?;
    if !get::<bool>(&row, 0)? {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM refinery_schema_history",
            &[],
        )
        .await?;
    get(&row, 0)
}
