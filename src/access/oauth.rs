//! The OAuth 2.1 resource server: access tokens from `[auth] issuer` (being built).
