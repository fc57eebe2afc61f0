//! The last stage: the placed items and the final text become the [`Bundle`], with the tokens
//! per section and what was left out. Sums what the earlier stages counted; chooses nothing.

use super::bundle::{Bundle, Counts, Dropped, Item, Meta, Retrieval, Section, Tokens};
use super::pack::Placed;
use super::render;
use super::request::Request;
use super::tokens::Tokenizer;

/// What the packing stages produced, ready to become a bundle.
pub(super) struct Packed {
    /// The final text.
    pub(super) text: String,
    /// Its tokens.
    pub(super) total: usize,
    /// The pinned section's items.
    pub(super) pins: Vec<Placed>,
    /// The evidence section's items.
    pub(super) evidence: Vec<Placed>,
    /// Pins and evidence candidates looked at.
    pub(super) considered: usize,
    /// Candidates left out, in the order they were left out.
    pub(super) dropped: Vec<Dropped>,
}

/// The bundle of `packed` for `req`, with the token counts per section.
pub(super) fn assemble(
    tok: &Tokenizer,
    req: &Request,
    packed: Packed,
    retrieval: Retrieval,
) -> Bundle {
    let Packed {
        text,
        total,
        pins,
        evidence,
        considered,
        dropped,
    } = packed;
    let section_tokens = |items: &[Placed], heading: &str| {
        if items.is_empty() {
            0
        } else {
            tok.count_cached(heading) + items.iter().map(|p| p.tokens).sum::<usize>()
        }
    };
    let tokens = Tokens {
        pins: section_tokens(&pins, render::PINS_HEADING),
        evidence: section_tokens(&evidence, render::EVIDENCE_HEADING),
        total,
    };
    let included = pins.len() + evidence.len();
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
                items: items(pins),
            },
            Section {
                name: "evidence".into(),
                items: items(evidence),
            },
        ],
        meta: Meta {
            role: req.role_name.clone(),
            namespace: req.namespace.clone(),
            token_budget: req.token_budget,
            pin_budget: req.role.pin_budget,
            limit: req.limit,
            tokenizer: tok.name().to_string(),
            tokens,
            items: Counts {
                considered,
                included,
                dropped,
            },
            retrieval_mode: retrieval.mode,
            note: retrieval.note,
            cache_hit: false,
            elapsed_ms: 0.0,
        },
    }
}
