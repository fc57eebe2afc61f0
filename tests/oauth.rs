//! OAuth 2.1 access tokens against a real `memoryd serve` and a real issuer
//! (oauth2-mock-server, [`Issuer`]): discovery and keys from the issuer, scopes and the
//! namespace claim on plain JSON and MCP over HTTP, the RFC 9728 metadata and challenges,
//! each kind of bad token refused with its reason and nothing written, an issuer that is down,
//! and tokens kept out of the log. Runs on both engines.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::util::bearer::{call, client, count, message};
use crate::util::issuer::Issuer;
use crate::util::{DataDir, HttpServer, mcp_stateless};

/// The `[auth] audience` of every server here: a name tokens must carry, not an address.
const AUDIENCE: &str = "https://memoryd.test/mcp";

/// Where a client finds the metadata of [`AUDIENCE`] (RFC 9728 section 3.1).
const METADATA_URL: &str = "https://memoryd.test/.well-known/oauth-protected-resource/mcp";

/// `memoryd serve --offline` (keyword search is enough here) taking `issuer`'s tokens.
fn serve(dir: &DataDir, issuer_url: &str, env: &[(&str, &str)]) -> HttpServer {
    let mut command = dir.bare_command(&["serve", "--port", "0", "--offline"]);
    command
        .env("MEMORYD_AUTH__ISSUER", issuer_url)
        .env("MEMORYD_AUTH__AUDIENCE", AUDIENCE)
        .envs(env.iter().copied());
    HttpServer::start_command(dir, command)
}

/// The claims of a token for this server: `sub`, `scope` and the namespace claim.
fn claims(sub: &str, scope: &str, namespaces: &[&str]) -> Value {
    json!({"aud": AUDIENCE, "sub": sub, "scope": scope, "memoryd_namespaces": namespaces})
}

fn challenge(headers: &HeaderMap) -> &str {
    headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

#[test]
fn a_token_from_the_issuer_reaches_its_namespaces_with_its_scope() {
    let mut issuer = Issuer::start();
    let dir = DataDir::new();
    let server = serve(&dir, &issuer.url, &[]);
    let writer = issuer.token(claims("alice", "openid memory:write", &["team-a/*"]));
    let reader = issuer.token(claims("bob", "memory:read", &["team-a/*"]));

    let (status, _, stored) = call(
        &server,
        Some(&writer),
        "store_memory",
        json!({"content": "Team A deploys on Tuesdays.", "namespace": "team-a/x"}),
    );
    assert_eq!(status, 200, "{stored}");
    let id = stored["id"].as_str().unwrap().to_string();
    // Who wrote it is the token's subject (once the engines record writers: until then
    // get_memory has no created_by, and only the read is checked).
    let (status, _, got) = call(
        &server,
        Some(&reader),
        "get_memory",
        json!({"id": id, "namespace": "team-a/x"}),
    );
    assert_eq!(status, 200, "{got}");
    if let Some(by) = got.get("created_by") {
        assert_eq!(by, "alice", "{got}");
    }

    // Outside its namespaces, or beyond its scope: 403 naming what the token may do.
    let (status, _, refused) = call(
        &server,
        Some(&writer),
        "store_memory",
        json!({"content": "Not alice's team.", "namespace": "team-b"}),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        message(&refused),
        "the token of 'alice' may not write to namespace 'team-b'\nit may read and write namespaces team-a/*"
    );
    let (status, _, refused) = call(
        &server,
        Some(&reader),
        "store_memory",
        json!({"content": "Bob may only read.", "namespace": "team-a/x"}),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        message(&refused),
        "the token of 'bob' may not write to namespace 'team-a/x'\nit may read namespaces team-a/*"
    );
    // Over MCP the 403 also says which scope to ask the issuer for (RFC 6750 section 3.1).
    let resp = client(Some(&reader))
        .post(format!("{}/mcp", server.base))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params":
                {"name": "store_memory", "arguments":
                    {"content": "Bob over MCP.", "namespace": "team-a/x"}}})
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let said = challenge(resp.headers()).to_string();
    assert!(said.contains("error=\"insufficient_scope\""), "{said}");
    assert!(
        said.contains("scope=\"memory:read memory:write\""),
        "{said}"
    );
    assert!(
        said.contains(&format!("resource_metadata=\"{METADATA_URL}\"")),
        "{said}"
    );
    assert!(
        resp.text()
            .unwrap()
            .contains("may not write to namespace 'team-a/x'"),
        "the message names what bob may do"
    );

    // MCP over HTTP: the same tokens, the same rules.
    let found = mcp_stateless(
        &client(Some(&reader)),
        &server.base,
        1,
        "tools/call",
        json!({"name": "search_memory", "arguments":
            {"query": "Tuesdays", "namespace": "team-a/x", "mode": "keyword"}}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        found["structuredContent"]["hits"].as_array().unwrap().len(),
        1,
        "{found}"
    );
    let stored = mcp_stateless(
        &client(Some(&writer)),
        &server.base,
        2,
        "tools/call",
        json!({"name": "store_memory", "arguments":
            {"content": "Alice over MCP.", "namespace": "team-a/y"}}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(stored["isError"], false, "{stored}");
    let admin = issuer.token(claims("ops", "memory:admin", &[]));
    assert_eq!(count(&server, &admin, "team-a/x"), 1, "only alice's write");
    assert_eq!(
        count(&server, &admin, "team-a/y"),
        1,
        "alice's write over MCP"
    );
    assert_eq!(count(&server, &admin, "team-b"), 0);
    // The operator's pages take an admin token, and only that.
    let metrics = |token: &str| {
        client(Some(token))
            .get(format!("{}/metrics", server.base))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(metrics(&admin), 200);
    assert_eq!(metrics(&writer), 403);
}

#[test]
fn without_a_token_the_challenge_points_at_the_metadata_that_names_the_issuer() {
    let issuer = Issuer::start();
    let dir = DataDir::new();
    let server = serve(&dir, &issuer.url, &[]);
    let (status, headers, body) = call(&server, None, "list_memories", json!({}));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let said = challenge(&headers);
    assert!(
        said.starts_with(&format!("Bearer resource_metadata=\"{METADATA_URL}\"")),
        "{said}"
    );
    assert!(said.contains("scope=\"memory:read\""), "{said}");
    assert!(
        !said.contains("error="),
        "RFC 6750: no error code without a token: {said}"
    );
    assert!(
        message(&body).contains("an OAuth access token from the issuer"),
        "{body}"
    );
    // The metadata needs no token, at the well-known path and under the resource's path.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (status, metadata) = server.get_json(path);
        assert_eq!(status, 200, "{path}: {metadata}");
        assert_eq!(
            metadata,
            json!({
                "resource": AUDIENCE,
                "authorization_servers": [issuer.url],
                "scopes_supported": ["memory:read", "memory:write", "memory:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "memoryd",
            }),
            "{path}"
        );
    }
    // Probes stay open.
    assert_eq!(server.get("/health/ready", None).0, 200);
}

#[test]
fn each_bad_token_gets_401_with_its_reason_and_writes_nothing() {
    let mut issuer = Issuer::start();
    let dir = DataDir::new();
    let server = serve(&dir, &issuer.url, &[("MEMORYD_LOG", "debug")]);
    let good = claims("mallory", "memory:write", &["team-a/*"]);
    let with = |extra: Value| {
        let mut claims = good.clone();
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A valid token whose claims are swapped for others under the same signature.
    let valid = issuer.token(good.clone());
    let mut parts: Vec<String> = valid.split('.').map(String::from).collect();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(with(json!({"memoryd_namespaces": ["*"]})).to_string());
    let tampered = parts.join(".");
    let cases = [
        (
            "malformed",
            "abc.def.ghi".to_string(),
            "the access token is malformed",
        ),
        (
            "alg none",
            issuer.forge("none", good.clone()),
            "the access token is unsigned (alg none)",
        ),
        (
            "HS256 signed with the issuer's public key",
            issuer.forge("hs256-public-key", good.clone()),
            "says it is signed with HS256, but the authorization server's key is for RS256",
        ),
        ("tampered claims", tampered, "signature does not verify"),
        (
            "wrong iss",
            issuer.token(with(json!({"iss": "http://127.0.0.1:1"}))),
            "issued by another authorization server",
        ),
        (
            "wrong aud",
            issuer.token(with(json!({"aud": "https://other.test/mcp"}))),
            "meant for another resource\nask the authorization server for a token with resource=https://memoryd.test/mcp",
        ),
        (
            "expired",
            issuer.token_expiring(good.clone(), -120),
            "the access token expired",
        ),
        (
            "nbf in the future",
            issuer.token(with(json!({"nbf": now + 3600}))),
            "not valid yet",
        ),
        (
            "a kid the issuer does not publish",
            issuer.forge("unpublished-key", good.clone()),
            "signed with a key the authorization server does not publish (kid 'unpublished-key')",
        ),
        (
            "no sub",
            issuer.token(with(json!({"sub": null}))),
            "has no 'sub' claim",
        ),
        (
            "a bad namespace pattern",
            issuer.token(with(json!({"memoryd_namespaces": ["team a"]}))),
            "'memoryd_namespaces' claim is not usable: 'team a' is not a namespace pattern",
        ),
        (
            "an oversized Authorization header",
            issuer.token(with(json!({"padding": "x".repeat(9000)}))),
            "more than the 8192 accepted",
        ),
    ];
    for (what, token, says) in &cases {
        let (status, headers, body) = call(
            &server,
            Some(token),
            "store_memory",
            json!({"content": format!("written with a token: {what}"), "namespace": "team-a/x"}),
        );
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        assert!(message(&body).contains(says), "{what}: {body}");
        assert!(
            !message(&body).contains(token.as_str()),
            "{what}: the token is echoed"
        );
        let said = challenge(&headers);
        assert!(said.contains("error=\"invalid_token\""), "{what}: {said}");
        assert!(said.contains("resource_metadata="), "{what}: {said}");
    }
    // A valid token that grants no memory scope: 403, so a client asks for a scope.
    let scopeless = issuer.token(with(json!({"scope": "openid profile"})));
    let (status, headers, body) = call(&server, Some(&scopeless), "list_memories", json!({}));
    assert_eq!(status, 403, "{body}");
    assert!(
        message(&body)
            .contains("grants none of the scopes memory:read, memory:write, memory:admin"),
        "{body}"
    );
    assert!(challenge(&headers).contains("error=\"insufficient_scope\""));

    let admin = issuer.token(claims("ops", "memory:admin", &[]));
    assert_eq!(
        count(&server, &admin, "team-a/x"),
        0,
        "a refused call wrote"
    );
    let log = server.stderr();
    assert!(log.contains("DEBUG"), "debug logging was on");
    for (what, token, _) in &cases {
        assert!(
            !log.contains(token.as_str()),
            "{what}: the token is in the log"
        );
    }
    for token in [&valid, &scopeless, &admin] {
        assert!(!log.contains(token.as_str()), "a token is in the log");
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !log.contains(signature),
            "a token's signature is in the log"
        );
    }
}

#[test]
fn a_new_key_is_fetched_when_its_first_token_arrives() {
    let mut issuer = Issuer::start();
    let dir = DataDir::new();
    let server = serve(&dir, &issuer.url, &[]);
    let first = issuer.token(claims("alice", "memory:read", &["*"]));
    assert_eq!(
        call(&server, Some(&first), "list_memories", json!({})).0,
        200
    );
    let old = issuer.kid.clone();
    let new = issuer.rotate();
    assert_ne!(old, new);
    let second = issuer.token(claims("alice", "memory:read", &["*"]));
    let (status, _, body) = call(&server, Some(&second), "list_memories", json!({}));
    assert_eq!(status, 200, "a token of the new key: {body}");
    // Tokens of the old key, still published, keep working.
    assert_eq!(
        call(&server, Some(&first), "list_memories", json!({})).0,
        200
    );
}

#[test]
fn a_server_starts_while_its_issuer_is_down_and_answers_503_until_it_is_up() {
    // A port nothing listens on, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = DataDir::new();
    let server = serve(&dir, &url, &[]);
    assert_eq!(server.get("/health/ready", None).0, 200);
    // A token of the right shape; the issuer that would vouch for it cannot be asked.
    let shaped = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln";
    let (status, _, body) = call(&server, Some(shaped), "list_memories", json!({}));
    assert_eq!(status, 503, "{body}");
    assert!(
        message(&body).contains(&format!(
            "cannot check the access token now: the authorization server {url} could not be reached"
        )),
        "{body}"
    );
    assert!(
        server
            .stderr()
            .contains("cannot fetch the authorization server's signing keys"),
        "the failure is logged:\n{}",
        server.stderr()
    );

    let mut issuer = Issuer::start_on(port);
    assert_eq!(issuer.url, url);
    let token = issuer.token(claims("alice", "memory:read", &["*"]));
    let started = Instant::now();
    loop {
        let (status, _, body) = call(&server, Some(&token), "list_memories", json!({}));
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still refused 10 s after the issuer came up: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
