//! Which memories a read may see: one namespace, optionally narrowed by tags, kind, pinned
//! role and time. Each backend renders it as its own SQL.

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
}

impl Filter {
    /// A filter that sees a whole namespace.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Filter {
            namespace: namespace.into(),
            ..Filter::default()
        }
    }

    /// True when the filter narrows more than the namespace.
    pub fn narrows(&self) -> bool {
        !self.tags.is_empty()
            || self.kind.is_some()
            || self.role.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }
}
