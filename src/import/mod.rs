//! Reading memories from files for `memoryd import`: JSONL records (the format `export`
//! writes) or a folder of Markdown files split by heading ([`markdown`]), and writing them in
//! batches, embedded, through `store`.
//!
//! Every record is checked with the same field rules as `store_memory` before anything is
//! written; a file with any bad record imports nothing and every problem is reported as
//! `path:line: error`. Records keep their `id` and timestamps when they have them (so an
//! export imports back losslessly); those without get a fresh id and the time of import.
//! What happens to repeats:
//!
//! - a record whose `id` is already stored with the same content is skipped (importing the
//!   same file twice changes nothing);
//! - a record whose `id` is stored with different content is skipped and reported as a
//!   conflict (the stored memory wins);
//! - a record whose content its namespace already holds under another id is skipped as a
//!   duplicate (writes are idempotent on namespace + content, as everywhere).
//!
//! A record may carry its vector (`export --vectors` writes them): when the vector was made
//! by this build's model it is stored as is, and only records without one (or with another
//! model's) are embedded. Moving a database to another engine then costs no inference.
//!
//! This module runs only from the CLI, never inside `serve`.

pub mod markdown;

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::config::Limits;
use crate::error::{Error, Result};
use crate::memory::{self, Memory};
use crate::store::Imported;

/// A memory's embedding as `export --vectors` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriedVector {
    /// The model that made it.
    pub model: String,
    /// The vector as little-endian f32 bytes, in base64.
    pub f32le: String,
}

impl CarriedVector {
    /// `vector`, as made by this build's model.
    pub fn new(vector: &[f32]) -> Self {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        CarriedVector {
            model: crate::embed::MODEL_NAME.to_string(),
            f32le: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The vector, when this build's model made it (same name and dimension); otherwise the
    /// memory is embedded again.
    pub fn usable(&self) -> Option<Vec<f32>> {
        if self.model != crate::embed::MODEL_NAME {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.f32le)
            .ok()?;
        (bytes.len() == crate::embed::DIMENSION * 4).then(|| {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
    }
}

/// One memory ready to write, and the vector it brought, if usable.
pub type Record = (Memory, Option<Vec<f32>>);

/// Memories embedded and written per transaction.
pub const BATCH: usize = 64;

/// A record that failed a check, located for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// `path:line`.
    pub location: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The fields of a memory before the shared checks, from any kind of source. It is also one
/// line of a JSONL file (a memory as `export` writes it), where everything but `content` may
/// be left out and unknown fields are refused, so a typo is caught.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// Keep this id (otherwise a new one).
    pub id: Option<String>,
    /// Namespace (otherwise the import's default).
    pub namespace: Option<String>,
    /// The text.
    pub content: String,
    /// Title.
    pub title: Option<String>,
    /// Kind (otherwise `note`).
    pub kind: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Source path or URI.
    pub source: Option<String>,
    /// Place inside the source.
    pub anchor: Option<String>,
    /// Text embedded with the content.
    pub context: Option<String>,
    /// Roles pinned for.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Pin priority.
    #[serde(default)]
    pub priority: i32,
    /// Creation time (otherwise now).
    pub created_at: Option<String>,
    /// Last change (otherwise `created_at`).
    pub updated_at: Option<String>,
    /// When it happened (otherwise `created_at`).
    pub occurred_at: Option<String>,
    /// Free JSON.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Expected SHA-256 of the content, checked when given.
    pub content_hash: Option<String>,
    /// Its version (otherwise 1).
    pub version: Option<i32>,
    /// The memory that superseded it.
    pub superseded_by: Option<String>,
    /// Until when it held (when it was superseded).
    pub valid_until: Option<String>,
    /// When it expires (as stored: an expired record imports expired, and the sweep purges it).
    pub expires_at: Option<String>,
    /// Who stored it (as exported: a key's label or a token's `sub`).
    pub created_by: Option<String>,
    /// Who made its current version.
    pub updated_by: Option<String>,
    /// Its earlier versions, newest first (as `export` writes them).
    pub versions: Option<Vec<memory::Version>>,
    /// The vector `export --vectors` wrote.
    pub vector: Option<CarriedVector>,
}

impl Draft {
    /// Applies every field rule; the result is ready to store as is.
    pub fn check(self, default_namespace: &str, limits: &Limits, now: &str) -> Result<Memory> {
        let id = match self.id {
            Some(id) => check_id("id", id)?,
            None => memory::new_id(),
        };
        let content = memory::content(self.content, limits)?;
        let content_hash = memory::content_hash(&content);
        if let Some(expected) = self.content_hash
            && expected != content_hash
        {
            return Err(Error::invalid(
                "content_hash",
                "does not match the content (SHA-256)\ndrop content_hash if the content was edited on purpose",
            ));
        }
        let time =
            |name: &str, v: Option<String>| v.map(|t| memory::parse_time(name, &t)).transpose();
        let created_at = time("created_at", self.created_at)?.unwrap_or_else(|| now.to_string());
        let updated_at = time("updated_at", self.updated_at)?.unwrap_or_else(|| created_at.clone());
        let occurred_at =
            time("occurred_at", self.occurred_at)?.unwrap_or_else(|| created_at.clone());
        let (version, versions) = check_versions(self.version, self.versions)?;
        Ok(Memory {
            id,
            namespace: memory::namespace(Some(
                self.namespace.as_deref().unwrap_or(default_namespace),
            ))?,
            content,
            title: memory::short_text("title", self.title, 200)?,
            kind: memory::kind(self.kind)?,
            tags: memory::tags("tags", self.tags, limits)?,
            source: memory::short_text("source", self.source, 2048)?,
            anchor: memory::short_text("anchor", self.anchor, 200)?,
            context: memory::context(self.context, limits)?,
            roles: memory::roles(self.roles)?,
            priority: self.priority,
            created_at,
            updated_at,
            occurred_at,
            metadata: memory::metadata(self.metadata, limits)?,
            content_hash,
            version,
            superseded_by: self
                .superseded_by
                .map(|id| check_id("superseded_by", id))
                .transpose()?,
            valid_until: time("valid_until", self.valid_until)?,
            expires_at: time("expires_at", self.expires_at)?,
            created_by: memory::short_text("created_by", self.created_by, MAX_WRITER)?,
            updated_by: memory::short_text("updated_by", self.updated_by, MAX_WRITER)?,
            versions,
            supersedes: None,
        })
    }
}

/// Longest writer name a record may carry: room for a key's label (64 characters) and for an
/// OAuth `sub`, which issuers keep short but no standard bounds.
const MAX_WRITER: usize = 256;

/// Checks the lifecycle of a record: a version from 1, and earlier versions numbered below it,
/// each once; returns the version and the earlier versions (`None` when there are none).
fn check_versions(
    version: Option<i32>,
    versions: Option<Vec<memory::Version>>,
) -> Result<(i32, Option<Vec<memory::Version>>)> {
    let version = version.unwrap_or(1);
    if version < 1 {
        return Err(Error::invalid(
            "version",
            format!("must be 1 or more, got {version}"),
        ));
    }
    let versions = versions.filter(|v| !v.is_empty());
    let mut seen = std::collections::HashSet::new();
    for v in versions.iter().flatten() {
        if v.version < 1 || v.version >= version || !seen.insert(v.version) {
            return Err(Error::invalid(
                "versions",
                format!(
                    "version {} is not an earlier version of a memory at version {version}\nnumber earlier versions from 1, each once, below the memory's version",
                    v.version
                ),
            ));
        }
    }
    Ok((version, versions))
}

/// An id kept from a file (in the field `field`): 1 to 128 characters, no whitespace or
/// control characters.
fn check_id(field: &str, id: String) -> Result<String> {
    if id.is_empty() || id.chars().count() > 128 || id.chars().any(|c| c.is_whitespace()) {
        return Err(Error::invalid(
            field,
            format!(
                "'{id}' is not a valid id\nuse 1 to 128 characters without spaces, or leave id out for a new one"
            ),
        ));
    }
    Ok(id)
}

/// Parses and checks every line of a JSONL file (`display` names it in errors). Blank lines
/// are skipped. Returns every memory, or every error.
pub fn read_jsonl(
    display: &str,
    text: &str,
    default_namespace: &str,
    limits: &Limits,
) -> std::result::Result<Vec<Record>, Vec<RecordError>> {
    let now = memory::now();
    let mut memories = Vec::new();
    let mut errors = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{display}:{}", i + 1);
        let record = serde_json::from_str::<Draft>(line)
            .map_err(|e| format!("not a memory record: {e}"))
            .and_then(|mut d| {
                let vector = d.vector.take().and_then(|v| v.usable());
                d.check(default_namespace, limits, &now)
                    .map(|m| (m, vector))
                    .map_err(|e| e.to_string())
            });
        match record {
            Ok((m, _)) if !seen_ids.insert(m.id.clone()) => errors.push(RecordError {
                location,
                message: format!("id '{}' appears earlier in this file", m.id),
            }),
            Ok(m) => memories.push(m),
            Err(message) => errors.push(RecordError { location, message }),
        }
    }
    if errors.is_empty() {
        Ok(memories)
    } else {
        Err(errors)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Memories written.
    pub inserted: usize,
    /// Of those, how many got their vector in the same transaction.
    pub embedded: usize,
    /// Of those, how many brought their vector (made by this model) and were not embedded.
    pub carried: usize,
    /// Records already stored under their id (same content).
    pub already_present: usize,
    /// Records whose content their namespace already held under another id.
    pub duplicates: usize,
    /// Records whose id is stored with other content: `(id, namespace of the stored one)`.
    pub conflicts: Vec<(String, String)>,
}

/// Writes checked memories in batches of [`BATCH`]: each batch is embedded (when the model is
/// loaded) and written in one transaction. `progress` is called with the number of records
/// done after each batch.
pub async fn store(
    app: &App,
    records: Vec<Record>,
    mut progress: impl FnMut(usize),
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut done = 0;
    let mut rest = records.into_iter().peekable();
    while rest.peek().is_some() {
        let (batch, mut vectors): (Vec<Memory>, Vec<Option<Vec<f32>>>) =
            rest.by_ref().take(BATCH).unzip();
        let carried: Vec<bool> = vectors.iter().map(Option::is_some).collect();
        // Only what came without a usable vector is embedded.
        let missing: Vec<usize> = (0..batch.len()).filter(|&i| !carried[i]).collect();
        if !missing.is_empty() {
            let texts = missing
                .iter()
                .map(|&i| memory::embedding_text(batch[i].context.as_deref(), &batch[i].content))
                .collect();
            if let Some(made) = app.embedder().embed(texts).await? {
                for (i, v) in missing.into_iter().zip(made) {
                    vectors[i] = Some(v);
                }
            }
        }
        let has_vector: Vec<bool> = vectors.iter().map(Option::is_some).collect();
        let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
        let n = batch.len();
        let outcomes = app.store().import_memories(batch, vectors).await?;
        for (i, (id, outcome)) in ids.into_iter().zip(outcomes).enumerate() {
            match outcome {
                Imported::Inserted => {
                    summary.inserted += 1;
                    summary.embedded += usize::from(has_vector[i]);
                    summary.carried += usize::from(carried[i]);
                }
                Imported::AlreadyPresent => summary.already_present += 1,
                Imported::DuplicateContent { .. } => summary.duplicates += 1,
                Imported::IdConflict { namespace } => summary.conflicts.push((id, namespace)),
            }
        }
        done += n;
        progress(done);
    }
    if summary.inserted > summary.embedded {
        app.vector_missing(None);
    }
    if summary.inserted > 0 {
        // Fresh statistics, so the next searches are planned for the table as it is now.
        app.store().refresh_statistics().await?;
    }
    Ok(summary)
}

/// Whether `path` is a JSONL file or a folder of Markdown.
pub fn is_markdown_source(path: &Path) -> bool {
    path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> std::result::Result<Vec<Memory>, Vec<RecordError>> {
        read_jsonl("f.jsonl", text, "default", &Limits::default())
            .map(|records| records.into_iter().map(|(m, _)| m).collect())
    }

    #[test]
    fn a_carried_vector_is_used_only_when_this_model_made_it() {
        let v: Vec<f32> = (0..crate::embed::DIMENSION)
            .map(|i| i as f32 / 7.0)
            .collect();
        let carried = CarriedVector::new(&v);
        assert_eq!(carried.usable(), Some(v.clone()));
        let other = CarriedVector {
            model: "another-model".into(),
            ..carried.clone()
        };
        assert_eq!(other.usable(), None);
        let short = CarriedVector::new(&v[..10]);
        assert_eq!(short.usable(), None);
        let line = serde_json::json!({"content": "x", "vector": carried}).to_string();
        let records = read_jsonl("f.jsonl", &line, "default", &Limits::default()).unwrap();
        assert_eq!(records[0].1, Some(v));
    }

    #[test]
    fn fields_are_kept_and_defaults_filled() {
        let m = &read(
            r#"{"id":"x1","namespace":"p","content":"c","tags":["a"],"roles":["planner"],"priority":3,"created_at":"2025-01-02T03:04:05.678Z","metadata":{"k":1},"context":"ctx"}"#,
        )
        .unwrap()[0];
        assert_eq!(m.id, "x1");
        assert_eq!(m.namespace, "p");
        assert_eq!(m.updated_at, "2025-01-02T03:04:05.678Z");
        assert_eq!(m.occurred_at, "2025-01-02T03:04:05.678Z");
        assert_eq!(m.kind, "note");
        assert_eq!(m.metadata["k"], 1);
        let fresh = &read(r#"{"content":"c","occurred_at":"2025-01-08"}"#).unwrap()[0];
        assert_eq!(fresh.namespace, "default");
        assert_eq!(fresh.occurred_at, "2025-01-08T00:00:00.000Z");
        assert_ne!(fresh.created_at, fresh.occurred_at);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let errors = read(
            "{\"content\":\"ok\"}\n\n{\"content\":\"\"}\n{\"content\":\"c\",\"tagz\":[]}\nnot json\n{\"content\":\"c\",\"content_hash\":\"00\"}\n{\"id\":\"a b\",\"content\":\"c\"}\n",
        )
        .unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(
            lines[0].starts_with("f.jsonl:3: invalid argument 'content'"),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("f.jsonl:4: not a memory record: unknown field `tagz`"));
        assert!(lines[2].starts_with("f.jsonl:5: not a memory record"));
        assert!(lines[3].starts_with("f.jsonl:6: invalid argument 'content_hash'"));
        assert!(lines[4].starts_with("f.jsonl:7: invalid argument 'id'"));
    }

    #[test]
    fn repeated_ids_in_one_file_are_refused() {
        let errors = read("{\"id\":\"a\",\"content\":\"x\"}\n{\"id\":\"a\",\"content\":\"y\"}\n")
            .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "f.jsonl:2: id 'a' appears earlier in this file"
        );
    }
}
