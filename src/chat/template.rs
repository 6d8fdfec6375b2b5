//! Chat templates: a conversation (OpenAI-shaped messages, optional tools) to the prompt text
//! the model was trained on, rendered from the GGUF's own `tokenizer.chat_template` exactly as
//! transformers' `apply_chat_template(..., tokenize=False)` renders it.
//!
//! transformers runs jinja2 (`ImmutableSandboxedEnvironment(trim_blocks=True,
//! lstrip_blocks=True)` + `loopcontrols` + its `{% generation %}` extension) with these names:
//! `messages`, `tools`, `documents`, `add_generation_prompt`, `bos_token` / `eos_token` /
//! `pad_token`, the caller's extra variables, and the globals `strftime_now(fmt)` and
//! `raise_exception(msg)`; filter `tojson` is `json.dumps(x, ensure_ascii=False)`. Here the
//! engine is minijinja, configured the same way, with the Python behaviour that shows in the
//! output copied in `python.rs` (`True` / `None` / `['a', 'b']` from `| string`, Python float
//! repr, JSON without HTML escaping, ...). Before rendering, transformers drops the message keys
//! whose value is `None` and copies `reasoning_content` / `thinking` / `reasoning` into both
//! `thinking` and `reasoning_content`; so does [`ChatTemplate::render`].
//!
//! On purpose unlike transformers, tool calls are normalized for every front end (see
//! `messages.rs`): `function.arguments` given as a JSON string (OpenAI's wire format) becomes the
//! object it holds, and a template that does not render `tool_calls` gets the calls written into
//! the message's content the way the model writes them.
//!
//! Checked against every rendering in `shared/fixtures/chat/chat_golden.json`
//! (`tests/chat_template.rs`), those deviations aside.

mod clock;
mod json;
mod messages;
pub(crate) mod python;

use std::borrow::Cow;
use std::fmt;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Map, Value};

pub use clock::DateTime;

use crate::gguf::Gguf;

/// LFM2.5's chat template (LiquidAI/LFM2.5-8B-A1B, as in llama.cpp's
/// `models/templates/LFM2.5-8B-A1B.jinja`): the fallback for a GGUF without one.
pub const LFM2_5_TEMPLATE: &str = include_str!("lfm2_5.jinja");

/// The GGUF metadata key that holds the model's template.
pub const GGUF_TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// The template's name inside the environment (shows in error locations).
const NAME: &str = "chat_template";

/// The work one render may do, in minijinja fuel (about one unit per instruction or per 64
/// bytes of data): a template comes with the model file, and one that loops without end must
/// fail with [`TemplateError::Render`] instead of hanging the chat. LFM2.5's template renders
/// 8,000 messages and 64 tools (a 600 KB prompt, more than any context holds) with under 1
/// million; running out of this takes about half a second natively.
pub const FUEL: u64 = 10_000_000;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TemplateError {
    /// The template source does not parse.
    #[error("chat template does not compile: {0}")]
    Syntax(String),
    /// The template called `raise_exception(message)`.
    #[error("chat template raised an exception: {0}")]
    Raised(String),
    /// Rendering failed (jinja2 would raise too), e.g. `Undefined | tojson` or
    /// `.items()` on a string.
    #[error("chat template failed to render: {0}")]
    Render(String),
    #[error("message {index} is not a JSON object")]
    BadMessage { index: usize },
    /// Message `index`'s tool call `call` (counted from 0) cannot be used: its `arguments` is
    /// neither a JSON object nor a string holding one, or, for a template that does not render
    /// `tool_calls` (so the calls are written into the content), it has no function name.
    #[error("message {index}, tool call {call}: {reason}")]
    BadToolCall { index: usize, call: usize, reason: String },
}

/// The special-token strings the template sees as `bos_token`, `eos_token` and `pad_token`.
/// `None`: the variable is undefined (prints as nothing), as in transformers for a tokenizer
/// without that token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: Option<String>,
    pub eos: Option<String>,
    pub pad: Option<String>,
}

impl SpecialTokens {
    /// The text of the BOS / EOS / padding tokens named by `tokenizer.ggml.*_token_id`
    /// (`tokenizer.ggml.tokens[id]`); a missing or out-of-range id gives `None`.
    pub fn from_gguf(g: &Gguf) -> SpecialTokens {
        let tokens = g.get_string_array("tokenizer.ggml.tokens").unwrap_or_default();
        let text = |key: &str| {
            let id = g.get_usize(key).ok()?;
            tokens.get(id).map(|t| t.to_string())
        };
        SpecialTokens {
            bos: text("tokenizer.ggml.bos_token_id"),
            eos: text("tokenizer.ggml.eos_token_id"),
            pad: text("tokenizer.ggml.padding_token_id"),
        }
    }
}

/// Where a [`ChatTemplate`]'s source came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Given to [`ChatTemplate::new`].
    Custom,
    /// The GGUF's `tokenizer.chat_template`.
    Gguf,
    /// [`LFM2_5_TEMPLATE`], because the GGUF has no template.
    BuiltinFallback,
}

/// Optional inputs of [`ChatTemplate::render`].
#[derive(Clone, Debug, Default)]
pub struct RenderExtra {
    /// More template variables (transformers' `**kwargs`), e.g. `preserve_thinking`,
    /// `keep_past_thinking`. They override the special tokens and `strftime_now`, not
    /// `messages`, `tools`, `documents` or `add_generation_prompt`.
    pub vars: Map<String, Value>,
    /// The time `strftime_now` formats; `None`: [`DateTime::now`].
    pub now: Option<DateTime>,
}

impl RenderExtra {
    pub fn var(mut self, name: impl Into<String>, value: Value) -> RenderExtra {
        self.vars.insert(name.into(), value);
        self
    }

    pub fn now(mut self, now: DateTime) -> RenderExtra {
        self.now = Some(now);
        self
    }
}

/// A compiled chat template plus the special-token strings it is rendered with.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    special: SpecialTokens,
    origin: Origin,
    /// The source mentions `tool_calls`: it renders an assistant message's calls itself.
    renders_tool_calls: bool,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("source_len", &self.source.len())
            .field("special", &self.special)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles a template (once); no special tokens (see [`ChatTemplate::with_special_tokens`]).
    pub fn new(source: &str) -> Result<ChatTemplate, TemplateError> {
        Self::compile(source, SpecialTokens::default(), Origin::Custom)
    }

    /// The GGUF's own template, or [`LFM2_5_TEMPLATE`] if it has none, with the file's
    /// BOS / EOS / padding token text.
    pub fn from_gguf(g: &Gguf) -> Result<ChatTemplate, TemplateError> {
        let special = SpecialTokens::from_gguf(g);
        match g.get_str(GGUF_TEMPLATE_KEY) {
            Ok(source) if !source.trim().is_empty() => Self::compile(source, special, Origin::Gguf),
            _ => Self::compile(LFM2_5_TEMPLATE, special, Origin::BuiltinFallback),
        }
    }

    pub fn with_special_tokens(mut self, special: SpecialTokens) -> ChatTemplate {
        self.special = special;
        self
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// Whether the template renders an assistant message's `tool_calls` (its source mentions
    /// them, like LFM2.5's). If not (LFM2's), [`ChatTemplate::render`] writes the calls into
    /// the message's content instead.
    pub fn renders_tool_calls(&self) -> bool {
        self.renders_tool_calls
    }

    fn compile(source: &str, special: SpecialTokens, origin: Origin) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| TemplateError::Syntax(format!("template syntax settings: {e}")))?;
        env.set_syntax(syntax);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Lenient); // jinja2's default `Undefined`
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(python::format_output);
        env.add_filter("tojson", python::tojson_filter);
        env.add_filter("string", python::string_filter);
        env.add_filter("join", python::join_filter);
        env.add_filter("trim", python::trim_filter);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message.clone())
                .with_source(Raised(message)))
        });
        env.add_template_owned(NAME, without_generation_tags(source).into_owned())
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        let renders_tool_calls = source.contains("tool_calls");
        Ok(ChatTemplate { env, source: source.to_string(), special, origin, renders_tool_calls })
    }

    /// Renders a conversation: `messages` are OpenAI-shaped message objects (`role`,
    /// `content` as a string or a list of typed parts, `tool_calls`, `reasoning_content`,
    /// ...), `tools` JSON-schema tool descriptions (`{"type": "function", "function": {...}}`
    /// or bare `{name, description, parameters}`). A call's `arguments` may be an object or a
    /// string holding one.
    pub fn render(
        &self,
        messages: &[Value],
        tools: Option<&[Value]>,
        add_generation_prompt: bool,
        extra: &RenderExtra,
    ) -> Result<String, TemplateError> {
        let messages = messages
            .iter()
            .enumerate()
            .map(|(index, m)| messages::prepare(index, m, self.renders_tool_calls))
            .collect::<Result<Vec<_>, _>>()?;

        let now = extra.now.unwrap_or_else(DateTime::now);
        let mut ctx: Vec<(String, minijinja::Value)> = Vec::new();
        for (name, token) in
            [("bos_token", &self.special.bos), ("eos_token", &self.special.eos), ("pad_token", &self.special.pad)]
        {
            if let Some(token) = token {
                ctx.push((name.into(), minijinja::Value::from(token.as_str())));
            }
        }
        ctx.push(("strftime_now".into(), minijinja::Value::from_function(move |fmt: &str| now.strftime(fmt))));
        ctx.extend(extra.vars.iter().map(|(k, v)| (k.clone(), to_jinja(v))));
        ctx.push(("messages".into(), minijinja::Value::from(messages.iter().map(to_jinja).collect::<Vec<_>>())));
        let tools = match tools {
            Some(tools) => minijinja::Value::from(tools.iter().map(to_jinja).collect::<Vec<_>>()),
            None => minijinja::Value::from(()),
        };
        ctx.push(("tools".into(), tools));
        ctx.push(("documents".into(), minijinja::Value::from(())));
        ctx.push(("add_generation_prompt".into(), minijinja::Value::from(add_generation_prompt)));
        // Later pairs win, like Python's keyword arguments over `**kwargs` here.
        let ctx = minijinja::Value::from_pairs(ctx);

        let template = self.env.get_template(NAME).map_err(|e| TemplateError::Render(e.to_string()))?;
        template.render(ctx).map_err(render_error)
    }
}

/// What `raise_exception` attaches to its error, to tell it apart from other failures.
#[derive(Debug)]
struct Raised(String);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

fn render_error(e: minijinja::Error) -> TemplateError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(Raised(message)) = err.downcast_ref::<Raised>() {
            return TemplateError::Raised(message.clone());
        }
        source = err.source();
    }
    TemplateError::Render(e.to_string())
}

/// A JSON value as a template value; object keys keep their order (Python dicts do).
fn to_jinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => minijinja::Value::from(i),
            (None, Some(u), _) => minijinja::Value::from(u),
            (None, None, f) => minijinja::Value::from(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(a) => minijinja::Value::from(a.iter().map(to_jinja).collect::<Vec<_>>()),
        Value::Object(o) => minijinja::Value::from_pairs(o.iter().map(|(k, v)| (k.as_str(), to_jinja(v)))),
    }
}

/// transformers' `{% generation %}...{% endgeneration %}` only marks the assistant's tokens
/// (for `return_assistant_tokens_mask`) and renders its body unchanged: it becomes
/// `{% if true %}...{% endif %}`, keeping the tags' whitespace control.
fn without_generation_tags(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        match parse_generation_tag(tag) {
            Some((len, open_flag, keyword, close_flag)) => {
                let body = if keyword == "generation" { "if true" } else { "endif" };
                out.push_str(&format!("{{%{open_flag} {body} {close_flag}%}}"));
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `{%[-+]? (generation|endgeneration) [-+]?%}` at the start of `tag`: (its length, the opening
/// whitespace flag, the keyword, the closing flag).
fn parse_generation_tag(tag: &str) -> Option<(usize, &str, &str, &str)> {
    let mut i = 2;
    let flag = |i: usize| tag[i..].chars().next().filter(|c| *c == '-' || *c == '+').map(|c| c.len_utf8()).unwrap_or(0);
    let open_len = flag(i);
    let open_flag = &tag[i..i + open_len];
    i += open_len;
    i += tag[i..].len() - tag[i..].trim_start().len();
    let word_len = tag[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tag.len() - i);
    let keyword = &tag[i..i + word_len];
    if keyword != "generation" && keyword != "endgeneration" {
        return None;
    }
    i += word_len;
    i += tag[i..].len() - tag[i..].trim_start().len();
    let close_len = flag(i);
    let close_flag = &tag[i..i + close_len];
    i += close_len;
    tag[i..].starts_with("%}").then_some((i + 2, open_flag, keyword, close_flag))
}
