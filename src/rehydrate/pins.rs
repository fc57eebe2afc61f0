//! The pins stage: the role's pinned memories in priority order, each whole or trimmed,
//! within the role's pin budget (and never past the whole budget). What does not fit is
//! dropped as `pin_budget`.

use super::bundle::Dropped;
use super::pack::{self, Placed};
use super::render;
use super::request::Request;
use super::tokens::Tokenizer;
use crate::memory::Memory;

/// The pinned section's items and the tokens they take, heading included, after a header of
/// `header_tokens`.
pub(super) fn place(
    tok: &Tokenizer,
    req: &Request,
    header_tokens: usize,
    pins: Vec<Memory>,
    dropped: &mut Vec<Dropped>,
) -> (Vec<Placed>, usize) {
    let pin_cap = req
        .role
        .pin_budget
        .min(req.token_budget.saturating_sub(header_tokens));
    let pins_heading = tok.count_cached(render::PINS_HEADING);
    let mut placed: Vec<Placed> = Vec::new();
    let mut used = 0;
    for m in pins {
        let overhead = if placed.is_empty() { pins_heading } else { 0 };
        let room = pin_cap.saturating_sub(used + overhead);
        match pack::fit(tok, "-", &m, room) {
            Some(fitted) => {
                used += overhead + fitted.tokens;
                placed.push(fitted.place(m, None));
            }
            None => dropped.push(Dropped::new(&m.id, "pin_budget")),
        }
    }
    (placed, used)
}
