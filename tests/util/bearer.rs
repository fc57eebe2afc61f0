//! Requests that carry a credential (a key, the token or an OAuth access token), for the
//! tests of who may do what (tests/access.rs, tests/oauth.rs, tests/fleet.rs).

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::HttpServer;

/// An HTTP client that sends `Authorization: Bearer <credential>` (none: nothing).
pub fn client(credential: Option<&str>) -> Client {
    let mut headers = HeaderMap::new();
    if let Some(credential) = credential {
        let mut value = HeaderValue::from_str(&format!("Bearer {credential}")).unwrap();
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Client::builder().default_headers(headers).build().unwrap()
}

/// `POST /mcp/tools/call` as `credential`; the status, headers and JSON body.
pub fn call(
    server: &HttpServer,
    credential: Option<&str>,
    name: &str,
    arguments: Value,
) -> (u16, HeaderMap, Value) {
    let resp = client(credential)
        .post(format!("{}/mcp/tools/call", server.base))
        .json(&json!({"name": name, "arguments": arguments}))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().unwrap_or(Value::Null))
}

/// `GET path` as `credential`; the status, headers and body.
pub fn get(server: &HttpServer, credential: Option<&str>, path: &str) -> (u16, HeaderMap, String) {
    let resp = client(credential)
        .get(format!("{}{path}", server.base))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().unwrap())
}

/// The memories of `namespace`, as `admin` (a credential that may read it) sees them.
pub fn count(server: &HttpServer, admin: &str, namespace: &str) -> usize {
    let (status, _, body) = call(
        server,
        Some(admin),
        "list_memories",
        json!({"namespace": namespace, "limit": 100}),
    );
    assert_eq!(status, 200, "{body}");
    body["memories"].as_array().unwrap().len()
}

/// The `error.message` of a JSON refusal.
pub fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Waits until `check` holds, failing past 1.5 s (a key ring reloads within a second);
/// returns how long it took.
pub fn within_a_second(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{what}: not within a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}
