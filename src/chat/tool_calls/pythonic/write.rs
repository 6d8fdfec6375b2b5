//! Writing calls in the Pythonic form: the inverse of the parser, for putting a call back into
//! a prompt the way the model writes it (and for showing it to a user).

use std::fmt::Write;

use serde_json::Value;

use crate::chat::template::python::{float_repr, write_quoted};

/// `name(key='value', n=3, flag=True, x=None, l=[1, 'a'], d={'k': 2.5})`: one call as the
/// model writes it, its arguments as Python literals. Strings are always single-quoted, escaped
/// the way Python's `repr` escapes them (`\\`, `\'`, `\n`, `\t`, `\r`, `\xNN` / `\uNNNN` /
/// `\UNNNNNNNN` for unprintable characters; other Unicode as it is); floats as Python's
/// `repr(float)` (`2.5`, `1e+16`). `arguments` is meant to be an object; any other value writes
/// a call without arguments.
///
/// The parser reads it back: `[pythonic_call(name, args)]` in a call section parses to
/// `name` and `args`, for keys that are identifiers.
pub fn pythonic_call(name: &str, arguments: &Value) -> String {
    let mut out = String::with_capacity(name.len() + 16);
    out.push_str(name);
    out.push('(');
    if let Value::Object(map) = arguments {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(key);
            out.push('=');
            write_literal(&mut out, value);
        }
    }
    out.push(')');
    out
}

/// A JSON value as a Python literal.
fn write_literal(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) if n.is_f64() => out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN))),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_literal(out, value);
            }
            out.push('}');
        }
    }
}

/// A single-quoted Python string literal (always `'`, as the model writes them).
fn write_string(out: &mut String, s: &str) {
    write_quoted(out, s, '\'');
}
