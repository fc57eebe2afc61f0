//! The MCP face of memoryd: [`MemoryServer`] and one file per tool.
//!
//! Each tool file holds its `Args` and `Output` types (their JSON Schemas are what clients see
//! and what `schemas/` checks in), its `#[tool]` method, and a `run` function that the CLI
//! calls too, so a tool behaves the same on every transport. Tools validate and translate;
//! the work happens in `store/` and `retrieve/`.

pub mod completion;
pub mod delete_memory;
pub mod get_memory;
pub mod list_memories;
pub mod params;
pub mod prompts;
pub mod rehydrate_memory;
pub mod resources;
pub mod schema;
pub mod search_memory;
pub mod session;
pub mod store_memory;
pub mod table;
pub mod update_memory;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, Implementation, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool_handler};
use serde_json::{Value, json};

use crate::app::App;
use crate::error::Error;
use crate::metrics::{Call, Transport};
use session::{Changes, Notice, Session};

pub use table::NAMES;

const INSTRUCTIONS: &str = "memoryd keeps memories (notes, decisions, facts, document chunks) \
for this project. Use search_memory before starting work to find what is already known, \
store_memory to keep a decision or fact for later sessions, and get_memory for the full text of \
a search hit. Every call takes an optional namespace (default 'default') that scopes it to one \
project. Each memory is also a resource, memory://{namespace}/{id}, and a role's pinned \
memories are memory://{namespace}/pins/{role}. The prompts rehydrate (role, task), recall \
(query) and remember start a task with context, bring memories into the conversation, and \
store what a session decided.";

/// The MCP server: the shared [`App`] plus the routes of every tool, and one session's state.
#[derive(Clone)]
pub struct MemoryServer {
    /// Shared state.
    app: App,
    /// Built once per server; rmcp clones it per session.
    tool_router: ToolRouter<MemoryServer>,
    /// How calls reach this server, for metrics and logs.
    transport: Transport,
    /// The store's generation as it moves, shared by every session of this server.
    changes: Arc<Changes>,
    /// This session's log level and followed resources (see [`MemoryServer::for_session`]).
    session: Arc<Session>,
}

impl MemoryServer {
    /// A server over `app` with every tool routed, for calls arriving over `transport`.
    pub fn new(app: App, transport: Transport) -> Self {
        MemoryServer {
            app,
            tool_router: Self::router(),
            transport,
            changes: Arc::new(Changes::new()),
            session: Arc::new(Session::new()),
        }
    }

    /// A copy for a new session: the same app, routes and change feed, its own session state
    /// (log level, subscriptions), so one client's choices never reach another.
    pub fn for_session(&self) -> Self {
        MemoryServer {
            session: Arc::new(Session::new()),
            ..self.clone()
        }
    }

    /// The routes of all tools (from [`table::TOOLS`]), with schemas every client can read.
    pub fn router() -> ToolRouter<MemoryServer> {
        let mut router = ToolRouter::new();
        for entry in &table::TOOLS {
            router.merge((entry.route)());
        }
        for route in router.map.values_mut() {
            let tool = &mut route.attr;
            let mut input = (*tool.input_schema).clone();
            schema::portable(&mut input, schema::Side::Input);
            tool.input_schema = Arc::new(input);
            if let Some(output) = &tool.output_schema {
                let mut output = (**output).clone();
                schema::portable(&mut output, schema::Side::Output);
                tool.output_schema = Some(Arc::new(output));
            }
        }
        router
    }

    /// Every tool's definition (name, description, schemas, annotations), sorted by name.
    pub fn tools() -> Vec<Tool> {
        Self::router().list_all()
    }

    /// Sends a log message about this session's own call, if it asked for that level; the
    /// message is built only then (most sessions never ask).
    #[allow(deprecated)]
    async fn log(
        &self,
        peer: &Peer<RoleServer>,
        level: LoggingLevel,
        data: impl FnOnce() -> Value,
    ) {
        if self.session.wants(level) {
            let message =
                LoggingMessageNotificationParam::new(level, data()).with_logger("memoryd");
            // A client that went away cannot be told; its call has been answered already.
            let _ = peer.notify_logging_message(message).await;
        }
    }

    /// Starts telling this session's client about changes to what it follows.
    fn start_following(&self, peer: &Peer<RoleServer>) {
        let peer = peer.clone();
        self.session
            .start_following(&self.app, &self.changes, move |notice| {
                let peer = peer.clone();
                async move {
                    let sent = match notice {
                        Notice::Updated(uri) => {
                            peer.notify_resource_updated(
                                rmcp::model::ResourceUpdatedNotificationParam::new(uri),
                            )
                            .await
                        }
                        Notice::ListChanged => peer.notify_resource_list_changed().await,
                    };
                    sent.is_ok()
                }
            });
    }
}

/// The namespace a list request asks for: `_meta["memoryd/namespace"]`, else `default`.
fn requested_namespace(meta: Option<&JsonObject>) -> Result<String, Error> {
    match meta.and_then(|m| m.get(resources::NAMESPACE_META)) {
        None | Some(Value::Null) => crate::memory::namespace(None),
        Some(Value::String(namespace)) => crate::memory::namespace(Some(namespace)),
        Some(other) => Err(Error::invalid(
            resources::NAMESPACE_META,
            format!("must be a namespace name (a string), got {other}"),
        )),
    }
}

// Logging is deprecated by the 2026-07-28 revision (SEP-2577), but 2025-11-25 clients use it.
#[allow(deprecated)]
#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("memoryd", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let role = role_argument(request.arguments.as_ref());
        let peer = context.peer.clone();
        // rmcp's own answer to an unknown name is a bare "tool not found"; name the tool and
        // the ones that exist so the caller can correct itself.
        let call = async {
            if self.tool_router.has_route(&request.name) {
                let call = ToolCallContext::new(self, request, context);
                self.tool_router.call(call).await
            } else {
                Err(unknown_tool(&name).into())
            }
        };
        let (request_id, result, outcome, elapsed) =
            observed(&self.app, self.transport, &name, role, call).await;
        let level = match (&result, outcome) {
            (Ok(_), _) => LoggingLevel::Info,
            (Err(_), "internal" | "timeout") => LoggingLevel::Error,
            (Err(_), _) => LoggingLevel::Warning,
        };
        self.log(&peer, level, || {
            let ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
            let mut line = json!({"event": "tool call", "request_id": request_id, "tool": name,
                "outcome": outcome, "ms": ms});
            if let Err(error) = &result {
                line["error"] = json!(error.message);
            }
            line
        })
        .await;
        result
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        // rmcp moves the request's `_meta` into the context.
        let cursor = request.and_then(|r| r.cursor);
        let namespace = requested_namespace(Some(&context.meta.0.0))?;
        let result = resources::list(&self.app, namespace.clone(), cursor).await?;
        // A client that lists is told when the list changes.
        self.session
            .followed
            .lock()
            .await
            .follow_list(&self.app, &namespace)
            .await?;
        self.start_following(&context.peer);
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let result = resources::read(&self.app, &request.uri).await;
        self.log(
            &context.peer,
            LoggingLevel::Debug,
            || json!({"event": "resource read", "uri": request.uri, "ok": result.is_ok()}),
        )
        .await;
        Ok(result?.into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session
            .followed
            .lock()
            .await
            .follow_resource(&self.app, &request.uri)
            .await?;
        self.start_following(&context.peer);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::Target::parse(&request.uri)?;
        self.session
            .followed
            .lock()
            .await
            .unfollow_resource(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.resources_list_changed = requested.resources_list_changed.filter(|on| *on);
        accepted.resource_subscriptions = requested.resource_subscriptions.as_ref().map(|uris| {
            uris.iter()
                .filter(|uri| resources::Target::parse(uri).is_ok())
                .cloned()
                .collect()
        });
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut followed = session::Followed::default();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            followed.follow_resource_as_is(&self.app, uri).await?;
        }
        if context.accepted().resources_list_changed == Some(true) {
            let meta = &context.request_context().meta.0.0;
            let namespace = requested_namespace(Some(meta))?;
            followed.follow_list(&self.app, &namespace).await?;
        }
        let mut generations = self.changes.watch(self.app.store());
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                moved = generations.changed() => if moved.is_err() { return Ok(()) },
            }
            // A failed read (database restarting) is tried again at the next change.
            for notice in followed.changes(&self.app).await.unwrap_or_default() {
                let sent = match notice {
                    Notice::Updated(uri) => context.sink().notify_resource_updated(uri).await,
                    Notice::ListChanged => context.sink().notify_resource_list_changed().await,
                };
                if sent.is_err() {
                    return Ok(());
                }
            }
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let result = prompts::get(&self.app, &request.name, request.arguments).await;
        self.log(
            &context.peer,
            LoggingLevel::Info,
            || json!({"event": "prompt", "prompt": request.name, "ok": result.is_ok()}),
        )
        .await;
        Ok(result?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(completion::complete(&self.app, &request).await?)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.set_level(request.level);
        Ok(())
    }
}

/// How a finished call went, for metrics and logs: the MCP path and the plain JSON path
/// finish with different types.
trait Finished {
    /// `ok`, or the failure's code.
    fn outcome(&self) -> &'static str;
    /// The failure's message.
    fn error(&self) -> Option<String>;
    /// A failure made from `error`.
    fn failed(error: Error) -> Self;
}

impl Finished for Result<CallToolResponse, ErrorData> {
    fn outcome(&self) -> &'static str {
        match self {
            Ok(_) => "ok",
            Err(e) if e.code == ErrorCode::INVALID_PARAMS => "invalid_argument",
            Err(e) if e.code == ErrorCode::RESOURCE_NOT_FOUND => "not_found",
            Err(_) => "internal",
        }
    }
    fn error(&self) -> Option<String> {
        self.as_ref().err().map(|e| e.message.to_string())
    }
    fn failed(error: Error) -> Self {
        Err(error.into())
    }
}

impl Finished for Result<Value, Error> {
    fn outcome(&self) -> &'static str {
        self.as_ref().map_or_else(Error::code, |_| "ok")
    }
    fn error(&self) -> Option<String> {
        self.as_ref().err().map(Error::to_string)
    }
    fn failed(error: Error) -> Self {
        Err(error)
    }
}

/// The one path of every tool call, whatever the transport: runs `call` within the time
/// limit, counts it and writes its log line. Returns the request id, the result, its outcome
/// and the time taken.
async fn observed<R: Finished>(
    app: &App,
    transport: Transport,
    name: &str,
    role: Option<String>,
    call: impl Future<Output = R>,
) -> (String, R, &'static str, std::time::Duration) {
    let started = Instant::now();
    let (result, outcome) = match within_timeout(app, call).await {
        Ok(result) if table::find(name).is_none() => (result, "unknown_tool"),
        Ok(result) => {
            let outcome = result.outcome();
            (result, outcome)
        }
        Err(timeout) => (R::failed(timeout), "timeout"),
    };
    let elapsed = started.elapsed();
    let request_id = observe(
        app,
        name,
        Call {
            tool: table::label(name),
            role,
            transport,
            outcome,
            error: result.error(),
            elapsed,
        },
    );
    (request_id, result, outcome, elapsed)
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

/// Counts a finished call to `name` and writes its log line; returns the request id the line
/// carries.
fn observe(app: &App, name: &str, call: Call) -> String {
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    app.metrics().record_call(&call);
    let ms = (call.elapsed.as_secs_f64() * 1e6).round() / 1e3;
    let role = call.role.as_deref().unwrap_or("");
    let transport = call.transport.name();
    let tool = name;
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
        known: NAMES.iter().map(|n| n.to_string()).collect(),
    }
}

/// Runs tool `name` with `arguments` for `POST /mcp/tools/call`, counted and logged like an
/// MCP call; returns the request id and the tool's structured output.
pub async fn call(app: &App, name: &str, arguments: JsonObject) -> (String, Result<Value, Error>) {
    let role = role_argument(Some(&arguments));
    let (request_id, result, _, _) = observed(
        app,
        Transport::ToolsCall,
        name,
        role,
        dispatch(app, name, arguments),
    )
    .await;
    (request_id, result)
}

/// Runs tool `name` with `arguments` and returns its structured output, through the same
/// `run` functions and argument checks as MCP.
async fn dispatch(app: &App, name: &str, arguments: JsonObject) -> Result<Value, Error> {
    match table::find(name) {
        Some(entry) => (entry.run)(app, arguments).await,
        None => Err(unknown_tool(name)),
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
    fn no_tool_schema_has_a_type_array_or_a_format_validators_do_not_know() {
        fn walk(value: &serde_json::Value, path: &str, problems: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(_)) = map.get("type") {
                        problems.push(format!("{path}: type array"));
                    }
                    if let Some(format) = map.get("format").and_then(|f| f.as_str())
                        && !["date-time", "date", "uri", "email", "uuid"].contains(&format)
                    {
                        problems.push(format!("{path}: format {format}"));
                    }
                    for (key, child) in map {
                        walk(child, &format!("{path}.{key}"), problems);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{path}[{i}]"), problems);
                    }
                }
                _ => {}
            }
        }
        let mut problems = Vec::new();
        for tool in MemoryServer::tools() {
            let input = serde_json::Value::Object((*tool.input_schema).clone());
            walk(&input, &format!("{}.input", tool.name), &mut problems);
            if let Some(output) = &tool.output_schema {
                let output = serde_json::Value::Object((**output).clone());
                walk(&output, &format!("{}.output", tool.name), &mut problems);
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_router_lists_exactly_the_table() {
        let names: Vec<String> = MemoryServer::tools()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names, NAMES);
    }
}
