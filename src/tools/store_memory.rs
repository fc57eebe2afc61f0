//! `store_memory`: keep a new memory, or get back the id of the same content already kept.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MemoryServer;
use super::params::Parameters;
use crate::access::Principal;
use crate::app::App;
use crate::config::StoreEmbedding;
use crate::error::Result;
use crate::expiry;
use crate::memory::{self, MemoryPatch, NewMemory};
use crate::store::{Filter, Pending, Ranked};
use rmcp::handler::server::common::Extension;

/// The most memories `similar` names.
const SIMILAR: usize = 5;
/// How alike (cosine of the embeddings) a memory must be to be named in `similar`: a little
/// below what newer-first ranking takes for a restatement (`newer_first_similarity`, 0.55),
/// so the agent also sees the borderline ones it may mean to replace.
const SIMILAR_AT_LEAST: f64 = 0.5;

/// Arguments of `store_memory`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreArgs {
    /// The text to remember. Required; at most 64 KiB.
    pub content: String,
    /// A short title (at most 200 characters).
    pub title: Option<String>,
    /// What sort of memory: note (default), decision, fact, doc, conversation, or another word.
    pub kind: Option<String>,
    /// Labels to filter by later.
    pub tags: Option<Vec<String>>,
    /// Path or URI the memory came from.
    pub source: Option<String>,
    /// Place inside `source`, such as a heading slug.
    pub anchor: Option<String>,
    /// Text that situates the memory, embedded with it for semantic search but not part of
    /// its content: the previous turn of a conversation, a document's title and heading path
    /// (at most 4 KiB).
    pub context: Option<String>,
    /// Roles this memory is pinned for (such as planner, implementer); `*` pins it for all.
    pub roles: Option<Vec<String>>,
    /// Order among pins, higher first (default 0).
    pub priority: Option<i32>,
    /// When the recorded thing happened: RFC 3339 or YYYY-MM-DD (default: now).
    pub occurred_at: Option<String>,
    /// Free JSON object of your own fields (at most 16 KiB).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Ids of memories (same namespace) that this one replaces: pass them when the new memory
    /// changes a fact, decision or preference a stored memory states (find it with
    /// search_memory first). They are kept, marked superseded_by this memory and valid_until
    /// its occurred_at, and leave search, list and rehydrate.
    pub supersedes: Option<Vec<String>>,
    /// When the memory expires: RFC 3339 or YYYY-MM-DD, not before occurred_at. From then on
    /// no tool finds it, and it is purged later. Not with ttl.
    pub expires_at: Option<String>,
    /// How long the memory lives, counted from now: a whole number and a unit s, m, h, d or w
    /// (such as "90s", "12h", "30d"), or "never". Default: the kind's ttl from the server's
    /// config, else never. Not with expires_at.
    pub ttl: Option<String>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Result of `store_memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoreOutput {
    /// Id of the memory holding this content.
    pub id: String,
    /// True when the same content was already stored in this namespace; nothing was written.
    pub deduplicated: bool,
    /// Up to 5 current memories of the namespace close in meaning to this one, most alike
    /// first: if one states an earlier value of what this memory says, pass its id in
    /// supersedes (update_memory with supersedes does it now). Empty when nothing is close,
    /// when the content was already stored, or when the memory is embedded later.
    #[serde(default)]
    pub similar: Vec<Similar>,
}

/// A stored memory close in meaning to the one just stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Similar {
    /// Its id.
    pub id: String,
    /// Cosine similarity of the two embeddings (up to 1).
    pub score: f64,
    /// Its title, if any.
    pub title: Option<String>,
    /// The start of its content.
    pub snippet: String,
}

/// Validates `args` and stores the memory.
pub async fn run(app: &App, args: StoreArgs, by: Option<String>) -> Result<StoreOutput> {
    let limits = app.limits();
    let asked = expiry::asked(args.expires_at.as_deref(), args.ttl.as_deref())?;
    let mut new = NewMemory {
        namespace: memory::namespace(args.namespace.as_deref())?,
        content: memory::content(args.content, limits)?,
        title: memory::short_text("title", args.title, 200)?,
        kind: memory::kind(args.kind)?,
        tags: memory::tags("tags", args.tags.unwrap_or_default(), limits)?,
        source: memory::short_text("source", args.source, 2048)?,
        anchor: memory::short_text("anchor", args.anchor, 200)?,
        context: memory::context(args.context, limits)?,
        roles: memory::roles(args.roles.unwrap_or_default())?,
        priority: args.priority.unwrap_or(0),
        occurred_at: args
            .occurred_at
            .map(|t| memory::parse_time("occurred_at", &t))
            .transpose()?,
        metadata: memory::metadata(args.metadata, limits)?,
        expires_at: None,
        by,
    };
    new.expires_at = expiry::for_new(
        asked,
        &new.kind,
        new.occurred_at.as_deref(),
        &app.config().lifecycle,
    )?;
    let supersedes = memory::supersedes(args.supersedes.unwrap_or_default())?;
    // Same content already stored: answer without spending an embedding on it (the memory
    // holding it still supersedes what was named).
    let hash = memory::content_hash(&new.content);
    if let Some(id) = app
        .store()
        .id_for_content(new.namespace.clone(), hash)
        .await?
    {
        if !supersedes.is_empty() {
            // Only a supersede: the holder keeps its created_by and updated_by (no version).
            let patch = MemoryPatch {
                supersedes,
                by: new.by.clone(),
                ..MemoryPatch::default()
            };
            app.store()
                .update(new.namespace.clone(), id.clone(), patch, None)
                .await?;
        }
        return Ok(StoreOutput {
            id,
            deduplicated: true,
            similar: Vec::new(),
        });
    }
    // Embedded before the write transaction, so the write lock is held for microseconds; or,
    // with `store_embedding = "background"`, by the background embedding right after the
    // answer.
    let text = memory::embedding_text(new.context.as_deref(), &new.content);
    let (vector, later) = match app.config().storage.store_embedding {
        StoreEmbedding::Inline => {
            let vector = app.embedder().embed(vec![text]).await?;
            (vector.and_then(|mut v| v.pop()), None)
        }
        StoreEmbedding::Background => (None, Some((new.namespace.clone(), text))),
    };
    let missing = vector.is_none();
    let probe = vector.clone().map(|v| (new.namespace.clone(), v));
    let stored = if supersedes.is_empty() {
        app.store().insert(new, vector).await?
    } else {
        app.store()
            .insert_superseding(new, vector, supersedes)
            .await?
    };
    if missing && !stored.deduplicated {
        // Queued by rowid only when the model can embed it now; otherwise the backfill's
        // scan finds it once the model is ready.
        let queued = later
            .filter(|_| app.embedder().is_ready())
            .map(|(namespace, text)| Pending {
                rowid: stored.rowid,
                namespace,
                text,
            });
        app.vector_missing(queued);
    }
    let similar = match probe.filter(|_| !stored.deduplicated) {
        Some((namespace, vector)) => similar(app, namespace, vector, stored.rowid).await,
        None => Vec::new(),
    };
    Ok(StoreOutput {
        id: stored.id,
        deduplicated: stored.deduplicated,
        similar,
    })
}

/// The current memories of `namespace` closest to `vector`, but the one just stored
/// (`own`). The memory is stored by now, so a failure here is logged, not returned: the
/// answer must not say a write failed that did not.
async fn similar(app: &App, namespace: String, vector: Vec<f32>, own: i64) -> Vec<Similar> {
    let found = async {
        let close: Vec<Ranked> = app
            .store()
            .vector_ranked(vector.into(), Filter::namespace(namespace), SIMILAR + 1)
            .await?
            .into_iter()
            .filter(|r| r.rowid != own && r.score >= SIMILAR_AT_LEAST)
            .take(SIMILAR)
            .collect();
        if close.is_empty() {
            return Ok(Vec::new());
        }
        app.store().hits(close, Vec::new()).await
    };
    match found.await {
        Ok(hits) => hits
            .into_iter()
            .map(|h| Similar {
                id: h.id,
                score: h.score,
                title: h.title,
                snippet: h.snippet,
            })
            .collect(),
        Err(err) => {
            tracing::warn!(%err, "stored, but could not look for similar memories");
            Vec::new()
        }
    }
}

#[tool_router(router = store_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Store a memory (note, decision, fact, document chunk) for later sessions. Storing the
    /// same content again in a namespace returns the existing id with deduplicated: true.
    /// When it replaces what a stored memory says (a changed fact, a reversed decision, a new
    /// preference), search_memory for the old one first and pass its id in supersedes: the
    /// old memory is kept as history but no longer comes back as current. The answer's
    /// similar lists stored memories close in meaning: if one is an earlier value of what you
    /// stored, supersede it with update_memory (id: the new memory, supersedes: [its id]).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn store_memory(
        &self,
        Parameters(args): Parameters<StoreArgs>,
        Extension(caller): Extension<Principal>,
    ) -> Result<Json<StoreOutput>, ErrorData> {
        Ok(Json(run(&self.app, args, caller.name).await?))
    }
}
