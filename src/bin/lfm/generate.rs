//! `lfm generate` and `lfm logits`.

use std::time::Instant;

use lfm_webgpu::reference::Logits;
use lfm_webgpu::sampling::{Sampler, SamplingParams};
use pollster::block_on;
use serde_json::json;

use crate::load::{load, BackendChoice, KvCacheChoice, Loaded};
use crate::{hub, Format, Result};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// GGUF file or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
    #[arg(long)]
    model: String,
    /// Raw prompt text (BOS is added when the model asks for it; no chat template).
    #[arg(long, required_unless_present = "tokens", conflicts_with = "tokens")]
    prompt: Option<String>,
    /// Prompt as comma-separated token ids, used as given.
    #[arg(long, value_delimiter = ',')]
    tokens: Option<Vec<u32>>,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Penalize the last 64 tokens (1 is off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep generating past the end-of-sequence token.
    #[arg(long)]
    ignore_eos: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// How the GPU keeps the KV cache: f16 (half the memory) or f32 (exact).
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCacheChoice,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(clap::Args)]
pub struct LogitsArgs {
    /// GGUF file or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
    #[arg(long)]
    model: String,
    /// Comma-separated token ids.
    #[arg(long, value_delimiter = ',', required = true)]
    tokens: Vec<u32>,
    /// How many of the largest logits to print per position.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// How the GPU keeps the KV cache: f16 (half the memory) or f32 (exact).
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCacheChoice,
}

pub fn generate(a: &GenerateArgs) -> Result<()> {
    let Loaded { backend: model, tokenizer, .. } = load(&hub::resolve(&a.model)?, a.backend, a.kv_cache, false)?;
    let backend = model.name();
    let prompt: Vec<u32> = match (&a.tokens, &a.prompt) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => tokenizer.encode(text, true)?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let params = SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repetition_penalty: a.repetition_penalty,
        seed: a.seed,
        ..Default::default()
    };
    let mut sampler = Sampler::new(params);
    let mut state = model.new_sequence(prompt.len() + a.max_tokens)?;
    let context = model.config().context_length;

    let start = Instant::now();
    let mut next = block_on(model.next_token(&mut state, &prompt, &mut sampler))?;
    let prefill_s = start.elapsed().as_secs_f64();
    let mut tokens = Vec::new();
    let mut finish = "length";
    let decode_start = Instant::now();
    while tokens.len() < a.max_tokens {
        if !a.ignore_eos && Some(next) == tokenizer.eos_id() {
            finish = "stop";
            break;
        }
        tokens.push(next);
        if tokens.len() == a.max_tokens {
            break;
        }
        if prompt.len() + tokens.len() >= context {
            finish = "context";
            break;
        }
        next = block_on(model.next_token(&mut state, &[next], &mut sampler))?;
    }
    let decode_s = decode_start.elapsed().as_secs_f64();
    let text = tokenizer.decode(&tokens, false)?;
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    match a.format {
        Format::Json => println!(
            "{}",
            json!({
                "prompt_tokens": prompt,
                "tokens": tokens,
                "text": text,
                "finish_reason": finish,
                "backend": backend,
                "timings": {
                    "prefill_tokens_per_s": rate(prompt.len(), prefill_s),
                    "decode_tokens_per_s": rate(tokens.len().saturating_sub(1), decode_s),
                }
            })
        ),
        Format::Text => {
            println!("{text}");
            eprintln!(
                "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s, finish: {finish}]",
                prompt.len(),
                rate(prompt.len(), prefill_s),
                tokens.len(),
                rate(tokens.len().saturating_sub(1), decode_s)
            );
        }
    }
    Ok(())
}

pub fn logits(a: &LogitsArgs) -> Result<()> {
    let Loaded { backend: model, .. } = load(&hub::resolve(&a.model)?, a.backend, a.kv_cache, false)?;
    let mut state = model.new_sequence(a.tokens.len())?;
    let all = block_on(model.forward(&mut state, &a.tokens, Logits::All))?;
    let top: Vec<Vec<(u32, f32)>> = all.chunks(model.config().vocab_size).map(|row| top_logits(row, a.top)).collect();
    println!("{}", json!({ "top": top }));
    Ok(())
}

/// The k largest logits with their ids, largest first (ties: lower id first).
fn top_logits(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    let k = k.min(row.len());
    idx.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
        row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b))
    });
    idx.truncate(k);
    idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    idx.into_iter().map(|i| (i, row[i as usize])).collect()
}
