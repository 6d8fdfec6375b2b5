//! A decoded token's norms taken by the kernels that read them (`Tuning::fused_norms`):
//! `matvec_normed`, `gate_up` and `conv_in_proj` with an [`InputNorm`] compute what `rms_norm`
//! then the plain kernel compute, and store what `rms_norm` stores (within f32 rounding: only
//! the order of the sum of squares differs), and `matvec_add` / `moe_down_add` add a block's output into
//! the residual stream exactly as the launches they replace do; for every format with a dot
//! helper, on seeded random inputs of awkward sizes, with a CPU adapter's threads and a GPU's.

mod common;

use common::assert_close_rel;
use common::gpu::{ctx, gpu_like_ctx, host_matrix, random, run_on, two_block_cols};
use lfm_webgpu::gpu::kernels::{self, InputNorm};
use lfm_webgpu::gpu::pairing::interleave_experts;
use lfm_webgpu::gpu::{GpuContext, GpuMatrix, GpuTensor, Ops};
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::rng::Rng;

const EPS: f32 = 1e-5;
/// Relative tolerance of a normed product against the norm launch's: the scales differ in
/// the last bits (sums of squares in another order).
const TOL: f32 = 2e-5;
const TYPES: [GgmlType; 7] =
    [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::F16, GgmlType::F32];

/// Tensors and matrices on one context.
struct On<'c> {
    c: &'c GpuContext,
    rng: Rng,
}

impl On<'_> {
    fn tensor(&mut self, rows: usize, cols: usize, scale: f32) -> GpuTensor {
        let data = random(&mut self.rng, rows * cols, scale);
        GpuTensor::from_f32(self.c, "t", rows, cols, &data).unwrap()
    }
    fn zeros(&self, rows: usize, cols: usize) -> GpuTensor {
        GpuTensor::zeros(self.c, "zeros", rows, cols).unwrap()
    }
    fn matrix(&mut self, ty: GgmlType, rows: usize, cols: usize, group: usize) -> GpuMatrix {
        let host = host_matrix(ty, rows, cols, &random(&mut self.rng, rows * cols, 1.0));
        GpuMatrix::from_host(self.c, &host, group).unwrap()
    }
    fn run(&self, out: &GpuTensor, record: impl FnOnce(&mut Ops<'_>)) -> Vec<f32> {
        run_on(self.c, out, record)
    }
    fn read(&self, t: &GpuTensor) -> Vec<f32> {
        t.read_f32_blocking(self.c).unwrap()
    }
}

fn contexts() -> [(&'static str, &'static GpuContext); 2] {
    [("cpu tuning", ctx()), ("gpu tuning", gpu_like_ctx())]
}

#[test]
fn normed_products_match_a_norm_launch_then_the_product() {
    for (where_, c) in contexts() {
        for (i, ty) in TYPES.into_iter().enumerate() {
            let mut on = On { c, rng: Rng::new(90 + i as u64) };
            let cols = two_block_cols(ty);
            let what = format!("{ty} ({where_})");
            // The residual stream at a trained model's scale, the norm's weight around 1.
            let (x, weight) = (on.tensor(1, cols, 6.0), on.tensor(1, cols, 1.5));
            let (xb, published) = (on.zeros(1, cols), on.zeros(1, cols));
            let norm = InputNorm { weight: &weight, eps: EPS, out: &published };
            // 37 rows (not whole workgroups), and 5 (a few-row product's wide workgroups).
            for rows in [37, 5] {
                let w = on.matrix(ty, rows, cols, 1);
                let (want, got) = (on.zeros(1, rows), on.zeros(1, rows));
                let apart = on.run(&want, |ops| {
                    kernels::rms_norm(ops, &x, &weight, EPS, &xb).unwrap();
                    kernels::matvec(ops, &w, &xb, &want).unwrap();
                });
                let fused = on.run(&got, |ops| {
                    kernels::matvec_normed(ops, &w, &x, norm, &got).unwrap();
                    assert_eq!(ops.dispatch_count(), 1);
                });
                assert_close_rel(&format!("{what}: matvec_normed, {rows} rows"), &fused, &apart, TOL);
                assert_close_rel(&format!("{what}: the stored vector"), &on.read(&published), &on.read(&xb), TOL);
            }
            if ty == GgmlType::F32 {
                continue; // no dense pairs of f32 matrices arise
            }
            // A dense pair's silu(gate) * up, normed in its launch.
            let (f, gate, up) = (21, on.matrix(ty, 21, cols, 1), on.matrix(ty, 21, cols, 1));
            let (pg, pu) = interleave_experts(c, &gate, &up, f).unwrap().expect("pairable");
            let (want, got) = (on.zeros(1, f), on.zeros(1, f));
            let apart = on.run(&want, |ops| {
                kernels::rms_norm(ops, &x, &weight, EPS, &xb).unwrap();
                kernels::gate_up(ops, &pg, &pu, &xb, None, &want).unwrap();
            });
            let fused = on.run(&got, |ops| kernels::gate_up(ops, &pg, &pu, &x, Some(norm), &got).unwrap());
            assert_close_rel(&format!("{what}: gate_up"), &fused, &apart, TOL);
        }
    }
}

#[test]
fn a_normed_conv_in_proj_matches_a_norm_launch_then_conv_in_proj() {
    for (where_, c) in contexts() {
        for (i, ty) in TYPES.into_iter().take(6).enumerate() {
            let mut on = On { c, rng: Rng::new(100 + i as u64) };
            let (cols, h, taps) = (two_block_cols(ty), 37, 3);
            let what = format!("{ty} ({where_})");
            let in_proj = on.matrix(ty, 3 * h, cols, 1);
            let kernel = on.tensor(h, taps, 1.0);
            let state0 = random(&mut on.rng, (taps - 1) * h, 1.0);
            let states = [0, 1].map(|_| GpuTensor::from_f32(c, "state", taps - 1, h, &state0).unwrap());
            let (weight, xb, published) = (on.tensor(1, cols, 1.5), on.zeros(1, cols), on.zeros(1, cols));
            let norm = InputNorm { weight: &weight, eps: EPS, out: &published };
            for step in 0..3 {
                let x = on.tensor(1, cols, 6.0);
                let (want, got) = (on.zeros(1, h), on.zeros(1, h));
                let apart = on.run(&want, |ops| {
                    kernels::rms_norm(ops, &x, &weight, EPS, &xb).unwrap();
                    kernels::conv_in_proj(ops, &in_proj, &xb, None, &kernel, &states[0], &want).unwrap();
                });
                let fused = on.run(&got, |ops| {
                    kernels::conv_in_proj(ops, &in_proj, &x, Some(norm), &kernel, &states[1], &got).unwrap();
                });
                assert_close_rel(&format!("{what}: output of step {step}"), &fused, &apart, TOL);
                let [a, b] = [&states[0], &states[1]].map(|s| on.read(s));
                assert_close_rel(&format!("{what}: state after step {step}"), &b, &a, TOL);
                assert_close_rel(&format!("{what}: the stored vector"), &on.read(&published), &on.read(&xb), TOL);
            }
        }
    }
}

#[test]
fn outputs_added_into_the_stream_equal_the_launches_they_replace() {
    for (where_, c) in contexts() {
        for (i, ty) in TYPES.into_iter().take(6).enumerate() {
            let mut on = On { c, rng: Rng::new(120 + i as u64) };
            let (cols, h) = (two_block_cols(ty), 37);
            let what = format!("{ty} ({where_})");
            // matvec_add: x += W h, as matvec then add.
            let w = on.matrix(ty, h, cols, 1);
            let hv = on.tensor(1, cols, 1.0);
            let x0 = random(&mut on.rng, h, 4.0);
            let [xa, xf] = [0, 1].map(|_| GpuTensor::from_f32(c, "x", 1, h, &x0).unwrap());
            let y = on.zeros(1, h);
            let apart = on.run(&xa, |ops| {
                kernels::matvec(ops, &w, &hv, &y).unwrap();
                kernels::add(ops, &xa, &y).unwrap();
            });
            let fused = on.run(&xf, |ops| kernels::matvec_add(ops, &w, &hv, &xf).unwrap());
            assert_eq!(fused, apart, "{what}: matvec_add");

            // moe_down_add: 7 experts of H rows, 2 tokens of 4 slots (one repeated expert).
            let (n_exp, t, k) = (7, 2, 4);
            let down = on.matrix(ty, n_exp * h, cols, h);
            let hidden = on.tensor(t * k, cols, 1.0);
            let selected = GpuTensor::from_u32(c, "sel", t, k, &[6, 0, 3, 3, 1, 5, 2, 4]).unwrap();
            let weights = on.tensor(t, k, 1.0);
            let x0 = random(&mut on.rng, t * h, 4.0);
            let [xa, xf] = [0, 1].map(|_| GpuTensor::from_f32(c, "x", t, h, &x0).unwrap());
            let (outs, sum) = (on.zeros(t * k, h), on.zeros(t, h));
            let apart = on.run(&xa, |ops| {
                kernels::moe_matvec(ops, &down, h, &selected, &hidden, &outs).unwrap();
                kernels::moe_combine(ops, &outs, &weights, &sum).unwrap();
                kernels::add(ops, &xa, &sum).unwrap();
            });
            let fused = on.run(&xf, |ops| {
                kernels::moe_down_add(ops, &down, &selected, &weights, &hidden, &xf).unwrap();
                assert_eq!(ops.dispatch_count(), 1);
            });
            assert_eq!(fused, apart, "{what}: moe_down_add");
        }
    }
}

#[test]
fn fused_norm_kernels_refuse_what_they_cannot_take() {
    let mut on = On { c: ctx(), rng: Rng::new(130) };
    let (cols, h) = (64, 16);
    let w = on.matrix(GgmlType::Q8_0, h, cols, 1);
    let (weight, y, xb) = (on.tensor(1, cols, 1.0), on.zeros(2, h), on.zeros(1, cols));
    let norm = InputNorm { weight: &weight, eps: EPS, out: &xb };
    let mut ops = Ops::new(ctx());
    assert!(kernels::matvec_normed(&mut ops, &w, &on.tensor(2, cols, 1.0), norm, &y).is_err(), "two vectors");
    let (x, y) = (on.tensor(1, cols, 1.0), on.zeros(1, h));
    let short = on.tensor(1, cols - 4, 1.0);
    let bad = InputNorm { weight: &short, eps: EPS, out: &xb };
    assert!(kernels::matvec_normed(&mut ops, &w, &x, bad, &y).is_err(), "a short weight");
    let over_input = InputNorm { weight: &weight, eps: EPS, out: &x };
    assert!(kernels::matvec_normed(&mut ops, &w, &x, over_input, &y).is_err(), "stored over its input");
    assert!(kernels::matvec_normed(&mut ops, &w, &x, norm, &y).is_ok());

    // moe_down_add: a stack in two buffers, more than 8 slots.
    let one = on.matrix(GgmlType::Q8_0, 4 * h, cols, h);
    let limit = (2 * h) as u64 * GgmlType::Q8_0.bytes_for(cols as u64).unwrap() + 4;
    let host = host_matrix(GgmlType::Q8_0, 4 * h, cols, &random(&mut on.rng, 4 * h * cols, 1.0));
    let two = GpuMatrix::with_limit(ctx(), "experts", GgmlType::Q8_0, 4 * h, cols, &host.bytes, h, limit).unwrap();
    assert_eq!(two.parts.len(), 2);
    let sel = GpuTensor::from_u32(ctx(), "sel", 1, 2, &[0, 3]).unwrap();
    let (wts, hid, x) = (on.tensor(1, 2, 1.0), on.tensor(2, cols, 1.0), on.zeros(1, h));
    assert!(kernels::moe_down_add(&mut ops, &two, &sel, &wts, &hid, &x).is_err(), "two buffers");
    assert!(kernels::moe_down_add(&mut ops, &one, &sel, &wts, &hid, &x).is_ok());
    let sel9 = GpuTensor::from_u32(ctx(), "sel", 1, 9, &[0; 9]).unwrap();
    let (wts9, hid9) = (on.tensor(1, 9, 1.0), on.tensor(9, cols, 1.0));
    assert!(kernels::moe_down_add(&mut ops, &one, &sel9, &wts9, &hid9, &x).is_err(), "9 slots");
}
