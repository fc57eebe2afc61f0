//! What a token says: its header (refusing what is not a signed JWT before any key is looked
//! up) and, once its signature holds, the principal its claims name.

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::TokenRefused;
use crate::access::{Pattern, Principal, Scope, Via};

/// What a token's header says.
pub(super) struct TokenHeader {
    /// Its `alg`.
    pub(super) alg: Algorithm,
    /// Its `kid`.
    pub(super) kid: Option<String>,
}

/// Reads a token's header, refusing what is not a signed JWT before any key is looked up.
pub(super) fn parse_header(token: &str) -> std::result::Result<TokenHeader, TokenRefused> {
    #[derive(Deserialize)]
    struct Raw {
        alg: Option<String>,
        kid: Option<String>,
        crit: Option<Value>,
    }
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRefused::Malformed(
            "it is not a JWT (three base64url parts separated by dots)",
        ));
    };
    let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| TokenRefused::Malformed("its header is not base64url"))?;
    let raw: Raw = serde_json::from_slice(&head)
        .map_err(|_| TokenRefused::Malformed("its header is not a JSON object"))?;
    let alg = raw.alg.ok_or(TokenRefused::Malformed(
        "its header names no algorithm (alg)",
    ))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenRefused::Unsigned);
    }
    // RFC 7515 §4.1.11: extensions the recipient does not understand make the token invalid.
    if raw.crit.is_some() {
        return Err(TokenRefused::Malformed(
            "its header lists critical extensions (crit) memoryd does not know",
        ));
    }
    let alg = alg
        .parse::<Algorithm>()
        .map_err(|_| TokenRefused::Malformed("its header names an unknown algorithm"))?;
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// The principal of a verified token's claims.
pub(super) fn principal(
    claims: &Map<String, Value>,
    namespace_claim: &str,
) -> std::result::Result<Principal, TokenRefused> {
    let bad = |claim: &str, reason: &str| TokenRefused::BadClaim {
        claim: claim.into(),
        reason: reason.into(),
    };
    let name = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() && sub.len() <= 256 => sub.clone(),
        _ => return Err(bad("sub", "it must be a string of 1 to 256 characters")),
    };
    let scope = scope(claims)?.ok_or(TokenRefused::NoScope)?;
    let namespaces = words(claims, namespace_claim)?
        .into_iter()
        .map(|text| {
            if text.len() > 128 {
                return Err(bad(
                    namespace_claim,
                    "a pattern is longer than 128 characters",
                ));
            }
            Pattern::parse(text).map_err(|why| bad(namespace_claim, &why))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Principal {
        name: Some(name),
        scope,
        namespaces,
        via: Via::OAuth,
    })
}

/// The highest memory scope of `scope` and `scp`, if any.
pub(super) fn scope(
    claims: &Map<String, Value>,
) -> std::result::Result<Option<Scope>, TokenRefused> {
    let mut best = None;
    for claim in ["scope", "scp"] {
        for word in words(claims, claim)? {
            best = best.max(Scope::ALL.into_iter().find(|s| s.oauth() == word));
        }
    }
    Ok(best)
}

/// A claim that lists words: a space-separated string or a list of strings; none when
/// absent.
pub(super) fn words<'a>(
    claims: &'a Map<String, Value>,
    claim: &str,
) -> std::result::Result<Vec<&'a str>, TokenRefused> {
    let wrong = || TokenRefused::BadClaim {
        claim: claim.into(),
        reason: "it must be a list of strings or one space-separated string".into(),
    };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text.split_whitespace().collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}
