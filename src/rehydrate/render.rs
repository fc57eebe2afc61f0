//! The bundle's text: a header, the pinned section, then the evidence, each item with its
//! citation. Each piece is rendered on its own so its tokens can be counted before it is
//! committed to the bundle.

use crate::memory::Memory;

/// The first line of every bundle.
pub fn header(role: &str) -> String {
    format!("# memoryd context for role {role}\n")
}

/// The heading of the pinned section.
pub const PINS_HEADING: &str = "\n## Pinned\n";
/// The heading of the evidence section.
pub const EVIDENCE_HEADING: &str = "\n## Evidence\n";
/// What the text says when nothing matched.
pub const EMPTY: &str = "\n(no memories matched this role and task)\n";

/// The citation of a memory: kind, id, and `source#anchor` when known.
pub fn citation(m: &Memory) -> String {
    let mut cite = format!("{} · id {}", m.kind, m.id);
    match (&m.source, &m.anchor) {
        (Some(s), Some(a)) => cite.push_str(&format!(" · {s}#{a}")),
        (Some(s), None) => cite.push_str(&format!(" · {s}")),
        (None, Some(a)) => cite.push_str(&format!(" · #{a}")),
        (None, None) => {}
    }
    cite
}

/// One item: a title line with its citation, then the (possibly trimmed) content, indented.
pub fn item(marker: &str, m: &Memory, content: &str, truncated: bool) -> String {
    let title = m.title.as_deref().unwrap_or("(untitled)");
    let mut body = content.trim().replace('\n', "\n   ");
    if truncated {
        body.push_str(" […]");
    }
    format!("{marker} {title} ({})\n   {body}\n", citation(m))
}
