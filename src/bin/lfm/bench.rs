//! `lfm bench`: prefill speed and time to first token at several prompt lengths, decode speed
//! at several context lengths, the bytes one decoded token reads, the GPU memory the model and
//! its state take, the kernel launches per token, and the adapter's own copy bandwidth measured
//! in the same run, so speed reads as a fraction of what the hardware can move.
//!
//! Decode at a long context uses a shortcut: the state's position is set to the context length
//! with its KV cache left zeroed (and conv states zero), then tokens are decoded as usual. The
//! attention reads every cached position as it would after a real prefill, so the work per
//! token is the same; only the values differ. A real 128K-token prefill would take hours on a
//! slow adapter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{bench, GpuContext, GpuModel};
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::rng::Rng;
use lfm_webgpu::sampling::SamplingParams;
use serde_json::{json, Value};

use crate::bench_runs::{counts_json, Bench, DecodeRun, Peak};
use crate::info::human_bytes;
use crate::load::KvCacheChoice;
use crate::{hub, Format};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// GGUF file (e.g. a random-weight file from ../shared/fixtures/tools/gen_synth_gguf.py)
    /// or Hub repo (ORG/NAME[:FILE_OR_QUANT]).
    #[arg(long)]
    model: String,
    /// Prompt lengths for the prefill and time-to-first-token measurements (random token
    /// ids), comma-separated; each is followed by --gen-tokens decoded tokens. 0: none.
    #[arg(long, value_delimiter = ',', default_value = "128")]
    prompt_tokens: Vec<usize>,
    /// Tokens decoded one at a time (sampled on the GPU, see --sampling) after each prompt and
    /// at each --context.
    #[arg(long, default_value_t = 16)]
    gen_tokens: usize,
    /// How decoded tokens are chosen: `greedy` (argmax) or `chat`, the chat's default
    /// sampling (temperature 0.2, top-k 80, repetition penalty 1.05: the top-k search and
    /// the penalty run on the GPU each token).
    #[arg(long, value_enum, default_value = "greedy")]
    sampling: BenchSampling,
    /// Context lengths to decode at, comma-separated (e.g. 1024,32768,131072): the KV cache
    /// holds that many positions, zeroed rather than prefilled (the same work per decoded
    /// token; capped at the model's context length). 0: none.
    #[arg(long, value_delimiter = ',', default_value = "1024")]
    context: Vec<usize>,
    /// How the KV cache keeps K and V: f16 (half the memory and attention reads) or f32.
    #[arg(long, value_enum, default_value = "f16")]
    kv_cache: KvCacheChoice,
    /// Skip the warm-up step (pipeline compilation then counts in the first measurement).
    #[arg(long)]
    no_warmup: bool,
    /// Also run a prefill of the first --prompt-tokens length and decode --gen-tokens tokens at
    /// the first --context length with each kernel submitted alone and timed, and print the
    /// time per token of every kernel (slower than a normal run; shows where the time goes).
    #[arg(long)]
    profile: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchSampling {
    Greedy,
    Chat,
}

impl BenchSampling {
    pub fn params(self) -> SamplingParams {
        match self {
            BenchSampling::Greedy => SamplingParams::default(),
            BenchSampling::Chat => lfm_webgpu::engine::Request::default().sampling,
        }
    }
}

/// The 1-minute load average (Linux), so a run on a busy machine can be told apart.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

pub fn run(a: &BenchArgs) -> crate::Result<()> {
    let load_before = load_average();
    let path = hub::resolve(&a.model)?;
    let ctx = Arc::new(GpuContext::new_blocking()?);
    eprintln!("bench: loading {}", path.display());
    let t0 = Instant::now();
    let file = GgufFile::open(&path)?;
    let plan = GpuModel::upload_plan(&file.header)?;
    let file_weight_bytes: u64 = plan.iter().map(|t| t.info.n_bytes()).sum();
    let mut types = BTreeMap::new();
    for t in &plan {
        *types.entry(format!("{:?}", t.info.ty)).or_insert(0usize) += 1;
    }
    let mut model = GpuModel::new(ctx.clone(), &file.header, &SharedBytes::new(file.shared_bytes()))?;
    model.kv_precision = a.kv_cache.into();
    let load_s = t0.elapsed().as_secs_f64();
    let c = model.config.clone();
    let gen = a.gen_tokens;
    let max_context = c.context_length.saturating_sub(gen + 1).max(1);

    let mut b = Bench { model: &model, rng: Rng::new(1), peak: None, last_rate: None, sampling: a.sampling.params() };
    if !a.no_warmup {
        eprintln!("bench: warm-up");
        b.warm_up()?;
    }
    let mut prefills = Vec::new();
    for &n in a.prompt_tokens.iter().filter(|&&n| n > 0) {
        prefills.push(b.prefill(n.min(max_context), gen)?);
    }
    let mut decodes = Vec::new();
    if gen > 0 {
        for &n in a.context.iter().filter(|&&n| n > 0) {
            if n > max_context {
                eprintln!(
                    "bench: context {n} capped at {max_context} (the context length less the generated tokens and one)"
                );
            }
            decodes.push(b.decode_at(n.min(max_context), gen)?);
        }
    }
    let Peak { ours: memory, device: device_memory, capacity } = match b.peak.take() {
        Some(p) => p,
        None => {
            let st = b.state(1)?;
            Peak { ours: bench::memory_bytes(&model, &st), device: bench::device_memory(&ctx), capacity: 1 }
        }
    };
    let mut profiles = Vec::new();
    if a.profile {
        // A prefill of the first --prompt-tokens length, then decode at the first --context
        // length (the zeroed-KV shortcut), else right after one token.
        if let Some(&n) = a.prompt_tokens.iter().find(|&&n| n > 0) {
            profiles.push(crate::profile::prefill(&model, n.min(max_context))?);
        }
        let context = a.context.first().copied().unwrap_or(0).min(max_context);
        profiles.push(crate::profile::decode(&model, gen.max(1), context, &b.sampling)?);
    }
    eprintln!("bench: copy bandwidth");
    let copy_bw = pollster::block_on(bench::copy_bandwidth(&ctx, 256 << 20, 5))?;

    let tb = bench::token_bytes(&model);
    let per_token = tb.total();
    let kv_per_pos = bench::kv_bytes_per_position(&model);
    let theoretical_kv = kv_per_pos * capacity as u64;
    let info = &ctx.adapter_info;
    let prefill_json: Vec<Value> = prefills
        .iter()
        .map(|p| {
            json!({
                "prompt_tokens": p.prompt_tokens,
                "time_to_first_token_s": p.ttft_s,
                "prefill_tokens_per_s": p.prompt_tokens as f64 / p.ttft_s,
                "counts": counts_json(&p.prefill_counts),
                "decode": p.decode.as_ref().map(|d| d.json(per_token, &model, copy_bw)),
            })
        })
        .collect();
    let decode_json: Vec<Value> = decodes.iter().map(|d| d.json(per_token, &model, copy_bw)).collect();
    // The headline figures: the first prompt length and the decode after it.
    let first = prefills.first();
    let first_decode = first.and_then(|p| p.decode.as_ref()).or(decodes.first());
    let decode_tps = first_decode.map(DecodeRun::tokens_per_s);
    let decode_bw = first_decode.map(|d| d.bytes_per_token(per_token, &model) as f64 * d.tokens_per_s());
    let report = json!({
        "model": path.display().to_string(),
        "file_bytes": std::fs::metadata(&path)?.len(),
        "tensor_types": types,
        "config": {
            "arch": format!("{:?}", c.arch),
            "hidden": c.hidden,
            "layers": c.layers.len(),
            "attention_layers": c.layers.iter().filter(|l| !matches!(l, lfm_webgpu::model::LayerKind::Conv)).count(),
            "vocab": c.vocab_size,
            "experts": c.moe.as_ref().map(|m| m.n_experts),
            "experts_used": c.moe.as_ref().map(|m| m.n_experts_used),
            "context_length": c.context_length,
        },
        "adapter": { "name": info.name, "backend": format!("{:?}", info.backend), "device_type": format!("{:?}", info.device_type) },
        "load_s": load_s,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "load_average": { "before": load_before, "after": load_average() },
        "weight_bytes": model.weight_bytes,
        "token_bytes": { "dense": tb.dense, "experts": tb.experts, "head": tb.head, "embed_row": tb.embed_row, "total": per_token },
        "kv_bytes_per_position": kv_per_pos,
        "kv_cache": format!("{:?}", a.kv_cache).to_lowercase(),
        "memory": {
            "capacity_tokens": capacity,
            "weights": memory.weights,
            "rope": memory.rope,
            "kv": memory.kv,
            "conv": memory.conv,
            "scratch": memory.scratch,
            "total": memory.total(),
            "theoretical_weights": file_weight_bytes,
            "theoretical_kv": theoretical_kv,
            "theoretical_total": file_weight_bytes + theoretical_kv,
            "device_allocated": device_memory.map(|d| d.0),
            "device_reserved": device_memory.map(|d| d.1),
        },
        "copy_bandwidth_bytes_per_s": copy_bw,
        "prefill": prefill_json,
        "decode": decode_json,
        // Headline figures (the first prompt length and the decode after it).
        "prompt_tokens": first.map(|p| p.prompt_tokens),
        "time_to_first_token_s": first.map(|p| p.ttft_s),
        "prefill_tokens_per_s": first.map(|p| p.prompt_tokens as f64 / p.ttft_s),
        "gen_tokens": gen,
        "sampling": format!("{:?}", a.sampling).to_lowercase(),
        "decode_tokens_per_s": decode_tps,
        "weight_bytes_per_token": per_token,
        "dispatches_per_decode_token": first_decode.map(|d| d.counts.dispatches as f64 / d.tokens as f64),
        "decode_bytes_per_s": decode_bw,
        "decode_fraction_of_copy_bandwidth": decode_bw.map(|bw| bw / copy_bw),
        "profile": profiles.iter().map(crate::profile::Profile::json).collect::<Vec<_>>(),
    });
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }

    println!("adapter      {} ({:?}, {:?})", info.name, info.backend, info.device_type);
    println!(
        "model        {} ({} of weights on the GPU, {} in the file; loaded in {load_s:.1} s)",
        path.display(),
        human_bytes(model.weight_bytes),
        human_bytes(file_weight_bytes)
    );
    println!(
        "per token    {} of weights read (dense {}, routed experts {}, head {}) + {} of KV ({:?}) per position",
        human_bytes(per_token),
        human_bytes(tb.dense),
        human_bytes(tb.experts),
        human_bytes(tb.head),
        human_bytes(kv_per_pos),
        a.kv_cache
    );
    println!("copy         {:.2} GB/s (the adapter's own copy kernel)", copy_bw / 1e9);
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("machine      load average {before:.1} before, {after:.1} after, on {cpus} CPUs");
    }
    let device = match device_memory {
        Some((alloc, reserved)) => {
            format!("; the allocator: {} in use, {} reserved", human_bytes(alloc), human_bytes(reserved))
        }
        None => String::new(),
    };
    println!(
        "memory       {} at {capacity} positions: weights {}, KV {}, scratch {}, conv {} \
         (theory: weights {} + KV {} = {}){device}",
        human_bytes(memory.total()),
        human_bytes(memory.weights),
        human_bytes(memory.kv),
        human_bytes(memory.scratch),
        human_bytes(memory.conv + memory.rope),
        human_bytes(file_weight_bytes),
        human_bytes(theoretical_kv),
        human_bytes(file_weight_bytes + theoretical_kv),
    );
    let decode_cells = |d: Option<&DecodeRun>| match d {
        Some(d) => {
            let bps = d.bytes_per_token(per_token, &model) as f64 * d.tokens_per_s();
            format!(
                "{:>9.2} {:>7.2} {:>7.1}% {:>9.0}",
                d.tokens_per_s(),
                bps / 1e9,
                100.0 * bps / copy_bw,
                d.counts.dispatches as f64 / d.tokens as f64
            )
        }
        None => format!("{:>9} {:>7} {:>8} {:>9}", "-", "-", "-", "-"),
    };
    let decode_header = format!("{:>9} {:>7} {:>8} {:>9}", "decode/s", "GB/s", "of copy", "launches");
    if !prefills.is_empty() {
        println!();
        println!("{:>8} {:>10} {:>9} {:>9}   {decode_header}", "prompt", "prefill/s", "TTFT s", "launches");
        for p in &prefills {
            println!(
                "{:>8} {:>10.2} {:>9.2} {:>9}   {}",
                p.prompt_tokens,
                p.prompt_tokens as f64 / p.ttft_s,
                p.ttft_s,
                p.prefill_counts.dispatches,
                decode_cells(p.decode.as_ref())
            );
        }
    }
    if !decodes.is_empty() {
        println!();
        println!("{:>8}   {decode_header}", "context");
        for d in &decodes {
            println!("{:>8}   {}", d.context, decode_cells(Some(d)));
        }
    }
    println!("\n(decode GB/s: weights + KV read per token x tokens/s; launches: kernel dispatches per step or token)");
    for p in &profiles {
        p.print();
    }
    Ok(())
}
