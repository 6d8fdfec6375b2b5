//! `LFM_BENCH_AB`: one kernel timed under two contexts (two tunings, or B's shaders from
//! `LFM_BENCH_AB_SHADERS`), rounds alternating which goes first, medians compared.

use lfm_webgpu::gpu::{kernels, pairing, GpuContext, GpuMatrix, GpuTensor, Ops, TextureCopies};
use lfm_webgpu::quant::GgmlType;
use lfm_webgpu::rng::Rng;

use super::{best_time, random_matrix, upload_copies, Size, PREFILL_TOKENS};

/// What `LFM_BENCH_AB` times: the matvec, `LFM_BENCH_AB_BATCH=<tokens>` a batch_matvec of
/// that many vectors, or `LFM_BENCH_AB_MOE=<tokens>` the routed experts of a prefill.
#[derive(Clone, Copy)]
pub enum AbKernel {
    Matvec,
    Batch(usize),
    /// Tokens, and whether gate and up are paired.
    Moe(usize, bool),
}

impl AbKernel {
    pub fn from_env() -> AbKernel {
        let tokens = |name: &str| std::env::var(name).ok().map(|v| v.parse::<usize>().unwrap_or(PREFILL_TOKENS).max(2));
        match (tokens("LFM_BENCH_AB_BATCH"), tokens("LFM_BENCH_AB_MOE")) {
            (_, Some(t)) => AbKernel::Moe(t, std::env::var_os("LFM_BENCH_AB_GATE_UP").is_some()),
            (Some(t), None) => AbKernel::Batch(t),
            (None, None) => AbKernel::Matvec,
        }
    }
}

/// One side of an A/B comparison: the matrices and the vectors, and for the MoE kernel the
/// expert stack's routing.
struct AbCase {
    mats: Vec<GpuMatrix>,
    x: GpuTensor,
    y: GpuTensor,
    moe: Option<MoeRouting>,
}

/// `MOE_K` random distinct experts of `MOE_EXPERTS` for each token, and the work items
/// `moe_group` fills.
struct MoeRouting {
    rows_per_expert: usize,
    selected: GpuTensor,
    items: GpuTensor,
}

pub const MOE_EXPERTS: usize = 32;
const MOE_K: usize = 4;

fn ab_setup(ctx: &GpuContext, ty: GgmlType, size: &Size, kernel: AbKernel) -> AbCase {
    let mut rng = Rng::new(7);
    match kernel {
        AbKernel::Matvec | AbKernel::Batch(_) => {
            let tokens = if let AbKernel::Batch(t) = kernel { t } else { 1 };
            let mats = upload_copies(ctx, ty, size, &mut rng);
            let xs: Vec<f32> = (0..tokens * size.cols).map(|_| rng.gauss()).collect();
            let x = GpuTensor::from_f32(ctx, "x", tokens, size.cols, &xs).unwrap();
            let y = GpuTensor::zeros(ctx, "y", tokens, size.rows).unwrap();
            AbCase { mats, x, y, moe: None }
        }
        AbKernel::Moe(tokens, gate_up) => {
            // The experts of LFM2.5-8B-A1B (1792 rows each), or a few small ones for a smoke run.
            let rpe = size.rows.min(1792);
            let stack = Size { rows: rpe * MOE_EXPERTS, total_bytes: 1, ..*size };
            let stack_of = |rng: &mut Rng| {
                let bytes = random_matrix(ty, stack.rows, stack.cols, rng);
                GpuMatrix::new_grouped(ctx, "experts", ty, stack.rows, stack.cols, &bytes, rpe).expect("upload")
            };
            let gate = stack_of(&mut rng);
            // Gate and up paired, as a model keeps them (moe_batch_gate_up), or one stack.
            let mut mats = if gate_up {
                let up = stack_of(&mut rng);
                let (g, u) = pairing::interleave_experts(ctx, &gate, &up, rpe).unwrap().expect("a pair");
                vec![g, u]
            } else {
                vec![gate]
            };
            let mut textures = TextureCopies::default();
            for m in &mut mats {
                m.place_as_tuned(ctx, &mut textures).expect("textures");
            }
            let mut ids = Vec::new();
            for _ in 0..tokens {
                let mut chosen = Vec::new();
                while chosen.len() < MOE_K {
                    let e = rng.below(MOE_EXPERTS) as u32;
                    if !chosen.contains(&e) {
                        chosen.push(e);
                    }
                }
                ids.extend(chosen);
            }
            let selected = GpuTensor::from_u32(ctx, "selected", tokens, MOE_K, &ids).unwrap();
            let items_rows = kernels::moe_items_rows(tokens * MOE_K, MOE_EXPERTS);
            let items = GpuTensor::zeros(ctx, "items", items_rows, 4).unwrap();
            let xs: Vec<f32> = (0..tokens * size.cols).map(|_| rng.gauss()).collect();
            let x = GpuTensor::from_f32(ctx, "x", tokens, size.cols, &xs).unwrap();
            let y = GpuTensor::zeros(ctx, "y", tokens * MOE_K, rpe).unwrap();
            AbCase { mats, x, y, moe: Some(MoeRouting { rows_per_expert: rpe, selected, items }) }
        }
    }
}

impl AbCase {
    /// Records the kernel: over every copy of the matrix, or once over the expert stack (a
    /// gate and up pair where there are two).
    fn record(&self, ops: &mut Ops<'_>) {
        let (x, y) = (&self.x, &self.y);
        let Some(r) = &self.moe else {
            for m in &self.mats {
                if x.rows > 1 { kernels::batch_matvec(ops, m, x, y) } else { kernels::matvec(ops, m, x, y) }.unwrap();
            }
            return;
        };
        kernels::moe_group(ops, &r.selected, MOE_EXPERTS, &r.items).unwrap();
        let (rpe, sel, items) = (r.rows_per_expert, &r.selected, &r.items);
        match &self.mats[..] {
            [gate, up] => kernels::moe_batch_gate_up(ops, gate, up, rpe, sel, items, x, y),
            [stack] => kernels::moe_batch_matvec(ops, stack, rpe, sel, items, x, y),
            _ => unreachable!("one expert stack or a pair"),
        }
        .unwrap();
    }

    /// Rate units of one recording: weight bytes (matvec) or multiply-adds.
    fn work(&self) -> f64 {
        let macs = |m: &GpuMatrix| (m.rows * m.cols) as f64;
        match &self.moe {
            Some(r) => self.mats.iter().map(|m| (m.cols * r.rows_per_expert * self.y.rows) as f64).sum(), // gate and up: twice
            None if self.x.rows > 1 => self.mats.iter().map(macs).sum::<f64>() * self.x.rows as f64,
            None => self.mats.iter().map(GpuMatrix::bytes).sum::<u64>() as f64,
        }
    }
}

/// `LFM_BENCH_AB`: the matvec (or batch_matvec) rate of `ty` in contexts `a` and `b`, 8 rounds alternating which
/// goes first; medians, and the largest difference of their outputs. B's pipelines are built
/// from `b_shaders` where given (`LFM_SHADER_DIR` is read when a pipeline is built, and each
/// context keeps its pipelines).
pub fn compare(
    a: &GpuContext,
    b: &GpuContext,
    ty: GgmlType,
    size: &Size,
    kernel: AbKernel,
    b_shaders: Option<&std::ffi::OsStr>,
) {
    let sides = [(a, ab_setup(a, ty, size, kernel)), (b, ab_setup(b, ty, size, kernel))];
    for (side, (ctx, case)) in sides.iter().enumerate() {
        // SAFETY: single-threaded here.
        match b_shaders.filter(|_| side == 1) {
            Some(dir) => unsafe { std::env::set_var("LFM_SHADER_DIR", dir) },
            None => unsafe { std::env::remove_var("LFM_SHADER_DIR") },
        }
        let mut ops = Ops::new(ctx); // builds this side's pipelines
        case.record(&mut ops);
        ops.submit();
    }
    unsafe { std::env::remove_var("LFM_SHADER_DIR") };
    let work = sides[0].1.work();
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..8 {
        for side in [round % 2, 1 - round % 2] {
            let (ctx, case) = &sides[side];
            let timing = best_time(ctx, &case.y, |ops| case.record(ops));
            rates[side].push(work / timing.seconds / 1e9);
        }
    }
    let outputs: Vec<Vec<f32>> = sides.iter().map(|(ctx, case)| case.y.read_f32_blocking(ctx).unwrap()).collect();
    let diff = outputs[0].iter().zip(&outputs[1]).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    let median = |r: &mut Vec<f64>| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let (ma, mb) = (median(&mut rates[0]), median(&mut rates[1]));
    // A timing-only shader variant (`LFM_BENCH_AB_SHADERS`) may compute nonsense.
    let diff_ok = diff.is_finite() || b_shaders.is_some();
    assert!(ma.is_finite() && mb.is_finite() && diff_ok, "{ty}: rates {ma} {mb}, difference {diff}");
    let (kernel, unit) = match kernel {
        AbKernel::Matvec => ("matvec".to_string(), "GB/s"),
        AbKernel::Batch(t) => (format!("batch_matvec ({t} tokens)"), "GMAC/s"),
        AbKernel::Moe(t, _) => {
            (format!("moe_group + moe_batch_matvec ({t} tokens, top-{MOE_K} of {MOE_EXPERTS})"), "GMAC/s")
        }
    };
    println!(
        "{:>5} {kernel}: A {ma:.2} {unit}, B {mb:.2} {unit} (B/A {:.3}; outputs differ by at most {diff:e})",
        ty.name(),
        mb / ma
    );
}
