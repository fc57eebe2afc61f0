//! The retrieval stage: the role's pinned memories and the task's ranked evidence, read
//! together. The only stage that waits on the store and the model; it chooses nothing.

use std::collections::HashMap;

use super::Sources;
use super::bundle::Retrieval;
use super::request::Request;
use crate::error::Result;
use crate::memory::Memory;
use crate::retrieve::SearchMode;
use crate::store::Filter;

/// What the later stages choose from.
pub(super) struct Found {
    /// The role's pins, in priority order.
    pub(super) pins: Vec<Memory>,
    /// Evidence candidates with their retrieval scores, best first.
    pub(super) evidence: Vec<(Memory, f64)>,
    /// How the evidence was retrieved.
    pub(super) retrieval: Retrieval,
}

/// The pins of `req`'s role and `candidates_per_item` evidence candidates per item asked
/// for, ranked by hybrid retrieval of the task.
pub(super) async fn pins_and_evidence(with: &Sources<'_>, req: &Request) -> Result<Found> {
    let wanted = req.limit * with.settings.candidates_per_item.max(1);
    let (pins, found) = tokio::try_join!(
        with.store
            .pinned_for(req.namespace.clone(), req.role_name.clone(), req.validity()),
        with.searcher.ranked(
            &req.task,
            Filter {
                validity: req.validity(),
                ..Filter::namespace(req.namespace.clone())
            },
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
    Ok(Found {
        pins,
        evidence,
        retrieval: Retrieval {
            mode: found.mode,
            note: found.note,
        },
    })
}
