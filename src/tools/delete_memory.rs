//! `delete_memory`: remove one memory by id.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::Result;
use crate::memory;

/// Arguments of `delete_memory`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The memory's id.
    pub id: String,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Result of `delete_memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeleteOutput {
    /// The id that was asked for.
    pub id: String,
    /// True when a memory was deleted; false when there was none with this id.
    pub deleted: bool,
}

/// Deletes the memory if it exists.
pub async fn run(app: &App, args: DeleteArgs) -> Result<DeleteOutput> {
    let namespace = memory::namespace(args.namespace.as_deref())?;
    let deleted = app.store().delete(namespace, args.id.clone()).await?;
    Ok(DeleteOutput {
        id: args.id,
        deleted,
    })
}

#[tool_router(router = delete_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Delete one memory by id. Returns deleted: false when no memory had that id.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn delete_memory(
        &self,
        Parameters(args): Parameters<DeleteArgs>,
    ) -> Result<Json<DeleteOutput>, ErrorData> {
        Ok(Json(run(&self.app, args).await?))
    }
}
