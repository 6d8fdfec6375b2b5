//! Helpers of the GPU kernel tests: one shared context, seeded inputs, run-and-read-back, and
//! comparisons that name the first index off with both values.

use std::sync::OnceLock;

use std::sync::Arc;

use lfm_webgpu::gpu::shader::{ShaderSpec, ShaderTarget};
use lfm_webgpu::gpu::{GpuContext, GpuMatrix, GpuTensor, Ops, TextureCopies};
use lfm_webgpu::model::{HostTensor, SharedBytes};
use lfm_webgpu::quant::{self, GgmlType};
use lfm_webgpu::rng::Rng;

/// The test binary's GPU context (whatever adapter wgpu picks; lavapipe in CI). Without an
/// adapter the tests fail loudly rather than pass without testing anything.
pub fn ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = GpuContext::new_blocking().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
        eprintln!("GPU tests on {} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend);
        ctx
    })
}

/// `n` values uniform in [-scale, scale).
pub fn random(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect()
}

/// `n` normal values of standard deviation `scale`.
pub fn gaussian(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gauss() * scale).collect()
}

/// A `(rows, cols)` tensor holding `data`.
pub fn tensor(rows: usize, cols: usize, data: &[f32]) -> GpuTensor {
    GpuTensor::from_f32(ctx(), "t", rows, cols, data).expect("tensor")
}

/// A zeroed `(rows, cols)` tensor.
pub fn zeros(rows: usize, cols: usize) -> GpuTensor {
    GpuTensor::zeros(ctx(), "zeros", rows, cols).expect("tensor")
}

/// A `(rows, cols)` tensor of u32 ids.
pub fn ids(rows: usize, cols: usize, data: &[u32]) -> GpuTensor {
    GpuTensor::from_u32(ctx(), "ids", rows, cols, data).expect("tensor")
}

/// A `(rows, cols)` host matrix of `ty` holding `values` quantized by the reference quantizer.
pub fn host_matrix(ty: GgmlType, rows: usize, cols: usize, values: &[f32]) -> HostTensor {
    let bytes = quant::quantize(ty, values).expect("quantizable");
    HostTensor { name: "w".into(), ty, dims: vec![cols as u64, rows as u64], bytes: SharedBytes::new(Arc::new(bytes)) }
}

/// Stacked experts: `n_exp` of `rpe` rows of `cols` seeded random values quantized to `ty`,
/// in buffers of at most `per_part` experts.
#[allow(dead_code)] // not every test binary uses it
pub fn stacked_experts(
    c: &GpuContext,
    rng: &mut Rng,
    ty: GgmlType,
    n_exp: usize,
    rpe: usize,
    cols: usize,
    per_part: usize,
) -> GpuMatrix {
    let host = host_matrix(ty, n_exp * rpe, cols, &random(rng, n_exp * rpe * cols, 1.0));
    let limit = (per_part * rpe) as u64 * ty.bytes_for(cols as u64).unwrap() + 4;
    GpuMatrix::with_limit(c, "experts", ty, n_exp * rpe, cols, &host.bytes, rpe, limit).unwrap()
}

/// `t` on the GPU, within the device's binding limits, placed as `ctx()`'s tuning places a
/// model's matrices ([`as_tuned`]).
pub fn upload(t: &HostTensor) -> GpuMatrix {
    as_tuned(ctx(), GpuMatrix::from_host(ctx(), t, 1).expect("upload"))
}

/// `m` kept where `c`'s tuning keeps a model's matrices (`GpuMatrix::place_as_tuned`:
/// textures on CPU adapters, so lavapipe in CI).
pub fn as_tuned(c: &GpuContext, mut m: GpuMatrix) -> GpuMatrix {
    m.place_as_tuned(c, &mut TextureCopies::default()).expect("textures");
    m
}

/// Records `record`'s dispatches and submits them.
pub fn submit(record: impl FnOnce(&mut Ops<'_>)) {
    submit_on(ctx(), record);
}

/// [`submit`] on another context than the shared one.
pub fn submit_on(c: &GpuContext, record: impl FnOnce(&mut Ops<'_>)) {
    let mut ops = Ops::new(c);
    record(&mut ops);
    ops.submit();
}

/// A second context on the same adapter with a GPU's choices ([`use_gpu_tuning`]), so that
/// CI runs the GPU paths on lavapipe too.
#[allow(dead_code)] // not every test binary uses it
pub fn gpu_like_ctx() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut c = GpuContext::new_blocking().expect("a second context on the same adapter");
        use_gpu_tuning(&mut c);
        c
    })
}

/// The choices a real GPU gets (`Tuning::for_adapter` on a discrete GPU without subgroups):
/// 64-thread matvecs, 256 for few rows and norms, the fused MoE norm, the tiled matmul for
/// prefill, experts grouped by `moe_group`, the router's matvec and `moe_route` apart, one
/// output pair per attention thread with a tile's V rows spread over all threads and splits
/// for 2048 workgroups, no loop guards, vectors from storage buffers, 2 rows a matrix-vector
/// workgroup. Set on a context here
/// (lavapipe in CI), so the GPU paths are held to the same references.
pub fn use_gpu_tuning(c: &mut GpuContext) {
    let t = &mut c.tuning;
    (t.matvec_wg, t.few_rows_wg, t.row_wg) = (64, 256, 256);
    (t.batch_matvec, t.fused_moe_norm, t.loop_guards, t.uniform_x) = (false, true, false, false);
    (t.group_experts, t.scale_chunks, t.fused_router) = (true, false, false);
    t.group_min_pairs = 0;
    t.weight_textures = false;
    (t.attention_v_pairs, t.attention_spread_rows, t.attention_workgroups) = (1, true, 2048);
    (t.route_in_gate_up, t.submit_layers, t.conv_channels, t.prefill_batch) = (true, 1, 2, 256);
    (t.fused_norms, t.shader.q6_k_quarters, t.shader.q4_k_subblocks, t.matvec_rows) = (true, true, true, 2);
    (t.shader.subgroup_reduce, t.shader.f16_scales_by_bits) = (false, false);
}

/// Submits `record`'s dispatches and reads `out` back.
pub fn run(out: &GpuTensor, record: impl FnOnce(&mut Ops<'_>)) -> Vec<f32> {
    run_on(ctx(), out, record)
}

/// [`run`] on another context than the shared one.
pub fn run_on(c: &GpuContext, out: &GpuTensor, record: impl FnOnce(&mut Ops<'_>)) -> Vec<f32> {
    submit_on(c, record);
    out.read_f32_blocking(c).expect("readback")
}

/// Columns of two whole blocks of `ty` (at least 64): the smallest rows with more than one
/// dot unit for every format.
#[allow(dead_code)] // not every test binary uses it
pub fn two_block_cols(ty: GgmlType) -> usize {
    2 * ty.block_size().max(32)
}

/// Asserts `|got - want| <= tol(i, want)` everywhere, naming the first index that is off.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: impl Fn(usize, f32) -> f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let t = tol(i, w);
        assert!(
            (g - w).abs() <= t || g == w,
            "{what}: index {i}: gpu {g} vs reference {w} (diff {}, tolerance {t})",
            (g - w).abs()
        );
    }
}

/// Largest `|got - want| / (1 + |want|)` (for reporting how close a kernel is).
pub fn max_rel_err(got: &[f32], want: &[f32]) -> f32 {
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / (1.0 + w.abs())).fold(0.0, f32::max)
}

/// Parses and validates `spec` with naga against WebGPU's baseline: unpack2x16float (a
/// downlevel flag every WebGPU adapter has), but no shader-f16 and no subgroups, as on
/// Chromium's fallback adapter.
pub fn validate_with_naga(spec: &ShaderSpec) {
    // Both workgroup-sum variants: the portable one and the subgroup one (native spelling,
    // without the `enable` directive browsers want and naga rejects).
    // And the GPU's dot helpers (Q6_K quarters, Q4_K sub-blocks, f16 scales widened natively).
    for (subgroup_reduce, gpu) in [(false, false), (true, false), (false, true)] {
        let target = ShaderTarget {
            subgroup_reduce,
            enable_directive: false,
            q6_k_quarters: gpu,
            q4_k_subblocks: gpu,
            f16_scales_by_bits: !gpu, // a CPU adapter's conversion
        };
        let src = spec.source_for(target).unwrap_or_else(|e| panic!("{}: {e}", spec.label()));
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", spec.label(), e.emit_to_string(&src)));
        let caps = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32
            | naga::valid::Capabilities::SUBGROUP
            | naga::valid::Capabilities::SUBGROUP_BARRIER;
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        validator.subgroup_stages(naga::valid::ShaderStages::COMPUTE);
        validator.subgroup_operations(naga::valid::SubgroupOperationSet::all());
        validator.validate(&module).unwrap_or_else(|e| panic!("{}: {}", spec.label(), e.emit_to_string(&src)));
    }
}

/// Tolerance of row `r` of `y = x W^T`: 1e-4 of the row's sum of |w * x|.
pub fn matvec_tolerance(w: &HostTensor, first_row: usize, n_rows: usize, x: &[f32]) -> Vec<f32> {
    let cols = w.cols();
    let mut row = vec![0.0; cols];
    let mut tol = Vec::new();
    for xr in x.chunks(cols) {
        for r in 0..n_rows {
            w.dequantize_row(first_row + r, &mut row);
            tol.push(1e-4 * row.iter().zip(xr).map(|(a, b)| (a * b).abs()).sum::<f32>() + 1e-6);
        }
    }
    tol
}
