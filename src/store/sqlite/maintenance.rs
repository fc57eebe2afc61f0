//! Keeping the database file healthy: WAL checkpoints, integrity checks, the schema version,
//! and online backups.
//!
//! Everything here runs while other processes (a daemon, agents' `memoryd stdio`) keep
//! reading and writing the same file.

use std::path::PathBuf;

use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::SqliteStore;
use crate::error::{Error, Result};
use crate::store::Checkpoint;

impl SqliteStore {
    /// Copies the WAL into the database and truncates it, through the writer (so no write of
    /// this process is in flight). Servers call it last on shutdown.
    pub async fn checkpoint(&self) -> Result<Checkpoint> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            Ok(conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok(Checkpoint {
                    busy: r.get::<_, i64>(0)? != 0,
                    wal_frames: r.get(1)?,
                    checkpointed: r.get(2)?,
                })
            })?)
        })
        .await?
    }

    /// `PRAGMA integrity_check` (`full`) or `quick_check`: `["ok"]` for a sound file,
    /// otherwise the problems SQLite found.
    pub async fn integrity_check(&self, full: bool) -> Result<Vec<String>> {
        self.read(move |c| integrity(c, full)).await
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub async fn schema_version(&self) -> Result<i64> {
        self.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .await
    }

    /// Writes a consistent copy of the database to `dest` with SQLite's online backup API.
    /// The copy is one snapshot: writes by other connections during the backup are not in it
    /// and do not wait for it (in WAL mode a reader never blocks a writer).
    pub async fn backup_to(&self, dest: PathBuf) -> Result<()> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let src = inner.readers.get()?;
            let mut dst = Connection::open(&dest)?;
            {
                let backup = Backup::new(&src, &mut dst)?;
                // All pages in one step: one read transaction, so one consistent snapshot that
                // never restarts because someone wrote.
                backup.step(-1)?;
            }
            // The copy is a plain rollback-journal file until someone opens it as a store.
            dst.close().map_err(|(_, e)| Error::from(e))?;
            Ok(())
        })
        .await?
    }
}

/// `PRAGMA integrity_check` or `quick_check` on any connection.
pub(super) fn integrity(conn: &Connection, full: bool) -> Result<Vec<String>> {
    let pragma = if full {
        "PRAGMA integrity_check"
    } else {
        "PRAGMA quick_check"
    };
    let mut stmt = conn.prepare(pragma)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Checks a backup copy at `path`: its integrity-check problems (`["ok"]` when sound) and how
/// many memories it holds.
pub fn verify_copy(path: &std::path::Path) -> Result<(Vec<String>, u64)> {
    let copy = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let problems = integrity(&copy, true)?;
    let memories: i64 = copy.query_row("SELECT count(*) FROM memories", [], |r| r.get(0))?;
    Ok((problems, memories as u64))
}
