//! Which memories a read may see: one namespace, optionally narrowed by tags, kind, pinned
//! role, time and validity. Each backend renders it as its own SQL.

/// Which memories count as valid for a read: those that still hold (the default), every one,
/// or those that held at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Validity {
    /// Memories no other memory superseded.
    #[default]
    Current,
    /// Superseded memories too (`include_superseded`).
    Any,
    /// Memories valid at this normalised timestamp (`as_of`): `occurred_at <= t` and no
    /// `valid_until`, or `t < valid_until`.
    AsOf(String),
}

impl Validity {
    /// The validity a read asks for with `include_superseded` and `as_of` (already parsed);
    /// `as_of` wins, since it names exactly which memories held.
    pub fn asked(include_superseded: Option<bool>, as_of: Option<String>) -> Validity {
        match (as_of, include_superseded) {
            (Some(t), _) => Validity::AsOf(t),
            (None, Some(true)) => Validity::Any,
            (None, _) => Validity::Current,
        }
    }

    /// True when an in-memory index, which knows which memories are superseded, should leave
    /// them out.
    pub fn skips_superseded(&self) -> bool {
        matches!(self, Validity::Current)
    }
}

/// Which memories a read may see: always one namespace, optionally narrowed further.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The namespace to read (required: every read is scoped).
    pub namespace: String,
    /// Memories must carry every one of these tags.
    pub tags: Vec<String>,
    /// Memories must be of this kind.
    pub kind: Option<String>,
    /// Memories must be pinned for this role (or for `*`).
    pub role: Option<String>,
    /// `occurred_at` at or after this normalised timestamp.
    pub since: Option<String>,
    /// `occurred_at` at or before this normalised timestamp.
    pub until: Option<String>,
    /// Which memories still count (superseded ones leave by default).
    pub validity: Validity,
}

impl Filter {
    /// A filter that sees a whole namespace: its current memories, as a default read does.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Filter {
            namespace: namespace.into(),
            ..Filter::default()
        }
    }

    /// A filter that sees every memory of a namespace, superseded ones too.
    pub fn every(namespace: impl Into<String>) -> Self {
        Filter {
            validity: Validity::Any,
            ..Filter::namespace(namespace)
        }
    }

    /// True when the filter narrows more than the namespace and what an in-memory index
    /// knows itself (whether a memory is superseded).
    pub fn narrows(&self) -> bool {
        !self.tags.is_empty()
            || self.kind.is_some()
            || self.role.is_some()
            || self.since.is_some()
            || self.until.is_some()
            || matches!(self.validity, Validity::AsOf(_))
    }
}
