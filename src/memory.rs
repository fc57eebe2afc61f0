//! The memory data model and the rules every field must follow.
//!
//! Tools and the CLI build a [`NewMemory`] or a [`MemoryPatch`] through the checks here, so a
//! value that reaches `store/` is already valid and a failed check has written nothing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Limits;
use crate::error::{Error, Result};

/// The namespace used when a caller names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The kind used when a caller names none.
pub const DEFAULT_KIND: &str = "note";

/// One stored memory, as every tool and the CLI return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Memory {
    /// Unique id (UUIDv7).
    pub id: String,
    /// Project scope the memory lives in.
    pub namespace: String,
    /// The text of the memory.
    pub content: String,
    /// Short human title.
    pub title: Option<String>,
    /// `note`, `decision`, `fact`, `doc`, `conversation` or any other short word.
    pub kind: String,
    /// Free labels, in the order given.
    pub tags: Vec<String>,
    /// Path or URI the memory came from.
    pub source: Option<String>,
    /// Place inside `source`, such as a heading slug.
    pub anchor: Option<String>,
    /// Text that situates the memory (such as the preceding turn of a conversation); embedded
    /// with the content for semantic search, but not part of it.
    pub context: Option<String>,
    /// Roles the memory is pinned for (`*` pins it for every role).
    pub roles: Vec<String>,
    /// Higher comes first among pins.
    pub priority: i32,
    /// When the memory was stored (RFC 3339, UTC).
    pub created_at: String,
    /// When the memory last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// When the thing it records happened (RFC 3339, UTC); defaults to `created_at`.
    pub occurred_at: String,
    /// Free JSON object for the caller's own fields.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 of `content`, hex; the dedupe key within a namespace.
    pub content_hash: String,
    /// 1 when stored, one more for each `update_memory` that changed it.
    #[serde(default = "first_version")]
    pub version: i32,
    /// The memory that replaced this one (`supersedes`), if any; a superseded memory leaves
    /// search, list and rehydrate unless asked for, but stays readable by id.
    #[serde(default)]
    pub superseded_by: Option<String>,
    /// Until when the memory held (RFC 3339, UTC): the `occurred_at` of the memory that
    /// superseded it; none while it still holds.
    #[serde(default)]
    pub valid_until: Option<String>,
    /// When the memory expires (RFC 3339, UTC; `ttl`/`expires_at`): from then on it is not
    /// found by any tool (except `get_memory` with `include_expired`), and the sweep purges it
    /// `[lifecycle] purge_after` later. None: it never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Who stored it: the key's label or the token's `sub`; none for the local user, an open
    /// server or the configured token (and for memories stored before memoryd knew).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Who made its current version (as `created_by`); a supersede or an expiry change is not
    /// a version and leaves it, like `updated_at`.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// The memory's earlier states, newest first (`get_memory` with `history: true`, and
    /// export); absent otherwise. The memory itself is its current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<Version>>,
    /// The ids of the memories this one superseded (whose `superseded_by` is this memory),
    /// oldest first (`get_memory` with `history: true`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Vec<String>>,
}

impl Memory {
    /// Whether the memory has expired at `now` (a stored timestamp): then no tool finds it.
    pub fn expired_at(&self, now: &str) -> bool {
        crate::expiry::is_expired(self.expires_at.as_deref(), now)
    }
}

fn first_version() -> i32 {
    1
}

/// One earlier state of a memory, as it stood until an `update_memory` changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    /// Its number: 1 is the memory as first stored.
    pub version: i32,
    /// The text then.
    pub content: String,
    /// The title then.
    pub title: Option<String>,
    /// The tags then.
    pub tags: Vec<String>,
    /// When this state began (the memory's `updated_at` then).
    pub changed_at: String,
    /// Who made this state (the memory's `updated_by` then); null when nobody named wrote it.
    pub changed_by: Option<String>,
    /// The kind then.
    pub kind: String,
    /// The source then.
    pub source: Option<String>,
    /// The anchor then.
    pub anchor: Option<String>,
    /// The context then.
    pub context: Option<String>,
    /// The roles then.
    pub roles: Vec<String>,
    /// The priority then.
    pub priority: i32,
    /// The occurred_at then.
    pub occurred_at: String,
    /// The metadata then.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Version {
    /// The state `m` is in now, as a version.
    pub fn of(m: &Memory) -> Version {
        Version {
            version: m.version,
            content: m.content.clone(),
            title: m.title.clone(),
            tags: m.tags.clone(),
            changed_at: m.updated_at.clone(),
            changed_by: m.updated_by.clone(),
            kind: m.kind.clone(),
            source: m.source.clone(),
            anchor: m.anchor.clone(),
            context: m.context.clone(),
            roles: m.roles.clone(),
            priority: m.priority,
            occurred_at: m.occurred_at.clone(),
            metadata: m.metadata.clone(),
        }
    }

    /// `current` as it stood at this version: its fields of then, its id, namespace, creation
    /// time and lifecycle of now.
    pub fn as_memory(&self, current: &Memory) -> Memory {
        Memory {
            content: self.content.clone(),
            title: self.title.clone(),
            kind: self.kind.clone(),
            tags: self.tags.clone(),
            source: self.source.clone(),
            anchor: self.anchor.clone(),
            context: self.context.clone(),
            roles: self.roles.clone(),
            priority: self.priority,
            updated_at: self.changed_at.clone(),
            updated_by: self.changed_by.clone(),
            occurred_at: self.occurred_at.clone(),
            metadata: self.metadata.clone(),
            content_hash: content_hash(&self.content),
            version: self.version,
            versions: None,
            supersedes: None,
            ..current.clone()
        }
    }
}

/// A validated memory about to be inserted.
#[derive(Debug, Clone)]
pub struct NewMemory {
    /// Namespace to store into.
    pub namespace: String,
    /// Validated content.
    pub content: String,
    /// Validated title.
    pub title: Option<String>,
    /// Validated kind.
    pub kind: String,
    /// Validated, de-duplicated tags.
    pub tags: Vec<String>,
    /// Validated source.
    pub source: Option<String>,
    /// Validated anchor.
    pub anchor: Option<String>,
    /// Validated context.
    pub context: Option<String>,
    /// Validated roles.
    pub roles: Vec<String>,
    /// Priority.
    pub priority: i32,
    /// Normalised occurred_at, or `None` for "same as created_at".
    pub occurred_at: Option<String>,
    /// Metadata object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Normalised expires_at (already resolved from `ttl` and the kind's default), or none.
    pub expires_at: Option<String>,
    /// Who is storing it (the principal's name), recorded as `created_by` and `updated_by`.
    pub by: Option<String>,
}

impl NewMemory {
    /// The memory as first stored: a new id, `now` as its times (and as `occurred_at` unless
    /// given), and `content_hash`.
    pub fn stamped(&self, content_hash: String) -> Memory {
        let now = now();
        Memory {
            id: new_id(),
            namespace: self.namespace.clone(),
            content: self.content.clone(),
            title: self.title.clone(),
            kind: self.kind.clone(),
            tags: self.tags.clone(),
            source: self.source.clone(),
            anchor: self.anchor.clone(),
            context: self.context.clone(),
            roles: self.roles.clone(),
            priority: self.priority,
            occurred_at: self.occurred_at.clone().unwrap_or_else(|| now.clone()),
            created_at: now.clone(),
            updated_at: now,
            metadata: self.metadata.clone(),
            content_hash,
            version: 1,
            superseded_by: None,
            valid_until: None,
            expires_at: self.expires_at.clone(),
            created_by: self.by.clone(),
            updated_by: self.by.clone(),
            versions: None,
            supersedes: None,
        }
    }
}

/// A validated set of changes to one memory; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MemoryPatch {
    /// New content.
    pub content: Option<String>,
    /// New title (`Some(None)` clears it).
    pub title: Option<Option<String>>,
    /// New kind.
    pub kind: Option<String>,
    /// New tags (empty clears them).
    pub tags: Option<Vec<String>>,
    /// New source (`Some(None)` clears it).
    pub source: Option<Option<String>>,
    /// New anchor (`Some(None)` clears it).
    pub anchor: Option<Option<String>>,
    /// New context (`Some(None)` clears it).
    pub context: Option<Option<String>>,
    /// New roles (empty clears them).
    pub roles: Option<Vec<String>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New occurred_at.
    pub occurred_at: Option<String>,
    /// New metadata (replaces the whole object).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Memories of the same namespace this one replaces (not a field: each named memory gets
    /// `superseded_by` and `valid_until`).
    pub supersedes: Vec<String>,
    /// New expiry (`Some(None)` clears it) and the argument that asked it (`ttl` or
    /// `expires_at`); a lifecycle change like `supersedes`, kept in no version.
    pub expires_at: Option<(Option<String>, &'static str)>,
    /// Who is making the change (the principal's name): the new version's `updated_by`.
    pub by: Option<String>,
}

impl MemoryPatch {
    /// True when the patch changes no field of the memory (it may still supersede others).
    pub fn is_empty(&self) -> bool {
        self.content.is_none()
            && self.title.is_none()
            && self.kind.is_none()
            && self.tags.is_none()
            && self.source.is_none()
            && self.anchor.is_none()
            && self.context.is_none()
            && self.roles.is_none()
            && self.priority.is_none()
            && self.occurred_at.is_none()
            && self.metadata.is_none()
    }

    /// Sets every field the patch changes on `m`, except `content` (whose hash and
    /// uniqueness the store checks).
    pub fn apply_fields(&self, m: &mut Memory) {
        if let Some(title) = &self.title {
            m.title = title.clone();
        }
        if let Some(kind) = &self.kind {
            m.kind = kind.clone();
        }
        if let Some(tags) = &self.tags {
            m.tags = tags.clone();
        }
        if let Some(source) = &self.source {
            m.source = source.clone();
        }
        if let Some(anchor) = &self.anchor {
            m.anchor = anchor.clone();
        }
        if let Some(context) = &self.context {
            m.context = context.clone();
        }
        if let Some(roles) = &self.roles {
            m.roles = roles.clone();
        }
        if let Some(priority) = self.priority {
            m.priority = priority;
        }
        if let Some(occurred_at) = &self.occurred_at {
            m.occurred_at = occurred_at.clone();
        }
        if let Some(metadata) = &self.metadata {
            m.metadata = metadata.clone();
        }
    }
}

/// The text embedded for a memory: its context (if any), then its content.
pub fn embedding_text(context: Option<&str>, content: &str) -> String {
    match context {
        Some(c) => format!("{c}\n{content}"),
        None => content.to_string(),
    }
}

/// Checks an optional context against the size limit; empty means none.
pub fn context(value: Option<String>, limits: &Limits) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if value.trim().is_empty() {
        return Ok(None);
    }
    if value.len() > limits.max_context_bytes {
        return Err(Error::invalid(
            "context",
            format!(
                "is {} bytes; the limit is {} bytes\nkeep context to what situates the memory, such as the previous turn",
                value.len(),
                limits.max_context_bytes
            ),
        ));
    }
    Ok(Some(value))
}

/// SHA-256 of the exact content bytes, as lowercase hex.
pub fn content_hash(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, formatted the way every timestamp is stored (so text order is time order).
pub fn now() -> String {
    format_time(Utc::now())
}

/// The one timestamp format memoryd stores: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp or a plain `YYYY-MM-DD` date (midnight UTC).
pub fn parse_time(argument: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(format_time(t.with_timezone(&Utc)));
    }
    // A date and time without a zone is taken as UTC.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(format_time(t.and_utc()));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        return Ok(format_time(t));
    }
    Err(Error::invalid(
        argument,
        format!(
            "'{value}' is not a date or time\nuse RFC 3339 such as 2026-11-23T14:05:00Z (no zone means UTC), or a date such as 2026-11-23"
        ),
    ))
}

/// Checks a namespace name, defaulting to [`DEFAULT_NAMESPACE`].
pub fn namespace(value: Option<&str>) -> Result<String> {
    let Some(ns) = value else {
        return Ok(DEFAULT_NAMESPACE.to_string());
    };
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/');
    if ns.is_empty() || ns.len() > 128 || !ns.chars().all(ok_char) {
        return Err(Error::invalid(
            "namespace",
            format!(
                "'{ns}' is not a valid namespace\nuse 1 to 128 characters from letters, digits and - _ . : /"
            ),
        ));
    }
    Ok(ns.to_string())
}

/// Checks memory content against the size limit.
pub fn content(value: String, limits: &Limits) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::invalid(
            "content",
            "must not be empty or only whitespace",
        ));
    }
    if value.len() > limits.max_content_bytes {
        return Err(Error::invalid(
            "content",
            format!(
                "is {} bytes; the limit is {} bytes\nsplit it into smaller memories",
                value.len(),
                limits.max_content_bytes
            ),
        ));
    }
    Ok(value)
}

/// Checks an optional short text field (title, source, anchor); empty means absent.
pub fn short_text(
    argument: &str,
    value: Option<String>,
    max_chars: usize,
) -> Result<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            argument,
            format!("is longer than {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            argument,
            "must not contain control characters such as newlines",
        ));
    }
    Ok(Some(value))
}

/// Checks a kind, defaulting to [`DEFAULT_KIND`].
pub fn kind(value: Option<String>) -> Result<String> {
    match value {
        None => Ok(DEFAULT_KIND.to_string()),
        Some(k) => {
            let k = k.trim().to_string();
            if k.is_empty() || k.chars().count() > 64 || k.chars().any(char::is_whitespace) {
                return Err(Error::invalid(
                    "kind",
                    format!(
                        "'{k}' is not a valid kind\nuse one word of at most 64 characters, such as note, decision, fact, doc or conversation"
                    ),
                ));
            }
            Ok(k)
        }
    }
}

/// Checks a list of tags: trimmed, non-empty, bounded, duplicates dropped (first kept).
pub fn tags(argument: &str, values: Vec<String>, limits: &Limits) -> Result<Vec<String>> {
    if values.len() > limits.max_tags {
        return Err(Error::invalid(
            argument,
            format!(
                "has {} tags; at most {} are allowed",
                values.len(),
                limits.max_tags
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for tag in values {
        let tag = tag.trim().to_string();
        if tag.is_empty() || tag.chars().count() > 64 || tag.chars().any(|c| c.is_control()) {
            return Err(Error::invalid(
                argument,
                format!(
                    "'{tag}' is not a valid tag\nuse 1 to 64 characters with no control characters"
                ),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Checks a role name: lowercase word characters, or `*` for every role.
pub fn role(argument: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if !crate::config::valid_role_name(v) {
        return Err(Error::invalid(
            argument,
            format!(
                "'{v}' is not a valid role\nuse lowercase letters, digits, - and _ (such as planner), or * for every role"
            ),
        ));
    }
    Ok(v.to_string())
}

/// Checks the ids of a `supersedes` argument: each a non-empty id without whitespace,
/// duplicates dropped, at most 100 (whether each exists, and may be superseded, is the store's
/// rule to check inside the write).
pub fn supersedes(values: Vec<String>) -> Result<Vec<String>> {
    if values.len() > 100 {
        return Err(Error::invalid(
            "supersedes",
            format!("names {} memories; at most 100 are allowed", values.len()),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for id in values {
        let id = id.trim().to_string();
        if id.is_empty() || id.chars().count() > 128 || id.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "supersedes",
                format!(
                    "'{id}' is not a memory id\npass the id field of a memory, as search_memory or store_memory returned it"
                ),
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Checks a list of roles (duplicates dropped).
pub fn roles(values: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = role("roles", &v)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Checks the metadata object against the size limit.
pub fn metadata(
    value: Option<serde_json::Map<String, serde_json::Value>>,
    limits: &Limits,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let value = value.unwrap_or_default();
    let size = serde_json::to_string(&value)
        .map_err(|e| Error::Internal(format!("metadata did not serialise: {e}")))?
        .len();
    if size > limits.max_metadata_bytes {
        return Err(Error::invalid(
            "metadata",
            format!(
                "is {size} bytes as JSON; the limit is {} bytes",
                limits.max_metadata_bytes
            ),
        ));
    }
    Ok(value)
}

/// Checks a `limit` argument against its bounds, applying the default.
pub fn limit(argument: &str, value: Option<i64>, default: usize, max: usize) -> Result<usize> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && (n as u64) <= max as u64 => Ok(n as usize),
        Some(n) => Err(Error::invalid(
            argument,
            format!("must be an integer from 1 to {max}, got {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalise_to_utc_millis() {
        assert_eq!(
            parse_time("since", "2026-11-23T15:05:00+01:00").unwrap(),
            "2026-11-23T14:05:00.000Z"
        );
        assert_eq!(
            parse_time("since", "2023-05-08T13:56").unwrap(),
            "2023-05-08T13:56:00.000Z"
        );
        assert_eq!(
            parse_time("since", "2023-05-08").unwrap(),
            "2023-05-08T00:00:00.000Z"
        );
        let err = parse_time("until", "yesterday").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid argument 'until': 'yesterday' is not a date"),
            "{err}"
        );
    }

    #[test]
    fn content_over_the_limit_names_the_limit() {
        let limits = Limits {
            max_content_bytes: 10,
            ..Limits::default()
        };
        let err = content("x".repeat(11), &limits).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid argument 'content': is 11 bytes; the limit is 10 bytes\nsplit it into smaller memories"
        );
        assert!(content("   ".into(), &limits).is_err());
        assert_eq!(content("ok".into(), &limits).unwrap(), "ok");
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let got = tags(
            "tags",
            vec![" a ".into(), "b".into(), "a".into()],
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(got, vec!["a", "b"]);
        assert!(tags("tags", vec!["".into()], &Limits::default()).is_err());
    }

    #[test]
    fn namespaces_and_roles_follow_their_alphabets() {
        assert_eq!(namespace(None).unwrap(), "default");
        assert_eq!(namespace(Some("proj/a-1")).unwrap(), "proj/a-1");
        assert!(namespace(Some("has space")).is_err());
        assert!(namespace(Some("")).is_err());
        assert_eq!(
            roles(vec!["planner".into(), "*".into(), "planner".into()]).unwrap(),
            vec!["planner", "*"]
        );
        assert!(role("role", "Planner").is_err());
    }

    #[test]
    fn limit_bounds_are_inclusive_and_reported() {
        assert_eq!(limit("limit", None, 10, 100).unwrap(), 10);
        assert_eq!(limit("limit", Some(100), 10, 100).unwrap(), 100);
        let err = limit("limit", Some(-1), 10, 100).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid argument 'limit': must be an integer from 1 to 100, got -1"
        );
        assert!(limit("limit", Some(0), 10, 100).is_err());
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
