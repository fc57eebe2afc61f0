//! The OAuth 2.1 resource server: access tokens from `[auth] issuer` (being built).

use super::Principal;
use crate::config::Auth;
use crate::error::Result;

/// Accepts the access tokens of one issuer.
pub struct OAuth {
    audience: String,
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    /// Not yet built.
    #[error("OAuth access tokens are not accepted yet")]
    Unsupported,
}

impl OAuth {
    /// From validated settings; none without an issuer.
    pub fn new(auth: &Auth) -> Result<Option<OAuth>> {
        Ok(auth.audience.clone().map(|audience| OAuth { audience }))
    }

    /// The principal an access token proves, or why not.
    pub async fn verify(&self, _token: &str) -> std::result::Result<Principal, TokenRefused> {
        Err(TokenRefused::Unsupported)
    }

    /// RFC 9728 Protected Resource Metadata.
    pub fn metadata(&self) -> serde_json::Value {
        serde_json::json!({"resource": self.audience})
    }

    /// This server's MCP URL.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}
