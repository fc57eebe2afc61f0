//! Which namespaces' indexes are in memory: each loaded on its first search (one load per
//! namespace at a time, however many searches ask at once) and evicted least-recently-used
//! once what is loaded outgrows a byte budget (`[limits] index_memory_bytes`).
//!
//! The table is type-erased so one budget and one recency order cover both kinds of index
//! (keywords and vectors): a namespace searched only by keywords gives way to one searched
//! by both, whichever kind its bytes are in. The table's lock is held for a lookup, never
//! across a load; a load holds only its own namespace's cell, so other namespaces keep
//! answering while one loads (or fails to). An evicted index stays alive for the searches
//! still reading it (they hold an `Arc`) and is freed when the last one finishes.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;

/// Which index of a namespace an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The BM25 postings (`keyword`).
    Keywords,
    /// The vector copy (`vectors`).
    Vectors,
}

/// What one namespace's index holds, as its owner estimates it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Heap bytes: terms, postings, per-memory arrays, vectors, lookup tables.
    pub bytes: u64,
    /// Memories in a keyword index.
    pub memories: u64,
    /// Slots of a keyword index, live and dead.
    pub slots: u64,
    /// Terms of a keyword index's dictionary.
    pub terms: u64,
    /// Vectors in a vector copy.
    pub vectors: u64,
}

impl std::ops::AddAssign for Held {
    fn add_assign(&mut self, other: Held) {
        self.bytes += other.bytes;
        self.memories += other.memories;
        self.slots += other.slots;
        self.terms += other.terms;
        self.vectors += other.vectors;
    }
}

/// One namespace's index, shared with the searches reading it.
type Value = Arc<dyn Any + Send + Sync>;

/// A slot of the table: empty while its first load runs.
struct Entry {
    /// Held by the one search loading this namespace; the others wait on it (single flight).
    cell: Arc<Mutex<Option<Value>>>,
    /// The loaded index (a copy of the cell's, read without taking the cell).
    value: Option<Value>,
    /// What it holds, as last reported.
    held: Held,
    /// When it was last searched, on the table's clock.
    used: u64,
}

#[derive(Default)]
struct Table {
    /// Ticks once per lookup: the recency order.
    clock: u64,
    /// Bytes held by every loaded entry.
    bytes: u64,
    entries: HashMap<(Kind, String), Entry>,
}

/// What `/metrics` and `/status` show of the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Namespace indexes loaded (a namespace with both kinds counts twice).
    pub loaded: u64,
    /// Their bytes and contents, summed.
    pub held: Held,
    /// The budget, in bytes.
    pub budget: u64,
    /// Loads since start.
    pub loads: u64,
    /// Loads that failed since start.
    pub load_failures: u64,
    /// Evictions since start.
    pub evictions: u64,
}

/// The per-process table of loaded namespace indexes, within a byte budget.
pub struct Resident {
    /// Bytes the loaded indexes may hold together; one index bigger than this still loads
    /// (a search must be answered) and evicts every other.
    budget: u64,
    /// A std mutex: held for a lookup or an eviction, never across a load or an `.await`.
    table: Mutex<Table>,
    /// Counters since start.
    loads: AtomicU64,
    load_failures: AtomicU64,
    evictions: AtomicU64,
}

impl Resident {
    /// An empty table within `budget` bytes.
    pub fn new(budget: u64) -> Resident {
        Resident {
            budget,
            table: Mutex::new(Table::default()),
            loads: AtomicU64::new(0),
            load_failures: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Nothing a panic can interrupt leaves the table inconsistent: sums are adjusted
        // beside the map operations they follow.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of `kind` for `namespace`, loaded by `load` if it is not in memory; `held`
    /// measures what it holds. Concurrent callers for one namespace wait for a single load;
    /// a failed load is not remembered (the next search tries again).
    pub fn get_or_load<T: Any + Send + Sync>(
        &self,
        kind: Kind,
        namespace: &str,
        load: impl FnOnce() -> Result<T>,
        held: impl Fn(&T) -> Held,
    ) -> Result<Arc<T>> {
        let key = (kind, namespace.to_string());
        let cell = {
            let mut table = self.table();
            table.clock += 1;
            let now = table.clock;
            let entry = table.entries.entry(key.clone()).or_insert_with(|| Entry {
                cell: Arc::new(Mutex::new(None)),
                value: None,
                held: Held::default(),
                used: now,
            });
            entry.used = now;
            if let Some(value) = &entry.value {
                return Ok(downcast(value.clone()));
            }
            entry.cell.clone()
        };
        let mut slot = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = slot.as_ref() {
            return Ok(downcast(value.clone()));
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = match load() {
            Ok(loaded) => Arc::new(loaded),
            Err(err) => {
                self.load_failures.fetch_add(1, Ordering::Relaxed);
                let mut table = self.table();
                if table
                    .entries
                    .get(&key)
                    .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell) && e.value.is_none())
                {
                    table.entries.remove(&key);
                }
                return Err(err);
            }
        };
        let value: Value = loaded.clone();
        *slot = Some(value.clone());
        drop(slot);
        let measured = held(&loaded);
        let mut table = self.table();
        table.clock += 1;
        let now = table.clock;
        // The entry may have gone (a failed load before ours removed it): put it back.
        let entry = table.entries.entry(key.clone()).or_insert_with(|| Entry {
            cell: cell.clone(),
            value: None,
            held: Held::default(),
            used: now,
        });
        let before = entry.held.bytes;
        entry.cell = cell;
        entry.value = Some(value);
        entry.held = measured;
        entry.used = now;
        table.bytes = table.bytes - before + measured.bytes;
        self.evict(&mut table, &key);
        Ok(loaded)
    }

    /// The loaded index of `kind` for `namespace`, if it is in memory; does not load or count
    /// as a use.
    pub fn peek<T: Any + Send + Sync>(&self, kind: Kind, namespace: &str) -> Option<Arc<T>> {
        let table = self.table();
        let entry = table.entries.get(&(kind, namespace.to_string()))?;
        entry.value.clone().map(downcast)
    }

    /// Records what `index` (of `kind` for `namespace`) holds after it changed, and evicts
    /// others if that overran the budget. Ignored when `index` is no longer the loaded one
    /// (evicted, or replaced by a reload) .
    pub fn resize<T: Any + Send + Sync>(
        &self,
        kind: Kind,
        namespace: &str,
        index: &Arc<T>,
        held: Held,
    ) {
        let key = (kind, namespace.to_string());
        let mut table = self.table();
        let Some(entry) = table.entries.get_mut(&key) else {
            return;
        };
        let same = entry
            .value
            .as_ref()
            .is_some_and(|v| std::ptr::addr_eq(Arc::as_ptr(v), Arc::as_ptr(index)));
        if !same {
            return;
        }
        let before = entry.held.bytes;
        entry.held = held;
        table.bytes = table.bytes - before + held.bytes;
        self.evict(&mut table, &key);
    }

    /// Evicts the least recently used loaded indexes, never `keep`, until the loaded ones fit
    /// the budget.
    fn evict(&self, table: &mut Table, keep: &(Kind, String)) {
        while table.bytes > self.budget {
            let oldest = table
                .entries
                .iter()
                .filter(|(key, e)| e.value.is_some() && *key != keep)
                .min_by_key(|(_, e)| e.used)
                .map(|(key, _)| key.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = table.entries.remove(&oldest) {
                table.bytes -= gone.held.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What is loaded and the counters; never waits for a load.
    pub fn usage(&self) -> Usage {
        let table = self.table();
        let mut held = Held::default();
        let mut loaded = 0;
        for entry in table.entries.values().filter(|e| e.value.is_some()) {
            loaded += 1;
            held += entry.held;
        }
        Usage {
            loaded,
            held,
            budget: self.budget,
            loads: self.loads.load(Ordering::Relaxed),
            load_failures: self.load_failures.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// An entry's index as the type its kind stores (each kind is written by one type only).
fn downcast<T: Any + Send + Sync>(value: Value) -> Arc<T> {
    value
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("each kind of entry holds one type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn sized(bytes: u64) -> Held {
        Held {
            bytes,
            ..Held::default()
        }
    }

    #[test]
    fn least_recently_used_namespaces_go_first_once_over_budget() {
        let resident = Resident::new(250);
        let load = |ns: &str| {
            resident
                .get_or_load(Kind::Keywords, ns, || Ok(ns.to_string()), |_| sized(100))
                .unwrap()
        };
        load("a");
        load("b");
        load("a"); // a is now the more recent
        load("c"); // 300 bytes: b goes
        assert!(resident.peek::<String>(Kind::Keywords, "a").is_some());
        assert!(resident.peek::<String>(Kind::Keywords, "b").is_none());
        assert!(resident.peek::<String>(Kind::Keywords, "c").is_some());
        let usage = resident.usage();
        assert_eq!((usage.loaded, usage.held.bytes), (2, 200));
        assert_eq!((usage.loads, usage.evictions), (3, 1));
        // Growing past the budget evicts others, never the one that grew.
        let c = resident.peek::<String>(Kind::Keywords, "c").unwrap();
        resident.resize(Kind::Keywords, "c", &c, sized(400));
        let usage = resident.usage();
        assert_eq!((usage.loaded, usage.held.bytes), (1, 400));
        assert_eq!(usage.evictions, 2);
    }

    #[test]
    fn concurrent_first_searches_of_a_namespace_load_it_once() {
        let resident = Resident::new(1 << 20);
        let loads = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let got = resident
                        .get_or_load(
                            Kind::Vectors,
                            "ns",
                            || {
                                loads.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(50));
                                Ok(7u32)
                            },
                            |_| sized(10),
                        )
                        .unwrap();
                    assert_eq!(*got, 7);
                });
            }
        });
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(resident.usage().loads, 1);
    }

    #[test]
    fn a_failed_load_errors_that_call_only_and_is_retried_next_time() {
        let resident = Resident::new(1 << 20);
        resident
            .get_or_load(Kind::Keywords, "up", || Ok(1u8), |_| sized(1))
            .unwrap();
        let err = resident
            .get_or_load(
                Kind::Keywords,
                "down",
                || -> Result<u8> { Err(crate::error::Error::Unavailable("database down".into())) },
                |_| sized(1),
            )
            .unwrap_err();
        assert!(err.to_string().contains("database down"), "{err}");
        assert!(resident.peek::<u8>(Kind::Keywords, "up").is_some());
        let usage = resident.usage();
        assert_eq!((usage.loaded, usage.load_failures), (1, 1));
        let again = resident
            .get_or_load(Kind::Keywords, "down", || Ok(2u8), |_| sized(1))
            .unwrap();
        assert_eq!(*again, 2);
    }
}
