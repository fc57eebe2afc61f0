//! The period a query names, read without a language model: a day ("on 13 October 2023",
//! "October 13, 2023"), a month ("in May 2023") or a year ("in 2023", "during 2022").
//!
//! Only absolute dates are read. Relative ones ("last year", "two weeks ago") need a point in
//! time to count from that a query does not carry, and a month without a year ("in June") is
//! too often a different June.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

/// A span of time, `start` included, `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant in the period.
    pub start: DateTime<Utc>,
    /// First instant after it.
    pub end: DateTime<Utc>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month(word: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == word).map(|i| i as u32 + 1)
}

fn year(word: &str) -> Option<i32> {
    (word.len() == 4)
        .then(|| word.parse().ok())
        .flatten()
        .filter(|y| (1900..=2199).contains(y))
}

/// A day of the month, also written as an ordinal ("13th").
fn day(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !(suffix.is_empty() || ["st", "nd", "rd", "th"].contains(&suffix)) || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn day_period(y: i32, m: u32, d: u32) -> Option<Period> {
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    Some(Period {
        start: midnight(date),
        end: midnight(date.succ_opt()?),
    })
}

fn month_period(y: i32, m: u32) -> Option<Period> {
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    Some(Period {
        start: midnight(first),
        end: midnight(first.checked_add_months(Months::new(1))?),
    })
}

fn year_period(y: i32) -> Option<Period> {
    let first = NaiveDate::from_ymd_opt(y, 1, 1)?;
    Some(Period {
        start: midnight(first),
        end: midnight(NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?),
    })
}

/// The first absolute period `query` names, if any.
pub fn named_period(query: &str) -> Option<Period> {
    let lower = query.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let at = |i: usize| words.get(i).copied().unwrap_or("");
    for i in 0..words.len() {
        // "October 13, 2023", "13 October 2023", "October 2023"
        if let Some(m) = month(at(i)) {
            if let (Some(d), Some(y)) = (day(at(i + 1)), year(at(i + 2))) {
                return day_period(y, m, d);
            }
            if let Some(y) = year(at(i + 1)) {
                return month_period(y, m);
            }
        }
        if let (Some(d), Some(m), Some(y)) = (day(at(i)), month(at(i + 1)), year(at(i + 2))) {
            return day_period(y, m, d);
        }
        // "in 2023": a bare number is a year only after a word that says so.
        if ["in", "during", "of", "since", "throughout"].contains(&at(i))
            && let Some(y) = year(at(i + 1))
        {
            return year_period(y);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(q: &str) -> Option<(String, String)> {
        named_period(q).map(|p| {
            (
                p.start.format("%Y-%m-%d").to_string(),
                p.end.format("%Y-%m-%d").to_string(),
            )
        })
    }

    fn days(a: &str, b: &str) -> Option<(String, String)> {
        Some((a.to_string(), b.to_string()))
    }

    #[test]
    fn reads_days_months_and_years() {
        let day = days("2023-10-13", "2023-10-14");
        assert_eq!(span("What did Melanie show on October 13, 2023?"), day);
        assert_eq!(span("What did she show on 13 October, 2023?"), day);
        assert_eq!(span("what happened on the 13th october 2023"), day);
        assert_eq!(
            span("What setback did Melanie face in October 2023?"),
            days("2023-10-01", "2023-11-01")
        );
        assert_eq!(
            span("workout class in December 2023"),
            days("2023-12-01", "2024-01-01")
        );
        assert_eq!(
            span("How many times has she gone to the beach in 2023?"),
            days("2023-01-01", "2024-01-01")
        );
    }

    #[test]
    fn ignores_what_is_not_an_absolute_date() {
        for q in [
            "When did Melanie go camping in June?",
            "Where did John explore on a road trip last year?",
            "May I see the 2023 budget?",
            "port 2023 is in use",
            "what happened on February 30, 2023",
            "ADR-0004 decision: money is i64",
        ] {
            assert_eq!(named_period(q), None, "{q}");
        }
    }
}
