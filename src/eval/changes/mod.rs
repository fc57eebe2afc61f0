//! The fact-change set, as `memoryd eval changes` measures it: does memory hand back what is
//! true now when an agent stored a new fact that replaces an old one?
//!
//! The [`fixture`] holds hand-written fact changes (an old memory, a new one weeks later that
//! gives a different value for the same thing, and questions whose answer is the new one).
//! [`load`] stores them among distractors in an empty namespace: the distractors first, then
//! every old fact, then every new fact, through `store_memory`. [`run`] asks every question
//! of `search_memory` and of `rehydrate_memory`, and [`score`] places the two memories in
//! each answer: the share of answers where the old one ranks above the new one (or appears
//! without it), where the new one appears, where the old one does.

pub mod fixture;
pub mod load;
pub mod run;
pub mod score;
