//! `[health]`: when `/health` says `degraded`, and over what window it judges.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Thresholds of `/health` and the alerts on `/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Health {
    /// Rates and percentiles cover the calls of the last this many seconds.
    pub window_seconds: u64,
    /// Degraded when more than this percent of the window's calls failed …
    pub max_error_rate_percent: f64,
    /// … or their mean latency is over this many milliseconds …
    pub max_avg_response_ms: f64,
    /// … once the window holds at least this many calls.
    pub min_calls: u64,
    /// Degraded when fewer than this percent of cache lookups hit …
    pub min_cache_hit_rate_percent: f64,
    /// … once the window holds at least this many lookups.
    pub min_cache_lookups: u64,
    /// Degraded when one round trip to the database takes longer than this many ms.
    pub max_database_round_trip_ms: f64,
    /// The charts on `/status` get one point per this many seconds (360 points: an hour at 10).
    pub history_step_seconds: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            window_seconds: 300,
            max_error_rate_percent: 10.0,
            max_avg_response_ms: 100.0,
            min_calls: 10,
            min_cache_hit_rate_percent: 30.0,
            min_cache_lookups: 20,
            max_database_round_trip_ms: 50.0,
            history_step_seconds: 10,
        }
    }
}

impl Health {
    /// Checks values a type cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |key: &str, why: &str| Err(Error::invalid("config", format!("health.{key}: {why}")));
        if self.window_seconds == 0 || self.window_seconds > 86_400 {
            return bad("window_seconds", "must be from 1 to 86400 (one day)");
        }
        for (key, value) in [
            ("max_error_rate_percent", self.max_error_rate_percent),
            (
                "min_cache_hit_rate_percent",
                self.min_cache_hit_rate_percent,
            ),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return bad(key, "must be a percentage from 0 to 100");
            }
        }
        if self.max_avg_response_ms.is_nan() || self.max_avg_response_ms <= 0.0 {
            return bad("max_avg_response_ms", "must be more than 0");
        }
        if self.max_database_round_trip_ms.is_nan() || self.max_database_round_trip_ms <= 0.0 {
            return bad("max_database_round_trip_ms", "must be more than 0");
        }
        if !(1..=600).contains(&self.history_step_seconds) {
            return bad("history_step_seconds", "must be from 1 to 600");
        }
        if self.history_step_seconds > self.window_seconds {
            return bad(
                "history_step_seconds",
                "must not be more than window_seconds (a point is made from the window's calls)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_step_within_bounds_and_the_window() {
        assert!(Health::default().validate().is_ok());
        for (step, window) in [(0, 300), (601, 3600), (60, 30)] {
            let health = Health {
                history_step_seconds: step,
                window_seconds: window,
                ..Health::default()
            };
            let err = health.validate().unwrap_err().to_string();
            assert!(err.contains("health.history_step_seconds"), "{err}");
        }
    }
}
