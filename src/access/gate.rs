//! The one question every HTTP request answers first: which [`Principal`] does its
//! credential prove? The configured token, a stored key ([`KeyRing`]) and an OAuth access
//! token ([`OAuth`]) are tried by their shape, never by trial: a key reads `mdk_…`, a JWT
//! has three dot-separated parts, anything else can only be the token.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::keys::{self, KeyRefused, KeyRing};
use super::oauth::{OAuth, TokenRefused};
use super::{Principal, Scope};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::Store;

/// Longest credential considered; a longer one is refused before any parsing.
pub const MAX_CREDENTIAL_BYTES: usize = 8 * 1024;

/// Why a request proves no principal: HTTP 401, except [`Refusal::Unavailable`] (503) and
/// an access token's refusal of another status ([`TokenRefused::status`]).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No credential at all.
    #[error("{0}")]
    Missing(String),
    /// A key that does not hold.
    #[error("{0}")]
    Key(#[from] KeyRefused),
    /// An access token that does not hold.
    #[error("{0}")]
    Token(#[from] TokenRefused),
    /// A credential of no known shape, or one too long.
    #[error("{0}")]
    Unknown(String),
    /// The keys could not be read (the database is unreachable): try again.
    #[error("cannot check the key: {0}")]
    Unavailable(Error),
}

/// Everything that can prove a principal on this server.
pub struct Gate {
    /// SHA-256 of `[server] token`: comparing digests in constant time leaks neither the
    /// token nor its length.
    token: Option<[u8; 32]>,
    /// The stored keys.
    keys: KeyRing,
    /// The OAuth issuer's tokens, when `[auth] issuer` is set.
    oauth: Option<OAuth>,
}

impl Gate {
    /// The gate of `config`, over the keys of `store`.
    pub fn new(config: &Config, store: Store) -> Result<Gate> {
        Ok(Gate {
            token: config.server.token.as_deref().map(digest),
            keys: KeyRing::new(store),
            oauth: OAuth::new(&config.auth)?,
        })
    }

    /// The OAuth resource server, when one is configured.
    pub fn oauth(&self) -> Option<&OAuth> {
        self.oauth.as_ref()
    }

    /// True when a token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// True when callers must prove who they are: a token or an issuer is configured, or a
    /// key was ever created. Without any, a loopback server is open to its machine, as
    /// before keys existed.
    pub async fn required(&self) -> Result<bool> {
        if self.token.is_some() || self.oauth.is_some() {
            return Ok(true);
        }
        self.keys.any().await
    }

    /// The principal `credential` proves (from `Authorization`), or why none. `now` is
    /// RFC 3339 UTC, for key expiry.
    pub async fn authenticate(
        &self,
        credential: Option<&str>,
        now: &str,
    ) -> std::result::Result<Principal, Refusal> {
        let Some(credential) = credential.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(Refusal::Missing(self.what_to_send()));
        };
        if credential.len() > MAX_CREDENTIAL_BYTES {
            return Err(Refusal::Unknown(format!(
                "the credential is {} bytes, more than the {MAX_CREDENTIAL_BYTES} accepted\nsend a key, the token or an access token",
                credential.len()
            )));
        }
        if let Some(want) = &self.token
            && bool::from(digest(credential).ct_eq(want))
        {
            return Ok(Principal::token());
        }
        if credential.starts_with(keys::PREFIX) {
            return match self.keys.verify(credential, now).await {
                Ok(verdict) => Ok(verdict?),
                Err(err) => Err(Refusal::Unavailable(err)),
            };
        }
        if let Some(oauth) = &self.oauth
            && credential.split('.').count() == 3
        {
            return Ok(oauth.verify(credential).await?);
        }
        Err(Refusal::Unknown(format!(
            "the credential is not accepted\n{}",
            self.what_to_send()
        )))
    }

    /// What a caller may send here, for messages.
    fn what_to_send(&self) -> String {
        let mut ways = vec!["a key from 'memoryd key create'"];
        if self.token.is_some() {
            ways.push("the token memoryd serve was started with");
        }
        if self.oauth.is_some() {
            ways.push(
                "an OAuth access token from the issuer in /.well-known/oauth-protected-resource",
            );
        }
        format!(
            "this server needs a credential: send 'Authorization: Bearer <credential>' with {}",
            ways.join(", or ")
        )
    }

    /// The scopes to ask an issuer for, for `WWW-Authenticate`.
    pub fn scopes_for(needed: Scope) -> &'static str {
        match needed {
            Scope::Read => "memory:read",
            Scope::Write => "memory:read memory:write",
            Scope::Admin => "memory:admin",
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}
