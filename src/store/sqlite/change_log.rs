//! Reading the change logs (`vector_log`, `text_log`) that keep each process's in-memory
//! indexes in step with the database, whichever process wrote.
//!
//! A log is a table of `(seq, memory_rowid)` appended in the writing transaction, with only
//! the recent past kept. An index remembers the last `seq` it reflects; before each search it
//! asks what changed since, and re-reads just those memories, or reloads whole when it fell
//! too far behind to tell.

use std::collections::HashSet;

use rusqlite::{Connection, params};

use crate::error::Result;

/// More unseen changes than this and reloading is cheaper than applying them one by one.
const MAX_APPLIED: i64 = 1024;

/// What an index must do to catch up with a log.
#[derive(Debug, PartialEq)]
pub(super) enum CatchUp {
    /// Nothing changed.
    Current,
    /// These memories changed (added, replaced or removed): re-read each.
    Apply(HashSet<i64>),
    /// Drop everything loaded; reload on demand.
    Reload,
}

/// The changes in `log` after `seen` (the last entry the index reflects, `None` before its
/// first look), and the entry the index reflects once it has caught up.
///
/// Entries committed while this runs may be included in the changes without being counted in
/// the returned `seq`; re-reading a memory twice changes nothing, so that is harmless.
pub(super) fn catch_up(conn: &Connection, log: Log, seen: Option<i64>) -> Result<(CatchUp, i64)> {
    let newest: i64 = conn
        .prepare_cached(log.newest)?
        .query_row([], |r| r.get(0))?;
    let Some(seen) = seen else {
        return Ok((CatchUp::Reload, newest));
    };
    if newest == seen {
        return Ok((CatchUp::Current, newest));
    }
    let oldest: i64 = conn
        .prepare_cached(log.oldest)?
        .query_row([], |r| r.get(0))?;
    // Pruned past what the index saw, too much to apply, or another database file.
    if newest < seen || oldest > seen + 1 || newest - seen > MAX_APPLIED {
        return Ok((CatchUp::Reload, newest));
    }
    let mut stmt = conn.prepare_cached(log.since)?;
    let changed: Vec<Option<i64>> = stmt
        .query_map(params![seen], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // A NULL rowid stands for every memory (vectors dropped for re-embedding).
    if changed.contains(&None) {
        return Ok((CatchUp::Reload, newest));
    }
    Ok((
        CatchUp::Apply(changed.into_iter().flatten().collect()),
        newest,
    ))
}

/// The statements that read one log table.
#[derive(Clone, Copy)]
pub(super) struct Log {
    newest: &'static str,
    oldest: &'static str,
    since: &'static str,
}

/// Changes to `memory_vectors`.
pub(super) const VECTORS: Log = Log {
    newest: "SELECT ifnull(max(seq), 0) FROM vector_log",
    oldest: "SELECT ifnull(min(seq), 0) FROM vector_log",
    since: "SELECT memory_rowid FROM vector_log WHERE seq > ?1",
};

/// Changes to the searchable text of `memories`.
pub(super) const TEXT: Log = Log {
    newest: "SELECT ifnull(max(seq), 0) FROM text_log",
    oldest: "SELECT ifnull(min(seq), 0) FROM text_log",
    since: "SELECT memory_rowid FROM text_log WHERE seq > ?1",
};
