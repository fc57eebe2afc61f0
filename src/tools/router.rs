//! The tool routes clients see: every tool of [`table::TOOLS`](super::table::TOOLS) merged
//! into one router, with schemas every client can read, and the files of `schemas/` made
//! from them. Routes only; calling a tool is [`calls`](super::calls)' job.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::Tool;

use super::{MemoryServer, schema, table};

impl MemoryServer {
    /// The routes of all tools (from [`table::TOOLS`]), with schemas every client can read.
    pub fn router() -> ToolRouter<MemoryServer> {
        let mut router = ToolRouter::new();
        for entry in &table::TOOLS {
            router.merge((entry.route)());
        }
        for route in router.map.values_mut() {
            let tool = &mut route.attr;
            let mut input = (*tool.input_schema).clone();
            schema::portable(&mut input, schema::Side::Input);
            tool.input_schema = Arc::new(input);
            if let Some(output) = &tool.output_schema {
                let mut output = (**output).clone();
                schema::portable(&mut output, schema::Side::Output);
                tool.output_schema = Some(Arc::new(output));
            }
        }
        router
    }

    /// Every tool's definition (name, description, schemas, annotations), sorted by name.
    pub fn tools() -> Vec<Tool> {
        Self::router().list_all()
    }

    /// The checked-in schema files: `<tool>.input.json` and, for tools with structured output,
    /// `<tool>.output.json`, as pretty JSON with a trailing newline. `memoryd schemas --out
    /// schemas` writes them; a test fails when `schemas/` differs.
    pub fn schema_files() -> Vec<(String, String)> {
        let pretty = |schema: &serde_json::Map<String, serde_json::Value>| {
            let mut text = serde_json::to_string_pretty(schema).expect("a schema serialises");
            text.push('\n');
            text
        };
        let mut files = Vec::new();
        for tool in Self::tools() {
            files.push((
                format!("{}.input.json", tool.name),
                pretty(&tool.input_schema),
            ));
            if let Some(output) = &tool.output_schema {
                files.push((format!("{}.output.json", tool.name), pretty(output)));
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::NAMES;

    /// Regenerate with `cargo run -- schemas --out schemas` when this fails on purpose.
    #[test]
    fn checked_in_schemas_match_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let files = MemoryServer::schema_files();
        for (name, want) in &files {
            let have = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                &have == want,
                "schemas/{name} differs from the code\nrun: cargo run -- schemas --out schemas"
            );
        }
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut expected: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        expected.sort();
        assert_eq!(on_disk, expected, "stale files in schemas/");
    }

    #[test]
    fn no_tool_schema_has_a_type_array_or_a_format_validators_do_not_know() {
        fn walk(value: &serde_json::Value, path: &str, problems: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(_)) = map.get("type") {
                        problems.push(format!("{path}: type array"));
                    }
                    if let Some(format) = map.get("format").and_then(|f| f.as_str())
                        && !["date-time", "date", "uri", "email", "uuid"].contains(&format)
                    {
                        problems.push(format!("{path}: format {format}"));
                    }
                    for (key, child) in map {
                        walk(child, &format!("{path}.{key}"), problems);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{path}[{i}]"), problems);
                    }
                }
                _ => {}
            }
        }
        let mut problems = Vec::new();
        for tool in MemoryServer::tools() {
            let input = serde_json::Value::Object((*tool.input_schema).clone());
            walk(&input, &format!("{}.input", tool.name), &mut problems);
            if let Some(output) = &tool.output_schema {
                let output = serde_json::Value::Object((**output).clone());
                walk(&output, &format!("{}.output", tool.name), &mut problems);
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_router_lists_exactly_the_table() {
        let names: Vec<String> = MemoryServer::tools()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names, NAMES);
    }
}
