//! The shipped chat templates (the built-in LFM2.5 fallback and the four fixture templates)
//! rendered with hostile conversations: odd roles, contents of every JSON type, special-token
//! and Jinja text inside strings, malformed tool calls and tool schemas, extra variables.
//! Rendering must return `Ok` or a `TemplateError`: never panic, never run unbounded.
//!
//! Input: byte 0 picks the template (low 3 bits) and `add_generation_prompt` (bit 3); the rest
//! is either JSON `{"messages": [...], "tools": [...], "vars": {...}}` (the seeds: the
//! conversations of chat_golden.json), or, when it is not JSON, bytes that drive a small
//! generator of messages.

#![no_main]

use lfm_webgpu::chat::template::{ChatTemplate, DateTime, RenderExtra, LFM2_5_TEMPLATE};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

const SOURCES: [&str; 5] = [
    LFM2_5_TEMPLATE,
    include_str!("../../../shared/fixtures/chat/templates/LFM2.5-8B-A1B.jinja"),
    include_str!("../../../shared/fixtures/chat/templates/LFM2.5-8B-A1B.original-6f4e9f58.jinja"),
    include_str!("../../../shared/fixtures/chat/templates/LFM2.5-Instruct.jinja"),
    include_str!("../../../shared/fixtures/chat/templates/LFM2-8B-A1B.jinja"),
];

static TEMPLATES: LazyLock<Vec<ChatTemplate>> =
    LazyLock::new(|| SOURCES.iter().map(|s| ChatTemplate::new(s).expect("shipped templates compile")).collect());

/// Strings a hostile or confused client would put in a message.
const WORDS: &[&str] = &[
    "system",
    "user",
    "assistant",
    "tool",
    "developer",
    "function",
    "content",
    "role",
    "text",
    "image",
    "type",
    "name",
    "arguments",
    "parameters",
    "tool_calls",
    "thinking",
    "</think>",
    "<think>",
    "<|im_start|>",
    "<|im_end|>",
    "<|startoftext|>",
    "<|tool_call_start|>",
    "<|tool_call_end|>",
    "{{ messages }}",
    "{% for m in messages %}",
    "{#",
    "'",
    "\"",
    "\\",
    "CONTINUE_FINAL_MESSAGE_TAG ",
    "",
    " ",
    "\n",
    "é👋",
    "\u{0}",
    "{\"a\": 1}",
    "[1, 2]",
    "null",
    "undefined",
    "__class__",
    "items",
];

/// Reads the generator's choices from the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn string(&mut self) -> String {
        let n = self.byte();
        if n < 128 {
            return WORDS[n as usize % WORDS.len()].to_string();
        }
        let n = (n as usize - 128).min(self.0.len());
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.byte() % if depth >= 6 { 5 } else { 7 } {
            0 => Value::Null,
            1 => Value::Bool(self.byte() & 1 == 1),
            2 => json!(i64::from(self.byte() as i8) << (self.byte() % 64)),
            3 => json!(f64::from(self.byte() as i8) / 3.0),
            4 => Value::String(self.string()),
            5 => Value::Array((0..self.byte() % 4).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Object(self.object(depth + 1)),
        }
    }

    fn object(&mut self, depth: usize) -> Map<String, Value> {
        (0..self.byte() % 4).map(|_| (self.string(), self.value(depth))).collect()
    }

    /// Mostly well-formed pieces, each of which may be any value instead.
    fn or_any(&mut self, depth: usize, typical: impl FnOnce(&mut Self) -> Value) -> Value {
        if self.byte() < 200 {
            typical(self)
        } else {
            self.value(depth)
        }
    }

    fn message(&mut self) -> Value {
        let mut m = Map::new();
        m.insert("role".into(), self.or_any(1, |b| Value::String(b.string())));
        m.insert(
            "content".into(),
            self.or_any(1, |b| match b.byte() % 3 {
                0 => Value::String(b.string()),
                1 => json!([{"type": "text", "text": b.string()}, {"type": b.string()}, b.value(2)]),
                _ => Value::Null,
            }),
        );
        let flags = self.byte();
        if flags & 1 != 0 {
            let calls = (0..self.byte() % 3).map(|_| self.tool_call()).collect();
            m.insert("tool_calls".into(), self.or_any(1, |_| Value::Array(calls)));
        }
        for (bit, key) in [(2, "reasoning_content"), (4, "thinking"), (8, "tool_call_id"), (16, "name")] {
            if flags & bit != 0 {
                m.insert(key.into(), self.or_any(1, |b| Value::String(b.string())));
            }
        }
        if flags & 32 != 0 {
            m.extend(self.object(1));
        }
        Value::Object(m)
    }

    fn tool_call(&mut self) -> Value {
        let arguments = self.or_any(2, |b| match b.byte() % 3 {
            0 => Value::Object(b.object(3)),
            1 => Value::String(Value::Object(b.object(3)).to_string()), // OpenAI's JSON string
            _ => Value::String(b.string()),
        });
        let function = json!({"name": self.or_any(3, |b| Value::String(b.string())), "arguments": arguments});
        match self.byte() % 3 {
            0 => json!({"id": self.string(), "type": "function", "function": function}),
            1 => function, // the bare {name, arguments} shape
            _ => self.value(2),
        }
    }

    fn tool(&mut self) -> Value {
        self.or_any(1, |b| {
            let parameters = json!({"type": "object", "properties": Value::Object(b.object(2))});
            json!({"type": "function", "function": {"name": b.string(), "description": b.string(), "parameters": parameters}})
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let template = &TEMPLATES[(flags & 7) as usize % TEMPLATES.len()];
    let add_generation_prompt = flags & 8 != 0;

    let (messages, tools, vars) = match serde_json::from_slice::<Value>(rest) {
        Ok(Value::Object(mut o)) => {
            let list = |v: Option<Value>| match v {
                Some(Value::Array(a)) => Some(a),
                Some(other) => Some(vec![other]),
                None => None,
            };
            let vars = match o.remove("vars") {
                Some(Value::Object(vars)) => vars,
                _ => Map::new(),
            };
            (list(o.remove("messages")).unwrap_or_default(), list(o.remove("tools")), vars)
        }
        Ok(other) => (vec![other], None, Map::new()),
        Err(_) => {
            let mut b = Bytes(rest);
            let messages = (0..b.byte() % 8).map(|_| b.message()).collect();
            let tools = match b.byte() % 3 {
                0 => None,
                _ => Some((0..b.byte() % 4).map(|_| b.tool()).collect()),
            };
            let vars = match b.byte() % 4 {
                0 => Map::from_iter([("preserve_thinking".to_string(), b.value(1))]),
                1 => b.object(1),
                _ => Map::new(),
            };
            (messages, tools, vars)
        }
    };

    let extra = RenderExtra { vars, now: Some(DateTime::date(2026, 1, 1)) };
    // Ok or a typed error are both fine: the target is for panics, hangs and aborts.
    let _ = template.render(&messages, tools.as_deref(), add_generation_prompt, &extra);
});
