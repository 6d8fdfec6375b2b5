//! The messages a template sees: transformers' preparation, then the tool-call normalization
//! every front end needs (the CLI, the browser chat, the npm package's OpenAI-style API):
//!
//! - OpenAI clients send a call's `function.arguments` as a *string* holding JSON; the LFM2.5
//!   template does `arguments.items()`, which fails on a string. So `arguments` becomes the
//!   object the string holds (absent, `null` or blank: `{}`), or the render fails with
//!   [`TemplateError::BadToolCall`].
//! - Some templates (LFM2's, LFM2.5-Instruct's) do not render `tool_calls` at all, so the calls
//!   would vanish from the prompt, and the model would see answers to calls it never made. For
//!   those the calls are written into the content the way the model writes them,
//!   `<|tool_call_start|>[name(key='value')]<|tool_call_end|>`, and `tool_calls` is removed.
//!
//! Both deviate from transformers, which raises on the first and drops the calls on the second.

use serde_json::{json, Map, Value};

use super::TemplateError;
use crate::chat::tool_calls::{arguments_object, pythonic_call, TOOL_CALL_END, TOOL_CALL_START};

/// Message `index` as the template gets it. `renders_tool_calls`: whether the template's source
/// mentions `tool_calls` (if not, the calls go into the content).
pub(super) fn prepare(index: usize, m: &Value, renders_tool_calls: bool) -> Result<Value, TemplateError> {
    let mut out = preprocess(m).ok_or(TemplateError::BadMessage { index })?;
    let bad = |call: usize, reason: String| TemplateError::BadToolCall { index, call, reason };
    match out.get_mut("tool_calls") {
        Some(Value::Array(calls)) => {
            for (i, call) in calls.iter_mut().enumerate() {
                if let Some(function) = function_mut(call) {
                    let arguments = arguments_object(function.remove("arguments")).map_err(|why| {
                        let name = function.get("name").and_then(Value::as_str).unwrap_or_default();
                        bad(i, format!("'{name}': {why}"))
                    })?;
                    function.insert("arguments".into(), Value::Object(arguments));
                }
            }
        }
        Some(_) if !renders_tool_calls => return Err(bad(0, "`tool_calls` is not a list".into())),
        _ => {}
    }
    if renders_tool_calls {
        return Ok(Value::Object(out));
    }
    let Some(Value::Array(mut calls)) = out.remove("tool_calls") else {
        return Ok(Value::Object(out));
    };
    if calls.is_empty() {
        return Ok(Value::Object(out));
    }
    let mut written = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter_mut().enumerate() {
        let function = function_mut(call).ok_or_else(|| bad(i, "the call has no function".into()))?;
        let Some(Value::String(name)) = function.get("name") else {
            return Err(bad(i, "the call has no function name".into()));
        };
        written.push(pythonic_call(name, &function["arguments"]));
    }
    let section = format!("{TOOL_CALL_START}[{}]{TOOL_CALL_END}", written.join(", "));
    let content = match out.remove("content") {
        None => Value::String(section),
        Some(Value::String(text)) => Value::String(text + &section),
        Some(Value::Array(mut parts)) => {
            parts.push(json!({"type": "text", "text": section}));
            Value::Array(parts)
        }
        Some(_) => {
            return Err(bad(
                0,
                "the content is neither a string nor a list of parts, so the calls cannot go into it".into(),
            ))
        }
    };
    out.insert("content".into(), content);
    Ok(Value::Object(out))
}

/// transformers' message preparation: keys whose value is `null` are dropped; the reasoning
/// text (`reasoning_content`, else `thinking`, else `reasoning`) is copied into both
/// `thinking` and `reasoning_content`. `None` if the message is not an object.
fn preprocess(m: &Value) -> Option<Map<String, Value>> {
    let mut out: Map<String, Value> =
        m.as_object()?.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let reasoning = ["reasoning_content", "thinking", "reasoning"].iter().find_map(|k| out.get(*k).cloned());
    if let Some(r) = reasoning {
        out.insert("thinking".into(), r.clone());
        out.insert("reasoning_content".into(), r);
    }
    Some(out)
}

/// The object holding a call's `name` and `arguments`: its `function` (OpenAI's shape), or the
/// call itself if it has either key (`{name, arguments}`). `None`: there is none.
fn function_mut(call: &mut Value) -> Option<&mut Map<String, Value>> {
    let call = call.as_object_mut()?;
    if matches!(call.get("function"), Some(Value::Object(_))) {
        return call.get_mut("function").and_then(Value::as_object_mut);
    }
    (call.contains_key("name") || call.contains_key("arguments")).then_some(call)
}
