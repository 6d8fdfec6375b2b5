//! WGSL sources: the files of `shaders/`, embedded in the binary, and a tiny preprocessor.
//!
//! One kernel per file, file name = entry point = host function (`shaders/rms_norm.wgsl`,
//! `fn rms_norm`, [`super::kernels::rms_norm`]). Shared helpers live in their own files and
//! are pulled in by a line `#include "common/bytes.wgsl"` (paths relative to `shaders/`,
//! each file included once however often it is named). Kernels generic over the weight
//! format (`matvec`, `matmul`, `embed`) get one `shaders/quant/<type>.wgsl` helper prepended
//! per variant, which names the pipeline `matvec_q4_0` etc.
//!
//! Seven include names are chosen per variant rather than fixed: `quant/dot.wgsl` is the
//! format's dot-unit helper (`dot/<type>.wgsl`, or `dot/generic.wgsl` for formats without
//! one), `common/dot_loop.wgsl` its loop over the units (`dot_loop_chunked.wgsl` for the
//! [`SCALE_CHUNK_TYPES`], else `dot_loop_strided.wgsl`), `common/reduce.wgsl` the workgroup sum that suits the adapter
//! (`reduce_subgroup.wgsl` or `reduce_shared.wgsl`, see [`ShaderTarget`]) and
//! `common/x_vectors.wgsl` how a matrix-vector kernel binds its vectors (`x_storage.wgsl`,
//! `x_uniform.wgsl` for [`ShaderSpec::uniform_x`] variants, `x_normed.wgsl` for
//! [`ShaderSpec::normed_x`] ones), and `common/kv_elements.wgsl` how
//! the KV-cache kernels store K and V (`kv_f16.wgsl`, or `kv_f32.wgsl` for
//! [`ShaderSpec::kv_f32`] variants). `common/weights.wgsl` and `common/weights_wide.wgsl`
//! bind the weights (`weights_buffer.wgsl` and `weights_wide_buffer.wgsl`, or for
//! [`ShaderSpec::weight_texture`] variants `weights_texture.wgsl` for both).

use std::collections::HashSet;

use crate::quant::GgmlType;

use super::context::GpuError;

pub use super::shader_files::FILES;

/// Kernels with one variant per weight format.
pub const QUANT_KERNELS: &[&str] = &[
    "batch_matvec",
    "conv_in_proj",
    "embed",
    "matmul",
    "matmul_wide",
    "matvec",
    "moe_batch_matvec",
    "moe_down_add",
    "moe_matmul",
    "moe_matvec",
    "moe_route_gate_up",
    "moe_router",
];
/// Kernels that dot weight units (`common/dot_rows.wgsl`, so the format's `quant/dot.wgsl`);
/// the others of [`QUANT_KERNELS`] decode through the quant helper alone.
const DOT_KERNELS: &[&str] = &[
    "batch_matvec",
    "conv_in_proj",
    "matvec",
    "moe_batch_matvec",
    "moe_down_add",
    "moe_matvec",
    "moe_route_gate_up",
    "moe_router",
];
/// Kernels that also have a [`ShaderSpec::uniform_x`] variant.
pub const UNIFORM_X_KERNELS: &[&str] =
    &["attention", "conv_in_proj", "matvec", "moe_down_add", "moe_matvec", "moe_route_gate_up", "moe_router"];
/// Kernels that also have a [`ShaderSpec::normed_x`] variant (each calls `prepare_x` first).
pub const NORMED_X_KERNELS: &[&str] = &["conv_in_proj", "matvec"];
/// Kernels that read or write a KV cache: also a [`ShaderSpec::kv_f32`] variant.
pub const KV_KERNELS: &[&str] = &["attention", "kv_store", "qk_norm_rope_store"];
/// Bytes of the uniform window of `common/x_uniform.wgsl` (`X_UNIFORM_VEC4S` vec4s).
pub const X_UNIFORM_BYTES: u64 = 65536;
/// Kernels with a single variant.
pub const PLAIN_KERNELS: &[&str] = &[
    "add",
    "add_rms_norm",
    "argmax",
    "attention",
    "attention_combine",
    "copy",
    "kv_store",
    "moe_add_rms_norm",
    "moe_combine",
    "moe_group",
    "moe_sort",
    "moe_route",
    "qk_norm_rope_store",
    "repetition_penalty",
    "rms_norm",
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

/// The formats whose dot helpers also have the chunked unit loop (`common/dot_loop_chunked.wgsl`,
/// its `scale_chunks` override): runs of units that share one load of scales, a good part of
/// their loads. (Q8_0, its body twice Q4_0's, measured no gain on lavapipe: 4.47 against
/// 4.33 GB/s.) A chunk is 256 elements in each.
pub const SCALE_CHUNK_TYPES: &[GgmlType] = &[GgmlType::Q4_0, GgmlType::Q4_K];

/// The formats with their own dot-unit helper `shaders/dot/<type>.wgsl` (the others use
/// `dot/generic.wgsl`); these helpers also read the weights as `array<vec4<u32>>`.
const WIDE_DOT_TYPES: &[GgmlType] = &[GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K];

/// What the adapter lets shaders use, fixed per [`super::GpuContext`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShaderTarget {
    /// Workgroup sums by subgroup operations: the device has subgroups and its smallest
    /// subgroup holds a whole matvec workgroup.
    pub subgroup_reduce: bool,
    /// Start the source with `enable subgroups;` (browsers require it; naga rejects it).
    pub enable_directive: bool,
    /// Q6_K dot units of one quarter block (32 elements, `dot/q6_k_quarters.wgsl`, GPUs)
    /// rather than a half (128, `dot/q6_k.wgsl`): every thread of a 64-thread workgroup at
    /// work on a row of 2048 (halves: 16 of them), with a short chain each. H200: the 8B's
    /// tied Q6_K head 0.387 -> 0.305 ms a token as pairs of quarters (2026-11-27, session 11),
    /// then as quarters 8B Q4_0 decode 376 against 350 tok/s and an all-Q6_K 8B 325-329
    /// against 235-238 tok/s, its prefill of 1,024 1,278-1,631 against 646-711 (session 15).
    /// CPU adapters keep the halves, whose loads are fewer (lavapipe Q6_K matvec 1.79
    /// against 1.18 GB/s as quarters).
    pub q6_k_quarters: bool,
    /// Q4_K dot units of one sub-block of 32 (`dot/q4_k_subblocks.wgsl`, GPUs) rather than a
    /// quarter block of 64 (`dot/q4_k.wgsl`): twice the threads of a workgroup at work on a
    /// row of 2048 and half a thread's chain (H200, 8B Q4_K_M at 1K: decode 278-287 against
    /// 203 tok/s, GPU time 3.58 against 4.90 ms a token, prefill of 1,024 1,045 against
    /// 884-975 tok/s; a Q4_K matvec alone 1.43x; 2026-11-27). CPU adapters keep the quarters
    /// (lavapipe Q4_K matvec 3.51 against 3.56 GB/s: each qs word is loaded twice).
    pub q4_k_subblocks: bool,
    /// K-quant dot units widen their blocks' f16 (d, dmin) from the bits, without subnormal
    /// operands (`common/f16_pair_bits.wgsl`): CPU adapters, whose cores take a microcode
    /// assist on each f16 subnormal that `unpack2x16float` widens. GPUs convert natively.
    pub f16_scales_by_bits: bool,
}

/// One shader variant: a kernel file, optionally specialized to a weight format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShaderSpec {
    /// Kernel file stem, also the entry point.
    pub kernel: &'static str,
    pub quant: Option<GgmlType>,
    /// A matrix-vector kernel reading its vectors (binding 2) from a 64 KiB uniform window
    /// instead of a storage buffer (`common/x_uniform.wgsl`; CPU adapters, see
    /// `Tuning::uniform_x`): the host binds the window, [`X_UNIFORM_BYTES`] of the buffer.
    pub uniform_x: bool,
    /// A KV-cache kernel for an f32 cache (`common/kv_f32.wgsl`) instead of f16 pairs.
    pub kv_f32: bool,
    /// A decode matrix-vector kernel whose workgroups RMS-norm their vector themselves
    /// (`common/x_normed.wgsl`; `Tuning::fused_norms`): binding 2 is the residual stream,
    /// binding 9 the norm's weight, binding 10 where the normed vector is stored, the
    /// overrides `x_vec4s` and `x_eps` set.
    pub normed_x: bool,
    /// A weight kernel reading its matrix from an rgba32uint texture at binding 1
    /// (`common/weights_texture.wgsl`; matrices converted by `GpuMatrix::to_textures`)
    /// instead of a storage buffer.
    pub weight_texture: bool,
}

/// A kernel's name stands for its plain variant.
impl From<&'static str> for ShaderSpec {
    fn from(kernel: &'static str) -> ShaderSpec {
        ShaderSpec::plain(kernel)
    }
}

impl ShaderSpec {
    pub const fn plain(kernel: &'static str) -> ShaderSpec {
        ShaderSpec { kernel, quant: None, uniform_x: false, kv_f32: false, normed_x: false, weight_texture: false }
    }

    pub const fn quant(kernel: &'static str, ty: GgmlType) -> ShaderSpec {
        ShaderSpec { kernel, quant: Some(ty), uniform_x: false, kv_f32: false, normed_x: false, weight_texture: false }
    }

    /// This variant with its vectors in the uniform window (`uniform`) or not.
    pub const fn with_uniform_x(self, uniform: bool) -> ShaderSpec {
        ShaderSpec { uniform_x: uniform, ..self }
    }

    /// This variant with its vector normed by the kernel itself (`normed`) or not.
    pub const fn with_normed_x(self, normed: bool) -> ShaderSpec {
        ShaderSpec { normed_x: normed, ..self }
    }

    /// This weight kernel reading its matrix from a texture (`texture`) or a buffer.
    pub const fn with_weight_texture(self, texture: bool) -> ShaderSpec {
        ShaderSpec { weight_texture: texture, ..self }
    }

    /// This KV-cache kernel for an f32 cache (`f32`) or f16 pairs.
    pub const fn with_kv_f32(self, f32: bool) -> ShaderSpec {
        ShaderSpec { kv_f32: f32, ..self }
    }

    /// Pipeline label: `rms_norm`, `matvec_q4_k`, `matvec_q4_k+ux` (uniform x), `matvec_q4_0+nx`
    /// (normed x), `matvec_q4_0+tex+ux` (texture weights), `attention+kv32` (f32 KV cache), ...
    pub fn label(&self) -> String {
        let ux = match (self.uniform_x, self.normed_x) {
            (true, _) => "+ux",
            (false, true) => "+nx",
            (false, false) => "",
        };
        let kv = if self.kv_f32 { "+kv32" } else { "" };
        let tex = if self.weight_texture { "+tex" } else { "" };
        match self.quant {
            Some(ty) => format!("{}_{}{tex}{ux}{kv}", self.kernel, ty.name().to_ascii_lowercase()),
            None => format!("{}{ux}{kv}", self.kernel),
        }
    }

    pub fn entry(&self) -> &'static str {
        self.kernel
    }

    /// The complete WGSL of this variant for the portable target (no subgroups).
    pub fn source(&self) -> Result<String, GpuError> {
        self.source_for(ShaderTarget::default())
    }

    /// Whether this variant's dot-unit helper also reads the weights' buffer as
    /// `array<vec4<u32>>`, bound again at binding 8 (texture weights are one binding).
    pub fn wide_weights(&self) -> bool {
        !self.weight_texture
            && DOT_KERNELS.contains(&self.kernel)
            && self.quant.is_some_and(|ty| WIDE_DOT_TYPES.contains(&ty))
    }

    /// The complete WGSL of this variant for `target`, includes expanded.
    pub fn source_for(&self, target: ShaderTarget) -> Result<String, GpuError> {
        let mut root = String::new();
        if target.subgroup_reduce && target.enable_directive {
            root.push_str("enable subgroups;\n");
        }
        if let Some(ty) = self.quant {
            if !GPU_TYPES.contains(&ty) {
                return Err(GpuError::Unsupported(ty));
            }
            root.push_str(&format!("#include \"quant/{}.wgsl\"\n", ty.name().to_ascii_lowercase()));
        }
        root.push_str(&format!("#include \"{}.wgsl\"\n", self.kernel));
        let mut out = String::new();
        let choice = Choice {
            quant: self.quant,
            uniform_x: self.uniform_x,
            normed_x: self.normed_x,
            kv_f32: self.kv_f32,
            weight_texture: self.weight_texture,
            target,
        };
        expand(&root, "<source>", &mut HashSet::new(), &mut out, &choice)?;
        Ok(out)
    }

    /// Every variant the kernels can ask for (for validation in tests).
    pub fn all() -> Vec<ShaderSpec> {
        let plain = PLAIN_KERNELS.iter().map(|k| ShaderSpec::plain(k));
        let quant = QUANT_KERNELS.iter().flat_map(|k| GPU_TYPES.iter().map(move |&ty| ShaderSpec::quant(k, ty)));
        let with_ux = |s: ShaderSpec| {
            let ux = UNIFORM_X_KERNELS.contains(&s.kernel).then_some(s.with_uniform_x(true));
            let nx = NORMED_X_KERNELS.contains(&s.kernel).then_some(s.with_normed_x(true));
            std::iter::once(s).chain(ux).chain(nx)
        };
        let with_kv = |s: ShaderSpec| {
            let kv = KV_KERNELS.contains(&s.kernel).then_some(s.with_kv_f32(true));
            std::iter::once(s).chain(kv)
        };
        let with_tex = |s: ShaderSpec| {
            let tex = s.quant.is_some().then_some(s.with_weight_texture(true));
            std::iter::once(s).chain(tex)
        };
        plain.chain(quant).flat_map(with_tex).flat_map(with_ux).flat_map(with_kv).collect()
    }
}

/// `text` with every `#include "path"` line replaced by `shaders/<path>` (recursively, each
/// file once); an unknown file or malformed directive is [`GpuError::Shader`].
pub fn expand_includes(text: &str) -> Result<String, GpuError> {
    let mut out = String::new();
    let choice = Choice {
        quant: None,
        uniform_x: false,
        normed_x: false,
        kv_f32: false,
        weight_texture: false,
        target: ShaderTarget::default(),
    };
    expand(text, "<source>", &mut HashSet::new(), &mut out, &choice)?;
    Ok(out)
}

/// What the chosen include names resolve to.
struct Choice {
    quant: Option<GgmlType>,
    uniform_x: bool,
    normed_x: bool,
    kv_f32: bool,
    weight_texture: bool,
    target: ShaderTarget,
}

impl Choice {
    /// The file an include name stands for: itself, or the variant's choice for the seven
    /// chosen names.
    fn resolve(&self, path: &str) -> Option<String> {
        match path {
            "quant/dot.wgsl" => Some(match self.quant? {
                GgmlType::Q6_K if self.target.q6_k_quarters => "dot/q6_k_quarters.wgsl".into(),
                GgmlType::Q4_K if self.target.q4_k_subblocks => "dot/q4_k_subblocks.wgsl".into(),
                ty if WIDE_DOT_TYPES.contains(&ty) => format!("dot/{}.wgsl", ty.name().to_ascii_lowercase()),
                _ => "dot/generic.wgsl".into(),
            }),
            "common/dot_loop.wgsl" => Some(match self.quant {
                Some(ty) if SCALE_CHUNK_TYPES.contains(&ty) => "common/dot_loop_chunked.wgsl".into(),
                _ => "common/dot_loop_strided.wgsl".into(),
            }),
            "common/f16_pair.wgsl" if self.target.f16_scales_by_bits => Some("common/f16_pair_bits.wgsl".into()),
            "common/f16_pair.wgsl" => Some("common/f16_pair_native.wgsl".into()),
            "common/reduce.wgsl" if self.target.subgroup_reduce => Some("common/reduce_subgroup.wgsl".into()),
            "common/reduce.wgsl" => Some("common/reduce_shared.wgsl".into()),
            "common/x_vectors.wgsl" if self.uniform_x => Some("common/x_uniform.wgsl".into()),
            "common/x_vectors.wgsl" if self.normed_x => Some("common/x_normed.wgsl".into()),
            "common/x_vectors.wgsl" => Some("common/x_storage.wgsl".into()),
            "common/kv_elements.wgsl" if self.kv_f32 => Some("common/kv_f32.wgsl".into()),
            "common/kv_elements.wgsl" => Some("common/kv_f16.wgsl".into()),
            // Texture weights: one file declares the texture and both accessors (the second
            // name then adds nothing: each file is included once).
            "common/weights.wgsl" | "common/weights_wide.wgsl" if self.weight_texture => {
                Some("common/weights_texture.wgsl".into())
            }
            "common/weights.wgsl" => Some("common/weights_buffer.wgsl".into()),
            "common/weights_wide.wgsl" => Some("common/weights_wide_buffer.wgsl".into()),
            _ => Some(path.into()),
        }
    }
}

fn find_file(path: &str) -> Option<&'static (&'static str, &'static str)> {
    FILES.iter().find(|(p, _)| *p == path)
}

/// Appends `text` to `out`, replacing each `#include "path"` line by that file (recursively,
/// once per file). A malformed directive or unknown file is an error naming `origin`.
fn expand(
    text: &str,
    origin: &str,
    seen: &mut HashSet<&'static str>,
    out: &mut String,
    choice: &Choice,
) -> Result<(), GpuError> {
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
        let (key, body) = choice
            .resolve(path)
            .and_then(|p| find_file(&p))
            .ok_or_else(|| GpuError::Shader(format!("{origin}:{}: unknown include \"{path}\"", n + 1)))?;
        if seen.insert(key) {
            match dev_override(key) {
                Some(text) => expand(&text, key, seen, out, choice)?,
                None => expand(body, key, seen, out, choice)?,
            }
        }
    }
    Ok(())
}

/// Kernel development without rebuilding: natively, with `LFM_SHADER_DIR` set, shader files
/// are read from that folder (e.g. `shaders/`) when a pipeline is built, instead of the copies
/// embedded at compile time. Never used by tests or the browser build.
#[cfg(not(target_arch = "wasm32"))]
fn dev_override(path: &str) -> Option<String> {
    let dir = std::env::var_os("LFM_SHADER_DIR")?;
    std::fs::read_to_string(std::path::Path::new(&dir).join(path)).ok()
}

#[cfg(target_arch = "wasm32")]
fn dev_override(_path: &str) -> Option<String> {
    None
}
