//! Model files the tests write themselves (F32, BF16, broken variants of the fixtures, absurd
//! metadata: typed errors, after which the same GPU device still runs the model), and the
//! quantized fixture tensors checked against the exact weights of the F16 files.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use common::gguf_bytes::{find, get_u64, info_at, put_u64};
use common::{assert_close, gguf_path, Golden};
use lfm_webgpu::gguf::{Gguf, GgufError, GgufFile, GgufWriter, TensorInfo, Value, ValueType};
use lfm_webgpu::gpu::{GpuContext, GpuModel};
use lfm_webgpu::model::{ModelError, SharedBytes};
use lfm_webgpu::quant::{dequantize_to_vec, quantize, GgmlType};
use lfm_webgpu::reference::{Logits, ReferenceModel};
use lfm_webgpu::sampling::{Sampler, SamplingParams};

/// A tensor as the rewriter sees it: name, ne dims, type, encoded bytes.
type Tensor = (String, Vec<u64>, GgmlType, Vec<u8>);

fn tensors_of(file: &GgufFile) -> Vec<Tensor> {
    let g = &file.header;
    g.tensors
        .iter()
        .map(|t| {
            let r = g.tensor_range(t);
            (t.name.clone(), t.dims.clone(), t.ty, file.bytes()[r.start as usize..r.end as usize].to_vec())
        })
        .collect()
}

fn values(t: &TensorInfo, bytes: &[u8]) -> Vec<f32> {
    dequantize_to_vec(t.ty, bytes, t.n_elements() as usize).unwrap()
}

/// Writes a GGUF with the given metadata and tensors.
fn write(metadata: &BTreeMap<String, Value>, tensors: Vec<Tensor>) -> Vec<u8> {
    let mut w = GgufWriter::new(3);
    for (k, v) in metadata.iter().filter(|(k, _)| *k != "general.alignment") {
        w = w.metadata(k.clone(), v.clone());
    }
    for (name, dims, ty, data) in tensors {
        w = w.tensor(name, &dims, ty, data).unwrap();
    }
    w.to_bytes()
}

fn load(bytes: Vec<u8>) -> Result<ReferenceModel, ModelError> {
    let g = Gguf::from_bytes(&bytes)?;
    ReferenceModel::new(&g, &SharedBytes::new(Arc::new(bytes)))
}

/// Every float tensor of the F16 fixture re-encoded as `ty`.
fn reencode(model: &str, ty: GgmlType) -> (GgufFile, Vec<u8>) {
    let file = GgufFile::open(gguf_path(model, "f16")).unwrap();
    let tensors = file
        .header
        .tensors
        .iter()
        .zip(tensors_of(&file))
        .map(|(info, (name, dims, _, bytes))| (name, dims, ty, quantize(ty, &values(info, &bytes)).unwrap()))
        .collect();
    let bytes = write(&file.header.metadata, tensors);
    (file, bytes)
}

#[test]
fn f32_file_written_by_the_test_matches_hf() {
    for model in ["tiny-moe", "tiny-dense"] {
        let (f16_file, bytes) = reencode(model, GgmlType::F32);
        let f32_model = load(bytes).unwrap();
        let f16_model = common::open(model, "f16").1;
        let g = Golden::load(model);
        let prompt = g.ids("prompt_ids");
        let got = f32_model.forward(&mut f32_model.new_state(), &prompt, Logits::All).unwrap();
        assert_close(&format!("{model} F32 file vs HF"), &got, &g.f32("hf.logits").1, 1e-3);
        // The F16 weights are exactly representable in F32: same values, same arithmetic.
        let same = f16_model.forward(&mut f16_model.new_state(), &prompt, Logits::All).unwrap();
        assert_eq!(got, same, "{model}: F32 and F16 files hold the same weights");
        drop(f16_file);
    }
}

#[test]
fn bf16_file_written_by_the_test_reads_the_bf16_values() {
    let (f16_file, bytes) = reencode("tiny-moe", GgmlType::BF16);
    let g = Gguf::from_bytes(&bytes).unwrap();
    // Every BF16 tensor holds the f16 weights rounded to bf16 (rounding done by the `half` crate).
    let mut rounded = Vec::new();
    for ((info, (name, dims, _, src)), t) in f16_file.header.tensors.iter().zip(tensors_of(&f16_file)).zip(&g.tensors) {
        assert_eq!(t.ty, GgmlType::BF16);
        let r = g.tensor_range(t);
        let got = dequantize_to_vec(GgmlType::BF16, &bytes[r.start as usize..r.end as usize], t.n_elements() as usize)
            .unwrap();
        let want: Vec<f32> = values(info, &src).iter().map(|&v| half::bf16::from_f32(v).to_f32()).collect();
        assert_eq!(got, want, "{name}");
        rounded.push((name, dims, GgmlType::F32, quantize(GgmlType::F32, &want).unwrap()));
    }
    // The BF16 model computes exactly what an F32 model of the same rounded values computes.
    let bf16_model = load(bytes).unwrap();
    let f32_model = load(write(&f16_file.header.metadata, rounded)).unwrap();
    let prompt = Golden::load("tiny-moe").ids("prompt_ids");
    let a = bf16_model.forward(&mut bf16_model.new_state(), &prompt, Logits::Last).unwrap();
    let b = f32_model.forward(&mut f32_model.new_state(), &prompt, Logits::Last).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.is_finite()));
}

/// Q8_0 and Q4_0 tensors of llama-quantize's files against the exact weights in the F16 file,
/// within the rounding bound of each format's quantizer, using the block's own stored scale d:
/// Q8_0 rounds x/d to the nearest integer (|err| <= d/2, plus the f16 rounding of d times 127);
/// Q4_0 may clip the top level (|err| <= |d|, plus 8 times the f16 rounding of d).
#[test]
fn quantized_fixture_tensors_are_within_bounds_of_the_exact_weights() {
    for (model, variant) in [("tiny-moe", "q8_0"), ("tiny-moe", "q4_0"), ("tiny-dense", "q8_0")] {
        let exact = GgufFile::open(gguf_path(model, "f16")).unwrap();
        let quant = GgufFile::open(gguf_path(model, variant)).unwrap();
        let mut checked = 0;
        for t in &quant.header.tensors {
            let bound: fn(f32) -> f32 = match t.ty {
                GgmlType::Q8_0 => |d| d * (0.5 + 127.0 / 2048.0) + 1e-7,
                GgmlType::Q4_0 => |d| d * (1.0 + 8.0 / 2048.0) + 1e-7,
                _ => continue,
            };
            let e = exact.header.tensor(&t.name).unwrap();
            let want = values(
                e,
                &exact.bytes()[exact.header.tensor_range(e).start as usize..exact.header.tensor_range(e).end as usize],
            );
            let r = quant.header.tensor_range(t);
            let raw = &quant.bytes()[r.start as usize..r.end as usize];
            let got = values(t, raw);
            for (b, (block, (g, w))) in
                raw.chunks(t.ty.type_size()).zip(got.chunks(32).zip(want.chunks(32))).enumerate()
            {
                let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32().abs();
                for (i, (x, y)) in g.iter().zip(w).enumerate() {
                    assert!(
                        (x - y).abs() <= bound(d),
                        "{model} {variant} {} block {b} element {i}: {x} vs exact {y} (d = {d})",
                        t.name
                    );
                }
            }
            checked += 1;
        }
        assert!(checked >= 5, "{model} {variant}: only {checked} quantized tensors checked");
    }
}

fn fixture() -> (BTreeMap<String, Value>, Vec<Tensor>) {
    let file = GgufFile::open(gguf_path("tiny-moe", "q8_0")).unwrap();
    (file.header.metadata.clone(), tensors_of(&file))
}

#[test]
fn wrong_arch_is_a_typed_error() {
    let (mut meta, tensors) = fixture();
    meta.insert("general.architecture".into(), Value::String("llama".into()));
    let err = load(write(&meta, tensors)).err().unwrap();
    assert!(matches!(&err, ModelError::UnsupportedArch(a) if a == "llama"), "{err}");
    assert!(err.to_string().contains("llama"));
}

#[test]
fn missing_tensor_is_named() {
    let (meta, mut tensors) = fixture();
    tensors.retain(|t| t.0 != "blk.4.attn_q.weight");
    let err = load(write(&meta, tensors)).err().unwrap();
    assert!(matches!(&err, ModelError::Gguf(GgufError::MissingTensor(n)) if n == "blk.4.attn_q.weight"), "{err}");
}

#[test]
fn wrong_shape_is_named() {
    let (meta, mut tensors) = fixture();
    let t = tensors.iter_mut().find(|t| t.0 == "blk.0.ffn_up.weight").unwrap();
    t.1 = vec![t.1[0] * 2, t.1[1] / 2]; // same bytes, wrong shape
    let err = load(write(&meta, tensors)).err().unwrap();
    assert!(matches!(&err, ModelError::WrongShape { tensor, .. } if tensor == "blk.0.ffn_up.weight"), "{err}");
}

#[test]
fn unsupported_tensor_type_is_named() {
    let (meta, mut tensors) = fixture();
    let t = tensors.iter_mut().find(|t| t.0 == "blk.3.shortconv.out_proj.weight").unwrap();
    // IQ4_NL has Q4_0's block size and byte size, so the file stays well-formed.
    t.2 = GgmlType::IQ4_NL;
    t.3.truncate(t.3.len() / 34 * 18);
    let err = load(write(&meta, tensors)).err().unwrap();
    assert!(
        matches!(&err, ModelError::UnsupportedType { tensor, ty: GgmlType::IQ4_NL } if tensor == "blk.3.shortconv.out_proj.weight"),
        "{err}"
    );
}

#[test]
fn missing_or_inconsistent_metadata_is_named() {
    let (mut meta, tensors) = fixture();
    meta.remove("lfm2moe.expert_count");
    let err = load(write(&meta, tensors.clone())).err().unwrap();
    assert!(matches!(&err, ModelError::Gguf(GgufError::MissingKey(k)) if k == "lfm2moe.expert_count"), "{err}");

    let (mut meta, _) = fixture();
    meta.insert(
        "lfm2moe.attention.head_count_kv".into(),
        Value::Array(lfm_webgpu::gguf::ValueType::I32, vec![Value::I32(0); 5]),
    );
    let err = load(write(&meta, tensors.clone())).err().unwrap();
    assert!(matches!(&err, ModelError::BadConfig(m) if m.contains("head_count_kv")), "{err}");

    let (mut meta, _) = fixture();
    meta.insert("lfm2moe.embedding_length".into(), Value::String("64".into()));
    let err = load(write(&meta, tensors)).err().unwrap();
    assert!(
        matches!(&err, ModelError::Gguf(GgufError::WrongType { key, .. }) if key == "lfm2moe.embedding_length"),
        "{err}"
    );
}

#[test]
fn truncated_tensor_data_is_an_error_not_a_panic() {
    let bytes = std::fs::read(gguf_path("tiny-moe", "q4_0")).unwrap();
    for cut in [bytes.len() - 1, bytes.len() / 2, 4096] {
        let err = load(bytes[..cut].to_vec()).err().unwrap();
        assert!(
            matches!(err, ModelError::Gguf(GgufError::TensorOutOfFile { .. } | GgufError::Truncated { .. })),
            "{err}"
        );
    }
}

/// Found reviewing what the gguf_header fuzz target covers (`fuzz/`): a scalar
/// `head_count_kv` was expanded to one entry per layer before `block_count` was checked, so a
/// corrupt count (2^40) aborted the process allocating 8 TB instead of failing.
#[test]
fn absurd_layer_count_is_a_typed_error() {
    let mut w = GgufWriter::new(3).metadata("general.architecture", Value::String("lfm2".into()));
    for (key, n) in [("embedding_length", 64), ("block_count", 1 << 40), ("attention.head_count", 4)] {
        w = w.metadata(format!("lfm2.{key}"), Value::U64(n));
    }
    let g = Gguf::from_bytes(&w.metadata("lfm2.attention.head_count_kv", Value::U32(2)).to_bytes()).unwrap();
    let err = lfm_webgpu::model::Config::from_gguf(&g).unwrap_err();
    assert!(matches!(&err, ModelError::BadConfig(m) if m.contains("block_count")), "{err}");
}

// ------------------------------------------------- absurd metadata: typed errors, device intact

/// The GPU context every bad file below is loaded on (lavapipe in CI), shared by the tests.
fn gpu() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| Arc::new(GpuContext::new_blocking().expect("a wgpu adapter (lavapipe in CI)"))).clone()
}

/// Loads `bytes` on the reference and on the GPU backend: both must fail, with the same
/// error, which is returned.
fn rejected(bytes: Vec<u8>) -> ModelError {
    let on_gpu = Gguf::from_bytes(&bytes)
        .map_err(ModelError::from)
        .and_then(|g| GpuModel::new(gpu(), &g, &SharedBytes::new(Arc::new(bytes.clone()))))
        .err()
        .expect("the GPU backend loaded a bad file");
    let reference = load(bytes).err().expect("the reference backend loaded a bad file");
    assert_eq!(on_gpu.to_string(), reference.to_string());
    reference
}

/// After the failures, the same GPU device loads the real model and gives its golden greedy
/// tokens: a bad file leaves nothing behind.
fn assert_the_device_still_runs_the_model() {
    let file = GgufFile::open(gguf_path("tiny-moe", "q8_0")).unwrap();
    let m = GpuModel::new(gpu(), &file.header, &SharedBytes::new(file.shared_bytes())).unwrap();
    let g = Golden::load("tiny-moe");
    let (prompt, want) = (g.ids("prompt_ids"), g.ids("dequant.q8_0.generated_ids"));
    let mut state = m.new_state(prompt.len() + 3).unwrap();
    let mut sampler = Sampler::new(SamplingParams::default());
    let mut got = vec![m.forward_sample_blocking(&mut state, &prompt, &mut sampler).unwrap()];
    while got.len() < 3 {
        let next = [*got.last().unwrap()];
        got.push(m.forward_sample_blocking(&mut state, &next, &mut sampler).unwrap());
    }
    assert_eq!(got, want[..3]);
    assert!(gpu().lost().is_none());
}

/// The fixture's bytes, to be patched in place (every offset in the file stays right).
fn fixture_bytes() -> Vec<u8> {
    std::fs::read(gguf_path("tiny-moe", "q8_0")).unwrap()
}

/// Arrays of absurd lengths: one declared with 2^40 elements (corrupt: a reader must not wait
/// for, or allocate, terabytes) and one really holding a million entries where the config wants
/// one per layer.
#[test]
fn huge_metadata_arrays_are_typed_errors() {
    let mut b = fixture_bytes();
    // Key, value type (array), element type, then the element count.
    let key = b"tokenizer.ggml.token_type";
    let count = find(&b, key) + key.len() + 4 + 4;
    assert_eq!(get_u64(&b, count), 65536);
    put_u64(&mut b, count, 1 << 40);
    let err = rejected(b);
    assert!(matches!(&err, ModelError::Gguf(GgufError::Corrupt { what: "array length", .. })), "{err}");

    let (mut meta, tensors) = fixture();
    meta.insert("lfm2moe.attention.head_count_kv".into(), Value::Array(ValueType::I32, vec![Value::I32(2); 1 << 20]));
    let err = rejected(write(&meta, tensors));
    assert!(matches!(&err, ModelError::BadConfig(m) if m.contains("1048576 entries for 6 layers")), "{err}");
    assert_the_device_still_runs_the_model();
}

/// A tensor with a zero dimension (an empty tensor is valid GGUF, not a valid weight), and
/// zero or 2^40 in the hyperparameters: named, before anything is allocated for them.
#[test]
fn zero_and_absurd_dimensions_are_typed_errors() {
    let (meta, mut tensors) = fixture();
    let t = tensors.iter_mut().find(|t| t.0 == "blk.0.ffn_up.weight").unwrap();
    (t.1, t.3) = (vec![64, 0], vec![]);
    let err = rejected(write(&meta, tensors));
    assert!(
        matches!(&err, ModelError::WrongShape { tensor, found, .. } if tensor == "blk.0.ffn_up.weight" && found == &[64, 0]),
        "{err}"
    );

    for (key, n, what) in [
        ("embedding_length", 0, "embedding_length 0"),
        ("vocab_size", 0, "vocab_size"),
        ("expert_used_count", 0, "expert_used_count 0"),
        ("embedding_length", 1 << 40, "token_embd.weight"),
        ("expert_count", 1 << 40, "ffn_gate_inp"),
        ("feed_forward_length", 1 << 40, "ffn_"),
    ] {
        let (mut meta, tensors) = fixture();
        meta.insert(format!("lfm2moe.{key}"), Value::U64(n));
        let err = rejected(write(&meta, tensors));
        assert!(
            matches!(&err, ModelError::BadConfig(_) | ModelError::WrongShape { .. }) && err.to_string().contains(what),
            "{key} = {n}: {err}"
        );
    }
    assert_the_device_still_runs_the_model();
}

/// Tensors of 2^40 elements and more (terabytes) are rejected with the header; one just
/// below that is a valid header whose data is not in the file. (The last tensor of the data
/// section is grown: any other would first overlap its successor.)
#[test]
fn tensors_of_2_40_elements_are_typed_errors() {
    let mut b = fixture_bytes();
    let g = Gguf::from_bytes(&b).unwrap();
    let last = g.tensors.iter().max_by_key(|t| t.offset).unwrap();
    let rest: u64 = last.dims[..last.dims.len() - 1].iter().product();
    let at = info_at(&b, &last.name).dims + 8 * (last.dims.len() - 1);
    put_u64(&mut b, at, (1 << 41) / rest);
    let err = rejected(b.clone());
    assert!(
        matches!(&err, ModelError::Gguf(GgufError::BadTensor { tensor, reason }) if tensor == &last.name && reason.contains("too large")),
        "{err}"
    );
    put_u64(&mut b, at, ((1 << 40) - 1) / rest); // just under 2^40 elements: terabytes
    let err = rejected(b);
    assert!(
        matches!(&err, ModelError::Gguf(GgufError::TensorOutOfFile { tensor, .. }) if tensor == &last.name),
        "{err}"
    );
    assert_the_device_still_runs_the_model();
}

/// A tensor whose data overlaps another's, or lies past the end of the file.
#[test]
fn tensor_ranges_overlapping_or_outside_the_file_are_typed_errors() {
    let base = fixture_bytes();
    let down = get_u64(&base, info_at(&base, "blk.0.ffn_down.weight").offset);
    let mut b = base.clone();
    let at = info_at(&b, "blk.0.ffn_up.weight").offset;
    put_u64(&mut b, at, down);
    let err = rejected(b);
    assert!(
        matches!(&err, ModelError::Gguf(GgufError::BadTensor { reason, .. }) if reason.contains("overlaps tensor")),
        "{err}"
    );

    let mut b = base.clone();
    let g = Gguf::from_bytes(&base).unwrap();
    let past_the_end = (base.len() as u64 - g.data_offset).next_multiple_of(g.alignment);
    let at = info_at(&b, "token_embd_norm.weight").offset;
    put_u64(&mut b, at, past_the_end);
    let err = rejected(b);
    assert!(
        matches!(&err, ModelError::Gguf(GgufError::TensorOutOfFile { tensor, .. }) if tensor == "token_embd_norm.weight"),
        "{err}"
    );
    assert_the_device_still_runs_the_model();
}
