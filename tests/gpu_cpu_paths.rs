//! The decode kernels' paths for CPU adapters (`gpu::Tuning`): vectors read through the
//! 64 KiB uniform window (`uniform_x`) and the chunked unit loop of Q4_0 and Q4_K
//! (`scale_chunks`), each against the reference, as is the storage / strided path where it
//! does not apply.
//! (In CI the adapter is lavapipe, whose own tuning takes both; the GPU-like tunings of
//! tests/gpu_kernels.rs and tests/gpu_golden.rs take neither.)

mod common;

use common::gpu::{as_tuned, assert_close, host_matrix, matvec_tolerance, random};
use lfm_webgpu::gpu::{kernels, GpuContext, GpuMatrix, GpuTensor, Ops};
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::rng::Rng;

/// A context of its own with the CPU tuning's 8-thread workgroups and the two choices given.
fn cpu_context(uniform_x: bool, scale_chunks: bool) -> GpuContext {
    let mut own = GpuContext::new_blocking().expect("a context on the adapter (lavapipe in CI)");
    (own.tuning.matvec_wg, own.tuning.few_rows_wg) = (8, 8);
    (own.tuning.uniform_x, own.tuning.scale_chunks) = (uniform_x, scale_chunks);
    own
}

fn read(ctx: &GpuContext, y: &GpuTensor, record: impl FnOnce(&mut Ops<'_>)) -> Vec<f32> {
    let mut ops = Ops::new(ctx);
    record(&mut ops);
    ops.submit();
    y.read_f32_blocking(ctx).unwrap()
}

#[test]
fn matvec_reads_vectors_through_the_uniform_window_only_where_they_fit() {
    // CPU adapters read x from a 64 KiB uniform window (`Tuning::uniform_x`): tensors are
    // padded to it, and vectors past it fall back to the storage variant. Both give the
    // reference's products; a context without the tuning keeps tensors unpadded.
    let mut rng = Rng::new(19);
    for uniform_x in [true, false] {
        let own = cpu_context(uniform_x, false);
        // (type, vectors, cols): 1 x 768 fits the window; 3 x 8192 (96 KiB) does not.
        for (ty, t, cols) in
            [(GgmlType::Q4_0, 1, 768), (GgmlType::Q4_K, 1, 768), (GgmlType::Q4_0, 3, 8192), (GgmlType::Q4_K, 3, 8192)]
        {
            let rows = 21;
            let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
            let x = random(&mut rng, t * cols, 1.0);
            let (want, tol) = (reference::matmul(&w, 0, rows, &x), matvec_tolerance(&w, 0, rows, &x));
            let gw = as_tuned(&own, GpuMatrix::from_host(&own, &w, 1).unwrap());
            let gx = GpuTensor::from_f32(&own, "x", t, cols, &x).unwrap();
            let y = GpuTensor::zeros(&own, "y", t, rows).unwrap();
            let ops = Ops::new(&own);
            let fits = 4 * t * cols <= 65536;
            assert_eq!(kernels::reads_x_uniform(&ops, &gx), uniform_x && fits, "{ty} {t} x {cols}");
            let padded = if uniform_x { 65536.max(4 * t * cols) } else { 4 * t * cols };
            assert_eq!(gx.buffer.size(), padded as u64, "{ty} {t} x {cols}: buffer size");
            drop(ops);
            let got = read(&own, &y, |ops| kernels::matvec(ops, &gw, &gx, &y).unwrap());
            assert_close(&format!("matvec {ty} {t} x {cols}, uniform_x {uniform_x}"), &got, &want, |i, _| tol[i]);
        }
    }
}

#[test]
fn chunked_unit_loop_matches_reference_for_matvec_and_experts() {
    // The loop (Q4_0, Q4_K) runs where a row is whole chunks of 256 elements, which the 8
    // threads take in turn: 2048 columns (one chunk a thread), 4096 (two), 1792 (7 chunks: one
    // thread idle), 2304 (9: a second round of one).
    // Decode (`matvec`, 1 and 3 vectors) and the routed experts (`moe_matvec`), with and
    // without the chunks: each close to the reference.
    let mut rng = Rng::new(20);
    for (ty, cols) in
        [GgmlType::Q4_0, GgmlType::Q4_K].into_iter().flat_map(|ty| [2048, 4096, 1792, 2304].map(|c| (ty, c)))
    {
        let (rows, rpe, n_exp) = (19, 10, 3);
        let w = host_matrix(ty, rows, cols, &random(&mut rng, rows * cols, 1.0));
        let experts = host_matrix(ty, n_exp * rpe, cols, &random(&mut rng, n_exp * rpe * cols, 1.0));
        let x = random(&mut rng, 3 * cols, 1.0);
        let selected = [2u32, 0, 1, 2, 0, 0]; // 3 tokens, 2 slots each
        let mut want_experts = Vec::new();
        let mut tol_experts = Vec::new();
        for (pair, &e) in selected.iter().enumerate() {
            let xt = &x[(pair / 2) * cols..(pair / 2 + 1) * cols];
            want_experts.extend(reference::matmul(&experts, e as usize * rpe, rpe, xt));
            tol_experts.extend(matvec_tolerance(&experts, e as usize * rpe, rpe, xt));
        }
        // Q4_K also with the GPU's sub-block units (`q4_k_subblocks`), whose runs are 8 units.
        let subblocks: &[bool] = if ty == GgmlType::Q4_K { &[false, true] } else { &[false] };
        for (chunks, &sub) in [true, false].into_iter().flat_map(|c| subblocks.iter().map(move |s| (c, s))) {
            let mut own = cpu_context(true, chunks);
            own.tuning.shader.q4_k_subblocks = sub;
            let gw = as_tuned(&own, GpuMatrix::from_host(&own, &w, 1).unwrap());
            for t in [1, 3] {
                let xt = &x[..t * cols];
                let (want, tol) = (reference::matmul(&w, 0, rows, xt), matvec_tolerance(&w, 0, rows, xt));
                let gx = GpuTensor::from_f32(&own, "x", t, cols, xt).unwrap();
                let y = GpuTensor::zeros(&own, "y", t, rows).unwrap();
                let got = read(&own, &y, |ops| kernels::matvec(ops, &gw, &gx, &y).unwrap());
                let what = format!("matvec {ty} {t} x {cols}, chunks {chunks}, sub-blocks {sub}");
                assert_close(&what, &got, &want, |i, _| tol[i]);
            }
            let ge = as_tuned(
                &own,
                GpuMatrix::new_grouped(&own, "experts", experts.ty, n_exp * rpe, cols, &experts.bytes, rpe).unwrap(),
            );
            let gx = GpuTensor::from_f32(&own, "x", 3, cols, &x).unwrap();
            let sel = ids_in(&own, &selected);
            let y = GpuTensor::zeros(&own, "y", selected.len(), rpe).unwrap();
            let got = read(&own, &y, |ops| kernels::moe_matvec(ops, &ge, rpe, &sel, &gx, &y).unwrap());
            let what = format!("moe_matvec {ty} x {cols}, chunks {chunks}, sub-blocks {sub}");
            assert_close(&what, &got, &want_experts, |i, _| tol_experts[i]);
        }
    }
}

/// The (3 tokens, 2 slots) expert ids as a tensor of `ctx`.
fn ids_in(ctx: &GpuContext, selected: &[u32]) -> GpuTensor {
    GpuTensor::from_u32(ctx, "selected", 3, 2, selected).unwrap()
}

#[test]
fn k_quant_scales_below_the_f16_normals_widen_exactly() {
    // Weights of magnitude ~1e-3 give Q4_K / Q5_K blocks f16 subnormal d and dmin (below
    // 6.1e-5), which CPU adapters widen from the bits (`f16_scales_by_bits`) and GPUs with
    // unpack2x16float: both give the reference's products, on the quarter-block and the
    // sub-block units.
    let mut rng = Rng::new(21);
    let (rows, cols) = (13, 512);
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K] {
        let values: Vec<f32> = random(&mut rng, rows * cols, 1.0).iter().map(|v| v * 1e-3).collect();
        let w = host_matrix(ty, rows, cols, &values);
        let block = ty.type_size();
        let d_bits = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
        let subnormal = w.bytes.chunks(block).filter(|b| d_bits(b) & 0x7c00 == 0 && d_bits(b) != 0).count();
        assert!(subnormal > 0, "{ty}: no block with a subnormal d");
        let x = random(&mut rng, 2 * cols, 1.0);
        let (want, tol) = (reference::matmul(&w, 0, rows, &x), matvec_tolerance(&w, 0, rows, &x));
        for (by_bits, subblocks) in [(true, false), (false, false), (true, true), (false, true)] {
            let mut own = cpu_context(false, false);
            (own.tuning.shader.f16_scales_by_bits, own.tuning.shader.q4_k_subblocks) = (by_bits, subblocks);
            let gw = as_tuned(&own, GpuMatrix::from_host(&own, &w, 1).unwrap());
            let gx = GpuTensor::from_f32(&own, "x", 2, cols, &x).unwrap();
            let y = GpuTensor::zeros(&own, "y", 2, rows).unwrap();
            let got = read(&own, &y, |ops| kernels::matvec(ops, &gw, &gx, &y).unwrap());
            let what = format!("matvec {ty}, {subnormal} subnormal d, by bits {by_bits}, sub-blocks {subblocks}");
            assert_close(&what, &got, &want, |i, _| tol[i]);
        }
    }
}
