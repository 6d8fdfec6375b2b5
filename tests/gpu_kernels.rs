//! Every GPU kernel against its reference op (`lfm_webgpu::reference::ops`), on seeded random
//! inputs of awkward sizes (not multiples of the workgroup size), plus the pure parts of the
//! GPU layer (shader preprocessing and naga validation, matrix split plans, repacking).
//!
//! The GPU tests run on whatever adapter wgpu picks; in CI that is Mesa's lavapipe. Without
//! any adapter they fail (say so loudly rather than pass without testing anything).

mod common;

use common::gpu::{
    as_tuned, assert_close, ctx, host_matrix, ids, matvec_tolerance, random, run, tensor, upload, validate_with_naga,
    zeros,
};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::layout::{self, GpuFormat};
use lfm_webgpu::gpu::shader::{self, ShaderSpec, ShaderTarget, GPU_TYPES};
use lfm_webgpu::gpu::{GpuContext, GpuMatrix, GpuTensor, Ops, Tuning};
use lfm_webgpu::quant::{self, GgmlType};
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::rng::Rng;

// ---------------------------------------------------------------- helpers

/// Awkward matrix widths: whole blocks, not a multiple of the workgroup size.
fn cols_for(ty: GgmlType) -> usize {
    match ty.block_size() {
        256 => 256 * 3,
        32 => 32 * 11,
        _ => 4 * 37,
    }
}

// ---------------------------------------------------------------- without a GPU

#[test]
fn every_shader_variant_validates_with_naga() {
    for spec in ShaderSpec::all() {
        validate_with_naga(&spec);
    }
}

#[test]
fn includes_expand_once_and_unknown_includes_fail() {
    let src = ShaderSpec::quant("matvec", GgmlType::Q4_0).source().unwrap();
    assert_eq!(src.matches("fn bytes_u(").count(), 1, "bytes.wgsl included once");
    assert!(src.contains("fn dequant4(") && src.contains("fn matvec(") && !src.contains("#include"));
    let err = shader::expand_includes("#include \"common/nope.wgsl\"\n").unwrap_err();
    assert!(err.to_string().contains("unknown include \"common/nope.wgsl\""), "{err}");
    assert!(shader::expand_includes("#include common/bytes.wgsl\n").is_err());
    assert!(ShaderSpec::quant("matvec", GgmlType::Q2_K).source().is_err());
}

#[test]
fn plans_split_by_whole_row_groups_within_the_limit() {
    // Q4_0, 64 columns: 36 bytes per row. 100 rows in groups of 10 under a 1000-byte limit:
    // 2 groups (720 bytes) fit, 3 (1080) do not.
    let plan = layout::plan_parts(GgmlType::Q4_0, 100, 64, 10, 1000).unwrap();
    assert_eq!(plan.len(), 5);
    let mut next = 0;
    for p in &plan {
        assert_eq!(p.first_row, next);
        assert!(p.bytes <= 1000 && p.bytes % 4 == 0 && p.rows % 10 == 0, "{p:?}");
        next += p.rows;
    }
    assert_eq!(next, 100);
    // Under the limit: one part. A group over the limit is an error naming the sizes.
    assert_eq!(layout::plan_parts(GgmlType::Q6_K, 7, 256, 1, 1 << 20).unwrap().len(), 1);
    let err = layout::plan_parts(GgmlType::Q8_0, 10, 320, 5, 1000).unwrap_err().to_string();
    assert!(err.contains("1700") && err.contains("1000"), "{err}");
    // The last, partial part: 7 rows of Q4_0/32 (18 bytes) at 2 rows per part -> 36, 36, 36, 18(+2).
    let plan = layout::plan_parts(GgmlType::Q4_0, 7, 32, 1, 40).unwrap();
    assert_eq!(plan.iter().map(|p| p.bytes).collect::<Vec<_>>(), vec![36, 36, 36, 20]);
    assert!(layout::plan_parts(GgmlType::F32, 3, 6, 1, 1000).is_err(), "float rows need cols % 4 == 0");
}

#[test]
fn repack_moves_split_scales_after_the_bodies() {
    // Two Q4_0 blocks: [d0 | 16 qs] [d1 | 16 qs] -> [32 qs bytes][d0 d1].
    let mut raw = vec![0u8; 36];
    raw[0..2].copy_from_slice(&[0x11, 0x22]);
    raw[18..20].copy_from_slice(&[0x33, 0x44]);
    for i in 0..16 {
        raw[2 + i] = i as u8;
        raw[20 + i] = 100 + i as u8;
    }
    let out = layout::repack(GpuFormat::of(GgmlType::Q4_0).unwrap(), &raw);
    assert_eq!(out.len(), 36);
    assert_eq!(&out[0..16], &raw[2..18]);
    assert_eq!(&out[16..32], &raw[20..36]);
    assert_eq!(&out[32..36], &[0x11, 0x22, 0x33, 0x44]);
    assert_eq!(layout::scale_base_words(GpuFormat::of(GgmlType::Q4_0).unwrap(), 2), 8);
    // Q6_K keeps d at the end of the block (so one block only pads); aligned formats are
    // copied as is.
    let q6 = quant::quantize(GgmlType::Q6_K, &random(&mut Rng::new(1), 256, 1.0)).unwrap();
    let out = layout::repack(GpuFormat::of(GgmlType::Q6_K).unwrap(), &q6);
    assert_eq!((&out[..210], &out[210..]), (&q6[..], &[0u8, 0][..]));
    let q4k = quant::quantize(GgmlType::Q4_K, &random(&mut Rng::new(2), 256, 1.0)).unwrap();
    assert_eq!(layout::repack(GpuFormat::of(GgmlType::Q4_K).unwrap(), &q4k), q4k);
}

// ---------------------------------------------------------------- elementwise and norms

#[test]
fn rms_norm_matches_reference() {
    let mut rng = Rng::new(10);
    let (t, n) = (3, 1000);
    let x = random(&mut rng, t * n, 2.0);
    let w = random(&mut rng, n, 1.5);
    let want = reference::rms_norm(&x, &w, 1e-5);
    let (gx, gw, out) = (tensor(t, n, &x), tensor(1, n, &w), zeros(t, n));
    let got = run(&out, |ops| kernels::rms_norm(ops, &gx, &gw, 1e-5, &out).unwrap());
    assert_close("rms_norm", &got, &want, |_, w| 1e-5 * w.abs() + 1e-7);
}

#[test]
fn add_rms_norm_matches_reference() {
    let mut rng = Rng::new(12);
    let (t, n) = (5, 999); // rows not a multiple of any workgroup size
    let (mut x, y, w) = (random(&mut rng, t * n, 2.0), random(&mut rng, t * n, 1.0), random(&mut rng, n, 1.5));
    let (gx, gy, gw, out) = (tensor(t, n, &x), tensor(t, n, &y), tensor(1, n, &w), zeros(t, n));
    let normed = run(&out, |ops| kernels::add_rms_norm(ops, &gx, &gy, &gw, 1e-5, &out).unwrap());
    let want = reference::add_rms_norm(&mut x, &y, &w, 1e-5);
    assert_close("add_rms_norm: out", &normed, &want, |_, w| 1e-5 * w.abs() + 1e-7);
    let sum = gx.read_f32_blocking(ctx()).unwrap();
    assert_close("add_rms_norm: x", &sum, &x, |_, _| 0.0);
}

#[test]
fn norms_match_reference_with_a_gpus_wide_workgroups() {
    // GPUs run the norms with 256 threads a row (`Tuning::row_wg`); 1000 values leave some idle.
    let mut own = GpuContext::new_blocking().expect("a second context on the same adapter");
    own.tuning.row_wg = 256;
    let mut rng = Rng::new(13);
    let (t, n) = (2, 1000);
    let (mut x, y, w) = (random(&mut rng, t * n, 2.0), random(&mut rng, t * n, 1.0), random(&mut rng, n, 1.5));
    let gx = GpuTensor::from_f32(&own, "x", t, n, &x).unwrap();
    let gy = GpuTensor::from_f32(&own, "y", t, n, &y).unwrap();
    let gw = GpuTensor::from_f32(&own, "w", 1, n, &w).unwrap();
    let (plain, fused) = (GpuTensor::zeros(&own, "a", t, n).unwrap(), GpuTensor::zeros(&own, "b", t, n).unwrap());
    let mut ops = Ops::new(&own);
    kernels::rms_norm(&mut ops, &gx, &gw, 1e-5, &plain).unwrap();
    kernels::add_rms_norm(&mut ops, &gx, &gy, &gw, 1e-5, &fused).unwrap();
    ops.submit();
    let want_plain = reference::rms_norm(&x, &w, 1e-5);
    let want_fused = reference::add_rms_norm(&mut x, &y, &w, 1e-5);
    let tol = |_, w: f32| 1e-5 * w.abs() + 1e-7;
    assert_close("rms_norm, 256 threads", &plain.read_f32_blocking(&own).unwrap(), &want_plain, tol);
    assert_close("add_rms_norm, 256 threads", &fused.read_f32_blocking(&own).unwrap(), &want_fused, tol);
}

#[test]
fn add_matches_reference() {
    let mut rng = Rng::new(11);
    let n = 3 * 1001;
    let (mut x, y) = (random(&mut rng, n, 3.0), random(&mut rng, n, 3.0));
    let (gx, gy) = (tensor(3, 1001, &x), tensor(3, 1001, &y));
    let got = run(&gx, |ops| kernels::add(ops, &gx, &gy).unwrap());
    reference::add(&mut x, &y);
    assert_close("add", &got, &x, |_, _| 0.0);
}

#[test]
fn swiglu_matches_reference() {
    let mut rng = Rng::new(12);
    let (t, f) = (2, 777);
    let (gate, up) = (random(&mut rng, t * f, 12.0), random(&mut rng, t * f, 3.0));
    let want = reference::swiglu(&gate, &up);
    let (gg, gu, out) = (tensor(t, f, &gate), tensor(t, f, &up), zeros(t, f));
    let got = run(&out, |ops| kernels::swiglu(ops, &gg, &gu, &out).unwrap());
    assert_close("swiglu", &got, &want, |_, w| 2e-6 * w.abs() + 1e-7);
}

// ---------------------------------------------------------------- quantized weights

#[test]
fn embed_dequantizes_every_type_bit_exactly() {
    let mut rng = Rng::new(14);
    for &ty in GPU_TYPES {
        let (rows, cols) = (9, cols_for(ty));
        let table = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let picked = [3u32, 0, 8, 3, 5];
        let want = reference::embed(&table, &picked);
        let (gt, gids, out) = (upload(&table), ids(picked.len(), 1, &picked), zeros(picked.len(), cols));
        let got = run(&out, |ops| kernels::embed(ops, &gt, &gids, &out).unwrap());
        assert_close(&format!("embed {ty}"), &got, &want, |_, _| 0.0);
    }
}

type LinearFn =
    fn(&mut Ops<'_>, &GpuMatrix, usize, usize, &GpuTensor, &GpuTensor) -> Result<(), lfm_webgpu::gpu::GpuError>;

/// The decode and prefill kernels, with the token counts each is tested at.
const LINEAR: [(&str, LinearFn, [usize; 2]); 3] = [
    ("matvec", kernels::matvec_rows, [1, 3]),
    ("batch_matvec", kernels::batch_matvec_rows, [1, 45]),
    ("matmul", kernels::matmul_rows, [1, 45]),
];

#[test]
fn matvec_and_matmul_match_reference_for_every_type() {
    let mut rng = Rng::new(15);
    for &ty in GPU_TYPES {
        for (name, kernel, tokens) in LINEAR {
            for t in tokens {
                let (rows, cols) = (77, cols_for(ty));
                let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
                let x = random(&mut rng, t * cols, 1.0);
                let want = reference::matmul(&w, 0, rows, &x);
                let tol = matvec_tolerance(&w, 0, rows, &x);
                let (gw, gx, y) = (upload(&w), tensor(t, cols, &x), zeros(t, rows));
                let got = run(&y, |ops| kernel(ops, &gw, 0, rows, &gx, &y).unwrap());
                assert_close(&format!("{name} {ty} T={t}"), &got, &want, |i, _| tol[i]);
            }
        }
    }
}

/// `kernel` on `c` over rows 5.. of a random (rows x cols_for(ty)) matrix of `ty` and `t`
/// random vectors, against the reference.
fn check_rows_from_5(c: &GpuContext, rng: &mut Rng, ty: GgmlType, kernel: LinearFn, rows: usize, t: usize, what: &str) {
    let cols = cols_for(ty);
    let w = host_matrix(ty, rows, cols, &random(rng, rows * cols, 1.0));
    let x = random(rng, t * cols, 1.0);
    let want = reference::matmul(&w, 5, rows - 5, &x);
    let tol = matvec_tolerance(&w, 5, rows - 5, &x);
    let gw = as_tuned(c, GpuMatrix::from_host(c, &w, 1).unwrap());
    let gx = GpuTensor::from_f32(c, "x", t, cols, &x).unwrap();
    let y = GpuTensor::zeros(c, "y", t, rows - 5).unwrap();
    let mut ops = Ops::new(c);
    kernel(&mut ops, &gw, 5, rows - 5, &gx, &y).unwrap();
    ops.submit();
    let got = y.read_f32_blocking(c).unwrap();
    assert_close(what, &got, &want, |i, _| tol[i]);
}

#[test]
fn wide_matmul_tiles_match_reference_for_every_type() {
    // 64 x 64 tiles (`Tuning::matmul_wide`): rows 5..135 (three row tiles, the last partial)
    // and 70 tokens (two token tiles), every format, over several steps of the shared dimension.
    let mut rng = Rng::new(19);
    let mut own = GpuContext::new_blocking().expect("a second context on the same adapter");
    own.tuning.matmul_wide = true;
    for &ty in GPU_TYPES {
        check_rows_from_5(&own, &mut rng, ty, kernels::matmul_rows, 135, 70, &format!("matmul_wide {ty}"));
    }
}

#[test]
fn matvec_kernels_match_reference_with_every_workgroup_sum() {
    // The context's own tuning is covered above; here the other ones: the workgroup-memory
    // tree (adapters without subgroups, e.g. browsers) at a CPU's 8 threads and a GPU's 64,
    // and the subgroup sum where the adapter has it; the GPU-like tunings also compile without
    // naga's loop guards, as GPUs do. Cut rows (a slice at row 5) and 2 vectors.
    let mut rng = Rng::new(18);
    let subgroups = ctx().features.contains(wgpu::Features::SUBGROUP) && ctx().adapter_info.subgroup_min_size >= 8;
    // (threads, threads for few rows (these 40 rows: 5 row groups), subgroup sum, loop guards,
    // rows a matvec workgroup dots)
    let tunings = [
        (8, 8, false, true, 8),
        (64, 64, false, false, 2),
        (64, 256, false, false, 1),
        (64, 64, false, false, 4),
        (8, 8, subgroups, true, 8),
    ];
    for (matvec_wg, few_rows_wg, subgroup_reduce, loop_guards, matvec_rows) in tunings {
        let mut own = GpuContext::new_blocking().expect("a second context on the same adapter");
        let shader = ShaderTarget {
            subgroup_reduce,
            enable_directive: false,
            q6_k_quarters: !loop_guards,
            q4_k_subblocks: !loop_guards,
            f16_scales_by_bits: loop_guards,
        };
        own.tuning = Tuning {
            matvec_wg,
            matvec_rows,
            matmul_wide: !loop_guards, // the GPU-like tunings
            moe_matmul: !loop_guards,
            batch_matvec: true,
            few_rows_wg,
            row_wg: 64,
            fused_moe_norm: false,
            fused_router: loop_guards,
            loop_guards,
            uniform_x: loop_guards, // the CPU-like tunings
            attention_v_pairs: if loop_guards { 4 } else { 1 },
            attention_spread_rows: !loop_guards,
            pair_experts: true,
            route_in_gate_up: !loop_guards,
            fused_conv: true,
            conv_channels: if loop_guards { 8 } else { 2 },
            submit_layers: 0,
            prefill_batch: 64,
            fused_norms: !loop_guards,
            attention_workgroups: if loop_guards { 32 } else { 2048 },
            group_experts: !loop_guards,
            group_min_pairs: 0,
            scale_chunks: loop_guards,
            weight_textures: loop_guards,
            shader,
        };
        for ty in [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_K, GgmlType::F16] {
            let linear = [("matvec", LINEAR[0].1, 2), ("batch_matvec", LINEAR[1].1, 6), ("matmul", LINEAR[2].1, 6)];
            for (name, kernel, t) in linear {
                let what = format!(
                    "{name} {ty}, {matvec_wg}/{few_rows_wg} threads, {matvec_rows} rows, subgroup sum {subgroup_reduce}, loop guards {loop_guards}"
                );
                check_rows_from_5(&own, &mut rng, ty, kernel, 45, t, &what);
            }
        }
    }
}

#[test]
fn matvec_and_matmul_reject_bad_row_ranges_and_shapes() {
    let (rows, cols) = (10, 64);
    let w = upload(&host_matrix(GgmlType::Q8_0, rows, cols, &random(&mut Rng::new(17), rows * cols, 1.0)));
    let x = zeros(2, cols);
    for (name, kernel, _) in LINEAR {
        let try_rows = |first, n, x: &GpuTensor, y_len| kernel(&mut Ops::new(ctx()), &w, first, n, x, &zeros(y_len, 1));
        for (first, n) in [(0, 0), (0, 11), (8, 3), (usize::MAX, 2)] {
            let err = try_rows(first, n, &x, 2 * n.clamp(1, 11)).unwrap_err().to_string();
            assert!(err.contains("-row matrix"), "{name} rows {first}+{n}: {err}");
        }
        let err = try_rows(2, 3, &x, 2 * 4).unwrap_err().to_string();
        assert!(err.contains(&format!("{name}: y")), "{name}: y of the wrong length: {err}");
        let err = try_rows(2, 3, &zeros(1, cols + 4), 3).unwrap_err().to_string();
        assert!(err.contains(&format!("{name}: x")), "{name}: x not whole rows: {err}");
        assert!(try_rows(2, 3, &x, 2 * 3).is_ok(), "{name}: rows 2..5");
    }
}

#[test]
fn matrices_split_across_buffers_compute_the_same() {
    let mut rng = Rng::new(16);
    for ty in [GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q4_K] {
        // 5 experts of 13 rows; parts of at most ~2 experts, so buffers are cut between experts.
        let (experts, per, cols) = (5, 13, cols_for(ty));
        let rows = experts * per;
        let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let limit = 2 * per as u64 * w.ty.bytes_for(cols as u64).unwrap() + 4;
        let gw =
            as_tuned(ctx(), GpuMatrix::with_limit(ctx(), "experts", ty, rows, cols, &w.bytes, per, limit).unwrap());
        assert_eq!(gw.parts.len(), 3, "{ty}: parts");
        assert!(gw.parts.iter().all(|p| p.first_row % per == 0 && p.bytes <= limit));

        let x = random(&mut rng, 2 * cols, 1.0);
        let gx = tensor(2, cols, &x);
        // The whole matrix, spanning every buffer.
        let y = zeros(2, rows);
        let got = run(&y, |ops| kernels::matvec(ops, &gw, &gx, &y).unwrap());
        let tol = matvec_tolerance(&w, 0, rows, &x);
        assert_close(&format!("split matvec {ty}"), &got, &reference::matmul(&w, 0, rows, &x), |i, _| tol[i]);
        // One expert (inside part 1), and a row range crossing a buffer boundary.
        for (first, n) in [(3 * per, per), (per + 5, 2 * per)] {
            let tol = matvec_tolerance(&w, first, n, &x);
            let want = reference::matmul(&w, first, n, &x);
            for (name, kernel, _) in LINEAR {
                let y = zeros(2, n);
                let got = run(&y, |ops| kernel(ops, &gw, first, n, &gx, &y).unwrap());
                assert_close(&format!("split {name} rows {ty} {first}+{n}"), &got, &want, |i, _| tol[i]);
            }
        }
        // Gathering rows from every part.
        let picked = [64u32, 0, 27, 26, 40, 13];
        let (gids, out) = (ids(6, 1, &picked), zeros(6, cols));
        let got = run(&out, |ops| kernels::embed(ops, &gw, &gids, &out).unwrap());
        assert_close(&format!("split embed {ty}"), &got, &reference::embed(&w, &picked), |_, _| 0.0);
    }
}

#[test]
fn pipelines_are_compiled_once_per_variant() {
    // A context of its own, so the other tests' compilations do not interfere with the count.
    let ctx = GpuContext::new_blocking().unwrap();
    let spec = ShaderSpec::quant("matvec", GgmlType::Q8_0);
    ctx.pipeline(&spec, &[("wg_size", 64.0)]).unwrap();
    ctx.pipeline(&spec, &[("wg_size", 64.0)]).unwrap();
    assert_eq!(ctx.pipeline_count(), 1);
    ctx.pipeline(&spec, &[("wg_size", 32.0)]).unwrap();
    assert_eq!(ctx.pipeline_count(), 2);
}
