//! Database-wide BM25 statistics (document count, average length, each term's document
//! frequency) without holding the database: counted over a sample of at most [`SAMPLE`]
//! memories, every `stride`th rowid.
//!
//! The keyword indexes are per namespace, but their idfs must not be: measured on LoCoMo dev
//! (each conversation its own namespace), per-namespace statistics lost 0.006 of hybrid
//! recall@10 with context and 0.006 of MRR for turns alone. FTS5 counts over the whole
//! database; so does this, exactly while the database holds at most [`SAMPLE`] memories
//! (the stride is 1: every memory is counted, and a search ranks as
//! `bm25(memories_fts, 2.0, 1.0, 1.0)` would). Past that, the stride doubles whenever the
//! sample outgrows its bound, and each count is the sample's times the stride: an idf is a
//! logarithm, and a term's share of 50,000 evenly spread memories gives it to within a few
//! hundredths for any term in more than a few dozen of them. A term too rare to be sampled
//! counts as often as the namespace searched holds it (see `keyword`), as rare as it can be.
//!
//! What it holds is bounded by the sample, not the database: the sampled memories' distinct
//! term ids and lengths, and the dictionary of their words (4.5 MB at 20,000 generated
//! memories, 7.7 MB for the 31,250 sampled of a million: `scripts/scale-bench`). It follows
//! the database-wide change log like the namespace indexes, re-reading only the sampled
//! memories that changed.

use std::collections::HashMap;

use super::change_log::{self, CatchUp, MAX_REREAD};
use super::{Document, TextSource, Tokens};
use crate::error::Result;

/// Memories counted at most.
pub const SAMPLE: usize = 50_000;

/// One counted memory: the terms it holds (each once) and its length in tokens.
struct Sampled {
    terms: Box<[u32]>,
    length: u32,
}

/// The counts, and the change-log entry they reflect.
#[derive(Default)]
pub struct Statistics {
    /// The log entry these reflect; `None` until loaded, and after a failed catch-up.
    seq: Option<i64>,
    /// Rowids that are multiples of this are counted (a power of two, at least 1).
    stride: i64,
    /// The counted memories, by rowid.
    sampled: HashMap<i64, Sampled>,
    /// Term ids.
    terms: HashMap<Box<str>, u32>,
    /// Counted memories holding each term.
    frequencies: Vec<u32>,
    /// Terms whose frequency fell to zero (dropped once they are most of the dictionary).
    unused: usize,
    /// Tokens in the counted memories.
    tokens: u64,
    /// Term ids the counted memories hold, and heap bytes of the dictionary's words: kept as
    /// they change, so what is held is known without walking the sample.
    ids: u64,
    word_bytes: u64,
}

/// The statistics a ranking needs, read out for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// Memories in the database (estimated past [`SAMPLE`]).
    pub documents: f64,
    /// Their average length in tokens; 0 when there are none.
    pub average_length: f64,
    /// Memories holding each of the query's tokens, in the order asked.
    pub hits: Vec<f64>,
}

impl Statistics {
    /// Whether they reflect log entry `newest`.
    pub fn reflect(&self, newest: i64) -> bool {
        self.seq == Some(newest)
    }

    /// The counts for `tokens` (query tokens, as the tokenizer makes them).
    pub fn database(&self, tokens: &[String]) -> Database {
        let stride = self.stride.max(1) as f64;
        let counted = self.sampled.len() as f64;
        Database {
            documents: counted * stride,
            average_length: if counted > 0.0 {
                self.tokens as f64 / counted
            } else {
                0.0
            },
            hits: tokens
                .iter()
                .map(|t| {
                    self.terms
                        .get(t.as_str())
                        .map_or(0.0, |&id| f64::from(self.frequencies[id as usize]) * stride)
                })
                .collect(),
        }
    }

    /// Memories counted, and an estimate of the heap bytes held (as `keyword` estimates its
    /// own: tables at capacity with hashbrown's control byte, words and id lists as
    /// allocated).
    pub fn held(&self) -> (u64, u64) {
        let tables = self.sampled.capacity() * 33
            + self.terms.capacity() * 25
            + self.frequencies.capacity() * 4;
        let bytes = tables as u64 + self.ids * 4 + self.word_bytes;
        (self.sampled.len() as u64, bytes)
    }

    /// Brings the counts up to the newest log entry: re-reads the sampled memories that
    /// changed, or loads the sample anew when there is none, too much changed, or the log
    /// cannot tell. A failure leaves them unloaded, to be loaded by the next search.
    pub fn catch_up(&mut self, source: &mut dyn TextSource, tokens: &mut dyn Tokens) -> Result<()> {
        let result = self.try_catch_up(source, tokens);
        if result.is_err() {
            *self = Statistics::default();
        }
        result
    }

    fn try_catch_up(&mut self, source: &mut dyn TextSource, tokens: &mut dyn Tokens) -> Result<()> {
        let (todo, seq) = change_log::catch_up(source, self.seq)?;
        let stride = self.stride.max(1);
        match todo {
            CatchUp::Current => {}
            CatchUp::Apply(changed) => {
                let sampled: Vec<(i64, bool)> = changed
                    .into_iter()
                    .filter(|(rowid, _)| rowid % stride == 0)
                    .map(|(rowid, of)| (rowid, of.is_some()))
                    .collect();
                if sampled.len() > MAX_REREAD {
                    self.load(source, tokens)?;
                } else {
                    for (rowid, exists) in sampled {
                        self.remove(rowid);
                        // A memory gone by the time the log was read is not re-read.
                        if exists && let Some(document) = source.document(rowid)? {
                            self.add(&document, tokens);
                        }
                    }
                    self.thin_if_over();
                    self.drop_unused_terms_if_worthwhile();
                }
            }
            CatchUp::Reload => self.load(source, tokens)?,
        }
        self.seq = Some(seq);
        Ok(())
    }

    /// Counts the sample anew: the stride from the highest rowid, so at most [`SAMPLE`]
    /// memories are read whatever the database holds.
    fn load(&mut self, source: &mut dyn TextSource, tokens: &mut dyn Tokens) -> Result<()> {
        *self = Statistics::default();
        let highest = source.highest_rowid()?.max(0);
        self.stride = stride_for(highest);
        let mut loaded = Statistics {
            stride: self.stride,
            ..Statistics::default()
        };
        source.sample(self.stride, highest, &mut |document| {
            loaded.add(&document, tokens)
        })?;
        loaded.thin_if_over();
        *self = loaded;
        Ok(())
    }

    /// Counts one memory.
    fn add(&mut self, document: &Document, tokenizer: &mut dyn Tokens) {
        let mut length = 0u32;
        let mut ids: Vec<u32> = Vec::new();
        let known = self.frequencies.len() as u32;
        let columns = [
            document.title.as_deref(),
            Some(document.content.as_str()),
            Some(document.tags.as_str()),
        ];
        let (terms, frequencies) = (&mut self.terms, &mut self.frequencies);
        let word_bytes = &mut self.word_bytes;
        for text in columns.into_iter().flatten() {
            tokenizer.tokens(text, &mut |token| {
                length += 1;
                let id = match terms.get(token) {
                    Some(&id) => id,
                    None => {
                        let id = frequencies.len() as u32;
                        frequencies.push(0);
                        terms.insert(token.into(), id);
                        *word_bytes += word_heap_bytes(token);
                        id
                    }
                };
                ids.push(id);
            });
        }
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            if id < known && self.frequencies[id as usize] == 0 {
                // A term counted again after it fell to zero.
                self.unused = self.unused.saturating_sub(1);
            }
            self.frequencies[id as usize] += 1;
        }
        self.tokens += u64::from(length);
        self.ids += ids.len() as u64;
        self.sampled.insert(
            document.rowid,
            Sampled {
                terms: ids.into_boxed_slice(),
                length,
            },
        );
    }

    /// Stops counting one memory, if counted.
    fn remove(&mut self, rowid: i64) {
        if let Some(gone) = self.sampled.remove(&rowid) {
            for &id in gone.terms.iter() {
                let f = &mut self.frequencies[id as usize];
                *f -= 1;
                if *f == 0 {
                    self.unused += 1;
                }
            }
            self.tokens -= u64::from(gone.length);
            self.ids -= gone.terms.len() as u64;
        }
    }

    /// Doubles the stride (keeping the sampled rowids that are multiples of the new one) until
    /// the sample is within its bound again.
    fn thin_if_over(&mut self) {
        while self.sampled.len() > SAMPLE {
            self.stride = self.stride.max(1) * 2;
            let stride = self.stride;
            let leaving: Vec<i64> = self
                .sampled
                .keys()
                .filter(|&&r| r % stride != 0)
                .copied()
                .collect();
            for rowid in leaving {
                self.remove(rowid);
            }
        }
        self.drop_unused_terms_if_worthwhile();
    }

    /// Renumbers the dictionary without the terms no counted memory holds, once they are most
    /// of it: a server that runs for months sees an endless stream of one-off words.
    fn drop_unused_terms_if_worthwhile(&mut self) {
        if self.unused < 4096 || self.unused < self.terms.len() / 2 {
            return;
        }
        let mut renumbered = vec![u32::MAX; self.frequencies.len()];
        let mut kept = Vec::with_capacity(self.frequencies.len() - self.unused);
        for (id, &f) in self.frequencies.iter().enumerate() {
            if f > 0 {
                renumbered[id] = kept.len() as u32;
                kept.push(f);
            }
        }
        self.frequencies = kept;
        self.terms.retain(|_, id| {
            *id = renumbered[*id as usize];
            *id != u32::MAX
        });
        self.terms.shrink_to_fit();
        self.word_bytes = self.terms.keys().map(|w| word_heap_bytes(w)).sum();
        for sampled in self.sampled.values_mut() {
            for id in sampled.terms.iter_mut() {
                *id = renumbered[*id as usize];
            }
        }
        self.unused = 0;
    }
}

/// Heap bytes of a dictionary word: the allocation, rounded up as allocators do, and their
/// bookkeeping.
fn word_heap_bytes(word: &str) -> u64 {
    (word.len().next_multiple_of(8) + 8) as u64
}

/// The stride that samples at most [`SAMPLE`] of rowids 1 to `highest`: a power of two.
fn stride_for(highest: i64) -> i64 {
    let needed = (highest as u64).div_ceil(SAMPLE as u64).max(1);
    needed.next_power_of_two() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase words.
    struct Words;

    impl Tokens for Words {
        fn tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
            for w in text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                each(&w.to_lowercase());
            }
        }

        fn query_tokens(&mut self, text: &str, each: &mut dyn FnMut(&str)) {
            self.tokens(text, each)
        }
    }

    fn document(rowid: i64, content: &str) -> Document {
        Document {
            rowid,
            namespace: "n".into(),
            title: None,
            content: content.into(),
            tags: "[]".into(),
            superseded: false,
            expires_at: i64::MAX,
        }
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_stride_samples_at_most_the_bound() {
        assert_eq!(stride_for(0), 1);
        assert_eq!(stride_for(SAMPLE as i64), 1);
        assert_eq!(stride_for(SAMPLE as i64 + 1), 2);
        assert_eq!(stride_for(1_000_000), 32);
        for highest in [1, 49_999, 50_001, 99_999, 1_000_000, 10_000_000] {
            let stride = stride_for(highest);
            assert!(highest / stride <= SAMPLE as i64, "{highest}: {stride}");
            assert!(stride == 1 || highest / (stride / 2) > SAMPLE as i64);
        }
    }

    #[test]
    fn counts_are_exact_at_stride_one_and_follow_removals() {
        let mut s = Statistics {
            stride: 1,
            ..Statistics::default()
        };
        s.add(&document(1, "apple banana"), &mut Words);
        s.add(&document(2, "apple apple cherry"), &mut Words);
        s.add(&document(3, "banana"), &mut Words);
        let db = s.database(&words(&["apple", "banana", "durian"]));
        assert_eq!(db.documents, 3.0);
        assert_eq!(db.average_length, 2.0);
        assert_eq!(db.hits, vec![2.0, 2.0, 0.0]);
        s.remove(2);
        let db = s.database(&words(&["apple", "cherry"]));
        assert_eq!((db.documents, db.average_length), (2.0, 1.5));
        assert_eq!(db.hits, vec![1.0, 0.0]);
        // Removing what is not counted changes nothing.
        s.remove(9);
        assert_eq!(s.database(&words(&["apple"])).hits, vec![1.0]);
    }

    #[test]
    fn past_the_bound_the_stride_doubles_and_counts_are_scaled_estimates() {
        let mut s = Statistics {
            stride: 1,
            ..Statistics::default()
        };
        // Every memory says "common"; every tenth also says "tenth".
        for rowid in 1..=(SAMPLE as i64 + 10) {
            if rowid % s.stride != 0 {
                continue;
            }
            let text = if rowid % 10 == 0 {
                "common tenth"
            } else {
                "common"
            };
            s.add(&document(rowid, text), &mut Words);
            s.thin_if_over();
        }
        assert_eq!(s.stride, 2);
        assert!(s.sampled.len() <= SAMPLE);
        assert!(s.sampled.keys().all(|r| r % 2 == 0));
        let db = s.database(&words(&["common", "tenth"]));
        assert_eq!(db.documents, (SAMPLE as f64 + 10.0));
        assert_eq!(db.hits[0], db.documents);
        // Every tenth rowid is even, so each is still counted, scaled by the stride.
        assert_eq!(db.hits[1], 2.0 * ((SAMPLE as f64 + 10.0) / 10.0).floor());
        let (counted, bytes) = s.held();
        assert_eq!(counted, (SAMPLE as u64 + 10) / 2);
        assert!(bytes > counted * 4, "{bytes}");
    }

    #[test]
    fn words_no_counted_memory_holds_leave_the_dictionary() {
        let mut s = Statistics {
            stride: 1,
            ..Statistics::default()
        };
        s.add(&document(1, "kept"), &mut Words);
        for rowid in 2..6000 {
            s.add(&document(rowid, &format!("once{rowid} kept")), &mut Words);
            s.remove(rowid);
        }
        s.drop_unused_terms_if_worthwhile();
        assert_eq!(s.terms.len(), 1);
        assert_eq!(s.database(&words(&["kept", "once7"])).hits, vec![1.0, 0.0]);
        s.add(&document(7, "kept again"), &mut Words);
        assert_eq!(s.database(&words(&["kept", "again"])).hits, vec![2.0, 1.0]);
    }
}
