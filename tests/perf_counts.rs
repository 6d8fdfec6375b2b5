//! The cost of a forward step, counted rather than timed: kernel launches (dispatches),
//! buffer copies and submissions of one decode step and of a prefill, and the weight bytes one
//! decoded token reads, on fixture models, held to the committed `tests/perf_baseline.json`.
//! A count above its baseline fails; one below it prints a note so the baseline gets lowered.
//! Each model is counted with the adapter's own tuning (lavapipe's in CI) and with a GPU's
//! (`common::gpu::use_gpu_tuning`: fused norms, routing in the experts' launch, ...), so the
//! GPU path's launches are held too.
//!
//! Rewrite the baseline (after a change that is meant to cost more, or to lock in a saving):
//!
//! ```sh
//! LFM_UPDATE_PERF_BASELINE=1 cargo test --test perf_counts
//! ```

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{bench, GpuContext, GpuModel, OpsCounts};
use lfm_webgpu::model::SharedBytes;
use serde_json::{json, Map, Value};

/// Tokens of the counted prefill: one step (of up to `PREFILL_BATCH`, 256).
const PREFILL_TOKENS: usize = 100;
/// The state's capacity: one KV block on every adapter.
const CAPACITY: usize = 256;
const MODELS: &[(&str, &str)] = &[("tiny-moe", "q8_0"), ("tiny-dense", "q8_0"), ("small-moe", "q4_k_m")];
const UPDATE_VAR: &str = "LFM_UPDATE_PERF_BASELINE";

fn baseline_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/perf_baseline.json"))
}

fn counts(c: &OpsCounts) -> Value {
    json!({ "dispatches": c.dispatches, "copies": c.copies, "submits": c.submits, "made": c.made, "workgroups": c.workgroups })
}

/// The counted figures of one fixture model.
fn measure(ctx: &Arc<GpuContext>, model: &str, variant: &str) -> Value {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"))
        .join(model)
        .join(format!("{model}-{variant}.gguf"));
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let m = GpuModel::new(ctx.clone(), &file.header, &SharedBytes::new(file.shared_bytes())).expect("model loads");
    let steps = pollster::block_on(bench::count_steps(&m, PREFILL_TOKENS, CAPACITY)).expect("forward steps run");
    json!({
        "decode": counts(&steps.decode),
        "prefill": counts(&steps.prefill),
        "weight_bytes_per_token": bench::weight_bytes_per_token(&m),
        "kv_bytes_per_position": bench::kv_bytes_per_position(&m),
    })
}

/// The figures that must not grow, as (path, value): `decode.dispatches`, ...
/// (`workgroups` is kept for information: a kernel retuned to wider workgroups launches fewer
/// but is not worse for it, nor better).
fn checked(v: &Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for step in ["decode", "prefill"] {
        for what in ["dispatches", "copies", "submits", "made"] {
            out.push((format!("{step}.{what}"), v[step][what].as_u64().expect("a count")));
        }
    }
    for what in ["weight_bytes_per_token", "kv_bytes_per_position"] {
        out.push((what.to_string(), v[what].as_u64().expect("a byte count")));
    }
    out
}

#[test]
fn launches_and_bytes_per_token_do_not_grow() {
    let ctx = Arc::new(GpuContext::new_blocking().expect("a wgpu adapter (lavapipe in CI)"));
    let mut gpu_like = GpuContext::new_blocking().expect("a second context on the same adapter");
    common::gpu::use_gpu_tuning(&mut gpu_like);
    let gpu_like = Arc::new(gpu_like);
    let mut now = Map::new();
    for &(model, variant) in MODELS {
        now.insert(format!("{model}-{variant}"), measure(&ctx, model, variant));
        now.insert(format!("{model}-{variant} (gpu tuning)"), measure(&gpu_like, model, variant));
    }
    let now = Value::Object(now);
    for (key, v) in now.as_object().into_iter().flatten() {
        // A step like the one before it binds the same buffers: nothing to create.
        assert_eq!(v["decode"]["made"], 0, "{key}: a steady decode step made bind groups or buffers");
    }
    let pretty = serde_json::to_string_pretty(&json!({
        "about": format!(
            "Counted per forward step by tests/perf_counts.rs: decode = one token at position {PREFILL_TOKENS} + 1, \
             prefill = {PREFILL_TOKENS} tokens then the first sampled token, state capacity {CAPACITY}. \
             Rewrite with {UPDATE_VAR}=1 cargo test --test perf_counts"
        ),
        "models": now,
    }))
    .unwrap()
        + "\n";
    eprintln!("perf counts now:\n{pretty}");
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::write(baseline_path(), &pretty).expect("write tests/perf_baseline.json");
        eprintln!("perf_counts: wrote {}", baseline_path().display());
        return;
    }
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_else(|e| {
        panic!("{}: {e}; create it with {UPDATE_VAR}=1 cargo test --test perf_counts", baseline_path().display())
    });
    let base: Value = serde_json::from_str(&text).expect("tests/perf_baseline.json is JSON");
    let (mut grew, mut shrank) = (Vec::new(), Vec::new());
    for key in now.as_object().into_iter().flat_map(|m| m.keys()) {
        let Some(b) = base["models"].get(key) else {
            grew.push(format!("{key}: not in the baseline"));
            continue;
        };
        for ((what, was), (_, is)) in checked(b).into_iter().zip(checked(&now[key])) {
            let line = format!("{key} {what}: baseline {was}, now {is}");
            if is > was {
                grew.push(line);
            } else if is < was {
                shrank.push(line);
            }
        }
    }
    if !shrank.is_empty() {
        eprintln!(
            "perf_counts: lower than the baseline (good): lock it in with `{UPDATE_VAR}=1 cargo test --test \
             perf_counts` and commit tests/perf_baseline.json:\n  {}",
            shrank.join("\n  ")
        );
    }
    assert!(
        grew.is_empty(),
        "kernel launches or bytes per token grew over tests/perf_baseline.json:\n  {}\nIf the growth is intended, \
         rewrite the baseline with `{UPDATE_VAR}=1 cargo test --test perf_counts` and commit it.",
        grew.join("\n  ")
    );
}
