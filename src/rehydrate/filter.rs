//! The role stage: evidence candidates the role may see, scored with its preferences. Drops
//! what is already pinned (`pinned`), pinned for other roles only (`other_role`), or of a kind
//! or tag the role excludes (`excluded_kind`, `excluded_tag`); boosts preferred kinds and tags.

use std::collections::HashSet;

use super::bundle::Dropped;
use super::pack::Placed;
use super::request::Request;
use crate::config::Rehydrate;
use crate::memory::Memory;

/// The candidates of `evidence` left for `req`'s role, best first after its preferences.
pub(super) fn for_role(
    req: &Request,
    settings: &Rehydrate,
    evidence: Vec<(Memory, f64)>,
    pins: &[Placed],
    dropped: &mut Vec<Dropped>,
) -> Vec<(Memory, f64)> {
    let pinned: HashSet<String> = pins.iter().map(|p| p.memory.id.clone()).collect();
    let mut candidates: Vec<(Memory, f64)> = Vec::with_capacity(evidence.len());
    for (m, score) in evidence {
        let other_roles_only =
            !m.roles.is_empty() && !m.roles.iter().any(|r| r == "*" || *r == req.role_name);
        if pinned.contains(&m.id) {
            dropped.push(Dropped::new(&m.id, "pinned"));
        } else if other_roles_only {
            // Pinned for other roles only: it belongs to their bundles, never this one's.
            dropped.push(Dropped::new(&m.id, "other_role"));
        } else if req.role.exclude_kinds.contains(&m.kind) {
            dropped.push(Dropped::new(&m.id, "excluded_kind"));
        } else if m.tags.iter().any(|t| req.role.exclude_tags.contains(t)) {
            dropped.push(Dropped::new(&m.id, "excluded_tag"));
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
    candidates
}
