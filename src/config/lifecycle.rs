//! `[lifecycle]`: how long memories live (per-kind `ttl` defaults), how long an expired memory
//! is kept before the sweep purges it, and how often the sweep runs; and the one duration
//! syntax (`90s`, `15m`, `12h`, `30d`, `2w`) that these keys and the `ttl` argument share.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest duration memoryd accepts anywhere (100 years): far enough for any real expiry,
/// near enough that adding it to now never overflows a timestamp.
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

/// Settings of memory expiry and the purge sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifecycle {
    /// An expired memory is purged (with its versions and vector) once it has been expired
    /// this long.
    pub purge_after: String,
    /// The background sweep runs this often.
    pub sweep_every: String,
    /// Default `ttl` per kind, applied when a `store_memory` gives neither `ttl` nor
    /// `expires_at` (kinds not listed never expire by default).
    pub ttl: BTreeMap<String, String>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            purge_after: "30d".into(),
            sweep_every: "1h".into(),
            ttl: BTreeMap::new(),
        }
    }
}

impl Lifecycle {
    /// Checks every duration, naming the key of a bad one.
    pub fn validate(&self) -> Result<()> {
        let check = |key: String, value: &str| {
            parse_duration(value)
                .map(|_| ())
                .map_err(|why| Error::invalid("config", format!("{key}: {why}")))
        };
        check("lifecycle.purge_after".into(), &self.purge_after)?;
        check("lifecycle.sweep_every".into(), &self.sweep_every)?;
        for (kind, ttl) in &self.ttl {
            let k = kind.trim();
            if k.is_empty() || k.chars().count() > 64 || k.chars().any(char::is_whitespace) {
                return Err(Error::invalid(
                    "config",
                    format!(
                        "lifecycle.ttl.{kind}: '{kind}' is not a valid kind\nuse one word of at most 64 characters, as store_memory's kind"
                    ),
                ));
            }
            check(format!("lifecycle.ttl.{kind}"), ttl)?;
        }
        Ok(())
    }

    /// How long an expired memory is kept before the sweep purges it.
    pub fn purge_after(&self) -> Duration {
        parse_duration(&self.purge_after).unwrap_or(Duration::from_secs(30 * 86_400))
    }

    /// How often the sweep runs.
    pub fn sweep_every(&self) -> Duration {
        parse_duration(&self.sweep_every).unwrap_or(Duration::from_secs(3_600))
    }

    /// The default time to live of a memory of `kind`, if the config gives one.
    pub fn default_ttl(&self, kind: &str) -> Option<Duration> {
        self.ttl.get(kind).and_then(|t| parse_duration(t).ok())
    }
}

/// Parses a duration: a whole number followed by `s` (seconds), `m` (minutes), `h` (hours),
/// `d` (days) or `w` (weeks), such as `90s`, `12h` or `30d`. Zero, negative, fractional and
/// unit-less values are refused; the reason says what is allowed.
pub fn parse_duration(value: &str) -> std::result::Result<Duration, String> {
    let v = value.trim();
    let hint = "use a whole number and a unit: s, m, h, d or w (such as 90s, 12h, 30d)";
    let Some(unit) = v.chars().last() else {
        return Err(format!("'{value}' is not a duration\n{hint}"));
    };
    let seconds_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(format!("'{value}' is not a duration\n{hint}")),
    };
    let number = &v[..v.len() - 1];
    if number.starts_with('-') {
        return Err(format!(
            "'{value}' is negative; a duration must be positive\n{hint}"
        ));
    }
    let Ok(n) = number.parse::<u64>() else {
        return Err(format!("'{value}' is not a duration\n{hint}"));
    };
    if n == 0 {
        return Err(format!(
            "'{value}' is zero; a duration must be positive\n{hint}"
        ));
    }
    match n.checked_mul(seconds_per) {
        Some(s) if s <= MAX_SECONDS => Ok(Duration::from_secs(s)),
        _ => Err(format!("'{value}' is longer than 100 years\n{hint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        let secs = |v: &str| parse_duration(v).unwrap().as_secs();
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("15m"), 900);
        assert_eq!(secs("12h"), 43_200);
        assert_eq!(secs(" 30d "), 2_592_000);
        assert_eq!(secs("2w"), 1_209_600);
        for bad in [
            "",
            "0s",
            "-5m",
            "1.5h",
            "10",
            "h",
            "3y",
            "10 d",
            "99999999999w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut l = Lifecycle::default();
        assert!(l.validate().is_ok());
        l.ttl.insert("conversation".into(), "90x".into());
        let err = l.validate().unwrap_err().to_string();
        assert!(
            err.contains("lifecycle.ttl.conversation: '90x' is not a duration"),
            "{err}"
        );
        l.ttl.clear();
        l.ttl.insert("two words".into(), "1d".into());
        assert!(
            l.validate()
                .unwrap_err()
                .to_string()
                .contains("not a valid kind")
        );
        l.ttl.clear();
        l.purge_after = "0d".into();
        let err = l.validate().unwrap_err().to_string();
        assert!(err.contains("lifecycle.purge_after: '0d' is zero"), "{err}");
    }
}
