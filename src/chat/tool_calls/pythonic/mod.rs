//! The Pythonic form, `[name(key=value, ...), ...]`, and the Python literals of its values.
//!
//! A recursive-descent parser over the section's text. Positions in diagnostics are byte
//! offsets into the section's content (after `<|tool_call_start|>`).

use serde_json::{Map, Value};

use super::{Call, MAX_DEPTH};

mod number;
mod string;
mod write;

pub use write::pythonic_call;

/// Parses a call list: `[call, ...]` (trailing comma allowed), or the same calls without the
/// brackets.
pub(super) fn parse_calls(src: &str) -> Result<Vec<Call>, String> {
    let mut p = Parser { src, pos: 0 };
    p.skip_ws();
    let bracketed = p.eat('[');
    let mut calls = Vec::new();
    loop {
        p.skip_ws();
        if (bracketed && p.eat(']')) || (!bracketed && p.at_end()) {
            break;
        }
        calls.push(p.call()?);
        p.skip_ws();
        if p.eat(',') {
            continue;
        }
        if bracketed && !p.eat(']') {
            return Err(p.unexpected("',' or ']' after a call", "the call list '[' is not closed"));
        }
        break;
    }
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("the end of the section after the call list", ""));
    }
    if !bracketed && calls.is_empty() {
        return Err("empty tool call section".into());
    }
    Ok(calls)
}

/// Parses one Python literal filling the whole text (surrounding whitespace allowed).
pub(super) fn parse_literal(src: &str) -> Result<Value, String> {
    let mut p = Parser { src, pos: 0 };
    let value = p.value(0)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected("the end of the value", ""));
    }
    Ok(value)
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next char.
    pos: usize,
}

impl<'a> Parser<'a> {
    // ---- characters ----

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, skip: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(skip)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    fn at_end(&self) -> bool {
        self.pos == self.src.len()
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// "expected X, found Y at byte N"; at the end of the section, `unclosed` if given.
    fn unexpected(&self, expected: &str, unclosed: &str) -> String {
        match self.peek() {
            None if !unclosed.is_empty() => format!("unbalanced brackets: {unclosed}"),
            None => format!("expected {expected}, found the end of the section"),
            Some(c) => format!("expected {expected}, found {c:?} at byte {}", self.pos),
        }
    }

    /// A Python identifier, also allowing `-` after the first char (tool names like `get-time`).
    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c == '_' || c.is_alphabetic() => self.bump(),
            _ => return None,
        };
        while matches!(self.peek(), Some(c) if c == '_' || c == '-' || c.is_alphanumeric()) {
            self.bump();
        }
        Some(&self.src[start..self.pos])
    }

    // ---- calls ----

    /// `name(key=value, ...)`, the name possibly dotted (`ns.fn`).
    fn call(&mut self) -> Result<Call, String> {
        let mut name = String::new();
        loop {
            match self.ident() {
                Some(part) => name.push_str(part),
                None => return Err(self.unexpected("a function name", "")),
            }
            if !self.eat('.') {
                break;
            }
            name.push('.');
        }
        self.skip_ws();
        if !self.eat('(') {
            return Err(self.unexpected(&format!("'(' after the function name '{name}'"), ""));
        }
        let unclosed = format!("the call to '{name}' is not closed");
        let mut arguments = Map::new();
        loop {
            self.skip_ws();
            if self.eat(')') {
                break;
            }
            let start = self.pos;
            let key = self.ident().map(str::to_string);
            self.skip_ws();
            let key = match key {
                Some(key) if self.peek() == Some('=') && self.peek_at(1) != Some('=') => key,
                _ if self.at_end() => return Err(format!("unbalanced brackets: {unclosed}")),
                _ => {
                    return Err(format!(
                        "positional argument at byte {start} in the call to '{name}': only \
                         keyword arguments (name=value) are supported"
                    ))
                }
            };
            self.bump();
            let value = self.value(0)?;
            if arguments.insert(key.clone(), value).is_some() {
                return Err(format!("keyword argument '{key}' repeated in the call to '{name}'"));
            }
            self.skip_ws();
            if self.eat(',') {
                continue;
            }
            if !self.eat(')') {
                return Err(self.unexpected(&format!("',' or ')' in the call to '{name}'"), &unclosed));
            }
            break;
        }
        Ok(Call { name, arguments })
    }

    // ---- values ----

    /// One value; `depth` is the number of containers around it.
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => Err("expected a value, found the end of the section".into()),
            Some('\'' | '"') => self.string(false),
            Some('[' | '(' | '{') => {
                if depth == MAX_DEPTH {
                    return Err(format!("values nested deeper than {MAX_DEPTH} levels at byte {start}"));
                }
                match self.bump() {
                    Some('[') => self.sequence(']', depth + 1, start).map(Value::Array),
                    Some('(') => self.parenthesized(depth + 1, start),
                    _ => self.braces(depth + 1, start),
                }
            }
            Some('-' | '+' | '.' | '0'..='9') => self.number(),
            Some(_) => {
                let Some(name) = self.ident() else {
                    return Err(self.unexpected("a value", ""));
                };
                match name {
                    "True" | "true" => Ok(Value::Bool(true)),
                    "False" | "false" => Ok(Value::Bool(false)),
                    "None" | "null" => Ok(Value::Null),
                    "r" | "R" | "u" | "U" if matches!(self.peek(), Some('\'' | '"')) => {
                        self.string(name.eq_ignore_ascii_case("r"))
                    }
                    _ => Err(format!("unexpected name '{name}' at byte {start}: string values must be quoted")),
                }
            }
        }
    }

    /// Values up to `close` (the opening bracket already eaten); a trailing comma is allowed.
    fn sequence(&mut self, close: char, depth: usize, start: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value(depth)?);
            self.skip_ws();
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(',') {
                let unclosed = format!("'{}' opened at byte {start} is not closed", &self.src[start..=start]);
                return Err(self.unexpected(&format!("',' or '{close}'"), &unclosed));
            }
        }
    }

    /// `()` and `(a, ...)` are tuples (JSON arrays); `(a)` is `a`.
    fn parenthesized(&mut self, depth: usize, start: usize) -> Result<Value, String> {
        self.skip_ws();
        if self.eat(')') {
            return Ok(Value::Array(Vec::new()));
        }
        let first = self.value(depth)?;
        self.skip_ws();
        if self.eat(')') {
            return Ok(first);
        }
        if !self.eat(',') {
            let unclosed = format!("'(' opened at byte {start} is not closed");
            return Err(self.unexpected("',' or ')'", &unclosed));
        }
        let mut items = vec![first];
        items.extend(self.sequence(')', depth, start)?);
        Ok(Value::Array(items))
    }

    /// `{key: value, ...}` is a dict (JSON object); `{a, ...}` a set (JSON array).
    fn braces(&mut self, depth: usize, start: usize) -> Result<Value, String> {
        self.skip_ws();
        if self.eat('}') {
            return Ok(Value::Object(Map::new()));
        }
        let unclosed = format!("'{{' opened at byte {start} is not closed");
        let key_start = self.pos;
        let first = self.value(depth)?;
        self.skip_ws();
        if !self.eat(':') {
            if self.eat('}') {
                return Ok(Value::Array(vec![first]));
            }
            if !self.eat(',') {
                return Err(self.unexpected("':', ',' or '}'", &unclosed));
            }
            let mut items = vec![first];
            items.extend(self.sequence('}', depth, start)?);
            return Ok(Value::Array(items));
        }
        let mut map = Map::new();
        let mut key = dict_key(first, key_start)?;
        loop {
            let value = self.value(depth)?;
            map.insert(key, value); // a repeated key: the last one wins, as in Python
            self.skip_ws();
            if self.eat('}') {
                return Ok(Value::Object(map));
            }
            if !self.eat(',') {
                return Err(self.unexpected("',' or '}' in a dict", &unclosed));
            }
            self.skip_ws();
            if self.eat('}') {
                return Ok(Value::Object(map));
            }
            let key_start = self.pos;
            key = dict_key(self.value(depth)?, key_start)?;
            self.skip_ws();
            if !self.eat(':') {
                return Err(self.unexpected("':' after a dict key", &unclosed));
            }
        }
    }
}

/// A dict key as a JSON object key: strings as they are; numbers, booleans and None as
/// Python's `json.dumps` writes them.
fn dict_key(key: Value, at: usize) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("null".into()),
        _ => Err(format!("dict key at byte {at} is a list, tuple or dict (not hashable)")),
    }
}
