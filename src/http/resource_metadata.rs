//! `GET /.well-known/oauth-protected-resource` (and the same under the resource's path, RFC
//! 9728 section 3.1): the Protected Resource Metadata that tells an OAuth client which issuer
//! to ask for a token and which scopes exist. Not found without `[auth] issuer`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

/// The metadata document, or 404 when this server takes no OAuth tokens.
pub async fn handle(State(app): State<App>) -> Response {
    match app.gate().oauth() {
        Some(oauth) => axum::Json(oauth.metadata()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"code": "not_found", "message":
                "this server takes no OAuth access tokens\nset [auth] issuer and audience to accept them"}})),
        )
            .into_response(),
    }
}
