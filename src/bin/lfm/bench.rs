//! `lfm bench`: prefill and decode speed of the GPU backend, weight bytes per decoded token,
//! and the adapter's own copy bandwidth measured in the same run, so speed reads as a
//! fraction of what the hardware can move.

use std::sync::Arc;
use std::time::Instant;

use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{bench, GpuContext, GpuModel};
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::rng::Rng;
use lfm_webgpu::sampling::{Sampler, SamplingParams};
use serde_json::json;

use crate::info::human_bytes;
use crate::{hub, Format};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// GGUF file (e.g. a random-weight file from ../shared/fixtures/tools/gen_synth_gguf.py)
    /// or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
    #[arg(long)]
    model: String,
    /// Prompt length for the prefill measurement (random token ids).
    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,
    /// Tokens decoded one at a time (greedy) after the prompt.
    #[arg(long, default_value_t = 32)]
    gen_tokens: usize,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(a: &BenchArgs) -> crate::Result<()> {
    let path = hub::resolve(&a.model)?;
    let ctx = Arc::new(GpuContext::new_blocking()?);
    let t0 = Instant::now();
    let file = GgufFile::open(&path)?;
    let model = GpuModel::new(ctx.clone(), &file.header, &SharedBytes::new(file.shared_bytes()))?;
    let load_s = t0.elapsed().as_secs_f64();
    let c = &model.config;

    let mut rng = Rng::new(1);
    let prompt: Vec<u32> = (0..a.prompt_tokens.max(1)).map(|_| rng.below(c.vocab_size) as u32).collect();
    let mut state = model.new_state((prompt.len() + a.gen_tokens + 1).min(c.context_length))?;
    let mut greedy = Sampler::new(SamplingParams::default());
    let t0 = Instant::now();
    let mut next = model.forward_sample_blocking(&mut state, &prompt, &mut greedy)?;
    let prefill_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    for _ in 0..a.gen_tokens {
        next = model.forward_sample_blocking(&mut state, &[next], &mut greedy)?;
    }
    let decode_s = t0.elapsed().as_secs_f64();

    let copy_bw = pollster::block_on(bench::copy_bandwidth(&ctx, 256 << 20, 5))?;
    let per_token = bench::weight_bytes_per_token(&model);
    let decode_tps = a.gen_tokens as f64 / decode_s;
    let decode_bw = per_token as f64 * decode_tps;
    let info = &ctx.adapter_info;
    let report = json!({
        "model": path.display().to_string(),
        "adapter": { "name": info.name, "backend": format!("{:?}", info.backend), "device_type": format!("{:?}", info.device_type) },
        "weight_bytes": model.weight_bytes,
        "load_s": load_s,
        "prompt_tokens": prompt.len(),
        "prefill_tokens_per_s": prompt.len() as f64 / prefill_s,
        "gen_tokens": a.gen_tokens,
        "decode_tokens_per_s": decode_tps,
        "weight_bytes_per_token": per_token,
        "copy_bandwidth_bytes_per_s": copy_bw,
        "decode_bytes_per_s": decode_bw,
        "decode_fraction_of_copy_bandwidth": decode_bw / copy_bw,
    });
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("adapter      {} ({:?}, {:?})", info.name, info.backend, info.device_type);
    println!(
        "model        {} ({} of weights, loaded in {load_s:.1} s)",
        path.display(),
        human_bytes(model.weight_bytes)
    );
    println!("prefill      {} tokens at {:.1} tok/s", prompt.len(), prompt.len() as f64 / prefill_s);
    println!("decode       {} tokens at {decode_tps:.2} tok/s", a.gen_tokens);
    println!("per token    {} of weights read", human_bytes(per_token));
    println!(
        "bandwidth    decode {:.2} GB/s = {:.1} % of the adapter's copy bandwidth ({:.2} GB/s)",
        decode_bw / 1e9,
        100.0 * decode_bw / copy_bw,
        copy_bw / 1e9
    );
    Ok(())
}
