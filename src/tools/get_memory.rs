//! `get_memory`: one memory, in full, by id: as it is now (superseded or not), as it stood at
//! one of its versions, and with its earlier versions and the memories it superseded; an
//! expired one only when asked.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::Result;
use crate::memory::{self, Memory};

/// Arguments of `get_memory`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// The memory's id.
    pub id: String,
    /// Also return `versions`: the memory's earlier states, newest first (version, content,
    /// title, tags, changed_at, changed_by and the other fields as they were); and
    /// `supersedes`: the ids of the memories this one superseded.
    pub history: Option<bool>,
    /// Return the memory as it stood at this version (1 is as first stored) instead of now.
    #[schemars(range(min = 1))]
    pub version: Option<i64>,
    /// Also return the memory when it has expired (not yet purged); otherwise an expired
    /// memory is not found.
    pub include_expired: Option<bool>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Fetches the memory (at the version asked for, with its history when asked) or says it is
/// not found.
pub async fn run(app: &App, args: GetArgs) -> Result<Memory> {
    let namespace = memory::namespace(args.namespace.as_deref())?;
    let current = if args.include_expired.unwrap_or(false) {
        app.store().get_any(namespace, args.id).await?
    } else {
        app.store().get(namespace, args.id).await?
    };
    let history = args.history.unwrap_or(false);
    let asks_older = args
        .version
        .is_some_and(|n| n != i64::from(current.version));
    if !history && !asks_older {
        return match args.version {
            Some(n) => crate::store::at_version(current, &[], n),
            None => Ok(current),
        };
    }
    let versions = app.store().versions(current.id.clone()).await?;
    let (namespace, id) = (current.namespace.clone(), current.id.clone());
    let mut found = match args.version {
        Some(n) => crate::store::at_version(current, &versions, n)?,
        None => current,
    };
    if history {
        found.versions = Some(versions);
        found.supersedes = Some(app.store().superseded_by_memory(namespace, id).await?);
    }
    Ok(found)
}

#[tool_router(router = get_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Fetch one memory by id, with its full content and every field. A superseded memory is
    /// still returned, with superseded_by (the memory that replaced it) and valid_until.
    /// history: true adds its earlier versions and the ids of the memories it superseded;
    /// version: N returns it as it stood then. An expired memory is not found unless
    /// include_expired: true.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn get_memory(
        &self,
        Parameters(args): Parameters<GetArgs>,
    ) -> Result<Json<Memory>, ErrorData> {
        Ok(Json(run(&self.app, args).await?))
    }
}
