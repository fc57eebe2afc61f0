//! The database URL setting: which URLs are accepted, and how one is printed without its
//! password.

use crate::error::{Error, Result};

/// Checks that `url` names a database engine memoryd speaks; the message says what is
/// accepted and never repeats a password.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(
            "database_url",
            format!(
                "'{}' {why}\nwrite it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require], or leave it unset for SQLite in the data dir",
                redact_url(url)
            ),
        )
    };
    match url.split_once("://").map(|(s, _)| s) {
        Some("postgres" | "postgresql") => {}
        _ => return Err(bad("is not a PostgreSQL URL")),
    }
    let parsed = url::Url::parse(url).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
    if parsed.host_str().is_none_or(str::is_empty)
        && !parsed.query_pairs().any(|(k, _)| k == "host")
    {
        return Err(bad("names no host"));
    }
    for (key, value) in parsed.query_pairs() {
        if key == "sslmode"
            && !matches!(
                value.as_ref(),
                "disable" | "prefer" | "require" | "verify-ca" | "verify-full"
            )
        {
            return Err(Error::invalid(
                "database_url",
                format!(
                    "sslmode '{value}' is not one of disable, prefer, require, verify-ca, verify-full"
                ),
            ));
        }
    }
    Ok(())
}

/// `url` with its password (and any `password=` parameter) replaced by `***`, for printing.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL that can be taken apart: show only the scheme.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_everywhere() {
        assert_eq!(
            redact_url("postgres://memoryd:s3cret@db.internal:5432/memoryd?sslmode=require"),
            "postgres://memoryd:***@db.internal:5432/memoryd?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/memoryd?user=a&password=s3cret"),
            "postgres://db/memoryd?user=a&password=***"
        );
        assert_eq!(
            redact_url("postgres://memoryd@db/memoryd"),
            "postgres://memoryd@db/memoryd"
        );
        assert!(!redact_url("postgres://u:pw@[::1/x").contains("pw"));
    }

    #[test]
    fn check_url_names_what_is_accepted() {
        assert!(check_url("postgres://memoryd@localhost/memoryd").is_ok());
        assert!(
            check_url("postgresql://memoryd@localhost:5433/memoryd?sslmode=verify-full").is_ok()
        );
        let err = check_url("mysql://root:pw@localhost/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a PostgreSQL URL"), "{err}");
        assert!(!err.contains("pw"), "{err}");
        let err = check_url("postgres://u@h/db?sslmode=strict")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode 'strict'"), "{err}");
    }
}
