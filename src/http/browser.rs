//! `GET /memories`: the memory browser, one self-contained HTML page (like `/status`), and the
//! two routes it talks to.
//!
//! - `GET /memories/api/context`: the namespaces (with their counts) and configured roles,
//!   for the page's pickers.
//! - `POST /memories/api/call`: `{"name", "arguments"}` for one of the tools the page uses
//!   (search, list, get, update, delete, rehydrate), run by the same dispatcher as
//!   `POST /mcp/tools/call`: the same validation, dedupe, metrics and log lines.
//!
//! The guard in front of every route already checks the token (Basic auth in a browser), the
//! Host and any loopback or configured Origin. Because a browser sends Basic credentials on its
//! own, state changes need more: a call must come from this server's own page, so it must
//! carry (1) an `Origin` equal to this server's (not merely some loopback port), (2) the
//! session cookie set with the page (`SameSite=Strict`, `HttpOnly`), and (3) the header
//! `x-memoryd-csrf` holding HMAC-SHA256(secret, cookie), which only the page knows: the
//! secret is drawn at start and never leaves the process, and another origin can neither read
//! the page nor send a custom header without a CORS preflight, which memoryd never grants.
//! The page renders memory content with `textContent` only, never as HTML, under a CSP that
//! forbids loading anything from elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::tools_call;
use crate::access::Principal;
use crate::app::App;
use crate::memory::DEFAULT_NAMESPACE;

/// The page; `__CSRF_TOKEN__` is replaced per session.
const PAGE: &str = include_str!("browser.html");
/// The cookie that names a browser session.
const COOKIE: &str = "memoryd_browser";
/// The header that carries the session's token.
const TOKEN_HEADER: &str = "x-memoryd-csrf";
/// The tools the page may call; storing new memories stays with the agents.
const TOOLS: [&str; 6] = [
    "search_memory",
    "list_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "rehydrate_memory",
];

/// The browser's routes and their state.
struct Browser {
    /// Everything the tools need.
    app: App,
    /// Key of the session tokens, drawn once per process: restarting the server signs every
    /// page out (reloading the page signs it in again).
    secret: [u8; 32],
}

/// The browser's routes, with their own state.
pub fn router(app: App) -> Router {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system provides random bytes");
    let state = Arc::new(Browser { app, secret });
    Router::new()
        .route("/memories", get(page))
        .route("/memories/api/context", get(context))
        .route("/memories/api/call", post(call))
        .with_state(state)
}

/// `GET /memories`: the page, with a session cookie and the token that goes with it.
async fn page(State(browser): State<Arc<Browser>>, headers: HeaderMap) -> Response {
    let session = cookie(&headers)
        .filter(|s| valid_session_id(s))
        .unwrap_or_else(new_session_id);
    let token = hex(&hmac_sha256(&browser.secret, session.as_bytes()));
    let html = PAGE.replace("__CSRF_TOKEN__", &token);
    let cookie = format!("{COOKIE}={session}; Path=/memories; HttpOnly; SameSite=Strict");
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                super::status::CONTENT_SECURITY_POLICY,
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /memories/api/context`: namespaces (those the caller may read) and roles for the
/// pickers.
async fn context(
    State(browser): State<Arc<Browser>>,
    Extension(caller): Extension<Principal>,
) -> Response {
    let app = &browser.app;
    let namespaces = match app.store().namespace_counts().await {
        Ok(counts) => counts,
        Err(err) => return tools_call::error_reply(&err),
    };
    let namespaces: Vec<Value> = namespaces
        .into_iter()
        .filter(|(name, _)| caller.may_read(name))
        .map(|(name, memories)| json!({"name": name, "memories": memories}))
        .collect();
    let roles: Vec<&String> = app.config().roles.keys().collect();
    let limits = app.limits();
    axum::Json(json!({
        "default_namespace": DEFAULT_NAMESPACE,
        "namespaces": namespaces,
        "roles": roles,
        "max_search_limit": limits.max_search_limit,
        "max_list_limit": limits.max_list_limit,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Call {
    name: String,
}

/// `POST /memories/api/call`: one tool call from the page.
async fn call(
    State(browser): State<Arc<Browser>>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let allowed = &browser.app.config().server.allowed_origins;
    if let Err((code, message)) =
        same_origin(&headers, allowed).and_then(|()| check_token(&browser.secret, &headers))
    {
        return refuse(StatusCode::FORBIDDEN, code, message);
    }
    let Ok(call) = serde_json::from_slice::<Call>(&body) else {
        // The dispatcher explains what a body must look like.
        return tools_call::handle(State(browser.app.clone()), Extension(caller), body).await;
    };
    if !TOOLS.contains(&call.name.as_str()) {
        return refuse(
            StatusCode::NOT_FOUND,
            "unknown_tool",
            format!(
                "the browser does not call '{}'\nit calls {}; use /mcp or /mcp/tools/call for the others",
                call.name,
                TOOLS.join(", ")
            ),
        );
    }
    tools_call::handle(State(browser.app.clone()), Extension(caller), body).await
}

/// Why a request is refused: an error code and the message for it.
type Refusal = (&'static str, String);

/// The session cookie and the token header match.
fn check_token(secret: &[u8; 32], headers: &HeaderMap) -> Result<(), Refusal> {
    let stale = |why: &str| {
        (
            "csrf",
            format!(
                "{why}\nreload /memories (the page carries the token; a restart of memoryd renews it)"
            ),
        )
    };
    let Some(session) = cookie(headers).filter(|s| valid_session_id(s)) else {
        return Err(stale("the request has no browser session cookie"));
    };
    let Some(given) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(stale("the request has no x-memoryd-csrf header"));
    };
    let want = hex(&hmac_sha256(secret, session.as_bytes()));
    if bool::from(given.as_bytes().ct_eq(want.as_bytes())) {
        Ok(())
    } else {
        Err(stale(
            "the x-memoryd-csrf token does not match this session",
        ))
    }
}

/// The request's `Origin` is this server (as named by `Host`), or one of `[server]
/// allowed_origins` (a reverse proxy that rewrites `Host`): stricter than the guard, which
/// lets any loopback origin through.
fn same_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Refusal> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let origin = text(header::ORIGIN).unwrap_or("");
    let host = text(header::HOST).unwrap_or("");
    let authority = ["http://", "https://"]
        .iter()
        .find_map(|scheme| origin.strip_prefix(scheme));
    if !host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(host)) {
        return Ok(());
    }
    let trimmed = origin.trim_end_matches('/');
    if !trimmed.is_empty()
        && allowed
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(trimmed))
    {
        return Ok(());
    }
    let shown = if origin.is_empty() { "none" } else { origin };
    Err((
        "forbidden_origin",
        format!(
            "origin '{shown}' is not this server's page\nthe browser API answers only the /memories page it serves; scripts use /mcp or /mcp/tools/call"
        ),
    ))
}

/// The value of the session cookie, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// 32 lowercase hex digits, as [`new_session_id`] makes them.
fn valid_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn new_session_id() -> String {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the operating system provides random bytes");
    hex(&id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104) of `message` under a key of at most one block.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    /// RFC 4231, test case 2 has a short key; pad it to our 32 bytes with zeros, which HMAC
    /// does itself, so the expected value is the RFC's.
    #[test]
    fn hmac_matches_rfc_4231() {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_this_servers_origin() {
        let host = ("host", "127.0.0.1:8377");
        let none: &[String] = &[];
        let ok = |origin| same_origin(&headers(&[host, ("origin", origin)]), none).is_ok();
        assert!(ok("http://127.0.0.1:8377"));
        assert!(ok("https://127.0.0.1:8377"));
        let proxy = ["https://memory.example.com/".to_string()];
        let behind = headers(&[host, ("origin", "https://memory.example.com")]);
        assert!(same_origin(&behind, &proxy).is_ok(), "a configured origin");
        assert!(same_origin(&behind, none).is_err());
        for bad in [
            "http://127.0.0.1:3000",
            "http://localhost:8377",
            "null",
            "http://evil.example",
            "http://127.0.0.1:8377.evil.example",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        assert!(
            same_origin(&headers(&[host]), none).is_err(),
            "no Origin: no page"
        );
    }

    #[test]
    fn token_belongs_to_its_session() {
        let secret = [7; 32];
        let session = "0123456789abcdef0123456789abcdef";
        let token = hex(&hmac_sha256(&secret, session.as_bytes()));
        let cookie = format!("theme=dark; {COOKIE}={session}");
        assert!(
            check_token(
                &secret,
                &headers(&[("cookie", &cookie), (TOKEN_HEADER, &token)])
            )
            .is_ok()
        );
        let other = format!("{COOKIE}=ffffffffffffffffffffffffffffffff");
        for bad in [
            headers(&[("cookie", &cookie)]),
            headers(&[(TOKEN_HEADER, &token)]),
            headers(&[("cookie", &other), (TOKEN_HEADER, &token)]),
            headers(&[("cookie", &cookie), (TOKEN_HEADER, &token[1..])]),
        ] {
            assert!(check_token(&secret, &bad).is_err(), "{bad:?}");
        }
        assert!(!valid_session_id("../../etc"));
        assert!(valid_session_id(&new_session_id()));
    }
}
