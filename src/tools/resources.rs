//! Memories as MCP resources.
//!
//! `memory://{namespace}/{id}` is one memory, read as its content (text/markdown) with every
//! other field in `_meta`; `memory://{namespace}/pins/{role}` is what a role has pinned, in
//! the order `rehydrate_memory` puts it. The namespace is percent-encoded in the URI (as an
//! RFC 6570 `{namespace}` expansion does), so a namespace with `/` or `:` stays one segment.
//! The MCP handler's `resources/list` and `resources/read` answer here; following changes is
//! [`subscriptions`](super::subscriptions)' job.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
#[allow(deprecated)]
use rmcp::model::{
    Annotations, JsonObject, ListResourceTemplatesResult, ListResourcesResult, LoggingLevel,
    MetaObject, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use super::list_memories::{self, ListArgs};
use super::{MemoryServer, access};
use crate::app::App;
use crate::error::{Error, Result};
use crate::memory::{self, Memory};
use crate::store::Validity;

/// The URI scheme of every resource.
pub const SCHEME: &str = "memory://";

/// The template of one memory.
pub const MEMORY_TEMPLATE: &str = "memory://{namespace}/{id}";

/// The template of a role's pinned set.
pub const PINS_TEMPLATE: &str = "memory://{namespace}/pins/{role}";

/// The `_meta` key of `resources/list` that names the namespace to list.
pub const NAMESPACE_META: &str = "memoryd/namespace";

/// Memories per `resources/list` page.
const PAGE: i64 = 50;

/// What a resource URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One memory.
    Memory {
        /// Its namespace.
        namespace: String,
        /// Its id.
        id: String,
    },
    /// The memories pinned for a role.
    Pins {
        /// The namespace.
        namespace: String,
        /// The role.
        role: String,
    },
}

impl Target {
    /// Parses a `memory://` URI, saying what is wrong with one that is not.
    pub fn parse(uri: &str) -> Result<Target> {
        let bad = |why: &str| {
            Error::invalid(
                "uri",
                format!(
                    "'{uri}' is not a memoryd resource: {why}\nuse {MEMORY_TEMPLATE} or {PINS_TEMPLATE}"
                ),
            )
        };
        let Some(rest) = uri.strip_prefix(SCHEME) else {
            return Err(bad("it does not start with memory://"));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let decode = |s: &str| -> Result<String> {
            percent_decode_str(s)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| bad("a %-escape in it is not UTF-8"))
        };
        let target = match segments.as_slice() {
            [namespace, id] if !id.is_empty() => Target::Memory {
                namespace: decode(namespace)?,
                id: decode(id)?,
            },
            [namespace, "pins", role] if !role.is_empty() => Target::Pins {
                namespace: decode(namespace)?,
                role: decode(role)?,
            },
            _ => return Err(bad("it has the wrong number of parts")),
        };
        let namespace = match &target {
            Target::Memory { namespace, .. } | Target::Pins { namespace, .. } => namespace,
        };
        memory::namespace(Some(namespace)).map_err(|_| bad("the namespace is not valid"))?;
        Ok(target)
    }

    /// The URI of this target.
    pub fn uri(&self) -> String {
        match self {
            Target::Memory { namespace, id } => memory_uri(namespace, id),
            Target::Pins { namespace, role } => {
                format!(
                    "{SCHEME}{}/pins/{}",
                    percent_encode(namespace),
                    percent_encode(role)
                )
            }
        }
    }
}

/// The URI of memory `id` in `namespace`.
pub fn memory_uri(namespace: &str, id: &str) -> String {
    format!(
        "{SCHEME}{}/{}",
        percent_encode(namespace),
        percent_encode(id)
    )
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a URI segment.
fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// The resource templates: one memory, and a role's pins.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(MEMORY_TEMPLATE, "memory")
            .with_title("A memory")
            .with_description(
                "One memory by namespace and id: its content as text/markdown, every other field \
                 (title, kind, tags, source, roles, times) in _meta.",
            )
            .with_mime_type("text/markdown"),
        ResourceTemplate::new(PINS_TEMPLATE, "pins")
            .with_title("A role's pinned memories")
            .with_description(
                "Every memory pinned for a role (planner, implementer, ...), highest priority \
                 first: what rehydrate_memory always hands that role.",
            )
            .with_mime_type("text/markdown"),
    ])
}

/// One page of `namespace`'s memories, newest first; the first page starts with the pinned
/// sets of the configured roles that have pins.
pub async fn list(
    app: &App,
    namespace: String,
    cursor: Option<String>,
) -> Result<ListResourcesResult> {
    let first_page = cursor.is_none();
    let page = list_memories::run(
        app,
        ListArgs {
            limit: Some(PAGE),
            cursor,
            namespace: Some(namespace.clone()),
            ..ListArgs::default()
        },
    )
    .await?;
    let mut resources = Vec::new();
    if first_page {
        for role in app.config().roles.keys() {
            let pinned = app
                .store()
                .pinned_for(namespace.clone(), role.clone(), Validity::Current)
                .await?;
            if !pinned.is_empty() {
                let target = Target::Pins {
                    namespace: namespace.clone(),
                    role: role.clone(),
                };
                resources.push(
                    Resource::new(target.uri(), format!("pins/{role}"))
                        .with_title(format!(
                            "Pinned for {role} ({} {})",
                            pinned.len(),
                            if pinned.len() == 1 {
                                "memory"
                            } else {
                                "memories"
                            }
                        ))
                        .with_mime_type("text/markdown"),
                );
            }
        }
    }
    resources.extend(page.memories.iter().map(listed));
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// A memory as a listed resource.
fn listed(m: &Memory) -> Resource {
    let mut annotations = Annotations::default();
    annotations.last_modified = Some(m.updated_at.clone());
    Resource::new(memory_uri(&m.namespace, &m.id), m.id.clone())
        .with_title(display_title(m))
        .with_description(describe(m))
        .with_mime_type("text/markdown")
        .with_size(m.content.len() as u64)
        .with_meta(meta(m))
        .with_annotations(annotations)
}

/// A memory's title, or the start of its content when it has none.
pub fn display_title(m: &Memory) -> String {
    if let Some(title) = m.title.as_deref().filter(|t| !t.trim().is_empty()) {
        return title.to_string();
    }
    let line = m
        .content
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut title: String = line.trim().chars().take(60).collect();
    if line.trim().chars().count() > 60 {
        title.push('…');
    }
    title
}

/// `kind · tags`, for a resource picker.
fn describe(m: &Memory) -> String {
    if m.tags.is_empty() {
        m.kind.clone()
    } else {
        format!("{} · {}", m.kind, m.tags.join(", "))
    }
}

/// Every field of a memory but its content.
pub fn meta(m: &Memory) -> MetaObject {
    let mut fields = match serde_json::to_value(m) {
        Ok(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    fields.remove("content");
    MetaObject(
        json!({ "memoryd/memory": fields })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// Reads a resource; an unknown memory or role is the spec's resource-not-found error.
pub async fn read(app: &App, uri: &str) -> Result<ReadResourceResult> {
    let contents = match Target::parse(uri)? {
        Target::Memory { namespace, id } => {
            let m = app
                .store()
                .get(namespace, id)
                .await
                .map_err(|err| match err {
                    Error::NotFound { .. } => Error::ResourceNotFound {
                        uri: uri.to_string(),
                        reason: err.to_string(),
                    },
                    other => other,
                })?;
            ResourceContents::TextResourceContents {
                uri: uri.to_string(),
                mime_type: Some("text/markdown".into()),
                text: m.content.clone(),
                meta: Some(meta(&m)),
            }
        }
        Target::Pins { namespace, role } => {
            if !app.config().roles.contains_key(&role) {
                let known: Vec<&str> = app.config().roles.keys().map(String::as_str).collect();
                return Err(Error::ResourceNotFound {
                    uri: uri.to_string(),
                    reason: format!("no role '{role}'\nthe roles are: {}", known.join(", ")),
                });
            }
            let pinned = app
                .store()
                .pinned_for(namespace.clone(), role.clone(), Validity::Current)
                .await?;
            ResourceContents::TextResourceContents {
                uri: uri.to_string(),
                mime_type: Some("text/markdown".into()),
                text: pins_text(&role, &pinned),
                meta: None,
            }
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// A role's pins as markdown: each memory's title, URI and content.
fn pins_text(role: &str, pinned: &[Memory]) -> String {
    if pinned.is_empty() {
        return format!("Nothing is pinned for {role}.\n");
    }
    let mut text = format!("# Pinned for {role}\n");
    for m in pinned {
        text.push_str(&format!(
            "\n## {}\n<{}>\n\n{}\n",
            display_title(m),
            memory_uri(&m.namespace, &m.id),
            m.content.trim_end()
        ));
    }
    text
}

impl MemoryServer {
    /// Answers `resources/list`: one page of the namespace `_meta` names, and from then on
    /// this session is told when that list changes.
    pub(super) async fn on_list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        // rmcp moves the request's `_meta` into the context.
        let cursor = request.and_then(|r| r.cursor);
        let namespace = requested_namespace(Some(&context.meta.0.0))?;
        // A namespace the caller may not read lists nothing (lists show only what the caller
        // may read; they never refuse).
        if !access::caller(&context).may_read(&namespace) {
            return Ok(ListResourcesResult::with_all_items(Vec::new()));
        }
        let result = list(&self.app, namespace.clone(), cursor).await?;
        // A client that lists is told when the list changes.
        self.session
            .followed
            .lock()
            .await
            .follow_list(&self.app, &namespace)
            .await?;
        self.start_following(&context.peer);
        Ok(result)
    }

    /// Answers `resources/read`, and logs the read to the session.
    #[allow(deprecated)]
    pub(super) async fn on_read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        access::check_mcp(&access::caller(&context), access::uri_needs(&request.uri))?;
        let result = read(&self.app, &request.uri).await;
        self.log(
            &context.peer,
            LoggingLevel::Debug,
            || json!({"event": "resource read", "uri": request.uri, "ok": result.is_ok()}),
        )
        .await;
        Ok(result?.into())
    }
}

/// The namespace a list request asks for: `_meta["memoryd/namespace"]`, else `default`.
pub(super) fn requested_namespace(meta: Option<&JsonObject>) -> Result<String, Error> {
    match meta.and_then(|m| m.get(NAMESPACE_META)) {
        None | Some(Value::Null) => crate::memory::namespace(None),
        Some(Value::String(namespace)) => crate::memory::namespace(Some(namespace)),
        Some(other) => Err(Error::invalid(
            NAMESPACE_META,
            format!("must be a namespace name (a string), got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_with_awkward_namespaces() {
        for namespace in ["default", "org/proj", "a:b.c_d-e"] {
            let target = Target::Memory {
                namespace: namespace.into(),
                id: "0192".into(),
            };
            assert_eq!(Target::parse(&target.uri()).unwrap(), target);
            let pins = Target::Pins {
                namespace: namespace.into(),
                role: "planner".into(),
            };
            assert_eq!(Target::parse(&pins.uri()).unwrap(), pins);
        }
        assert_eq!(memory_uri("org/proj", "x"), "memory://org%2Fproj/x");
    }

    #[test]
    fn bad_uris_say_what_is_wrong() {
        for (uri, why) in [
            ("file:///etc/passwd", "does not start with memory://"),
            ("memory://default", "wrong number of parts"),
            ("memory://default/a/b", "wrong number of parts"),
            ("memory://default/", "wrong number of parts"),
            ("memory://de%zzfault/x", "namespace is not valid"),
            ("memory://default/%FF", "not UTF-8"),
            ("memory://bad%20space/x", "namespace is not valid"),
        ] {
            let err = Target::parse(uri).unwrap_err().to_string();
            assert!(err.contains(why), "{uri}: {err}");
            assert!(err.contains(MEMORY_TEMPLATE), "{err}");
        }
    }
}
