//! WGSL sources: the files of `shaders/`, embedded in the binary, and a tiny preprocessor.
//!
//! One kernel per file, file name = entry point = host function (`shaders/rms_norm.wgsl`,
//! `fn rms_norm`, [`super::kernels::rms_norm`]). Shared helpers live in their own files and
//! are pulled in by a line `#include "common/bytes.wgsl"` (paths relative to `shaders/`,
//! each file included once however often it is named). Kernels generic over the weight
//! format (`matvec`, `matmul`, `embed`) get one `shaders/quant/<type>.wgsl` helper prepended
//! per variant, which names the pipeline `matvec_q4_0` etc.

use std::collections::HashSet;

use crate::quant::GgmlType;

use super::context::GpuError;

macro_rules! shader_files {
    ($($path:literal),* $(,)?) => {
        /// Every file under `shaders/`, by its path relative to that folder.
        pub const FILES: &[(&str, &str)] = &[$(($path, include_str!(concat!("../../shaders/", $path)))),*];
    };
}

shader_files!(
    "add.wgsl",
    "argmax.wgsl",
    "attention.wgsl",
    "attention_combine.wgsl",
    "copy.wgsl",
    "embed.wgsl",
    "kv_store.wgsl",
    "matmul.wgsl",
    "matvec.wgsl",
    "moe_combine.wgsl",
    "moe_matvec.wgsl",
    "moe_route.wgsl",
    "repetition_penalty.wgsl",
    "rms_norm.wgsl",
    "rope.wgsl",
    "sample.wgsl",
    "short_conv.wgsl",
    "swiglu.wgsl",
    "common/bytes.wgsl",
    "common/dot_rows.wgsl",
    "common/kscale.wgsl",
    "common/split_scale.wgsl",
    "common/trig.wgsl",
    "quant/bf16.wgsl",
    "quant/f16.wgsl",
    "quant/f32.wgsl",
    "quant/q4_0.wgsl",
    "quant/q4_1.wgsl",
    "quant/q4_k.wgsl",
    "quant/q5_0.wgsl",
    "quant/q5_1.wgsl",
    "quant/q5_k.wgsl",
    "quant/q6_k.wgsl",
    "quant/q8_0.wgsl",
);

/// Kernels with one variant per weight format.
pub const QUANT_KERNELS: &[&str] = &["embed", "matmul", "matvec", "moe_matvec"];
/// Kernels with a single variant.
pub const PLAIN_KERNELS: &[&str] = &[
    "add",
    "argmax",
    "attention",
    "attention_combine",
    "copy",
    "kv_store",
    "moe_combine",
    "moe_route",
    "repetition_penalty",
    "rms_norm",
    "rope",
    "sample",
    "short_conv",
    "swiglu",
];

/// The weight formats with a `shaders/quant/` helper.
pub const GPU_TYPES: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// One shader variant: a kernel file, optionally specialized to a weight format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShaderSpec {
    /// Kernel file stem, also the entry point.
    pub kernel: &'static str,
    pub quant: Option<GgmlType>,
}

impl ShaderSpec {
    pub const fn plain(kernel: &'static str) -> ShaderSpec {
        ShaderSpec { kernel, quant: None }
    }

    pub const fn quant(kernel: &'static str, ty: GgmlType) -> ShaderSpec {
        ShaderSpec { kernel, quant: Some(ty) }
    }

    /// Pipeline label: `rms_norm`, `matvec_q4_k`, ...
    pub fn label(&self) -> String {
        match self.quant {
            Some(ty) => format!("{}_{}", self.kernel, ty.name().to_ascii_lowercase()),
            None => self.kernel.to_string(),
        }
    }

    pub fn entry(&self) -> &'static str {
        self.kernel
    }

    /// The complete WGSL of this variant, includes expanded.
    pub fn source(&self) -> Result<String, GpuError> {
        let mut root = String::new();
        if let Some(ty) = self.quant {
            if !GPU_TYPES.contains(&ty) {
                return Err(GpuError::Unsupported(ty));
            }
            root.push_str(&format!("#include \"quant/{}.wgsl\"\n", ty.name().to_ascii_lowercase()));
        }
        root.push_str(&format!("#include \"{}.wgsl\"\n", self.kernel));
        expand_includes(&root)
    }

    /// Every variant the kernels can ask for (for validation in tests).
    pub fn all() -> Vec<ShaderSpec> {
        let plain = PLAIN_KERNELS.iter().map(|k| ShaderSpec::plain(k));
        let quant = QUANT_KERNELS.iter().flat_map(|k| GPU_TYPES.iter().map(move |&ty| ShaderSpec::quant(k, ty)));
        plain.chain(quant).collect()
    }
}

/// `text` with every `#include "path"` line replaced by `shaders/<path>` (recursively, each
/// file once); an unknown file or malformed directive is [`GpuError::Shader`].
pub fn expand_includes(text: &str) -> Result<String, GpuError> {
    let mut out = String::new();
    expand(text, "<source>", &mut HashSet::new(), &mut out)?;
    Ok(out)
}

/// Appends `text` to `out`, replacing each `#include "path"` line by that file (recursively,
/// once per file). A malformed directive or unknown file is an error naming `origin`.
fn expand(text: &str, origin: &str, seen: &mut HashSet<&'static str>, out: &mut String) -> Result<(), GpuError> {
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("#include") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let path = rest
            .trim()
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .ok_or_else(|| GpuError::Shader(format!("{origin}:{}: malformed include `{}`", n + 1, line.trim())))?;
        let (key, body) = FILES
            .iter()
            .find(|(p, _)| *p == path)
            .ok_or_else(|| GpuError::Shader(format!("{origin}:{}: unknown include \"{path}\"", n + 1)))?;
        if seen.insert(key) {
            expand(body, key, seen, out)?;
        }
    }
    Ok(())
}
