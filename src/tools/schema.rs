//! Tool schemas that every client can read.
//!
//! schemars writes an `Option<T>` as `"type": ["T", "null"]` and adds formats of its own
//! (`uint`, `int64`, `double`). Both are legal JSON Schema, but validators warn on the
//! formats and clients that map schemas onto a single-`type` dialect (Gemini's OpenAPI
//! subset, for one) reject the arrays. [`portable`] rewrites a schema so neither appears: an
//! optional argument is typed as its value (leaving it out is how a caller says "none"; the
//! server still accepts `null`), and a nullable value elsewhere becomes `anyOf` with a
//! `null` branch.

use rmcp::model::JsonObject;
use serde_json::{Value, json};

/// The formats JSON Schema 2020-12 defines; any other is dropped.
const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Keywords that belong to a value's type, moved into the non-null branch of an `anyOf`.
const TYPE_KEYWORDS: [&str; 16] = [
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
];

/// Which side of a call a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Arguments: an optional property is typed as its value.
    Input,
    /// Structured output: a property the server may set to `null` says so with `anyOf`.
    Output,
}

/// Rewrites `schema` in place (see the module doc).
pub fn portable(schema: &mut JsonObject, side: Side) {
    visit(schema, side);
}

fn visit(schema: &mut JsonObject, side: Side) {
    if let Some(Value::String(format)) = schema.get("format")
        && !STANDARD_FORMATS.contains(&format.as_str())
    {
        schema.remove("format");
    }
    let required: Vec<String> = match schema.get("required") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if let Value::Object(property) = property {
                let optional_argument = side == Side::Input && !required.contains(name);
                untangle_null(property, optional_argument);
            }
        }
    }
    for key in ["$defs", "definitions", "properties"] {
        if let Some(Value::Object(children)) = schema.get_mut(key) {
            for child in children.values_mut() {
                if let Value::Object(child) = child {
                    visit(child, side);
                }
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(Value::Object(child)) = schema.get_mut(key) {
            visit(child, side);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = schema.get_mut(key) {
            for branch in branches {
                if let Value::Object(branch) = branch {
                    untangle_null(branch, false);
                    visit(branch, side);
                }
            }
        }
    }
}

/// Replaces `"type": [T, "null"]`: with `T` alone for an optional argument, else with
/// `anyOf: [{type: T, ...}, {type: null}]`.
fn untangle_null(schema: &mut JsonObject, optional_argument: bool) {
    let Some(Value::Array(types)) = schema.get("type") else {
        return;
    };
    if !types.iter().any(|t| t == "null") {
        return;
    }
    let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    let value_type = match rest.as_slice() {
        [one] => one.clone(),
        _ => Value::Array(rest),
    };
    if optional_argument {
        schema.insert("type".into(), value_type);
        return;
    }
    schema.remove("type");
    let mut branch = JsonObject::new();
    branch.insert("type".into(), value_type);
    for keyword in TYPE_KEYWORDS {
        if let Some(value) = schema.remove(keyword) {
            branch.insert(keyword.into(), value);
        }
    }
    schema.insert(
        "anyOf".into(),
        json!([Value::Object(branch), {"type": "null"}]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn optional_arguments_take_their_value_type_and_lose_odd_formats() {
        let mut schema = object(json!({
            "type": "object",
            "required": ["query"],
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": ["integer", "null"], "format": "int64", "minimum": 1},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                "when": {"type": ["string", "null"], "format": "date-time"}
            }
        }));
        portable(&mut schema, Side::Input);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "when": {"type": "string", "format": "date-time"}
                }
            })
        );
    }

    #[test]
    fn nullable_outputs_become_any_of_with_the_constraints_inside() {
        let mut schema = object(json!({
            "type": "object",
            "properties": {
                "title": {"description": "Title.", "type": ["string", "null"]},
                "score": {"type": "number", "format": "double"}
            },
            "$defs": {
                "Item": {"type": "object", "properties": {
                    "n": {"type": ["integer", "null"], "format": "uint", "minimum": 0}
                }}
            }
        }));
        portable(&mut schema, Side::Output);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                "properties": {
                    "title": {"description": "Title.", "anyOf": [{"type": "string"}, {"type": "null"}]},
                    "score": {"type": "number"}
                },
                "$defs": {
                    "Item": {"type": "object", "properties": {
                        "n": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
                    }}
                }
            })
        );
    }
}
