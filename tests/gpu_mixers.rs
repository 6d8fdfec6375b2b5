//! The two mixers on the GPU against the reference (`lfm_webgpu::reference::ops`): the short
//! convolution with its rolling state, the KV cache (f16 or f32) split into position blocks,
//! the fused per-head norm, RoPE and cache store, and split-K GQA attention, on seeded random
//! inputs of awkward sizes.

mod common;

use common::gpu::{
    assert_close, ctx, gaussian, gpu_like_ctx, max_rel_err, random, run, run_on, submit, submit_on, tensor,
    validate_with_naga, zeros,
};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::shader::ShaderSpec;
use lfm_webgpu::gpu::{GpuContext, GpuTensor, KvCache, KvPrecision, Ops};
use lfm_webgpu::reference::ops as reference;
use lfm_webgpu::rng::Rng;

const KERNELS: [&str; 4] = ["short_conv", "kv_store", "attention", "attention_combine"];
const PRECISIONS: [KvPrecision; 2] = [KvPrecision::F16, KvPrecision::F32];

#[test]
fn mixer_shaders_validate_with_naga() {
    for k in KERNELS {
        validate_with_naga(&ShaderSpec::plain(k));
    }
    for k in ["kv_store", "attention", "qk_norm_rope_store"] {
        validate_with_naga(&ShaderSpec::plain(k));
        validate_with_naga(&ShaderSpec::plain(k).with_kv_f32(true));
    }
}

// ---------------------------------------------------------------- short convolution

/// Runs the GPU short conv on `bcx` (T, 3H) from `state`, returning (out, new state).
fn gpu_short_conv(bcx: &[f32], kernel: &[f32], state: &GpuTensor, h: usize) -> Vec<f32> {
    let (t, taps) = (bcx.len() / (3 * h), kernel.len() / h);
    let (gbcx, gk, out) = (tensor(t, 3 * h, bcx), tensor(h, taps, kernel), zeros(t, h));
    run(&out, |ops| kernels::short_conv(ops, &gbcx, &gk, state, &out).unwrap())
}

#[test]
fn short_conv_matches_reference() {
    let mut rng = Rng::new(20);
    // (H, L, T): T < L-1 shifts the state only partly; long T spans several chunks; L = 20
    // makes chunks longer than the default.
    for (h, taps, t) in [(333, 3, 1), (333, 3, 2), (333, 3, 45), (70, 4, 2), (1000, 3, 3), (65, 20, 45), (65, 20, 5)] {
        let bcx = random(&mut rng, t * 3 * h, 2.0);
        let kernel = random(&mut rng, h * taps, 1.0);
        let mut tail = random(&mut rng, (taps - 1) * h, 2.0);
        let state = tensor(taps - 1, h, &tail);
        let got = gpu_short_conv(&bcx, &kernel, &state, h);
        let want = reference::short_conv(&bcx, &kernel, &mut tail, h);
        let what = format!("short_conv H={h} L={taps} T={t}");
        assert_close(&what, &got, &want, |_, w| 1e-6 * w.abs() + 1e-6);
        let got_state = state.read_f32_blocking(ctx()).unwrap();
        assert_close(&format!("{what} state"), &got_state, &tail, |_, _| 0.0);
    }
}

#[test]
fn short_conv_in_chunks_equals_one_pass() {
    let mut rng = Rng::new(21);
    let (h, taps, t) = (257, 3, 40);
    let bcx = random(&mut rng, t * 3 * h, 2.0);
    let kernel = random(&mut rng, h * taps, 1.0);
    let mut tail = vec![0.0; (taps - 1) * h];
    let want = reference::short_conv(&bcx, &kernel, &mut tail, h);

    let state = zeros(taps - 1, h);
    let mut got = Vec::new();
    let mut t0 = 0;
    for n in [1, 2, 17, 1, 19] {
        got.extend(gpu_short_conv(&bcx[t0 * 3 * h..(t0 + n) * 3 * h], &kernel, &state, h));
        t0 += n;
    }
    assert_eq!(t0, t);
    assert_close("short_conv in chunks", &got, &want, |_, w| 1e-6 * w.abs() + 1e-6);
    assert_close("short_conv state after chunks", &state.read_f32_blocking(ctx()).unwrap(), &tail, |_, _| 0.0);
}

// ---------------------------------------------------------------- KV cache

/// `x` as a cache of `precision` holds it: f32 as is, f16 rounded to the nearest.
fn as_cached(precision: KvPrecision, x: &[f32]) -> Vec<f32> {
    match precision {
        KvPrecision::F16 => x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
        KvPrecision::F32 => x.to_vec(),
    }
}

/// How far a cached value may be from [`as_cached`]: f32 exactly; f16 one step (2^-10
/// relative) either way, since WGSL leaves the direction of its rounding to the implementation.
fn cached_tolerance(precision: KvPrecision) -> impl Fn(usize, f32) -> f32 {
    move |_, want| match precision {
        KvPrecision::F16 => want.abs() * 2f32.powi(-10),
        KvPrecision::F32 => 0.0,
    }
}

#[test]
fn kv_cache_splits_a_long_context_within_the_binding_limit() {
    // The real shape: 8 kv heads of 64, 128K positions: 256 MiB per K.
    let limit = ctx().max_binding_bytes();
    for precision in PRECISIONS {
        let cache = KvCache::new(ctx(), "kv", precision, 8, 64, 131_072).unwrap();
        let row = 8 * 64 * precision.element_bytes();
        let bytes = 131_072u64 * row;
        assert_eq!(cache.blocks.len() as u64, bytes.div_ceil(limit / row * row), "{precision:?}");
        assert!(cache.blocks.iter().all(|b| b.k.size() <= limit && b.v.size() <= limit));
        assert_eq!(cache.blocks.iter().map(|b| b.positions).sum::<usize>(), 131_072);
        assert_eq!(cache.bytes(), 2 * bytes);
        assert!(KvCache::new(ctx(), "kv", precision, 8, 6, 10).is_err(), "head_dim must be a multiple of 4");
    }
    // f16 halves the cache: the 128K context of 8 kv heads x 64 is 128 MiB per K.
    assert_eq!(KvPrecision::F16.element_bytes() * 2, KvPrecision::F32.element_bytes());
}

#[test]
fn kv_store_writes_rows_across_blocks() {
    for precision in PRECISIONS {
        let mut rng = Rng::new(22);
        let (n_kv, hd, cap) = (3, 8, 50);
        let cache = KvCache::with_block_positions(ctx(), "kv", precision, n_kv, hd, cap, 7).unwrap();
        assert_eq!(cache.blocks.len(), 8);
        let row = n_kv * hd;
        let (mut want_k, mut want_v) = (Vec::new(), Vec::new());
        let mut pos = 0;
        // 5 rows in block 0, then 13 rows across blocks 0..2, then 1, then up to the capacity.
        for t in [5, 13, 1, 31] {
            let (k, v) = (random(&mut rng, t * row, 1.0), random(&mut rng, t * row, 1.0));
            let (gk, gv) = (tensor(t, row, &k), tensor(t, row, &v));
            submit(|ops| {
                kernels::kv_store(ops, &cache, &gk, &gv, pos).unwrap();
                assert_eq!(ops.dispatch_count(), cache.spans(pos, t).count());
            });
            want_k.extend(as_cached(precision, &k));
            want_v.extend(as_cached(precision, &v));
            pos += t;
            let (got_k, got_v) = cache.read_blocking(ctx(), pos).unwrap();
            let tol = cached_tolerance(precision);
            assert_close(&format!("{precision:?} K after {pos} positions"), &got_k, &want_k, &tol);
            assert_close(&format!("{precision:?} V after {pos} positions"), &got_v, &want_v, &tol);
        }
        let one = tensor(1, row, &vec![0.0; row]);
        assert!(kernels::kv_store(&mut Ops::new(ctx()), &cache, &one, &one, cap).is_err(), "past the capacity");
    }
}

// ---------------------------------------------------------------- norm, RoPE and cache store

/// `qk_norm_rope_store` against the reference's rms_norm then rope: q in place, K and V in the
/// cache (after `pos0` positions already there), for T tokens spread over cache blocks.
fn check_qk_norm_rope_store(
    seed: u64,
    precision: KvPrecision,
    shape: (usize, usize, usize),
    block: usize,
    pos0: usize,
    t: usize,
) {
    let (n_heads, n_kv, hd) = shape;
    let (eps, theta) = (1e-5, 1e6);
    let mut rng = Rng::new(seed);
    let cap = pos0 + t + 3;
    let cache = KvCache::with_block_positions(ctx(), "kv", precision, n_kv, hd, cap, block).unwrap();
    let row = n_kv * hd;
    let (old_k, old_v) = (random(&mut rng, pos0 * row, 1.0), random(&mut rng, pos0 * row, 1.0));
    if pos0 > 0 {
        let (gk, gv) = (tensor(pos0, row, &old_k), tensor(pos0, row, &old_v));
        submit(|ops| kernels::kv_store(ops, &cache, &gk, &gv, 0).unwrap());
    }
    let q = gaussian(&mut rng, t * n_heads * hd, 3.0);
    let (k, v) = (gaussian(&mut rng, t * row, 3.0), random(&mut rng, t * row, 2.0));
    let (q_norm, k_norm) = (random(&mut rng, hd, 2.0), random(&mut rng, hd, 2.0));
    let table = kernels::RopeTable::new(ctx(), hd, theta).unwrap();

    let mut want_q = reference::rms_norm(&q, &q_norm, eps);
    reference::rope(&mut want_q, n_heads * hd, pos0, hd, theta);
    let mut want_k = reference::rms_norm(&k, &k_norm, eps);
    reference::rope(&mut want_k, row, pos0, hd, theta);

    let gq = tensor(t, n_heads * hd, &q);
    let (gk, gv) = (tensor(t, row, &k), tensor(t, row, &v));
    let (gqn, gkn) = (tensor(1, hd, &q_norm), tensor(1, hd, &k_norm));
    let got_q = run(&gq, |ops| {
        kernels::qk_norm_rope_store(ops, [&gq, &gk, &gv], [&gqn, &gkn], eps, &table, &cache, pos0).unwrap();
        assert_eq!(ops.dispatch_count(), cache.spans(pos0, t).count(), "one dispatch per block touched");
    });
    let what = format!("{precision:?} heads {n_heads}/{n_kv} hd {hd} blocks of {block}, pos0 {pos0} T {t}");
    // The reference and the GPU sum squares in different orders; sin/cos agree to ~1 ulp.
    assert_close(&format!("{what}: q"), &got_q, &want_q, |_, w| 1e-5 * (1.0 + w.abs()));
    let (got_k, got_v) = cache.read_blocking(ctx(), pos0 + t).unwrap();
    let cached = |x: &[f32]| as_cached(precision, x);
    let tol = cached_tolerance(precision);
    assert_close(&format!("{what}: old K"), &got_k[..pos0 * row], &cached(&old_k), &tol);
    assert_close(&format!("{what}: old V"), &got_v[..pos0 * row], &cached(&old_v), &tol);
    assert_close(&format!("{what}: V"), &got_v[pos0 * row..], &cached(&v), &tol);
    let k_tol = |i: usize, w: f32| tol(i, w) + 1e-5 * (1.0 + w.abs());
    assert_close(&format!("{what}: K"), &got_k[pos0 * row..], &cached(&want_k), k_tol);
}

#[test]
fn qk_norm_rope_store_matches_norm_then_rope_then_store() {
    for precision in PRECISIONS {
        // 6 query heads over 2 kv heads of 12 (3 threads busy of 32), blocks of 7 positions:
        // decode, a prefill inside one block, and one across three blocks at a far position.
        for (pos0, t) in [(0, 1), (9, 1), (1, 5), (3, 17)] {
            check_qk_norm_rope_store(40, precision, (6, 2, 12), 7, pos0, t);
        }
        // LFM2.5-8B-A1B's heads: 32 of 64 over 8 kv heads, deep into a long context; and
        // heads of 64 at the far end of its 128K context, where the angles are largest.
        check_qk_norm_rope_store(41, precision, (32, 8, 64), 64, 5000, 9);
        for pos0 in [100_000, 131_000] {
            check_qk_norm_rope_store(42, precision, (3, 1, 64), 8192, pos0, 5);
        }
    }
}

// ---------------------------------------------------------------- attention

/// For each (pos0, T): fills positions 0..pos0 of a fresh cache, then stores T new K/V rows
/// and runs attention in one step, as a forward pass does; compares with the reference.
/// Heads and cache of an attention test.
struct Shape {
    precision: KvPrecision,
    n_heads: usize,
    n_kv: usize,
    hd: usize,
    capacity: usize,
    block: usize, // positions per cache buffer
}

fn check_attention(seed: u64, shape: Shape, cases: &[(usize, usize)]) {
    check_attention_on(ctx(), seed, shape, cases);
}

fn check_attention_on(c: &GpuContext, seed: u64, shape: Shape, cases: &[(usize, usize)]) {
    let Shape { precision, n_heads, n_kv, hd, capacity: cap, block } = shape;
    let mut rng = Rng::new(seed);
    let tensor = |rows, cols, data: &[f32]| GpuTensor::from_f32(c, "t", rows, cols, data).unwrap();
    let zeros = |rows, cols| GpuTensor::zeros(c, "zeros", rows, cols).unwrap();
    let cache = KvCache::with_block_positions(c, "kv", precision, n_kv, hd, cap, block).unwrap();
    let max_t = cases.iter().map(|c| c.1).max().unwrap();
    let scratch = zeros(kernels::attention_scratch_len(c, &cache, max_t, n_heads), 1);
    let mut worst = 0.0f32;
    for &(pos0, t) in cases {
        let n_ctx = pos0 + t;
        let (k, v) = (gaussian(&mut rng, n_ctx * n_kv * hd, 1.0), gaussian(&mut rng, n_ctx * n_kv * hd, 1.0));
        let q = gaussian(&mut rng, t * n_heads * hd, 2.0); // peaky softmax: scores ~ N(0, 4)
                                                           // The reference reads K and V as the cache holds them.
        let (ck, cv) = (as_cached(precision, &k), as_cached(precision, &v));
        let want = reference::attention(&q, &ck, &cv, pos0, n_heads, n_kv, hd);

        let row = n_kv * hd;
        if pos0 > 0 {
            let (gk, gv) = (tensor(pos0, row, &k[..pos0 * row]), tensor(pos0, row, &v[..pos0 * row]));
            submit_on(c, |ops| kernels::kv_store(ops, &cache, &gk, &gv, 0).unwrap());
        }
        let (gk, gv) = (tensor(t, row, &k[pos0 * row..]), tensor(t, row, &v[pos0 * row..]));
        let (gq, out) = (tensor(t, n_heads * hd, &q), zeros(t, n_heads * hd));
        let blocks = cache.spans(0, n_ctx).count();
        let got = run_on(c, &out, |ops| {
            kernels::kv_store(ops, &cache, &gk, &gv, pos0).unwrap();
            let before = ops.dispatch_count();
            kernels::attention(ops, &gq, &cache, pos0, &scratch, &out).unwrap();
            assert_eq!(ops.dispatch_count() - before, blocks + 1, "one dispatch per block, then the combine");
        });
        let what =
            format!("attention {precision:?} heads {n_heads}/{n_kv} hd {hd} blocks of {block}: pos0 {pos0}, T {t}");
        assert_close(&what, &got, &want, |_, w| 1e-5 * (1.0 + w.abs()));
        worst = worst.max(max_rel_err(&got, &want));
    }
    let layout = if std::ptr::eq(c, ctx()) { "" } else { " (GPU layout)" };
    eprintln!("attention{layout} {precision:?} {n_heads}/{n_kv}/{hd}: max |gpu - ref| / (1 + |ref|) = {worst:e}");
}

const CASES: [(usize, usize); 9] = [(0, 1), (1, 1), (37, 1), (300, 1), (0, 5), (11, 5), (0, 23), (11, 23), (290, 23)];

#[test]
fn attention_matches_reference_small_heads() {
    // Blocks of 100 positions: pos0 300 reads 4 buffers, the last T=23 prefill crosses one.
    for precision in PRECISIONS {
        check_attention(30, Shape { precision, n_heads: 4, n_kv: 2, hd: 16, capacity: 400, block: 100 }, &CASES);
    }
}

#[test]
fn attention_matches_reference_real_shape_long_context() {
    // LFM2.5-8B-A1B's heads over ~2000 positions in blocks of 300 (7 buffers), and in one
    // buffer, where a decode splits the block (4 splits of 512 on a CPU adapter, 32 of 64 with a
    // GPU's layout); prefill queries are masked per split.
    let cases = [(0, 1), (1, 1), (37, 1), (300, 1), (1999, 1), (0, 5), (11, 5), (0, 23), (11, 23), (1977, 23)];
    for precision in PRECISIONS {
        for block in [300, 2000] {
            let shape = || Shape { precision, n_heads: 32, n_kv: 8, hd: 64, capacity: 2000, block };
            check_attention(31, shape(), &cases);
            // Two groups of 32 threads taking turns over each tile's V rows.
            check_attention_on(gpu_like_ctx(), 31, shape(), &cases);
        }
    }
}

#[test]
fn attention_matches_reference_for_every_head_grouping() {
    // Query heads per kv head 1, 3, 6 and 8: workgroups take 1, 3, 3 (twice) and 4 (twice)
    // of them in their vec4 lanes. Heads of 12 have 6 output pairs: 2 a thread, not the 4
    // a CPU adapter's threads take where they can; with a GPU's layout, 8 groups of 6
    // threads take turns over a tile's 64 V rows (16 threads only score).
    let cases = [(0, 1), (70, 1), (0, 9), (61, 9)];
    for hd in [32, 12] {
        for (n_heads, n_kv) in [(2, 2), (3, 1), (12, 2), (16, 2)] {
            let precision = KvPrecision::default();
            let shape = || Shape { precision, n_heads, n_kv, hd, capacity: 100, block: 40 };
            check_attention(33, shape(), &cases);
            check_attention_on(gpu_like_ctx(), 33, shape(), &cases);
        }
    }
}

#[test]
fn attention_rejects_a_small_scratch_and_bad_heads() {
    let cache = KvCache::with_block_positions(ctx(), "kv", KvPrecision::F16, 2, 16, 64, 16).unwrap();
    let (q, out) = (zeros(3, 4 * 16), zeros(3, 4 * 16));
    let small = zeros(100, 1); // the partials of 3 x 4 heads x 1 split need 216
    let err = kernels::attention(&mut Ops::new(ctx()), &q, &cache, 5, &small, &out).unwrap_err();
    assert!(err.to_string().contains("scratch"), "{err}");
    let scratch = zeros(kernels::attention_scratch_len(ctx(), &cache, 3, 4), 1);
    let q3 = zeros(3, 3 * 16); // 3 heads over 2 kv heads
    assert!(kernels::attention(&mut Ops::new(ctx()), &q3, &cache, 5, &scratch, &zeros(3, 3 * 16)).is_err());
    assert!(kernels::attention(&mut Ops::new(ctx()), &q, &cache, 62, &scratch, &out).is_err(), "past the capacity");
}

#[test]
fn dispatches_past_65535_workgroups_fold_into_y() {
    let mut rng = Rng::new(32);
    // kv_store: 4100 rows of 1024 elements, over 65535 * 64 threads.
    let (t, row) = (4100, 1024);
    let cache = KvCache::new(ctx(), "kv", KvPrecision::F16, 16, 64, t).unwrap();
    let (k, v) = (random(&mut rng, t * row, 1.0), random(&mut rng, t * row, 1.0));
    let (gk, gv) = (tensor(t, row, &k), tensor(t, row, &v));
    submit(|ops| kernels::kv_store(ops, &cache, &gk, &gv, 0).unwrap());
    let (got_k, got_v) = cache.read_blocking(ctx(), t).unwrap();
    let tol = cached_tolerance(KvPrecision::F16);
    assert_close("kv_store, folded", &got_k, &as_cached(KvPrecision::F16, &k), &tol);
    assert_close("kv_store, folded", &got_v, &as_cached(KvPrecision::F16, &v), &tol);
    // attention: 65 queries x 1024 heads = 66560 workgroups.
    let shape = Shape { precision: KvPrecision::F16, n_heads: 1024, n_kv: 1, hd: 4, capacity: 100, block: 100 };
    check_attention(33, shape, &[(0, 65)]);
}
