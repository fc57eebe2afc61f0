//! Tool-argument extraction with errors that name the argument.
//!
//! rmcp's own `Parameters` reports serde's message alone ("invalid type: integer `5`, expected
//! a string"), which does not say *which* argument was wrong. This `Parameters` does the same
//! job through `serde_path_to_error`, so every bad argument becomes
//! [`Error::InvalidArgument`] naming it. rmcp's `#[tool]` macro finds the input schema of any
//! argument type named `Parameters`, so this type plugs in unchanged.

use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A tool's arguments, deserialised from the call's `arguments` object.
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        Ok(Parameters(parse(arguments)?))
    }
}

/// Deserialises tool arguments, naming the offending argument on failure.
pub fn parse<P: DeserializeOwned>(arguments: JsonObject) -> Result<P, Error> {
    // PostgreSQL cannot store NUL in text, and no memory needs one: refuse it everywhere, the
    // same on every engine, rather than fail half-way in one of them.
    if let Some(path) = nul_at(&arguments) {
        return Err(Error::invalid(
            path,
            "contains a NUL character (\\u0000), which memoryd does not store\nremove it from the text",
        ));
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        if let Some(field) = backticked(&message, "missing field `") {
            return Error::invalid(field, "is required");
        }
        if let Some(field) = backticked(&message, "unknown field `") {
            let expected = message
                .split_once(", ")
                .map(|(_, rest)| format!("\n{rest}"))
                .unwrap_or_default();
            return Error::invalid(field, format!("is not an argument of this tool{expected}"));
        }
        let argument = if path == "." {
            "arguments".to_string()
        } else {
            path
        };
        Error::invalid(argument, message)
    })
}

/// The argument (as `a.b[2]`) of the first string or key holding a NUL character.
fn nul_at(arguments: &JsonObject) -> Option<String> {
    fn walk(value: &serde_json::Value, path: String) -> Option<String> {
        match value {
            serde_json::Value::String(s) if s.contains('\0') => Some(path),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => object(map, &format!("{path}.")),
            _ => None,
        }
    }
    fn object(map: &JsonObject, prefix: &str) -> Option<String> {
        map.iter().find_map(|(k, v)| {
            let path = format!("{prefix}{k}");
            if k.contains('\0') {
                Some(path)
            } else {
                walk(v, path)
            }
        })
    }
    object(arguments, "")
}

/// The name between `prefix` and the next backtick, when `message` starts with `prefix`.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        id: String,
        limit: Option<i64>,
        tags: Option<Vec<String>>,
    }

    fn err(v: serde_json::Value) -> String {
        let serde_json::Value::Object(o) = v else {
            panic!()
        };
        parse::<Args>(o).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_argument() {
        assert_eq!(err(json!({})), "invalid argument 'id': is required");
        assert_eq!(
            err(json!({"id": 5})),
            "invalid argument 'id': invalid type: integer `5`, expected a string"
        );
        assert_eq!(
            err(json!({"id": "x", "tags": ["a", 1]})),
            "invalid argument 'tags[1]': invalid type: integer `1`, expected a string"
        );
        let unknown = err(json!({"id": "x", "tag": "a"}));
        assert!(
            unknown.starts_with(
                "invalid argument 'tag': is not an argument of this tool\nexpected one of `id`"
            ),
            "{unknown}"
        );
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        assert!(err(json!({"id": "\u{0}"})).starts_with("invalid argument 'id': contains a NUL"));
        assert!(
            err(json!({"id": "x", "metadata": {"a": ["ok", "b\u{0}"]}}))
                .starts_with("invalid argument 'metadata.a[1]': contains a NUL")
        );
    }
}
