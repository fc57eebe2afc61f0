//! In-memory BM25 indexes, one per namespace searched: the keyword counterpart of `vectors`.
//!
//! On SQLite, FTS5 stays the stored full-text index, but its `bm25()` costs about 2 µs for every
//! matching row (it looks up each row's length in a table of its own), and it scores every
//! match in the database whatever the namespace: a query with a common word took 100 to 200 ms
//! at 100,000 memories. Here the postings sit in memory and a query adds up scores over them,
//! a few nanoseconds a posting.
//!
//! The scores are FTS5's: its tokenizer (borrowed from SQLite, see `store::tokenizer`, on
//! either engine), formula, constants and column weights (title 2, content 1, tags 1), over
//! database-wide statistics (document count, average length, each term's document
//! frequency). Each namespace has its own index of postings, loaded on its first search and
//! evicted within the budget (`namespaces`); the statistics come from `statistics`, which
//! counts every memory up to 50,000 and an even sample past that, so a search ranks as
//! `bm25(memories_fts, 2.0, 1.0, 1.0)` would (exactly, up to 50,000 memories) while holding
//! only the namespaces searched. Per-namespace statistics were measured and lost 0.006 of
//! recall@10 on LoCoMo dev (each conversation its own namespace).
//!
//! Each namespace's index follows the engine's `text_log` (see `change_log`), so it is never
//! searched stale. The PostgreSQL engine feeds it the same way, so both engines rank keywords
//! identically.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::bm25::{best, idf, namespace_idf, order};
use super::change_log::{self, CatchUp};
use super::namespaces::{Held, Kind, Resident};
use super::statistics::{Database, Statistics};
use super::{Document, KeywordQuery, MakeTokens, Ranked, TextSource, Tokens};
use crate::error::Result;

/// BM25's term-frequency saturation, as FTS5 sets it.
const K1: f64 = 1.2;
/// BM25's length normalisation, as FTS5 sets it (a query may ask for another, see
/// [`KeywordQuery::length_normalisation`]).
const B: f64 = 0.75;
/// Weight of a match in each indexed column: title, content, tags.
const WEIGHTS: [f32; 3] = [2.0, 1.0, 1.0];
/// Candidates checked against a narrowing filter at a time, at least.
const FILTER_BATCH: usize = 256;

/// The postings of one namespace's memories.
#[derive(Default)]
struct Index {
    /// Memory of each slot (slots are appended; a changed memory gets a new one).
    rowids: Vec<i64>,
    /// Tokens in each slot's memory, all columns.
    lengths: Vec<u32>,
    /// False once the slot's memory changed or went.
    alive: Vec<bool>,
    /// True while the slot is alive and its memory not expired: what a search with
    /// superseded memories scores (an expired memory still counts in the statistics until it
    /// is purged, as FTS5 counts it).
    listed: Vec<bool>,
    /// True while the slot is listed and its memory not superseded: what a default search
    /// scores (a superseded memory still counts in the statistics, as FTS5 counts it). Kept
    /// beside `alive` so either search checks one flag per posting.
    current: Vec<bool>,
    /// Slots whose memory expires later, soonest first: at each search, those whose time has
    /// come leave `listed` and `current` (so expiry costs no check per posting).
    expiring: BinaryHeap<Reverse<(i64, u32)>>,
    /// The live slot of each memory (its length is the namespace's size, for a term's idf
    /// within its namespace).
    slots: HashMap<i64, u32>,
    /// Term ids.
    terms: HashMap<Box<str>, u32>,
    /// For each term, (slot, weighted frequency) of the memories that contain it.
    postings: Vec<Vec<(u32, f32)>>,
    /// Tokens in live memories, for the average length.
    live_tokens: u64,
    /// Dead slots still referenced by postings.
    dead: usize,
    /// Heap bytes of the dictionary's words (kept as they are added, recounted on
    /// compaction), for the budget.
    term_text_bytes: u64,
    /// Bytes the postings lists have allocated, likewise.
    posting_bytes: u64,
}

impl Index {
    /// Indexes one memory of the namespace (replacing what was indexed for it).
    fn add(
        &mut self,
        tokenizer: &mut dyn Tokens,
        fields: &Document,
        scratch: &mut HashMap<u32, f32>,
    ) {
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
            let term_text_bytes = &mut self.term_text_bytes;
            tokenizer.tokens(text, &mut |token| {
                length += 1;
                let id = match terms.get(token) {
                    Some(&id) => id,
                    None => {
                        let id = postings.len() as u32;
                        postings.push(Vec::new());
                        terms.insert(token.into(), id);
                        *term_text_bytes += text_bytes(token.len());
                        id
                    }
                };
                *scratch.entry(id).or_default() += weight;
            });
        }
        for (&id, &freq) in scratch.iter() {
            let list = &mut self.postings[id as usize];
            let before = list.capacity();
            list.push((slot, freq));
            self.posting_bytes += ((list.capacity() - before) * POSTING) as u64;
        }
        self.rowids.push(fields.rowid);
        self.lengths.push(length);
        let live = fields.expires_at > crate::expiry::now_millis();
        if live && fields.expires_at != i64::MAX {
            self.expiring.push(Reverse((fields.expires_at, slot)));
        }
        self.alive.push(true);
        self.listed.push(live);
        self.current.push(live && !fields.superseded);
        self.slots.insert(fields.rowid, slot);
        self.live_tokens += u64::from(length);
    }

    /// Forgets one memory, if indexed.
    fn remove(&mut self, rowid: i64) {
        if let Some(slot) = self.slots.remove(&rowid) {
            self.alive[slot as usize] = false;
            self.listed[slot as usize] = false;
            self.current[slot as usize] = false;
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
        // Terms that no live memory uses any more go too: a server that runs for months sees
        // an endless stream of one-off words (ids, numbers, hashes), and a dictionary that
        // kept them all would grow without limit while the memories stay the same.
        let mut term_ids = vec![u32::MAX; self.postings.len()];
        let mut kept = Vec::with_capacity(self.postings.len());
        for (term, mut list) in std::mem::take(&mut self.postings).into_iter().enumerate() {
            list.retain(|(slot, _)| self.alive[*slot as usize]);
            if list.is_empty() {
                continue;
            }
            for (slot, _) in list.iter_mut() {
                *slot = renumbered[*slot as usize];
            }
            if list.capacity() > 2 * list.len() {
                list.shrink_to_fit();
            }
            term_ids[term] = kept.len() as u32;
            kept.push(list);
        }
        self.postings = kept;
        self.posting_bytes = self
            .postings
            .iter()
            .map(|l| (l.capacity() * POSTING) as u64)
            .sum();
        self.terms.retain(|_, id| {
            *id = term_ids[*id as usize];
            *id != u32::MAX
        });
        if self.terms.capacity() > 2 * self.terms.len() {
            self.terms.shrink_to_fit();
        }
        self.term_text_bytes = self.terms.keys().map(|t| text_bytes(t.len())).sum();
        let alive = &self.alive;
        retain_alive(&mut self.rowids, alive);
        retain_alive(&mut self.lengths, alive);
        retain_alive(&mut self.listed, alive);
        retain_alive(&mut self.current, alive);
        self.expiring = std::mem::take(&mut self.expiring)
            .into_iter()
            .filter(|Reverse((_, slot))| alive[*slot as usize])
            .map(|Reverse((at, slot))| Reverse((at, renumbered[slot as usize])))
            .collect();
        self.alive = vec![true; self.rowids.len()];
        for slot in self.slots.values_mut() {
            *slot = renumbered[*slot as usize];
        }
        self.dead = 0;
    }

    /// An estimate of the heap bytes it holds: per-slot arrays, the lookup tables (at their
    /// capacity, with hashbrown's control byte), the words and the postings as allocated.
    fn bytes(&self) -> u64 {
        let per_slot = self.rowids.capacity() * 8
            + self.lengths.capacity() * 4
            + self.alive.capacity()
            + self.listed.capacity()
            + self.current.capacity()
            + self.expiring.capacity() * 16;
        // (i64, u32) pads to 16; (Box<str>, u32) to 24; a Vec header is 24.
        let tables =
            self.slots.capacity() * 17 + self.terms.capacity() * 25 + self.postings.capacity() * 24;
        (per_slot + tables) as u64 + self.term_text_bytes + self.posting_bytes
    }

    /// When the next listed memory expires (ms since the epoch; `i64::MAX`: none will).
    fn next_expiry(&self) -> i64 {
        self.expiring
            .peek()
            .map_or(i64::MAX, |Reverse((at, _))| *at)
    }

    /// Takes the memories that expired by `now` out of every search.
    fn expire(&mut self, now: i64) {
        while let Some(&Reverse((at, slot))) = self.expiring.peek() {
            if at > now {
                break;
            }
            self.expiring.pop();
            self.listed[slot as usize] = false;
            self.current[slot as usize] = false;
        }
    }

    /// Memories containing any of `terms`, by BM25 score, best first (ties:
    /// newest first); only the best `limit` when given. The query's `namespace_idf_floor`
    /// weighs each term's idf by its namespace (see [`namespace_idf`]), and its
    /// `length_normalisation` replaces FTS5's `b`. `scores` is scratch
    /// space, all zeros on entry and on return (reused so a query does not allocate and fault
    /// in a buffer the size of the index).
    fn rank(
        &self,
        terms: &QueryTerms,
        limit: Option<usize>,
        query: &KeywordQuery,
        include_superseded: bool,
        scores: &mut Vec<f64>,
    ) -> Vec<Ranked> {
        let namespace_idf_floor = query.namespace_idf_floor;
        let visible = if include_superseded {
            &self.listed
        } else {
            &self.current
        };
        let b = query.length_normalisation.unwrap_or(B);
        let namespace_size = self.slots.len() as f64;
        let database = &terms.database;
        // The database holds at least this namespace (its counts may be estimates, see
        // `statistics`).
        let documents = database.documents.max(namespace_size);
        if documents == 0.0 {
            return Vec::new();
        }
        let average_length = if database.average_length > 0.0 {
            database.average_length
        } else {
            self.live_tokens as f64 / namespace_size.max(1.0)
        };
        if scores.len() < self.rowids.len() {
            scores.resize(self.rowids.len(), 0.0);
        }
        let mut touched: Vec<u32> = Vec::new();
        for (&term, &database_hits) in terms.ids.iter().zip(&database.hits) {
            let Some(term) = term else { continue };
            let list = &self.postings[term as usize];
            let local_hits = list
                .iter()
                .filter(|&&(slot, _)| self.alive[slot as usize])
                .count() as f64;
            if local_hits == 0.0 {
                continue;
            }
            // Document frequency over the whole database, as FTS5 counts it; a term too rare
            // for the sample counts as often as this namespace holds it.
            let hits = database_hits.max(local_hits);
            let mut idf = idf(documents, hits);
            if idf <= 0.0 {
                // FTS5's floor: a term in most memories still counts, barely.
                idf = 1e-6;
            }
            if let Some(floor) = namespace_idf_floor {
                idf = namespace_idf(idf, namespace_size, local_hits, floor);
            }
            for &(slot, freq) in list {
                let s = slot as usize;
                if !visible[s] {
                    continue;
                }
                let freq = f64::from(freq);
                let length = f64::from(self.lengths[s]);
                if scores[s] == 0.0 {
                    touched.push(slot);
                }
                scores[s] += idf * (freq * (K1 + 1.0))
                    / (freq + K1 * (1.0 - b + b * length / average_length));
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

/// A query's tokens as one namespace's index knows them, with their database-wide counts.
struct QueryTerms {
    /// Each token's id in the index; `None` where the namespace lacks it.
    ids: Vec<Option<u32>>,
    /// The statistics, the tokens' counts in the same order.
    database: Database,
}

/// Bytes of one posting: (slot, weighted frequency).
const POSTING: usize = std::mem::size_of::<(u32, f32)>();

/// Heap bytes of a word of `len` bytes: the allocation, rounded up as allocators do, and
/// their bookkeeping.
fn text_bytes(len: usize) -> u64 {
    (len.next_multiple_of(8) + 8) as u64
}

/// Keeps the entries of `v` whose slot is alive.
fn retain_alive<T>(v: &mut Vec<T>, alive: &[bool]) {
    let mut slot = 0;
    v.retain(|_| {
        slot += 1;
        alive[slot - 1]
    });
}

/// One namespace's postings and the `text_log` entry they reflect.
#[derive(Default)]
struct State {
    /// The last `text_log` entry the index reflects.
    seq: Option<i64>,
    /// `None` after a failed catch-up: reloaded on the next search.
    index: Option<Index>,
}

impl State {
    /// What it holds, for the budget.
    fn held(&self) -> Held {
        self.index.as_ref().map_or(Held::default(), |index| Held {
            bytes: index.bytes(),
            memories: index.slots.len() as u64,
            slots: index.rowids.len() as u64,
            terms: index.terms.len() as u64,
            vectors: 0,
        })
    }
}

/// One namespace's index, as the budget's table keeps it. Searches share it under a read
/// lock, so concurrent searches of a namespace use every core; only catching up with the
/// log (after a write) takes the write lock, and only for this namespace.
struct Space {
    /// A std lock: held only inside blocking tasks, never across an `.await`.
    state: RwLock<State>,
}

/// The per-process keyword index: one BM25 index per namespace, loaded on its first search
/// and evicted within the budget it shares (see [`super::namespaces`]).
pub struct KeywordIndex {
    /// The loaded namespaces and the budget they share with the vector copy.
    resident: Arc<Resident>,
    /// The database-wide counts every namespace's idfs come from (see `statistics`). Read
    /// for a moment per search; written only to catch up with the log.
    statistics: RwLock<Statistics>,
    /// What they held after their last catch-up (memories counted, bytes), for `/metrics`,
    /// which must not wait on a catch-up's database reads.
    statistics_held: Mutex<(u64, u64)>,
    /// Tokenizers for indexing, one per load or catch-up running at the same time.
    tokenizers: Mutex<Vec<Box<dyn Tokens>>>,
    /// Tokenizes queries (a tokenizer needs `&mut`; a query takes microseconds under it).
    query_tokenizer: Mutex<Option<Box<dyn Tokens>>>,
    /// Score buffers of finished searches, reused by the next ones: at most one per search
    /// that ran at the same time.
    scores: Mutex<Vec<Vec<f64>>>,
    /// Makes the tokenizers, on first use.
    make_tokenizer: MakeTokens,
}

impl KeywordIndex {
    /// An index with nothing loaded, that tokenizes with what `make_tokenizer` makes and
    /// keeps its namespaces in `resident`.
    pub fn new(make_tokenizer: MakeTokens, resident: Arc<Resident>) -> Self {
        KeywordIndex {
            resident,
            statistics: RwLock::new(Statistics::default()),
            statistics_held: Mutex::new((0, 0)),
            tokenizers: Mutex::new(Vec::new()),
            query_tokenizer: Mutex::new(None),
            scores: Mutex::new(Vec::new()),
            make_tokenizer,
        }
    }

    /// Runs `f` with a document tokenizer from the pool (made when none is free).
    fn with_tokenizer<R>(&self, f: impl FnOnce(&mut dyn Tokens) -> Result<R>) -> Result<R> {
        let pooled = self
            .tokenizers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let mut tokenizer = match pooled {
            Some(t) => t,
            None => (self.make_tokenizer)()?,
        };
        let out = f(tokenizer.as_mut());
        self.tokenizers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tokenizer);
        out
    }

    /// The index of `namespace`, loaded (its rows only) if it is not in memory.
    fn space(
        &self,
        source: &mut dyn TextSource,
        namespace: &str,
        newest: i64,
    ) -> Result<Arc<Space>> {
        self.resident.get_or_load(
            Kind::Keywords,
            namespace,
            || {
                // Loaded after `newest` was read, so at least as new: applying an entry it
                // already reflects later re-reads the same row, which changes nothing.
                let index = self.with_tokenizer(|t| load(source, namespace, t))?;
                Ok(Space {
                    state: RwLock::new(State {
                        seq: Some(newest),
                        index: Some(index),
                    }),
                })
            },
            |space| space.state.read().map_or(Held::default(), |s| s.held()),
        )
    }

    /// The namespace's state to read, up to the log's entry `newest` and with what expired
    /// by now taken out (brought there under its write lock when it is behind).
    fn current<'a>(
        &self,
        space: &'a Arc<Space>,
        source: &mut dyn TextSource,
        namespace: &str,
        newest: i64,
    ) -> Result<RwLockReadGuard<'a, State>> {
        let now = crate::expiry::now_millis();
        if let Ok(guard) = space.state.read()
            && guard.seq == Some(newest)
            && let Some(index) = &guard.index
            && index.next_expiry() > now
        {
            return Ok(guard);
        }
        let mut guard = super::write_or_reset(&space.state);
        let updated = self.with_tokenizer(|t| up_to_date(source, &mut guard, namespace, t));
        self.resident
            .resize(Kind::Keywords, namespace, space, guard.held());
        updated?;
        if let Some(index) = guard.index.as_mut() {
            index.expire(now);
        }
        Ok(RwLockWriteGuard::downgrade(guard))
    }

    /// The query's tokens, tokenized as FTS5 would: one per query phrase, repeats included
    /// (FTS5 scores `"a" OR "a"` twice).
    fn query_tokens(&self, terms: &[String]) -> Result<Vec<String>> {
        let mut tokenizer = self
            .query_tokenizer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if tokenizer.is_none() {
            *tokenizer = Some((self.make_tokenizer)()?);
        }
        let tokenizer = tokenizer.as_deref_mut().expect("made above");
        let mut tokens: Vec<String> = Vec::new();
        for term in terms {
            tokenizer.query_tokens(term, &mut |token| tokens.push(token.to_owned()));
        }
        Ok(tokens)
    }

    /// The database-wide counts for `tokens`, once the statistics reflect log entry
    /// `newest` (brought there under their write lock, loaded on first use).
    fn database(
        &self,
        source: &mut dyn TextSource,
        newest: i64,
        tokens: &[String],
    ) -> Result<Database> {
        if let Ok(statistics) = self.statistics.read()
            && statistics.reflect(newest)
        {
            return Ok(statistics.database(tokens));
        }
        let mut statistics = super::write_or_reset(&self.statistics);
        if !statistics.reflect(newest) {
            let caught_up = self.with_tokenizer(|t| statistics.catch_up(source, t));
            *self
                .statistics_held
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = statistics.held();
            caught_up?;
        }
        Ok(statistics.database(tokens))
    }

    /// Loads the database-wide statistics if nothing has yet (a server calls this once it
    /// is ready, so its first search does not wait for them).
    /// Returns how many memories they count.
    pub fn warm(&self, source: &mut dyn TextSource) -> Result<u64> {
        let newest = source.newest()?;
        self.database(source, newest, &[])?;
        Ok(self.statistics_held().0)
    }

    /// Memories the statistics count, and the heap bytes they hold, as of their last
    /// catch-up (never waits for one).
    pub fn statistics_held(&self) -> (u64, u64) {
        *self
            .statistics_held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// BM25 ranking of the memories of `namespace` that contain any of the query's terms
    /// (query words, tokenized here as FTS5 would), best first, at most `limit`; superseded
    /// memories only when `include_superseded`, expired ones never. When `narrowed`, only
    /// those the source says pass its filter. Loads the namespace's index on first use.
    pub fn ranked(
        &self,
        source: &mut dyn TextSource,
        query: &KeywordQuery,
        namespace: &str,
        narrowed: bool,
        include_superseded: bool,
        limit: usize,
    ) -> Result<Vec<Ranked>> {
        let newest = source.newest()?;
        let tokens = self.query_tokens(&query.terms)?;
        let database = self.database(source, newest, &tokens)?;
        let space = self.space(source, namespace, newest)?;
        let guard = self.current(&space, source, namespace, newest)?;
        let index = guard.index.as_ref().expect("loaded by current");
        let terms = QueryTerms {
            ids: tokens
                .iter()
                .map(|t| index.terms.get(t.as_str()).copied())
                .collect(),
            database,
        };
        let mut scores = self
            .scores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let all = index.rank(
            &terms,
            (!narrowed).then_some(limit),
            query,
            include_superseded,
            &mut scores,
        );
        drop(guard);
        self.scores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(scores);
        if !narrowed {
            return Ok(all);
        }
        // Other filters apply to the ranking in order, a batch at a time, until enough pass.
        let mut passed = Vec::with_capacity(limit);
        for batch in all.chunks(FILTER_BATCH.max(limit * 4)) {
            let rowids: Vec<i64> = batch.iter().map(|r| r.rowid).collect();
            let keep = source.passing(&rowids)?;
            passed.extend(batch.iter().filter(|r| keep.contains(&r.rowid)).copied());
            if passed.len() >= limit {
                break;
            }
        }
        passed.truncate(limit);
        Ok(passed)
    }
}

/// Brings one namespace's index up to the newest `text_log` entry, reloading it when it
/// was dropped or fell too far behind.
fn up_to_date(
    source: &mut dyn TextSource,
    state: &mut State,
    namespace: &str,
    tokenizer: &mut dyn Tokens,
) -> Result<()> {
    catch_up(source, state, namespace, tokenizer)?;
    if state.index.is_none() {
        // Loaded after `seq` was read, so at least as new (see `KeywordIndex::space`).
        state.index = Some(load(source, namespace, tokenizer)?);
    }
    Ok(())
}

/// Brings a loaded index up to the newest `text_log` entry, re-reading the memories that
/// changed and keeping those of `namespace` (the log is database-wide). The entry it
/// reflects moves only once every change is applied; a failure half-way drops the index, to
/// be reloaded.
fn catch_up(
    source: &mut dyn TextSource,
    state: &mut State,
    namespace: &str,
    tokenizer: &mut dyn Tokens,
) -> Result<()> {
    let (todo, seq) = change_log::catch_up(source, state.seq)?;
    match todo {
        CatchUp::Current => {}
        CatchUp::Reload => state.index = None,
        CatchUp::Apply(changed) => match change_log::to_reread(&changed, namespace) {
            None => state.index = None,
            Some(mine) => {
                if let Some(index) = state.index.as_mut() {
                    let mut scratch = HashMap::new();
                    let apply = || -> Result<()> {
                        // Others' changes cost nothing: their memories are not here (or,
                        // gone, just forgotten).
                        for rowid in changed.keys() {
                            index.remove(*rowid);
                        }
                        for rowid in mine {
                            if let Some(document) = source.document(rowid)?
                                && document.namespace == namespace
                            {
                                index.add(tokenizer, &document, &mut scratch);
                            }
                        }
                        Ok(())
                    };
                    if let Err(err) = apply() {
                        state.index = None;
                        state.seq = None;
                        return Err(err);
                    }
                    index.compact_if_worthwhile();
                }
            }
        },
    }
    state.seq = Some(seq);
    Ok(())
}

/// The index of one namespace's memories, read from `source`.
fn load(source: &mut dyn TextSource, namespace: &str, tokenizer: &mut dyn Tokens) -> Result<Index> {
    let mut index = Index::default();
    let mut scratch = HashMap::new();
    source.documents(namespace, &mut |document| {
        index.add(tokenizer, &document, &mut scratch)
    })?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for FTS5's porter tokenizer: lowercase words, a plural `s` dropped.
    struct Words;

    impl Tokens for Words {
        fn tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
            for word in text.split(|c: char| !c.is_alphanumeric()) {
                let word = word.to_lowercase();
                if !word.is_empty() {
                    each(word.strip_suffix('s').unwrap_or(&word));
                }
            }
        }

        fn query_tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
            self.tokens(text, each)
        }
    }

    #[test]
    fn expired_memories_leave_every_ranking_when_their_time_comes() {
        let mut tokenizer = Words;
        let mut space = Index::default();
        let mut scratch = HashMap::new();
        let now = crate::expiry::now_millis();
        let mut soon = fields(1, None, "deploy the staging cluster");
        soon.expires_at = now + 60_000;
        let mut gone = fields(2, None, "deploy the staging cluster again");
        gone.expires_at = now - 1;
        space.add(&mut tokenizer, &soon, &mut scratch);
        space.add(&mut tokenizer, &gone, &mut scratch);
        space.add(
            &mut tokenizer,
            &fields(3, None, "deploy nothing"),
            &mut scratch,
        );
        let q = ids(&space, &mut tokenizer, &["deploy"]);
        let mut scores = Vec::new();
        let found = |space: &Index, all: bool, scores: &mut Vec<f64>| {
            let ranked = space.rank(&q, Some(10), &plain(), all, scores);
            ranked.iter().map(|r| r.rowid).collect::<Vec<_>>()
        };
        let mut before = found(&space, true, &mut scores);
        before.sort();
        assert_eq!(before, [1, 3]);
        assert_eq!(space.next_expiry(), now + 60_000);
        space.expire(now + 60_000);
        assert_eq!(found(&space, false, &mut scores), [3]);
        assert_eq!(found(&space, true, &mut scores), [3]);
        assert_eq!(space.next_expiry(), i64::MAX);
    }

    #[test]
    fn superseded_memories_leave_the_ranking_but_not_the_statistics() {
        let mut space = Index::default();
        let mut scratch = HashMap::new();
        let mut old = fields(1, None, "staging runs mysql on stage1");
        old.superseded = true;
        space.add(&mut Words, &old, &mut scratch);
        space.add(
            &mut Words,
            &fields(2, None, "staging runs postgres"),
            &mut scratch,
        );
        let q = ids(&space, &mut Words, &["staging"]);
        let mut scores = Vec::new();
        let rowids = |r: Vec<Ranked>| r.iter().map(|r| r.rowid).collect::<Vec<_>>();
        let current = space.rank(&q, Some(10), &plain(), false, &mut scores);
        assert_eq!(rowids(current.clone()), [2]);
        let all = space.rank(&q, Some(10), &plain(), true, &mut scores);
        assert_eq!(rowids(all.clone()), [2, 1]);
        assert_eq!(
            current[0].score, all[0].score,
            "the same statistics either way"
        );
    }

    fn fields(rowid: i64, title: Option<&str>, content: &str) -> Document {
        Document {
            rowid,
            namespace: "ns".into(),
            title: title.map(str::to_string),
            content: content.into(),
            tags: "[]".into(),
            superseded: false,
            expires_at: i64::MAX,
        }
    }

    /// Ranked as FTS5's `bm25()` would.
    fn plain() -> KeywordQuery {
        KeywordQuery::default()
    }

    /// With the namespace idf at `f`.
    fn floor(f: f64) -> KeywordQuery {
        KeywordQuery {
            namespace_idf_floor: Some(f),
            ..KeywordQuery::default()
        }
    }

    impl QueryTerms {
        fn is_empty(&self) -> bool {
            self.ids.iter().all(Option::is_none)
        }
    }

    /// A query's term ids in `space`, with statistics over all of `space` (as if it were the
    /// database).
    fn ids(space: &Index, tokenizer: &mut dyn Tokens, words: &[&str]) -> QueryTerms {
        ids_within(space, &[space], tokenizer, words)
    }

    /// A query's term ids in `space`, with statistics over the namespaces of `database`.
    fn ids_within(
        space: &Index,
        database: &[&Index],
        tokenizer: &mut dyn Tokens,
        words: &[&str],
    ) -> QueryTerms {
        let mut tokens = Vec::new();
        for w in words {
            tokenizer.query_tokens(w, &mut |t| tokens.push(t.to_string()));
        }
        let hits_in = |index: &Index, token: &str| {
            index.terms.get(token).map_or(0.0, |&id| {
                index.postings[id as usize]
                    .iter()
                    .filter(|(slot, _)| index.alive[*slot as usize])
                    .count() as f64
            })
        };
        let documents: f64 = database.iter().map(|i| i.slots.len() as f64).sum();
        let live_tokens: f64 = database.iter().map(|i| i.live_tokens as f64).sum();
        QueryTerms {
            ids: tokens
                .iter()
                .map(|t| space.terms.get(t.as_str()).copied())
                .collect(),
            database: Database {
                documents,
                average_length: live_tokens / documents.max(1.0),
                hits: tokens
                    .iter()
                    .map(|t| database.iter().map(|i| hits_in(i, t)).sum())
                    .collect(),
            },
        }
    }

    #[test]
    fn replaced_and_removed_memories_leave_the_ranking_and_compaction_keeps_it() {
        let mut tokenizer = Words;
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
        let top = space.rank(&q, Some(3), &plain(), false, &mut scores);
        assert_eq!(top[0].rowid, 7, "title and repeats weigh more");
        assert_eq!(top[1].rowid, 2999, "ties: newest first");
        for rowid in 0..2000 {
            space.remove(rowid);
        }
        assert_eq!(space.dead, 2001);
        let before = space.rank(&q, None, &plain(), false, &mut scores);
        assert_eq!(before.len(), 1000);
        assert!(
            scores.iter().all(|&x| x == 0.0),
            "the scratch is left clean"
        );
        for k in [1, 7, 999, 1000, 5000] {
            let top = space.rank(&q, Some(k), &plain(), false, &mut scores);
            assert_eq!(top, before[..k.min(1000)], "best {k}");
        }
        space.compact_if_worthwhile();
        assert_eq!(space.dead, 0);
        assert_eq!(space.rowids.len(), 1000);
        assert_eq!(space.rank(&q, None, &plain(), false, &mut scores), before);
        assert!(
            space
                .rank(
                    &ids(&space, &mut tokenizer, &["import"]),
                    None,
                    &plain(),
                    false,
                    &mut scores
                )
                .is_empty()
        );
        // The one-off words of the removed memories left the dictionary; the live ones'
        // stayed and still find their memory.
        assert_eq!(
            space.terms.len(),
            2 + 1000,
            "ledger, entry and 1000 numbers"
        );
        assert_eq!(space.postings.len(), space.terms.len());
        assert!(ids(&space, &mut tokenizer, &["1999"]).is_empty());
        let live = ids(&space, &mut tokenizer, &["2500"]);
        assert_eq!(
            space.rank(&live, None, &plain(), false, &mut scores)[0].rowid,
            2500
        );
    }

    #[test]
    fn a_namespace_idf_lowers_a_term_only_where_it_is_common_and_never_below_the_floor() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // In 9 of the namespace's 10 memories: down to the floor.
        assert!(close(namespace_idf(3.0, 10.0, 9.0, 0.3), 0.9));
        // Rarer in the namespace than in the database: the database's idf stays.
        assert!(close(namespace_idf(3.0, 1000.0, 1.0, 0.3), 3.0));
        // In between: the namespace's own idf.
        let local = idf(20.0, 2.0);
        assert!(local > 0.9 && local < 5.0);
        assert!(close(namespace_idf(5.0, 20.0, 2.0, 0.3), local));
        // A floor of 1 keeps FTS5's idf whatever the namespace.
        assert!(close(namespace_idf(5.0, 20.0, 19.0, 1.0), 5.0));
    }

    #[test]
    fn a_speaker_name_in_most_of_a_namespace_stops_outranking_a_content_word() {
        let mut tokenizer = Words;
        let mut scratch = HashMap::new();
        let (mut chat, mut notes) = (Index::default(), Index::default());
        let mut scores = Vec::new();
        let mut add = |space: &mut Index, rowid: i64, content: &str| {
            space.add(&mut tokenizer, &fields(rowid, None, content), &mut scratch);
        };
        // A conversation: six turns by Alice, one by Bob about pottery, all three words long.
        for rowid in 0..6 {
            add(&mut chat, rowid, &format!("alice said w{rowid}"));
        }
        add(&mut chat, 6, "bob likes pottery");
        // Elsewhere pottery is common and Alice unknown, so database-wide Alice is the rarer.
        for rowid in 7..17 {
            add(&mut notes, rowid, &format!("pottery note n{rowid}"));
        }
        for rowid in 17..47 {
            add(&mut notes, rowid, &format!("other note n{rowid}"));
        }
        let both = [&chat, &notes];
        let q = ids_within(&chat, &both, &mut Words, &["alice", "pottery"]);
        let fts5 = chat.rank(&q, None, &plain(), false, &mut scores);
        assert_eq!(fts5.len(), 7);
        assert_ne!(fts5[0].rowid, 6, "FTS5's idf: Alice's turns come first");
        assert_eq!(chat.rank(&q, None, &floor(1.0), false, &mut scores), fts5);
        let weighed = chat.rank(&q, None, &floor(0.3), false, &mut scores);
        assert_eq!(weighed[0].rowid, 6, "the pottery turn comes first");
        // Alice is in 6 of the 7 turns: her weight falls to the floor.
        let alice = fts5.iter().find(|r| r.rowid == 0).unwrap().score;
        let alice_weighed = weighed.iter().find(|r| r.rowid == 0).unwrap().score;
        assert!((alice_weighed - 0.3 * alice).abs() < 1e-9);
        // A query of one word keeps its order, whatever its weight.
        let p = ids_within(&notes, &both, &mut Words, &["pottery"]);
        let order = |r: Vec<Ranked>| r.iter().map(|r| r.rowid).collect::<Vec<_>>();
        assert_eq!(
            order(notes.rank(&p, None, &floor(0.3), false, &mut scores)),
            order(notes.rank(&p, None, &plain(), false, &mut scores))
        );
        // A removed turn leaves the namespace's size, which the namespace idf weighs by:
        // Alice is now in 5 of 6 turns, and her weight is the floor's again.
        chat.remove(0);
        let q = ids_within(&chat, &[&chat, &notes], &mut Words, &["alice"]);
        let plain_scores = chat.rank(&q, None, &plain(), false, &mut scores);
        let weighed = chat.rank(&q, None, &floor(0.3), false, &mut scores);
        assert_eq!(plain_scores.len(), 5);
        assert!((weighed[0].score - 0.3 * plain_scores[0].score).abs() < 1e-9);
    }

    #[test]
    fn a_lower_length_normalisation_lets_a_longer_memory_with_more_matches_win() {
        let mut tokenizer = Words;
        let mut scratch = HashMap::new();
        let mut space = Index::default();
        let mut scores = Vec::new();
        // A short memory that names the kiln once, a long one that names it three times,
        // and ten of average length: FTS5's b (0.75) puts the short one first.
        space.add(
            &mut tokenizer,
            &fields(1, None, "kiln fired today"),
            &mut scratch,
        );
        let long = "the kiln was loaded at noon and the kiln stayed hot all night so the kiln \
                    cooled by morning";
        space.add(&mut tokenizer, &fields(2, None, long), &mut scratch);
        for rowid in 3..13 {
            space.add(
                &mut tokenizer,
                &fields(rowid, None, &format!("glaze notes batch {rowid} done")),
                &mut scratch,
            );
        }
        let q = ids(&space, &mut Words, &["kiln"]);
        let order = |r: Vec<Ranked>| r.iter().map(|r| r.rowid).collect::<Vec<_>>();
        assert_eq!(
            order(space.rank(&q, None, &plain(), false, &mut scores)),
            [1, 2]
        );
        let with = |b: f64| KeywordQuery {
            length_normalisation: Some(b),
            ..KeywordQuery::default()
        };
        assert_eq!(
            space.rank(&q, None, &with(0.75), false, &mut scores),
            space.rank(&q, None, &plain(), false, &mut scores),
            "0.75 is FTS5's"
        );
        assert_eq!(
            order(space.rank(&q, None, &with(0.25), false, &mut scores)),
            [2, 1]
        );
        // With b = 0 length no longer counts: one match scores the same in any memory.
        let flat = space.rank(
            &ids(&space, &mut Words, &["today", "noon"]),
            None,
            &with(0.0),
            false,
            &mut scores,
        );
        assert_eq!(flat.len(), 2);
        assert!((flat[0].score - flat[1].score).abs() < 1e-12, "{flat:?}");
    }

    /// A source over a fixed set of documents and a log, that can be told to fail reads.
    struct Docs {
        docs: Vec<Document>,
        log: Vec<(i64, i64)>,
        fail: bool,
        /// Rowids read one by one, and namespaces loaded whole, in order.
        reads: Vec<i64>,
        loads: Vec<String>,
    }

    impl Docs {
        /// `docs` with `log`, reading without failing.
        fn new(docs: Vec<Document>, log: Vec<(i64, i64)>) -> Docs {
            Docs {
                docs,
                log,
                fail: false,
                reads: Vec::new(),
                loads: Vec::new(),
            }
        }
    }

    impl crate::index::LogSource for Docs {
        fn newest(&mut self) -> Result<i64> {
            Ok(self.log.iter().map(|e| e.0).max().unwrap_or(0))
        }

        fn oldest(&mut self) -> Result<i64> {
            Ok(self.log.iter().map(|e| e.0).min().unwrap_or(0))
        }

        fn since(&mut self, seq: i64) -> Result<Vec<change_log::Change>> {
            Ok(self
                .log
                .iter()
                .filter(|e| e.0 > seq)
                .map(|e| {
                    let namespace = self
                        .docs
                        .iter()
                        .find(|d| d.rowid == e.1)
                        .map(|d| d.namespace.clone());
                    change_log::Change::Memory(e.1, namespace)
                })
                .collect())
        }
    }

    impl TextSource for Docs {
        fn document(&mut self, rowid: i64) -> Result<Option<Document>> {
            self.reads.push(rowid);
            if self.fail {
                return Err(crate::error::Error::Unavailable(
                    "the database went away".into(),
                ));
            }
            Ok(self.docs.iter().find(|d| d.rowid == rowid).cloned())
        }

        fn documents(&mut self, namespace: &str, each: &mut dyn FnMut(Document)) -> Result<()> {
            self.loads.push(namespace.to_string());
            if self.fail {
                return Err(crate::error::Error::Unavailable(
                    "the database went away".into(),
                ));
            }
            self.docs
                .iter()
                .filter(|d| d.namespace == namespace)
                .cloned()
                .for_each(each);
            Ok(())
        }

        fn passing(&mut self, rowids: &[i64]) -> Result<std::collections::HashSet<i64>> {
            Ok(rowids.iter().copied().collect())
        }

        fn highest_rowid(&mut self) -> Result<i64> {
            Ok(self.docs.iter().map(|d| d.rowid).max().unwrap_or(0))
        }

        fn sample(
            &mut self,
            stride: i64,
            highest: i64,
            each: &mut dyn FnMut(Document),
        ) -> Result<()> {
            if self.fail {
                return Err(crate::error::Error::Unavailable(
                    "the database went away".into(),
                ));
            }
            self.docs
                .iter()
                .filter(|d| d.rowid % stride == 0 && d.rowid <= highest)
                .cloned()
                .for_each(each);
            Ok(())
        }
    }

    #[test]
    fn a_catch_up_that_fails_half_way_reloads_instead_of_serving_a_half_updated_index() {
        let index = KeywordIndex::new(|| Ok(Box::new(Words)), Arc::new(Resident::new(1 << 30)));
        let mut source = Docs::new(
            vec![
                fields(1, None, "ledger import"),
                fields(2, None, "ledger export"),
            ],
            vec![(1, 1), (2, 2)],
        );
        let search = |index: &KeywordIndex, source: &mut Docs, word: &str| -> Result<Vec<i64>> {
            let query = KeywordQuery::from(vec![word.to_string()]);
            Ok(index
                .ranked(source, &query, "ns", false, false, 10)?
                .iter()
                .map(|r| r.rowid)
                .collect())
        };
        assert_eq!(search(&index, &mut source, "import").unwrap(), [1]);
        // Two changes arrive; reading the second fails.
        source.docs[0] = fields(1, None, "ledger reconcile");
        source.docs.push(fields(3, None, "import of bank feeds"));
        source.log.extend([(3, 1), (4, 3)]);
        source.fail = true;
        assert!(search(&index, &mut source, "import").is_err());
        // Once reads work, the index is current: not stuck at the half-applied state (where
        // memory 1 was removed but 3 never added, with the log position past both).
        source.fail = false;
        assert_eq!(search(&index, &mut source, "import").unwrap(), [3]);
        assert_eq!(search(&index, &mut source, "reconcile").unwrap(), [1]);
    }

    #[test]
    fn writes_in_another_namespace_are_not_read_by_a_loaded_one_nor_reload_it() {
        let index = KeywordIndex::new(|| Ok(Box::new(Words)), Arc::new(Resident::new(1 << 30)));
        let mut docs = namespace_docs(1, 5);
        docs.extend(namespace_docs(2, 5));
        docs.extend(namespace_docs(3, 5));
        let mut source = Docs::new(docs, vec![(1, 1000)]);
        // Each namespace finds its own first memory.
        let both_answer = |source: &mut Docs| {
            assert_eq!(rowids_for(&index, source, "ns1", "w1x0").unwrap(), [1000]);
            assert_eq!(rowids_for(&index, source, "ns3", "w3x0").unwrap(), [3000]);
        };
        both_answer(&mut source);
        assert_eq!(source.loads, ["ns1", "ns3"]);
        // Three writes in ns2: each is read once, for the database-wide statistics, not once
        // more by each loaded namespace.
        for (seq, i) in [(2, 5), (3, 6), (4, 7)] {
            let mut d = fields(2000 + i, None, &format!("shared w2x{i}"));
            d.namespace = "ns2".into();
            source.docs.push(d);
            source.log.push((seq, 2000 + i));
        }
        source.reads.clear();
        both_answer(&mut source);
        source.reads.sort();
        assert_eq!(source.reads, [2005, 2006, 2007]);
        // More writes elsewhere than a namespace would re-read: still no reload of ns1.
        let many = change_log::MAX_REREAD as i64 + 10;
        for i in 0..many {
            let mut d = fields(5000 + i, None, "elsewhere");
            d.namespace = "ns2".into();
            source.docs.push(d);
            source.log.push((5 + i, 5000 + i));
        }
        assert_eq!(
            rowids_for(&index, &mut source, "ns1", "w1x0").unwrap(),
            [1000]
        );
        assert_eq!(source.loads, ["ns1", "ns3"], "no namespace reloaded");
        // A write in ns1 itself is read and found.
        let mut d = fields(1005, None, "shared w1x5 fresh");
        d.namespace = "ns1".into();
        source.docs.push(d);
        source.log.push((5 + many, 1005));
        assert_eq!(
            rowids_for(&index, &mut source, "ns1", "fresh").unwrap(),
            [1005]
        );
    }

    /// A namespace of `n` memories, each with its own word `w<namespace><i>` and "shared".
    fn namespace_docs(namespace: usize, n: i64) -> Vec<Document> {
        (0..n)
            .map(|i| {
                let mut d = fields(
                    namespace as i64 * 1000 + i,
                    None,
                    &format!("shared w{namespace}x{i}"),
                );
                d.namespace = format!("ns{namespace}");
                d
            })
            .collect()
    }

    fn rowids_for(
        index: &KeywordIndex,
        source: &mut Docs,
        ns: &str,
        word: &str,
    ) -> Result<Vec<i64>> {
        let query = KeywordQuery::from(vec![word.to_string()]);
        Ok(index
            .ranked(source, &query, ns, false, false, 100)?
            .iter()
            .map(|r| r.rowid)
            .collect())
    }

    #[test]
    fn a_namespace_that_cannot_load_fails_its_own_search_while_loaded_ones_answer() {
        let resident = Arc::new(Resident::new(1 << 30));
        let index = KeywordIndex::new(|| Ok(Box::new(Words)), resident.clone());
        let mut docs = namespace_docs(0, 3);
        docs.extend(namespace_docs(1, 3));
        let mut source = Docs::new(docs, vec![(1, 1)]);
        assert_eq!(rowids_for(&index, &mut source, "ns0", "w0x1").unwrap(), [1]);
        // The database goes away: ns1 cannot load, ns0 is current and still answers.
        source.fail = true;
        let err = rowids_for(&index, &mut source, "ns1", "w1x1").unwrap_err();
        assert!(err.to_string().contains("went away"), "{err}");
        assert_eq!(rowids_for(&index, &mut source, "ns0", "w0x2").unwrap(), [2]);
        let usage = resident.usage();
        assert_eq!((usage.loaded, usage.load_failures), (1, 1));
        // Back: ns1 loads, with only its own rows.
        source.fail = false;
        assert_eq!(
            rowids_for(&index, &mut source, "ns1", "w1x1").unwrap(),
            [1001]
        );
        assert_eq!(
            rowids_for(&index, &mut source, "ns1", "shared")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(resident.usage().held.memories, 6);
    }

    #[test]
    fn eviction_during_concurrent_searches_is_safe_and_every_answer_right() {
        // A budget smaller than any one namespace: each load evicts every other, while
        // other threads are searching them.
        let resident = Arc::new(Resident::new(1));
        let index = KeywordIndex::new(|| Ok(Box::new(Words)), resident.clone());
        const NAMESPACES: usize = 6;
        let mut docs = Vec::new();
        for ns in 0..NAMESPACES {
            docs.extend(namespace_docs(ns, 40));
        }
        std::thread::scope(|s| {
            for thread in 0..6 {
                let (index, docs) = (&index, docs.clone());
                s.spawn(move || {
                    let mut source = Docs::new(docs, vec![(1, 1)]);
                    for round in 0..200 {
                        let ns = (thread + round) % NAMESPACES;
                        let i = (round % 40) as i64;
                        let word = format!("w{ns}x{i}");
                        let got = rowids_for(index, &mut source, &format!("ns{ns}"), &word);
                        assert_eq!(got.unwrap(), [ns as i64 * 1000 + i]);
                    }
                });
            }
        });
        let usage = resident.usage();
        assert!(usage.evictions > 0, "{usage:?}");
        assert!(usage.loaded <= 1, "the budget holds one at most: {usage:?}");
        assert!(usage.loads >= NAMESPACES as u64, "{usage:?}");
    }

    #[test]
    fn the_estimate_counts_words_postings_and_slots() {
        let mut space = Index::default();
        let mut scratch = HashMap::new();
        let empty = space.bytes();
        for rowid in 0..1000 {
            let text = format!("ledger entry number {rowid} of the quarterly import");
            space.add(&mut Words, &fields(rowid, None, &text), &mut scratch);
        }
        let per_memory = (space.bytes() - empty) / 1000;
        // 8 postings of 8 bytes, a new word (1000 of them), per-slot arrays and the slot
        // table: well over 100 bytes, well under a kilobyte.
        assert!(
            (100..1000).contains(&per_memory),
            "{per_memory} bytes a memory"
        );
    }
}
