//! `[auth]`: the OAuth 2.1 issuer whose access tokens memoryd accepts, beside the keys of
//! `memoryd key create` and the `[server] token`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The OAuth resource server's settings; without an issuer, memoryd accepts no OAuth token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// The authorization server that issues access tokens (its metadata and JWKS are
    /// discovered from it). `https://`, or `http://` on a loopback host only.
    pub issuer: Option<String>,
    /// This server's MCP URL, which a token's `aud` must name exactly (RFC 8707).
    pub audience: Option<String>,
    /// The claim listing the namespace patterns a token may reach.
    pub namespace_claim: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            issuer: None,
            audience: None,
            namespace_claim: "memoryd_namespaces".into(),
        }
    }
}

impl Auth {
    /// Checks the two URLs go together and are usable, naming the key of a bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Error::invalid("config", format!("auth.{key}: {why}"));
        match (&self.issuer, &self.audience) {
            (None, None) => return Ok(()),
            (Some(_), None) => {
                return Err(bad(
                    "audience",
                    "is needed with auth.issuer\nset it to this server's MCP URL, e.g. https://memory.example.com/mcp".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "issuer",
                    "is needed with auth.audience\nset it to your authorization server's issuer URL".into(),
                ));
            }
            (Some(issuer), Some(audience)) => {
                check_url(issuer, true).map_err(|why| bad("issuer", why))?;
                check_url(audience, false).map_err(|why| bad("audience", why))?;
            }
        }
        let claim = self.namespace_claim.trim();
        if claim.is_empty() || claim.len() > 128 {
            return Err(bad(
                "namespace_claim",
                "must name a claim (1 to 128 characters)".into(),
            ));
        }
        Ok(())
    }
}

/// An absolute `https://` URL, or `http://` on a loopback host (only for the issuer: the
/// audience is a name the token must carry, not a place memoryd connects to).
fn check_url(text: &str, issuer: bool) -> std::result::Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| {
        format!("'{text}' is not a URL ({e})\nwrite it whole, e.g. https://auth.example.com")
    })?;
    let loopback = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || !issuer => Ok(()),
        "http" => Err(format!(
            "'{text}' is plain http on another machine: tokens and keys would cross the network unprotected\nuse https (http is accepted only on localhost, 127.0.0.1 and [::1])"
        )),
        other => Err(format!("'{text}' has scheme {other}\nuse https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(issuer: Option<&str>, audience: Option<&str>) -> Auth {
        Auth {
            issuer: issuer.map(String::from),
            audience: audience.map(String::from),
            ..Auth::default()
        }
    }

    #[test]
    fn issuer_and_audience_come_together_and_http_only_on_loopback() {
        assert!(auth(None, None).validate().is_ok());
        assert!(
            auth(
                Some("https://auth.example.com"),
                Some("https://m.example.com/mcp")
            )
            .validate()
            .is_ok()
        );
        assert!(
            auth(
                Some("http://localhost:8080"),
                Some("http://127.0.0.1:3000/mcp")
            )
            .validate()
            .is_ok()
        );
        let err = auth(Some("http://auth.example.com"), Some("https://m/mcp"))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth.issuer: 'http://auth.example.com' is plain http"),
            "{err}"
        );
        let err = auth(Some("https://a.example"), None)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth.audience: is needed with auth.issuer"),
            "{err}"
        );
        assert!(auth(None, Some("https://m/mcp")).validate().is_err());
        assert!(
            auth(Some("not a url"), Some("https://m/mcp"))
                .validate()
                .is_err()
        );
    }
}
