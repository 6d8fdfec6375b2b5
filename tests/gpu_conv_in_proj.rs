//! `conv_in_proj` (a decoded token's in_proj product with the short convolution in its
//! epilogue) computes exactly what `matvec` then `short_conv` do, output and state, step
//! after step, for every format with a dot helper, on seeded random inputs of awkward sizes,
//! with a CPU adapter's threads and a GPU's; and refuses what it cannot take.

mod common;

use std::sync::OnceLock;

use common::gpu::{as_tuned, ctx, gpu_like_ctx, host_matrix, random, run_on, two_block_cols, use_gpu_tuning, zeros};
use lfm_webgpu::gpu::{kernels, GpuContext, GpuMatrix, GpuTensor, Ops};
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::rng::Rng;

fn check(c: &GpuContext, seed: u64, ty: GgmlType, h: usize, taps: usize) {
    let mut rng = Rng::new(seed);
    let tensor = |rows, cols, data: &[f32]| GpuTensor::from_f32(c, "t", rows, cols, data).unwrap();
    let zeros = |rows, cols| GpuTensor::zeros(c, "zeros", rows, cols).unwrap();
    let cols = two_block_cols(ty);
    let host = host_matrix(ty, 3 * h, cols, &random(&mut rng, 3 * h * cols, 1.0));
    let in_proj = as_tuned(c, GpuMatrix::from_host(c, &host, 1).unwrap());
    let kernel = tensor(h, taps, &random(&mut rng, h * taps, 1.0));
    let state0 = random(&mut rng, (taps - 1) * h, 1.0);
    let (state_a, state_b) = (tensor(taps - 1, h, &state0), tensor(taps - 1, h, &state0));
    let what = format!("{ty} H={h} L={taps}");
    for step in 0..4 {
        let u = tensor(1, cols, &random(&mut rng, cols, 1.0));
        let (bcx, out_a, out_b) = (zeros(1, 3 * h), zeros(1, h), zeros(1, h));
        let apart = run_on(c, &out_a, |ops| {
            kernels::matvec(ops, &in_proj, &u, &bcx).unwrap();
            kernels::short_conv(ops, &bcx, &kernel, &state_a, &out_a).unwrap();
        });
        let fused = run_on(c, &out_b, |ops| {
            kernels::conv_in_proj(ops, &in_proj, &u, None, &kernel, &state_b, &out_b).unwrap();
            assert_eq!(ops.dispatch_count(), 1);
        });
        assert_eq!(fused, apart, "{what}: output of step {step}");
        let states = [&state_a, &state_b].map(|s| s.read_f32_blocking(c).unwrap());
        assert_eq!(states[1], states[0], "{what}: state after step {step}");
    }
}

#[test]
fn conv_in_proj_equals_matvec_then_short_conv() {
    let types = [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::F16];
    for (i, ty) in types.into_iter().enumerate() {
        // 37 channels: not whole workgroups of 8; 3 taps as LFM2, 4 and 2 for the loops.
        for (c, taps) in [(ctx(), 3), (gpu_like_ctx(), 3), (ctx(), 4), (gpu_like_ctx(), 2), (one_channel(), 3)] {
            check(c, 70 + i as u64, ty, 37, taps);
        }
    }
    // Many channels: more than 65535 / 8 workgroups do not arise, but more than a few rows'
    // worth of threads do (the wide matvec threads).
    check(gpu_like_ctx(), 80, GgmlType::Q4_0, 1000, 3);
    check(one_channel(), 82, GgmlType::Q4_K, 1000, 3);
}

/// A GPU's tuning with one channel a workgroup (4 rows: B, C, x, x).
fn one_channel() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut c = GpuContext::new_blocking().expect("a third context on the same adapter");
        use_gpu_tuning(&mut c);
        c.tuning.conv_channels = 1;
        c
    })
}

#[test]
fn conv_in_proj_refuses_what_it_cannot_take() {
    let mut rng = Rng::new(81);
    let (h, cols) = (8, 64);
    let host = host_matrix(GgmlType::Q8_0, 3 * h, cols, &random(&mut rng, 3 * h * cols, 1.0));
    let one = as_tuned(ctx(), GpuMatrix::from_host(ctx(), &host, 1).unwrap());
    let bytes_per_row = GgmlType::Q8_0.bytes_for(cols as u64).unwrap();
    let split =
        GpuMatrix::with_limit(ctx(), "in_proj", GgmlType::Q8_0, 3 * h, cols, &host.bytes, 1, 10 * bytes_per_row)
            .unwrap();
    assert!(split.parts.len() > 1 && !kernels::conv_in_proj_fits(&split) && kernels::conv_in_proj_fits(&one));
    let (kernel, state, out) = (zeros(h, 3), zeros(2, h), zeros(1, h));
    let mut ops = Ops::new(ctx());
    let u = zeros(1, cols);
    assert!(kernels::conv_in_proj(&mut ops, &split, &u, None, &kernel, &state, &out).is_err(), "two buffers");
    assert!(
        kernels::conv_in_proj(&mut ops, &one, &zeros(2, cols), None, &kernel, &state, &zeros(2, h)).is_err(),
        "2 tokens"
    );
    assert!(kernels::conv_in_proj(&mut ops, &one, &u, None, &zeros(h, 1), &state, &out).is_err(), "1 tap");
    assert!(kernels::conv_in_proj(&mut ops, &one, &u, None, &kernel, &zeros(3, h), &out).is_err(), "state of 3 rows");
    assert_eq!(ops.dispatch_count(), 0);
}
