//! Writes a random-weight LFM2 / LFM2-MoE GGUF file of a chosen shape, for tests that need a
//! big model without downloading one (the browser test that checks the wasm heap stays far below
//! the file size while loading).
//!
//! Every metadata key of `--like` is copied (tokenizer, chat template, architecture settings),
//! with the shape keys replaced: embedding length, block count, head counts (the source's head
//! dimension and query/key-value group size are kept), dense and expert feed-forward widths,
//! expert count. The layer pattern (attention vs conv) repeats the source's; the source's leading
//! dense layers stay dense. Each tensor gets the type of its kind in the source (norms and other
//! f32 tensors stay f32); `--type` replaces every non-f32 type. Weights are uniform in
//! ±1/sqrt(row length) and norms are 1, so a forward pass stays finite; the output is meaningless.
//! Q8_0 and Q4_0 blocks are written directly (random quants, fixed scale), other types go through
//! the crate's quantizers. [`GgufWriter`] builds the file in memory: the peak is about twice the
//! file size.
//!
//! ```text
//! cargo run --example synth_gguf -- --like ../shared/fixtures/tiny-moe/tiny-moe-q8_0.gguf \
//!     --out target/test-models/big-moe-q8_0.gguf [--hidden 1024] [--ff 1024] [--experts 32] \
//!     [--layers 4] [--type q8_0|q4_0] [--seed 1]
//! ```
//!
//! With the defaults and the tiny-moe fixture the file is about 310 MB.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use lfm_webgpu::gguf::{Gguf, GgufError, GgufFile, GgufWriter, Value};
use lfm_webgpu::model::{Arch, Config, LayerKind, Weights};
use lfm_webgpu::quant::{self, GgmlType};
use lfm_webgpu::rng::Rng;

#[derive(Parser)]
#[command(about = "Write a random-weight GGUF model shaped like --like but larger")]
struct Args {
    /// GGUF model whose metadata and per-tensor types are copied.
    #[arg(long)]
    like: PathBuf,
    /// Output file (parent folders are created).
    #[arg(long)]
    out: PathBuf,
    /// Embedding length; a multiple of the source's head dimension.
    #[arg(long, default_value_t = 1024)]
    hidden: usize,
    /// Feed-forward width of the dense MLPs and of each expert.
    #[arg(long, default_value_t = 1024)]
    ff: usize,
    /// Number of experts (MoE sources only).
    #[arg(long, default_value_t = 32)]
    experts: usize,
    /// Number of layers.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Type of every tensor that is not f32 in the source (default: the source's).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    ty: Option<QuantArg>,
    /// Seed of the random weights (the same seed gives the same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum QuantArg {
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synth_gguf: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let start = Instant::now();
    let src = GgufFile::open(&args.like).map_err(|e| match e {
        GgufError::Io { .. } => e.to_string(),
        _ => format!("{}: {e}", args.like.display()),
    })?;
    let src = &src.header;
    let cfg = Config::from_gguf(src).map_err(|e| format!("{}: {e}", args.like.display()))?;
    let (hd, a) = (cfg.head_dim, cfg.arch.gguf_name());
    if args.hidden == 0 || !args.hidden.is_multiple_of(hd) || args.ff == 0 || args.layers == 0 || args.experts == 0 {
        let need = "--ff, --layers and --experts must be positive";
        return Err(format!("--hidden must be a positive multiple of the head dimension {hd}; {need}"));
    }
    let n_heads = args.hidden / hd;
    let group = cfg.layers.iter().find_map(|k| match k {
        LayerKind::Attention { n_kv_heads } => Some(cfg.n_heads / n_kv_heads),
        LayerKind::Conv => None,
    });
    let n_kv = group.filter(|&g| n_heads.is_multiple_of(g)).map_or(1, |g| n_heads / g);
    let kv: Vec<u64> = (0..args.layers)
        .map(|i| match cfg.layers[i % cfg.layers.len()] {
            LayerKind::Conv => 0,
            LayerKind::Attention { .. } => n_kv as u64,
        })
        .collect();

    // Metadata: the source's, with the shape keys replaced (keeping each key's integer type).
    let mut meta = src.metadata.clone();
    meta.remove("general.alignment"); // the writer adds it
    let mut set = |k: &str, n: usize| {
        let v = int_like(meta.get(k), n as u64);
        meta.insert(k.to_string(), v);
    };
    set(&format!("{a}.embedding_length"), args.hidden);
    set(&format!("{a}.block_count"), args.layers);
    set(&format!("{a}.feed_forward_length"), args.ff);
    set(&format!("{a}.attention.head_count"), n_heads);
    if let Some(m) = &cfg.moe {
        set(&format!("{a}.expert_count"), args.experts);
        set(&format!("{a}.expert_used_count"), m.n_experts_used.min(args.experts));
        set(&format!("{a}.expert_feed_forward_length"), args.ff);
        set(&format!("{a}.leading_dense_block_count"), m.leading_dense_layers.min(args.layers));
    }
    let kv_key = format!("{a}.attention.head_count_kv");
    let elem = match meta.get(&kv_key) {
        Some(Value::Array(_, items)) if !items.is_empty() => Some(&items[0]),
        _ => None,
    };
    let items: Vec<Value> = kv.iter().map(|&n| int_like(elem, n)).collect();
    meta.insert(kv_key, Value::Array(items[0].value_type(), items));
    if let (Some(t), true) = (args.ty, meta.contains_key("general.file_type")) {
        // llama.cpp's `llama_ftype`: MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7.
        let ftype = match t {
            QuantArg::Q8_0 => 7,
            QuantArg::Q4_0 => 2,
        };
        meta.insert("general.file_type".into(), int_like(meta.get("general.file_type"), ftype));
    }
    if let Some(Value::String(name)) = meta.get_mut("general.name") {
        name.push_str(" (synthetic)");
    }

    // The tensor list, in the loader's order, with the source's type for each kind of tensor.
    let kind = |name: &str| -> String {
        match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
            Some((_, rest)) => rest.to_string(),
            None => name.to_string(),
        }
    };
    let src_types: HashMap<String, GgmlType> = src.tensors.iter().map(|t| (kind(&t.name), t.ty)).collect();
    let (h, ff, ne) = (args.hidden as u64, args.ff as u64, args.experts as u64);
    let mut list: Vec<(String, Vec<u64>)> =
        vec![("token_embd.weight".into(), vec![h, cfg.vocab_size as u64]), ("token_embd_norm.weight".into(), vec![h])];
    let leading_dense = cfg.moe.as_ref().map_or(usize::MAX, |m| m.leading_dense_layers);
    for (i, &kv) in kv.iter().enumerate() {
        let mut add = |s: &str, dims: &[u64]| list.push((format!("blk.{i}.{s}"), dims.to_vec()));
        add("attn_norm.weight", &[h]);
        if kv == 0 {
            add("shortconv.in_proj.weight", &[h, 3 * h]);
            add("shortconv.conv.weight", &[cfg.conv_kernel as u64, h]);
            add("shortconv.out_proj.weight", &[h, h]);
        } else {
            let (q, kvd) = (n_heads as u64 * hd as u64, kv * hd as u64);
            add("attn_q.weight", &[h, q]);
            add("attn_k.weight", &[h, kvd]);
            add("attn_v.weight", &[h, kvd]);
            add("attn_output.weight", &[q, h]);
            add("attn_q_norm.weight", &[hd as u64]);
            add("attn_k_norm.weight", &[hd as u64]);
        }
        add("ffn_norm.weight", &[h]);
        if i >= leading_dense {
            add("ffn_gate_inp.weight", &[h, ne]);
            add("exp_probs_b.bias", &[ne]);
            add("ffn_gate_exps.weight", &[h, ff, ne]);
            add("ffn_up_exps.weight", &[h, ff, ne]);
            add("ffn_down_exps.weight", &[ff, h, ne]);
        } else {
            add("ffn_gate.weight", &[h, ff]);
            add("ffn_up.weight", &[h, ff]);
            add("ffn_down.weight", &[ff, h]);
        }
    }

    let mut w = GgufWriter::new(3).alignment(src.alignment).map_err(|e| e.to_string())?;
    for (k, v) in meta {
        w = w.metadata(k, v);
    }
    let mut rng = Rng::new(args.seed);
    let mut types: HashMap<GgmlType, (usize, u64)> = HashMap::new();
    for (name, dims) in list {
        let src_ty = *src_types.get(&kind(&name)).ok_or_else(|| format!("the source has no tensor like `{name}`"))?;
        let ty = match args.ty {
            Some(_) if src_ty == GgmlType::F32 => src_ty,
            Some(QuantArg::Q8_0) => GgmlType::Q8_0,
            Some(QuantArg::Q4_0) => GgmlType::Q4_0,
            None => src_ty,
        };
        let data = random_tensor(&mut rng, &name, &dims, ty)?;
        let e = types.entry(ty).or_default();
        *e = (e.0 + 1, e.1 + data.len() as u64);
        w = w.tensor(name, &dims, ty, data).map_err(|e| e.to_string())?;
    }
    let bytes = w.to_bytes();
    drop(w);
    let out = &args.out;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(out, &bytes).map_err(|e| format!("writing {}: {e}", out.display()))?;
    drop(bytes);
    let elapsed = start.elapsed();

    // Read it back the way the runtime does: config and every tensor's shape.
    let file = GgufFile::open(out).map_err(|e| e.to_string())?;
    let new = check(&file.header).map_err(|e| format!("{} does not load: {e}", out.display()))?;
    let size = file.bytes().len() as u64;
    let pattern: String = new.layers.iter().map(|k| if *k == LayerKind::Conv { 'c' } else { 'A' }).collect();
    println!("wrote {} ({size} bytes, {:.1} MiB) in {:.2?}", out.display(), size as f64 / (1 << 20) as f64, elapsed);
    println!(
        "{a}: {} layers {pattern}, hidden {}, heads {} x {} (kv {n_kv}), ffn {}, vocab {}",
        new.layers.len(),
        new.hidden,
        new.n_heads,
        new.head_dim,
        new.ffn_dim,
        new.vocab_size
    );
    if let (Arch::Lfm2Moe, Some(m)) = (new.arch, &new.moe) {
        println!(
            "experts {} (top-{}, width {}), {} leading dense layers",
            m.n_experts, m.n_experts_used, m.expert_ffn_dim, m.leading_dense_layers
        );
    }
    let mut types: Vec<_> = types.into_iter().collect();
    types.sort_by_key(|(t, _)| t.id());
    for (t, (n, b)) in types {
        println!("  {t:<5} {n:>3} tensors {:>10.1} MiB", b as f64 / (1 << 20) as f64);
    }
    Ok(())
}

/// The model's config, after checking that every tensor it needs is present with its shape.
fn check(g: &Gguf) -> Result<Config, lfm_webgpu::model::ModelError> {
    let cfg = Config::from_gguf(g)?;
    Weights::<(), ()>::load(&cfg, g, |_| Ok(()), |_| Ok(()))?;
    Ok(cfg)
}

/// An integer value of the same type as `like` (u32 when there is none).
fn int_like(like: Option<&Value>, n: u64) -> Value {
    match like {
        Some(Value::I32(_)) => Value::I32(n as i32),
        Some(Value::U64(_)) => Value::U64(n),
        Some(Value::I64(_)) => Value::I64(n as i64),
        _ => Value::U32(n as u32),
    }
}

/// Encoded data of a tensor: norms are 1, everything else uniform in ±1/sqrt(row length).
fn random_tensor(rng: &mut Rng, name: &str, dims: &[u64], ty: GgmlType) -> Result<Vec<u8>, String> {
    let n: u64 = dims.iter().product();
    let len = ty.bytes_for(n).filter(|_| dims[0].is_multiple_of(ty.block_size() as u64)).ok_or_else(|| {
        format!("`{name}` {dims:?}: row length is not a multiple of the {ty} block size {}", ty.block_size())
    })?;
    let amp = 1.0 / (dims[0] as f32).sqrt();
    let quantize = |values: &[f32]| quant::quantize(ty, values).map_err(|e| format!("`{name}`: {e}"));
    match ty {
        _ if name.ends_with("norm.weight") => quantize(&vec![1.0; n as usize]),
        GgmlType::Q8_0 => Ok(random_blocks(rng, len, amp / 127.0, 32)),
        GgmlType::Q4_0 => Ok(random_blocks(rng, len, amp / 8.0, 16)),
        _ => quantize(&(0..n).map(|_| (2.0 * rng.next_f32() - 1.0) * amp).collect::<Vec<f32>>()),
    }
}

/// `len` bytes of blocks made of an f16 `scale` and `quant_bytes` random bytes: Q8_0 (32 i8
/// quants) or Q4_0 (32 nibbles in 16 bytes), written directly for speed in debug builds.
fn random_blocks(rng: &mut Rng, len: u64, scale: f32, quant_bytes: usize) -> Vec<u8> {
    let d = half::f16::from_f32(scale).to_le_bytes();
    let mut out = Vec::with_capacity(len as usize);
    for _ in 0..len / (2 + quant_bytes as u64) {
        out.extend_from_slice(&d);
        for _ in 0..quant_bytes / 8 {
            out.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
    }
    out
}
