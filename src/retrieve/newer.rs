//! Newer first: of two candidates that say nearly the same thing, the later one ranks above.
//!
//! An agent that stores "deploys go out on Tuesdays" weeks after "deploys go out on
//! Thursdays" rarely knows the old memory is there to supersede. The two read alike, so a
//! question about deploys finds both, and nothing in their text says which holds now. Their
//! vectors do say they are about the same thing (cosine similarity far above that of two
//! memories that merely share a topic), and `occurred_at` says which came later. So within
//! the best candidates, a memory whose close restatement happened later is placed just below
//! it: the newer one takes the older one's place, and everything else keeps its order.
//!
//! Only memories that say how things are can go stale this way. A conversation turn or an
//! incident records what happened, and a later one does not make it untrue; a document's
//! chunk (a memory with a `source`) says what its document says, and documents are kept
//! current by importing them again. So the rule applies to two memories of the same kind,
//! neither from a document, of a kind not listed as a record of events (`newer_first_skip_kinds`).

use std::collections::HashMap;

use super::Ranked;
use super::fuse::best_first;

/// A candidate's time and direction in meaning.
pub struct Dated {
    /// Its `occurred_at` (RFC 3339, as stored: comparable as text).
    pub occurred_at: String,
    /// Its embedding.
    pub vector: Vec<f32>,
    /// Its kind.
    pub kind: String,
}

/// When the later of two memories may replace the earlier.
pub struct Restating<'a> {
    /// How alike (cosine) their vectors must be.
    pub similarity: f32,
    /// Kinds that record events, never restated.
    pub skip_kinds: &'a [String],
    /// How many of the best candidates are considered.
    pub window: usize,
}

impl Restating<'_> {
    /// Whether a memory of `kind`, from a document or not, can replace or be replaced.
    pub fn eligible(&self, kind: &str, sourced: bool) -> bool {
        !sourced && !self.skip_kinds.iter().any(|k| k == kind)
    }
}

/// Reorders `ranked` so that of two candidates in `dated` (the eligible ones, see
/// [`Restating::eligible`]) of the same kind among the first `how.window` whose vectors are at
/// least `how.similarity` alike, the one that happened later ranks above the other. The others
/// keep their place.
pub fn newer_first(
    mut ranked: Vec<Ranked>,
    dated: &HashMap<i64, Dated>,
    how: &Restating,
) -> Vec<Ranked> {
    let window = how.window.min(ranked.len());
    let mut order: Vec<usize> = (0..window)
        .filter(|&i| dated.contains_key(&ranked[i].rowid))
        .collect();
    // Oldest first, so a raise passes down a chain: A < B < C each lifts the next.
    order.sort_by(|&i, &j| {
        dated[&ranked[i].rowid]
            .occurred_at
            .cmp(&dated[&ranked[j].rowid].occurred_at)
    });
    let mut moved = false;
    for (k, &i) in order.iter().enumerate() {
        let older = &dated[&ranked[i].rowid];
        for &j in &order[k + 1..] {
            let newer = &dated[&ranked[j].rowid];
            if older.kind != newer.kind
                || newer.occurred_at == older.occurred_at
                || ranked[j].score > ranked[i].score
                || cosine(&older.vector, &newer.vector) < how.similarity
            {
                continue;
            }
            // Just above the older one: the smallest raise that puts it there.
            ranked[j].score = next_up(ranked[i].score);
            moved = true;
        }
    }
    if moved {
        best_first(&mut ranked[..window]);
    }
    ranked
}

/// The smallest f64 above `x` that sorts above it (ties break by rowid, so equal is not
/// enough).
fn next_up(x: f64) -> f64 {
    if x.is_finite() {
        x + x.abs().max(1e-12) * 1e-9
    } else {
        x
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(scores: &[(i64, f64)]) -> Vec<Ranked> {
        scores
            .iter()
            .map(|&(rowid, score)| Ranked { rowid, score })
            .collect()
    }

    fn dated(at: &str, vector: &[f32]) -> Dated {
        Dated {
            occurred_at: at.into(),
            vector: vector.to_vec(),
            kind: "fact".into(),
        }
    }

    fn how(similarity: f32, window: usize) -> Restating<'static> {
        Restating {
            similarity,
            skip_kinds: &[],
            window,
        }
    }

    fn ids(r: &[Ranked]) -> Vec<i64> {
        r.iter().map(|r| r.rowid).collect()
    }

    #[test]
    fn the_later_of_two_alike_takes_the_earlier_ones_place() {
        // 1 (old fact) outranks 2 (unrelated) and 3 (the new fact, alike to 1).
        let list = ranked(&[(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]);
        let dates = HashMap::from([
            (1, dated("2025-01-01T00:00:00Z", &[1.0, 0.1, 0.0])),
            (2, dated("2025-06-01T00:00:00Z", &[0.0, 1.0, 0.0])),
            (3, dated("2025-03-01T00:00:00Z", &[1.0, 0.0, 0.0])),
            (4, dated("2024-01-01T00:00:00Z", &[0.0, 0.0, 1.0])),
        ]);
        assert_eq!(ids(&newer_first(list, &dates, &how(0.9, 4))), [3, 1, 2, 4]);
    }

    #[test]
    fn unlike_or_already_ordered_pairs_keep_their_places() {
        let list = ranked(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let dates = HashMap::from([
            (1, dated("2025-05-01T00:00:00Z", &[1.0, 0.0])),
            (2, dated("2025-01-01T00:00:00Z", &[1.0, 0.05])),
            (3, dated("2025-09-01T00:00:00Z", &[0.0, 1.0])),
        ]);
        // 1 is newer than its look-alike 2 and already above it; 3 is newer but unlike.
        assert_eq!(ids(&newer_first(list, &dates, &how(0.9, 3))), [1, 2, 3]);
    }

    #[test]
    fn a_chain_of_restatements_ends_newest_first() {
        let list = ranked(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let v = [1.0, 0.0];
        let dates = HashMap::from([
            (1, dated("2025-01-01T00:00:00Z", &v)),
            (2, dated("2025-02-01T00:00:00Z", &v)),
            (3, dated("2025-03-01T00:00:00Z", &v)),
        ]);
        assert_eq!(ids(&newer_first(list, &dates, &how(0.9, 3))), [3, 2, 1]);
    }

    #[test]
    fn only_the_window_is_reordered() {
        let list = ranked(&[(1, 0.9), (2, 0.8), (3, 0.7)]);
        let v = [1.0, 0.0];
        let dates = HashMap::from([
            (1, dated("2025-01-01T00:00:00Z", &v)),
            (3, dated("2025-03-01T00:00:00Z", &v)),
        ]);
        // 3 is outside a window of 2, so it cannot be raised.
        assert_eq!(ids(&newer_first(list, &dates, &how(0.9, 2))), [1, 2, 3]);
    }

    #[test]
    fn only_memories_of_one_kind_replace_each_other() {
        let list = ranked(&[(1, 0.9), (2, 0.8)]);
        let v = [1.0, 0.0];
        let mut dates = HashMap::from([
            (1, dated("2025-01-01T00:00:00Z", &v)),
            (2, dated("2025-03-01T00:00:00Z", &v)),
        ]);
        assert_eq!(
            ids(&newer_first(list.clone(), &dates, &how(0.9, 2))),
            [2, 1]
        );
        dates.get_mut(&2).unwrap().kind = "decision".into();
        assert_eq!(ids(&newer_first(list, &dates, &how(0.9, 2))), [1, 2]);
    }

    #[test]
    fn records_of_events_and_chunks_of_documents_are_not_eligible() {
        let skip = ["conversation".to_string()];
        let how = Restating {
            similarity: 0.9,
            skip_kinds: &skip,
            window: 2,
        };
        assert!(how.eligible("fact", false));
        assert!(!how.eligible("conversation", false));
        assert!(!how.eligible("fact", true));
    }
}
