//! An in-memory copy of each namespace's vectors, searched by brute force in Rust.
//!
//! sqlite-vec stays the stored index (written in the same transaction as every memory), but
//! its KNN, compiled without SIMD for portability, takes about 11 ms at 10,000 memories. A
//! dot product over a contiguous `Vec<f32>` with independent accumulators vectorises on any
//! x86_64 or aarch64 and takes about a tenth of that. The copy is keyed by the store
//! generation, which every write bumps (in any process), so it is never searched stale: when
//! the generation moves, the copy is dropped and each namespace reloads on its next search.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::error::Result;

/// Vectors of one namespace, row-major.
struct Space {
    rowids: Vec<i64>,
    data: Vec<f32>,
}

#[derive(Default)]
struct State {
    /// Store generation the loaded spaces reflect.
    generation: Option<i64>,
    /// Loaded namespaces.
    spaces: HashMap<String, Space>,
}

/// The per-process vector cache.
#[derive(Default)]
pub(super) struct VectorIndex {
    /// A std mutex: held only inside blocking database tasks, never across an `.await`.
    state: Mutex<State>,
}

impl VectorIndex {
    /// The `k` rowids nearest to `query` (cosine similarity of unit vectors) in `namespace`,
    /// best first, reading the database through `conn` when the copy is stale.
    pub(super) fn nearest(
        &self,
        conn: &Connection,
        namespace: &str,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(i64, f32)>> {
        let generation: i64 =
            conn.query_row("SELECT value FROM store_generation WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.generation != Some(generation) {
            state.spaces.clear();
            state.generation = Some(generation);
        }
        if !state.spaces.contains_key(namespace) {
            let space = load(conn, namespace, query.len())?;
            state.spaces.insert(namespace.to_string(), space);
        }
        let space = &state.spaces[namespace];
        Ok(top_k(space, query, k))
    }
}

fn load(conn: &Connection, namespace: &str, dim: usize) -> Result<Space> {
    let mut stmt =
        conn.prepare_cached("SELECT rowid, embedding FROM memory_vectors WHERE namespace = ?1")?;
    let mut rows = stmt.query(params![namespace])?;
    let mut space = Space {
        rowids: Vec::new(),
        data: Vec::new(),
    };
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(1)?;
        if blob.len() != dim * 4 {
            continue;
        }
        space.rowids.push(row.get(0)?);
        space.data.extend(
            blob.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(space)
}

fn top_k(space: &Space, query: &[f32], k: usize) -> Vec<(i64, f32)> {
    let dim = query.len();
    let mut scored: Vec<(f32, usize)> = space
        .data
        .chunks_exact(dim)
        .enumerate()
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

    #[test]
    fn top_k_orders_by_dot_product() {
        let space = Space {
            rowids: vec![10, 20, 30],
            data: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
        };
        let got = top_k(&space, &[0.0, 1.0], 2);
        assert_eq!(
            got.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            vec![20, 30]
        );
        assert!((got[1].1 - 0.8).abs() < 1e-6);
        assert_eq!(top_k(&space, &[1.0, 0.0], 10).len(), 3);
    }

    #[test]
    fn dot_handles_remainders() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let want: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), want);
    }
}
