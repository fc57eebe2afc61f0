//! `POST /mcp/tools/call`: plain JSON for scripts and curl, no MCP session needed.
//!
//! Body `{"name": "...", "arguments": {...}}` → 200 with the tool's structured output. Errors
//! are JSON too, `{"error": {"code", "message", "argument"?}}`: 400 for a bad body or bad
//! arguments, 403 for a call the caller's key or token does not allow, 404 for an unknown tool or memory, 500 for a server fault.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Principal;
use crate::app::App;
use crate::error::Error;
use crate::tools;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    name: String,
    #[serde(default)]
    arguments: Option<serde_json::Map<String, Value>>,
}

/// Handles one call.
pub async fn handle(
    State(app): State<App>,
    Extension(caller): Extension<Principal>,
    body: Bytes,
) -> Response {
    let call: Call = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            let message = format!(
                "the body must be a JSON object {{\"name\": \"<tool>\", \"arguments\": {{...}}}}: {e}"
            );
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": {"code": "bad_request", "message": message}}),
            );
        }
    };
    let (request_id, result) = tools::call(
        &app,
        &caller,
        &call.name,
        call.arguments.unwrap_or_default(),
    )
    .await;
    let mut response = match result {
        Ok(output) => reply(StatusCode::OK, output),
        Err(err) => error_reply(&err),
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The JSON error answer for `err`, with the status its code maps to.
pub(super) fn error_reply(err: &Error) -> Response {
    let code = err.code();
    let status = match code {
        "invalid_argument" => StatusCode::BAD_REQUEST,
        "not_found" | "unknown_tool" => StatusCode::NOT_FOUND,
        "forbidden" => StatusCode::FORBIDDEN,
        "timeout" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({"error": {"code": code, "message": err.to_string()}});
    if let Error::InvalidArgument { argument, .. } = err {
        body["error"]["argument"] = json!(argument);
    }
    let mut response = reply(status, body);
    if code == "unavailable" {
        // A load balancer or client retries after this; the database may be restarting.
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from_static("2"),
        );
    }
    response
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}
