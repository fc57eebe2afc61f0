//! What each MCP request needs of its caller: the namespace it reaches and the scope it
//! needs there. The handlers check it before they read or write anything; the HTTP guard
//! asks the same question of a `POST /mcp` body first, so a refusal there is an HTTP 403
//! with `WWW-Authenticate: Bearer error="insufficient_scope"`.

use rmcp::model::JsonObject;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;

use super::resources::Target;
use super::table;
use crate::access::{Principal, Scope};
use crate::memory::DEFAULT_NAMESPACE;

/// The caller of an MCP request: the principal the HTTP guard put on the request, or the
/// local user when it came over stdio (no HTTP request at all). A request over HTTP without
/// one reaches nothing, so a route the guard missed fails closed.
pub fn caller(context: &RequestContext<RoleServer>) -> Principal {
    match context.extensions.get::<axum::http::request::Parts>() {
        Some(parts) => parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_else(Principal::nobody),
        None => Principal::local(),
    }
}

/// The namespace and scope a call of tool `name` needs: `read` for a tool that never writes,
/// `write` for the others, in the one namespace its `namespace` argument names (default
/// "default"). None for an unknown tool, or a `namespace` of the wrong type: the tool refuses
/// those before touching anything.
pub fn tool_needs(name: &str, arguments: Option<&JsonObject>) -> Option<(String, Scope)> {
    let entry = table::find(name)?;
    let needed = if entry.read_only {
        Scope::Read
    } else {
        Scope::Write
    };
    let namespace = match arguments.and_then(|a| a.get("namespace")) {
        None | Some(Value::Null) => DEFAULT_NAMESPACE,
        Some(Value::String(namespace)) => namespace.as_str(),
        Some(_) => return None,
    };
    Some((namespace.to_string(), needed))
}

/// The namespace a resource URI reaches (read), when it parses.
pub fn uri_needs(uri: &str) -> Option<(String, Scope)> {
    match Target::parse(uri).ok()? {
        Target::Memory { namespace, .. } | Target::Pins { namespace, .. } => {
            Some((namespace, Scope::Read))
        }
    }
}

/// The namespace a prompt's arguments reach (read).
pub fn prompt_needs(arguments: Option<&JsonObject>) -> Option<(String, Scope)> {
    let namespace = match arguments.and_then(|a| a.get("namespace")) {
        None | Some(Value::Null) => DEFAULT_NAMESPACE,
        Some(Value::String(namespace)) => namespace.as_str(),
        Some(_) => return None,
    };
    Some((namespace.to_string(), Scope::Read))
}

/// What a JSON-RPC request with `method` and `params` needs, for the methods that reach one
/// namespace's memories. Lists and completions reach none: they show only what the caller
/// may read.
pub fn request_needs(method: &str, params: Option<&JsonObject>) -> Option<(String, Scope)> {
    let param = |key: &str| params.and_then(|p| p.get(key));
    match method {
        "tools/call" => tool_needs(
            param("name")?.as_str()?,
            param("arguments").and_then(Value::as_object),
        ),
        "resources/read" | "resources/subscribe" => uri_needs(param("uri")?.as_str()?),
        "prompts/get" => prompt_needs(param("arguments").and_then(Value::as_object)),
        _ => None,
    }
}

/// Refuses what `caller` may not do: `needs` as computed above.
pub fn check(
    caller: &Principal,
    needs: Option<(String, Scope)>,
) -> Result<(), crate::error::Error> {
    match needs {
        Some((namespace, needed)) => Ok(caller.allows(&namespace, needed)?),
        None => Ok(()),
    }
}

/// [`check`] for the MCP handlers.
pub fn check_mcp(caller: &Principal, needs: Option<(String, Scope)>) -> Result<(), ErrorData> {
    check(caller, needs).map_err(ErrorData::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn each_request_names_its_namespace_and_scope() {
        let call = |name: &str, args: Value| {
            request_needs(
                "tools/call",
                Some(&object(json!({"name": name, "arguments": args}))),
            )
        };
        assert_eq!(
            call("search_memory", json!({"query": "x", "namespace": "a/b"})),
            Some(("a/b".into(), Scope::Read))
        );
        assert_eq!(
            call("store_memory", json!({"content": "x"})),
            Some(("default".into(), Scope::Write))
        );
        assert_eq!(
            call("delete_memory", json!({"id": "x", "namespace": "n"})),
            Some(("n".into(), Scope::Write))
        );
        assert_eq!(call("nope", json!({})), None);
        assert_eq!(call("get_memory", json!({"namespace": 7})), None);
        assert_eq!(
            request_needs(
                "resources/read",
                Some(&object(json!({"uri": "memory://team%2Fa/abc"})))
            ),
            Some(("team/a".into(), Scope::Read))
        );
        assert_eq!(
            request_needs(
                "prompts/get",
                Some(&object(
                    json!({"name": "recall", "arguments": {"namespace": "p"}})
                ))
            ),
            Some(("p".into(), Scope::Read))
        );
        assert_eq!(request_needs("resources/list", None), None);
    }
}
