//! `lfm info`: what is in a GGUF file, without loading the weights.

use std::collections::BTreeMap;

use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::model::Config;
use serde_json::json;

use crate::{hub, Format};

pub fn run(model: &str, format: Format, list_tensors: bool) -> crate::Result<()> {
    let path = hub::resolve(model)?;
    let file = GgufFile::open(&path)?;
    let g = &file.header;
    let config = Config::from_gguf(g)?;

    let mut by_type: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new(); // (count, elements, bytes)
    for t in &g.tensors {
        let e = by_type.entry(t.ty.name()).or_default();
        *e = (e.0 + 1, e.1 + t.n_elements(), e.2 + t.n_bytes());
    }
    let n_params: u64 = g.tensors.iter().map(|t| t.n_elements()).sum();
    let tensor_bytes: u64 = g.tensors.iter().map(|t| t.n_bytes()).sum();
    let meta_str = |k: &str| g.get_str(k).ok();
    let vocab_len = g.get_array("tokenizer.ggml.tokens").map(|a| a.len()).unwrap_or(0);

    let summary = json!({
        "file": path.display().to_string(),
        "file_bytes": file.bytes().len(),
        "gguf_version": g.version,
        "name": meta_str("general.name"),
        "architecture": config.arch,
        "config": config,
        "parameters": n_params,
        "tensor_count": g.tensors.len(),
        "tensor_bytes": tensor_bytes,
        "types": by_type.iter().map(|(k, v)| (k.to_string(), json!({"tensors": v.0, "elements": v.1, "bytes": v.2}))).collect::<serde_json::Map<_, _>>(),
        "tokenizer": { "model": meta_str("tokenizer.ggml.model"), "pre": meta_str("tokenizer.ggml.pre"), "tokens": vocab_len },
        "chat_template": g.get_str("tokenizer.chat_template").is_ok(),
        "tensors": list_tensors.then(|| g.tensors.iter().map(|t| json!({"name": t.name, "type": t.ty.name(), "ne": t.dims, "bytes": t.n_bytes()})).collect::<Vec<_>>()),
    });
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }

    println!("{}  (GGUF v{}, {})", path.display(), g.version, human_bytes(file.bytes().len() as u64));
    println!("name          {}", meta_str("general.name").unwrap_or("-"));
    println!("architecture  {}", config.arch.gguf_name());
    let kinds: String =
        config.layers.iter().map(|k| if matches!(k, lfm_webgpu::model::LayerKind::Conv) { 'c' } else { 'A' }).collect();
    println!(
        "layers        {} ({} attention, {} conv): {kinds}",
        config.layers.len(),
        config.n_attention_layers(),
        config.layers.len() - config.n_attention_layers()
    );
    println!("hidden        {}  heads {} x {}  ffn {}", config.hidden, config.n_heads, config.head_dim, config.ffn_dim);
    if let Some(m) = &config.moe {
        println!(
            "experts       {} (top-{}, width {}), {} leading dense layers",
            m.n_experts, m.n_experts_used, m.expert_ffn_dim, m.leading_dense_layers
        );
    }
    println!(
        "vocab         {}  context {}  rope theta {}  eps {:e}  conv L {}",
        config.vocab_size, config.context_length, config.rope_theta, config.norm_eps, config.conv_kernel
    );
    println!(
        "parameters    {:.2} M in {} tensors, {}",
        n_params as f64 / 1e6,
        g.tensors.len(),
        human_bytes(tensor_bytes)
    );
    for (ty, (count, elems, bytes)) in &by_type {
        println!("  {ty:<6} {count:>4} tensors {:>12} elements {:>10}", elems, human_bytes(*bytes));
    }
    if list_tensors {
        for t in &g.tensors {
            println!("  {:<40} {:<6} {:?} {}", t.name, t.ty.name(), t.dims, human_bytes(t.n_bytes()));
        }
    }
    Ok(())
}

pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
