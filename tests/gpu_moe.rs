//! The mixture-of-experts kernels against the reference, on seeded random inputs of awkward
//! sizes: `moe_add_rms_norm` vs combine, add and norm, the whole MoE FFN chain (router, expert
//! matvecs, swiglu, combine) vs a plain-Rust composition of `reference::ops`. (The routing
//! kernels alone: tests/gpu_routing.rs; the sampling kernels: tests/gpu_sampling.rs.)

mod common;

use std::time::Instant;

use common::gpu::{
    as_tuned, assert_close, ctx, host_matrix, ids, random, run, submit, tensor, upload, validate_with_naga, zeros,
};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::shader::{ShaderSpec, GPU_TYPES};
use lfm_webgpu::gpu::{GpuContext, GpuMatrix, GpuTensor, Ops};
use lfm_webgpu::model::HostTensor;
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::sampling::Rng;

#[test]
fn moe_shaders_validate_with_naga() {
    for kernel in ["moe_combine", "moe_add_rms_norm", "moe_group"] {
        validate_with_naga(&ShaderSpec::plain(kernel));
    }
    for &ty in GPU_TYPES {
        validate_with_naga(&ShaderSpec::quant("moe_matvec", ty));
    }
}

#[test]
fn moe_add_rms_norm_matches_combine_add_then_norm() {
    let mut rng = Rng::new(33);
    // (T, n, k): n not a multiple of any workgroup size; the GPU width of 256 threads too.
    for ((t, n, k), row_wg) in [((1, 999, 4), 64), ((5, 300, 2), 64), ((3, 1000, 8), 256)] {
        let mut own = GpuContext::new_blocking().expect("a second context on the same adapter");
        own.tuning.row_wg = row_wg;
        let (mut x, down) = (random(&mut rng, t * n, 2.0), random(&mut rng, t * k * n, 1.0));
        let (weights, w) = (random(&mut rng, t * k, 1.0), random(&mut rng, n, 1.5));
        let up = |rows, cols, v: &[f32]| GpuTensor::from_f32(&own, "t", rows, cols, v).unwrap();
        let (gx, gd, gwt, gw) = (up(t, n, &x), up(t * k, n, &down), up(t, k, &weights), up(1, n, &w));
        let out = GpuTensor::zeros(&own, "out", t, n).unwrap();
        let mut ops = Ops::new(&own);
        kernels::moe_add_rms_norm(&mut ops, &gx, &gd, &gwt, &gw, 1e-5, &out).unwrap();
        ops.submit();
        // The same operations in the same order as moe_combine, add, rms_norm; a GPU may fuse
        // a multiply and an add (one rounding instead of two), so x is held to a few ulps of
        // its terms' magnitude rather than to equal bits.
        let x0 = x.clone();
        let want = reference::add_rms_norm(&mut x, &reference::moe_combine(&down, &weights, k), &w, 1e-5);
        let magnitude = |i: usize| {
            let (ti, c) = (i / n, i % n);
            x0[i].abs() + (0..k).map(|s| (weights[ti * k + s] * down[(ti * k + s) * n + c]).abs()).sum::<f32>()
        };
        let what = format!("moe_add_rms_norm T={t} n={n} k={k}, {row_wg} threads");
        let got_x = gx.read_f32_blocking(&own).unwrap();
        assert_close(&format!("{what}: x"), &got_x, &x, |i, _| 4.0 * f32::EPSILON * magnitude(i));
        assert_close(&what, &out.read_f32_blocking(&own).unwrap(), &want, |_, w| 1e-5 * w.abs() + 1e-7);
    }
    // down's rows must be T * k.
    let (x, w, wt) = (zeros(2, 8), zeros(1, 8), zeros(2, 3));
    assert!(kernels::moe_add_rms_norm(&mut Ops::new(ctx()), &x, &zeros(5, 8), &wt, &w, 1e-5, &x).is_err());
}

// ---------------------------------------------------------------- the MoE FFN

/// One MoE layer's weights on the host: router (E, H) F32, bias (E), stacked experts.
struct HostMoe {
    h: usize,
    fe: usize,
    n_exp: usize,
    router: HostTensor,
    bias: Vec<f32>,
    gate: HostTensor, // (E * Fe, H)
    up: HostTensor,   // (E * Fe, H)
    down: HostTensor, // (E * H, Fe)
}

impl HostMoe {
    /// Random weights; gate/up in `gate_up_ty`, down in `down_ty`.
    fn random(rng: &mut Rng, h: usize, fe: usize, n_exp: usize, gate_up_ty: GgmlType, down_ty: GgmlType) -> HostMoe {
        let mut m = |ty, rows, cols| host_matrix(ty, rows, cols, &random(rng, rows * cols, 1.0));
        let router = m(GgmlType::F32, n_exp, h);
        let gate = m(gate_up_ty, n_exp * fe, h);
        let up = m(gate_up_ty, n_exp * fe, h);
        let down = m(down_ty, n_exp * h, fe);
        HostMoe { h, fe, n_exp, router, bias: random(rng, n_exp, 0.05), gate, up, down }
    }

    /// The reference: routing, then each selected expert's SwiGLU, weighted. Also returns a
    /// tolerance per output: 1e-4 of the weighted sums of |down * act|.
    fn forward(&self, x: &[f32], k: usize) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
        let (h, fe) = (self.h, self.fe);
        let t = x.len() / h;
        let logits = reference::linear(&self.router, x);
        let (selected, weights) = reference::moe_route(&logits, &self.bias, k);
        let (mut out, mut tol) = (vec![0.0; t * h], vec![1e-6; t * h]);
        let mut row = vec![0.0; fe];
        for (i, (&e, &w)) in selected.iter().zip(&weights).enumerate() {
            let (ti, e) = (i / k, e as usize);
            let xt = &x[ti * h..(ti + 1) * h];
            let gate = reference::matmul(&self.gate, e * fe, fe, xt);
            let up = reference::matmul(&self.up, e * fe, fe, xt);
            let act = reference::swiglu(&gate, &up);
            let down = reference::matmul(&self.down, e * h, h, &act);
            for c in 0..h {
                out[ti * h + c] += w * down[c];
                self.down.dequantize_row(e * h + c, &mut row);
                tol[ti * h + c] += 1e-4 * w * row.iter().zip(&act).map(|(d, a)| (d * a).abs()).sum::<f32>();
            }
        }
        (selected, out, tol)
    }
}

/// The same layer on the GPU.
struct GpuMoe {
    h: usize,
    fe: usize,
    n_exp: usize,
    router: GpuMatrix,
    bias: GpuTensor,
    gate: GpuMatrix,
    up: GpuMatrix,
    down: GpuMatrix,
}

impl GpuMoe {
    /// Uploads `m`, with parts of at most `max_part` bytes (experts whole).
    fn upload(m: &HostMoe, max_part: u64) -> GpuMoe {
        let up = |t: &HostTensor, per| {
            as_tuned(
                ctx(),
                GpuMatrix::with_limit(ctx(), "experts", t.ty, t.rows(), t.cols(), &t.bytes, per, max_part).unwrap(),
            )
        };
        GpuMoe {
            h: m.h,
            fe: m.fe,
            n_exp: m.n_exp,
            router: upload(&m.router),
            bias: tensor(1, m.n_exp, &m.bias),
            gate: up(&m.gate, m.fe),
            up: up(&m.up, m.fe),
            down: up(&m.down, m.h),
        }
    }

    /// The MoE FFN of `x` (T, H), recorded into one command encoder without readback:
    /// returns (selected, out). `grouped`: the GPUs' prefill path (`matvec` and `moe_route`,
    /// `moe_group`, then `moe_batch_matvec` per work item) instead of the CPU adapters'
    /// (`moe_router`, `moe_matvec` per (token, slot)).
    fn forward(&self, x: &[f32], k: usize, grouped: bool) -> (Vec<u32>, Vec<f32>) {
        let (h, fe) = (self.h, self.fe);
        let t = x.len() / h;
        let x = tensor(t, h, x);
        let logits = zeros(t, self.n_exp);
        let (selected, weights) = (zeros(t, k), zeros(t, k));
        let (gate, up, act) = (zeros(t * k, fe), zeros(t * k, fe), zeros(t * k, fe));
        let (down, out) = (zeros(t * k, h), zeros(t, h));
        let items = ids(
            kernels::moe_items_rows(t * k, self.n_exp),
            4,
            &vec![0; 4 * kernels::moe_items_rows(t * k, self.n_exp)],
        );
        let experts = |ops: &mut Ops<'_>, w: &GpuMatrix, rows, x: &GpuTensor, y: &GpuTensor| match grouped {
            true => kernels::moe_batch_matvec(ops, w, rows, &selected, &items, x, y).unwrap(),
            false => kernels::moe_matvec(ops, w, rows, &selected, x, y).unwrap(),
        };
        submit(|ops| {
            // The GPUs' router (matvec, then moe_route) with the GPUs' grouped experts; the CPU
            // adapters' fused one with theirs.
            if grouped {
                kernels::matvec(ops, &self.router, &x, &logits).unwrap();
                kernels::moe_route(ops, &logits, &self.bias, &selected, &weights).unwrap();
            } else {
                kernels::moe_router(ops, &self.router, &x, &self.bias, &selected, &weights).unwrap();
            }
            if grouped {
                kernels::moe_group(ops, &selected, self.n_exp, &items).unwrap();
            }
            experts(ops, &self.gate, fe, &x, &gate);
            experts(ops, &self.up, fe, &x, &up);
            kernels::swiglu(ops, &gate, &up, &act).unwrap();
            experts(ops, &self.down, h, &act, &down);
            kernels::moe_combine(ops, &down, &weights, &out).unwrap();
        });
        (selected.read_u32_blocking(ctx()).unwrap(), out.read_f32_blocking(ctx()).unwrap())
    }
}

/// `ty` where rows of `cols` are whole blocks of it, else Q8_0 (as llama.cpp falls back for
/// K-quants on widths that are not multiples of 256).
fn type_for(ty: GgmlType, cols: usize) -> GgmlType {
    if cols.is_multiple_of(ty.block_size()) {
        ty
    } else {
        GgmlType::Q8_0
    }
}

/// Runs the GPU chain on `m` and compares it with the reference; returns the largest error
/// over the tolerance.
fn check_ffn(what: &str, m: &HostMoe, g: &GpuMoe, x: &[f32], k: usize) -> f32 {
    let (want_sel, want, tol) = m.forward(x, k);
    let mut worst = 0.0f32;
    for grouped in [false, true] {
        let what = format!("{what}{}", if grouped { " (grouped by expert)" } else { "" });
        let (got_sel, got) = g.forward(x, k, grouped);
        assert_eq!(got_sel, want_sel, "{what}: selected experts");
        assert_close(&what, &got, &want, |i, _| tol[i]);
        worst = got.iter().zip(&want).zip(&tol).map(|((g, w), t)| (g - w).abs() / t).fold(worst, f32::max);
    }
    worst
}

#[test]
fn moe_ffn_matches_reference() {
    let mut rng = Rng::new(31);
    let start = Instant::now();
    let mut runs = 0;
    let mut worst = 0.0f32;
    for ty in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K] {
        // (H, Fe): K-quants need widths of 256, so their first shape mixes in Q8_0 for the
        // 96-wide down projection, and a second shape is K-quant throughout.
        let shapes: &[(usize, usize)] =
            if ty.block_size() == 256 { &[(256, 96), (256, 256)] } else { &[(64, 32), (256, 96)] };
        for &(h, fe) in shapes {
            for (n_exp, k) in [(8, 2), (32, 4)] {
                let m = HostMoe::random(&mut rng, h, fe, n_exp, type_for(ty, h), type_for(ty, fe));
                let g = GpuMoe::upload(&m, u64::MAX);
                for t in [1, 7, 23] {
                    let x = random(&mut rng, t * h, 1.0);
                    let what = format!("moe ffn {ty} H={h} Fe={fe} E={n_exp} k={k} T={t}");
                    worst = worst.max(check_ffn(&what, &m, &g, &x, k));
                    runs += 1;
                }
            }
        }
    }
    eprintln!("{runs} MoE FFN chains in {:.2?}; largest error / tolerance {worst:.3}", start.elapsed());
}

#[test]
fn moe_ffn_with_experts_split_across_buffers() {
    let mut rng = Rng::new(32);
    for (ty, h, fe) in [(GgmlType::Q4_0, 64, 32), (GgmlType::Q6_K, 256, 256), (GgmlType::F16, 64, 96)] {
        let (n_exp, k, t) = (8, 3, 7);
        let m = HostMoe::random(&mut rng, h, fe, n_exp, ty, ty);
        // Parts of 3 experts (the last holds 2), so every matrix spans 3 buffers.
        let limit = 3 * m.gate.ty.bytes_for((fe * h) as u64).unwrap() + 4;
        let split = GpuMoe::upload(&m, limit);
        for w in [&split.gate, &split.up, &split.down] {
            assert_eq!(w.parts.len(), 3, "{ty}: parts");
        }
        let whole = GpuMoe::upload(&m, u64::MAX);
        assert_eq!(whole.gate.parts.len(), 1);
        let x = random(&mut rng, t * h, 1.0);
        check_ffn(&format!("split moe ffn {ty}"), &m, &split, &x, k);
        // Same kernels, same order: the split layout changes nothing.
        for grouped in [false, true] {
            assert_eq!(split.forward(&x, k, grouped), whole.forward(&x, k, grouped), "{ty}: split vs whole");
        }
    }
}

#[test]
fn unselected_experts_do_not_reach_the_output() {
    // F16 experts where every expert but 2 and 5 is NaN: any read of theirs into a result
    // would show. Token 0 uses 5 then 2, token 1 uses 2 only (slot 2 of token 1: id 99, no
    // such expert, leaves its row as it was).
    let (n_exp, rpe, cols) = (6, 9, 20);
    let mut rng = Rng::new(33);
    let mut values = random(&mut rng, n_exp * rpe * cols, 1.0);
    for (e, chunk) in values.chunks_mut(rpe * cols).enumerate() {
        if e != 2 && e != 5 {
            chunk.fill(f32::NAN);
        }
    }
    let w = host_matrix(GgmlType::F16, n_exp * rpe, cols, &values);
    let gw =
        as_tuned(ctx(), GpuMatrix::new_grouped(ctx(), "experts", w.ty, w.rows(), w.cols(), &w.bytes, rpe).unwrap());
    let x = random(&mut rng, 2 * cols, 1.0);
    let (sel, gx) = (ids(2, 2, &[5, 2, 2, 99]), tensor(2, cols, &x));
    let mut want = Vec::new();
    for (slot, e) in [(0, 5), (0, 2), (1, 2)] {
        want.extend(reference::matmul(&w, e * rpe, rpe, &x[slot * cols..(slot + 1) * cols]));
    }
    want.extend(vec![7.0; rpe]);
    let y = tensor(4, rpe, &vec![7.0; 4 * rpe]);
    let got = run(&y, |ops| kernels::moe_matvec(ops, &gw, rpe, &sel, &gx, &y).unwrap());
    assert_close("moe_matvec with NaN experts", &got, &want, |_, w| 1e-5 * (1.0 + w.abs()));
    // The prefill path: grouped by expert (two work items; id 99 is in none).
    let rows = kernels::moe_items_rows(4, n_exp);
    let items = ids(rows, 4, &vec![0; rows * 4]);
    let y = tensor(4, rpe, &vec![7.0; 4 * rpe]);
    let got = run(&y, |ops| {
        kernels::moe_group(ops, &sel, n_exp, &items).unwrap();
        kernels::moe_batch_matvec(ops, &gw, rpe, &sel, &items, &gx, &y).unwrap();
    });
    assert_close("moe_batch_matvec with NaN experts", &got, &want, |_, w| 1e-5 * (1.0 + w.abs()));
    let items = items.read_u32_blocking(ctx()).unwrap();
    assert_eq!(&items[..12], &[2, 0, 0, 0, 2, 2, 0, 0, 1, 2, 2, 2], "items: count, then expert 2's (pairs 1, 2)");
    assert_eq!(&items[12..16], &[5, 1, 0, 0], "then expert 5's (pair 0, repeated)");
}

#[test]
fn moe_group_items_cover_every_pair_once() {
    // 37 tokens x 3 slots over 8 experts, ids in slot order: every pair in exactly one item of
    // its expert, items numbered by expert, at most 4 pairs each, padding repeating the last.
    let (t, k, n_exp) = (37, 3, 8);
    let mut rng = Rng::new(34);
    let sel: Vec<u32> = (0..t * k).map(|_| rng.below(n_exp) as u32).collect();
    let rows = kernels::moe_items_rows(t * k, n_exp);
    let items = ids(rows, 4, &vec![u32::MAX; rows * 4]);
    submit(|ops| kernels::moe_group(ops, &ids(t, k, &sel), n_exp, &items).unwrap());
    let items = items.read_u32_blocking(ctx()).unwrap();
    let count = items[0] as usize;
    let mut seen = vec![0; t * k];
    let mut last_expert = 0;
    for i in 0..count {
        let (head, pairs) = (&items[4 + 8 * i..8 + 8 * i], &items[8 + 8 * i..12 + 8 * i]);
        let (e, n) = (head[0], head[1] as usize);
        assert!((1..=4).contains(&n) && e >= last_expert, "item {i}: {head:?}");
        last_expert = e;
        for (j, &p) in pairs.iter().enumerate() {
            assert_eq!(sel[p as usize], e, "item {i}: pair {p} is not expert {e}'s");
            if j < n {
                seen[p as usize] += 1;
            } else {
                assert_eq!(p, pairs[n - 1], "item {i}: padding repeats the last pair");
            }
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "every pair once: {seen:?}");
    assert!(count <= kernels::moe_max_items(t * k, n_exp));
}
