//! The fact-change fixture (`fixtures/fact-changes.jsonl`, described in
//! `fixtures/fact-changes.md`): each record an old memory, a new one that gives a different
//! value for the same thing, and the questions whose answer is the new one. Reading and
//! checking it; storing it is `load`.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::eval::{EvalError, dataset};
use crate::memory;

/// The fewest records a fixture must have to be measured.
pub const MIN_RECORDS: usize = 100;

/// One side of a fact change: a memory as `store_memory` takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    /// The text.
    pub content: String,
    /// Its kind (fact, decision, convention, …).
    pub kind: String,
    /// An optional title.
    #[serde(default)]
    pub title: Option<String>,
    /// Optional tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// When it became true (RFC 3339).
    pub occurred_at: String,
}

/// One fact change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactChange {
    /// `fc-NNN`.
    pub id: String,
    /// people, versions, hosts, schedules, limits, preferences, decisions, config, locations.
    pub category: String,
    /// What was true before.
    pub old: Fact,
    /// What is true now: stored weeks later.
    pub new: Fact,
    /// One or two questions whose answer is the new fact.
    pub queries: Vec<String>,
}

/// Reads the fixture at `path` and checks it (see [`check`]).
pub fn read(path: &Path) -> Result<Vec<FactChange>, EvalError> {
    let records: Vec<FactChange> = dataset::read_jsonl(path)?;
    check(&records).map_err(|why| EvalError::Set(format!("{}: {why}", path.display())))?;
    Ok(records)
}

/// Checks that the records can be measured: at least [`MIN_RECORDS`], unique ids, one or two
/// non-empty queries each, the new `occurred_at` later than the old, and every content
/// distinct (the store would answer an equal content with the first one's id).
pub fn check(records: &[FactChange]) -> Result<(), String> {
    if records.len() < MIN_RECORDS {
        return Err(format!(
            "{} records, fewer than {MIN_RECORDS}\nadd fact changes until there are enough to measure",
            records.len()
        ));
    }
    let mut ids = HashSet::new();
    let mut contents = HashSet::new();
    for r in records {
        if !ids.insert(r.id.as_str()) {
            return Err(format!("id {} appears twice", r.id));
        }
        if r.queries.is_empty()
            || r.queries.len() > 2
            || r.queries.iter().any(|q| q.trim().is_empty())
        {
            return Err(format!("{}: give one or two non-empty queries", r.id));
        }
        let time = |side: &str, f: &Fact| {
            memory::parse_time("occurred_at", &f.occurred_at)
                .map_err(|e| format!("{}: {side}: {e}", r.id))
        };
        // parse_time writes one fixed-width UTC form, so the strings order as the times do.
        if time("new", &r.new)? <= time("old", &r.old)? {
            return Err(format!(
                "{}: the new occurred_at is not later than the old",
                r.id
            ));
        }
        for f in [&r.old, &r.new] {
            if f.content.trim().is_empty() {
                return Err(format!("{}: a content is empty", r.id));
            }
            if !contents.insert(f.content.as_str()) {
                return Err(format!("{}: content '{}' appears twice", r.id, f.content));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<FactChange> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fact-changes.jsonl");
        read(&path).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn the_fixture_parses_and_holds_together() {
        let records = fixture();
        assert!(records.len() >= MIN_RECORDS, "{}", records.len());
        let categories: HashSet<&str> = records.iter().map(|r| r.category.as_str()).collect();
        let expected = [
            "people",
            "versions",
            "hosts",
            "schedules",
            "limits",
            "preferences",
            "decisions",
            "config",
            "locations",
        ];
        assert_eq!(categories, HashSet::from(expected));
        for r in &records {
            assert!(
                r.old.content != r.new.content,
                "{}: old and new are the same",
                r.id
            );
            for f in [&r.old, &r.new] {
                assert!(memory::kind(Some(f.kind.clone())).is_ok(), "{}", r.id);
            }
        }
    }

    #[test]
    fn check_refuses_what_cannot_be_measured() {
        let good = fixture();
        let mut few = good.clone();
        few.truncate(MIN_RECORDS - 1);
        assert!(check(&few).unwrap_err().contains("fewer than"));

        let mut backwards = good.clone();
        let first = &mut backwards[0];
        std::mem::swap(&mut first.old.occurred_at, &mut first.new.occurred_at);
        assert!(check(&backwards).unwrap_err().contains("not later"));

        let mut same = good.clone();
        same[1].new.content = same[0].old.content.clone();
        assert!(check(&same).unwrap_err().contains("appears twice"));

        let mut no_query = good.clone();
        no_query[2].queries.clear();
        assert!(check(&no_query).unwrap_err().contains("queries"));

        let mut blank = good;
        blank[3].queries = vec!["  ".into()];
        assert!(check(&blank).unwrap_err().contains("queries"));
    }
}
