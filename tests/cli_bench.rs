//! `lfm bench --format json` on the tiny-moe fixture: every figure present, finite and
//! positive, and the counted ones consistent (no timing is asserted).

use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> String {
    format!("{}/../shared/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

#[test]
fn bench_json_reports_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_lfm"))
        .args(["bench", "--model", &fixture("tiny-moe/tiny-moe-q8_0.gguf")])
        .args(["--prompt-tokens", "8,260", "--gen-tokens", "3", "--context", "300,100000000", "--format", "json"])
        .output()
        .expect("lfm runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lfm bench failed:\n{stderr}");
    assert!(stderr.contains("bench: prefill 260 tokens"), "progress goes to stderr:\n{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");

    for key in [
        "copy_bandwidth_bytes_per_s",
        "weight_bytes_per_token",
        "kv_bytes_per_position",
        "prefill_tokens_per_s",
        "time_to_first_token_s",
        "decode_tokens_per_s",
        "decode_bytes_per_s",
        "decode_fraction_of_copy_bandwidth",
        "dispatches_per_decode_token",
    ] {
        positive(&r[key], key);
    }
    let prefill = r["prefill"].as_array().expect("prefill rows");
    assert_eq!(prefill.len(), 2);
    for (row, n) in prefill.iter().zip([8, 260]) {
        assert_eq!(row["prompt_tokens"], n);
        positive(&row["prefill_tokens_per_s"], "prefill tok/s");
        positive(&row["time_to_first_token_s"], "TTFT");
        positive(&row["decode"]["decode_tokens_per_s"], "decode tok/s after the prompt");
        // 260 tokens: a full step of 256 (`gpu::PREFILL_BATCH`) and one of 4.
        assert_eq!(row["counts"]["submits"], if n == 8 { 1 } else { 2 });
    }
    let decode = r["decode"].as_array().expect("decode rows");
    assert_eq!(decode.len(), 2);
    assert_eq!(decode[0]["context"], 300);
    // The second context is capped at the model's context length less the generated tokens.
    let limit = r["config"]["context_length"].as_u64().unwrap();
    assert_eq!(decode[1]["context"].as_u64(), Some(limit - 4));
    for row in decode {
        positive(&row["fraction_of_copy_bandwidth"], "fraction of copy bandwidth");
        let (w, kv) = (row["weight_bytes_per_token"].as_u64().unwrap(), row["kv_bytes_per_token"].as_u64().unwrap());
        assert_eq!(row["bytes_per_token"].as_u64(), Some(w + kv));
        assert!(kv >= r["kv_bytes_per_position"].as_u64().unwrap() * row["context"].as_u64().unwrap());
    }

    // Memory: the largest state's KV is exactly the K and V of its capacity, f16 by default.
    assert_eq!(r["kv_cache"], "f16");
    assert_eq!(r["kv_bytes_per_position"], 2 * 64 * 2);
    let m = &r["memory"];
    assert_eq!(m["capacity_tokens"].as_u64(), Some(limit));
    assert_eq!(m["kv"], m["theoretical_kv"]);
    for key in ["weights", "kv", "scratch", "total", "theoretical_weights", "theoretical_total"] {
        positive(&m[key], key);
    }
    let parts = ["weights", "rope", "kv", "conv", "scratch"].iter().map(|k| m[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(m["total"].as_u64(), Some(parts));
    let tb = &r["token_bytes"];
    let sum = ["dense", "experts", "head", "embed_row"].iter().map(|k| tb[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(tb["total"].as_u64(), Some(sum));
    assert_eq!(r["weight_bytes_per_token"].as_u64(), Some(sum));
}

#[test]
fn bench_profile_reports_every_kernel() {
    let out = Command::new(env!("CARGO_BIN_EXE_lfm"))
        .args(["bench", "--model", &fixture("tiny-moe/tiny-moe-q8_0.gguf")])
        .args(["--prompt-tokens", "20", "--gen-tokens", "2", "--context", "0", "--profile", "--format", "json"])
        .args(["--sampling", "chat", "--kv-cache", "f32"])
        .output()
        .expect("lfm runs");
    assert!(out.status.success(), "lfm bench --profile failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(r["sampling"], "chat");
    // tiny-moe's attention layers hold 64 K and 64 V elements per position: 4 bytes each here.
    assert_eq!(r["kv_cache"], "f32");
    assert_eq!(r["kv_bytes_per_position"], 2 * 64 * 4);
    assert_eq!(r["memory"]["kv"], r["memory"]["theoretical_kv"]);
    let profiles = r["profile"].as_array().expect("profile tables");
    let kinds: Vec<&str> = profiles.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["prefill", "decode"]);
    let decode = &profiles[1];
    let kernels = decode["kernels"].as_array().unwrap();
    // The chat's sampling picks each token with the `sample` kernel, not `argmax`.
    let names: Vec<&str> = kernels.iter().map(|k| k["kernel"].as_str().unwrap()).collect();
    assert!(names.contains(&"sample") && !names.contains(&"argmax"), "decode kernels {names:?}");
    // Every launch of a decoded token is charged to one kernel. The run's average (2 tokens)
    // includes the first decoded token, which has no earlier output for the repetition
    // penalty and so one launch fewer; the profiled tokens all have one.
    let calls: f64 = kernels.iter().map(|k| k["calls_per_token"].as_f64().unwrap()).sum();
    assert_eq!(calls, r["dispatches_per_decode_token"].as_f64().unwrap() + 0.5);
    // Where the adapter has timestamp queries (lavapipe does), each kernel's GPU time is
    // part of its wall time (submission and wait around it).
    if !decode["gpu_ms_per_token"].is_null() {
        for k in kernels {
            let (gpu, wall) = (k["gpu_ms_per_token"].as_f64().unwrap(), positive(&k["ms_per_token"], "wall ms"));
            assert!((0.0..=wall).contains(&gpu), "{}: GPU {gpu} ms, wall {wall} ms", k["kernel"]);
        }
    }
}
