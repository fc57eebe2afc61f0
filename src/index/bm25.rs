//! The arithmetic of keyword ranking, apart from the index that feeds it: BM25's idf as FTS5
//! computes it, the namespace-weighed idf hybrid search asks for, and picking the best `k`
//! scores in FTS5's order. No state: `keyword` owns the postings and the statistics.

use super::Ranked;

/// BM25's inverse document frequency of a term found in `hits` of `documents`, as FTS5
/// computes it (before its floor).
pub(super) fn idf(documents: f64, hits: f64) -> f64 {
    ((documents - hits + 0.5) / (hits + 0.5)).ln()
}

/// A term's idf weighed by the namespace searched: the lower of `database_idf` and its idf
/// among the namespace's `size` memories (`hits` of which hold it; 0 when it is in half of
/// them or more), but at least `floor` × `database_idf`.
///
/// Statistics are database-wide (as FTS5 keeps them), so a word in most memories of one
/// namespace but rare elsewhere, such as the names of a conversation's speakers, weighs as
/// much as a rare content word there, and a query naming a speaker fills the keyword
/// candidates with that speaker's turns. Measured on LoCoMo, hybrid recall@10 rises with a
/// floor of 0.3 and keyword-only recall falls, so only hybrid search asks for it.
pub(super) fn namespace_idf(database_idf: f64, size: f64, hits: f64, floor: f64) -> f64 {
    let local = idf(size, hits).max(0.0);
    (floor * database_idf).max(database_idf.min(local))
}

/// Best first; ties: newest (highest rowid) first, as the FTS5 query orders them.
pub(super) fn order(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| b.rowid.cmp(&a.rowid))
}

/// The best `k` of `slots`, in [`order`]: a heap of the `k` best so far, so a query matching
/// most of the index does not build and sort a list of all of them.
pub(super) fn best(slots: &[u32], k: usize, ranked: impl Fn(u32) -> Ranked) -> Vec<Ranked> {
    /// Ordered so the heap's top is the worst kept candidate.
    struct Worst(Ranked);
    impl PartialEq for Worst {
        fn eq(&self, other: &Self) -> bool {
            order(&self.0, &other.0).is_eq()
        }
    }
    impl Eq for Worst {}
    impl PartialOrd for Worst {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Worst {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            order(&self.0, &other.0)
        }
    }
    if k == 0 {
        return Vec::new();
    }
    let mut heap = std::collections::BinaryHeap::with_capacity(k + 1);
    for &slot in slots {
        let candidate = ranked(slot);
        if heap.len() < k {
            heap.push(Worst(candidate));
        } else if let Some(worst) = heap.peek()
            && order(&candidate, &worst.0).is_lt()
        {
            heap.pop();
            heap.push(Worst(candidate));
        }
    }
    let mut out: Vec<Ranked> = heap.into_iter().map(|w| w.0).collect();
    out.sort_unstable_by(order);
    out
}
