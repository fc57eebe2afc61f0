//! The evidence stage: candidates in order, each whole or trimmed, until the limit or the
//! budget runs out. Keeps the bundle diverse: at most `per_source_cap` items per source
//! (`source_cap`), nothing that overlaps an item already in (`near_duplicate`).

use std::collections::HashMap;

use super::bundle::Dropped;
use super::pack::{self, Placed};
use super::render;
use super::request::Request;
use super::tokens::Tokenizer;
use crate::config::Rehydrate;
use crate::memory::Memory;

/// The evidence section's items, after `used` tokens of header and pins.
pub(super) fn place(
    tok: &Tokenizer,
    req: &Request,
    settings: &Rehydrate,
    used: usize,
    pins: &[Placed],
    candidates: Vec<(Memory, f64)>,
    dropped: &mut Vec<Dropped>,
) -> Vec<Placed> {
    let mut seen: Vec<std::collections::HashSet<String>> = pins
        .iter()
        .map(|p| pack::shingles(&p.memory.content))
        .collect();
    let mut per_source: HashMap<String, usize> = HashMap::new();
    let evidence_heading = tok.count_cached(render::EVIDENCE_HEADING);
    let mut used = used;
    let mut placed: Vec<Placed> = Vec::new();
    for (m, score) in candidates {
        if placed.len() == req.limit {
            dropped.push(Dropped::new(&m.id, "limit"));
            continue;
        }
        if let Some(source) = &m.source
            && per_source.get(source).copied().unwrap_or(0) >= req.role.per_source_cap
        {
            dropped.push(Dropped::new(&m.id, "source_cap"));
            continue;
        }
        let sh = pack::shingles(&m.content);
        if seen
            .iter()
            .any(|s| pack::overlap(s, &sh) >= settings.near_duplicate_overlap)
        {
            dropped.push(Dropped::new(&m.id, "near_duplicate"));
            continue;
        }
        let overhead = if placed.is_empty() {
            evidence_heading
        } else {
            0
        };
        let room = req.token_budget.saturating_sub(used + overhead);
        let marker = format!("{}.", placed.len() + 1);
        match pack::fit(tok, &marker, &m, room) {
            Some(fitted) => {
                used += overhead + fitted.tokens;
                seen.push(sh);
                if let Some(source) = &m.source {
                    *per_source.entry(source.clone()).or_default() += 1;
                }
                placed.push(fitted.place(m, Some(score)));
            }
            None => dropped.push(Dropped::new(&m.id, "budget")),
        }
    }
    placed
}
