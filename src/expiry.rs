//! When a memory expires: the `expires_at` and `ttl` arguments of `store_memory` and
//! `update_memory` (and the CLI's `--expires-at`/`--ttl`) resolved to one time, the per-kind
//! defaults of `[lifecycle.ttl]`, and what "expired" means. The sweep that purges expired
//! memories is `sweep.rs`; the SQL and index filters live in `store/` and `index/`.

use chrono::{DateTime, Utc};

use crate::config::{Lifecycle, parse_duration};
use crate::error::{Error, Result};
use crate::memory;

/// What a write asks of a memory's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Never expire (`ttl: "never"`): clears an expiry, and opts out of the kind's default.
    Never,
    /// Expire at this normalised timestamp.
    At(String),
}

impl Expiry {
    /// The `expires_at` to store.
    pub fn stored(&self) -> Option<String> {
        match self {
            Expiry::Never => None,
            Expiry::At(t) => Some(t.clone()),
        }
    }
}

/// The expiry asked by `expires_at` (RFC 3339 or a date) or `ttl` (counted from now; `never`
/// for none), and the argument that asked it; `None` when neither is given. Both at once is an
/// error naming `ttl`.
pub fn asked(
    expires_at: Option<&str>,
    ttl: Option<&str>,
) -> Result<Option<(Expiry, &'static str)>> {
    match (expires_at, ttl) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "ttl",
            "cannot be given together with expires_at\ngive one: ttl counts from now, expires_at names the time",
        )),
        (Some(t), None) => Ok(Some((
            Expiry::At(memory::parse_time("expires_at", t)?),
            "expires_at",
        ))),
        (None, Some(t)) if t.trim() == "never" => Ok(Some((Expiry::Never, "ttl"))),
        (None, Some(t)) => {
            let d = parse_duration(t)
                .map_err(|why| Error::invalid("ttl", format!("{why}, or never for no expiry")))?;
            Ok(Some((Expiry::At(after(d)), "ttl")))
        }
        (None, None) => Ok(None),
    }
}

/// The `expires_at` a new memory of `kind` gets: what the write asked, else the kind's
/// default from `[lifecycle.ttl]`, else none. Refused (naming the argument) when it falls
/// before `occurred_at` (`None`: now).
pub fn for_new(
    asked: Option<(Expiry, &'static str)>,
    kind: &str,
    occurred_at: Option<&str>,
    lifecycle: &Lifecycle,
) -> Result<Option<String>> {
    let (expiry, argument) = match asked {
        Some(a) => a,
        None => match lifecycle.default_ttl(kind) {
            Some(d) => (Expiry::At(after(d)), "ttl"),
            None => return Ok(None),
        },
    };
    let at = expiry.stored();
    if let Some(e) = &at {
        let o = occurred_at.map_or_else(memory::now, str::to_string);
        check_order(argument, e, &o)?;
    }
    Ok(at)
}

/// Refuses an expiry before the memory's `occurred_at`, naming `argument`.
pub fn check_order(argument: &str, expires_at: &str, occurred_at: &str) -> Result<()> {
    if expires_at < occurred_at {
        return Err(Error::invalid(
            argument,
            format!(
                "the memory would expire at {expires_at}, before it occurred ({occurred_at})\ngive an expiry after occurred_at"
            ),
        ));
    }
    Ok(())
}

/// Now plus `d`, as stored.
fn after(d: std::time::Duration) -> String {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    memory::format_time(Utc::now() + d)
}

/// Whether a memory expiring at `expires_at` (stored form) has expired at `now` (stored form).
pub fn is_expired(expires_at: Option<&str>, now: &str) -> bool {
    expires_at.is_some_and(|e| e <= now)
}

/// A stored timestamp as milliseconds since the epoch (for the in-memory indexes), or
/// `i64::MAX` for none (or an unreadable one: never expired).
pub fn millis(expires_at: Option<&str>) -> i64 {
    expires_at
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .map_or(i64::MAX, |t| t.timestamp_millis())
}

/// Now, in milliseconds since the epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_counts_from_now_and_never_clears() {
        let (e, arg) = asked(None, Some("2h")).unwrap().unwrap();
        assert_eq!(arg, "ttl");
        let Expiry::At(t) = e else { panic!() };
        let ahead = millis(Some(&t)) - now_millis();
        assert!((7_100_000..=7_200_000).contains(&ahead), "{ahead}");
        assert_eq!(
            asked(None, Some("never")).unwrap().unwrap().0,
            Expiry::Never
        );
        assert_eq!(asked(None, None).unwrap(), None);
        let at = asked(Some("2030-01-02T03:04:05+01:00"), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            at,
            (Expiry::At("2030-01-02T02:04:05.000Z".into()), "expires_at")
        );
    }

    #[test]
    fn bad_expiries_name_the_argument() {
        let err = |e: Option<&str>, t: Option<&str>| asked(e, t).unwrap_err().to_string();
        assert!(err(Some("2030-01-01"), Some("1d")).starts_with("invalid argument 'ttl'"));
        assert!(err(None, Some("0s")).starts_with("invalid argument 'ttl': '0s' is zero"));
        assert!(err(None, Some("-1h")).contains("negative"));
        assert!(err(None, Some("soon")).starts_with("invalid argument 'ttl'"));
        assert!(err(Some("next week"), None).starts_with("invalid argument 'expires_at'"));
        let before = for_new(
            asked(Some("2020-01-01"), None).unwrap(),
            "note",
            Some("2021-01-01T00:00:00.000Z"),
            &Lifecycle::default(),
        );
        assert!(
            before
                .unwrap_err()
                .to_string()
                .starts_with("invalid argument 'expires_at': the memory would expire")
        );
    }

    #[test]
    fn a_kind_default_applies_only_when_nothing_is_asked() {
        let mut l = Lifecycle::default();
        l.ttl.insert("conversation".into(), "90d".into());
        assert!(for_new(None, "conversation", None, &l).unwrap().is_some());
        assert_eq!(for_new(None, "note", None, &l).unwrap(), None);
        let never = asked(None, Some("never")).unwrap();
        assert_eq!(for_new(never, "conversation", None, &l).unwrap(), None);
        assert!(is_expired(Some("2020-01-01T00:00:00.000Z"), &memory::now()));
        assert!(!is_expired(None, &memory::now()));
    }
}
