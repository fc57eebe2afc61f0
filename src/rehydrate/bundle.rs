//! What `rehydrate_memory` returns: [`Bundle`], the text, its sections and how it was made.
//! Types only; the stages fill them in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retrieve::SearchMode;

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

impl Dropped {
    /// Memory `id`, left out for `reason`.
    pub(super) fn new(id: &str, reason: &str) -> Dropped {
        Dropped {
            id: id.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// How the retrieval of the evidence went, as the bundle's meta reports it.
pub(super) struct Retrieval {
    /// `hybrid`, or `keyword` while the model is not ready.
    pub(super) mode: SearchMode,
    /// Why it was not hybrid, if it was not.
    pub(super) note: Option<String>,
}
