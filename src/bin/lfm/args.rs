//! What `chat` and `run` share: the model and sampling arguments, the session they build, the
//! per-answer speed line, and two environment hooks for tests:
//!
//! - `LFM_FIXED_DATE=2026-01-15` (or `2026-01-15T12:00:00`): the date templates print with
//!   `strftime_now` (also read by `prompt`);
//! - `LFM_FORCE_OUTPUT`: text forced as the start of the model's answer
//!   ([`Request::forced_output`]), so a test can make a tiny model "call" a tool. A JSON array
//!   of strings gives one per user turn, in order; plain text applies to every user turn.

use std::collections::VecDeque;

use std::sync::Arc;

use lfm_webgpu::chat::template::{ChatTemplate, DateTime, RenderExtra};
use lfm_webgpu::engine::{Done, Request, Session};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::sampling::SamplingParams;
use serde_json::Value;

use crate::load::{load_file, BackendChoice, KvCacheChoice, Loaded};
use crate::{hub, Result, DEFAULT_MODEL};

#[derive(clap::Args)]
pub struct ModelArgs {
    /// GGUF file, or Hub repo ORG/NAME[:FILE_OR_QUANT] (from the HF cache, downloaded when missing).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Most tokens the conversation may hold, prompt and answers together (capped at the model's).
    #[arg(long, default_value_t = 8192)]
    pub context: usize,
    /// How the GPU keeps the KV cache: f16 (half the memory) or f32 (exact).
    #[arg(long, value_enum, default_value = "f16")]
    pub kv_cache: KvCacheChoice,
}

impl ModelArgs {
    /// Resolves and loads the model (reporting progress) and starts a session on it; also
    /// returns its chat template.
    pub fn open(&self) -> Result<(Loaded, Arc<ChatTemplate>, Session)> {
        let path = hub::resolve(&self.model)?;
        let file = GgufFile::open(&path)?;
        let template = Arc::new(ChatTemplate::from_gguf(&file.header)?);
        let extra = render_extra()?;
        let loaded = load_file(&path, &file, self.backend, self.kv_cache, true)?;
        let mut session =
            Session::new(loaded.backend.clone(), loaded.tokenizer.clone(), template.clone(), self.context)?;
        session.render_extra = extra;
        Ok((loaded, template, session))
    }
}

/// Sampling; unset values take the model card's recommendation (temperature 0.2, top-k 80,
/// repetition penalty 1.05, no top-p / min-p).
#[derive(clap::Args)]
pub struct SamplingArgs {
    /// 0 is greedy [default: 0.2]
    #[arg(long)]
    temperature: Option<f32>,
    /// [default: 80]
    #[arg(long)]
    top_k: Option<usize>,
    /// [default: 1, off]
    #[arg(long)]
    top_p: Option<f32>,
    /// [default: 0, off]
    #[arg(long)]
    min_p: Option<f32>,
    /// Over the last 64 tokens; 1 is off [default: 1.05]
    #[arg(long)]
    repetition_penalty: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl SamplingArgs {
    pub fn params(&self) -> SamplingParams {
        let card = Request::default().sampling;
        SamplingParams {
            temperature: self.temperature.unwrap_or(card.temperature),
            top_k: self.top_k.unwrap_or(card.top_k),
            top_p: self.top_p.unwrap_or(card.top_p),
            min_p: self.min_p.unwrap_or(card.min_p),
            repetition_penalty: self.repetition_penalty.unwrap_or(card.repetition_penalty),
            seed: self.seed,
            ..card
        }
    }
}

/// The template's clock: `LFM_FIXED_DATE` when set, else now.
pub fn render_extra() -> Result<RenderExtra> {
    let Ok(text) = std::env::var("LFM_FIXED_DATE") else { return Ok(RenderExtra::default()) };
    let bad = || format!("LFM_FIXED_DATE={text}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
    let (date, time) = text.split_once('T').unwrap_or((&text, "00:00:00"));
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.is_empty() || t.len() > 3 {
        return Err(bad().into());
    }
    let year = d[0].parse::<i32>().map_err(|_| bad())?;
    let mut now = DateTime::date(year, num(d[1])?, num(d[2])?);
    now.hour = num(t[0])?;
    now.minute = t.get(1).map_or(Ok(0), |m| num(m))?;
    now.second = t.get(2).map_or(Ok(0), |s| num(s))?;
    if !(1..=12).contains(&now.month)
        || !(1..=31).contains(&now.day)
        || now.hour > 23
        || now.minute > 59
        || now.second > 59
    {
        return Err(bad().into());
    }
    Ok(RenderExtra::default().now(now))
}

/// The `LFM_FORCE_OUTPUT` texts, one taken per user turn.
pub struct ForcedOutputs {
    queue: VecDeque<String>,
    every_turn: Option<String>,
}

impl ForcedOutputs {
    pub fn from_env() -> Result<ForcedOutputs> {
        let mut forced = ForcedOutputs { queue: VecDeque::new(), every_turn: None };
        let Ok(text) = std::env::var("LFM_FORCE_OUTPUT") else { return Ok(forced) };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => {
                for item in items {
                    let Value::String(s) = item else {
                        return Err("LFM_FORCE_OUTPUT: a JSON array must hold strings".into());
                    };
                    forced.queue.push_back(s);
                }
            }
            _ => forced.every_turn = Some(text),
        }
        Ok(forced)
    }

    /// The forced start of the next user turn's answer.
    pub fn next_turn(&mut self) -> Option<String> {
        self.queue.pop_front().or_else(|| self.every_turn.clone())
    }
}

/// `prefill 41 tokens (12 cached) at 812.5 tok/s · decode 17 tokens at 61.2 tok/s · stop`
pub fn speed_line(done: &Done) -> String {
    let (u, t) = (&done.usage, &done.timings);
    let finish =
        serde_json::to_value(done.finish_reason).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    format!(
        "prefill {} tokens ({} cached) at {:.1} tok/s · decode {} tokens at {:.1} tok/s · {finish}",
        u.prompt_tokens - u.cached_tokens,
        u.cached_tokens,
        t.prefill_tokens_per_s,
        u.completion_tokens,
        t.decode_tokens_per_s
    )
}
