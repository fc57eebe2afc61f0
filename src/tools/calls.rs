//! The one path of every tool call, whatever the transport: over MCP (`tools/call` on stdio
//! or `/mcp`) and as plain JSON (`POST /mcp/tools/call`). Each call runs within the time
//! limit, is counted in the metrics, writes one log line, answers a panic as an internal
//! error, and answers an unknown tool name with the names that exist. The tools themselves do the work; nothing here knows one.

use std::future::Future;
use std::time::Instant;

use rmcp::handler::server::tool::ToolCallContext;
#[allow(deprecated)]
use rmcp::model::{CallToolRequestParams, CallToolResponse, ErrorCode, JsonObject, LoggingLevel};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use super::{MemoryServer, NAMES, access, table};
use crate::access::Principal;
use crate::app::App;
use crate::error::Error;
use crate::metrics::{Call, Transport};
use crate::panic_guard::{self, Site};

impl MemoryServer {
    /// Answers `tools/call`: routes the call, observes it, and logs it to the session.
    #[allow(deprecated)]
    pub(super) async fn on_call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let role = role_argument(request.arguments.as_ref());
        let peer = context.peer.clone();
        let caller = access::caller(&context);
        let mut context = context;
        // The write tools read it back to record who wrote what.
        context.extensions.insert(caller.clone());
        // rmcp's own answer to an unknown name is a bare "tool not found"; name the tool and
        // the ones that exist so the caller can correct itself.
        let call = async {
            access::check(
                &caller,
                access::tool_needs(&name, request.arguments.as_ref()),
            )?;
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
    let site = Site("tool", name);
    let guarded = panic_guard::catch(app, site, async {
        panic_guard::inject(app, site);
        call.await
    });
    let (result, outcome) = match within_timeout(app, guarded).await {
        Ok(Ok(result)) if table::find(name).is_none() => (result, "unknown_tool"),
        Ok(Ok(result)) => {
            let outcome = result.outcome();
            (result, outcome)
        }
        Ok(Err(panicked)) => (R::failed(panicked), "internal"),
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

/// Runs tool `name` with `arguments` for `caller` on `POST /mcp/tools/call`, counted and
/// logged like an MCP call; returns the request id and the tool's structured output.
pub async fn call(
    app: &App,
    caller: &Principal,
    name: &str,
    arguments: JsonObject,
) -> (String, Result<Value, Error>) {
    let role = role_argument(Some(&arguments));
    let (request_id, result, _, _) = observed(
        app,
        Transport::ToolsCall,
        name,
        role,
        dispatch(app, caller, name, arguments),
    )
    .await;
    (request_id, result)
}

/// Runs tool `name` with `arguments` for `caller` and returns its structured output, through
/// the same access check, `run` functions and argument checks as MCP.
async fn dispatch(
    app: &App,
    caller: &Principal,
    name: &str,
    arguments: JsonObject,
) -> Result<Value, Error> {
    access::check(caller, access::tool_needs(name, Some(&arguments)))?;
    match table::find(name) {
        Some(entry) => (entry.run)(app, caller, arguments).await,
        None => Err(unknown_tool(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_routed_tool_is_dispatched() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(crate::config::Config::new(dir.path().to_path_buf()))
            .await
            .unwrap();
        for tool in MemoryServer::tools() {
            let err = dispatch(&app, &Principal::local(), &tool.name, JsonObject::new())
                .await
                .err();
            assert!(
                !matches!(err, Some(Error::UnknownTool { .. })),
                "{} is routed over MCP but not by tools::call",
                tool.name
            );
        }
        let err = dispatch(&app, &Principal::local(), "nope", JsonObject::new())
            .await
            .unwrap_err();
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
                        if let Err(err) = dispatch(&app, &Principal::local(), &tool.name, args.clone()).await {
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
}
