//! Who may call `memoryd serve`, and how much: one middleware in front of every route.
//!
//! In order, a request must:
//! 1. name a loopback host (or a configured one) when no token is set: a page on
//!    `evil.example` that rebinds its DNS to 127.0.0.1 still sends `Host: evil.example`;
//! 2. come from no browser page, or from a loopback or configured `Origin` (the MCP spec's
//!    DNS-rebinding rule; there is no CORS, so no other page can read an answer);
//! 3. carry the token when one is set (`/health*` excepted, for probes): `Authorization:
//!    Bearer <token>`, or Basic auth with the token as the password so a browser can open
//!    `/status`; compared in constant time, never logged;
//! 4. stay within the per-client rate, when one is set;
//! 5. announce a body no larger than `limits.max_body_bytes` (bodies without a length are cut
//!    off at that size by the body readers).
//!
//! Every refusal is JSON, `{"error": {"code", "message"}}`, with the message saying what to do.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::access::gate::{Gate, Refusal};
use crate::access::{Principal, Scope, Via};
use crate::app::App;

/// Rate checks between two prunings of the per-client state.
const PRUNE_EVERY: u64 = 1024;

/// Host names that always reach a loopback server.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];

/// The rules, built once from the config.
pub struct Guard {
    /// Which principal a credential proves.
    app: App,
    /// Extra allowed origins, lowercased, without a trailing slash.
    origins: Vec<String>,
    /// Extra allowed host names, lowercased.
    hosts: Vec<String>,
    /// Largest announced body.
    max_body: u64,
    /// Calls per client address, when limited.
    limiter: Option<Limiter>,
}

/// Who a rate applies to: the principal a credential proved (a key, a token's subject), or
/// the client's address when there is none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Client {
    /// A key, by id.
    Key(String),
    /// An OAuth subject, or the configured token (`None`).
    Subject(Option<String>),
    /// An address, when nobody proved who they are.
    Address(IpAddr),
}

impl Client {
    /// The rate key of `principal` calling from `address`.
    fn of(principal: &Principal, address: IpAddr) -> Client {
        match &principal.via {
            Via::Key(id) => Client::Key(id.clone()),
            Via::OAuth => Client::Subject(principal.name.clone()),
            Via::Token => Client::Subject(None),
            Via::Local | Via::Open => Client::Address(address),
        }
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Key(id) => write!(f, "key {id}"),
            Client::Subject(Some(sub)) => write!(f, "'{sub}'"),
            Client::Subject(None) => f.write_str("the token"),
            Client::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// Per-client rate limits. governor keeps a state for every client it has seen and forgets
/// none by itself, so a server that runs for months behind many clients grew without bound;
/// every [`PRUNE_EVERY`] checks the states that are back to fresh (the client's burst fully
/// refilled) are dropped, which changes no decision.
struct Limiter {
    limiter: DefaultKeyedRateLimiter<Client>,
    /// Checks made, to prune every [`PRUNE_EVERY`].
    checks: AtomicU64,
}

impl Limiter {
    /// True when `client` may make a call now.
    fn allow(&self, client: &Client) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(client).is_ok()
    }
}

impl Guard {
    /// The rules of `app`'s config, with its gate.
    pub fn new(app: &App) -> Guard {
        let config = app.config();
        let limits = &config.limits;
        let limiter = NonZeroU32::new(limits.rate_limit_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(rate);
            Limiter {
                limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
                checks: AtomicU64::new(0),
            }
        });
        Guard {
            app: app.clone(),
            origins: config
                .server
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            hosts: config
                .server
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            max_body: limits.max_body_bytes as u64,
            limiter,
        }
    }

    /// Client addresses whose rate state is kept (for `/metrics`; 0 without a rate limit).
    pub fn tracked_clients(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.limiter.len())
    }

    fn host_allowed(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(host) = headers.get(header::HOST) else {
            return Ok(());
        };
        let host = host.to_str().unwrap_or("").to_ascii_lowercase();
        let name = strip_port(&host);
        if LOOPBACK_HOSTS.contains(&name) || self.hosts.iter().any(|h| h == name || *h == host) {
            return Ok(());
        }
        Err(host)
    }

    fn origin_allowed(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        let trimmed = origin.trim_end_matches('/');
        let loopback = ["http://", "https://"]
            .iter()
            .filter_map(|scheme| trimmed.strip_prefix(scheme))
            .any(|authority| LOOPBACK_HOSTS.contains(&strip_port(authority)));
        if loopback || self.origins.iter().any(|o| o == trimmed) {
            return Ok(());
        }
        Err(origin)
    }
}

/// `host:port` → `host`, `[::1]:port` → `[::1]`.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The credential a request carries: `Authorization: Bearer <credential>`, or Basic auth with
/// the credential as the password (so a browser can open `/status` and `/memories`).
fn credential(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme's name is case-insensitive (RFC 9110 section 11.1).
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let basic = rest;
    // user:password, any user.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    decoded
        .split_once(':')
        .map(|(_, password)| password.to_string())
}

/// Routes only an admin may open.
fn admin_only(path: &str) -> bool {
    path == "/metrics" || path == "/status" || path.starts_with("/status/")
}

/// The RFC 9728 metadata document's own path (anything under it names the same document).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The challenge of a 401 or 403: Basic for the pages a browser opens, else Bearer, pointing
/// an OAuth client at the metadata that names the issuer.
fn challenge(guard: &Guard, path: &str, error: Option<&str>, needed: Scope) -> HeaderValue {
    let text = match guard.app.gate().oauth() {
        _ if error.is_none() && (path == "/status" || path == "/memories") => {
            "Basic realm=\"memoryd\", charset=\"UTF-8\"".to_string()
        }
        Some(oauth) => {
            let mut text = format!(
                "Bearer resource_metadata=\"{}\", scope=\"{}\"",
                metadata_url(oauth.audience()),
                Gate::scopes_for(needed)
            );
            if let Some(error) = error {
                text.push_str(&format!(", error=\"{error}\""));
            }
            text
        }
        None => match error {
            Some(error) => format!("Bearer realm=\"memoryd\", error=\"{error}\""),
            None => "Bearer realm=\"memoryd\"".to_string(),
        },
    };
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Bearer"))
}

/// Where the metadata of resource `audience` is (RFC 9728 section 3.1: the well-known path
/// goes between the host and the resource's path).
pub fn metadata_url(audience: &str) -> String {
    match url::Url::parse(audience) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            format!(
                "{}{METADATA_PATH}{path}",
                url.origin().ascii_serialization()
            )
        }
        Err(_) => METADATA_PATH.to_string(),
    }
}

/// A 401 (`unauthorized`) or 403 (`forbidden`) with its challenge and its RFC 6750 error.
fn refuse_auth(
    guard: &Guard,
    path: &str,
    status: StatusCode,
    error: Option<&str>,
    message: String,
    needed: Scope,
) -> Response {
    let code = if status == StatusCode::FORBIDDEN {
        "forbidden"
    } else {
        "unauthorized"
    };
    let mut response = refuse(status, code, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        challenge(guard, path, error, needed),
    );
    response
}

/// The 403 of a call the principal may not make, with the scope to ask for.
fn forbidden(guard: &Guard, path: &str, denied: crate::access::Denied) -> Response {
    refuse_auth(
        guard,
        path,
        StatusCode::FORBIDDEN,
        Some("insufficient_scope"),
        denied.message,
        denied.needed,
    )
}

/// The middleware.
pub async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    // `/metrics` reports how many clients the limiter tracks.
    request.extensions_mut().insert(guard.clone());
    let headers = request.headers();
    let path = request.uri().path().to_string();
    let probe = path == "/health" || path.starts_with("/health/");
    let metadata = path == METADATA_PATH || path.starts_with(&format!("{METADATA_PATH}/"));
    let gate = guard.app.gate();

    // Probes answer without the database, so they see only the configured credentials.
    let required = if probe || metadata {
        gate.has_token() || gate.oauth().is_some()
    } else {
        match gate.required().await {
            Ok(required) => required,
            Err(err) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!(
                        "cannot read the keys to check this request: {err}\ntry again in a moment"
                    ),
                );
            }
        }
    };
    if !required && let Err(host) = guard.host_allowed(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "host '{host}' is not allowed\nwithout a credential memoryd answers only to localhost, 127.0.0.1 and [::1]; add the name to [server] allowed_hosts, or set a token or create a key"
            ),
        );
    }
    if let Err(origin) = guard.origin_allowed(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            format!(
                "origin '{origin}' may not call memoryd\nonly pages on this machine may; add your own origin to [server] allowed_origins if you trust it"
            ),
        );
    }
    let principal = if probe || metadata || !required {
        Principal::open()
    } else {
        let now = crate::memory::now();
        match gate
            .authenticate(credential(headers).as_deref(), &now)
            .await
        {
            Ok(principal) => principal,
            Err(Refusal::Unavailable(err)) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("cannot check the key: {err}\ntry again in a moment"),
                );
            }
            // An access token's refusal carries its own status (see `TokenRefused`): 503
            // when the issuer could not be reached, 403 for a token with no memory scope.
            Err(Refusal::Token(refused)) if refused.status() == 503 => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    refused.to_string(),
                );
            }
            Err(Refusal::Token(refused)) if refused.status() == 403 => {
                return refuse_auth(
                    &guard,
                    &path,
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    refused.to_string(),
                    Scope::Read,
                );
            }
            Err(refusal) => {
                // RFC 6750: a request with no credential gets no error code in its challenge.
                let error = match refusal {
                    Refusal::Missing(_) => None,
                    _ => Some("invalid_token"),
                };
                return refuse_auth(
                    &guard,
                    &path,
                    StatusCode::UNAUTHORIZED,
                    error,
                    refusal.to_string(),
                    Scope::Read,
                );
            }
        }
    };
    if admin_only(&path)
        && let Err(denied) = principal.allows_admin(&path)
    {
        return forbidden(&guard, &path, denied);
    }
    if !probe && let Some(limiter) = &guard.limiter {
        let address = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let client = Client::of(&principal, address);
        if !limiter.allow(&client) {
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from {client}\nslow down and retry in a second, or raise [limits] rate_limit_per_second"
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    }
    let headers = request.headers();
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = announced
        && length > guard.max_body
    {
        return too_large(&format!("{length} bytes"), guard.max_body);
    }
    // A call the principal may not make is refused here, as HTTP 403 with the scope to ask
    // for; the handlers check again (over stdio too), so this is only the answer's shape.
    // Admins may do everything: their bodies are not read twice.
    let shape = match path.as_str() {
        "/mcp" => Some(Body::JsonRpc),
        "/mcp/tools/call" | "/memories/api/call" => Some(Body::ToolCall),
        _ => None,
    };
    if let Some(shape) = shape
        && !principal.is_admin()
        && request.method() == axum::http::Method::POST
    {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, guard.max_body as usize).await {
            Ok(bytes) => bytes,
            Err(_) => return too_large(&format!("over {} bytes", guard.max_body), guard.max_body),
        };
        if let Some(denied) = denied(&principal, shape, &bytes) {
            return forbidden(&guard, &path, denied);
        }
        request = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The 413 of a body of `size` (its announced length, or "over N bytes" when reading it ran
/// past the limit).
fn too_large(size: &str, max: u64) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is {size}, more than the {max} allowed\nsend less, or raise [limits] max_body_bytes"
        ),
    )
}

/// What a POST body holds.
#[derive(Clone, Copy)]
enum Body {
    /// A JSON-RPC message (`/mcp`).
    JsonRpc,
    /// `{"name", "arguments"}` (`/mcp/tools/call`, `/memories/api/call`).
    ToolCall,
}

/// The refusal of the call in `body` that `principal` may not make; none for anything else
/// (a body that does not parse is the route's to answer).
fn denied(principal: &Principal, shape: Body, body: &[u8]) -> Option<crate::access::Denied> {
    use crate::tools::access::{request_needs, tool_needs};
    let message: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = |key: &str| message.get(key).and_then(serde_json::Value::as_object);
    let (namespace, needed) = match shape {
        Body::JsonRpc => request_needs(message.get("method")?.as_str()?, object("params"))?,
        Body::ToolCall => tool_needs(message.get("name")?.as_str()?, object("arguments"))?,
    };
    principal.allows(&namespace, needed).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Config;

    /// A guard over a throwaway data dir (the directory lives as long as the guard's app
    /// needs it: SQLite keeps the file open).
    async fn guard_with(config: impl FnOnce(&mut Config)) -> (Guard, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::new(dir.path().to_path_buf());
        c.server.allowed_origins = vec!["https://App.example.com/".into()];
        c.server.allowed_hosts = vec!["memory.lan".into()];
        config(&mut c);
        let app = App::open(c).await.unwrap();
        (Guard::new(&app), dir)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[tokio::test]
    async fn rate_states_of_quiet_clients_are_dropped() {
        let (guard, _dir) = guard_with(|c| {
            c.limits.rate_limit_per_second = 1000;
            c.limits.rate_limit_burst = 1;
        })
        .await;
        for round in 0u32..5 {
            for n in 0u32..1000 {
                let client = Client::Address(IpAddr::from((round * 1000 + n + 1).to_be_bytes()));
                assert!(guard.limiter.as_ref().unwrap().allow(&client));
            }
            // Each state is fresh again 1 ms after its one call.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // 5,000 clients seen; only those since the last pruning are kept.
        let kept = guard.tracked_clients();
        assert!(
            kept <= PRUNE_EVERY as usize + 1000,
            "{kept} client states kept"
        );
        // A client over its rate is still refused: pruning changes no decision.
        let busy = Client::Address(IpAddr::from([10, 0, 0, 1]));
        let limiter = guard.limiter.as_ref().unwrap();
        assert!(limiter.allow(&busy));
        assert!(!limiter.allow(&busy));
        // Each key has its own rate, whatever address it calls from.
        assert!(limiter.allow(&Client::Key("0123456789abcdef".into())));
        assert!(limiter.allow(&Client::Key("fedcba9876543210".into())));
        assert!(!limiter.allow(&Client::Key("0123456789abcdef".into())));
    }

    #[test]
    fn rate_keys_follow_the_principal_not_the_address() {
        let here = IpAddr::from([10, 0, 0, 1]);
        let mut key = Principal::nobody();
        key.via = Via::Key("0123456789abcdef".into());
        assert_eq!(
            Client::of(&key, here),
            Client::Key("0123456789abcdef".into())
        );
        let mut token = Principal::nobody();
        token.via = Via::OAuth;
        token.name = Some("alice".into());
        assert_eq!(
            Client::of(&token, here),
            Client::Subject(Some("alice".into()))
        );
        assert_eq!(Client::of(&Principal::open(), here), Client::Address(here));
    }

    #[tokio::test]
    async fn origins_loopback_or_listed() {
        let (g, _dir) = guard_with(|_| {}).await;
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:8443",
            "https://app.example.com",
        ] {
            assert!(
                g.origin_allowed(&headers(&[(header::ORIGIN, ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
            "http://app.example.com",
            "file://",
        ] {
            assert!(
                g.origin_allowed(&headers(&[(header::ORIGIN, bad)]))
                    .is_err(),
                "{bad}"
            );
        }
        assert!(
            g.origin_allowed(&HeaderMap::new()).is_ok(),
            "no Origin: not a browser"
        );
    }

    #[tokio::test]
    async fn hosts_loopback_or_listed() {
        let (g, _dir) = guard_with(|_| {}).await;
        for ok in [
            "localhost:3000",
            "127.0.0.1",
            "[::1]:3000",
            "memory.lan:3000",
        ] {
            assert!(
                g.host_allowed(&headers(&[(header::HOST, ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in ["evil.example", "evil.example:3000", "127.0.0.1.nip.io"] {
            assert!(
                g.host_allowed(&headers(&[(header::HOST, bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn credentials_as_bearer_or_basic_password() {
        let token = "0123456789abcdef0123";
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{token}"));
        for ok in [
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("Basic {basic}"),
        ] {
            let h = headers(&[(header::AUTHORIZATION, &ok)]);
            assert_eq!(credential(&h).as_deref(), Some(token), "{ok}");
        }
        let no_colon = base64::engine::general_purpose::STANDARD.encode(token);
        for none in [
            format!("Basic {no_colon}"),
            "Basic !!".into(),
            token.to_string(),
        ] {
            let h = headers(&[(header::AUTHORIZATION, &none)]);
            assert_eq!(credential(&h), None, "{none}");
        }
        assert_eq!(credential(&HeaderMap::new()), None);
    }

    #[test]
    fn metadata_sits_between_host_and_path() {
        assert_eq!(
            metadata_url("https://memory.example.com/mcp"),
            "https://memory.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:3000/"),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource"
        );
    }
}
