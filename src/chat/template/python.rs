//! The Python semantics that leak into a chat template's output under jinja2, so that
//! minijinja renders byte for byte what transformers' `apply_chat_template` renders:
//!
//! - printing (`{{ x }}`), `x | string` and `join` use Python's `str()`: `True`, `None`,
//!   `['a', 'b']`, `{'k': 1}`, `2.5`, `1e-05`;
//! - `tojson` is transformers' filter, `json.dumps(x, ensure_ascii=False)` (see [`super::json`]);
//! - `trim` strips what Python's `str.strip()` strips.

use std::fmt::Write;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

use super::json::{json_dumps, JsonStyle};

// ---------------------------------------------------------------------------------------------
// str() and repr()
// ---------------------------------------------------------------------------------------------

/// Python's `str(x)`. Undefined prints as nothing (jinja2's default `Undefined`).
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => py_repr(v),
    }
}

/// Python's `repr(x)`: how a value prints inside a list or dict.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::Undefined => out.push_str("Undefined"),
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number_str(v)),
        ValueKind::String => write_str_repr(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Vec<Value> = v.try_iter().map(|it| it.collect()).unwrap_or_default();
            let (open, close) = if v.is_tuple() { ('(', ')') } else { ('[', ']') };
            out.push(open);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            if v.is_tuple() && items.len() == 1 {
                out.push(',');
            }
            out.push(close);
        }
        ValueKind::Map => {
            out.push('{');
            for (i, (k, val)) in map_pairs(v).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, k);
                out.push_str(": ");
                write_repr(out, val);
            }
            out.push('}');
        }
        // Iterables, plain objects, bytes: minijinja's own rendering (no Python analogue here).
        _ => {
            let _ = write!(out, "{v}");
        }
    }
}

/// The (key, value) pairs of a map in iteration (insertion) order.
pub fn map_pairs(v: &Value) -> Vec<(Value, Value)> {
    match v.as_object().and_then(|o| o.try_iter_pairs()) {
        Some(pairs) => pairs.collect(),
        None => Vec::new(),
    }
}

/// `repr()` of a Python str: single quotes unless the text has a `'` and no `"`.
fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    write_quoted(out, s, quote);
}

/// `s` as a Python string literal in `quote`s, escaped as `repr()` escapes.
pub fn write_quoted(out: &mut String, s: &str, quote: char) {
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let n = c as u32;
                let _ = match n {
                    0..=0xff => write!(out, "\\x{n:02x}"),
                    0x100..=0xffff => write!(out, "\\u{n:04x}"),
                    _ => write!(out, "\\U{n:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one character, approximated without the Unicode database:
/// controls (Cc), separators other than the ASCII space (Zs, Zl, Zp), the common format
/// characters (Cf), surrogates and private use are not printable. Unassigned code points (Cn),
/// which Python also escapes, print as themselves here.
pub fn is_printable(c: char) -> bool {
    !matches!(c as u32,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad
        | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x1680 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000
        | 0xd800..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..)
}

/// `str()` of a Python int or float.
fn number_str(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => float_repr(f),
        Err(_) => v.to_string(),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional notation for
/// exponents in -4..16 (`0.0001`, `2.5`, `1e+16`, `1e-05`), always with a `.` or an exponent.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7", "2.5e0", "0e0".
    let sci = format!("{:e}", f.abs());
    // LowerExp always writes `e` and an integer exponent; Rust's own Display is the fallback.
    let Some((mantissa, Ok(exp))) = sci.split_once('e').map(|(m, e)| (m, e.parse::<i32>())) else {
        return f.to_string();
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
        } else if digits.len() <= point as usize {
            format!("{sign}{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{sign}{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

// ---------------------------------------------------------------------------------------------
// Filters and the output formatter
// ---------------------------------------------------------------------------------------------

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
pub fn tojson_filter(v: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut style = JsonStyle::default();
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    if let Some(indent) = indent.filter(|i| !i.is_none()) {
        style.indent = Some(match indent.as_str() {
            Some(s) => s.to_string(),
            None => " ".repeat(usize::try_from(indent)?),
        });
        style.item_sep = ",".into(); // json.dumps' default separators when indenting
    }
    if let Some(ensure_ascii) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        style.ensure_ascii = ensure_ascii;
    }
    if let Some(sort_keys) = kwargs.get::<Option<bool>>("sort_keys")? {
        style.sort_keys = sort_keys;
    }
    if let Some(seps) = kwargs.get::<Option<Value>>("separators")?.filter(|s| !s.is_none()) {
        let seps: Vec<Value> = seps.try_iter()?.collect();
        match (seps.first().and_then(Value::as_str), seps.get(1).and_then(Value::as_str), seps.len()) {
            (Some(item), Some(key), 2) => (style.item_sep, style.key_sep) = (item.into(), key.into()),
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "separators must be a pair of strings")),
        }
    }
    kwargs.assert_all_used()?;
    Ok(Value::from(json_dumps(v, &style)?))
}

/// jinja2's `string` filter: Python's `str()`.
pub fn string_filter(v: &Value) -> Value {
    match v.kind() {
        ValueKind::String => v.clone(),
        _ => Value::from(py_str(v)),
    }
}

/// jinja2's `join(value, d='', attribute=None)`: `str()` of every item.
pub fn join_filter(v: &Value, d: Option<&str>, attribute: Option<&str>) -> Result<Value, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(Value::from(""));
    }
    if let Some(s) = v.as_str() {
        // join over a string joins its characters
        let sep = d.unwrap_or("");
        return Ok(Value::from(s.chars().map(String::from).collect::<Vec<_>>().join(sep)));
    }
    let mut out = String::new();
    for (i, item) in v.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(d.unwrap_or(""));
        }
        let item = match attribute {
            Some(path) => path.split('.').try_fold(item, |x, part| match part.parse::<usize>() {
                Ok(idx) => x.get_item(&Value::from(idx)),
                Err(_) => x.get_attr(part),
            })?,
            None => item,
        };
        out.push_str(&py_str(&item));
    }
    Ok(Value::from(out))
}

/// jinja2's `trim(value, chars=None)`: Python's `str.strip()`.
pub fn trim_filter(v: &Value, chars: Option<&str>) -> Value {
    let s = py_str(v);
    let out = match chars {
        Some(chars) => s.trim_matches(|c| chars.contains(c)),
        None => s.trim_matches(is_py_space),
    };
    Value::from(out)
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators 0x1c..0x1f.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// How `{{ x }}` prints: Python's `str()` (jinja2 without autoescape).
pub fn format_output(out: &mut minijinja::Output, _state: &mut minijinja::State, v: &Value) -> Result<(), Error> {
    out.write_str(&py_str(v)).map_err(|_| Error::new(ErrorKind::WriteFailure, "failed to write output"))
}
