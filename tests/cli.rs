//! The `lfm` binary's contract: `info`, `generate --format json` and `logits` on the fixtures.

mod common;

use std::process::Command;

use common::{gguf_path, Golden, SHIPPED};
use serde_json::Value;

fn lfm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lfm")).args(args).output().expect("lfm runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn golden_ids(model: &str, variant: &str) -> Vec<u64> {
    let key =
        if variant == "f16" { "hf.generated_ids".to_string() } else { format!("dequant.{variant}.generated_ids") };
    Golden::load(model).ids(&key).into_iter().map(u64::from).collect()
}

#[test]
fn info_describes_every_fixture() {
    for &(model, variant) in SHIPPED {
        let path = gguf_path(model, variant);
        let (ok, out, err) = lfm(&["info", "--model", path.to_str().unwrap(), "--format", "json", "--tensors"]);
        assert!(ok, "lfm info failed on {model} {variant}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let golden: Value =
            serde_json::from_slice(&std::fs::read(common::fixtures().join(model).join("golden.json")).unwrap())
                .unwrap();
        let table = golden["files"][variant]["tensors"].as_array().unwrap();
        assert_eq!(v["tensor_count"].as_u64().unwrap() as usize, table.len());
        assert_eq!(v["architecture"], golden["files"][variant]["gguf_kv"]["general.architecture"]);
        for (got, want) in v["tensors"].as_array().unwrap().iter().zip(table) {
            assert_eq!(got["name"], want["name"]);
            assert_eq!(got["type"], want["type"]);
            assert_eq!(got["ne"], want["ne"]);
            assert_eq!(got["bytes"], want["n_bytes"]);
        }
        let (ok, text, _) = lfm(&["info", "--model", path.to_str().unwrap()]);
        assert!(ok && text.contains("architecture") && text.contains("parameters"), "{text}");
    }
}

#[test]
fn generate_json_gives_the_golden_greedy_tokens() {
    for &(model, variant) in &[("tiny-moe", "q4_0"), ("tiny-dense", "f16"), ("small-moe", "q5_k_m")] {
        let prompt: Vec<String> = Golden::load(model).ids("prompt_ids").iter().map(|i| i.to_string()).collect();
        let path = gguf_path(model, variant);
        let args = [
            "generate",
            "--model",
            path.to_str().unwrap(),
            "--tokens",
            &prompt.join(","),
            "--max-tokens",
            "16",
            "--temperature",
            "0",
            "--backend",
            "reference",
            "--format",
            "json",
        ];
        let (ok, out, err) = lfm(&args);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let tokens: Vec<u64> = v["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
        assert_eq!(tokens, golden_ids(model, variant), "{model} {variant}");
        assert_eq!(v["prompt_tokens"].as_array().unwrap().len(), prompt.len());
        assert!(v["text"].is_string());
    }
}

#[test]
fn generate_from_text_prompt_adds_bos() {
    let path = gguf_path("tiny-moe", "q8_0");
    let (ok, out, err) = lfm(&[
        "generate",
        "--model",
        path.to_str().unwrap(),
        "--prompt",
        "Hello world",
        "--max-tokens",
        "3",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["prompt_tokens"][0], 1, "BOS first: {v}");
    assert_eq!(v["tokens"].as_array().unwrap().len(), 3);
}

#[test]
fn logits_prints_top_k_per_position() {
    let g = Golden::load("tiny-moe");
    let prompt = g.ids("prompt_ids");
    let ids: Vec<String> = prompt.iter().map(|i| i.to_string()).collect();
    let path = gguf_path("tiny-moe", "f16");
    // The exact f32 KV cache: the top logit within 1e-3 of HF's.
    let path = path.to_str().unwrap();
    let (ok, out, err) =
        lfm(&["logits", "--model", path, "--tokens", &ids.join(","), "--top", "5", "--kv-cache", "f32"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), prompt.len());
    let (_, hf) = g.f32("hf.logits");
    let vocab = hf.len() / prompt.len();
    for (t, row) in top.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 5);
        let hf_row = &hf[t * vocab..(t + 1) * vocab];
        let best = lfm_webgpu::sampling::argmax(hf_row);
        assert_eq!(row[0][0].as_u64().unwrap(), best as u64, "position {t}");
        let logit = row[0][1].as_f64().unwrap() as f32;
        assert!((logit - hf_row[best as usize]).abs() < 1e-3);
        let l: Vec<f64> = row.iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(l.windows(2).all(|w| w[0] >= w[1]), "sorted: {l:?}");
    }
}

#[test]
fn bad_input_fails_with_a_message_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("lfm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"definitely not a gguf file").unwrap();
    let truncated = dir.join("truncated.gguf");
    let full = std::fs::read(gguf_path("tiny-dense", "q8_0")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();

    for (path, expect) in [
        (dir.join("missing.gguf"), "No such file"),
        (junk.clone(), "not a GGUF file"),
        (truncated.clone(), "truncated"),
    ] {
        let (ok, _, err) = lfm(&["info", "--model", path.to_str().unwrap()]);
        assert!(!ok, "{path:?} should fail");
        assert!(err.contains("error:") && err.contains(expect), "{path:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let path = gguf_path("tiny-dense", "q8_0");
    let (ok, _, err) =
        lfm(&["generate", "--model", path.to_str().unwrap(), "--tokens", "1,99999", "--max-tokens", "1"]);
    assert!(!ok && err.contains("outside the vocabulary"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
