//! `get_memory`: one memory, in full, by id.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::Result;
use crate::memory::{self, Memory};

/// Arguments of `get_memory`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// The memory's id.
    pub id: String,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Fetches the memory or says it is not found.
pub async fn run(app: &App, args: GetArgs) -> Result<Memory> {
    let namespace = memory::namespace(args.namespace.as_deref())?;
    app.store().get(namespace, args.id).await
}

#[tool_router(router = get_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Fetch one memory by id, with its full content and every field.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn get_memory(
        &self,
        Parameters(args): Parameters<GetArgs>,
    ) -> Result<Json<Memory>, ErrorData> {
        Ok(Json(run(&self.app, args).await?))
    }
}
