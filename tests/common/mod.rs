//! Shared test helpers: fixture paths, golden tensors, model loading, comparisons.
#![allow(dead_code)]

pub mod gguf_bytes;
pub mod golden;
pub mod gpu;

use std::path::PathBuf;

use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::reference::ReferenceModel;

pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"))
}

/// The GGUF files shipped with the fixtures: (model dir, variant).
pub const SHIPPED: &[(&str, &str)] = &[
    ("tiny-moe", "f16"),
    ("tiny-moe", "q8_0"),
    ("tiny-moe", "q4_0"),
    ("small-moe", "q4_k_m"),
    ("small-moe", "q5_k_m"),
    ("small-moe", "q6_k"),
    ("tiny-dense", "f16"),
    ("tiny-dense", "q8_0"),
];

pub fn gguf_path(model: &str, variant: &str) -> PathBuf {
    fixtures().join(model).join(format!("{model}-{variant}.gguf"))
}

pub fn open(model: &str, variant: &str) -> (GgufFile, ReferenceModel) {
    let file = GgufFile::open(gguf_path(model, variant)).expect("fixture GGUF opens");
    let m = ReferenceModel::new(&file.header, &SharedBytes::new(file.shared_bytes())).expect("fixture model loads");
    (file, m)
}

/// `golden.safetensors` of one fixture model.
pub struct Golden {
    bytes: Vec<u8>,
}

impl Golden {
    pub fn load(model: &str) -> Golden {
        Golden { bytes: std::fs::read(fixtures().join(model).join("golden.safetensors")).expect("golden.safetensors") }
    }

    fn raw(&self, key: &str) -> (Vec<usize>, Vec<u8>) {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let t = st.tensor(key).unwrap_or_else(|_| panic!("golden key {key} missing"));
        (t.shape().to_vec(), t.data().to_vec())
    }

    pub fn has(&self, key: &str) -> bool {
        safetensors::SafeTensors::deserialize(&self.bytes).unwrap().tensor(key).is_ok()
    }

    /// (shape, values) of an F32 tensor.
    pub fn f32(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, data) = self.raw(key);
        (shape, data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    }

    pub fn i32(&self, key: &str) -> (Vec<usize>, Vec<i32>) {
        let (shape, data) = self.raw(key);
        (shape, data.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect())
    }

    pub fn ids(&self, key: &str) -> Vec<u32> {
        self.i32(key).1.into_iter().map(|v| v as u32).collect()
    }
}

/// Largest |a - b|, and where.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter().zip(b).enumerate().fold((0.0, 0), |(m, at), (i, (x, y))| {
        let d = (x - y).abs();
        if d > m || d.is_nan() {
            (d, i)
        } else {
            (m, at)
        }
    })
}

/// Asserts |a - b| <= tol elementwise, naming the worst index and both values.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    let (d, i) = max_abs_diff(got, want);
    assert!(d <= tol, "{what}: max abs diff {d:e} > {tol:e} at index {i} (got {}, want {})", got[i], want[i]);
}

/// Asserts |a - b| <= tol * (1 + |b|) elementwise.
pub fn assert_close_rel(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: index {i}: got {a}, want {b} (tol {tol:e} x (1 + |want|))"
        );
    }
}

/// Seeded test inputs use the library's own portable generator.
#[allow(unused_imports)]
pub use lfm_webgpu::rng::Rng;
