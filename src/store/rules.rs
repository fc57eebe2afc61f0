//! What an update and an import do, decided once for every engine.
//!
//! The engines fetch what is stored and execute the write these functions decide; they
//! decide nothing themselves. An update is: fetch the memory (and whether it has a vector),
//! [`patch`] it, look up who holds the new content and let [`Patched::refuse_duplicate`]
//! judge, ask [`Patched::vector`] what becomes of the vector, then write. An import is: fetch
//! the [`Occupant`]s of the record's id and content, and [`import_outcome`] says whether to
//! insert it.

use super::records::Imported;
use crate::error::{Error, Result};
use crate::memory::{self, Memory, MemoryPatch, embedding_text};

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
/// field the patch sets is set, and `updated_at` is now.
pub(crate) fn patch(current: Memory, patch: &MemoryPatch) -> Patched {
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
    m.updated_at = memory::now();
    Patched {
        text_changed: m.content != old_content || m.context != old_context,
        reembed: patch.content.is_some() || patch.context.is_some(),
        duplicate_check,
        memory: m,
    }
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
