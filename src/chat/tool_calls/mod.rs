//! Tool calls in the model's output: a streaming parser that splits generated text into
//! user-visible text and tool calls.
//!
//! The model writes a call section as `<|tool_call_start|>CALLS<|tool_call_end|>`, where CALLS
//! is either the Pythonic form (the default of the LFM chat templates)
//!
//! ```text
//! [get_weather(city='Paris', days=3), f()]
//! ```
//!
//! or, when the system prompt asks for JSON, the JSON form
//!
//! ```text
//! [{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]
//! ```
//!
//! The input is detokenized text: the special tokens appear as their literal text.
//! [`pythonic_call`] writes a call back in the Pythonic form (which the parser reads back), for
//! putting it into a prompt or in front of a user.
//!
//! # Contract
//!
//! - **Text** outside call sections streams out as soon as it arrives, except a tail that could
//!   still become `<|tool_call_start|>` (at most 18 bytes), which waits for the next chunk or
//!   [`ToolCallParser::finish`]. No [`ParseEvent::Text`] is empty.
//! - **A section** is the text from `<|tool_call_start|>` to the *first* `<|tool_call_end|>`
//!   after it (the end marker is a special token, so its first appearance ends the section, even
//!   inside what looks like a string). Nothing of a section is emitted before its end marker
//!   arrives: a section is all-or-nothing.
//! - **A parsed section** emits one [`ParseEvent::ToolCall`] per call, in order, and no text. Its
//!   `arguments` is always a JSON object. Ids are `call_0`, `call_1`, ... counted per parser
//!   (over every section and across [`ToolCallParser::finish`]), so they are deterministic. An
//!   empty call list (`[]`) is a parsed section with no calls: it emits nothing.
//! - **A malformed section** emits exactly two adjacent events: `Text(raw)` and then
//!   `Malformed { raw, diagnostic }`, where `raw` is the section as the model wrote it, markers
//!   included: `<|tool_call_start|>` + content + `<|tool_call_end|>`, or without the end marker
//!   when the output ended inside the section (seen by `finish`). So nothing the model wrote is
//!   lost: the concatenated `Text` events always equal the input with the parsed sections
//!   removed. A malformed section takes no id.
//! - A `<|tool_call_end|>` outside a section is ordinary text.
//! - The event stream does not depend on how the input is split into chunks: texts
//!   concatenated, calls, ids and diagnostics are the same for any split.
//!
//! # Values
//!
//! The Pythonic form takes keyword arguments only; values are Python literals: strings (single,
//! double and triple quotes, `r`/`u` prefixes, Python escapes), ints (`_` separators,
//! `0x`/`0o`/`0b`), floats, `True`/`False`/`None` (and JSON's `true`/`false`/`null`, which the
//! templates write inside dicts), lists, tuples and sets (JSON arrays), dicts (keys that are
//! numbers, booleans or None become strings, as Python's `json.dumps` writes them). A quote
//! that is not followed by `,`, `)`, `]`, `}`, `:` or the end of the section does not close a
//! single-quoted string, because the LFM templates render `'It's'` unescaped and the model
//! writes it that way too.
//!
//! Numbers: an integer that fits `i64` or `u64` stays an integer; a larger one becomes the
//! nearest `f64` (JSON has no big integers; serde_json does the same in the JSON form). A
//! number beyond the `f64` range (`1e400`) is malformed. Values nest at most [`MAX_DEPTH`]
//! levels deep (lists, tuples, dicts, in both forms); deeper is malformed, never a stack
//! overflow.

mod json;
mod pythonic;

use serde_json::{Map, Value};

pub use pythonic::pythonic_call;

/// Opens a call section.
pub const TOOL_CALL_START: &str = "<|tool_call_start|>";
/// Closes a call section.
pub const TOOL_CALL_END: &str = "<|tool_call_end|>";
/// The deepest nesting of containers in an argument value (the `arguments` object itself is
/// not counted).
pub const MAX_DEPTH: usize = 64;

/// How the model writes its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ToolFormat {
    /// `[name(key=value, ...), ...]`: the default of the LFM templates.
    Pythonic,
    /// `[{"name": ..., "arguments": {...}}, ...]` or one such object: when the system prompt
    /// says "Output function calls as JSON".
    Json,
    /// JSON when the section starts with `{` or `[{`, Pythonic otherwise.
    #[default]
    Auto,
}

/// What the parser found in the text pushed to it.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseEvent {
    /// User-visible text.
    Text(String),
    /// A parsed call. `arguments` is a JSON object.
    ToolCall { id: String, name: String, arguments: Value },
    /// A call section that could not be parsed. Always right after `Text(raw)`.
    Malformed { raw: String, diagnostic: String },
}

/// One call parsed from a section, before it gets its id.
#[derive(Debug)]
struct Call {
    name: String,
    arguments: Map<String, Value>,
}

/// Splits streamed model output into text and tool calls; see the module docs for the contract.
#[derive(Clone, Debug)]
pub struct ToolCallParser {
    format: ToolFormat,
    /// Whether the parser is inside a call section.
    inside: bool,
    /// Outside a section: held-back text that may be the start of `<|tool_call_start|>`.
    /// Inside: the section's content so far (after the start marker).
    buf: String,
    /// Inside: how many bytes of `buf` have been searched for the end marker.
    searched: usize,
    /// The number of calls emitted so far: the next id.
    n_calls: u64,
}

impl ToolCallParser {
    pub fn new(format: ToolFormat) -> Self {
        ToolCallParser { format, inside: false, buf: String::new(), searched: 0, n_calls: 0 }
    }

    /// Whether the text so far ends inside a call section (started, not yet ended).
    pub fn in_tool_call(&self) -> bool {
        self.inside
    }

    /// Feeds the next piece of generated text; returns what it completes.
    pub fn push(&mut self, chunk: &str) -> Vec<ParseEvent> {
        let mut events = Vec::new();
        self.buf.push_str(chunk);
        loop {
            if self.inside {
                // The marker is ASCII, so a byte search finds it only at char boundaries.
                let from = self.searched.saturating_sub(TOOL_CALL_END.len() - 1);
                let Some(at) = find_bytes(&self.buf.as_bytes()[from..], TOOL_CALL_END.as_bytes()) else {
                    self.searched = self.buf.len();
                    break;
                };
                let end = from + at;
                let rest = self.buf.split_off(end + TOOL_CALL_END.len());
                self.buf.truncate(end);
                let content = std::mem::replace(&mut self.buf, rest);
                self.inside = false;
                self.close_section(&content, true, &mut events);
            } else if let Some(at) = self.buf.find(TOOL_CALL_START) {
                let rest = self.buf.split_off(at + TOOL_CALL_START.len());
                self.buf.truncate(at);
                push_text(&mut events, &self.buf);
                self.buf = rest;
                self.inside = true;
                self.searched = 0;
            } else {
                let keep = held_back_len(&self.buf);
                let rest = self.buf.split_off(self.buf.len() - keep);
                push_text(&mut events, &self.buf);
                self.buf = rest;
                break;
            }
        }
        events
    }

    /// Ends the output: flushes held-back text and reports an unclosed section as malformed.
    /// The parser can then be reused for the next output; ids keep counting.
    pub fn finish(&mut self) -> Vec<ParseEvent> {
        let mut events = Vec::new();
        let buf = std::mem::take(&mut self.buf);
        if self.inside {
            self.inside = false;
            self.close_section(&buf, false, &mut events);
        } else {
            push_text(&mut events, &buf);
        }
        self.searched = 0;
        events
    }

    fn close_section(&mut self, content: &str, closed: bool, events: &mut Vec<ParseEvent>) {
        let parsed = if closed {
            parse_section(self.format, content)
        } else {
            Err(format!("the output ended inside a tool call section (no {TOOL_CALL_END})"))
        };
        match parsed {
            Ok(calls) => {
                for call in calls {
                    events.push(ParseEvent::ToolCall {
                        id: format!("call_{}", self.n_calls),
                        name: call.name,
                        arguments: Value::Object(call.arguments),
                    });
                    self.n_calls += 1;
                }
            }
            Err(diagnostic) => {
                let end = if closed { TOOL_CALL_END } else { "" };
                let raw = format!("{TOOL_CALL_START}{content}{end}");
                events.push(ParseEvent::Text(raw.clone()));
                events.push(ParseEvent::Malformed { raw, diagnostic });
            }
        }
    }
}

/// Parses the content of one section (between the markers).
fn parse_section(format: ToolFormat, content: &str) -> Result<Vec<Call>, String> {
    let use_json = match format {
        ToolFormat::Pythonic => false,
        ToolFormat::Json => true,
        ToolFormat::Auto => json::looks_like_json(content),
    };
    let result = if use_json { json::parse_calls(content) } else { pythonic::parse_calls(content) };
    result.map_err(|mut diagnostic| {
        if content.contains(TOOL_CALL_START) {
            diagnostic += &format!(" (the section contains a second {TOOL_CALL_START})");
        }
        if !use_json && json::looks_like_json(content) {
            diagnostic += " (this looks like the JSON form: parse with ToolFormat::Json or Auto)";
        }
        diagnostic
    })
}

/// A call's `arguments` as clients and models give them: a JSON object; a string holding one
/// (OpenAI's wire format), decoded; or nothing (absent, `null` or a blank string), which is no
/// arguments. `Err`: why it is none of these.
pub(crate) fn arguments_object(arguments: Option<Value>) -> Result<Map<String, Value>, String> {
    match arguments {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(arguments)) => Ok(arguments),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(arguments)) => Ok(arguments),
            Ok(_) => Err("the arguments string is not a JSON object".into()),
            Err(e) => Err(format!("the arguments string is not valid JSON: {e}")),
        },
        Some(_) => Err("\"arguments\" is not an object".into()),
    }
}

fn push_text(events: &mut Vec<ParseEvent>, text: &str) {
    if !text.is_empty() {
        events.push(ParseEvent::Text(text.to_string()));
    }
}

/// The length of the longest tail of `text` that is a proper prefix of `<|tool_call_start|>`.
/// Such a tail is ASCII, so `text.len() - len` is a char boundary.
fn held_back_len(text: &str) -> usize {
    let (text, marker) = (text.as_bytes(), TOOL_CALL_START.as_bytes());
    (1..marker.len().min(text.len() + 1)).rev().find(|&n| text.ends_with(&marker[..n])).unwrap_or(0)
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
