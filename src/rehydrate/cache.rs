//! The bundle cache: bundles keyed by the request (its task normalised) and its namespace's
//! write generation, so a write invalidates every entry of its namespace and no other. Bounded in bytes as well as
//! entries. Holds bundles; builds none.

use std::sync::Arc;

use super::bundle::Bundle;
use super::request::Request;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    namespace: String,
    role: String,
    task: String,
    limit: usize,
    budget: usize,
    as_of: Option<String>,
    generation: i64,
    next_expiry: Option<String>,
}

impl CacheKey {
    /// The key of `req` while its namespace is at `generation` and its next memory to
    /// expire expires at `next_expiry`.
    pub(super) fn new(req: &Request, generation: i64, next_expiry: Option<String>) -> CacheKey {
        CacheKey {
            namespace: req.namespace.clone(),
            role: req.role_name.clone(),
            task: normalise(&req.task),
            limit: req.limit,
            budget: req.token_budget,
            as_of: req.as_of.clone(),
            generation,
            next_expiry,
        }
    }
}

/// Most bytes of bundles the cache holds, whatever `cache_entries` allows: bundles of large
/// budgets are tens of KB each, so an entry count alone did not bound the memory.
const BUNDLE_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// What a cached bundle costs, approximately: its text, the items' text again in `sections`,
/// the key's task, and fixed overhead per item and entry.
fn bundle_bytes(key: &CacheKey, bundle: &Bundle) -> u64 {
    let items: usize = bundle.sections.iter().map(|s| s.items.len()).sum();
    (key.task.len() + key.namespace.len() + 2 * bundle.text.len() + 256 * items + 512) as u64
}

/// Bundles by request and namespace generation.
pub(super) struct BundleCache(moka::sync::Cache<CacheKey, Arc<Bundle>>);

impl BundleCache {
    /// An empty cache of at most `entries` bundles and [`BUNDLE_CACHE_BYTES`].
    pub(super) fn new(entries: u64) -> BundleCache {
        // One capacity in bytes; each entry weighs at least the budget's share of one entry,
        // so the count stays within `entries` too.
        let floor = BUNDLE_CACHE_BYTES / entries.max(1);
        BundleCache(
            moka::sync::Cache::builder()
                .max_capacity(BUNDLE_CACHE_BYTES)
                .weigher(move |key: &CacheKey, bundle: &Arc<Bundle>| {
                    u32::try_from(bundle_bytes(key, bundle).max(floor)).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }

    /// Entries and approximate bytes.
    pub(super) fn footprint(&self) -> (u64, u64) {
        self.0.run_pending_tasks();
        (self.0.entry_count(), self.0.weighted_size())
    }

    /// The bundle cached under `key`, if any.
    pub(super) fn get(&self, key: &CacheKey) -> Option<Arc<Bundle>> {
        self.0.get(key)
    }

    /// Caches `bundle` under `key`.
    pub(super) fn insert(&self, key: CacheKey, bundle: Bundle) {
        self.0.insert(key, Arc::new(bundle));
    }
}

/// Tasks that differ only in case and spacing share a cache entry.
fn normalise(task: &str) -> String {
    task.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_normalise_for_the_cache() {
        assert_eq!(normalise("  Plan   the\tRelease "), "plan the release");
    }
}
