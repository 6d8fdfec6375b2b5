//! Python's `json.dumps`, as transformers' `tojson` filter calls it: insertion order,
//! `", "` / `": "` separators, no HTML escaping, and undefined values are an error
//! ("Object of type Undefined is not JSON serializable").

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

use super::python::{float_repr, map_pairs};

/// Options of Python's `json.dumps` that transformers' `tojson` filter forwards.
pub struct JsonStyle {
    pub ensure_ascii: bool,
    pub indent: Option<String>,
    pub item_sep: String,
    pub key_sep: String,
    pub sort_keys: bool,
}

impl Default for JsonStyle {
    fn default() -> Self {
        JsonStyle { ensure_ascii: false, indent: None, item_sep: ", ".into(), key_sep: ": ".into(), sort_keys: false }
    }
}

fn not_serializable(type_name: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("Object of type {type_name} is not JSON serializable"))
}

/// Python's `json.dumps(v, ...)`.
pub fn json_dumps(v: &Value, style: &JsonStyle) -> Result<String, Error> {
    let mut out = String::new();
    write_json(&mut out, v, style, 0)?;
    Ok(out)
}

fn write_json(out: &mut String, v: &Value, style: &JsonStyle, depth: usize) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined => return Err(not_serializable("Undefined")),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&json_number(v)),
        ValueKind::String => write_json_str(out, v.as_str().unwrap_or_default(), style.ensure_ascii),
        ValueKind::Seq => {
            let items: Vec<Value> = v.try_iter()?.collect();
            write_container(out, '[', ']', items.len(), style, depth, |out, i| {
                write_json(out, &items[i], style, depth + 1)
            })?;
        }
        ValueKind::Map => {
            let mut pairs = map_pairs(v);
            let mut keys = Vec::with_capacity(pairs.len());
            for (k, _) in &pairs {
                keys.push(json_key(k)?);
            }
            let mut order: Vec<usize> = (0..pairs.len()).collect();
            if style.sort_keys {
                order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
            }
            let pairs = std::mem::take(&mut pairs);
            write_container(out, '{', '}', order.len(), style, depth, |out, i| {
                let j = order[i];
                write_json_str(out, &keys[j], style.ensure_ascii);
                out.push_str(&style.key_sep);
                write_json(out, &pairs[j].1, style, depth + 1)
            })?;
        }
        ValueKind::Bytes => return Err(not_serializable("bytes")),
        _ => return Err(not_serializable(&v.kind().to_string())),
    }
    Ok(())
}

fn write_container(
    out: &mut String,
    open: char,
    close: char,
    n: usize,
    style: &JsonStyle,
    depth: usize,
    mut item: impl FnMut(&mut String, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if n == 0 {
        out.push(close);
        return Ok(());
    }
    let newline = |out: &mut String, level: usize| {
        if let Some(indent) = &style.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(indent);
            }
        }
    };
    for i in 0..n {
        if i > 0 {
            out.push_str(&style.item_sep);
        }
        newline(out, depth + 1);
        item(out, i)?;
    }
    newline(out, depth);
    out.push(close);
    Ok(())
}

/// A dict key as json.dumps writes it: str as is; int, float, bool and None converted.
fn json_key(k: &Value) -> Result<String, Error> {
    match k.kind() {
        ValueKind::String => Ok(k.as_str().unwrap_or_default().to_string()),
        ValueKind::Number => Ok(json_number(k)),
        ValueKind::Bool => Ok(if k.is_true() { "true" } else { "false" }.into()),
        ValueKind::None => Ok("null".into()),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("keys must be str, int, float, bool or None, not {}", k.kind()),
        )),
    }
}

fn json_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) if f.is_nan() => "NaN".into(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Ok(f) => float_repr(f),
        Err(_) => v.to_string(),
    }
}

/// A JSON string as Python writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other
/// controls as `\u00XX`; with `ensure_ascii` also every non-ASCII character (UTF-16 units).
fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
