//! The OAuth 2.1 resource server: the JWT access tokens `[auth] issuer` signs for
//! `[auth] audience`, turned into a [`Principal`].
//!
//! Nothing is fetched until the first token arrives, so a server starts while its issuer is
//! down. Then the issuer's metadata is discovered (RFC 8414's
//! `/.well-known/oauth-authorization-server`, then OpenID Connect's
//! `/.well-known/openid-configuration`), its `issuer` must equal the configured one, and the
//! keys at its `jwks_uri` are kept by `kid`. A token naming a `kid` not among them makes one
//! refresh, at most one per [`REFRESH_EVERY`] (so made-up kids cannot make memoryd hammer the
//! issuer); the keys are refetched anyway when older than an hour.
//!
//! A token must be a signed JWT no longer than [`MAX_TOKEN_BYTES`] whose algorithm is the one
//! its key is for: the algorithm comes from the published key, never from the token alone, so
//! `alg: none` and an HS256 token "signed" with the public key are refused. Then the
//! signature, `iss` (exactly the issuer), `aud` (the audience, alone or in a list: RFC 8707),
//! `exp` (required) and `nbf`, each allowed [`LEEWAY`] of clock skew, and `sub` (who writes).
//! Scopes come from `scope` (or `scp`); namespaces from the configured claim.
//!
//! A verified token is remembered by its SHA-256 (never the token itself) until it expires,
//! at most [`CACHED_FOR`], so a call with a known token costs a hash and a lookup. Tokens are
//! never logged, and no refusal repeats one.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod claims;
mod refused;

use claims::{parse_header, principal};
pub use refused::TokenRefused;

use super::{Principal, Scope};
use crate::config::Auth;
use crate::error::Result;

/// Longer tokens are refused before any parsing (real access tokens are 1–2 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY: u64 = 30;

/// The least time between two key refreshes caused by an unknown `kid`.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// How long a verified token is remembered at most, so a key the issuer withdrew stops
/// working within this time even for a token that does not expire.
pub const CACHED_FOR: Duration = Duration::from_secs(300);

/// After a failed fetch, calls within this time are refused at once rather than each waiting
/// on an issuer that is down.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Keys older than this are refetched before use (a failed refetch keeps the old ones).
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Verified tokens remembered at once.
const CACHED_TOKENS: u64 = 10_000;

/// The largest metadata or JWKS document read from the issuer.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Accepts the access tokens of one issuer for one audience.
pub struct OAuth {
    /// The issuer exactly as configured: tokens' `iss` and the metadata's `issuer` must equal
    /// it.
    issuer: String,
    /// This server's MCP URL, which tokens' `aud` must name.
    audience: String,
    /// The claim that lists a token's namespace patterns.
    namespace_claim: String,
    /// What every token is checked for; the algorithm is set per token from its key.
    validation: Validation,
    /// The issuer's keys as last fetched; read by every call that misses the token cache,
    /// replaced whole by a fetch, never held across an `.await`.
    keys: RwLock<Arc<KeySet>>,
    /// One fetch from the issuer at a time, and what the fetches remember.
    fetch: tokio::sync::Mutex<Fetch>,
    /// Verified tokens by SHA-256, until their `exp` (at most [`CACHED_FOR`]).
    verified: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// The issuer's signing keys.
#[derive(Default)]
struct KeySet {
    /// The usable keys of the JWKS.
    keys: Vec<Arc<Key>>,
    /// When they were fetched; none before the first fetch.
    fetched_at: Option<Instant>,
    /// Counts fetches, so a caller that waited for another's fetch uses it instead of
    /// fetching again.
    generation: u64,
}

impl KeySet {
    /// The key a token names; a token without `kid` may use the only key there is.
    fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .cloned(),
            None if self.keys.len() == 1 => self.keys.first().cloned(),
            None => None,
        }
    }
}

/// One published signing key.
struct Key {
    /// Its `kid`.
    kid: Option<String>,
    /// The public key.
    decoding: DecodingKey,
    /// The algorithms a token signed with it may use: the JWK's `alg`, or without one every
    /// algorithm of the key's type (never HMAC: a public key is no shared secret).
    algorithms: Vec<Algorithm>,
}

/// What the fetches remember, behind [`OAuth::fetch`].
#[derive(Default)]
struct Fetch {
    /// Built on the first fetch (loading root certificates is I/O the start need not do).
    http: Option<reqwest::Client>,
    /// From the issuer's metadata; forgotten when a fetch fails, so discovery runs again.
    jwks_uri: Option<String>,
    /// The last refresh an unknown `kid` caused.
    refreshed_at: Option<Instant>,
    /// The last failed fetch.
    failed_at: Option<Instant>,
}

/// A verified token's principal, remembered.
struct Verified {
    principal: Principal,
    /// The token's `exp`, seconds since the epoch.
    exp: u64,
}

/// Removes a remembered token when it expires (its `exp` plus [`LEEWAY`]).
struct UntilExpiry;

impl moka::Expiry<[u8; 32], Arc<Verified>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _digest: &[u8; 32],
        verified: &Arc<Verified>,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        let left = verified
            .exp
            .saturating_add(LEEWAY)
            .saturating_sub(unix_now());
        Some(Duration::from_secs(left).min(CACHED_FOR))
    }
}

impl OAuth {
    /// From the `[auth]` settings; `None` without an issuer. Does no I/O: discovery happens on
    /// first use, so a server starts even while the issuer is down.
    pub fn new(auth: &Auth) -> Result<Option<OAuth>> {
        auth.validate()?;
        let (Some(issuer), Some(audience)) = (&auth.issuer, &auth.audience) else {
            return Ok(None);
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Some(OAuth {
            issuer: issuer.clone(),
            audience: audience.clone(),
            namespace_claim: auth.namespace_claim.trim().to_string(),
            validation,
            keys: RwLock::new(Arc::default()),
            fetch: tokio::sync::Mutex::new(Fetch::default()),
            verified: moka::sync::Cache::builder()
                .max_capacity(CACHED_TOKENS)
                .expire_after(UntilExpiry)
                .build(),
        }))
    }

    /// The audience tokens must name: this server's MCP URL.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The issuer whose tokens are accepted.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// RFC 9728 Protected Resource Metadata, served at `/.well-known/oauth-protected-resource`.
    pub fn metadata(&self) -> Value {
        json!({
            "resource": self.audience,
            "authorization_servers": [self.issuer],
            "scopes_supported": Scope::ALL.map(Scope::oauth),
            "bearer_methods_supported": ["header"],
            "resource_name": "memoryd",
        })
    }

    /// The principal an access token proves, or why not (never logs or echoes the token).
    pub async fn verify(&self, token: &str) -> std::result::Result<Principal, TokenRefused> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRefused::Oversized);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.verified.get(&digest)
            && unix_now() < hit.exp.saturating_add(LEEWAY)
        {
            return Ok(hit.principal.clone());
        }
        let header = parse_header(token)?;
        let key = self.key_for(header.kid.as_deref()).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(TokenRefused::WrongAlgorithm {
                token: format!("{:?}", header.alg),
                key: format!("{:?}", key.algorithms[0]),
            });
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| self.refusal(e.into_kind()))?
            .claims;
        // jsonwebtoken also accepts a list of issuers; a token has exactly one.
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(self.refusal(ErrorKind::InvalidIssuer));
        }
        let principal = principal(&claims, &self.namespace_claim)?;
        let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0) as u64;
        self.verified.insert(
            digest,
            Arc::new(Verified {
                principal: principal.clone(),
                exp,
            }),
        );
        Ok(principal)
    }

    /// The refusal for one of jsonwebtoken's reasons.
    fn refusal(&self, kind: ErrorKind) -> TokenRefused {
        match kind {
            ErrorKind::ExpiredSignature => TokenRefused::Expired,
            ErrorKind::ImmatureSignature => TokenRefused::NotYetValid,
            ErrorKind::InvalidIssuer => TokenRefused::WrongIssuer {
                expected: self.issuer.clone(),
            },
            ErrorKind::InvalidAudience => TokenRefused::WrongAudience {
                expected: self.audience.clone(),
            },
            ErrorKind::MissingRequiredClaim(claim) => TokenRefused::MissingClaim(claim),
            ErrorKind::InvalidClaimFormat(claim) => TokenRefused::BadClaim {
                claim,
                reason: "it has the wrong type".into(),
            },
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => TokenRefused::Malformed("its parts are not base64url JSON"),
            // A signature that does not verify, or one the key cannot even be used for.
            _ => TokenRefused::BadSignature,
        }
    }

    /// The current keys.
    fn current(&self) -> Arc<KeySet> {
        self.keys.read().expect("oauth key lock").clone()
    }

    /// The published key a token names, fetching the keys first when there are none or they
    /// are old, and once more (throttled) when the `kid` is unknown.
    async fn key_for(&self, kid: Option<&str>) -> std::result::Result<Arc<Key>, TokenRefused> {
        let mut set = self.current();
        if set.fetched_at.is_none_or(|at| at.elapsed() >= KEYS_MAX_AGE) {
            match self.refetch(set.generation, false).await {
                Ok(fresh) => set = fresh,
                Err(refused) if set.fetched_at.is_none() => return Err(refused),
                // Old keys still verify; the failure is logged and retried later.
                Err(_) => {}
            }
        }
        if let Some(key) = set.find(kid) {
            return Ok(key);
        }
        if kid.is_some() {
            set = self.refetch(set.generation, true).await?;
            if let Some(key) = set.find(kid) {
                return Ok(key);
            }
        }
        Err(TokenRefused::UnknownKey {
            kid: kid.filter(|k| plain(k)).map(String::from),
        })
    }

    /// Fetches the keys again unless someone did since `seen` (then uses theirs), the last
    /// fetch failed moments ago (refused), or, for an unknown kid, the last such refresh was
    /// under [`REFRESH_EVERY`] ago (the keys stay as they are).
    async fn refetch(
        &self,
        seen: u64,
        unknown_kid: bool,
    ) -> std::result::Result<Arc<KeySet>, TokenRefused> {
        let mut fetch = self.fetch.lock().await;
        let current = self.current();
        if current.generation != seen {
            return Ok(current);
        }
        let unavailable = || TokenRefused::Unavailable {
            issuer: self.issuer.clone(),
        };
        let recent =
            |at: Option<Instant>, within: Duration| at.is_some_and(|t| t.elapsed() < within);
        if recent(fetch.failed_at, RETRY_AFTER) {
            return Err(unavailable());
        }
        if unknown_kid && recent(fetch.refreshed_at, REFRESH_EVERY) {
            return Ok(current);
        }
        match self.download(&mut fetch).await {
            Ok(keys) => {
                fetch.failed_at = None;
                if unknown_kid {
                    fetch.refreshed_at = Some(Instant::now());
                }
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), "fetched the authorization server's signing keys");
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                    generation: current.generation + 1,
                });
                *self.keys.write().expect("oauth key lock") = set.clone();
                Ok(set)
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.issuer, error = %reason, "cannot fetch the authorization server's signing keys");
                fetch.failed_at = Some(Instant::now());
                fetch.jwks_uri = None;
                Err(unavailable())
            }
        }
    }

    /// Discovers the JWKS (once) and downloads its usable keys.
    async fn download(&self, fetch: &mut Fetch) -> std::result::Result<Vec<Arc<Key>>, String> {
        let http = match &fetch.http {
            Some(http) => http.clone(),
            None => {
                let http = reqwest::Client::builder()
                    .user_agent(concat!("memoryd/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
                fetch.http = Some(http.clone());
                http
            }
        };
        let jwks_uri = match &fetch.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover(&http).await?;
                fetch.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let jwks = get_json(&http, &jwks_uri).await?;
        usable_keys(&jwks).map_err(|why| format!("{jwks_uri}: {why}"))
    }

    /// The `jwks_uri` of the issuer's metadata, checked to come from the issuer itself.
    async fn discover(&self, http: &reqwest::Client) -> std::result::Result<String, String> {
        let mut failures = Vec::new();
        for url in metadata_urls(&self.issuer)? {
            let metadata = match get_json(http, &url).await {
                Ok(metadata) => metadata,
                Err(failure) => {
                    failures.push(failure);
                    continue;
                }
            };
            // RFC 8414 §3.3: metadata naming another issuer must not be used.
            let named = metadata.get("issuer").and_then(Value::as_str);
            if named != Some(self.issuer.as_str()) {
                return Err(format!(
                    "{url} names issuer {named:?}, not {:?}: set [auth] issuer to the issuer exactly as its metadata names it",
                    self.issuer
                ));
            }
            let uri = metadata
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{url} has no jwks_uri"))?;
            check_fetchable(uri).map_err(|why| format!("{url}: jwks_uri {why}"))?;
            return Ok(uri.to_string());
        }
        Err(format!("no metadata found: {}", failures.join("; ")))
    }
}

/// The usable signing keys of a JWKS; an error when there are none.
fn usable_keys(jwks: &Value) -> std::result::Result<Vec<Arc<Key>>, String> {
    let listed = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK Set (no \"keys\" list)")?;
    // A key memoryd cannot use (an encryption key, an unknown type) is skipped, not fatal:
    // the issuer may publish keys for other purposes beside its signing keys.
    let keys: Vec<Arc<Key>> = listed
        .iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
        .filter(|jwk| jwk.common.public_key_use != Some(PublicKeyUse::Encryption))
        .filter_map(|jwk| {
            let algorithms = algorithms(&jwk);
            let decoding = DecodingKey::from_jwk(&jwk).ok()?;
            (!algorithms.is_empty()).then(|| {
                Arc::new(Key {
                    kid: jwk.common.key_id.clone(),
                    decoding,
                    algorithms,
                })
            })
        })
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "none of its {} keys is a signing key memoryd can use (RSA, EC P-256 or P-384, Ed25519)",
            listed.len()
        ));
    }
    Ok(keys)
}

/// The algorithms a key may verify: its `alg` when it names one (and it fits the key type),
/// or every algorithm of its type. Symmetric (`oct`) keys get none: a published key is public,
/// so an HMAC "signed" with it proves nothing.
fn algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    use Algorithm::*;
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![ES256],
            EllipticCurve::P384 => vec![ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => vec![EdDSA],
        _ => Vec::new(),
    };
    match jwk.common.key_algorithm {
        None => family,
        Some(named) => match Algorithm::try_from(named) {
            Ok(alg) if family.contains(&alg) => vec![alg],
            _ => Vec::new(),
        },
    }
}

/// Where the issuer's metadata may be: RFC 8414's well-known URL (the well-known segment goes
/// between the host and the issuer's path), then OpenID Connect Discovery's (appended).
fn metadata_urls(issuer: &str) -> std::result::Result<Vec<String>, String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("[auth] issuer is not a URL: {e}"))?;
    let origin = &url[..url::Position::BeforePath];
    let path = url.path().trim_end_matches('/');
    Ok(vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ])
}

/// A URL memoryd fetches from the issuer must be `https://`, or `http://` on loopback, like
/// the issuer itself (`[auth] issuer`'s rule).
fn check_fetchable(text: &str) -> std::result::Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    let loopback = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{text:?} is neither https nor http on loopback")),
    }
}

/// GETs a JSON document of at most [`MAX_DOCUMENT_BYTES`].
async fn get_json(http: &reqwest::Client, url: &str) -> std::result::Result<Value, String> {
    let failed = |e: reqwest::Error| {
        let mut text = format!("{url}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    };
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON ({e})"))
}

/// True when a `kid` is short and plain enough to repeat in a message.
fn plain(kid: &str) -> bool {
    kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;
    use crate::access::{Pattern, Via};

    const ISSUER: &str = "https://issuer.invalid";
    const AUDIENCE: &str = "https://memory.example.com/mcp";

    /// A fresh Ed25519 key pair (instant to make, unlike RSA in a debug build) and its public
    /// JWK with `kid`.
    fn key_pair(kid: &str) -> (EncodingKey, Jwk) {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        // PKCS#8 for an Ed25519 private key: a fixed 16-byte prefix, then the seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        let private = EncodingKey::from_ed_der(&der);
        let mut jwk = Jwk::from_encoding_key(&private, Algorithm::EdDSA).unwrap();
        jwk.common.key_id = Some(kid.into());
        (private, jwk)
    }

    /// A resource server that already holds `keys` and just refreshed them, so no test
    /// reaches the network.
    fn server(keys: &[&Jwk]) -> OAuth {
        let oauth = OAuth::new(&Auth {
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            ..Auth::default()
        })
        .unwrap()
        .unwrap();
        *oauth.keys.write().unwrap() = Arc::new(KeySet {
            keys: match keys {
                [] => Vec::new(),
                keys => usable_keys(&json!({ "keys": keys })).unwrap(),
            },
            fetched_at: Some(Instant::now()),
            generation: 1,
        });
        oauth.fetch.try_lock().unwrap().refreshed_at = Some(Instant::now());
        oauth
    }

    fn claims(extra: Value) -> Value {
        let now = unix_now();
        let mut claims = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "exp": now + 600,
            "nbf": now - 10,
            "scope": "openid memory:write",
            "memoryd_namespaces": ["team-a/*", "shared"],
        });
        for (name, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[tokio::test]
    async fn a_valid_token_proves_its_subject_scope_and_namespaces() {
        let (private, jwk) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let principal = oauth
            .verify(&sign(&private, "k1", &claims(json!({}))))
            .await
            .unwrap();
        assert_eq!(principal.name.as_deref(), Some("alice"));
        assert_eq!(principal.scope, Scope::Write);
        assert_eq!(principal.via, Via::OAuth);
        assert!(principal.allows("team-a/x", Scope::Write).is_ok());
        assert!(principal.allows("shared", Scope::Read).is_ok());
        assert!(principal.allows("team-b", Scope::Read).is_err());
        // The audience may be one of a list (RFC 8707), and scopes may come as `scp`.
        let listed = claims(json!({"aud": ["https://other", AUDIENCE], "scope": null,
            "scp": ["memory:read", "memory:admin"], "memoryd_namespaces": "a b/*"}));
        let principal = oauth.verify(&sign(&private, "k1", &listed)).await.unwrap();
        assert_eq!(principal.scope, Scope::Admin);
        let patterns: Vec<&str> = principal.namespaces.iter().map(Pattern::as_str).collect();
        assert_eq!(patterns, ["a", "b/*"]);
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_by_its_hash() {
        let (private, jwk) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let token = sign(&private, "k1", &claims(json!({})));
        oauth.verify(&token).await.unwrap();
        // With the key gone, only the remembered verdict can let the token through.
        *oauth.keys.write().unwrap() = Arc::new(KeySet {
            fetched_at: Some(Instant::now()),
            ..KeySet::default()
        });
        oauth.verify(&token).await.unwrap();
        let other = sign(&private, "k1", &claims(json!({"sub": "bob"})));
        assert_eq!(
            oauth.verify(&other).await.unwrap_err(),
            TokenRefused::UnknownKey {
                kid: Some("k1".into())
            }
        );
    }

    #[tokio::test]
    async fn the_algorithm_comes_from_the_key_not_the_token() {
        let (_, jwk) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let body = b64(claims(json!({})).to_string().as_bytes());
        let unsigned = format!("{}.{body}.", b64(br#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(
            oauth.verify(&unsigned).await.unwrap_err(),
            TokenRefused::Unsigned
        );
        // The classic confusion: HMAC with the public key as the shared secret.
        let AlgorithmParameters::OctetKeyPair(public) = &jwk.algorithm else {
            unreachable!()
        };
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&public.x)
            .unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims(json!({})),
            &EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        let refused = oauth.verify(&forged).await.unwrap_err();
        assert_eq!(
            refused,
            TokenRefused::WrongAlgorithm {
                token: "HS256".into(),
                key: "EdDSA".into()
            }
        );
        assert_eq!(refused.status(), 401);
    }

    #[tokio::test]
    async fn each_bad_claim_is_refused_with_its_reason() {
        let (private, jwk) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let now = unix_now();
        let cases = [
            (
                json!({"iss": "https://evil.example"}),
                TokenRefused::WrongIssuer {
                    expected: ISSUER.into(),
                },
            ),
            (
                json!({"iss": [ISSUER]}),
                TokenRefused::WrongIssuer {
                    expected: ISSUER.into(),
                },
            ),
            (
                json!({"aud": "https://other.example/mcp"}),
                TokenRefused::WrongAudience {
                    expected: AUDIENCE.into(),
                },
            ),
            (json!({"exp": now - 120}), TokenRefused::Expired),
            (json!({"nbf": now + 120}), TokenRefused::NotYetValid),
            (
                json!({"exp": null}),
                TokenRefused::MissingClaim("exp".into()),
            ),
            (
                json!({"aud": null}),
                TokenRefused::MissingClaim("aud".into()),
            ),
            (
                json!({"sub": null}),
                TokenRefused::MissingClaim("sub".into()),
            ),
            (json!({"scope": "openid profile"}), TokenRefused::NoScope),
        ];
        for (extra, want) in cases {
            let token = sign(&private, "k1", &claims(extra.clone()));
            assert_eq!(oauth.verify(&token).await.unwrap_err(), want, "{extra}");
        }
        assert_eq!(TokenRefused::NoScope.status(), 403);
        // Within the leeway, a token just past exp or just before nbf still passes.
        let skewed = claims(json!({"exp": now - 5, "nbf": now + 5}));
        assert!(oauth.verify(&sign(&private, "k1", &skewed)).await.is_ok());
        let bad = claims(json!({"memoryd_namespaces": ["team-a/*", "te*am"]}));
        let refused = oauth.verify(&sign(&private, "k1", &bad)).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the access token's 'memoryd_namespaces' claim is not usable: 'te*am' is not a namespace pattern\nuse a namespace (team-a), a prefix ending in * (team-a/*), or * for every namespace"
        );
        let bad = claims(json!({"memoryd_namespaces": 7}));
        let refused = oauth.verify(&sign(&private, "k1", &bad)).await.unwrap_err();
        assert!(
            refused.to_string().ends_with(
                "is not usable: it must be a list of strings or one space-separated string"
            ),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn a_token_needs_a_published_key_and_its_signature() {
        let (private, jwk) = key_pair("k1");
        let (stranger, _) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let token = sign(&stranger, "k1", &claims(json!({})));
        assert_eq!(
            oauth.verify(&token).await.unwrap_err(),
            TokenRefused::BadSignature
        );
        // An unknown kid was refreshed for moments ago (see `server`): refused, no fetch.
        let token = sign(&private, "rotated-out", &claims(json!({})));
        let refused = oauth.verify(&token).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the access token is signed with a key the authorization server does not publish (kid 'rotated-out')\nget a new token; if this persists, check that [auth] issuer names the server that issues them"
        );
        // Without a kid, the only key there is.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = None;
        let token = jsonwebtoken::encode(&header, &claims(json!({})), &private).unwrap();
        assert!(oauth.verify(&token).await.is_ok());
    }

    #[tokio::test]
    async fn what_is_no_jwt_is_refused_before_any_key_is_looked_up() {
        let (private, jwk) = key_pair("k1");
        let oauth = server(&[&jwk]);
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            oauth.verify(&long).await.unwrap_err(),
            TokenRefused::Oversized
        );
        // Signed, but the claims are no JSON.
        let message = format!("{}.{}", b64(br#"{"alg":"EdDSA"}"#), b64(b"not json"));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &private, Algorithm::EdDSA).unwrap();
        let not_json = format!("{message}.{signature}");
        for (token, why) in [
            ("secret-token", "it is not a JWT"),
            ("a.b.c.d.e", "it is not a JWT"),
            ("%%%.e30.sig", "its header is not base64url"),
            (
                &format!("{}.e30.sig", b64(b"[1]")),
                "its header is not a JSON",
            ),
            (
                &format!("{}.e30.sig", b64(b"{}")),
                "its header names no algorithm",
            ),
            (
                &format!("{}.e30.sig", b64(br#"{"alg":"XX1"}"#)),
                "its header names an unknown algorithm",
            ),
            (
                &format!("{}.e30.sig", b64(br#"{"alg":"EdDSA","crit":["b64"]}"#)),
                "critical extensions",
            ),
            (&not_json, "its parts are not base64url JSON"),
        ] {
            let refused = oauth.verify(token).await.unwrap_err();
            assert!(
                matches!(refused, TokenRefused::Malformed(_)) && refused.to_string().contains(why),
                "{token}: {refused}"
            );
            assert!(!refused.to_string().contains(token), "{refused}");
        }
    }

    #[tokio::test]
    async fn an_issuer_that_cannot_be_reached_is_a_503_and_is_not_asked_again_at_once() {
        // Port 1 on loopback: connection refused at once.
        let oauth = OAuth::new(&Auth {
            issuer: Some("http://127.0.0.1:1".into()),
            audience: Some(AUDIENCE.into()),
            ..Auth::default()
        })
        .unwrap()
        .unwrap();
        let token = format!("{}.e30.sig", b64(br#"{"alg":"RS256","kid":"k"}"#));
        let refused = oauth.verify(&token).await.unwrap_err();
        assert_eq!(
            refused,
            TokenRefused::Unavailable {
                issuer: "http://127.0.0.1:1".into()
            }
        );
        assert_eq!(refused.status(), 503);
        let failed_at = oauth.fetch.lock().await.failed_at.unwrap();
        assert!(oauth.verify(&token).await.is_err());
        assert_eq!(oauth.fetch.lock().await.failed_at, Some(failed_at));
    }

    #[test]
    fn no_issuer_no_resource_server() {
        assert!(OAuth::new(&Auth::default()).unwrap().is_none());
    }

    #[test]
    fn metadata_is_found_where_rfc_8414_and_openid_connect_put_it() {
        assert_eq!(
            metadata_urls("https://auth.example.com").unwrap(),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://auth.example.com:8443/tenant/one/").unwrap(),
            [
                "https://auth.example.com:8443/.well-known/oauth-authorization-server/tenant/one",
                "https://auth.example.com:8443/tenant/one/.well-known/openid-configuration"
            ]
        );
        assert!(check_fetchable("https://auth.example.com/jwks").is_ok());
        assert!(check_fetchable("http://127.0.0.1:9/jwks").is_ok());
        assert!(check_fetchable("http://auth.example.com/jwks").is_err());
        assert!(check_fetchable("file:///etc/passwd").is_err());
    }

    #[test]
    fn the_protected_resource_metadata_names_the_audience_and_issuer() {
        let oauth = server(&[]);
        assert_eq!(
            oauth.metadata(),
            json!({
                "resource": AUDIENCE,
                "authorization_servers": [ISSUER],
                "scopes_supported": ["memory:read", "memory:write", "memory:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "memoryd",
            })
        );
        assert_eq!(oauth.audience(), AUDIENCE);
    }

    #[test]
    fn only_signing_keys_of_known_types_are_used() {
        let (_, ed) = key_pair("ed");
        let rsa = json!({"kty": "RSA", "kid": "r", "n": b64(&[0xc3; 256]), "e": "AQAB"});
        let rsa_pinned =
            json!({"kty": "RSA", "kid": "p", "alg": "PS256", "n": b64(&[0xc3; 256]), "e": "AQAB"});
        let oct = json!({"kty": "oct", "kid": "h", "k": b64(b"shared secret"), "alg": "HS256"});
        let enc =
            json!({"kty": "RSA", "kid": "e", "use": "enc", "n": b64(&[0xc3; 256]), "e": "AQAB"});
        let mismatched =
            json!({"kty": "RSA", "kid": "m", "alg": "ES256", "n": b64(&[0xc3; 256]), "e": "AQAB"});
        let weird = json!({"kty": "XYZ", "kid": "w"});
        let keys =
            usable_keys(&json!({"keys": [ed, rsa, rsa_pinned, oct, enc, mismatched, weird]}))
                .unwrap();
        let found: Vec<(&str, &[Algorithm])> = keys
            .iter()
            .map(|k| (k.kid.as_deref().unwrap(), k.algorithms.as_slice()))
            .collect();
        use Algorithm::*;
        assert_eq!(
            found,
            [
                ("ed", &[EdDSA][..]),
                ("r", &[RS256, RS384, RS512, PS256, PS384, PS512][..]),
                ("p", &[PS256][..]),
            ]
        );
        assert!(usable_keys(&json!({"keys": [oct]})).is_err());
        assert!(usable_keys(&json!({"nope": []})).is_err());
    }
}
