//! Meta-tools for large catalogues (`catalogue = "meta"`): instead of every tool, an endpoint
//! lists `search_tools`, `describe_tool` and `call_tool`. They see exactly what `tools/list`
//! would have shown the caller (the same policy, the same rules), so a tool the caller may not
//! see is never found, described or called through them; `call_tool` runs the named tool
//! through the whole pipeline, audited as that tool.

use portcullis_core::PublishedTool;
use rmcp::model::{CallToolResult, ContentBlock, ErrorData, Tool};
use serde_json::{Value, json};

pub const SEARCH: &str = "search_tools";
pub const DESCRIBE: &str = "describe_tool";
pub const CALL: &str = "call_tool";

/// Most results one search returns.
const MAX_RESULTS: usize = 50;

/// The three tools a meta endpoint lists.
pub fn tools() -> Vec<Tool> {
    let define = |name: &str, description: &str, schema: Value| -> Option<Tool> {
        serde_json::from_value(json!({
            "name": name,
            "description": description,
            "inputSchema": schema,
            "annotations": {"readOnlyHint": name != CALL},
        }))
        .ok()
    };
    [
        define(
            SEARCH,
            "Find tools by words in their names and descriptions. Returns each match's name, \
             description and whether it only reads; describe_tool gives its input schema.",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "Words to look for; empty lists every tool."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "At most this many results (default 10)."}
            }}),
        ),
        define(
            DESCRIBE,
            "The full definition of one tool (its input schema above all), by name.",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}
            }}),
        ),
        define(
            CALL,
            "Call a tool found with search_tools, by name, with its arguments.",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "arguments": {"type": "object", "description": "The tool's arguments, as its input schema says."}
            }}),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The tools among `visible` that match `arguments.query` best, as a result.
pub fn search(visible: &[&PublishedTool], arguments: Option<&Value>) -> Result<Value, ErrorData> {
    let query = match arguments.and_then(|a| a.get("query")) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(q)) => q.to_lowercase(),
        Some(_) => return Err(ErrorData::invalid_params("query must be a string", None)),
    };
    let limit = match arguments.and_then(|a| a.get("limit")) {
        None | Some(Value::Null) => 10,
        Some(v) => match v.as_u64() {
            Some(n @ 1..) => (n as usize).min(MAX_RESULTS),
            _ => {
                return Err(ErrorData::invalid_params(
                    format!("limit must be a whole number from 1 to {MAX_RESULTS}"),
                    None,
                ));
            }
        },
    };
    let terms: Vec<&str> = query.split_whitespace().collect();
    let mut scored: Vec<(usize, &PublishedTool)> = visible
        .iter()
        .filter_map(|tool| {
            let name = tool.name.to_lowercase();
            let description = description(tool).to_lowercase();
            let score: usize = terms
                .iter()
                .map(|t| 3 * usize::from(name.contains(t)) + usize::from(description.contains(t)))
                .sum();
            (terms.is_empty() || score > 0).then_some((score, *tool))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let total = scored.len();
    let found: Vec<Value> = scored
        .into_iter()
        .take(limit)
        .map(|(_, tool)| {
            json!({
                "name": tool.name,
                "description": description(tool),
                "read_only": tool.read_only,
            })
        })
        .collect();
    Ok(structured(json!({"tools": found, "total": total})))
}

/// The definition of `tool`, as a result.
pub fn describe(tool: &Tool) -> Value {
    structured(serde_json::to_value(tool).unwrap_or(Value::Null))
}

/// The name and arguments `call_tool` was asked to call.
pub fn target(arguments: Option<Value>) -> Result<(String, Option<Value>), ErrorData> {
    let mut arguments = arguments.unwrap_or(Value::Null);
    let name = arguments
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorData::invalid_params("name (a string) is required", None))?
        .to_string();
    let inner = match arguments.get_mut("arguments").map(Value::take) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(Value::Object(o)),
        Some(_) => {
            return Err(ErrorData::invalid_params(
                "arguments must be an object",
                None,
            ));
        }
    };
    Ok((name, inner))
}

pub fn name_of(arguments: Option<&Value>) -> Result<&str, ErrorData> {
    arguments
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorData::invalid_params("name (a string) is required", None))
}

fn description(tool: &PublishedTool) -> &str {
    tool.definition
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `value` as a tool result: JSON text and the same as structured content.
fn structured(value: Value) -> Value {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    serde_json::to_value(result).unwrap_or(Value::Null)
}
