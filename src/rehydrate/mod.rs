//! `rehydrate_memory`'s engine: a role-scoped, token-budgeted bundle of context for a task.
//!
//! The path of one call: [`Request::resolve`] applies the role's defaults and bounds →
//! [`Rehydrator::run`] checks the bundle cache (keyed by the request and the store's write
//! generation) → pins for the role → hybrid retrieval for the task → role filters and
//! preferences → diversity (per-source cap, near-duplicates) → greedy packing under the token
//! budget, trimming at a sentence boundary when an item does not fit whole → rendering. The
//! returned `text` never exceeds the budget by the configured tokenizer's count: every piece is
//! counted before it is added, and the final text is counted again. No SQL here.

mod bpe;
mod pack;
mod render;
mod tokens;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::config::{Config, Rehydrate, Role};
use crate::error::{Error, Result};
use crate::memory::{self, Memory};
use crate::metrics::Cache;
use crate::metrics::Metrics;
use crate::retrieve::SearchMode;
use crate::retrieve::Searcher;
use crate::store::Filter;
use crate::store::Store;
pub use tokens::Tokenizer;

/// A validated request with the role's defaults applied.
#[derive(Debug, Clone)]
pub struct Request {
    /// Namespace to read.
    pub namespace: String,
    /// Role name.
    pub role_name: String,
    /// The role's settings.
    pub role: Role,
    /// What the agent is about to do.
    pub task: String,
    /// Most evidence items.
    pub limit: usize,
    /// Budget of the whole text, in tokens.
    pub token_budget: usize,
}

impl Request {
    /// Checks the arguments against the config and fills in the role's defaults.
    pub fn resolve(
        config: &Config,
        namespace: Option<&str>,
        role: &str,
        task: &str,
        limit: Option<i64>,
        token_budget: Option<i64>,
    ) -> Result<Request> {
        let Some(settings) = config.roles.get(role) else {
            let known: Vec<&str> = config.roles.keys().map(String::as_str).collect();
            return Err(Error::invalid(
                "role",
                format!(
                    "'{role}' is not a known role\nthe roles are: {} (add one under [roles.NAME] in the config file)",
                    known.join(", ")
                ),
            ));
        };
        let task = task.trim();
        if task.is_empty() {
            return Err(Error::invalid(
                "task",
                "must not be empty\nsay in a sentence what you are about to do",
            ));
        }
        if task.chars().count() > 4096 {
            return Err(Error::invalid("task", "is longer than 4096 characters"));
        }
        let bounds = &config.rehydrate;
        let token_budget = match token_budget {
            None => settings.token_budget,
            Some(b)
                if b >= bounds.min_token_budget as i64 && b <= bounds.max_token_budget as i64 =>
            {
                b as usize
            }
            Some(b) => {
                return Err(Error::invalid(
                    "token_budget",
                    format!(
                        "must be an integer from {} to {}, got {b}",
                        bounds.min_token_budget, bounds.max_token_budget
                    ),
                ));
            }
        };
        Ok(Request {
            namespace: memory::namespace(namespace)?,
            role_name: role.to_string(),
            task: task.to_string(),
            limit: memory::limit("limit", limit, settings.limit, bounds.max_limit)?,
            token_budget,
            role: settings.clone(),
        })
    }
}

/// The bundle: text for the agent, and the same content structured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bundle {
    /// Paste this into the agent's context: pinned memories, then evidence, each cited.
    pub text: String,
    /// The items of `text`, by section (`pins`, then `evidence`).
    pub sections: Vec<Section>,
    /// How the bundle was made.
    pub meta: Meta,
}

/// One section of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Section {
    /// `pins` or `evidence`.
    pub name: String,
    /// Items in the order they appear in `text`.
    pub items: Vec<Item>,
}

/// One memory in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    /// Memory id.
    pub id: String,
    /// Memory title.
    pub title: Option<String>,
    /// Memory kind.
    pub kind: String,
    /// Where it came from.
    pub source: Option<String>,
    /// Place inside `source`.
    pub anchor: Option<String>,
    /// The content as included (trimmed when `truncated`).
    pub content: String,
    /// True when the content was cut at a sentence boundary to fit the budget.
    pub truncated: bool,
    /// Tokens of this item's block in `text`.
    pub tokens: usize,
    /// Retrieval score after role preferences (evidence only).
    pub score: Option<f64>,
}

/// How a bundle was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meta {
    /// The role asked for.
    pub role: String,
    /// The namespace read.
    pub namespace: String,
    /// Budget of the whole text, in tokens.
    pub token_budget: usize,
    /// Budget of the pinned section, in tokens.
    pub pin_budget: usize,
    /// Most evidence items.
    pub limit: usize,
    /// The tiktoken encoding that counted.
    pub tokenizer: String,
    /// Tokens used.
    pub tokens: Tokens,
    /// What was looked at and what became of it.
    pub items: Counts,
    /// How evidence was retrieved (`hybrid`, or `keyword` while the model is not ready).
    pub retrieval_mode: SearchMode,
    /// Why retrieval was not hybrid, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// True when this bundle came from the cache.
    pub cache_hit: bool,
    /// Time to answer, in milliseconds.
    pub elapsed_ms: f64,
}

/// Tokens used, by section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tokens {
    /// The pinned section, heading included.
    pub pins: usize,
    /// The evidence section, heading included.
    pub evidence: usize,
    /// The whole `text` (never more than the budget).
    pub total: usize,
}

/// What happened to the candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// Pins and evidence candidates looked at.
    pub considered: usize,
    /// Items in the bundle.
    pub included: usize,
    /// Candidates left out, and why.
    pub dropped: Vec<Dropped>,
}

/// A candidate left out of the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dropped {
    /// Memory id.
    pub id: String,
    /// `pin_budget`, `budget`, `limit`, `source_cap`, `near_duplicate`, `excluded_kind`,
    /// `excluded_tag`, `pinned` (already in the pinned section) or `other_role` (pinned for
    /// other roles only).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    namespace: String,
    role: String,
    task: String,
    limit: usize,
    budget: usize,
    generation: i64,
}

/// The bundle cache and the tokenizer, shared by every call.
pub struct Rehydrator {
    /// Loaded on first use (building the encoding takes about 100 ms).
    tokenizer: OnceCell<Tokenizer>,
    /// Bundles by request and store generation.
    cache: moka::sync::Cache<CacheKey, Arc<Bundle>>,
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

impl Rehydrator {
    /// An empty cache of at most `entries` bundles and [`BUNDLE_CACHE_BYTES`].
    pub fn new(entries: u64) -> Self {
        // One capacity in bytes; each entry weighs at least the budget's share of one entry,
        // so the count stays within `entries` too.
        let floor = BUNDLE_CACHE_BYTES / entries.max(1);
        Rehydrator {
            tokenizer: OnceCell::new(),
            cache: moka::sync::Cache::builder()
                .max_capacity(BUNDLE_CACHE_BYTES)
                .weigher(move |key: &CacheKey, bundle: &Arc<Bundle>| {
                    u32::try_from(bundle_bytes(key, bundle).max(floor)).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// Entries and approximate bytes in the bundle cache (for `/metrics`).
    pub fn cache_footprint(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.cache.weighted_size())
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
        let key = match with.store.generation().await {
            Ok(generation) => Some(CacheKey {
                namespace: req.namespace.clone(),
                role: req.role_name.clone(),
                task: normalise(&req.task),
                limit: req.limit,
                budget: req.token_budget,
                generation,
            }),
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

        let settings = with.settings;
        let tokenizer = self.tokenizer(&settings.tokenizer).await?;
        let wanted = req.limit * settings.candidates_per_item.max(1);
        let searcher = with.searcher;
        let (pins, found) = tokio::try_join!(
            with.store
                .pinned_for(req.namespace.clone(), req.role_name.clone()),
            searcher.ranked(
                &req.task,
                Filter::namespace(req.namespace.clone()),
                wanted,
                SearchMode::Hybrid,
            ),
        )?;
        let scores: HashMap<i64, f64> = found.items.iter().map(|r| (r.rowid, r.score)).collect();
        let rowids = found.items.iter().map(|r| r.rowid).collect();
        let evidence: Vec<(Memory, f64)> = with
            .store
            .memories_by_rowid(rowids)
            .await?
            .into_iter()
            .map(|(rowid, m)| (m, scores.get(&rowid).copied().unwrap_or(0.0)))
            .collect();

        let settings = settings.clone();
        let (mode, note) = (found.mode, found.note);
        let mut bundle = tokio::task::spawn_blocking(move || {
            build(&tokenizer, &req, &settings, pins, evidence, mode, note)
        })
        .await?;
        bundle.meta.elapsed_ms = elapsed_ms(started);
        if let Some(k) = key {
            self.cache.insert(k, Arc::new(bundle.clone()));
        }
        Ok(bundle)
    }
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

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Tasks that differ only in case and spacing share a cache entry.
fn normalise(task: &str) -> String {
    task.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One item committed to a section, with what it needs for rendering.
struct Placed {
    memory: Memory,
    content: String,
    truncated: bool,
    block: String,
    tokens: usize,
    score: Option<f64>,
}

/// Chooses, trims and renders; every block is counted before it is added.
fn build(
    tok: &Tokenizer,
    req: &Request,
    settings: &Rehydrate,
    pins: Vec<Memory>,
    evidence: Vec<(Memory, f64)>,
    mode: SearchMode,
    note: Option<String>,
) -> Bundle {
    let budget = req.token_budget;
    let header = render::header(&req.role_name);
    let header_tokens = tok.count_cached(&header);
    let considered = pins.len() + evidence.len();
    let mut dropped: Vec<Dropped> = Vec::new();
    let drop = |dropped: &mut Vec<Dropped>, id: &str, reason: &str| {
        dropped.push(Dropped {
            id: id.to_string(),
            reason: reason.to_string(),
        })
    };

    // Pins: priority order, whole or trimmed, within the pin budget.
    let pin_cap = req
        .role
        .pin_budget
        .min(budget.saturating_sub(header_tokens));
    let pins_heading = tok.count_cached(render::PINS_HEADING);
    let mut placed_pins: Vec<Placed> = Vec::new();
    let mut pin_used = 0;
    for m in pins {
        let overhead = if placed_pins.is_empty() {
            pins_heading
        } else {
            0
        };
        let room = pin_cap.saturating_sub(pin_used + overhead);
        match fit(tok, "-", &m, room) {
            Some((content, truncated, block, tokens)) => {
                pin_used += overhead + tokens;
                placed_pins.push(Placed {
                    memory: m,
                    content,
                    truncated,
                    block,
                    tokens,
                    score: None,
                });
            }
            None => drop(&mut dropped, &m.id, "pin_budget"),
        }
    }

    // Evidence: role filters and preferences, then diversity, then the rest of the budget.
    let pinned: HashSet<String> = placed_pins.iter().map(|p| p.memory.id.clone()).collect();
    let mut candidates: Vec<(Memory, f64)> = Vec::with_capacity(evidence.len());
    for (m, score) in evidence {
        let other_roles_only =
            !m.roles.is_empty() && !m.roles.iter().any(|r| r == "*" || *r == req.role_name);
        if pinned.contains(&m.id) {
            drop(&mut dropped, &m.id, "pinned");
        } else if other_roles_only {
            // Pinned for other roles only: it belongs to their bundles, never this one's.
            drop(&mut dropped, &m.id, "other_role");
        } else if req.role.exclude_kinds.contains(&m.kind) {
            drop(&mut dropped, &m.id, "excluded_kind");
        } else if m.tags.iter().any(|t| req.role.exclude_tags.contains(t)) {
            drop(&mut dropped, &m.id, "excluded_tag");
        } else {
            let mut boost = 0.0;
            if req.role.prefer_kinds.contains(&m.kind) {
                boost += f64::from(settings.prefer_boost);
            }
            if m.tags.iter().any(|t| req.role.prefer_tags.contains(t)) {
                boost += f64::from(settings.prefer_boost);
            }
            candidates.push((m, score * (1.0 + boost)));
        }
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));

    let mut seen: Vec<std::collections::HashSet<String>> = placed_pins
        .iter()
        .map(|p| pack::shingles(&p.memory.content))
        .collect();
    let mut per_source: HashMap<String, usize> = HashMap::new();
    let evidence_heading = tok.count_cached(render::EVIDENCE_HEADING);
    let mut used = header_tokens + pin_used;
    let mut placed: Vec<Placed> = Vec::new();
    for (m, score) in candidates {
        if placed.len() == req.limit {
            drop(&mut dropped, &m.id, "limit");
            continue;
        }
        if let Some(source) = &m.source
            && per_source.get(source).copied().unwrap_or(0) >= req.role.per_source_cap
        {
            drop(&mut dropped, &m.id, "source_cap");
            continue;
        }
        let sh = pack::shingles(&m.content);
        if seen
            .iter()
            .any(|s| pack::overlap(s, &sh) >= settings.near_duplicate_overlap)
        {
            drop(&mut dropped, &m.id, "near_duplicate");
            continue;
        }
        let overhead = if placed.is_empty() {
            evidence_heading
        } else {
            0
        };
        let room = budget.saturating_sub(used + overhead);
        let marker = format!("{}.", placed.len() + 1);
        match fit(tok, &marker, &m, room) {
            Some((content, truncated, block, tokens)) => {
                used += overhead + tokens;
                seen.push(sh);
                if let Some(source) = &m.source {
                    *per_source.entry(source.clone()).or_default() += 1;
                }
                placed.push(Placed {
                    memory: m,
                    content,
                    truncated,
                    block,
                    tokens,
                    score: Some(score),
                });
            }
            None => drop(&mut dropped, &m.id, "budget"),
        }
    }

    // Blocks were counted one by one; count the assembled text and, in the rare case that
    // joining them costs more, give back items from the end until it fits.
    let (mut text, mut total) = assemble(tok, &header, &placed_pins, &placed);
    while total > budget {
        let last = placed.pop().or_else(|| placed_pins.pop());
        match last {
            Some(p) => drop(&mut dropped, &p.memory.id, "budget"),
            None => break,
        }
        (text, total) = assemble(tok, &header, &placed_pins, &placed);
    }

    let section_tokens = |items: &[Placed], heading: &str| {
        if items.is_empty() {
            0
        } else {
            tok.count_cached(heading) + items.iter().map(|p| p.tokens).sum::<usize>()
        }
    };
    let tokens = Tokens {
        pins: section_tokens(&placed_pins, render::PINS_HEADING),
        evidence: section_tokens(&placed, render::EVIDENCE_HEADING),
        total,
    };
    let included = placed_pins.len() + placed.len();
    let items = |list: Vec<Placed>| -> Vec<Item> {
        list.into_iter()
            .map(|p| Item {
                id: p.memory.id,
                title: p.memory.title,
                kind: p.memory.kind,
                source: p.memory.source,
                anchor: p.memory.anchor,
                content: p.content,
                truncated: p.truncated,
                tokens: p.tokens,
                score: p.score,
            })
            .collect()
    };
    Bundle {
        text,
        sections: vec![
            Section {
                name: "pins".into(),
                items: items(placed_pins),
            },
            Section {
                name: "evidence".into(),
                items: items(placed),
            },
        ],
        meta: Meta {
            role: req.role_name.clone(),
            namespace: req.namespace.clone(),
            token_budget: budget,
            pin_budget: req.role.pin_budget,
            limit: req.limit,
            tokenizer: tok.name().to_string(),
            tokens,
            items: Counts {
                considered,
                included,
                dropped,
            },
            retrieval_mode: mode,
            note,
            cache_hit: false,
            elapsed_ms: 0.0,
        },
    }
}

/// Below this many tokens of room, no trimmed item is worth trying.
const MIN_ROOM: usize = 24;

/// The block for `m` within `room` tokens: whole, or trimmed at a sentence boundary;
/// returns (content, truncated, block, tokens).
fn fit(
    tok: &Tokenizer,
    marker: &str,
    m: &Memory,
    room: usize,
) -> Option<(String, bool, String, usize)> {
    if room < MIN_ROOM {
        return None;
    }
    let whole = render::item(marker, m, &m.content, false);
    let tokens = tok.count_cached(&whole);
    if tokens <= room {
        return Some((m.content.clone(), false, whole, tokens));
    }
    // Trimming costs a few counts; skip it when not even the citation line would fit.
    if tok.count_cached(&render::item(marker, m, "", true)) + 8 > room {
        return None;
    }
    let trimmed = pack::trim_to_fit(&m.content, |s| {
        tok.count(&render::item(marker, m, s, true)) <= room
    })?;
    let block = render::item(marker, m, &trimmed, true);
    let tokens = tok.count(&block);
    Some((trimmed, true, block, tokens))
}

/// The full text and its token count.
fn assemble(
    tok: &Tokenizer,
    header: &str,
    pins: &[Placed],
    evidence: &[Placed],
) -> (String, usize) {
    let mut text = header.to_string();
    if !pins.is_empty() {
        text.push_str(render::PINS_HEADING);
        for p in pins {
            text.push_str(&p.block);
        }
    }
    if !evidence.is_empty() {
        text.push_str(render::EVIDENCE_HEADING);
        for p in evidence {
            text.push_str(&p.block);
        }
    }
    if pins.is_empty() && evidence.is_empty() {
        text.push_str(render::EMPTY);
    }
    let total = tok.count_pieces(&text);
    (text, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_roles_and_bad_bounds_are_named() {
        let config = Config::default();
        let err = Request::resolve(&config, None, "wizard", "x", None, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'role': 'wizard' is not a known role\nthe roles are: general, implementer, planner, researcher, reviewer (add one under [roles.NAME] in the config file)"
        );
        let err = Request::resolve(&config, None, "planner", "x", None, Some(10))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'token_budget': must be an integer from 64 to 32000, got 10"
        );
        let err = Request::resolve(&config, None, "planner", "x", Some(51), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'limit': must be an integer from 1 to 50, got 51"
        );
        let ok = Request::resolve(&config, None, "planner", " plan ", None, None).unwrap();
        assert_eq!(
            (ok.limit, ok.token_budget, ok.task.as_str()),
            (8, 2000, "plan")
        );
    }

    #[test]
    fn tasks_normalise_for_the_cache() {
        assert_eq!(normalise("  Plan   the\tRelease "), "plan the release");
    }
}
