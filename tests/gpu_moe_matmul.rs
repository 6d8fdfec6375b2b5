//! The routed experts' prefill as tiled products (`moe_sort` then `moe_matmul` /
//! `moe_matmul_gate_up`, `Tuning::moe_matmul`) against the per-pair kernels (`moe_matvec`,
//! `moe_gate_up`), which are held to the reference elsewhere: every format with a dot helper,
//! experts of 70 rows (two row tiles, the second partial) across several buffers, 70 tokens
//! (an expert's pairs in two tiles), x per token and per pair, on seeded random inputs. The
//! sums' order differs (a tile sums 4 elements a step), so they agree within f32 rounding.

mod common;

use common::gpu::{assert_close, ctx, ids, random, run, stacked_experts, tensor, zeros};
use lfm_webgpu::gpu::kernels;
use lfm_webgpu::gpu::pairing::interleave_experts_within;
use lfm_webgpu::gpu::GpuTensor;
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::rng::Rng;

/// Every token picks k distinct experts of `n_exp`, spread unevenly (expert 0 by every token).
fn routing(rng: &mut Rng, t: usize, k: usize, n_exp: usize) -> Vec<u32> {
    let mut sel = Vec::with_capacity(t * k);
    for _ in 0..t {
        let mut row = vec![0u32];
        while row.len() < k {
            let e = rng.below(n_exp) as u32;
            if !row.contains(&e) {
                row.push(e);
            }
        }
        sel.extend(row);
    }
    sel
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert_close(what, got, want, |_, _| 2e-5 * scale + 1e-6);
}

#[test]
fn tiled_experts_compute_what_the_per_pair_kernels_do() {
    let mut rng = Rng::new(91);
    let (n_exp, rpe, t, k) = (5, 70, 70, 3);
    let types = [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::F16];
    for ty in types {
        let cols = 2 * ty.block_size().max(32) + if ty.block_size() == 256 { 256 } else { 32 };
        let w = stacked_experts(ctx(), &mut rng, ty, n_exp, rpe, cols, 2);
        let selected = ids(t, k, &routing(&mut rng, t, k, n_exp));
        let order = zeros(1, kernels::moe_order_len(t * k));
        for x_rows in [t, t * k] {
            let x = tensor(x_rows, cols, &random(&mut rng, x_rows * cols, 1.0));
            let (want, got) = (zeros(t * k, rpe), zeros(t * k, rpe));
            let want = run(&want, |ops| kernels::moe_matvec(ops, &w, rpe, &selected, &x, &want).unwrap());
            let got = run(&got, |ops| {
                kernels::moe_sort(ops, &selected, n_exp, &order).unwrap();
                kernels::moe_matmul(ops, &w, rpe, &selected, &order, &x, &got).unwrap();
            });
            close(&format!("moe_matmul {ty}, x of {x_rows} rows"), &got, &want);
        }

        let up = stacked_experts(ctx(), &mut rng, ty, n_exp, rpe, cols, 2);
        let limit = (4 * rpe) as u64 * ty.bytes_for(cols as u64).unwrap() + 4; // 2 pairs a buffer
        let (pg, pu) = interleave_experts_within(ctx(), &w, &up, rpe, limit).unwrap().expect("pairable");
        let x = tensor(t, cols, &random(&mut rng, t * cols, 1.0));
        let (want, got) = (zeros(t * k, rpe), zeros(t * k, rpe));
        let want = run(&want, |ops| kernels::moe_gate_up(ops, &pg, &pu, rpe, &selected, &x, &want).unwrap());
        let got = run(&got, |ops| {
            kernels::moe_sort(ops, &selected, n_exp, &order).unwrap();
            kernels::moe_matmul_gate_up(ops, &pg, &pu, rpe, &selected, &order, &x, &got).unwrap();
        });
        close(&format!("moe_matmul_gate_up {ty}"), &got, &want);
    }
}

#[test]
fn the_sorted_order_lists_every_pair_once_by_expert() {
    let mut rng = Rng::new(92);
    let (n_exp, t, k) = (7, 40, 2);
    let sel = routing(&mut rng, t, k, n_exp);
    let order = zeros(1, kernels::moe_order_len(t * k));
    let selected = ids(t, k, &sel);
    let mut ops = lfm_webgpu::gpu::Ops::new(ctx());
    kernels::moe_sort(&mut ops, &selected, n_exp, &order).unwrap();
    ops.submit();
    let got = order.read_u32_blocking(ctx()).unwrap();
    let pairs = &got[128..];
    let mut next = 0;
    for e in 0..n_exp {
        let want: Vec<u32> = (0..t * k).filter(|&i| sel[i] as usize == e).map(|i| i as u32).collect();
        assert_eq!((got[2 * e], got[2 * e + 1]), (next, want.len() as u32), "expert {e}'s first and count");
        assert_eq!(&pairs[next as usize..next as usize + want.len()], &want[..], "expert {e}'s pairs, in slot order");
        next += want.len() as u32;
    }
    assert_eq!(next as usize, t * k);
    // Refusals: too many experts, a short order.
    let mut ops = lfm_webgpu::gpu::Ops::new(ctx());
    assert!(kernels::moe_sort(&mut ops, &selected, 65, &order).is_err());
    let short: GpuTensor = zeros(1, kernels::moe_order_len(t * k) - 1);
    assert!(kernels::moe_sort(&mut ops, &selected, n_exp, &short).is_err());
    assert_eq!(ops.dispatch_count(), 0);
}
