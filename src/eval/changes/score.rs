//! Scoring one answer to a fact-change query: where the old and the new memory of the pair
//! stand in a ranking (a search's hits, a bundle's items), and the shares over all queries.
//! Pure functions.

/// Where the two memories of a pair stand in one ranking, counted from 1; `None` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    /// Rank of the old memory.
    pub old: Option<usize>,
    /// Rank of the new memory.
    pub new: Option<usize>,
}

impl Placement {
    /// The ranks of `old` and `new` among the first `depth` ids of `ranked`.
    pub fn of(ranked: &[String], depth: usize, old: &str, new: &str) -> Placement {
        let rank = |id: &str| {
            ranked
                .iter()
                .take(depth)
                .position(|x| x == id)
                .map(|p| p + 1)
        };
        Placement {
            old: rank(old),
            new: rank(new),
        }
    }

    /// True when the old memory ranks above the new one: both present and the old first, or
    /// the old present and the new absent (the reader sees only what was true before).
    pub fn old_above_new(&self) -> bool {
        match (self.old, self.new) {
            (Some(old), Some(new)) => old < new,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Counts over a set of queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Queries counted.
    pub queries: usize,
    /// Of those, how many ranked the old memory above the new one.
    pub old_above_new: usize,
    /// How many had the new memory in the ranking.
    pub new_in: usize,
    /// How many had the old memory in the ranking.
    pub old_in: usize,
}

impl Tally {
    /// Counts one query's placement.
    pub fn add(&mut self, p: Placement) {
        self.queries += 1;
        self.old_above_new += usize::from(p.old_above_new());
        self.new_in += usize::from(p.new.is_some());
        self.old_in += usize::from(p.old.is_some());
    }

    /// `count` as a share of the queries (0 when there are none).
    pub fn share(&self, count: usize) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            count as f64 / self.queries as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranks_count_from_one_within_the_depth() {
        let ranked = ids(&["x", "new", "y", "old"]);
        let p = Placement::of(&ranked, 10, "old", "new");
        assert_eq!(
            p,
            Placement {
                old: Some(4),
                new: Some(2)
            }
        );
        // Beyond the depth counts as absent.
        let p = Placement::of(&ranked, 3, "old", "new");
        assert_eq!(
            p,
            Placement {
                old: None,
                new: Some(2)
            }
        );
    }

    #[test]
    fn old_above_new_covers_every_case() {
        let cases = [
            (&["old", "new"][..], true),
            (&["new", "old"][..], false),
            (&["old", "x"][..], true),
            (&["new", "x"][..], false),
            (&["x", "y"][..], false),
            (&[][..], false),
        ];
        for (ranked, expected) in cases {
            let p = Placement::of(&ids(ranked), 10, "old", "new");
            assert_eq!(p.old_above_new(), expected, "{ranked:?}");
        }
    }

    #[test]
    fn tally_counts_and_shares() {
        let mut t = Tally::default();
        assert_eq!(t.share(t.old_above_new), 0.0);
        for ranked in [
            &["old", "new"][..],
            &["new", "old"][..],
            &["old"][..],
            &["x"][..],
        ] {
            t.add(Placement::of(&ids(ranked), 10, "old", "new"));
        }
        assert_eq!(
            t,
            Tally {
                queries: 4,
                old_above_new: 2,
                new_in: 2,
                old_in: 3
            }
        );
        assert_eq!(t.share(t.old_above_new), 0.5);
        assert_eq!(t.share(t.old_in), 0.75);
    }
}
