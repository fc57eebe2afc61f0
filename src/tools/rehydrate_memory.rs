//! `rehydrate_memory`: the context an agent needs for a task, scoped to its role and packed
//! into a token budget.

use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::{Error, Result};
use crate::rehydrate::{Bundle, Request};

/// Arguments of `rehydrate_memory`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehydrateArgs {
    /// Who you are: planner, implementer, researcher, reviewer, general, or a role from the
    /// server's config.
    pub role: String,
    /// What you are about to do, in a sentence or two.
    pub task: String,
    /// Most evidence items (1 to 50; default from the role).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<i64>,
    /// Budget of the returned text in tokens (64 to 32000; default from the role).
    #[schemars(range(min = 64, max = 32000))]
    pub token_budget: Option<i64>,
    /// Build the bundle as memory stood at this time (RFC 3339 or YYYY-MM-DD): only memories
    /// valid then, superseded ones included; by default, only memories that still hold.
    pub as_of: Option<String>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Resolves the role and builds the bundle.
pub async fn run(app: &App, args: RehydrateArgs) -> Result<Bundle> {
    let mut request = Request::resolve(
        app.config(),
        args.namespace.as_deref(),
        &args.role,
        &args.task,
        args.limit,
        args.token_budget,
    )?;
    request.as_of = args
        .as_of
        .map(|t| crate::memory::parse_time("as_of", &t))
        .transpose()?;
    let sources = crate::rehydrate::Sources {
        store: app.store(),
        searcher: app.searcher(),
        metrics: app.metrics(),
        settings: &app.config().rehydrate,
    };
    app.rehydrator().run(sources, request).await
}

#[tool_router(router = rehydrate_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Get the context you need before starting a task: memories pinned for your role, then
    /// the most relevant evidence for the task, each with a citation, packed into a token
    /// budget. Paste the returned text into your working context.
    #[tool(
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = rmcp::handler::server::tool::schema_for_output::<Bundle>()
    )]
    async fn rehydrate_memory(
        &self,
        Parameters(args): Parameters<RehydrateArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let bundle = run(&self.app, args).await?;
        // The agent reads `text`; clients that validate get the structured bundle.
        let structured = serde_json::to_value(&bundle)
            .map_err(|e| Error::Internal(format!("bundle did not serialise: {e}")))?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(bundle.text)]);
        result.structured_content = Some(structured);
        Ok(result)
    }
}
