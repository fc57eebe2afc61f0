//! Scoring one ranking against the relevant ids, as the LoCoMo set's `score.py` defines it:
//! recall@1, @5, @10, @20 and the reciprocal rank, summed per group. Pure functions.

/// Scores summed over a group of queries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scores {
    /// Queries in the group.
    pub queries: usize,
    /// recall@1, @5, @10, @20, summed.
    pub recall: [f64; 4],
    /// Reciprocal ranks, summed.
    pub mrr: f64,
}

impl Scores {
    /// Adds one query's recall@k and reciprocal rank.
    pub fn add(&mut self, recall: [f64; 4], rr: f64) {
        self.queries += 1;
        for (sum, r) in self.recall.iter_mut().zip(recall) {
            *sum += r;
        }
        self.mrr += rr;
    }
}

const KS: [usize; 4] = [1, 5, 10, 20];

/// Recall@k for each k in [`KS`] and the reciprocal rank of one ranking.
pub fn score_one(relevant: &[String], ranked: &[String]) -> ([f64; 4], f64) {
    let mut recall = [0.0; 4];
    for (i, k) in KS.iter().enumerate() {
        let found = relevant
            .iter()
            .filter(|r| ranked.iter().take(*k).any(|x| x == *r))
            .count();
        recall[i] = found as f64 / relevant.len().max(1) as f64;
    }
    let rr = ranked
        .iter()
        .position(|x| relevant.contains(x))
        .map_or(0.0, |p| 1.0 / (p + 1) as f64);
    (recall, rr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_score_py_definitions() {
        let rel = vec!["a".to_string(), "b".to_string()];
        let ranked: Vec<String> = ["x", "a", "y", "z", "w", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (recall, rr) = score_one(&rel, &ranked);
        assert_eq!(recall, [0.0, 0.5, 1.0, 1.0]);
        assert_eq!(rr, 0.5);
        assert_eq!(score_one(&rel, &[]), ([0.0; 4], 0.0));
    }
}
