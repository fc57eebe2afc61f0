//! Ranking a fused candidate by where it sits in time.
//!
//! Two signals, both read from the memories' `occurred_at`:
//! - **Neighbours.** A memory gains a share of the fused score of the memory just before or
//!   after it in its namespace (whichever scored higher), when the two happened close together.
//!   A conversation turn stored alone ("Yes, last Saturday, with the kids") answers the turn
//!   before it, which carries the words a query uses; measured on LoCoMo this recovers much of
//!   what storing each turn with `context` gives. Only neighbours that are candidates
//!   themselves count, so a filter is never bypassed.
//! - **A named period.** When the query names a day, month or year, candidates that happened in
//!   it (or in the week after, when people talk about what they did) gain a fixed bonus.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::when::Period;
use crate::store::{Ranked, Situated};

/// How long after a named period a memory still counts as being about it: people talk about
/// what they did in the days after.
const PERIOD_SLACK_DAYS: i64 = 7;

/// The knobs of [`situate`].
#[derive(Debug, Clone, Copy)]
pub struct Situating {
    /// Share of the best neighbour's score added.
    pub neighbour_weight: f64,
    /// Farthest apart two neighbours may have happened.
    pub window: Duration,
    /// The period the query names, if any.
    pub period: Option<Period>,
    /// Added to a candidate in that period.
    pub time_boost: f64,
}

fn time(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Rescores `items` (fused candidates, best first) given where each sits in time, best first.
pub fn situate(items: Vec<Ranked>, places: &[Situated], how: Situating) -> Vec<Ranked> {
    let fused: HashMap<i64, f64> = items.iter().map(|r| (r.rowid, r.score)).collect();
    let places: HashMap<i64, &Situated> = places.iter().map(|p| (p.rowid, p)).collect();
    let period = how
        .period
        .map(|p| (p.start, p.end + Duration::days(PERIOD_SLACK_DAYS)));
    let mut out: Vec<Ranked> = items
        .iter()
        .map(|r| {
            let Some(place) = places.get(&r.rowid) else {
                return *r;
            };
            let at = time(&place.occurred_at);
            let close = |other: &str| match (at, time(other)) {
                (Some(a), Some(b)) => (a - b).abs() <= how.window,
                _ => false,
            };
            let neighbour = [&place.before, &place.after]
                .into_iter()
                .flatten()
                .filter(|(_, when)| close(when))
                .filter_map(|(rowid, _)| fused.get(rowid).copied())
                .fold(0.0, f64::max);
            let in_period = match (period, at) {
                (Some((start, end)), Some(t)) => start <= t && t < end,
                _ => false,
            };
            Ranked {
                rowid: r.rowid,
                score: r.score
                    + how.neighbour_weight * neighbour
                    + if in_period { how.time_boost } else { 0.0 },
            }
        })
        .collect();
    super::fuse::best_first(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieve::when::named_period;

    fn ranked(pairs: &[(i64, f64)]) -> Vec<Ranked> {
        pairs
            .iter()
            .map(|&(rowid, score)| Ranked { rowid, score })
            .collect()
    }

    fn place(
        rowid: i64,
        at: &str,
        before: Option<(i64, &str)>,
        after: Option<(i64, &str)>,
    ) -> Situated {
        let side = |s: Option<(i64, &str)>| s.map(|(r, t)| (r, t.to_string()));
        Situated {
            rowid,
            occurred_at: at.to_string(),
            before: side(before),
            after: side(after),
        }
    }

    fn how(neighbour_weight: f64, period: Option<Period>, time_boost: f64) -> Situating {
        Situating {
            neighbour_weight,
            window: Duration::hours(1),
            period,
            time_boost,
        }
    }

    fn order(items: &[Ranked]) -> Vec<i64> {
        items.iter().map(|r| r.rowid).collect()
    }

    const T0: &str = "2023-05-07T13:56:00.000Z";
    const T1: &str = "2023-05-07T13:57:00.000Z";
    const LATER: &str = "2023-06-20T10:00:00.000Z";

    #[test]
    fn a_turn_rises_with_the_question_before_it() {
        // 1 is the question the query matches; 2 answers it; 3 is unrelated but scores above 2.
        let items = ranked(&[(1, 1.0), (3, 0.5), (2, 0.4)]);
        let places = [
            place(1, T0, None, Some((2, T1))),
            place(2, T1, Some((1, T0)), None),
            place(3, LATER, None, None),
        ];
        let out = situate(items.clone(), &places, how(0.3, None, 0.0));
        assert_eq!(order(&out), [1, 2, 3]);
        assert!((out[1].score - 0.7).abs() < 1e-9);
        // off: the fused order stays
        assert_eq!(
            order(&situate(items, &places, how(0.0, None, 0.0))),
            [1, 3, 2]
        );
    }

    #[test]
    fn neighbours_far_apart_or_outside_the_candidates_do_not_count() {
        let items = ranked(&[(3, 0.5), (2, 0.4)]);
        // 2's neighbour 1 is not a candidate (filtered out); 3's neighbour 2 happened weeks before.
        let places = [
            place(2, T1, Some((1, T0)), Some((3, LATER))),
            place(3, LATER, Some((2, T1)), None),
        ];
        let out = situate(items, &places, how(0.3, None, 0.0));
        assert_eq!(order(&out), [3, 2]);
        assert_eq!(out[0].score, 0.5);
        assert_eq!(out[1].score, 0.4);
    }

    #[test]
    fn a_named_period_lifts_what_happened_in_it_or_the_week_after() {
        let items = ranked(&[(1, 0.6), (2, 0.5), (3, 0.45)]);
        let places = [
            place(1, "2023-03-01T10:00:00.000Z", None, None),
            place(2, "2023-06-05T10:00:00.000Z", None, None),
            place(3, "2023-05-20T10:00:00.000Z", None, None),
        ];
        let may = named_period("What did Maria do with her mom in May 2023?");
        let out = situate(items, &places, how(0.0, may, 0.2));
        // 2 (five days after May) and 3 (in May) overtake 1 (March)
        assert_eq!(order(&out), [2, 3, 1]);
        let places_after = [place(2, "2023-06-09T10:00:00.000Z", None, None)];
        let out = situate(ranked(&[(2, 0.5)]), &places_after, how(0.0, may, 0.2));
        assert_eq!(out[0].score, 0.5, "more than a week after the period");
    }
}
