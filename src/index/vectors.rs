//! An in-memory copy of each namespace's vectors, searched by brute force in Rust.
//!
//! On SQLite, sqlite-vec stays the stored index (written in the same transaction as every
//! memory), but its KNN, compiled without SIMD for portability, takes about 11 ms at 10,000 memories. A
//! dot product over a contiguous `Vec<f32>` with independent accumulators vectorises on any
//! x86_64 or aarch64 and takes about a tenth of that.
//!
//! Each namespace's copy loads on its first search (its vectors only) and is evicted within
//! the budget it shares with the keyword index (see `namespaces`). A copy follows `vector_log`, which every change to the stored vectors appends to (in any
//! process, in the same transaction), so it is never searched stale: before each search it
//! applies the log entries it has not seen, re-reading just those rows. Only a copy that fell
//! far behind (many changes, or entries already pruned) is dropped and reloaded whole.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use super::change_log::{self, CatchUp};
use super::namespaces::{Held, Kind, Resident};
use super::{Standing, VectorSource};
use crate::error::Result;

/// Vectors of one namespace, row-major.
#[derive(Default)]
struct Space {
    rowids: Vec<i64>,
    data: Vec<f32>,
    /// Whether each vector's memory is superseded (default searches skip it).
    superseded: Vec<bool>,
    /// When each vector's memory expires, in ms since the epoch (every search skips it from
    /// then on: a comparison beside the dot product, checked at query time).
    expires: Vec<i64>,
    /// Where each rowid sits in `rowids`.
    positions: HashMap<i64, usize>,
}

impl Space {
    /// Adds (or replaces) the vector of `rowid`.
    fn upsert(&mut self, rowid: i64, vector: &[f32], standing: Standing) {
        let dim = vector.len();
        match self.positions.get(&rowid) {
            Some(&i) => {
                self.data[i * dim..(i + 1) * dim].copy_from_slice(vector);
                self.superseded[i] = standing.superseded;
                self.expires[i] = standing.expires_at;
            }
            None => {
                self.positions.insert(rowid, self.rowids.len());
                self.rowids.push(rowid);
                self.data.extend_from_slice(vector);
                self.superseded.push(standing.superseded);
                self.expires.push(standing.expires_at);
            }
        }
    }

    /// Removes the vector of `rowid`, if present, by moving the last one into its place.
    fn remove(&mut self, rowid: i64, dim: usize) {
        let Some(i) = self.positions.remove(&rowid) else {
            return;
        };
        let last = self.rowids.len() - 1;
        if i != last {
            let moved = self.rowids[last];
            self.rowids[i] = moved;
            self.data.copy_within(last * dim..(last + 1) * dim, i * dim);
            self.superseded[i] = self.superseded[last];
            self.expires[i] = self.expires[last];
            self.positions.insert(moved, i);
        }
        self.rowids.truncate(last);
        self.data.truncate(last * dim);
        self.superseded.truncate(last);
        self.expires.truncate(last);
    }
}

impl Space {
    /// What it holds, for the budget: the vectors and per-vector arrays as allocated, and
    /// the position table at its capacity (16 bytes an entry and a control byte).
    fn held(&self) -> Held {
        let bytes = self.data.capacity() * 4
            + self.rowids.capacity() * 8
            + self.superseded.capacity()
            + self.expires.capacity() * 8
            + self.positions.capacity() * 17;
        Held {
            bytes: bytes as u64,
            vectors: self.rowids.len() as u64,
            ..Held::default()
        }
    }
}

/// One namespace's vectors and the `vector_log` entry they reflect.
#[derive(Default)]
struct State {
    /// The last `vector_log` entry the space reflects.
    seq: Option<i64>,
    /// `None` after a failed catch-up: reloaded on the next search.
    space: Option<Space>,
}

/// One namespace's copy, as the budget's table keeps it.
struct Vectors {
    /// A std lock: held only inside blocking tasks, never across an `.await`.
    state: RwLock<State>,
}

impl Vectors {
    fn held(&self) -> Held {
        self.state
            .read()
            .ok()
            .and_then(|s| s.space.as_ref().map(Space::held))
            .unwrap_or_default()
    }
}

/// The per-process vector cache: one copy per namespace, loaded on its first search and
/// evicted within the budget it shares with the keyword index.
///
/// Searches of a namespace share its copy under a read lock, so concurrent searches use
/// every core; only catching up with the log (after a write) takes its write lock.
pub struct VectorIndex {
    /// The loaded namespaces and the budget.
    resident: Arc<Resident>,
}

impl VectorIndex {
    /// A cache with nothing loaded, keeping its namespaces in `resident`.
    pub fn new(resident: Arc<Resident>) -> Self {
        VectorIndex { resident }
    }

    /// The vectors of `rowids` in `namespace` as of the last search of it, in the order given
    /// (ones not held skipped); `None` when the namespace is not loaded. What ranking reads
    /// right after a search, without going back to the database.
    pub fn held(&self, namespace: &str, rowids: &[i64]) -> Option<Vec<(i64, Vec<f32>)>> {
        let copy = self.resident.peek::<Vectors>(Kind::Vectors, namespace)?;
        let state = copy.state.read().ok()?;
        let space = state.space.as_ref()?;
        let dim = space.data.len().checked_div(space.rowids.len())?;
        Some(
            rowids
                .iter()
                .filter_map(|r| {
                    let i = *space.positions.get(r)?;
                    Some((*r, space.data[i * dim..(i + 1) * dim].to_vec()))
                })
                .collect(),
        )
    }

    /// The `k` rowids nearest to `query` (cosine similarity of unit vectors) in `namespace`,
    /// best first, reading through `source` what changed since the last call (or the
    /// namespace's vectors, on its first search); superseded memories only when
    /// `include_superseded`, expired ones never.
    pub fn nearest(
        &self,
        source: &mut dyn VectorSource,
        namespace: &str,
        query: &[f32],
        k: usize,
        include_superseded: bool,
    ) -> Result<Vec<(i64, f32)>> {
        let dim = query.len();
        let newest = source.newest()?;
        let copy = self.resident.get_or_load(
            Kind::Vectors,
            namespace,
            || {
                // Loaded after `newest` was read, so at least as new: applying an entry it
                // already reflects later re-reads the same row, which changes nothing.
                let space = load(source, namespace, dim)?;
                Ok(Vectors {
                    state: RwLock::new(State {
                        seq: Some(newest),
                        space: Some(space),
                    }),
                })
            },
            Vectors::held,
        )?;
        if let Ok(state) = copy.state.read()
            && state.seq == Some(newest)
            && let Some(space) = &state.space
        {
            return Ok(top_k(space, query, k, include_superseded));
        }
        let mut state = super::write_or_reset(&copy.state);
        let updated = catch_up(source, &mut state, namespace, dim).and_then(|()| {
            if state.space.is_none() {
                state.space = Some(load(source, namespace, dim)?);
            }
            Ok(())
        });
        let held = state.space.as_ref().map(Space::held).unwrap_or_default();
        self.resident.resize(Kind::Vectors, namespace, &copy, held);
        updated?;
        let state = RwLockWriteGuard::downgrade(state);
        let space = state.space.as_ref().expect("loaded above");
        Ok(top_k(space, query, k, include_superseded))
    }
}

/// Brings one namespace's copy up to the newest `vector_log` entry, keeping the vectors of
/// `namespace` (the log is database-wide). The entry it reflects moves only once every
/// change is applied; a failure half-way drops the copy, to be reloaded.
fn catch_up(
    source: &mut dyn VectorSource,
    state: &mut State,
    namespace: &str,
    dim: usize,
) -> Result<()> {
    let (todo, seq) = change_log::catch_up(source, state.seq)?;
    match todo {
        CatchUp::Current => {}
        CatchUp::Reload => state.space = None,
        CatchUp::Apply(changed) => match change_log::to_reread(&changed, namespace) {
            None => state.space = None,
            Some(mine) => {
                if let Some(space) = state.space.as_mut() {
                    let apply = || -> Result<()> {
                        // Others' changes cost nothing: their vectors are not here (or, gone,
                        // just forgotten).
                        for rowid in changed.keys() {
                            space.remove(*rowid, dim);
                        }
                        for rowid in mine {
                            if let Some((of, vector, standing)) = source.vector(rowid)?
                                && of == namespace
                                && vector.len() == dim
                            {
                                space.upsert(rowid, &vector, standing);
                            }
                        }
                        Ok(())
                    };
                    if let Err(err) = apply() {
                        state.space = None;
                        state.seq = None;
                        return Err(err);
                    }
                }
            }
        },
    }
    state.seq = Some(seq);
    Ok(())
}

/// The vectors of one namespace, read from `source`.
fn load(source: &mut dyn VectorSource, namespace: &str, dim: usize) -> Result<Space> {
    let mut space = Space::default();
    source.vectors(namespace, &mut |rowid, vector, standing| {
        if vector.len() == dim {
            space.upsert(rowid, &vector, standing);
        }
    })?;
    Ok(space)
}

fn top_k(space: &Space, query: &[f32], k: usize, include_superseded: bool) -> Vec<(i64, f32)> {
    let dim = query.len();
    let now = crate::expiry::now_millis();
    let mut scored: Vec<(f32, usize)> = space
        .data
        .chunks_exact(dim)
        .enumerate()
        .filter(|&(i, _)| (include_superseded || !space.superseded[i]) && space.expires[i] > now)
        .map(|(i, v)| (dot(v, query), i))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0);
    if k < scored.len() {
        scored.select_nth_unstable_by(k - 1, by_score);
        scored.truncate(k);
    }
    scored.sort_unstable_by(by_score);
    scored
        .into_iter()
        .map(|(s, i)| (space.rowids[i], s))
        .collect()
}

/// Dot product with eight independent accumulators, so the compiler can keep them in vector
/// registers (floating-point addition is not associative, so one running sum would not).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(superseded: bool) -> Standing {
        Standing {
            superseded,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn expired_vectors_are_skipped_even_when_superseded_ones_are_asked_for() {
        let mut space = Space::default();
        let gone = Standing {
            superseded: false,
            expires_at: crate::expiry::now_millis() - 1,
        };
        space.upsert(10, &[1.0, 0.0], gone);
        space.upsert(20, &[0.6, 0.8], st(false));
        space.upsert(30, &[0.0, 1.0], st(false));
        let rowids = |found: Vec<(i64, f32)>| found.into_iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(rowids(top_k(&space, &[1.0, 0.0], 2, false)), [20, 30]);
        assert_eq!(rowids(top_k(&space, &[1.0, 0.0], 2, true)), [20, 30]);
    }

    #[test]
    fn top_k_orders_by_dot_product() {
        let mut space = Space::default();
        space.upsert(10, &[1.0, 0.0], st(false));
        space.upsert(20, &[0.0, 1.0], st(false));
        space.upsert(30, &[0.6, 0.8], st(false));
        let got = top_k(&space, &[0.0, 1.0], 2, false);
        assert_eq!(
            got.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            vec![20, 30]
        );
        assert!((got[1].1 - 0.8).abs() < 1e-6);
        assert_eq!(top_k(&space, &[1.0, 0.0], 10, false).len(), 3);
    }

    #[test]
    fn superseded_vectors_are_skipped_unless_asked_for_and_the_rest_still_fill_k() {
        let mut space = Space::default();
        space.upsert(10, &[0.0, 1.0], st(true));
        space.upsert(20, &[0.6, 0.8], st(false));
        space.upsert(30, &[1.0, 0.0], st(false));
        let rowids = |got: Vec<(i64, f32)>| got.iter().map(|(r, _)| *r).collect::<Vec<_>>();
        assert_eq!(rowids(top_k(&space, &[0.0, 1.0], 2, false)), vec![20, 30]);
        assert_eq!(rowids(top_k(&space, &[0.0, 1.0], 2, true)), vec![10, 20]);
        // Superseding follows the memory when the last vector moves into a gap.
        space.remove(20, 2);
        assert_eq!(rowids(top_k(&space, &[0.0, 1.0], 3, false)), vec![30]);
        space.upsert(10, &[0.0, 1.0], st(false));
        assert_eq!(rowids(top_k(&space, &[0.0, 1.0], 1, false)), vec![10]);
    }

    #[test]
    fn remove_moves_the_last_vector_into_the_gap() {
        let mut space = Space::default();
        for (rowid, x) in [(1, 1.0), (2, 2.0), (3, 3.0)] {
            space.upsert(rowid, &[x, 0.0], st(false));
        }
        space.remove(1, 2);
        space.remove(99, 2);
        assert_eq!(space.rowids, vec![3, 2]);
        assert_eq!(space.data, vec![3.0, 0.0, 2.0, 0.0]);
        assert_eq!(space.positions[&3], 0);
        space.upsert(2, &[5.0, 5.0], st(false));
        space.remove(3, 2);
        assert_eq!(space.rowids, vec![2]);
        assert_eq!(space.data, vec![5.0, 5.0]);
        space.remove(2, 2);
        assert!(space.rowids.is_empty() && space.data.is_empty() && space.positions.is_empty());
    }

    #[test]
    fn dot_handles_remainders() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let want: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), want);
    }

    /// Vectors of several namespaces and a log, that can be told to fail reads.
    #[derive(Clone)]
    struct Rows {
        rows: Vec<(i64, String, Vec<f32>)>,
        fail: bool,
    }

    impl crate::index::LogSource for Rows {
        fn newest(&mut self) -> Result<i64> {
            Ok(1)
        }

        fn oldest(&mut self) -> Result<i64> {
            Ok(1)
        }

        fn since(&mut self, _seq: i64) -> Result<Vec<change_log::Change>> {
            Ok(Vec::new())
        }
    }

    impl VectorSource for Rows {
        fn vector(&mut self, rowid: i64) -> Result<Option<(String, Vec<f32>, Standing)>> {
            Ok(self
                .rows
                .iter()
                .find(|r| r.0 == rowid)
                .map(|r| (r.1.clone(), r.2.clone(), st(false))))
        }

        fn vectors(
            &mut self,
            namespace: &str,
            each: &mut dyn FnMut(i64, Vec<f32>, Standing),
        ) -> Result<()> {
            if self.fail {
                return Err(crate::error::Error::Unavailable("database down".into()));
            }
            for (rowid, ns, v) in &self.rows {
                if ns == namespace {
                    each(*rowid, v.clone(), st(false));
                }
            }
            Ok(())
        }

        fn passing(&mut self, rowids: &[i64]) -> Result<std::collections::HashSet<i64>> {
            Ok(rowids.iter().copied().collect())
        }
    }

    /// Namespace `ns<n>` holds unit vectors along axes 0..8, rowid n * 100 + axis.
    fn rows(namespaces: i64) -> Rows {
        let mut rows = Vec::new();
        for n in 0..namespaces {
            for axis in 0..8 {
                let mut v = vec![0.0; 8];
                v[axis as usize] = 1.0;
                rows.push((n * 100 + axis, format!("ns{n}"), v));
            }
        }
        Rows { rows, fail: false }
    }

    fn axis(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; 8];
        v[i] = 1.0;
        v
    }

    #[test]
    fn copies_load_per_namespace_evict_under_concurrent_searches_and_fail_alone() {
        let resident = Arc::new(Resident::new(1));
        let index = VectorIndex::new(resident.clone());
        let source = rows(5);
        std::thread::scope(|s| {
            for thread in 0..6 {
                let (index, mut source) = (&index, source.clone());
                s.spawn(move || {
                    for round in 0..300 {
                        let n = (thread + round) % 5;
                        let a = round % 8;
                        let got = index
                            .nearest(&mut source, &format!("ns{n}"), &axis(a), 1, false)
                            .unwrap();
                        assert_eq!(got[0].0, (n * 100 + a) as i64);
                    }
                });
            }
        });
        let usage = resident.usage();
        assert!(usage.evictions > 0 && usage.loaded <= 1, "{usage:?}");
        // One namespace loaded; the database goes away: another cannot load, it still answers.
        let index = VectorIndex::new(Arc::new(Resident::new(1 << 20)));
        let mut source = rows(2);
        assert_eq!(
            index
                .nearest(&mut source, "ns0", &axis(3), 1, false)
                .unwrap()[0]
                .0,
            3
        );
        source.fail = true;
        let err = index
            .nearest(&mut source, "ns1", &axis(3), 1, false)
            .unwrap_err();
        assert!(err.to_string().contains("database down"), "{err}");
        assert_eq!(
            index
                .nearest(&mut source, "ns0", &axis(5), 1, false)
                .unwrap()[0]
                .0,
            5
        );
        assert!(index.held("ns1", &[103]).is_none(), "not loaded");
        assert_eq!(index.held("ns0", &[3]).unwrap()[0].1, axis(3));
    }
}
