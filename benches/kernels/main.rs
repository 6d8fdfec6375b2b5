//! Kernel benchmark: the quantized matrix kernels alone, on the adapter wgpu picks, against
//! that adapter's copy bandwidth measured in the same run. Decode speed is bounded by how fast
//! `matvec` streams weights, prefill by how fast `matmul` turns them into products, so these
//! two numbers guide the kernel work (`lfm bench` measures whole models).
//!
//! `cargo bench --bench kernels [-- TYPE ...]` (default: q4_0 q4_k q6_k q8_0). Set
//! `LFM_SHADER_DIR=shaders` to try shader edits without rebuilding. On a big GPU set
//! `LFM_BENCH_ROWS` (matrix rows, default 4096), `LFM_BENCH_COLS` (default 2048) and `LFM_BENCH_MIB` (bytes of copies, default
//! 128) higher, so that the weights outgrow its cache and each dispatch has work enough.
//!
//! First the floor: the time of one near-empty dependent launch (a chain of small adds).
//! Then, each type: a (4096 x 2048) matrix quantized from seeded random values, uploaded as
//! enough copies to exceed any cache (~128 MiB), then one submission of a matvec per copy
//! (decode: bytes/s read as a fraction of copy bandwidth), then one of a 64-token `matmul`
//! and one of a 64-token `batch_matvec` per copy (prefill: multiply-adds/s, and the speed-up
//! per token over the matvec).
//!
//! `LFM_BENCH_MATVEC_ONLY=1` skips the prefill kernels. Where the adapter has timestamp
//! queries, each matvec figure is followed by the kernels' GPU time alone.
//!
//! `LFM_BENCH_AB="scale_chunks=0 ..."` instead compares the matvec of each type under the
//! adapter's tuning (A) and under that `LFM_TUNING` setting (B, a second context): 8 rounds
//! alternating A and B in one process, medians printed: how this machine, whose timings drift
//! by a third between runs, tells a 5 % change. `LFM_BENCH_AB_SHADERS=<dir>` (with or
//! without `LFM_BENCH_AB`) builds B's pipelines from that `LFM_SHADER_DIR` instead: a shader
//! edit against the built-in shaders, interleaved the same way. `LFM_BENCH_AB_BATCH=<tokens>`
//! times `batch_matvec` of that many vectors (at least 2; not a number: 64) instead, and
//! `LFM_BENCH_AB_MOE=<tokens>` a prefill step's routed experts (`moe_group` +
//! `moe_batch_matvec`, top-4 of 32; `LFM_BENCH_AB_GATE_UP=1`: gate and up paired), see `ab.rs`.
//!
//! Without `--bench` (`cargo test --all-targets` runs bench targets that way) it only checks,
//! on small matrices, that every measurement runs and yields a finite rate.

mod ab;

use std::sync::Arc;

use lfm_webgpu::gpu::{bench, kernels, profile, GpuContext, GpuMatrix, GpuTensor, Ops, TextureCopies};
use lfm_webgpu::model::{HostTensor, SharedBytes};
use lfm_webgpu::quant::{self, GgmlType};
use lfm_webgpu::rng::Rng;
use web_time::Instant;

const PREFILL_TOKENS: usize = 64;

/// Matrix shape and the bytes of copies uploaded.
#[derive(Clone, Copy)]
struct Size {
    rows: usize,
    cols: usize,
    total_bytes: usize,
}

const FULL: Size = Size { rows: 4096, cols: 2048, total_bytes: 128 << 20 };
const SMOKE: Size = Size { rows: 40, cols: 512, total_bytes: 1 };

fn main() {
    let mut size = if std::env::args().any(|a| a == "--bench") { FULL } else { SMOKE };
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    if let Some(rows) = env("LFM_BENCH_ROWS") {
        size.rows = rows.max(1);
    }
    if let Some(cols) = env("LFM_BENCH_COLS") {
        size.cols = cols.max(256) / 256 * 256;
    }
    if let Some(mib) = env("LFM_BENCH_MIB") {
        size.total_bytes = mib.max(1) << 20;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let names = if args.is_empty() { vec!["q4_0".into(), "q4_k".into(), "q6_k".into(), "q8_0".into()] } else { args };
    let ctx = GpuContext::new_blocking().expect("a GPU adapter");
    println!("adapter: {} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend);
    let b_shaders = std::env::var_os("LFM_BENCH_AB_SHADERS");
    if std::env::var("LFM_BENCH_AB").is_ok() || b_shaders.is_some() {
        let b_tuning = std::env::var("LFM_BENCH_AB").unwrap_or_default();
        // SAFETY: single-threaded here; the variable is read only while making context B.
        unsafe { std::env::set_var("LFM_TUNING", &b_tuning) };
        let b = GpuContext::new_blocking().expect("a second context");
        unsafe { std::env::remove_var("LFM_TUNING") };
        println!("A: the adapter's tuning; B: LFM_TUNING=\"{b_tuning}\", shaders from {b_shaders:?}");
        for ty in types(&names) {
            ab::compare(&ctx, &b, ty, &size, ab::AbKernel::from_env(), b_shaders.as_deref());
        }
        return;
    }
    let copy = pollster::block_on(bench::copy_bandwidth(&ctx, size.total_bytes.max(1 << 20) as u64 * 2, 3))
        .expect("copy bandwidth");
    assert!(copy.is_finite() && copy > 0.0, "copy bandwidth {copy}");
    println!("copy bandwidth: {:.2} GB/s (read + write)", copy / 1e9);
    launch_floor(&ctx);
    for ty in types(&names) {
        run_type(&ctx, ty, copy, &size);
    }
    if !std::env::args().any(|a| a == "--bench") {
        // The smoke run also goes once through the A/B comparison (two contexts, the grouped
        // experts with gate and up paired), so that tool keeps working.
        let b = GpuContext::new_blocking().expect("a second context");
        ab::compare(&ctx, &b, GgmlType::Q4_0, &size, ab::AbKernel::Moe(8, true), None);
    }
}

/// The cost of one launch that does almost nothing: a chain of dependent `add`s over one
/// hidden vector (2048 floats), each waiting for the one before, as the forward pass's
/// kernels do. A decode of N launches a token can be no faster than N times this.
fn launch_floor(ctx: &GpuContext) {
    const CHAIN: usize = 512;
    let x = GpuTensor::zeros(ctx, "x", 1, 2048).unwrap();
    let y = GpuTensor::from_f32(ctx, "y", 1, 2048, &[1.0; 2048]).unwrap();
    let timing = best_time(ctx, &x, |ops| {
        for _ in 0..CHAIN {
            kernels::add(ops, &x, &y).unwrap();
        }
    });
    let us = timing.seconds / CHAIN as f64 * 1e6;
    assert!(us.is_finite() && us > 0.0, "launch floor {us}");
    println!("launch floor: {us:.2} µs per dependent launch ({CHAIN} chained adds of 2048 floats, one submission)");
    timing.print_host();
}

/// The formats named on the command line (exits on an unknown one).
fn types(names: &[String]) -> Vec<GgmlType> {
    let find = |name: &String| {
        lfm_webgpu::gpu::shader::GPU_TYPES.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
    };
    names
        .iter()
        .map(|name| {
            find(name).unwrap_or_else(|| {
                eprintln!("unknown type {name}");
                std::process::exit(2);
            })
        })
        .collect()
}

/// A (rows x cols) matrix of `ty` quantized from `rng`'s values, uploaded to `ctx` as enough
/// copies to make `size.total_bytes`.
fn upload_copies(ctx: &GpuContext, ty: GgmlType, size: &Size, rng: &mut Rng) -> Vec<GpuMatrix> {
    let Size { rows, cols, total_bytes } = *size;
    let bytes = random_matrix(ty, rows, cols, rng);
    let host = HostTensor {
        name: "w".into(),
        ty,
        dims: vec![cols as u64, rows as u64],
        bytes: SharedBytes::new(Arc::new(bytes)),
    };
    let copies = (total_bytes / host.bytes.len()).max(1);
    let mut textures = TextureCopies::default();
    (0..copies)
        .map(|_| {
            let mut m = GpuMatrix::from_host(ctx, &host, 1).expect("upload");
            m.place_as_tuned(ctx, &mut textures).expect("textures"); // as a model keeps them
            m
        })
        .collect()
}

/// The bytes of a (rows x cols) matrix of `ty` quantized from `rng`'s values.
fn random_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let values: Vec<f32> = (0..rows * cols).map(|_| rng.gauss() * 0.05).collect();
    quant::quantize(ty, &values).expect("quantizable")
}

fn run_type(ctx: &GpuContext, ty: GgmlType, copy: f64, size: &Size) {
    let Size { rows, cols, .. } = *size;
    let mut rng = Rng::new(7);
    let mats = upload_copies(ctx, ty, size, &mut rng);
    let copies = mats.len();
    let matrix_bytes = ty.bytes_for((rows * cols) as u64).expect("whole blocks");
    let weight_bytes: u64 = mats.iter().map(GpuMatrix::bytes).sum();

    let xs: Vec<f32> = (0..PREFILL_TOKENS * cols).map(|_| rng.gauss()).collect();
    let x1 = GpuTensor::from_f32(ctx, "x", 1, cols, &xs[..cols]).unwrap();
    let y1 = GpuTensor::zeros(ctx, "y", 1, rows).unwrap();
    let decode_timing = best_time(ctx, &y1, |ops| {
        for m in &mats {
            kernels::matvec(ops, m, &x1, &y1).unwrap();
        }
    });
    let decode = decode_timing.seconds;
    let bps = weight_bytes as f64 / decode;
    assert!(bps.is_finite() && bps > 0.0, "{ty} matvec rate {bps}");
    println!(
        "{:>5} matvec: {:7.2} GB/s = {:5.1} % of copy bandwidth ({} x {} MiB)",
        ty.name(),
        bps / 1e9,
        100.0 * bps / copy,
        copies,
        matrix_bytes >> 20
    );
    decode_timing.print_host();
    print_gpu_rate(ctx, weight_bytes, |ops| {
        for m in &mats {
            kernels::matvec(ops, m, &x1, &y1).unwrap();
        }
    });
    if std::env::var_os("LFM_BENCH_MATVEC_ONLY").is_some() {
        return;
    }

    let xt = GpuTensor::from_f32(ctx, "x", PREFILL_TOKENS, cols, &xs).unwrap();
    let yt = GpuTensor::zeros(ctx, "y", PREFILL_TOKENS, rows).unwrap();
    let macs = (copies * rows * cols * PREFILL_TOKENS) as f64;
    type Kernel = fn(&mut Ops<'_>, &GpuMatrix, &GpuTensor, &GpuTensor) -> Result<(), lfm_webgpu::gpu::GpuError>;
    let prefill_kernels: [(&str, Kernel); 2] = [("matmul", kernels::matmul), ("batch_matvec", kernels::batch_matvec)];
    for (name, kernel) in prefill_kernels {
        let timing = best_time(ctx, &yt, |ops| {
            for m in &mats {
                kernel(ops, m, &xt, &yt).unwrap();
            }
        });
        let seconds = timing.seconds;
        assert!((macs / seconds).is_finite(), "{ty} {name} rate");
        println!(
            "{:>5} {name}: {:7.2} GMAC/s, {:.1}x the matvec rate per token ({} tokens)",
            ty.name(),
            macs / seconds / 1e9,
            decode * PREFILL_TOKENS as f64 / seconds,
            PREFILL_TOKENS
        );
        timing.print_host();
    }
}

/// The same work with each dispatch submitted alone between GPU timestamps (where the adapter
/// has them): the kernel's own rate, without the host's recording and the readback that the
/// wall-clock figure includes (which dominate a chain of small launches on a fast GPU).
fn print_gpu_rate(ctx: &GpuContext, bytes: u64, record: impl Fn(&mut Ops<'_>)) {
    let mut best = f64::INFINITY;
    let mut calls = 0;
    for _ in 0..3 {
        profile::start();
        let mut ops = Ops::new(ctx);
        record(&mut ops);
        ops.submit();
        let times = profile::stop();
        calls = times.iter().map(|(_, t)| t.gpu_calls).sum::<u64>();
        if calls > 0 {
            best = best.min(times.iter().map(|(_, t)| t.gpu_seconds).sum::<f64>());
        }
    }
    if calls > 0 {
        assert!(best.is_finite() && best > 0.0, "GPU time {best}");
        println!(
            "       (GPU timestamps: {:.2} GB/s, {:.2} µs per launch alone)",
            bytes as f64 / best / 1e9,
            best / calls as f64 * 1e6
        );
    }
}

/// A measured submission: wall seconds from the start of recording to the readback, and the
/// host's share of it per dispatch (recording; `submit`, where wgpu encodes the commands).
#[derive(Clone, Copy)]
struct Timing {
    seconds: f64,
    record_us: f64,
    submit_us: f64,
}

/// The fastest of several submissions of `record` (after warm-ups: at least a quarter second
/// of work, so a GPU's clocks have risen), each waited for by reading `out` back.
fn best_time(ctx: &GpuContext, out: &GpuTensor, record: impl Fn(&mut Ops<'_>)) -> Timing {
    let warm = Instant::now();
    let mut best = Timing { seconds: f64::INFINITY, record_us: 0.0, submit_us: 0.0 };
    for i in 0.. {
        let start = Instant::now();
        let mut ops = Ops::new(ctx);
        record(&mut ops);
        let n = ops.dispatch_count().max(1) as f64;
        let recorded = start.elapsed().as_secs_f64();
        ops.submit();
        let submitted = start.elapsed().as_secs_f64();
        out.read_f32_blocking(ctx).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        if i > 0 && seconds < best.seconds {
            best = Timing { seconds, record_us: recorded / n * 1e6, submit_us: (submitted - recorded) / n * 1e6 };
        }
        if i >= 3 && warm.elapsed().as_secs_f64() > 0.25 {
            break;
        }
    }
    best
}

impl Timing {
    fn print_host(&self) {
        println!(
            "       (host: {:.1} µs recording + {:.1} µs submitting per dispatch)",
            self.record_us, self.submit_us
        );
    }
}
