//! An in-memory BM25 index of every memory, the keyword counterpart of `vector_index`.
//!
//! FTS5 stays the stored full-text index, but its `bm25()` costs about 2 µs for every
//! matching row (it looks up each row's length in a table of its own), and it scores every
//! match in the database whatever the namespace: a query with a common word took 100 to 200 ms
//! at 100,000 memories. Here the postings sit in memory and a query adds up scores over them,
//! a few nanoseconds a posting.
//!
//! The scores are FTS5's, exactly: the same tokenizer (borrowed from SQLite, see `tokenizer`),
//! the same formula and constants, the same column weights (title 2, content 1, tags 1), and
//! the same statistics (document count, average length and each term's document frequency
//! over the whole database, as FTS5 counts them), so a search ranks as
//! `bm25(memories_fts, 2.0, 1.0, 1.0)` would. Measured on LoCoMo, per-namespace statistics
//! lost 0.02 of keyword recall@10, so the index keeps FTS5's.
//!
//! The index loads whole on the first keyword search and then follows `text_log` (see
//! `change_log`), so it is never searched stale.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::change_log::{self, CatchUp};
use super::filter::{self, Filter};
use super::tokenizer::Tokenizer;
use crate::error::Result;
use crate::store::Ranked;

/// BM25's term-frequency saturation, as FTS5 sets it.
const K1: f64 = 1.2;
/// BM25's length normalisation, as FTS5 sets it.
const B: f64 = 0.75;
/// Weight of a match in each indexed column: title, content, tags.
const WEIGHTS: [f32; 3] = [2.0, 1.0, 1.0];
/// Candidates checked against a narrowing filter at a time, at least.
const FILTER_BATCH: usize = 256;

/// The postings of every memory.
#[derive(Default)]
struct Index {
    /// Memory of each slot (slots are appended; a changed memory gets a new one).
    rowids: Vec<i64>,
    /// Namespace (id) of each slot.
    namespace_of: Vec<u32>,
    /// Tokens in each slot's memory, all columns.
    lengths: Vec<u32>,
    /// False once the slot's memory changed or went.
    alive: Vec<bool>,
    /// The live slot of each memory.
    slots: HashMap<i64, u32>,
    /// Namespace ids.
    namespaces: HashMap<String, u32>,
    /// Term ids.
    terms: HashMap<Box<str>, u32>,
    /// For each term, (slot, weighted frequency) of the memories that contain it.
    postings: Vec<Vec<(u32, f32)>>,
    /// Tokens in live memories, for the average length.
    live_tokens: u64,
    /// Dead slots still referenced by postings.
    dead: usize,
}

/// The searchable text of one memory.
struct Fields {
    rowid: i64,
    namespace: String,
    title: Option<String>,
    content: String,
    tags: String,
}

impl Fields {
    /// Reads the columns `rowid, namespace, title, content, tags`.
    fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Fields> {
        Ok(Fields {
            rowid: r.get(0)?,
            namespace: r.get(1)?,
            title: r.get(2)?,
            content: r.get(3)?,
            tags: r.get(4)?,
        })
    }
}

impl Index {
    /// Indexes one memory (replacing what was indexed for it).
    fn add(&mut self, tokenizer: &mut Tokenizer, fields: &Fields, scratch: &mut HashMap<u32, f32>) {
        self.remove(fields.rowid);
        let slot = self.rowids.len() as u32;
        let mut length = 0u32;
        scratch.clear();
        let columns = [
            fields.title.as_deref(),
            Some(&fields.content),
            Some(&fields.tags),
        ];
        for (column, text) in columns.into_iter().enumerate() {
            let Some(text) = text else { continue };
            let weight = WEIGHTS[column];
            let (terms, postings) = (&mut self.terms, &mut self.postings);
            tokenizer.tokens(text, |token| {
                length += 1;
                let id = match terms.get(token) {
                    Some(&id) => id,
                    None => {
                        let id = postings.len() as u32;
                        postings.push(Vec::new());
                        terms.insert(token.into(), id);
                        id
                    }
                };
                *scratch.entry(id).or_default() += weight;
            });
        }
        for (&id, &freq) in scratch.iter() {
            self.postings[id as usize].push((slot, freq));
        }
        let next = self.namespaces.len() as u32;
        let namespace = *self
            .namespaces
            .entry(fields.namespace.clone())
            .or_insert(next);
        self.rowids.push(fields.rowid);
        self.namespace_of.push(namespace);
        self.lengths.push(length);
        self.alive.push(true);
        self.slots.insert(fields.rowid, slot);
        self.live_tokens += u64::from(length);
    }

    /// Forgets one memory, if indexed.
    fn remove(&mut self, rowid: i64) {
        if let Some(slot) = self.slots.remove(&rowid) {
            self.alive[slot as usize] = false;
            self.live_tokens -= u64::from(self.lengths[slot as usize]);
            self.dead += 1;
        }
    }

    /// Drops dead slots from the postings once they are a fair share of them.
    fn compact_if_worthwhile(&mut self) {
        if self.dead < 1024 || self.dead < self.slots.len() / 4 {
            return;
        }
        let mut renumbered = vec![u32::MAX; self.rowids.len()];
        let mut next = 0u32;
        for (slot, alive) in self.alive.iter().enumerate() {
            if *alive {
                renumbered[slot] = next;
                next += 1;
            }
        }
        for list in &mut self.postings {
            list.retain(|(slot, _)| self.alive[*slot as usize]);
            for (slot, _) in list.iter_mut() {
                *slot = renumbered[*slot as usize];
            }
        }
        let alive = &self.alive;
        retain_alive(&mut self.rowids, alive);
        retain_alive(&mut self.namespace_of, alive);
        retain_alive(&mut self.lengths, alive);
        self.alive = vec![true; self.rowids.len()];
        for slot in self.slots.values_mut() {
            *slot = renumbered[*slot as usize];
        }
        self.dead = 0;
    }

    /// Memories of `namespace` containing any of `terms`, by BM25 score, best first (ties:
    /// newest first); only the best `limit` when given. `scores` is scratch space, all zeros
    /// on entry and on return (reused so a query does not allocate and fault in a buffer the
    /// size of the index).
    fn rank(
        &self,
        terms: &[u32],
        namespace: &str,
        limit: Option<usize>,
        scores: &mut Vec<f64>,
    ) -> Vec<Ranked> {
        let documents = self.slots.len() as f64;
        let Some(&namespace) = self.namespaces.get(namespace) else {
            return Vec::new();
        };
        if documents == 0.0 {
            return Vec::new();
        }
        let average_length = self.live_tokens as f64 / documents;
        if scores.len() < self.rowids.len() {
            scores.resize(self.rowids.len(), 0.0);
        }
        let mut touched: Vec<u32> = Vec::new();
        for &term in terms {
            let list = &self.postings[term as usize];
            // Document frequency over the whole database, as FTS5 counts it.
            let hits = list
                .iter()
                .filter(|(slot, _)| self.alive[*slot as usize])
                .count() as f64;
            if hits == 0.0 {
                continue;
            }
            let mut idf = ((documents - hits + 0.5) / (hits + 0.5)).ln();
            if idf <= 0.0 {
                // FTS5's floor: a term in most memories still counts, barely.
                idf = 1e-6;
            }
            for &(slot, freq) in list {
                let s = slot as usize;
                if !self.alive[s] || self.namespace_of[s] != namespace {
                    continue;
                }
                let freq = f64::from(freq);
                let length = f64::from(self.lengths[s]);
                if scores[s] == 0.0 {
                    touched.push(slot);
                }
                scores[s] += idf * (freq * (K1 + 1.0))
                    / (freq + K1 * (1.0 - B + B * length / average_length));
            }
        }
        let ranked = match limit {
            Some(k) => best(&touched, k, |slot| self.ranked(slot, scores)),
            None => {
                let mut all: Vec<Ranked> =
                    touched.iter().map(|&s| self.ranked(s, scores)).collect();
                all.sort_unstable_by(order);
                all
            }
        };
        for slot in touched {
            scores[slot as usize] = 0.0;
        }
        ranked
    }

    fn ranked(&self, slot: u32, scores: &[f64]) -> Ranked {
        Ranked {
            rowid: self.rowids[slot as usize],
            score: scores[slot as usize],
        }
    }
}

/// Best first; ties: newest (highest rowid) first, as the FTS5 query orders them.
fn order(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| b.rowid.cmp(&a.rowid))
}

/// The best `k` of `slots`, in [`order`]: a heap of the `k` best so far, so a query matching
/// most of the index does not build and sort a list of all of them.
fn best(slots: &[u32], k: usize, ranked: impl Fn(u32) -> Ranked) -> Vec<Ranked> {
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

/// Keeps the entries of `v` whose slot is alive.
fn retain_alive<T>(v: &mut Vec<T>, alive: &[bool]) {
    let mut slot = 0;
    v.retain(|_| {
        slot += 1;
        alive[slot - 1]
    });
}

#[derive(Default)]
struct State {
    /// The last `text_log` entry the index reflects.
    seq: Option<i64>,
    /// Loaded on the first search.
    index: Option<Index>,
    /// Made on first use.
    tokenizer: Option<Tokenizer>,
    /// Reused per memory while indexing.
    scratch: HashMap<u32, f32>,
    /// Reused per query while ranking.
    scores: Vec<f64>,
}

/// The per-process keyword index.
#[derive(Default)]
pub(super) struct KeywordIndex {
    /// A std mutex: held only inside blocking database tasks, never across an `.await`.
    state: Mutex<State>,
}

impl KeywordIndex {
    /// Loads the index if it is not loaded; the number of memories it holds.
    pub(super) fn warm(&self, conn: &Connection) -> Result<usize> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (index, _, _) = up_to_date(conn, &mut guard)?;
        Ok(index.slots.len())
    }

    /// BM25 ranking of memories within `filter` that contain any of `terms` (query words,
    /// tokenized here as FTS5 would), best first, at most `limit`.
    pub(super) fn ranked(
        &self,
        conn: &Connection,
        terms: &[String],
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (index, tokenizer, scores) = up_to_date(conn, &mut guard)?;
        // One id per query phrase, repeats included: FTS5 scores `"a" OR "a"` twice.
        let mut ids: Vec<u32> = Vec::new();
        for term in terms {
            tokenizer.query_tokens(term, |token| ids.extend(index.terms.get(token)));
        }
        if !filter.narrows() {
            return Ok(index.rank(&ids, &filter.namespace, Some(limit), scores));
        }
        // Other filters apply to the ranking in order, a batch at a time, until enough pass.
        let all = index.rank(&ids, &filter.namespace, None, scores);
        let mut passed = Vec::with_capacity(limit);
        for batch in all.chunks(FILTER_BATCH.max(limit * 4)) {
            let rowids: Vec<i64> = batch.iter().map(|r| r.rowid).collect();
            let keep = filter::passing(conn, filter, &rowids)?;
            passed.extend(batch.iter().filter(|r| keep.contains(&r.rowid)).copied());
            if passed.len() >= limit {
                break;
            }
        }
        passed.truncate(limit);
        Ok(passed)
    }
}

/// The index, loaded or brought up to the newest `text_log` entry, the tokenizer, and the
/// scores scratch.
fn up_to_date<'a>(
    conn: &Connection,
    state: &'a mut State,
) -> Result<(&'a Index, &'a mut Tokenizer, &'a mut Vec<f64>)> {
    if state.tokenizer.is_none() {
        state.tokenizer = Some(Tokenizer::porter()?);
    }
    catch_up(conn, state)?;
    let State {
        index,
        tokenizer,
        scratch,
        scores,
        ..
    } = state;
    let tokenizer = tokenizer.as_mut().expect("made above");
    if index.is_none() {
        // Loaded after `seq` was read, so at least as new (see `vector_index`).
        *index = Some(load(conn, tokenizer, scratch)?);
    }
    Ok((index.as_ref().expect("loaded above"), tokenizer, scores))
}

/// Brings a loaded index up to the newest `text_log` entry.
fn catch_up(conn: &Connection, state: &mut State) -> Result<()> {
    let (todo, seq) = change_log::catch_up(conn, change_log::TEXT, state.seq)?;
    state.seq = Some(seq);
    let changed = match todo {
        CatchUp::Current => return Ok(()),
        CatchUp::Reload => {
            state.index = None;
            return Ok(());
        }
        CatchUp::Apply(changed) => changed,
    };
    let Some(index) = state.index.as_mut() else {
        return Ok(());
    };
    let tokenizer = state.tokenizer.as_mut().expect("made before catching up");
    let mut read = conn.prepare_cached(
        "SELECT rowid, namespace, title, content, tags FROM memories WHERE rowid = ?1",
    )?;
    for rowid in changed {
        index.remove(rowid);
        let now = read
            .query_row(params![rowid], Fields::from_row)
            .optional()?;
        if let Some(fields) = now {
            index.add(tokenizer, &fields, &mut state.scratch);
        }
    }
    index.compact_if_worthwhile();
    Ok(())
}

fn load(
    conn: &Connection,
    tokenizer: &mut Tokenizer,
    scratch: &mut HashMap<u32, f32>,
) -> Result<Index> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, namespace, title, content, tags FROM memories ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;
    let mut index = Index::default();
    while let Some(r) = rows.next()? {
        index.add(tokenizer, &Fields::from_row(r)?, scratch);
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(rowid: i64, title: Option<&str>, content: &str) -> Fields {
        Fields {
            rowid,
            namespace: "ns".into(),
            title: title.map(str::to_string),
            content: content.into(),
            tags: "[]".into(),
        }
    }

    fn ids(space: &Index, tokenizer: &mut Tokenizer, words: &[&str]) -> Vec<u32> {
        let mut out = Vec::new();
        for w in words {
            tokenizer.query_tokens(w, |t| out.extend(space.terms.get(t).copied()));
        }
        out
    }

    #[test]
    fn replaced_and_removed_memories_leave_the_ranking_and_compaction_keeps_it() {
        let mut tokenizer = Tokenizer::porter().unwrap();
        let mut scratch = HashMap::new();
        let mut space = Index::default();
        let mut scores = Vec::new();
        for rowid in 0..3000 {
            let text = format!("ledger entry {rowid}");
            space.add(&mut tokenizer, &fields(rowid, None, &text), &mut scratch);
        }
        space.add(
            &mut tokenizer,
            &fields(7, Some("Ledger ledger"), "ledger import"),
            &mut scratch,
        );
        let q = ids(&space, &mut tokenizer, &["ledgers"]);
        let top = space.rank(&q, "ns", Some(3), &mut scores);
        assert_eq!(top[0].rowid, 7, "title and repeats weigh more");
        assert_eq!(top[1].rowid, 2999, "ties: newest first");
        for rowid in 0..2000 {
            space.remove(rowid);
        }
        assert_eq!(space.dead, 2001);
        let before = space.rank(&q, "ns", None, &mut scores);
        assert_eq!(before.len(), 1000);
        assert!(
            scores.iter().all(|&x| x == 0.0),
            "the scratch is left clean"
        );
        for k in [1, 7, 999, 1000, 5000] {
            let top = space.rank(&q, "ns", Some(k), &mut scores);
            assert_eq!(top, before[..k.min(1000)], "best {k}");
        }
        space.compact_if_worthwhile();
        assert_eq!(space.dead, 0);
        assert_eq!(space.rowids.len(), 1000);
        assert_eq!(space.rank(&q, "ns", None, &mut scores), before);
        assert!(
            space
                .rank(
                    &ids(&space, &mut tokenizer, &["import"]),
                    "ns",
                    None,
                    &mut scores
                )
                .is_empty()
        );
        assert!(space.rank(&q, "other", None, &mut scores).is_empty());
    }
}

#[cfg(test)]
mod store_tests {
    use crate::bench::corpus::{Corpus, Rng};
    use crate::memory::MemoryPatch;
    use crate::store::sqlite::SqliteStore as Store;
    use crate::store::{Filter, KeywordRanking, Ranked, query_terms};

    /// The same ranking: equal scores position by position, and equal memories except where
    /// scores tie (summation order may break a tie the other way).
    fn assert_same(query: &str, ours: &[Ranked], theirs: &[Ranked]) {
        assert_eq!(ours.len(), theirs.len(), "{query}");
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
            assert!(close(a.score, b.score), "{query} #{i}: {a:?} vs {b:?}");
            if a.rowid != b.rowid {
                let tied = theirs
                    .iter()
                    .any(|t| t.rowid == a.rowid && close(t.score, a.score));
                assert!(tied, "{query} #{i}: {a:?} vs {b:?}");
            }
        }
    }

    #[tokio::test]
    async fn ranks_exactly_as_fts5_bm25_and_follows_other_processes_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let ours = Store::open_with(&path, KeywordRanking::InMemory).unwrap();
        let fts5 = Store::open_with(&path, KeywordRanking::Engine).unwrap();
        let mut corpus = Corpus::new(3, Some("ns".into()));
        let memories: Vec<_> = corpus
            .by_ref()
            .take(1500)
            .map(|r| r.into_new_memory("ns"))
            .collect();
        fts5.insert_many(memories, None).await.unwrap();
        // Another namespace shares the statistics (as in FTS5) but never the results.
        let others: Vec<_> = corpus
            .by_ref()
            .take(500)
            .map(|r| r.into_new_memory("other"))
            .collect();
        fts5.insert_many(others, None).await.unwrap();
        let vocabulary = corpus.vocabulary().clone();
        let mut rng = Rng::new(9);
        let compare = |round: &'static str, seed: u64| {
            let (ours, fts5, vocabulary) = (&ours, &fts5, &vocabulary);
            let mut rng = Rng::new(seed);
            async move {
                for i in 0..60 {
                    let query = vocabulary.phrase(&mut rng, 1 + i % 6);
                    let terms = query_terms(&query);
                    let mut filter = Filter::namespace("ns");
                    if i % 4 == 3 {
                        filter.kind = Some("doc".into());
                    }
                    let limit = [5, 10, 50][i % 3];
                    let a = ours
                        .keyword_ranked(terms.clone(), filter.clone(), limit)
                        .await;
                    let b = fts5.keyword_ranked(terms, filter, limit).await;
                    assert_same(&format!("{round}: {query}"), &a.unwrap(), &b.unwrap());
                }
            }
        };
        compare("fresh", 1).await;

        // Another handle on the file (as another process would) edits, deletes and adds.
        let page = fts5.list(Filter::namespace("ns"), None, 300).await.unwrap();
        for (i, m) in page.memories.iter().enumerate() {
            match i % 3 {
                0 => {
                    fts5.delete("ns".into(), m.id.clone()).await.unwrap();
                }
                1 => {
                    let patch = MemoryPatch {
                        content: Some(format!(
                            "{} rewritten ledger",
                            vocabulary.phrase(&mut rng, 9)
                        )),
                        title: Some(Some(vocabulary.phrase(&mut rng, 2))),
                        ..MemoryPatch::default()
                    };
                    fts5.update("ns".into(), m.id.clone(), patch, None)
                        .await
                        .unwrap();
                }
                _ => {
                    let tags = MemoryPatch {
                        tags: Some(vec![vocabulary.ranked(3).to_string()]),
                        ..MemoryPatch::default()
                    };
                    fts5.update("ns".into(), m.id.clone(), tags, None)
                        .await
                        .unwrap();
                }
            }
        }
        let more: Vec<_> = corpus
            .by_ref()
            .take(200)
            .map(|r| r.into_new_memory("ns"))
            .collect();
        fts5.insert_many(more, None).await.unwrap();
        compare("after writes", 2).await;

        // A big batch (more than is applied change by change) makes the index reload.
        let bulk: Vec<_> = corpus
            .by_ref()
            .take(1500)
            .map(|r| r.into_new_memory("ns"))
            .collect();
        fts5.insert_many(bulk, None).await.unwrap();
        compare("after a reload", 3).await;
    }

    #[tokio::test]
    async fn a_search_sees_only_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let mut corpus = Corpus::new(5, None);
        let a: Vec<_> = corpus
            .by_ref()
            .take(50)
            .map(|r| r.into_new_memory("a"))
            .collect();
        let b: Vec<_> = corpus
            .by_ref()
            .take(50)
            .map(|r| r.into_new_memory("b"))
            .collect();
        store.insert_many(a, None).await.unwrap();
        let b_ids: Vec<_> = store
            .insert_many(b, None)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.rowid)
            .collect();
        assert_eq!(store.warm_keyword_index().await.unwrap(), Some(100));
        let fts5 = Store::open_with(&dir.path().join("m.db"), KeywordRanking::Engine).unwrap();
        assert_eq!(fts5.warm_keyword_index().await.unwrap(), None);
        let word = corpus.vocabulary().ranked(0).to_string();
        let ranked = store
            .keyword_ranked(vec![word], Filter::namespace("b"), 100)
            .await
            .unwrap();
        assert!(!ranked.is_empty());
        assert!(ranked.iter().all(|r| b_ids.contains(&r.rowid)));
        let none = store
            .keyword_ranked(vec!["zzzunknown".into()], Filter::namespace("b"), 10)
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}
