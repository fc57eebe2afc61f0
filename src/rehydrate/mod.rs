//! `rehydrate_memory`'s engine: a role-scoped, token-budgeted bundle of context for a task.
//!
//! The path of one call, one stage per file:
//!
//! 1. [`Request::resolve`] ([`request`]) applies the role's defaults and bounds.
//! 2. [`Rehydrator::run`] checks the bundle cache ([`cache`]), keyed by the request and the
//!    namespace's write generation.
//! 3. [`fetch`]: the role's pins and hybrid retrieval for the task, together.
//! 4. [`build`], on a blocking thread:
//!    - [`pins`]: pins in priority order within the pin budget;
//!    - [`filter`]: role filters and preferences on the evidence;
//!    - [`evidence`]: diversity (per-source cap, near-duplicates) and greedy packing under
//!      the token budget;
//!    - [`pack::within_budget`]: the assembled text counted again;
//!    - [`assemble`]: the [`Bundle`] ([`bundle`]).
//!
//! Items are fitted by [`pack`] (trimming at a sentence boundary when an item does not fit
//! whole) and rendered by [`render`]. The returned `text` never exceeds the budget by the
//! configured tokenizer's count: every piece is counted before it is added, and the final
//! text is counted again. No SQL here.

mod assemble;
mod bpe;
mod bundle;
mod cache;
mod evidence;
mod fetch;
mod filter;
mod pack;
mod pins;
mod render;
mod request;
mod tokens;

use std::time::Instant;

use tokio::sync::OnceCell;

use crate::config::Rehydrate;
use crate::error::Result;
use crate::metrics::{Cache, Metrics};
use crate::retrieve::Searcher;
use crate::store::Store;
use assemble::Packed;
use cache::{BundleCache, CacheKey};
use fetch::Found;

pub use bundle::{Bundle, Counts, Dropped, Item, Meta, Section, Tokens};
pub use request::Request;
pub use tokens::Tokenizer;

/// The bundle cache and the tokenizer, shared by every call.
pub struct Rehydrator {
    /// Loaded on first use (building the encoding takes about 100 ms).
    tokenizer: OnceCell<Tokenizer>,
    /// Bundles by request and store generation.
    cache: BundleCache,
}

/// What building a bundle reads: the store, a searcher over it, the metrics its cache
/// lookups count in, and the settings.
pub struct Sources<'a> {
    /// The database (pins, the generation that keys the cache, evidence rows).
    pub store: &'a Store,
    /// Hybrid retrieval for the task.
    pub searcher: Searcher<'a>,
    /// Where cache hits and misses are counted.
    pub metrics: &'a Metrics,
    /// `[rehydrate]`.
    pub settings: &'a Rehydrate,
}

impl Rehydrator {
    /// An empty cache of at most `entries` bundles (and a fixed number of bytes).
    pub fn new(entries: u64) -> Self {
        Rehydrator {
            tokenizer: OnceCell::new(),
            cache: BundleCache::new(entries),
        }
    }

    /// Entries and approximate bytes in the bundle cache (for `/metrics`).
    pub fn cache_footprint(&self) -> (u64, u64) {
        self.cache.footprint()
    }

    /// The configured tokenizer, loading it on first use.
    pub async fn tokenizer(&self, name: &str) -> Result<Tokenizer> {
        let name = name.to_string();
        self.tokenizer
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Tokenizer::load(&name)).await?
            })
            .await
            .cloned()
    }

    /// Builds (or fetches from the cache) the bundle for `req`.
    pub async fn run(&self, with: Sources<'_>, req: Request) -> Result<Bundle> {
        let started = Instant::now();
        // A cache that cannot be keyed is skipped, never an error: compute the bundle.
        // The namespace's next expiry keys it too: a bundle built before a memory in it
        // expired is not served after (no write moves the generation when a memory expires),
        // while expiries in other namespaces leave it cached.
        let now = crate::memory::now();
        let (generation, expiry) = tokio::join!(
            with.store.generation(req.namespace.clone()),
            with.store.next_expiry(req.namespace.clone(), now)
        );
        let key = match generation.and_then(|g| Ok((g, expiry?))) {
            Ok((generation, expiry)) => Some(CacheKey::new(&req, generation, expiry)),
            Err(err) => {
                tracing::warn!(%err, "bundle cache unavailable; computing");
                None
            }
        };
        let cached = key.as_ref().and_then(|k| self.cache.get(k));
        with.metrics.record_lookup(Cache::Bundle, cached.is_some());
        if let Some(hit) = cached {
            let mut bundle = (*hit).clone();
            bundle.meta.cache_hit = true;
            bundle.meta.elapsed_ms = elapsed_ms(started);
            return Ok(bundle);
        }

        let tokenizer = self.tokenizer(&with.settings.tokenizer).await?;
        let found = fetch::pins_and_evidence(&with, &req).await?;
        let settings = with.settings.clone();
        let mut bundle =
            tokio::task::spawn_blocking(move || build(&tokenizer, &req, &settings, found)).await?;
        bundle.meta.elapsed_ms = elapsed_ms(started);
        if let Some(k) = key {
            self.cache.insert(k, bundle.clone());
        }
        Ok(bundle)
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Chooses, trims and renders, stage by stage; every block is counted before it is added.
fn build(tok: &Tokenizer, req: &Request, settings: &Rehydrate, found: Found) -> Bundle {
    let header = render::header(&req.role_name);
    let header_tokens = tok.count_cached(&header);
    let considered = found.pins.len() + found.evidence.len();
    let mut dropped = Vec::new();
    let (mut pins, pin_used) = pins::place(tok, req, header_tokens, found.pins, &mut dropped);
    let candidates = filter::for_role(req, settings, found.evidence, &pins, &mut dropped);
    let used = header_tokens + pin_used;
    let mut evidence = evidence::place(tok, req, settings, used, &pins, candidates, &mut dropped);
    let (text, total) = pack::within_budget(
        tok,
        &header,
        req.token_budget,
        &mut pins,
        &mut evidence,
        &mut dropped,
    );
    let packed = Packed {
        text,
        total,
        pins,
        evidence,
        considered,
        dropped,
    };
    assemble::assemble(tok, req, packed, found.retrieval)
}
