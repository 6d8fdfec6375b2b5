//! The JSON form: `[{"name": ..., "arguments": {...}}, ...]` or one such object.
//!
//! Also taken: `"parameters"` for `"arguments"`, the OpenAI shape
//! `{"type": "function", "function": {"name": ..., "arguments": ...}}`, `arguments` as a string
//! holding JSON (decoded), and, when the section is not valid JSON, the same structure written
//! as Python literals (single quotes, `True`, trailing commas).

use serde_json::Value;

use super::{arguments_object, pythonic, Call, MAX_DEPTH};

/// Whether a section starts like the JSON form: `{` or `[` then `{`.
pub(super) fn looks_like_json(src: &str) -> bool {
    let src = src.trim_start();
    src.starts_with('{') || src.strip_prefix('[').is_some_and(|rest| rest.trim_start().starts_with('{'))
}

pub(super) fn parse_calls(src: &str) -> Result<Vec<Call>, String> {
    let value = match serde_json::from_str::<Value>(src) {
        Ok(value) => value,
        Err(json_error) => pythonic::parse_literal(src).map_err(|_| format!("invalid JSON: {json_error}"))?,
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => return Err("expected a JSON object or an array of objects".into()),
    };
    items.into_iter().enumerate().map(|(i, item)| call(i, item)).collect()
}

/// Call `i` of the section.
fn call(i: usize, item: Value) -> Result<Call, String> {
    let Value::Object(mut object) = item else {
        return Err(format!("call {i}: expected an object with \"name\" and \"arguments\""));
    };
    if !object.contains_key("name") {
        if let Some(Value::Object(function)) = object.remove("function") {
            object = function;
        }
    }
    let name = match object.remove("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => return Err(format!("call {i}: \"name\" is missing or not a non-empty string")),
    };
    let arguments = object.remove("arguments").or_else(|| object.remove("parameters"));
    let arguments = arguments_object(arguments).map_err(|why| format!("call {i} ('{name}'): {why}"))?;
    if let Some(deepest) = arguments.values().map(depth).max().filter(|&d| d > MAX_DEPTH) {
        return Err(format!("call {i} ('{name}'): values nested {deepest} levels deep (at most {MAX_DEPTH})"));
    }
    Ok(Call { name, arguments })
}

/// How many containers deep a value goes (a scalar: 0). serde_json bounds the recursion (128).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
