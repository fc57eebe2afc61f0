//! The values the storage seam hands back, the same for every backend.

use crate::memory::Memory;

/// The outcome of an insert.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Id of the memory now holding the content.
    pub id: String,
    /// Its rowid (where its vector goes).
    pub rowid: i64,
    /// True when the content was already stored and nothing was written.
    pub deduplicated: bool,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The memories on this page, newest first.
    pub memories: Vec<Memory>,
    /// Rowid to continue after, when there are more.
    pub next_after: Option<i64>,
}

/// What newer-first ranking reads of a candidate before deciding whether its vector matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dating {
    /// The memory.
    pub rowid: i64,
    /// Its `occurred_at` (RFC 3339).
    pub occurred_at: String,
    /// Its kind.
    pub kind: String,
    /// Whether it came from a document (`source` is set).
    pub sourced: bool,
}

/// Where a memory sits in its namespace's timeline: when it happened and the memories just
/// before and after it (by `occurred_at`, then storing order), with when those happened; one
/// from another `source` (none and some differ; none and none do not) is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situated {
    /// The memory.
    pub rowid: i64,
    /// Its `occurred_at` (RFC 3339).
    pub occurred_at: String,
    /// The memory just before it, and its `occurred_at`.
    pub before: Option<(i64, String)>,
    /// The memory just after it, and its `occurred_at`.
    pub after: Option<(i64, String)>,
}

/// A memory whose vector is missing, and what to embed for it.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Row to attach the vector to.
    pub rowid: i64,
    /// The memory's namespace.
    pub namespace: String,
    /// The text to embed (context, then content); the vector is only written if the row
    /// still has exactly this text.
    pub text: String,
}

/// What happened to one imported memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// It was written.
    Inserted,
    /// A memory with its id and content already exists (an earlier import of the same
    /// record); nothing was written.
    AlreadyPresent,
    /// A memory with its id but different content exists; nothing was written.
    IdConflict {
        /// Namespace of the stored memory with that id.
        namespace: String,
    },
    /// Its namespace already holds the same content under another id; nothing was written.
    DuplicateContent {
        /// The memory that holds it.
        existing_id: String,
    },
}

/// What a WAL checkpoint (`PRAGMA wal_checkpoint(TRUNCATE)`, SQLite only) reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// True when another connection kept the checkpoint from finishing.
    pub busy: bool,
    /// Frames in the WAL before the checkpoint.
    pub wal_frames: i64,
    /// Frames copied into the database.
    pub checkpointed: i64,
}

/// An access key as stored: everything but the secret, which is kept only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKey {
    /// The key's id (16 hex digits), shown by `key list` and named by `key revoke`.
    pub id: String,
    /// Who holds it; recorded as `created_by`/`updated_by` on what it writes.
    pub label: String,
    /// What it may do.
    pub scope: crate::access::Scope,
    /// The namespaces it may reach.
    pub namespaces: Vec<crate::access::Pattern>,
    /// SHA-256 of the secret.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}
