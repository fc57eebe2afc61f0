//! The MCP face of memoryd: [`MemoryServer`] and one file per tool.
//!
//! Each tool file holds its `Args` and `Output` types (their JSON Schemas are what clients see
//! and what `schemas/` checks in), its `#[tool]` method, and a `run` function that the CLI
//! calls too, so a tool behaves the same on every transport. Tools validate and translate;
//! the work happens in `store/` and `retrieve/`.

pub mod delete_memory;
pub mod get_memory;
pub mod list_memories;
pub mod params;
pub mod rehydrate_memory;
pub mod search_memory;
pub mod store_memory;
pub mod update_memory;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use std::time::Instant;

use rmcp::model::{ErrorCode, JsonObject};

use crate::app::App;
use crate::error::Error;
use crate::metrics::{Call, Transport};

const INSTRUCTIONS: &str = "memoryd keeps memories (notes, decisions, facts, document chunks) \
for this project. Use search_memory before starting work to find what is already known, \
store_memory to keep a decision or fact for later sessions, and get_memory for the full text of \
a search hit. Every call takes an optional namespace (default 'default') that scopes it to one \
project.";

/// The MCP server: the shared [`App`] plus the routes of every tool.
#[derive(Clone)]
pub struct MemoryServer {
    /// Shared state.
    app: App,
    /// Built once per server; rmcp clones it per session.
    tool_router: ToolRouter<MemoryServer>,
    /// How calls reach this server, for metrics and logs.
    transport: Transport,
}

impl MemoryServer {
    /// A server over `app` with every tool routed, for calls arriving over `transport`.
    pub fn new(app: App, transport: Transport) -> Self {
        MemoryServer {
            app,
            tool_router: Self::router(),
            transport,
        }
    }

    /// The routes of all tools.
    pub fn router() -> ToolRouter<MemoryServer> {
        Self::rehydrate_memory_router()
            + Self::store_memory_router()
            + Self::search_memory_router()
            + Self::get_memory_router()
            + Self::update_memory_router()
            + Self::delete_memory_router()
            + Self::list_memories_router()
    }

    /// Every tool's definition (name, description, schemas, annotations), sorted by name.
    pub fn tools() -> Vec<Tool> {
        Self::router().list_all()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("memoryd", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let tool = request.name.to_string();
        let role = role_argument(request.arguments.as_ref());
        // rmcp's own answer to an unknown name is a bare "tool not found"; name the tool and
        // the ones that exist so the caller can correct itself.
        let (result, outcome) = if self.tool_router.has_route(&request.name) {
            let call = ToolCallContext::new(self, request, context);
            match within_timeout(&self.app, self.tool_router.call(call)).await {
                Ok(result) => {
                    let outcome = match &result {
                        Ok(_) => "ok",
                        Err(e) if e.code == ErrorCode::INVALID_PARAMS => "invalid_argument",
                        Err(e) if e.code == ErrorCode::RESOURCE_NOT_FOUND => "not_found",
                        Err(_) => "internal",
                    };
                    (result, outcome)
                }
                Err(timeout) => (Err(timeout.into()), "timeout"),
            }
        } else {
            (Err(unknown_tool(&tool).into()), "unknown_tool")
        };
        observe(
            &self.app,
            Call {
                tool,
                role,
                transport: self.transport,
                outcome,
                error: result.as_ref().err().map(|e| e.message.to_string()),
                elapsed: started.elapsed(),
            },
        );
        result
    }
}

/// Runs `call` within `limits.request_timeout_seconds`. Dropping a call at the limit is
/// safe: each write is one transaction, committed whole or not at all.
async fn within_timeout<T>(app: &App, call: impl Future<Output = T>) -> Result<T, Error> {
    let seconds = app.limits().request_timeout_seconds;
    tokio::time::timeout(std::time::Duration::from_secs(seconds), call)
        .await
        .map_err(|_| Error::Timeout { seconds })
}

/// The `role` argument of a call, when it has one (only `rehydrate_memory` does).
fn role_argument(arguments: Option<&JsonObject>) -> Option<String> {
    arguments?.get("role")?.as_str().map(String::from)
}

/// Counts a finished call and writes its log line; returns the request id the line carries.
fn observe(app: &App, call: Call) -> String {
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    app.metrics().record_call(&call);
    let ms = (call.elapsed.as_secs_f64() * 1e6).round() / 1e3;
    let role = call.role.as_deref().unwrap_or("");
    let transport = call.transport.name();
    let tool = call.tool.as_str();
    let outcome = call.outcome;
    if matches!(outcome, "internal" | "timeout") {
        let error = call.error.as_deref().unwrap_or("");
        tracing::warn!(
            request_id,
            tool,
            role,
            transport,
            outcome,
            ms,
            error,
            "tool call failed"
        );
    } else {
        tracing::info!(request_id, tool, role, transport, outcome, ms, "tool call");
    }
    request_id
}

/// The error for a tool name that does not exist.
fn unknown_tool(name: &str) -> Error {
    Error::UnknownTool {
        name: name.to_string(),
        known: MemoryServer::tools()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect(),
    }
}

/// Runs tool `name` with `arguments` for `POST /mcp/tools/call`, counted and logged like an
/// MCP call; returns the request id and the tool's structured output.
pub async fn call(
    app: &App,
    name: &str,
    arguments: JsonObject,
) -> (String, Result<serde_json::Value, Error>) {
    let started = Instant::now();
    let role = role_argument(Some(&arguments));
    let result = within_timeout(app, dispatch(app, name, arguments))
        .await
        .and_then(|r| r);
    let request_id = observe(
        app,
        Call {
            tool: name.to_string(),
            role,
            transport: Transport::ToolsCall,
            outcome: result.as_ref().map_or_else(Error::code, |_| "ok"),
            error: result.as_ref().err().map(Error::to_string),
            elapsed: started.elapsed(),
        },
    );
    (request_id, result)
}

/// Runs tool `name` with `arguments` and returns its structured output, through the same
/// `run` functions and argument checks as MCP.
async fn dispatch(
    app: &App,
    name: &str,
    arguments: JsonObject,
) -> Result<serde_json::Value, Error> {
    fn json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, Error> {
        serde_json::to_value(value)
            .map_err(|e| Error::Internal(format!("output did not serialise: {e}")))
    }
    match name {
        "rehydrate_memory" => json(rehydrate_memory::run(app, params::parse(arguments)?).await?),
        "store_memory" => json(store_memory::run(app, params::parse(arguments)?).await?),
        "search_memory" => json(search_memory::run(app, params::parse(arguments)?).await?),
        "get_memory" => json(get_memory::run(app, params::parse(arguments)?).await?),
        "update_memory" => json(update_memory::run(app, params::parse(arguments)?).await?),
        "delete_memory" => json(delete_memory::run(app, params::parse(arguments)?).await?),
        "list_memories" => json(list_memories::run(app, params::parse(arguments)?).await?),
        other => Err(unknown_tool(other)),
    }
}

impl MemoryServer {
    /// The checked-in schema files: `<tool>.input.json` and, for tools with structured output,
    /// `<tool>.output.json`, as pretty JSON with a trailing newline. `memoryd schemas --out
    /// schemas` writes them; a test fails when `schemas/` differs.
    pub fn schema_files() -> Vec<(String, String)> {
        let pretty = |schema: &serde_json::Map<String, serde_json::Value>| {
            let mut text = serde_json::to_string_pretty(schema).expect("a schema serialises");
            text.push('\n');
            text
        };
        let mut files = Vec::new();
        for tool in Self::tools() {
            files.push((
                format!("{}.input.json", tool.name),
                pretty(&tool.input_schema),
            ));
            if let Some(output) = &tool.output_schema {
                files.push((format!("{}.output.json", tool.name), pretty(output)));
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `cargo run -- schemas --out schemas` when this fails on purpose.
    #[test]
    fn checked_in_schemas_match_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let files = MemoryServer::schema_files();
        for (name, want) in &files {
            let have = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                &have == want,
                "schemas/{name} differs from the code\nrun: cargo run -- schemas --out schemas"
            );
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut expected: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        expected.sort();
        assert_eq!(on_disk, expected, "stale files in schemas/");
    }

    #[tokio::test]
    async fn every_routed_tool_is_dispatched() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(crate::config::Config::new(dir.path().to_path_buf()))
            .await
            .unwrap();
        for tool in MemoryServer::tools() {
            let err = dispatch(&app, &tool.name, JsonObject::new()).await.err();
            assert!(
                !matches!(err, Some(Error::UnknownTool { .. })),
                "{} is routed over MCP but not by tools::call",
                tool.name
            );
        }
        let err = dispatch(&app, "nope", JsonObject::new()).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown tool 'nope'\nthe tools are: delete_memory, ")
        );
    }

    mod arbitrary_arguments {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        /// Argument names the tools know, so generated objects often get past "unknown field"
        /// and reach the value checks.
        const KEYS: [&str; 20] = [
            "content",
            "title",
            "kind",
            "tags",
            "source",
            "anchor",
            "context",
            "roles",
            "priority",
            "occurred_at",
            "metadata",
            "namespace",
            "id",
            "query",
            "limit",
            "mode",
            "role",
            "task",
            "token_budget",
            "since",
        ];

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>()
                    .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
                ".{0,40}".prop_map(Value::from),
                "(planner|keyword|hybrid|semantic|note|2026-01-01|\\*|default)"
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map(".{0,8}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn arguments() -> impl Strategy<Value = JsonObject> {
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), json()), 0..6)
                .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever arrives, every tool answers: a result, or an error that blames the
            /// input (never a panic, never a server fault).
            #[test]
            fn every_tool_answers_any_arguments(args in arguments()) {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let dir = tempfile::tempdir().unwrap();
                rt.block_on(async {
                    let app = App::open(crate::config::Config::new(dir.path().to_path_buf()))
                        .await
                        .unwrap();
                    for tool in MemoryServer::tools() {
                        if let Err(err) = dispatch(&app, &tool.name, args.clone()).await {
                            prop_assert!(
                                matches!(err.code(), "invalid_argument" | "not_found"),
                                "{} with {:?}: {}", tool.name, args, err
                            );
                        }
                    }
                    Ok(())
                })?;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_timeout_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::new(dir.path().to_path_buf());
        config.limits.request_timeout_seconds = 2;
        let app = App::open(config).await.unwrap();
        let err = within_timeout(&app, std::future::pending::<()>())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "timeout");
        assert!(
            err.to_string()
                .starts_with("the call took longer than 2 s and was stopped")
        );
        assert_eq!(within_timeout(&app, async { 7 }).await.unwrap(), 7);
    }

    #[test]
    fn seven_tools_with_annotations() {
        let tools = MemoryServer::tools();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            crate::metrics::TOOLS,
            "metrics label every tool by name"
        );
        for tool in &tools {
            let ann = tool.annotations.as_ref().expect("annotated");
            let read_only = matches!(
                tool.name.as_ref(),
                "get_memory" | "list_memories" | "search_memory" | "rehydrate_memory"
            );
            assert_eq!(ann.read_only_hint, Some(read_only), "{}", tool.name);
            if tool.name == "delete_memory" {
                assert_eq!(ann.destructive_hint, Some(true));
            }
        }
    }
}
