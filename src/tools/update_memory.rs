//! `update_memory`: change some fields of one memory; the index follows.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::MemoryServer;
use super::params::Parameters;
use crate::access::Principal;
use crate::app::App;
use crate::error::{Error, Result};
use crate::expiry;
use crate::memory::{self, Memory, MemoryPatch};
use rmcp::handler::server::common::Extension;

/// Arguments of `update_memory`: the id, and only the fields to change.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The memory's id.
    pub id: String,
    /// New text (at most 64 KiB).
    pub content: Option<String>,
    /// New title; an empty string clears it.
    pub title: Option<String>,
    /// New kind.
    pub kind: Option<String>,
    /// New tags, replacing the old ones; [] clears them.
    pub tags: Option<Vec<String>>,
    /// New source; an empty string clears it.
    pub source: Option<String>,
    /// New anchor; an empty string clears it.
    pub anchor: Option<String>,
    /// New context (embedded with the content); an empty string clears it.
    pub context: Option<String>,
    /// New roles, replacing the old ones; [] unpins the memory.
    pub roles: Option<Vec<String>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New occurred_at: RFC 3339 or YYYY-MM-DD.
    pub occurred_at: Option<String>,
    /// New metadata object, replacing the old one.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Ids of other memories (same namespace) that this one replaces: pass them when this
    /// memory now states what they stated differently (find them with search_memory first).
    /// They are kept, marked superseded_by this memory and valid_until its occurred_at, and
    /// leave search, list and rehydrate.
    pub supersedes: Option<Vec<String>>,
    /// New expiry: RFC 3339 or YYYY-MM-DD, not before occurred_at. Not with ttl.
    pub expires_at: Option<String>,
    /// New time to live, counted from now ("90s", "12h", "30d", units s m h d w), or "never"
    /// to clear the expiry. Not with expires_at.
    pub ttl: Option<String>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Validates `args` and applies the change.
pub async fn run(app: &App, args: UpdateArgs, by: Option<String>) -> Result<Memory> {
    let limits = app.limits();
    let namespace = memory::namespace(args.namespace.as_deref())?;
    let expires_at = expiry::asked(args.expires_at.as_deref(), args.ttl.as_deref())?
        .map(|(e, argument)| (e.stored(), argument));
    let patch = MemoryPatch {
        content: args
            .content
            .map(|c| memory::content(c, limits))
            .transpose()?,
        title: args
            .title
            .map(|t| memory::short_text("title", Some(t), 200))
            .transpose()?,
        kind: args.kind.map(|k| memory::kind(Some(k))).transpose()?,
        tags: args
            .tags
            .map(|t| memory::tags("tags", t, limits))
            .transpose()?,
        source: args
            .source
            .map(|s| memory::short_text("source", Some(s), 2048))
            .transpose()?,
        anchor: args
            .anchor
            .map(|a| memory::short_text("anchor", Some(a), 200))
            .transpose()?,
        context: args
            .context
            .map(|c| memory::context(Some(c), limits))
            .transpose()?,
        roles: args.roles.map(memory::roles).transpose()?,
        priority: args.priority,
        occurred_at: args
            .occurred_at
            .map(|t| memory::parse_time("occurred_at", &t))
            .transpose()?,
        metadata: args
            .metadata
            .map(|m| memory::metadata(Some(m), limits))
            .transpose()?,
        supersedes: memory::supersedes(args.supersedes.unwrap_or_default())?,
        expires_at,
        by,
    };
    if patch.is_empty() && patch.supersedes.is_empty() && patch.expires_at.is_none() {
        return Err(Error::invalid(
            "id",
            "nothing to update\ngive at least one field to change, such as content, title or tags, or supersedes, ttl or expires_at",
        ));
    }
    // New content or context needs a new vector: compose the text the memory will have,
    // embed it outside the write lock, and let the store check it still matches.
    let vector = if patch.content.is_some() || patch.context.is_some() {
        let current = app.store().get(namespace.clone(), args.id.clone()).await?;
        let content = patch.content.as_deref().unwrap_or(&current.content);
        let context = match &patch.context {
            Some(c) => c.as_deref(),
            None => current.context.as_deref(),
        };
        let text = memory::embedding_text(context, content);
        let made = app.embedder().embed(vec![text.clone()]).await?;
        made.and_then(|mut v| v.pop()).map(|v| (text, v))
    } else {
        None
    };
    let (memory, missing) = app
        .store()
        .update(namespace, args.id, patch, vector)
        .await?;
    if missing {
        app.vector_missing(None);
    }
    Ok(memory)
}

#[tool_router(router = update_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Change fields of one memory (only the fields given); returns the memory as stored, its
    /// version one more (get_memory with history: true shows the earlier ones). To record
    /// that a fact, decision or preference changed, prefer storing the new one with
    /// supersedes, so the old one stays on record; supersedes here marks other memories this
    /// one replaces.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn update_memory(
        &self,
        Parameters(args): Parameters<UpdateArgs>,
        Extension(caller): Extension<Principal>,
    ) -> Result<Json<Memory>, ErrorData> {
        Ok(Json(run(&self.app, args, caller.name).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::get_memory::{self, GetArgs};
    use crate::tools::store_memory::{self, StoreArgs};

    fn store(content: &str) -> StoreArgs {
        StoreArgs {
            content: content.into(),
            ..StoreArgs::default()
        }
    }

    async fn get(app: &App, id: &str, version: Option<i64>) -> Memory {
        let args = GetArgs {
            id: id.into(),
            history: Some(true),
            version,
            ..GetArgs::default()
        };
        get_memory::run(app, args).await.unwrap()
    }

    /// Who wrote a memory follows the writes: the first writer stays `created_by`, each
    /// version records its writer, and what is no version (a repeated store, a supersede, an
    /// expiry) names nobody new. Export and import carry every name.
    #[tokio::test]
    async fn each_write_records_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(crate::config::Config::new(dir.path().to_path_buf()))
            .await
            .unwrap();
        let by = |name: &str| Some(name.to_string());
        let id = store_memory::run(&app, store("the build runs on CI"), by("alice"))
            .await
            .unwrap()
            .id;
        let m = get(&app, &id, None).await;
        assert_eq!(
            (m.created_by.clone(), m.updated_by.clone()),
            (by("alice"), by("alice"))
        );

        let change = UpdateArgs {
            id: id.clone(),
            content: Some("the build runs on CI, nightly".into()),
            ..UpdateArgs::default()
        };
        let m = run(&app, change, by("bob")).await.unwrap();
        assert_eq!(
            (m.created_by.clone(), m.updated_by.clone()),
            (by("alice"), by("bob"))
        );
        let m = get(&app, &id, None).await;
        let versions = m.versions.clone().unwrap();
        assert_eq!(versions[0].changed_by, by("alice"), "version 1 was alice's");
        assert_eq!(get(&app, &id, Some(1)).await.updated_by, by("alice"));

        // The same content again: nothing is written, the first writer stays.
        let again = store_memory::run(&app, store("the build runs on CI, nightly"), by("carol"))
            .await
            .unwrap();
        assert!(again.deduplicated);
        let m = get(&app, &id, None).await;
        assert_eq!(
            (m.created_by.clone(), m.updated_by.clone()),
            (by("alice"), by("bob"))
        );

        // A supersede and an expiry change are no versions: the marked memory's writers stay.
        let newer = StoreArgs {
            supersedes: Some(vec![id.clone()]),
            ..store("the build runs on the new CI")
        };
        let newer = store_memory::run(&app, newer, by("dave")).await.unwrap().id;
        let expiry = UpdateArgs {
            id: id.clone(),
            ttl: Some("30d".into()),
            ..UpdateArgs::default()
        };
        run(&app, expiry, by("erin")).await.unwrap();
        let m = get(&app, &id, None).await;
        assert_eq!(m.superseded_by.as_deref(), Some(newer.as_str()));
        assert_eq!(
            (m.created_by.clone(), m.updated_by.clone()),
            (by("alice"), by("bob"))
        );
        assert_eq!(m.version, 2);

        // A writer with no name (the local user, the token) leaves none.
        let local = UpdateArgs {
            id: newer.clone(),
            title: Some("CI".into()),
            ..UpdateArgs::default()
        };
        let m = run(&app, local, None).await.unwrap();
        assert_eq!((m.created_by.clone(), m.updated_by), (by("dave"), None));

        // Export, then import into an empty database: every name comes back.
        let exported = app.store().export_page(0, 100).await.unwrap();
        let other = tempfile::tempdir().unwrap();
        let copy = App::open(crate::config::Config::new(other.path().to_path_buf()))
            .await
            .unwrap();
        let memories: Vec<Memory> = exported.iter().map(|(_, m)| m.clone()).collect();
        let n = memories.len();
        copy.store()
            .import_memories(memories.clone(), vec![None; n])
            .await
            .unwrap();
        let back = copy.store().export_page(0, 100).await.unwrap();
        let back: Vec<Memory> = back.into_iter().map(|(_, m)| m).collect();
        assert_eq!(back, memories);
        assert_eq!(
            back[0].versions.as_ref().unwrap()[0].changed_by,
            by("alice")
        );
    }
}
