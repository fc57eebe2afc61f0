//! What an update, a supersede and an import do, decided once for every engine.
//!
//! The engines fetch what is stored and execute the write these functions decide; they
//! decide nothing themselves. An update is: fetch the memory (and whether it has a vector),
//! [`patch`] it, look up who holds the new content and let [`Patched::refuse_duplicate`]
//! judge, ask [`Patched::vector`] what becomes of the vector, then write (the memory, and the
//! state it leaves, [`Patched::previous`], as a version). A supersede (`supersedes` on a store
//! or an update) is: fetch each named memory by id in any namespace ([`Named`]) and the chain
//! of memories that superseded the new one, let [`supersede`] judge, then mark what it
//! returns, in the same transaction as the write. An import is: fetch the [`Occupant`]s of the
//! record's id and content, and [`import_outcome`] says whether to insert it.

use super::records::Imported;
use crate::error::{Error, Result};
use crate::memory::{self, Memory, MemoryPatch, Version, embedding_text};

/// Most ids one `supersedes` may name.
pub(crate) const MAX_SUPERSEDES: usize = 100;

/// A memory with a patch applied, not yet written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Patched {
    /// The memory as it is to be stored (new hash and `updated_at` included).
    pub(crate) memory: Memory,
    /// The content hash whose holder in the namespace must be this memory or none: set when
    /// the patch gives content.
    pub(crate) duplicate_check: Option<String>,
    /// Whether the patch touched the embedded text (content or context), so that the caller
    /// embedded it again.
    reembed: bool,
    /// Whether the embedded text's parts differ from what is stored, so that the stored vector
    /// no longer fits.
    text_changed: bool,
    /// The state the memory leaves, to keep as a version; `None` when the patch changes no
    /// field (it only supersedes others, or changes expiry), so nothing else is to be written.
    pub(crate) previous: Option<Version>,
    /// The new `expires_at` to write (`Some(None)` clears it) when the patch changes it; like
    /// `supersedes`, a lifecycle change that keeps no version and leaves `version` as it is.
    pub(crate) expiry: Option<Option<String>>,
}

/// What becomes of a memory's vector on an update.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VectorWrite {
    /// Leave it as it is.
    Keep,
    /// Store this one (made from the memory's new text).
    Put(Vec<f32>),
    /// Remove it: the memory waits for the backfill.
    Clear,
}

/// Applies `patch` to the stored memory `current`: new content gets a new hash, every other
/// field the patch sets is set, `updated_at` is now and the version one more. A patch that
/// changes no field (only `supersedes`) leaves the memory exactly as it is.
pub(crate) fn patch(current: Memory, patch: &MemoryPatch) -> Patched {
    let expiry = patch
        .expires_at
        .as_ref()
        .map(|(e, _)| e.clone())
        .filter(|e| *e != current.expires_at);
    if patch.is_empty() {
        let mut memory = current;
        if let Some(e) = &expiry {
            memory.expires_at = e.clone();
        }
        return Patched {
            memory,
            duplicate_check: None,
            reembed: false,
            text_changed: false,
            previous: None,
            expiry,
        };
    }
    let previous = Version::of(&current);
    let mut m = current;
    let (old_content, old_context) = (m.content.clone(), m.context.clone());
    let mut duplicate_check = None;
    if let Some(content) = &patch.content {
        let hash = memory::content_hash(content);
        m.content = content.clone();
        m.content_hash = hash.clone();
        duplicate_check = Some(hash);
    }
    patch.apply_fields(&mut m);
    if let Some(e) = &expiry {
        m.expires_at = e.clone();
    }
    m.updated_at = memory::now();
    m.updated_by = patch.by.clone();
    m.version = previous.version + 1;
    Patched {
        previous: Some(previous),
        expiry,
        text_changed: m.content != old_content || m.context != old_context,
        reembed: patch.content.is_some() || patch.context.is_some(),
        duplicate_check,
        memory: m,
    }
}

/// An update of the stored memory `current`: refused as not found when it has expired (an
/// expired memory is gone for every tool), else [`patch`]ed, and refused (naming the argument)
/// when the patch leaves it expiring before it occurred.
pub(crate) fn update(current: Memory, p: &MemoryPatch) -> Result<Patched> {
    if current.expired_at(&memory::now()) {
        return Err(Error::NotFound {
            id: current.id,
            namespace: current.namespace,
        });
    }
    let patched = patch(current, p);
    let m = &patched.memory;
    if let Some(e) = &m.expires_at {
        let argument = match (&p.expires_at, &p.occurred_at) {
            (Some((_, argument)), _) => Some(*argument),
            (None, Some(_)) => Some("occurred_at"),
            (None, None) => None,
        };
        if let Some(argument) = argument {
            crate::expiry::check_order(argument, e, &m.occurred_at)?;
        }
    }
    Ok(patched)
}

impl Patched {
    /// Refuses the update when `holder`, the memory that holds the new content in the
    /// namespace (from the engine's lookup of [`Patched::duplicate_check`]), is another one.
    pub(crate) fn refuse_duplicate(&self, holder: Option<String>) -> Result<()> {
        match holder {
            Some(other) if other != self.memory.id => Err(Error::DuplicateContent {
                existing_id: other,
                namespace: self.memory.namespace.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// What to do with the vector, and whether the memory then lacks one. `had_vector` says
    /// whether the stored memory has one; `vector` is (text embedded, its embedding) from the
    /// caller, used only if it was made from exactly the new text (a vector of other text is
    /// never kept).
    pub(crate) fn vector(
        &self,
        had_vector: bool,
        vector: Option<(String, Vec<f32>)>,
    ) -> (VectorWrite, bool) {
        if !self.reembed || (!self.text_changed && had_vector) {
            return (VectorWrite::Keep, false);
        }
        let text = embedding_text(self.memory.context.as_deref(), &self.memory.content);
        match vector {
            Some((embedded, v)) if embedded == text => (VectorWrite::Put(v), false),
            _ => (VectorWrite::Clear, true),
        }
    }
}

/// A memory named in `supersedes`, as stored (looked up by id in every namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    /// Its id.
    pub(crate) id: String,
    /// Its namespace.
    pub(crate) namespace: String,
    /// The memory that already superseded it, if any.
    pub(crate) superseded_by: Option<String>,
}

/// What a supersede writes: each of `ids` gets `superseded_by = by` and `valid_until = until`.
/// Nothing else of theirs changes: not `updated_at`, and not `updated_by` either. A supersede
/// is no new version of the memories it marks (their content is what it was), and who made
/// it is on record already as the writer of the memory that supersedes them (its
/// `created_by` or `updated_by`), which `superseded_by` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Supersede {
    /// The memory that replaces them.
    pub(crate) by: String,
    /// Its `occurred_at`: when they stopped holding.
    pub(crate) until: String,
    /// The memories to mark, in the order named, each once.
    pub(crate) ids: Vec<String>,
}

/// Checks that `by` (the memory stored or updated) may supersede the memories `supersedes`
/// names. `found` is what is stored under those ids, in any namespace; `successors` is the
/// chain of memories that superseded `by` (its `superseded_by`, then that one's, ...). Every
/// refusal names the argument and the id, so nothing is written. Naming a memory `by` already
/// superseded is no change (a repeated call is idempotent); `None` when nothing is to be
/// marked.
pub(crate) fn supersede(
    by: &Memory,
    supersedes: &[String],
    found: &[Named],
    successors: &[String],
) -> Result<Option<Supersede>> {
    let refuse = |reason: String| Err(Error::invalid("supersedes", reason));
    if supersedes.len() > MAX_SUPERSEDES {
        return refuse(format!(
            "names {} memories; at most {MAX_SUPERSEDES} are allowed",
            supersedes.len()
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    for id in supersedes {
        if ids.contains(id) {
            continue;
        }
        let Some(named) = found.iter().find(|n| &n.id == id) else {
            return refuse(format!(
                "no memory '{id}' in namespace '{}'\nfind the memory to replace with search_memory and pass its id",
                by.namespace
            ));
        };
        if named.namespace != by.namespace {
            return refuse(format!(
                "memory '{id}' is not in this namespace ('{}')\na memory supersedes only memories of its own namespace",
                by.namespace
            ));
        }
        if *id == by.id {
            return refuse(format!("memory '{id}' cannot supersede itself"));
        }
        match &named.superseded_by {
            Some(other) if *other == by.id => continue,
            Some(other) => {
                return refuse(format!(
                    "memory '{id}' is already superseded by '{other}'\nsupersede '{other}' instead if it is the one this memory replaces"
                ));
            }
            None => {}
        }
        if successors.contains(id) {
            return refuse(format!(
                "memory '{id}' already supersedes '{}' (directly or through others); superseding it would make a cycle",
                by.id
            ));
        }
        ids.push(id.clone());
    }
    Ok((!ids.is_empty()).then(|| Supersede {
        by: by.id.clone(),
        until: by.occurred_at.clone(),
        ids,
    }))
}

/// `current` as it stood at version `n`, given its earlier `versions`; an unknown `n` is an
/// error naming `version`.
pub fn at_version(current: Memory, versions: &[Version], n: i64) -> Result<Memory> {
    if n == i64::from(current.version) {
        return Ok(current);
    }
    match versions.iter().find(|v| i64::from(v.version) == n) {
        Some(v) => Ok(v.as_memory(&current)),
        None => Err(Error::invalid(
            "version",
            format!(
                "memory '{}' has no version {n}; its versions are 1 to {}\nask get_memory with history: true to see them",
                current.id, current.version
            ),
        )),
    }
}

/// A stored memory in the way of an imported one: it has the record's id, or the record's
/// content in the record's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occupant {
    /// Its id.
    pub(crate) id: String,
    /// Its namespace.
    pub(crate) namespace: String,
    /// Its content hash.
    pub(crate) content_hash: String,
}

/// What importing `m` does, given what already occupies its id or its content:
/// [`Imported::Inserted`] means the engine writes it; every other outcome writes nothing.
pub(crate) fn import_outcome(m: &Memory, occupants: &[Occupant]) -> Imported {
    if let Some(same_id) = occupants.iter().find(|o| o.id == m.id) {
        return if same_id.content_hash == m.content_hash && same_id.namespace == m.namespace {
            Imported::AlreadyPresent
        } else {
            Imported::IdConflict {
                namespace: same_id.namespace.clone(),
            }
        };
    }
    match occupants
        .iter()
        .find(|o| o.namespace == m.namespace && o.content_hash == m.content_hash)
    {
        Some(holder) => Imported::DuplicateContent {
            existing_id: holder.id.clone(),
        },
        None => Imported::Inserted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Memory {
        let new = memory::NewMemory {
            namespace: "ns".into(),
            content: "old words".into(),
            title: Some("t".into()),
            kind: "note".into(),
            tags: vec![],
            source: None,
            anchor: None,
            context: Some("ctx".into()),
            roles: vec![],
            priority: 0,
            occurred_at: Some("2020-01-01T00:00:00.000Z".into()),
            metadata: serde_json::Map::new(),
            expires_at: None,
            by: Some("alice".into()),
        };
        let mut m = new.stamped(memory::content_hash("old words"));
        m.updated_at = "2020-01-01T00:00:00.000Z".into();
        m
    }

    fn content(text: &str) -> MemoryPatch {
        MemoryPatch {
            content: Some(text.into()),
            ..MemoryPatch::default()
        }
    }

    #[test]
    fn new_content_gets_its_hash_a_duplicate_check_and_a_new_updated_at() {
        let p = patch(stored(), &content("new words"));
        assert_eq!(p.memory.content, "new words");
        assert_eq!(p.memory.content_hash, memory::content_hash("new words"));
        assert_eq!(
            p.duplicate_check.as_deref(),
            Some(p.memory.content_hash.as_str())
        );
        assert!(p.memory.updated_at.as_str() > "2020-01-01T00:00:00.000Z");
        assert_eq!(
            p.memory.title.as_deref(),
            Some("t"),
            "untouched fields stay"
        );

        let title_only = MemoryPatch {
            title: Some(None),
            ..MemoryPatch::default()
        };
        let p = patch(stored(), &title_only);
        assert_eq!(p.memory.title, None);
        assert_eq!(p.duplicate_check, None, "no content, nothing to check");
        assert_eq!(p.memory.content_hash, memory::content_hash("old words"));
    }

    #[test]
    fn only_another_memory_holding_the_content_is_a_duplicate() {
        let p = patch(stored(), &content("new words"));
        p.refuse_duplicate(None).unwrap();
        p.refuse_duplicate(Some(p.memory.id.clone())).unwrap();
        let err = p.refuse_duplicate(Some("other".into())).unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateContent { existing_id, namespace }
                if existing_id == "other" && namespace == "ns"),
            "{err}"
        );
    }

    #[test]
    fn the_vector_follows_the_embedded_text() {
        let text = |p: &Patched| embedding_text(p.memory.context.as_deref(), &p.memory.content);
        // Fields other than content and context never touch the vector.
        let kind = MemoryPatch {
            kind: Some("fact".into()),
            ..MemoryPatch::default()
        };
        assert_eq!(
            patch(stored(), &kind).vector(false, None),
            (VectorWrite::Keep, false)
        );
        // New text with its vector: stored.
        let p = patch(stored(), &content("new words"));
        let v = Some((text(&p), vec![1.0]));
        assert_eq!(p.vector(true, v), (VectorWrite::Put(vec![1.0]), false));
        // New text with a vector of other text, or none: cleared, waiting for the backfill.
        assert_eq!(
            p.vector(true, Some(("stale".into(), vec![1.0]))),
            (VectorWrite::Clear, true)
        );
        assert_eq!(p.vector(true, None), (VectorWrite::Clear, true));
        // The same text again keeps a vector it has, and fills in one it lacks.
        let same = patch(stored(), &content("old words"));
        assert_eq!(same.vector(true, None), (VectorWrite::Keep, false));
        assert_eq!(same.vector(false, None), (VectorWrite::Clear, true));
        let v = Some((text(&same), vec![2.0]));
        assert_eq!(same.vector(false, v), (VectorWrite::Put(vec![2.0]), false));
        // A new context changes the text as new content does.
        let ctx = MemoryPatch {
            context: Some(None),
            ..MemoryPatch::default()
        };
        assert_eq!(
            patch(stored(), &ctx).vector(true, None),
            (VectorWrite::Clear, true)
        );
    }

    #[test]
    fn a_patch_keeps_the_state_it_leaves_as_the_next_version() {
        let by_bob = MemoryPatch {
            by: Some("bob".into()),
            ..content("new words")
        };
        let p = patch(stored(), &by_bob);
        assert_eq!(p.memory.version, 2);
        // Who wrote it first stays; who made this version is the patch's writer.
        assert_eq!(p.memory.created_by.as_deref(), Some("alice"));
        assert_eq!(p.memory.updated_by.as_deref(), Some("bob"));
        let previous = p.previous.expect("a version is kept");
        assert_eq!(previous.version, 1);
        assert_eq!(previous.content, "old words");
        assert_eq!(previous.title.as_deref(), Some("t"));
        assert_eq!(previous.changed_at, "2020-01-01T00:00:00.000Z");
        assert_eq!(previous.changed_by.as_deref(), Some("alice"));
        // That version reads back as the memory stood then, with its hash and writer of then.
        let then = at_version(p.memory.clone(), std::slice::from_ref(&previous), 1).unwrap();
        assert_eq!(then.content, "old words");
        assert_eq!(then.updated_by.as_deref(), Some("alice"));
        assert_eq!(then.version, 1);
        assert_eq!(then.content_hash, memory::content_hash("old words"));
        assert_eq!(then.id, p.memory.id);
        assert_eq!(at_version(p.memory.clone(), &[], 2).unwrap(), p.memory);
        let err = at_version(p.memory.clone(), &[previous], 3)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "invalid argument 'version': memory '{}' has no version 3; its versions are 1 to 2",
                p.memory.id
            )),
            "{err}"
        );
        // Only supersedes: nothing of the memory changes, and no version is kept.
        let only = MemoryPatch {
            supersedes: vec!["x".into()],
            by: Some("bob".into()),
            ..MemoryPatch::default()
        };
        let p = patch(stored(), &only);
        assert_eq!(p.previous, None);
        assert_eq!(
            p.memory.updated_by.as_deref(),
            Some("alice"),
            "no version, no writer"
        );
        assert_eq!(
            (p.memory.version, p.memory.updated_at.as_str()),
            (1, "2020-01-01T00:00:00.000Z")
        );
    }

    fn named(id: &str, namespace: &str, superseded_by: Option<&str>) -> Named {
        Named {
            id: id.into(),
            namespace: namespace.into(),
            superseded_by: superseded_by.map(str::to_string),
        }
    }

    #[test]
    fn supersede_marks_each_named_memory_until_the_new_one_occurred() {
        let by = stored();
        let found = [named("a", "ns", None), named("b", "ns", None)];
        let ids = vec!["a".to_string(), "b".into(), "a".into()];
        let s = supersede(&by, &ids, &found, &[]).unwrap().unwrap();
        assert_eq!(s.by, by.id);
        assert_eq!(s.until, "2020-01-01T00:00:00.000Z");
        assert_eq!(s.ids, vec!["a", "b"], "each once, in the order named");
        // Already superseded by this very memory: a repeat changes nothing.
        let done = [named("a", "ns", Some(&by.id))];
        assert_eq!(supersede(&by, &["a".into()], &done, &[]).unwrap(), None);
        assert_eq!(supersede(&by, &[], &[], &[]).unwrap(), None);
    }

    #[test]
    fn every_refused_supersede_names_the_argument_and_the_id() {
        let by = stored();
        let refused = |ids: &[&str], found: &[Named], successors: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            let successors: Vec<String> = successors.iter().map(|s| s.to_string()).collect();
            supersede(&by, &ids, found, &successors)
                .unwrap_err()
                .to_string()
        };
        let err = refused(&["ghost"], &[], &[]);
        assert!(
            err.starts_with("invalid argument 'supersedes': no memory 'ghost' in namespace 'ns'"),
            "{err}"
        );
        let err = refused(&["far"], &[named("far", "other", None)], &[]);
        assert!(
            err.starts_with(
                "invalid argument 'supersedes': memory 'far' is not in this namespace ('ns')"
            ),
            "{err}"
        );
        let me = by.id.clone();
        let err = refused(&[&me], &[named(&me, "ns", None)], &[]);
        assert_eq!(
            err,
            format!("invalid argument 'supersedes': memory '{me}' cannot supersede itself")
        );
        let err = refused(&["old"], &[named("old", "ns", Some("newer"))], &[]);
        assert!(
            err.starts_with(
                "invalid argument 'supersedes': memory 'old' is already superseded by 'newer'"
            ),
            "{err}"
        );
        let err = refused(&["top"], &[named("top", "ns", None)], &["mid", "top"]);
        assert!(
            err.starts_with(&format!(
                "invalid argument 'supersedes': memory 'top' already supersedes '{me}'"
            )) && err.contains("cycle"),
            "{err}"
        );
        // One bad id refuses the whole call, whatever its place.
        let err = refused(&["a", "ghost"], &[named("a", "ns", None)], &[]);
        assert!(err.contains("'ghost'"), "{err}");
    }

    #[test]
    fn import_outcomes() {
        let m = stored();
        let occupant = |id: &str, namespace: &str, hash: &str| Occupant {
            id: id.into(),
            namespace: namespace.into(),
            content_hash: hash.into(),
        };
        assert_eq!(import_outcome(&m, &[]), Imported::Inserted);
        let same = occupant(&m.id, "ns", &m.content_hash);
        assert_eq!(import_outcome(&m, &[same]), Imported::AlreadyPresent);
        let moved = occupant(&m.id, "elsewhere", &m.content_hash);
        assert_eq!(
            import_outcome(&m, &[moved]),
            Imported::IdConflict {
                namespace: "elsewhere".into()
            }
        );
        let edited = occupant(&m.id, "ns", "other hash");
        let holder = occupant("other", "ns", &m.content_hash);
        assert_eq!(
            import_outcome(&m, &[holder.clone(), edited]),
            Imported::IdConflict {
                namespace: "ns".into()
            },
            "the id decides first"
        );
        assert_eq!(
            import_outcome(&m, &[holder]),
            Imported::DuplicateContent {
                existing_id: "other".into()
            }
        );
    }
}
