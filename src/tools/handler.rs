//! The one `ServerHandler` impl of [`MemoryServer`]: which MCP request goes to which area.
//! Each method is one call into its area's file, inside `panic_guard::mcp` (a panic answers
//! as an internal error); none holds logic of its own, so the whole surface a client sees
//! reads on one page.

#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use super::{MemoryServer, access, completion, info, prompts, resources};
use crate::panic_guard;

// Logging is deprecated by the 2026-07-28 revision (SEP-2577), but 2025-11-25 clients use it.
#[allow(deprecated)]
#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        info::server_config()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        panic_guard::mcp(&self.app, "tools/call", self.on_call_tool(request, context)).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        panic_guard::mcp(
            &self.app,
            "resources/list",
            self.on_list_resources(request, context),
        )
        .await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        panic_guard::mcp(&self.app, "resources/templates/list", async {
            Ok(resources::templates())
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        panic_guard::mcp(
            &self.app,
            "resources/read",
            self.on_read_resource(request, context),
        )
        .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        panic_guard::mcp(
            &self.app,
            "resources/subscribe",
            self.on_subscribe(request, context),
        )
        .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        panic_guard::mcp(
            &self.app,
            "resources/unsubscribe",
            self.on_unsubscribe(request),
        )
        .await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(self.accepted_filter(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        panic_guard::mcp(&self.app, "subscriptions/listen", self.on_listen(context)).await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        panic_guard::mcp(&self.app, "prompts/list", async { Ok(prompts::list()) }).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        panic_guard::mcp(
            &self.app,
            "prompts/get",
            self.on_get_prompt(request, context),
        )
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let caller = access::caller(&context);
        panic_guard::mcp(&self.app, "completion/complete", async {
            Ok(completion::complete(&self.app, &caller, &request).await?)
        })
        .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        panic_guard::mcp(&self.app, "logging/setLevel", async {
            self.on_set_level(request);
            Ok(())
        })
        .await
    }
}
