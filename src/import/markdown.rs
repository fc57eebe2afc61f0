//! Splitting Markdown files into memories, one per heading.
//!
//! Each section (the text under an ATX heading `#`…`######`, up to the next heading of any
//! level) becomes a `doc` memory: `title` = the heading, `anchor` = its GitHub-style slug
//! (`-1`, `-2` for repeats in one file), `source` = the file's path relative to the folder
//! imported (with `/`), and `context` = the file's title and the path of headings above it,
//! so the chunk is embedded with what situates it. Text before the first heading is a chunk
//! titled after the file. Headings inside fenced code blocks are text; YAML front matter is
//! skipped; empty sections are skipped; a section over the content limit is split at blank
//! lines into parts titled `Heading (part N)`.

use std::path::{Path, PathBuf};

use super::{Draft, RecordError};
use crate::config::Limits;
use crate::memory::{self, Memory};

/// One section of a file, before the field checks.
#[derive(Debug, Clone, PartialEq)]
struct Section {
    /// 1-based line of its heading (or of the file's first line).
    line: usize,
    /// Heading level, 0 for text before the first heading.
    level: usize,
    /// Heading text.
    title: String,
    /// Body text.
    body: String,
}

/// Reads every Markdown file under `root` (or `root` itself when it is a file), in path
/// order, and checks every chunk. Returns every memory, or every error.
pub fn read(
    root: &Path,
    default_namespace: &str,
    limits: &Limits,
) -> Result<Vec<Memory>, Vec<RecordError>> {
    let (base, files) = if root.is_dir() {
        let mut files = Vec::new();
        walk(root, &mut files).map_err(|e| {
            vec![RecordError {
                location: root.display().to_string(),
                message: format!("cannot read the folder: {e}"),
            }]
        })?;
        files.sort();
        (root.to_path_buf(), files)
    } else {
        let parent = root.parent().unwrap_or(Path::new("")).to_path_buf();
        (parent, vec![root.to_path_buf()])
    };
    let now = memory::now();
    let mut memories = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let source = relative(&base, &file);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(RecordError {
                    location: file.display().to_string(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        for (line, draft) in drafts(&source, &text, limits.max_content_bytes) {
            match draft.check(default_namespace, limits, &now) {
                Ok(m) => memories.push(m),
                Err(e) => errors.push(RecordError {
                    location: format!("{}:{line}", file.display()),
                    message: e.to_string(),
                }),
            }
        }
    }
    if errors.is_empty() {
        Ok(memories)
    } else {
        Err(errors)
    }
}

/// Markdown files under `dir`, skipping hidden files and folders.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if super::is_markdown_source(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// `file` relative to `base`, with `/` separators.
fn relative(base: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The memories of one file, each with the line it starts at.
fn drafts(source: &str, text: &str, max_bytes: usize) -> Vec<(usize, Draft)> {
    let sections = split(text);
    let stem = source
        .rsplit('/')
        .next()
        .unwrap_or(source)
        .trim_end_matches(".markdown")
        .trim_end_matches(".md")
        .to_string();
    let doc_title = sections
        .iter()
        .find(|s| s.level == 1)
        .map(|s| s.title.clone())
        .unwrap_or_else(|| stem.clone());
    let mut slugs = std::collections::HashMap::<String, usize>::new();
    // Titles of the headings above the current one, by level.
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for s in sections {
        let anchor = (s.level > 0).then(|| {
            let base = slug(&s.title);
            let n = slugs.entry(base.clone()).or_insert(0);
            let anchor = if *n == 0 { base } else { format!("{base}-{n}") };
            *n += 1;
            anchor
        });
        path.retain(|(level, _)| *level < s.level);
        let title = if s.level == 0 {
            stem.clone()
        } else {
            s.title.clone()
        };
        let mut trail: Vec<String> = vec![doc_title.clone()];
        trail.extend(path.iter().map(|(_, t)| t.clone()));
        if s.level >= 1 && title != doc_title {
            trail.push(title.clone());
        }
        trail.dedup();
        let context = trail.join(" › ");
        if s.level > 0 {
            path.push((s.level, s.title.clone()));
        }
        let parts = parts(s.body.trim(), max_bytes);
        let many = parts.len() > 1;
        for (i, body) in parts.into_iter().enumerate() {
            out.push((
                s.line,
                Draft {
                    content: body,
                    title: Some(if many {
                        format!("{title} (part {})", i + 1)
                    } else {
                        title.clone()
                    }),
                    kind: Some("doc".into()),
                    source: Some(source.to_string()),
                    anchor: anchor.clone(),
                    context: Some(context.clone()),
                    ..Draft::default()
                },
            ));
        }
    }
    out
}

/// Splits text into sections at ATX headings outside fenced code, after front matter.
fn split(text: &str) -> Vec<Section> {
    let mut lines = text.lines().enumerate().peekable();
    if lines.peek().is_some_and(|(_, l)| l.trim_end() == "---") {
        lines.next();
        for (_, l) in lines.by_ref() {
            if matches!(l.trim_end(), "---" | "...") {
                break;
            }
        }
    }
    let mut sections = Vec::new();
    let mut current = Section {
        line: 1,
        level: 0,
        title: String::new(),
        body: String::new(),
    };
    let mut fence: Option<&str> = None;
    for (i, line) in lines {
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
        } else if let Some((level, title)) = heading(line) {
            sections.push(std::mem::replace(
                &mut current,
                Section {
                    line: i + 1,
                    level,
                    title,
                    body: String::new(),
                },
            ));
            continue;
        }
        current.body.push_str(line);
        current.body.push('\n');
    }
    sections.push(current);
    sections.retain(|s| !s.body.trim().is_empty());
    sections
}

/// The level and text of an ATX heading line.
fn heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    // A closing run of #s is not part of the text.
    let text = after.trim();
    let text = match text.trim_end_matches('#') {
        t if t.is_empty() || t.ends_with([' ', '\t']) => t.trim_end(),
        _ => text,
    };
    (!text.is_empty()).then(|| (level, text.to_string()))
}

/// GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens.
pub fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// `body` in pieces of at most `max` bytes, cut at blank lines where possible.
fn parts(body: &str, max: usize) -> Vec<String> {
    if body.len() <= max {
        return vec![body.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for para in body.split("\n\n") {
        let mut para = para;
        while para.len() > max {
            // A single paragraph over the limit: cut it at a character boundary.
            let mut cut = max;
            while !para.is_char_boundary(cut) {
                cut -= 1;
            }
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(para[..cut].to_string());
            para = &para[cut..];
        }
        if !current.is_empty() && current.len() + 2 + para.len() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(para);
    }
    out.push(current);
    // Blank paragraphs can end up alone in a piece; a memory needs content.
    out.retain(|piece| !piece.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_slugs() {
        assert_eq!(
            heading("## Hello, World! ##"),
            Some((2, "Hello, World!".into()))
        );
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("    # code"), None);
        assert_eq!(heading("####### seven"), None);
        assert_eq!(slug("Hello, World!"), "hello-world");
        assert_eq!(slug("ADR-0003: Event sourcing"), "adr-0003-event-sourcing");
    }

    #[test]
    fn sections_with_context_anchors_and_fences() {
        let text = "---\ntitle: x\n---\nIntro text.\n\n# Ledger\n\nOverview.\n\n## Decision\n\nImmutable.\n\n```sh\n# not a heading\n```\n\n## Decision\n\nAgain.\n\n### Empty\n";
        let d = drafts("docs/ledger.md", text, 65536);
        let got: Vec<_> = d
            .iter()
            .map(|(line, d)| {
                (
                    *line,
                    d.title.clone().unwrap(),
                    d.anchor.clone(),
                    d.context.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "ledger".into(), None, "Ledger".into()),
                (6, "Ledger".into(), Some("ledger".into()), "Ledger".into()),
                (
                    10,
                    "Decision".into(),
                    Some("decision".into()),
                    "Ledger › Decision".into()
                ),
                (
                    18,
                    "Decision".into(),
                    Some("decision-1".into()),
                    "Ledger › Decision".into()
                ),
            ]
        );
        assert!(d[2].1.content.contains("# not a heading"));
        assert_eq!(d[0].1.source.as_deref(), Some("docs/ledger.md"));
        assert_eq!(d[0].1.kind.as_deref(), Some("doc"));
    }

    #[test]
    fn long_sections_are_split_at_blank_lines() {
        let body = format!(
            "{}\n\n{}\n\n{}",
            "a".repeat(40),
            "b".repeat(40),
            "c".repeat(100)
        );
        let p = parts(&body, 90);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().all(|s| s.len() <= 90));
        assert_eq!(p.concat().replace("\n\n", ""), body.replace("\n\n", ""));
    }

    /// Found by `any_text_splits_into_valid_drafts`: a blank paragraph alone in a piece made
    /// an empty memory, and the whole import failed on it.
    #[test]
    fn r5_blank_paragraphs_make_no_empty_pieces() {
        let body = format!("{}\n\n\t\t\t \n\n{}", "a".repeat(50), "b".repeat(50));
        let p = parts(&body, 53);
        assert_eq!(p, vec!["a".repeat(50), "b".repeat(50)]);
    }

    mod arbitrary_text {
        use super::*;
        use proptest::prelude::*;

        /// Lines that mix headings, fences, front matter, blank lines and text.
        fn markdown() -> impl Strategy<Value = String> {
            let line = prop_oneof![
                "#{1,7} ?[A-Za-zé0-9 ,!#-]{0,12}",
                Just("```".to_string()),
                Just("---".to_string()),
                Just(String::new()),
                "[ \t]{0,4}[A-Za-z0-9 .,;:#`*-]{0,30}",
                ".{0,20}",
            ];
            prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any text splits without panicking into importable pieces: none empty, none over
            /// the size limit, anchors unique within the file.
            #[test]
            fn any_text_splits_into_valid_drafts(text in markdown(), max in 40usize..400) {
                let drafts = drafts("notes/x.md", &text, max);
                let mut anchors = std::collections::HashSet::new();
                for (_, d) in &drafts {
                    prop_assert!(!d.content.trim().is_empty(), "empty draft from {:?}", text);
                    prop_assert!(d.content.len() <= max, "{} > {max}", d.content.len());
                    let whole = d.title.as_deref().is_none_or(|t| !t.contains(" (part "));
                    if let Some(a) = &d.anchor && whole {
                        prop_assert!(anchors.insert(a.clone()), "anchor {a} twice in {:?}", text);
                    }
                }
            }
        }
    }
}
