//! Why an access token was refused, in words a person can act on.

use super::MAX_TOKEN_BYTES;

/// Why an access token proves no principal. The message says what was wrong and what to do,
/// and never repeats the token.
///
/// [`TokenRefused::status`] gives the HTTP status: 401 (`error="invalid_token"`) for a token
/// that is not valid, 403 (`error="insufficient_scope"`) for a valid token that grants none
/// of the memory scopes (so a client asks for a scope rather than a new login), and 503 when
/// the issuer could not be reached to check it: the token may be fine, and a 401 would make a
/// client throw a good token away and send the user back to an issuer that is down.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// Longer than [`MAX_TOKEN_BYTES`]; not parsed.
    #[error(
        "the access token is longer than {MAX_TOKEN_BYTES} bytes\nsend the access token the authorization server issued, nothing else"
    )]
    Oversized,
    /// Not a signed JWT: the reason says which part is wrong.
    #[error(
        "the access token is malformed: {0}\nsend the JWT access token the authorization server issued, as Authorization: Bearer <token>"
    )]
    Malformed(&'static str),
    /// `alg: none`.
    #[error(
        "the access token is unsigned (alg none)\nmemoryd accepts only tokens signed with a key the authorization server publishes"
    )]
    Unsigned,
    /// The token's algorithm is not the one its key is for (e.g. HS256 with an RSA key).
    #[error(
        "the access token says it is signed with {token}, but the authorization server's key is for {key}\nsend a token the authorization server signed"
    )]
    WrongAlgorithm {
        /// The token header's `alg`.
        token: String,
        /// What the key is for.
        key: String,
    },
    /// No published key has the token's `kid`, even after a refresh.
    #[error(
        "the access token is signed with a key the authorization server does not publish{}\nget a new token; if this persists, check that [auth] issuer names the server that issues them",
        kid.as_deref().map(|k| format!(" (kid '{k}')")).unwrap_or_default()
    )]
    UnknownKey {
        /// The token's `kid`, when it is short and plain enough to repeat.
        kid: Option<String>,
    },
    /// The signature does not verify.
    #[error(
        "the access token's signature does not verify with the authorization server's key\nit was altered or signed by someone else: get a new token"
    )]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error(
        "the access token was issued by another authorization server\nmemoryd accepts tokens from {expected} ([auth] issuer)"
    )]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
    },
    /// `aud` does not name this server.
    #[error(
        "the access token is meant for another resource\nask the authorization server for a token with resource={expected} ([auth] audience, RFC 8707)"
    )]
    WrongAudience {
        /// The configured audience.
        expected: String,
    },
    /// Past its `exp`.
    #[error("the access token expired\nget a new one from the authorization server")]
    Expired,
    /// Before its `nbf`.
    #[error(
        "the access token is not valid yet (nbf is in the future)\ncheck the clocks of this server and the authorization server"
    )]
    NotYetValid,
    /// A claim every token needs is absent.
    #[error(
        "the access token has no '{0}' claim\nmemoryd needs exp, iss, aud and sub in every token: configure the authorization server to include it"
    )]
    MissingClaim(String),
    /// A claim has a value memoryd cannot use.
    #[error("the access token's '{claim}' claim is not usable: {reason}")]
    BadClaim {
        /// The claim.
        claim: String,
        /// What is wrong with it, and what would do.
        reason: String,
    },
    /// Valid, but grants none of `memory:read`, `memory:write`, `memory:admin`.
    #[error(
        "the access token grants none of the scopes memory:read, memory:write, memory:admin\nask the authorization server for one of them"
    )]
    NoScope,
    /// The issuer's metadata or keys could not be fetched, so the token could not be checked.
    #[error(
        "cannot check the access token now: the authorization server {issuer} could not be reached\ntry again shortly; the server's log says what failed"
    )]
    Unavailable {
        /// The configured issuer.
        issuer: String,
    },
}

impl TokenRefused {
    /// The HTTP status of this refusal: 401, 403 for [`TokenRefused::NoScope`], 503 for
    /// [`TokenRefused::Unavailable`].
    pub fn status(&self) -> u16 {
        match self {
            TokenRefused::NoScope => 403,
            TokenRefused::Unavailable { .. } => 503,
            _ => 401,
        }
    }
}
