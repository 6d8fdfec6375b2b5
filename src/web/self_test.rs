//! `self_test()`: the GPU kernels against the reference ops, inside the browser.
//!
//! The same checks as the native kernel tests, run on the page's WebGPU device (Chromium's
//! SwiftShader adapter in CI: no shader-f16, 256 invocations per workgroup), on seeded random
//! inputs of sizes that are not multiples of the workgroup size. Quantized weights come from
//! `crate::quant::quantize`; the reference dequantizes exactly the same bytes, so the only
//! expected difference is f32 summation order.

use std::sync::Arc;

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::gpu::kernels;
use crate::gpu::shader::GPU_TYPES;
use crate::gpu::{
    ContextOptions, GpuContext, GpuError, GpuMatrix, GpuTensor, KvCache, KvPrecision, Ops, TextureCopies,
};
use crate::model::{HostTensor, SharedBytes};
use crate::quant::{self, GgmlType};
use crate::reference::ops as reference;
use crate::rng::Rng;

use super::comparison::Comparison;
use super::error::LfmError;
use super::{default_context, now_ms, to_js};

/// Seed of every check's inputs (each check mixes in its index in [`Check::all`]).
const SEED: u64 = 0x5EED_CAFE;

/// Runs every check whose name contains `filter` (all when absent) and returns
///
/// ```text
/// { passed, adapter, ms,
///   checks: [{ name, shape, maxErr, tol, index, gpu, reference, passed, ms, error? }] }
/// ```
///
/// `maxErr` is the largest `|gpu - reference| / (1 + |reference|)` over all outputs, at
/// `index`. A check that failed with a GPU error has `error` (its message) and `passed: false`.
/// Throws when no check matches `filter` or the GPU cannot be set up.
#[wasm_bindgen]
pub async fn self_test(filter: Option<String>) -> Result<JsValue, JsValue> {
    // Each check keeps its index in the full list, so its inputs do not depend on the filter.
    let checks: Vec<(usize, Check)> = Check::all()
        .into_iter()
        .enumerate()
        .filter(|(_, c)| filter.as_deref().is_none_or(|f| c.name().contains(f)))
        .collect();
    if checks.is_empty() {
        let names: Vec<String> = Check::all().iter().map(Check::name).collect();
        let filter = filter.unwrap_or_default();
        let why = format!("no check matches {filter:?}; the checks are: {}", names.join(", "));
        return Err(LfmError::invalid(why).context("self_test").into());
    }
    let ctx = default_context().await.map_err(|e| e.context("self_test"))?;
    // A second device for the checks of choices this adapter's tuning does not make.
    let mut tuned: Option<GpuContext> = None;
    let start = now_ms();
    let mut results = Vec::new();
    for (i, check) in &checks {
        let mut rng = Rng::new(SEED ^ ((*i as u64) << 32));
        let t0 = now_ms();
        if check.tuned() && tuned.is_none() {
            let mut c = GpuContext::with_options(ContextOptions::default())
                .await
                .map_err(|e| LfmError::from(e).context("self_test"))?;
            (c.tuning.matmul_wide, c.tuning.moe_matmul) = (true, true);
            (c.tuning.shader.q4_k_subblocks, c.tuning.shader.q6_k_quarters) = (true, true);
            tuned = Some(c);
        }
        let on = match &tuned {
            Some(c) if check.tuned() => c,
            _ => &ctx,
        };
        let result = run_scoped(on, check, &mut rng).await;
        let ms = now_ms() - t0;
        results.push(match result {
            Ok(c) => json!({
                "name": check.name(), "shape": check.shape(), "maxErr": c.max_err, "tol": check.tol(),
                "index": c.index, "gpu": c.gpu, "reference": c.reference,
                "passed": f64::from(c.max_err) <= check.tol(), "ms": ms,
            }),
            Err(e) => json!({
                "name": check.name(), "shape": check.shape(), "tol": check.tol(),
                "passed": false, "ms": ms, "error": e,
            }),
        });
    }
    let passed = results.iter().all(|r| r["passed"] == true);
    Ok(to_js(&json!({
        "passed": passed,
        "adapter": super::info::adapter_label(&ctx.adapter_info),
        "ms": now_ms() - start,
        "checks": results,
    }))?)
}

/// Runs `check` inside validation and out-of-memory error scopes, so a WebGPU error fails that
/// check with the browser's own message instead of going to the console.
async fn run_scoped(ctx: &GpuContext, check: &Check, rng: &mut Rng) -> Result<Comparison, String> {
    let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = check.run(ctx, rng).await;
    // Scopes pop in reverse order; a scope's error explains a failed readback better.
    let scoped = validation.pop().await.or(oom.pop().await);
    match scoped {
        Some(e) => Err(format!("WebGPU error: {e}")),
        None => result.map_err(|e| e.to_string()),
    }
}

/// One kernel check: its shape is fixed here, its inputs are seeded random.
#[derive(Clone, Copy)]
enum Check {
    RmsNorm,
    Add,
    Swiglu,
    QkNormRope,
    /// `y = x W^T` for a matrix of this type, one GPU buffer.
    Matvec(GgmlType),
    /// The same across several buffers (small parts forced), rows cut mid-matrix.
    MatvecSplit(GgmlType),
    /// The same with the matrix moved into textures (`GpuMatrix::to_textures`, where a CPU
    /// adapter's model keeps it; the other checks read storage buffers, as on a GPU).
    MatvecTexture(GgmlType),
    /// The same with a GPU's dot units (`q4_k_subblocks`, `q6_k_quarters`) on the second device.
    MatvecGpuUnits(GgmlType),
    /// The tiled prefill product `y = x W^T` for `PREFILL` tokens.
    Matmul(GgmlType),
    /// The same in 64 x 64 tiles (`matmul_wide`, off by default) for `WIDE_PREFILL` tokens,
    /// on a second device whose tuning turns it on.
    MatmulWide(GgmlType),
    /// The routed experts' prefill in the same tiles (`moe_sort` then `moe_matmul`, off by
    /// default): `EXPERTS` experts of `MAT_ROWS` rows, 2 a token, `WIDE_PREFILL` tokens, on
    /// the second device.
    MoeMatmul(GgmlType),
    Embed(GgmlType),
    /// `y = rms_norm(x) W^T` for one token, the norm taken by the matvec's own workgroups
    /// (`common/x_normed.wgsl`, what a GPU's decode runs: `Tuning::fused_norms`).
    MatvecNormed(GgmlType),
}

// Awkward sizes: rows and lengths that are no multiple of the 64-thread workgroups.
const ROWS: usize = 3; // token positions (T)
const N: usize = 1001; // elementwise length
const HIDDEN: usize = 1000; // rms_norm row length
const HEAD_DIM: usize = 64;
const HEADS: usize = 5;
const POS0: usize = 1000; // rope's first position
const MAT_ROWS: usize = 67;
const MAT_COLS: usize = 512; // whole blocks of every type (K-quants: 256)
const VOCAB: usize = 37;
const PREFILL: usize = 37; // matmul tokens: a full 32-token tile and a partial one
const WIDE_PREFILL: usize = 70; // matmul_wide tokens: a full 64-token tile and a partial one
const EXPERTS: usize = 3; // moe_matmul's: expert 0 in every token (two tiles), 1 and 2 alternating

impl Check {
    fn all() -> Vec<Check> {
        let mut all = vec![Check::RmsNorm, Check::Add, Check::Swiglu, Check::QkNormRope];
        all.extend(GPU_TYPES.iter().map(|&ty| Check::Matvec(ty)));
        all.extend([GgmlType::Q4_0, GgmlType::Q6_K].map(Check::MatvecSplit));
        all.extend(
            [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16].map(Check::MatvecTexture),
        );
        all.extend([GgmlType::Q4_K, GgmlType::Q6_K].map(Check::MatvecGpuUnits));
        all.extend(GPU_TYPES.iter().map(|&ty| Check::Matmul(ty)));
        all.extend([GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K].map(Check::MatmulWide));
        all.extend([GgmlType::Q4_0, GgmlType::Q4_K].map(Check::MoeMatmul));
        all.extend(GPU_TYPES.iter().map(|&ty| Check::Embed(ty)));
        all.extend([GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::F32].map(Check::MatvecNormed));
        all
    }

    fn name(&self) -> String {
        let lower = |ty: &GgmlType| ty.name().to_ascii_lowercase();
        match self {
            Check::RmsNorm => "rms_norm".into(),
            Check::Add => "add".into(),
            Check::Swiglu => "swiglu".into(),
            Check::QkNormRope => "qk_norm_rope".into(),
            Check::Matvec(ty) => format!("matvec_{}", lower(ty)),
            Check::MatvecSplit(ty) => format!("matvec_{}_split", lower(ty)),
            Check::MatvecTexture(ty) => format!("matvec_{}_texture", lower(ty)),
            Check::MatvecGpuUnits(ty) => format!("matvec_{}_gpu_units", lower(ty)),
            Check::Matmul(ty) => format!("matmul_{}", lower(ty)),
            Check::MatmulWide(ty) => format!("matmul_wide_{}", lower(ty)),
            Check::MoeMatmul(ty) => format!("moe_matmul_{}", lower(ty)),
            Check::Embed(ty) => format!("embed_{}", lower(ty)),
            Check::MatvecNormed(ty) => format!("matvec_{}_normed", lower(ty)),
        }
    }

    fn shape(&self) -> String {
        match self {
            Check::RmsNorm => format!("x ({ROWS}, {HIDDEN})"),
            Check::Add | Check::Swiglu => format!("({ROWS}, {N})"),
            Check::QkNormRope => format!("q ({ROWS}, {HEADS} x {HEAD_DIM}), pos0 {POS0}"),
            Check::Matvec(_)
            | Check::MatvecSplit(_)
            | Check::MatvecTexture(_)
            | Check::MatvecGpuUnits(_)
            | Check::Matmul(_)
            | Check::MatmulWide(_)
            | Check::MatvecNormed(_) => {
                format!("W ({MAT_ROWS}, {MAT_COLS}), x ({}, {MAT_COLS})", self.tokens())
            }
            Check::MoeMatmul(_) => {
                format!("{EXPERTS} x W ({MAT_ROWS}, {MAT_COLS}), x ({}, {MAT_COLS}), 2 experts a token", self.tokens())
            }
            Check::Embed(_) => format!("table ({VOCAB}, {MAT_COLS}), {ROWS} ids"),
        }
    }

    /// Whether the check runs on the second device, with the choices off by default (or off
    /// on CPU adapters) on (`matmul_wide`, `moe_matmul`, the GPU's dot units).
    fn tuned(&self) -> bool {
        matches!(self, Check::MatmulWide(_) | Check::MoeMatmul(_) | Check::MatvecGpuUnits(_))
    }

    /// Rows of x: `PREFILL` tokens for the tiled matmul, one for a normed matvec, else `ROWS`.
    fn tokens(&self) -> usize {
        match self {
            Check::Matmul(_) => PREFILL,
            Check::MatmulWide(_) | Check::MoeMatmul(_) => WIDE_PREFILL,
            Check::MatvecNormed(_) => 1,
            _ => ROWS,
        }
    }

    /// Largest accepted `|gpu - ref| / (1 + |ref|)`.
    fn tol(&self) -> f64 {
        match self {
            // Reordered sums of 512 products of magnitude ~1 (absolute rounding ~1e-5).
            Check::Matvec(_)
            | Check::MatvecSplit(_)
            | Check::MatvecTexture(_)
            | Check::MatvecGpuUnits(_)
            | Check::Matmul(_)
            | Check::MatmulWide(_)
            | Check::MoeMatmul(_)
            | Check::MatvecNormed(_) => 1e-4,
            // A reordered sum of 1000 squares, relative to the row's mean.
            Check::RmsNorm => 1e-5,
            // Different sin/cos implementations at angles up to ~1000 radians.
            Check::QkNormRope => 1e-4,
            // exp() differs in its last bits.
            Check::Swiglu => 1e-6,
            // Exact: the same f32 additions, the same dequantized values.
            Check::Add | Check::Embed(_) => 0.0,
        }
    }

    async fn run(&self, ctx: &GpuContext, rng: &mut Rng) -> Result<Comparison, GpuError> {
        let mut ops = Ops::new(ctx);
        let (gpu, want) = match *self {
            Check::RmsNorm => {
                let x = gauss(rng, ROWS * HIDDEN);
                let w: Vec<f32> = (0..HIDDEN).map(|_| 1.0 + 0.5 * rng.gauss()).collect();
                let eps = 1e-5;
                let gx = GpuTensor::from_f32(ctx, "x", ROWS, HIDDEN, &x)?;
                let gw = GpuTensor::from_f32(ctx, "w", 1, HIDDEN, &w)?;
                let out = GpuTensor::zeros(ctx, "out", ROWS, HIDDEN)?;
                kernels::rms_norm(&mut ops, &gx, &gw, eps, &out)?;
                ops.submit();
                (out.read_f32(ctx).await?, reference::rms_norm(&x, &w, eps))
            }
            Check::Add => {
                let (x, y) = (gauss(rng, ROWS * N), gauss(rng, ROWS * N));
                let gx = GpuTensor::from_f32(ctx, "x", ROWS, N, &x)?;
                let gy = GpuTensor::from_f32(ctx, "y", ROWS, N, &y)?;
                kernels::add(&mut ops, &gx, &gy)?;
                ops.submit();
                let mut want = x;
                reference::add(&mut want, &y);
                (gx.read_f32(ctx).await?, want)
            }
            Check::Swiglu => {
                let (g, u) = (gauss(rng, ROWS * N), gauss(rng, ROWS * N));
                let gg = GpuTensor::from_f32(ctx, "gate", ROWS, N, &g)?;
                let gu = GpuTensor::from_f32(ctx, "up", ROWS, N, &u)?;
                let out = GpuTensor::zeros(ctx, "out", ROWS, N)?;
                kernels::swiglu(&mut ops, &gg, &gu, &out)?;
                ops.submit();
                (out.read_f32(ctx).await?, reference::swiglu(&g, &u))
            }
            Check::QkNormRope => {
                // The forward pass's fused kernel; its query heads are checked here (its keys go
                // to a KV cache, checked natively in tests/gpu_mixers.rs).
                let (row, theta, eps) = (HEADS * HEAD_DIM, 1e6, 1e-5);
                let (x, norm) = (gauss(rng, ROWS * row), gauss(rng, HEAD_DIM));
                let gx = GpuTensor::from_f32(ctx, "q", ROWS, row, &x)?;
                let gnorm = GpuTensor::from_f32(ctx, "q_norm", 1, HEAD_DIM, &norm)?;
                let kv = GpuTensor::zeros(ctx, "kv", ROWS, HEAD_DIM)?;
                let cache = KvCache::new(ctx, "cache", KvPrecision::F16, 1, HEAD_DIM, POS0 + ROWS)?;
                let table = kernels::RopeTable::new(ctx, HEAD_DIM, theta)?;
                kernels::qk_norm_rope_store(&mut ops, [&gx, &kv, &kv], [&gnorm, &gnorm], eps, &table, &cache, POS0)?;
                ops.submit();
                let mut want = reference::rms_norm(&x, &norm, eps);
                reference::rope(&mut want, row, POS0, HEAD_DIM, theta);
                (gx.read_f32(ctx).await?, want)
            }
            Check::Matvec(ty)
            | Check::MatvecSplit(ty)
            | Check::MatvecTexture(ty)
            | Check::MatvecGpuUnits(ty)
            | Check::Matmul(ty)
            | Check::MatmulWide(ty) => {
                let (mut w, host) = random_matrix(ctx, rng, ty, MAT_ROWS, matches!(self, Check::MatvecSplit(_)))?;
                if matches!(self, Check::MatvecTexture(_)) {
                    w.to_textures(ctx, &mut TextureCopies::default())?;
                }
                let t = self.tokens();
                let x = gauss(rng, t * MAT_COLS);
                let gx = GpuTensor::from_f32(ctx, "x", t, MAT_COLS, &x)?;
                let y = GpuTensor::zeros(ctx, "y", t, MAT_ROWS)?;
                let prefill = matches!(self, Check::Matmul(_) | Check::MatmulWide(_));
                let kernel = if prefill { kernels::matmul } else { kernels::matvec };
                kernel(&mut ops, &w, &gx, &y)?;
                ops.submit();
                (y.read_f32(ctx).await?, reference::linear(&host, &x))
            }
            Check::MoeMatmul(ty) => {
                let (rows, t, k) = (EXPERTS * MAT_ROWS, self.tokens(), 2);
                let (w, host) = random_matrix(ctx, rng, ty, rows, false)?;
                let x = gauss(rng, t * MAT_COLS);
                let ids: Vec<u32> = (0..t * k).map(|i| if i % k == 0 { 0 } else { 1 + (i / k % 2) as u32 }).collect();
                let selected = GpuTensor::from_u32(ctx, "selected", t, k, &ids)?;
                let order = GpuTensor::zeros(ctx, "order", 1, kernels::moe_order_len(t * k))?;
                let gx = GpuTensor::from_f32(ctx, "x", t, MAT_COLS, &x)?;
                let y = GpuTensor::zeros(ctx, "y", t * k, MAT_ROWS)?;
                kernels::moe_sort(&mut ops, &selected, EXPERTS, &order)?;
                kernels::moe_matmul(&mut ops, &w, MAT_ROWS, &selected, &order, &gx, &y)?;
                ops.submit();
                // Every expert's product for every token, then each pair's expert picked out.
                let all = reference::linear(&host, &x);
                let want: Vec<f32> = (0..t * k)
                    .flat_map(|p| {
                        let at = (p / k) * rows + ids[p] as usize * MAT_ROWS;
                        all[at..at + MAT_ROWS].to_vec()
                    })
                    .collect();
                (y.read_f32(ctx).await?, want)
            }
            Check::MatvecNormed(ty) => {
                let (w, host) = random_matrix(ctx, rng, ty, MAT_ROWS, false)?;
                let (x, norm, eps) = (gauss(rng, MAT_COLS), gauss(rng, MAT_COLS), 1e-5);
                let gx = GpuTensor::from_f32(ctx, "x", 1, MAT_COLS, &x)?;
                let gnorm = GpuTensor::from_f32(ctx, "norm", 1, MAT_COLS, &norm)?;
                let (xb, y) = (GpuTensor::zeros(ctx, "xb", 1, MAT_COLS)?, GpuTensor::zeros(ctx, "y", 1, MAT_ROWS)?);
                let input = kernels::InputNorm { weight: &gnorm, eps, out: &xb };
                kernels::matvec_normed(&mut ops, &w, &gx, input, &y)?;
                ops.submit();
                (y.read_f32(ctx).await?, reference::linear(&host, &reference::rms_norm(&x, &norm, eps)))
            }
            Check::Embed(ty) => {
                let (table, host) = random_matrix(ctx, rng, ty, VOCAB, false)?;
                let ids: Vec<u32> = vec![VOCAB as u32 - 1, 0, rng.below(VOCAB) as u32];
                let gids = GpuTensor::from_u32(ctx, "ids", 1, ids.len(), &ids)?;
                let out = GpuTensor::zeros(ctx, "out", ids.len(), MAT_COLS)?;
                kernels::embed(&mut ops, &table, &gids, &out)?;
                ops.submit();
                (out.read_f32(ctx).await?, reference::embed(&host, &ids))
            }
        };
        Ok(Comparison::of(&gpu, &want))
    }
}

fn gauss(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gauss()).collect()
}

/// A `(rows, MAT_COLS)` matrix of `ty` from seeded Gaussian values, on the GPU (in parts of
/// about a third of the matrix when `split`) and as the reference's host tensor.
fn random_matrix(
    ctx: &GpuContext,
    rng: &mut Rng,
    ty: GgmlType,
    rows: usize,
    split: bool,
) -> Result<(GpuMatrix, HostTensor), GpuError> {
    let values = gauss(rng, rows * MAT_COLS);
    let bytes = quant::quantize(ty, &values).map_err(|e| GpuError::Shape(format!("quantizing to {ty}: {e}")))?;
    let w = if split {
        let part = bytes.len() as u64 / 3;
        GpuMatrix::with_limit(ctx, "w", ty, rows, MAT_COLS, &bytes, 1, part)?
    } else {
        GpuMatrix::new(ctx, "w", ty, rows, MAT_COLS, &bytes)?
    };
    if split && w.parts.len() < 2 {
        return Err(GpuError::Shape(format!("expected a split matrix, got {} part", w.parts.len())));
    }
    let host = HostTensor {
        name: "w".into(),
        ty,
        dims: vec![MAT_COLS as u64, rows as u64],
        bytes: SharedBytes::new(Arc::new(bytes)),
    };
    Ok((w, host))
}
