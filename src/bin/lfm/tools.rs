//! The tools `lfm chat` offers the model: the built-in local ones (`clock`, `calculator`),
//! which run on this machine once the user confirms, and the schemas of a `--tools` file,
//! which have no implementation here (the user types their results).

use std::path::Path;

use lfm_webgpu::chat::template::DateTime;
use serde_json::{json, Value};

use crate::calculator;
use crate::Result;

/// The schemas of the built-in tools (OpenAI shape).
pub fn builtin_schemas() -> Vec<Value> {
    vec![
        json!({"type": "function", "function": {
            "name": "clock",
            "description": "The current date, time and weekday. UTC unless an offset is given.",
            "parameters": {"type": "object", "properties": {
                "utc_offset": {"type": "number", "description": "Hours from UTC of the wanted time zone, e.g. 2 or -5.5"}
            }, "required": []}}}),
        json!({"type": "function", "function": {
            "name": "calculator",
            "description": "Evaluate an arithmetic expression: + - * / ^ % and parentheses, sqrt, sin, cos, tan, ln, log, exp, abs, pi, e.",
            "parameters": {"type": "object", "properties": {
                "expression": {"type": "string", "description": "The expression, e.g. 2*(3+4)^2"}
            }, "required": ["expression"]}}}),
    ]
}

pub fn is_builtin(name: &str) -> bool {
    matches!(name, "clock" | "calculator")
}

/// Runs a built-in tool; `Err` is a message for the model.
pub fn run_builtin(name: &str, args: &Value) -> std::result::Result<String, String> {
    match name {
        "clock" => clock(args.get("utc_offset")),
        "calculator" => {
            let expression = match args.get("expression") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err("calculator needs an `expression` argument (a string)".into()),
            };
            calculator::eval(&expression).map(calculator::format)
        }
        _ => Err(format!("there is no built-in tool named `{name}`")),
    }
}

/// `2026-01-15T14:30:00+02:00 (Thursday)`.
fn clock(offset: Option<&Value>) -> std::result::Result<String, String> {
    let hours = match offset {
        None | Some(Value::Null) => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => {
            parse_offset(s).ok_or_else(|| format!("`{s}` is not a UTC offset (like 2, -5.5 or +05:30)"))?
        }
        Some(v) => return Err(format!("utc_offset must be a number of hours, not {v}")),
    };
    if !(-14.0..=14.0).contains(&hours) {
        return Err(format!("utc_offset {hours} is outside -14..14 hours"));
    }
    let minutes = (hours * 60.0).round() as i64;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let t = DateTime::from_unix(now + minutes * 60);
    let sign = if minutes < 0 { '-' } else { '+' };
    Ok(format!(
        "{}{sign}{:02}:{:02} ({})",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        minutes.abs() / 60,
        minutes.abs() % 60,
        t.strftime("%A")
    ))
}

/// `2`, `-5.5`, `+05:30`, `UTC+2`.
fn parse_offset(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s.strip_prefix("UTC").or_else(|| s.strip_prefix("GMT")).unwrap_or(s).trim();
    if s.is_empty() {
        return Some(0.0);
    }
    match s.split_once(':') {
        Some((h, m)) => {
            let h: f64 = h.parse().ok()?;
            let m: f64 = m.parse().ok()?;
            Some(if s.starts_with('-') { h - m / 60.0 } else { h + m / 60.0 })
        }
        None => s.parse().ok(),
    }
}

/// A JSON array of tool schemas (OpenAI `{"type": "function", "function": {...}}` or bare
/// `{name, description, parameters}`), each with a name.
pub fn load_file(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tools: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let Value::Array(tools) = tools else {
        return Err(format!("{}: expected a JSON array of tool schemas", path.display()).into());
    };
    for (i, t) in tools.iter().enumerate() {
        if name_of(t).is_none() {
            return Err(format!(
                "{}: tool {i} has no name (want {{\"type\": \"function\", \"function\": {{\"name\": ...}}}})",
                path.display()
            )
            .into());
        }
    }
    Ok(tools)
}

/// A schema's tool name.
pub fn name_of(schema: &Value) -> Option<&str> {
    schema.get("function").unwrap_or(schema).get("name")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins() {
        assert_eq!(run_builtin("calculator", &json!({"expression": "2*(3+4)"})), Ok("14".into()));
        assert!(run_builtin("calculator", &json!({"expression": "2*(3+"})).is_err());
        assert!(run_builtin("calculator", &json!({})).unwrap_err().contains("expression"));
        let now = run_builtin("clock", &json!({})).unwrap();
        assert!(&now[10..11] == "T" && &now[19..27] == "+00:00 (" && now.ends_with("day)"), "{now}");
        assert!(run_builtin("clock", &json!({"utc_offset": "+05:30"})).unwrap().contains("+05:30"));
        assert!(run_builtin("clock", &json!({"utc_offset": -5.5})).unwrap().contains("-05:30"));
        assert!(run_builtin("clock", &json!({"utc_offset": 99})).is_err());
        assert!(run_builtin("clock", &json!({"utc_offset": "soon"})).is_err());
    }
}
