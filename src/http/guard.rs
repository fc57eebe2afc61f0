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
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::Principal;
use crate::config::Config;

/// Rate checks between two prunings of the per-client state.
const PRUNE_EVERY: u64 = 1024;

/// Host names that always reach a loopback server.
const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];

/// The rules, built once from the config.
pub struct Guard {
    /// SHA-256 of the token: comparing digests in constant time leaks neither the token nor
    /// its length.
    token: Option<[u8; 32]>,
    /// Extra allowed origins, lowercased, without a trailing slash.
    origins: Vec<String>,
    /// Extra allowed host names, lowercased.
    hosts: Vec<String>,
    /// Largest announced body.
    max_body: u64,
    /// Calls per client address, when limited.
    limiter: Option<Limiter>,
}

/// Per-client rate limits. governor keeps a state for every client address it has seen and
/// forgets none by itself, so a server that runs for months behind many addresses grew
/// without bound; every [`PRUNE_EVERY`] checks the states that are back to fresh (the
/// client's burst fully refilled) are dropped, which changes no decision.
struct Limiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Checks made, to prune every [`PRUNE_EVERY`].
    checks: AtomicU64,
}

impl Limiter {
    /// True when `client` may make a call now.
    fn allow(&self, client: IpAddr) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&client).is_ok()
    }
}

impl Guard {
    /// The rules of `config`.
    pub fn new(config: &Config) -> Guard {
        let limits = &config.limits;
        let limiter = NonZeroU32::new(limits.rate_limit_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(rate);
            Limiter {
                limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
                checks: AtomicU64::new(0),
            }
        });
        Guard {
            token: config.server.token.as_deref().map(digest),
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

    /// True when a token is required.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Extra host names rmcp's own Host check must accept too.
    pub fn extra_hosts(&self) -> &[String] {
        &self.hosts
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

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token else {
            return true;
        };
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let given = if let Some(token) = value.strip_prefix("Bearer ") {
            token.trim().to_string()
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            // user:password, any user, the token as password.
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            match decoded.split_once(':') {
                Some((_, password)) => password.to_string(),
                None => return false,
            }
        } else {
            return false;
        };
        bool::from(digest(&given).ct_eq(want))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
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

/// The middleware.
pub async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    // `/metrics` reports how many clients the limiter tracks.
    request.extensions_mut().insert(guard.clone());
    let headers = request.headers();
    let path = request.uri().path();
    let probe = path == "/health" || path.starts_with("/health/");

    if !guard.has_token()
        && let Err(host) = guard.host_allowed(headers)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "host '{host}' is not allowed\nwithout a token memoryd answers only to localhost, 127.0.0.1 and [::1]; add the name to [server] allowed_hosts, or set a token"
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
    if !probe && !guard.authorized(headers) {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs its token\nsend 'Authorization: Bearer <token>' (the token memoryd serve was started with)".into(),
        );
        // A browser asks for Basic credentials (the token as password) on the pages.
        let challenge = if path == "/status" || path == "/memories" {
            "Basic realm=\"memoryd\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"memoryd\""
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        return response;
    }
    let principal = if guard.has_token() {
        Principal::token()
    } else {
        Principal::open()
    };
    request.extensions_mut().insert(principal);
    let headers = request.headers();
    if !probe && let Some(limiter) = &guard.limiter {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if !limiter.allow(client) {
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
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = announced
        && length > guard.max_body
    {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is {length} bytes, more than the {} allowed\nsend less, or raise [limits] max_body_bytes",
                guard.max_body
            ),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(token: Option<&str>) -> Guard {
        let mut config = Config::default();
        config.server.token = token.map(String::from);
        config.server.allowed_origins = vec!["https://App.example.com/".into()];
        config.server.allowed_hosts = vec!["memory.lan".into()];
        Guard::new(&config)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rate_states_of_quiet_clients_are_dropped() {
        let mut config = Config::default();
        config.limits.rate_limit_per_second = 1000;
        config.limits.rate_limit_burst = 1;
        let guard = Guard::new(&config);
        for round in 0u32..5 {
            for n in 0u32..1000 {
                let client = IpAddr::from((round * 1000 + n + 1).to_be_bytes());
                assert!(guard.limiter.as_ref().unwrap().allow(client));
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
        let busy = IpAddr::from([10, 0, 0, 1]);
        let limiter = guard.limiter.as_ref().unwrap();
        assert!(limiter.allow(busy));
        assert!(!limiter.allow(busy));
    }

    #[test]
    fn origins_loopback_or_listed() {
        let g = guard(None);
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

    #[test]
    fn hosts_loopback_or_listed() {
        let g = guard(None);
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
    fn tokens_as_bearer_or_basic_password() {
        let token = "0123456789abcdef0123";
        let g = guard(Some(token));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{token}"));
        for ok in [format!("Bearer {token}"), format!("Basic {basic}")] {
            assert!(
                g.authorized(&headers(&[(header::AUTHORIZATION, &ok)])),
                "{ok}"
            );
        }
        let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{token}:x"));
        for bad in [
            format!("Bearer {token}x"),
            "Bearer ".to_string(),
            format!("Basic {wrong}"),
            token.to_string(),
        ] {
            assert!(
                !g.authorized(&headers(&[(header::AUTHORIZATION, &bad)])),
                "{bad}"
            );
        }
        assert!(!g.authorized(&HeaderMap::new()));
        assert!(
            guard(None).authorized(&HeaderMap::new()),
            "no token, no check"
        );
    }
}
