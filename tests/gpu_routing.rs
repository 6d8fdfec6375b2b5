//! The routing kernels against `reference::ops::moe_route`, on seeded random inputs: `moe_route`
//! from given logits (GPUs), `moe_router` computing them from the router matrix in the same
//! launch (CPU adapters), exact ties included.

mod common;

use common::gpu::{
    assert_close, ctx, gaussian, host_matrix, random, submit, tensor, upload, validate_with_naga, zeros,
};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::shader::{ShaderSpec, GPU_TYPES};
use lfm_webgpu::gpu::Ops;
use lfm_webgpu::model::HostTensor;
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::sampling::Rng;

#[test]
fn routing_shaders_validate_with_naga() {
    validate_with_naga(&ShaderSpec::plain("moe_route"));
    for &ty in GPU_TYPES {
        validate_with_naga(&ShaderSpec::quant("moe_router", ty));
    }
}

/// Gaussian logits of T tokens over E experts and a small bias, with exact ties of score +
/// bias (which go to the lower expert): in every other row, experts 1 and 3 tie at the top (so
/// with k = 1, at the cut).
fn tied_logits(rng: &mut Rng, t: usize, e: usize) -> (Vec<f32>, Vec<f32>) {
    let mut logits = gaussian(rng, t * e, 2.0);
    let mut bias = random(rng, e, 0.05);
    if e > 3 {
        bias[3] = bias[1];
        for row in logits.chunks_mut(e).step_by(2) {
            (row[1], row[3]) = (6.0, 6.0);
        }
    }
    (logits, bias)
}

/// Routes the rows of `x` (T, H) with `router` (E, H) on the GPU in one launch: (selected, weights).
fn gpu_route(router: &HostTensor, x: &[f32], bias: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let (e, h) = (router.rows(), router.cols());
    let t = x.len() / h;
    let (gr, gx, gb) = (upload(router), tensor(t, h, x), tensor(1, e, bias));
    let (sel, w) = (zeros(t, k), zeros(t, k));
    submit(|ops| kernels::moe_router(ops, &gr, &gx, &gb, &sel, &w).unwrap());
    (sel.read_u32_blocking(ctx()).unwrap(), w.read_f32_blocking(ctx()).unwrap())
}

#[test]
fn routing_matches_reference() {
    let mut rng = Rng::new(30);
    for (e, k) in [(8, 2), (32, 4), (64, 8), (5, 5), (4, 4), (40, 1)] {
        // The fused router (same top-k code, common/top_k_route.wgsl) with an identity router
        // (F32, whose rows are whole 4-element blocks): its logits are x itself.
        let mut eye = vec![0.0; e * e];
        eye.iter_mut().step_by(e + 1).for_each(|d| *d = 1.0);
        let identity = e.is_multiple_of(4).then(|| host_matrix(GgmlType::F32, e, e, &eye));
        for t in [1, 7, 300] {
            let (logits, bias) = tied_logits(&mut rng, t, e);
            let (want_sel, want_w) = reference::moe_route(&logits, &bias, k);
            let (gl, gb) = (tensor(t, e, &logits), tensor(1, e, &bias));
            let (sel, w) = (zeros(t, k), zeros(t, k));
            submit(|ops| kernels::moe_route(ops, &gl, &gb, &sel, &w).unwrap());
            let mut got =
                vec![("moe_route", sel.read_u32_blocking(ctx()).unwrap(), w.read_f32_blocking(ctx()).unwrap())];
            if let Some(router) = &identity {
                let (sel, w) = gpu_route(router, &logits, &bias, k);
                got.push(("moe_router", sel, w));
            }
            for (kernel, got_sel, got_w) in got {
                assert_eq!(got_sel, want_sel, "{kernel} E={e} k={k} T={t}: selected");
                assert_close(&format!("{kernel} E={e} k={k} T={t}: weights"), &got_w, &want_w, |_, _| 1e-6);
            }
        }
    }
    // E over the workgroup size, or k over E, is a shape error.
    let (gl, gb, sel) = (zeros(1, 65), zeros(1, 65), zeros(1, 2));
    assert!(kernels::moe_route(&mut Ops::new(ctx()), &gl, &gb, &sel, &sel).is_err());
    let (gl, gb, sel) = (zeros(1, 4), zeros(1, 4), zeros(1, 5));
    assert!(kernels::moe_route(&mut Ops::new(ctx()), &gl, &gb, &sel, &sel).is_err());
}

#[test]
fn moe_router_matches_the_reference_matvec_then_route() {
    // Real routers are F32; any format works. LFM2.5-8B-A1B's shape (32 of 2048, top 4), and
    // widths that are not multiples of the workgroup's units.
    let mut rng = Rng::new(31);
    for (ty, e, h, k, t) in [
        (GgmlType::F32, 32, 2048, 4, 3),
        (GgmlType::F32, 9, 84, 2, 5),
        (GgmlType::Q8_0, 32, 2048, 4, 2),
        (GgmlType::Q4_0, 12, 768, 3, 4),
        (GgmlType::Q4_K, 32, 256, 4, 1),
        (GgmlType::F16, 64, 132, 8, 2),
    ] {
        let router = host_matrix(ty, e, h, &random(&mut rng, e * h, 0.1));
        let (x, bias) = (gaussian(&mut rng, t * h, 1.0), random(&mut rng, e, 0.05));
        let (want_sel, want_w) = reference::moe_route(&reference::linear(&router, &x), &bias, k);
        let (got_sel, got_w) = gpu_route(&router, &x, &bias, k);
        let what = format!("moe_router {ty} E={e} H={h} k={k} T={t}");
        assert_eq!(got_sel, want_sel, "{what}: selected");
        assert_close(&what, &got_w, &want_w, |_, w| 1e-5 * (1.0 + w.abs()));
    }
}

#[test]
fn moe_router_rejects_bad_shapes() {
    let mut rng = Rng::new(32);
    let mut route = |e: usize, k: usize| {
        let router = upload(&host_matrix(GgmlType::F32, e, 8, &random(&mut rng, e * 8, 1.0)));
        let (x, bias, sel) = (zeros(1, 8), zeros(1, e), zeros(1, k));
        kernels::moe_router(&mut Ops::new(ctx()), &router, &x, &bias, &sel, &sel)
    };
    assert!(route(kernels::MAX_EXPERTS + 1, 2).is_err(), "more experts than a workgroup routes");
    assert!(route(4, 5).is_err(), "k over E");
    assert!(route(4, 4).is_ok());
}
