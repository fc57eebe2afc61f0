//! Retrieval quality on a labelled query set, as `memoryd eval` measures it.
//!
//! Two labelled sets: [`locomo`] (a LoCoMo split, one namespace per conversation,
//! `occurred_at` = the session's date, loaded with each turn's previous turn as `context`, or
//! alone) and [`project`] (the fixture project's notes, ADRs and conventions with the queries
//! of `fixtures/project-queries.jsonl`), both loaded into the store as a [`dataset::Loaded`].
//! Every query runs through `search_memory` exactly as an agent's call would ([`run`]); the
//! ranked ids are scored (recall@k, MRR, [`score`]) per conversation and overall.
//!
//! A third set, [`changes`], asks something else: when a new fact replaces an old one, do
//! search and `rehydrate_memory` hand back the new one, or the old?
//!
//! A measuring tool beside the server: nothing on the serving path uses it. It prints
//! nothing; the command in `cli/eval.rs` reads flags, reports progress and prints the table.

pub mod changes;
pub mod dataset;
pub mod locomo;
pub mod project;
pub mod run;
pub mod score;

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file or folder of the set could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A JSONL line of the set is not what it should be.
    #[error("{path}:{line}: bad line")]
    BadLine {
        /// The file.
        path: String,
        /// Its line number, from 1.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// The set does not hold together (the message says how, and what to do).
    #[error("{0}")]
    Set(String),
    /// One query failed.
    #[error("query {qid} failed")]
    Query {
        /// The query's id.
        qid: String,
        /// Why.
        source: crate::Error,
    },
    /// Writing to an open file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The store or the model failed.
    #[error(transparent)]
    Memoryd(#[from] crate::Error),
}
