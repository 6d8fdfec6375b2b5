//! A MoE layer's gate and up experts interleaved in shared buffers
//! (`lfm_webgpu::gpu::pairing`): each half computes exactly what it did alone, and the fused
//! `moe_gate_up` / `moe_batch_gate_up` exactly what the two products and `swiglu` do (the
//! grouped form to f32 rounding where a CPU adapter's decode sums in scale chunks), and
//! `moe_route_gate_up` what `moe_route` then `moe_gate_up` do, for every format with a dot
//! helper, across several buffers, on seeded random inputs.

mod common;

use common::gpu::{assert_close, ctx, host_matrix, ids, random, run, stacked_experts, tensor, two_block_cols, zeros};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::pairing::{interleave_experts, interleave_experts_within};
use lfm_webgpu::gpu::shader::SCALE_CHUNK_TYPES;
use lfm_webgpu::gpu::{GpuContext, GpuError, GpuMatrix, GpuTensor, Ops, TextureCopies};
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::sampling::Rng;

/// Stacked experts: `n_exp` of `rpe` rows each, in buffers of at most `per_part` experts.
fn stacked(c: &GpuContext, rng: &mut Rng, ty: GgmlType, n_exp: usize, rpe: usize, per_part: usize) -> GpuMatrix {
    stacked_experts(c, rng, ty, n_exp, rpe, two_block_cols(ty), per_part)
}

#[test]
fn interleaved_experts_compute_what_they_did_apart() {
    let mut rng = Rng::new(61);
    // 7 experts of 13 rows (not a multiple of a workgroup's 8 rows or the fused 4), in
    // buffers of 3 experts, then of 2 pairs; T = 3 tokens, k = 2 slots, ids past E skipped.
    let (n_exp, rpe, t, k) = (7, 13, 3, 2);
    let types = [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::F16];
    for ty in types {
        let (gate, up) = (stacked(ctx(), &mut rng, ty, n_exp, rpe, 3), stacked(ctx(), &mut rng, ty, n_exp, rpe, 3));
        let limit = (4 * rpe) as u64 * ty.bytes_for(gate.cols as u64).unwrap() + 4; // 2 pairs a buffer
        let (pg, pu) = interleave_experts_within(ctx(), &gate, &up, rpe, limit).unwrap().expect("pairable");
        assert!(pg.pairs_with(&pu) && !pu.pairs_with(&pg) && !gate.pairs_with(&up), "{ty}");
        assert_eq!(pg.parts.len(), 4, "{ty}: 7 pairs in buffers of 2");
        assert_eq!(pg.bytes() + pu.bytes(), pg.parts.iter().map(|p| p.buffer().unwrap().size()).sum::<u64>(), "{ty}");

        let x = tensor(t, gate.cols, &random(&mut rng, t * gate.cols, 1.0));
        let selected = ids(t, k, &[6, 0, 3, 3, 9, 5]);
        let y = |rows| zeros(t * k, rows);
        let matvec = |w: &GpuMatrix| {
            let out = y(rpe);
            run(&out, |ops| kernels::moe_matvec(ops, w, rpe, &selected, &x, &out).unwrap())
        };
        assert_eq!(matvec(&pg), matvec(&gate), "{ty}: the gate half");
        assert_eq!(matvec(&pu), matvec(&up), "{ty}: the up half");

        // Fused against the two products then swiglu, decode and grouped (prefill) forms.
        let (g, u, want) = (y(rpe), y(rpe), y(rpe));
        let apart = run(&want, |ops| {
            kernels::moe_matvec(ops, &gate, rpe, &selected, &x, &g).unwrap();
            kernels::moe_matvec(ops, &up, rpe, &selected, &x, &u).unwrap();
            kernels::swiglu(ops, &g, &u, &want).unwrap();
        });
        let fused = y(rpe);
        let got = run(&fused, |ops| {
            kernels::moe_gate_up(ops, &pg, &pu, rpe, &selected, &x, &fused).unwrap();
            assert_eq!(ops.dispatch_count(), pg.parts.len(), "one launch a buffer");
        });
        assert_eq!(got, apart, "{ty}: moe_gate_up");
        let items = zeros(kernels::moe_items_rows(t * k, n_exp), 4);
        let grouped = y(rpe);
        let got = run(&grouped, |ops| {
            kernels::moe_group(ops, &selected, n_exp, &items).unwrap();
            kernels::moe_batch_gate_up(ops, &pg, &pu, rpe, &selected, &items, &x, &grouped).unwrap();
        });
        // The grouped form sums a row's units in the strided order, where a CPU adapter's
        // decode kernels take whole chunks of 256 in turn (`scale_chunks`): the same products
        // to f32 rounding, bit for bit where both loops are the strided one.
        let chunked = ctx().tuning.scale_chunks && SCALE_CHUNK_TYPES.contains(&ty) && gate.cols % 256 == 0;
        if chunked {
            assert_close(&format!("{ty}: moe_batch_gate_up"), &got, &apart, |_, w| 1e-5 * (1.0 + w.abs()));
        } else {
            assert_eq!(got, apart, "{ty}: moe_batch_gate_up");
        }

        // Routed in the same launch: `moe_route`'s choice and weights, and the same products.
        // Token 1's logits tie at the top (the lower expert wins).
        let mut l = random(&mut rng, t * n_exp, 2.0);
        (l[n_exp + 2], l[n_exp + 5]) = (9.0, 9.0);
        let (logits, bias) = (tensor(t, n_exp, &l), tensor(1, n_exp, &vec![0.0; n_exp]));
        let route = |fused: bool| {
            let (sel, w, out) = (zeros(t, k), zeros(t, k), y(rpe));
            let got = run(&out, |ops| {
                if fused {
                    kernels::moe_route_gate_up(ops, &pg, &pu, rpe, &logits, &bias, &sel, &w, &x, &out).unwrap();
                    assert_eq!(ops.dispatch_count(), pg.parts.len(), "one launch a buffer");
                } else {
                    kernels::moe_route(ops, &logits, &bias, &sel, &w).unwrap();
                    kernels::moe_gate_up(ops, &pg, &pu, rpe, &sel, &x, &out).unwrap();
                }
            });
            (got, sel.read_u32_blocking(ctx()).unwrap(), w.read_f32_blocking(ctx()).unwrap())
        };
        let (fused, apart) = (route(true), route(false));
        assert_eq!(fused, apart, "{ty}: moe_route_gate_up");
        assert_eq!(apart.1[2], 2, "{ty}: a tie goes to the lower expert");
    }
}

#[test]
fn a_dense_mlps_gate_and_up_paired_compute_what_they_did_apart() {
    let mut rng = Rng::new(63);
    // One expert of 21 rows (not whole workgroups of 8 or 4), 3 tokens.
    let (f, t) = (21, 3);
    let types = [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::F16];
    for ty in types {
        let (gate, up) = (stacked(ctx(), &mut rng, ty, 1, f, 1), stacked(ctx(), &mut rng, ty, 1, f, 1));
        let (pg, pu) = interleave_experts(ctx(), &gate, &up, f).unwrap().expect("pairable");
        assert!(pg.pairs_with(&pu) && pg.parts.len() == 1, "{ty}");
        let x = tensor(t, gate.cols, &random(&mut rng, t * gate.cols, 1.0));
        // The row-wise kernels read each half as they read the original.
        type Linear = fn(&mut Ops<'_>, &GpuMatrix, &GpuTensor, &GpuTensor) -> Result<(), GpuError>;
        let linear: [(&str, Linear); 3] =
            [("matvec", kernels::matvec), ("batch_matvec", kernels::batch_matvec), ("matmul", kernels::matmul)];
        for (name, kernel) in linear {
            let product = |w: &GpuMatrix| {
                let out = zeros(t, f);
                run(&out, |ops| kernel(ops, w, &x, &out).unwrap())
            };
            assert_eq!(product(&pg), product(&gate), "{ty}: {name} of the gate half");
            assert_eq!(product(&pu), product(&up), "{ty}: {name} of the up half");
        }
        let (g, u, want) = (zeros(t, f), zeros(t, f), zeros(t, f));
        let apart = run(&want, |ops| {
            kernels::matvec(ops, &gate, &x, &g).unwrap();
            kernels::matvec(ops, &up, &x, &u).unwrap();
            kernels::swiglu(ops, &g, &u, &want).unwrap();
        });
        let fused = zeros(t, f);
        let got = run(&fused, |ops| {
            kernels::gate_up(ops, &pg, &pu, &x, None, &fused).unwrap();
            assert_eq!(ops.dispatch_count(), 1);
        });
        assert_eq!(got, apart, "{ty}: gate_up");
        // Moved into textures (as CPU adapters hold a model), the halves share one texture
        // and compute the same.
        let mut copies = TextureCopies::default();
        let (mut tg, mut tu) = interleave_experts(ctx(), &gate, &up, f).unwrap().expect("pairable");
        tg.to_textures(ctx(), &mut copies).unwrap();
        tu.to_textures(ctx(), &mut copies).unwrap();
        assert!(tg.parts[0].is_texture() && tg.pairs_with(&tu), "{ty}: one texture for the pair");
        let fused = zeros(t, f);
        assert_eq!(run(&fused, |ops| kernels::gate_up(ops, &tg, &tu, &x, None, &fused).unwrap()), apart, "{ty}");
        let mut ops = Ops::new(ctx());
        assert!(kernels::gate_up(&mut ops, &pu, &pg, &x, None, &fused).is_err(), "{ty}: halves in the wrong order");
        assert!(kernels::gate_up(&mut ops, &gate, &up, &x, None, &fused).is_err(), "{ty}: not paired");
    }
}

#[test]
fn pairs_are_checked_and_halves_refused_elsewhere() {
    let mut rng = Rng::new(62);
    let (n_exp, rpe) = (3, 8);
    let q4 = stacked(ctx(), &mut rng, GgmlType::Q4_0, n_exp, rpe, n_exp);
    let q8 = stacked(ctx(), &mut rng, GgmlType::Q8_0, n_exp, rpe, n_exp);
    assert!(interleave_experts(ctx(), &q4, &q8, rpe).unwrap().is_none(), "different formats stay apart");
    let other = stacked(ctx(), &mut rng, GgmlType::Q4_0, n_exp, rpe, n_exp);
    let (g, u) = interleave_experts(ctx(), &q4, &other, rpe).unwrap().expect("pairable");
    assert!(interleave_experts(ctx(), &g, &u, rpe).unwrap().is_none(), "already paired");
    // Uploaded without grouping by expert, under a limit of 1.5 experts a buffer: an expert
    // straddles two buffers.
    let cols = q4.cols;
    let host = host_matrix(GgmlType::Q4_0, n_exp * rpe, cols, &random(&mut rng, n_exp * rpe * cols, 1.0));
    let limit = (3 * rpe / 2) as u64 * GgmlType::Q4_0.bytes_for(cols as u64).unwrap();
    let cut = GpuMatrix::with_limit(ctx(), "cut", GgmlType::Q4_0, n_exp * rpe, cols, &host.bytes, 1, limit).unwrap();
    assert!(interleave_experts(ctx(), &cut, &other, rpe).unwrap().is_none(), "an expert across buffers");

    let (x, sel) = (tensor(1, q4.cols, &random(&mut rng, q4.cols, 1.0)), ids(1, 2, &[0, 2]));
    let out = zeros(2, rpe);
    let mut ops = Ops::new(ctx());
    // The fused kernels need the two halves of one pair, in order.
    assert!(kernels::moe_gate_up(&mut ops, &q4, &other, rpe, &sel, &x, &out).is_err());
    assert!(kernels::moe_gate_up(&mut ops, &u, &g, rpe, &sel, &x, &out).is_err());
    // Kernels that read rows one after another refuse a half.
    let y = zeros(1, g.rows);
    assert!(kernels::matvec(&mut ops, &g, &x, &y).is_err(), "matvec of an interleaved half");
    assert!(kernels::gate_up(&mut ops, &g, &u, &x, None, &zeros(1, rpe)).is_err(), "gate_up of stacked experts");
    assert!(kernels::embed(&mut ops, &g, &ids(1, 1, &[0]), &zeros(1, g.cols)).is_err());
    assert_eq!(ops.dispatch_count(), 0);
}
