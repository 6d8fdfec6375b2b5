//! Attention over a [`KvCache`]: `kv_store` writes new K/V rows, `attention` runs the split-K
//! kernel once per cache block and merges the partials with `attention_combine`.

use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, expect_len, kv_spec, reads_x_uniform, to_u32, WG_SIZE};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuContext, GpuError, GpuTensor, KvCache, Ops};

/// Mirrors `Params` in `shaders/kv_store.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StoreParams {
    row_pairs: u32, // n_kv_heads * head_dim / 2
    src_row0: u32,  // first row of k / v
    dst_row0: u32,  // its block-local position
    n: u32,         // element pairs: rows * row_pairs
}

/// Writes K and V of T new positions `pos0 .. pos0 + T` into the cache (in its precision), one
/// dispatch per block touched.
/// - k, v: (T, n_kv_heads * head_dim)
pub fn kv_store(ops: &mut Ops<'_>, cache: &KvCache, k: &GpuTensor, v: &GpuTensor, pos0: usize) -> Result<(), GpuError> {
    let (t, row_len) = (k.rows, cache.row_len());
    expect_len(k, "kv_store: k", t, row_len)?;
    expect_len(v, "kv_store: v", t, row_len)?;
    cache.check_positions("kv_store", pos0, t)?;
    // Rows are whole pairs: head_dim is a multiple of 4 (`KvCache::new`).
    let row_pairs = row_len / 2;
    for (block, dst_row, rows, src_row) in cache.spans(pos0, t) {
        let n = rows * row_pairs;
        let params = StoreParams {
            row_pairs: row_pairs as u32,
            src_row0: src_row as u32,
            dst_row0: dst_row as u32,
            n: to_u32(n, "kv_store")?,
        };
        let storage = [&k.buffer, &v.buffer, &block.k, &block.v];
        dispatch_elementwise(ops, kv_spec("kv_store", cache), n, bytemuck::bytes_of(&params), &storage)?;
    }
    Ok(())
}

/// Mirrors `Params` in `shaders/attention.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_tokens: u32,
    n_heads: u32,
    group: u32,
    kv_row_len: u32,
    pos0: u32,
    block_start: u32,    // absolute position of the block's row 0
    block_end: u32,      // end of the positions covered in the block
    split: u32,          // positions per split
    n_block_splits: u32, // splits in this dispatch
    split_offset: u32,   // first split's index among a (t, h)'s
    n_splits: u32,       // splits per (t, h) over all blocks
    scale: f32,
    chunk: u32, // query heads per workgroup (<= 4, divides group)
    _pad: [u32; 3],
}

/// Mirrors `Params` in `shaders/attention_combine.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CombineParams {
    n: u32,        // T * n_heads * head_dim
    n_splits: u32, // partials per (t, h)
    _pad: [u32; 2],
}

/// Positions per tile: one per thread of the attention workgroup.
const TILE: usize = WG_SIZE as usize;
/// The most workgroups the splits aim for ([`crate::gpu::Tuning::attention_workgroups`] is at
/// most this), so a decode step (T * n_heads small) fills a GPU; a prefill has T * n_heads
/// workgroups already and gets one split per block. It bounds the partials' scratch.
const MAX_WORKGROUPS: usize = 4096;

/// One block's share of a dispatch plan: positions `start .. end` of `cache.blocks[block]`,
/// cut into `splits` splits whose partials start at index `offset` among a (t, h)'s.
struct BlockSplits {
    block: usize,
    start: usize,
    end: usize,
    splits: usize,
    offset: usize,
}

/// How `attention` cuts positions `0 .. n_ctx` for `th` = T * n_heads (query, head) pairs
/// taken `chunk` heads a workgroup: splits of `split` positions (whole tiles) from each
/// block's start, at most max(1, target / (th / chunk)) of them plus one per block boundary
/// crossed.
struct SplitPlan {
    split: usize,
    blocks: Vec<BlockSplits>,
    n_splits: usize,
}

fn plan(cache: &KvCache, n_ctx: usize, th: usize, chunk: usize, target_workgroups: usize) -> SplitPlan {
    let max_splits = (target_workgroups / (th / chunk)).max(1);
    let split = n_ctx.div_ceil(max_splits).next_multiple_of(TILE);
    let mut blocks = Vec::new();
    let mut n_splits = 0;
    for (block, b) in cache.blocks.iter().enumerate().take_while(|(_, b)| b.first_pos < n_ctx) {
        let (start, end) = (b.first_pos, n_ctx.min(b.first_pos + b.positions));
        let splits = (end - start).div_ceil(split);
        blocks.push(BlockSplits { block, start, end, splits, offset: n_splits });
        n_splits += splits;
    }
    SplitPlan { split, blocks, n_splits }
}

/// Elements of the `scratch` that [`attention`] needs for up to `max_tokens` queries of
/// `n_heads` heads over any context of `cache`: the partials, (T * n_heads * splits, 2 + head_dim).
/// The splits of a (t, h) are at most max(1, target * chunk / (T * n_heads)) for `ctx`'s
/// [`crate::gpu::Tuning::attention_workgroups`] target, plus one per extra block.
pub fn attention_scratch_len(ctx: &GpuContext, cache: &KvCache, max_tokens: usize, n_heads: usize) -> usize {
    let th = max_tokens * n_heads;
    let chunk = heads_per_workgroup(n_heads / cache.n_kv_heads.max(1));
    let target = target_workgroups(ctx, cache, chunk);
    (th.max(target * chunk) + th * (cache.blocks.len() - 1)) * (cache.head_dim + 2)
}

/// The workgroups a decode step's splits aim for: the tuning's target, at most
/// `MAX_WORKGROUPS`, and so few that their partials take at most half a binding (a GPU's 2048
/// over a mobile-sized binding limit would not fit; the other half is for the per-block
/// extras of a prefill).
fn target_workgroups(ctx: &GpuContext, cache: &KvCache, chunk: usize) -> usize {
    let partial_bytes = 4 * (cache.head_dim as u64 + 2) * chunk as u64;
    let fitting = (ctx.max_binding_bytes() / 2 / partial_bytes).max(1) as usize;
    ctx.tuning.attention_workgroups.min(MAX_WORKGROUPS).min(fitting)
}

/// The query heads of a kv head that go through a workgroup together: up to 4 (vec4 lanes),
/// dividing `group`, the query heads per kv head.
fn heads_per_workgroup(group: usize) -> usize {
    (1..=4).rev().find(|c| group.is_multiple_of(*c)).unwrap_or(1)
}

/// Causal GQA attention of T queries at positions `pos0 ..` over a cache already holding
/// positions `0 .. pos0 + T` (store them first with [`kv_store`]): query head h reads kv head
/// h / (n_heads / n_kv_heads), scores are scaled by 1/sqrt(head_dim), softmax is online in f32.
/// Records one split-K dispatch per cache block, then `attention_combine`.
/// - q: (T, n_heads * head_dim), QK-normed and roped
/// - scratch: at least [`attention_scratch_len`] elements (f32 partials)
/// - out: (T, n_heads * head_dim)
pub fn attention(
    ops: &mut Ops<'_>,
    q: &GpuTensor,
    cache: &KvCache,
    pos0: usize,
    scratch: &GpuTensor,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, hd) = (q.rows, cache.head_dim);
    let n_heads = q.cols / hd;
    if n_heads == 0 || q.cols != n_heads * hd || !n_heads.is_multiple_of(cache.n_kv_heads) {
        return Err(GpuError::Shape(format!(
            "attention: q rows of {} for heads of {hd} and {} kv heads",
            q.cols, cache.n_kv_heads
        )));
    }
    expect_len(out, "attention: out", t, n_heads * hd)?;
    cache.check_positions("attention", pos0, t)?;
    let n_ctx = pos0 + t;
    let group = n_heads / cache.n_kv_heads;
    let chunk = heads_per_workgroup(group);
    let plan = plan(cache, n_ctx, t * n_heads, chunk, target_workgroups(ops.ctx(), cache, chunk));
    let need = t * n_heads * plan.n_splits * (hd + 2);
    if scratch.len() < need {
        return Err(GpuError::Shape(format!("attention: scratch of {} elements, needs {need}", scratch.len())));
    }
    let tuning = &ops.ctx().tuning;
    let v_pairs = v_pairs(tuning.attention_v_pairs as usize, hd)?;
    // Thread groups taking turns over a tile's V rows: as many as the workgroup holds,
    // rounded down to a power of two so that they divide the tile.
    let row_groups = if tuning.attention_spread_rows { 1 << (TILE / (hd / 2 / v_pairs)).ilog2() } else { 1 };
    let constants = [
        ("wg_size", WG_SIZE as f64),
        ("head_dim", hd as f64),
        ("v_pairs", v_pairs as f64),
        ("row_groups", row_groups as f64),
    ];
    // q read through the uniform window where the adapter wants it and it fits (decode).
    let spec = kv_spec("attention", cache).with_uniform_x(reads_x_uniform(ops, q));
    for b in &plan.blocks {
        let params = Params {
            n_tokens: to_u32(t, "attention")?,
            n_heads: n_heads as u32,
            group: group as u32,
            kv_row_len: to_u32(cache.row_len(), "attention")?,
            pos0: to_u32(pos0, "attention")?,
            block_start: to_u32(b.start, "attention")?,
            block_end: to_u32(b.end, "attention")?,
            split: to_u32(plan.split, "attention")?,
            n_block_splits: b.splits as u32,
            split_offset: b.offset as u32,
            n_splits: plan.n_splits as u32,
            scale: 1.0 / (hd as f32).sqrt(),
            chunk: chunk as u32,
            _pad: [0; 3],
        };
        let workgroups = ops.grid(to_u32(t * n_heads / chunk * b.splits, "attention workgroups")?, 1);
        let block = &cache.blocks[b.block];
        ops.dispatch(Dispatch {
            spec,
            constants: &constants,
            params: bytemuck::bytes_of(&params),
            storage: &[&block.k, &q.buffer, &block.v, &scratch.buffer],
            weights: None,
            x_norm: None,
            workgroups,
        })?;
    }
    attention_combine(ops, scratch, t * n_heads * hd, plan.n_splits, hd, out)
}

/// Most output pairs one attention thread holds (`MAX_V_PAIRS` in shaders/attention.wgsl).
const MAX_V_PAIRS: usize = 8;

/// Output dimension pairs per attention thread: `wanted` (the tuning's), halved until it
/// divides the head's pairs, and raised (doubling) until the workgroup's threads cover them.
fn v_pairs(wanted: usize, head_dim: usize) -> Result<usize, GpuError> {
    let pairs = head_dim / 2;
    let mut v = wanted.clamp(1, MAX_V_PAIRS).next_power_of_two();
    while v > 1 && !pairs.is_multiple_of(v) {
        v /= 2;
    }
    while pairs / v > TILE && v < MAX_V_PAIRS && pairs.is_multiple_of(2 * v) {
        v *= 2;
    }
    if pairs / v > TILE || !pairs.is_multiple_of(v) {
        return Err(GpuError::Shape(format!("attention: heads of {head_dim} (at most {})", 2 * MAX_V_PAIRS * TILE)));
    }
    Ok(v)
}

/// Merges the partials (T * n_heads * n_splits, 2 + head_dim) into out (T, n_heads * head_dim).
fn attention_combine(
    ops: &mut Ops<'_>,
    partials: &GpuTensor,
    n: usize,
    n_splits: usize,
    head_dim: usize,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    let params = CombineParams { n: to_u32(n, "attention_combine")?, n_splits: n_splits as u32, _pad: [0; 2] };
    let groups = to_u32(n.div_ceil(WG_SIZE as usize), "attention_combine")?;
    let workgroups = ops.grid(groups, 1);
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("attention_combine"),
        constants: &[("wg_size", WG_SIZE as f64), ("head_dim", head_dim as f64)],
        params: bytemuck::bytes_of(&params),
        storage: &[&partials.buffer, &out.buffer],
        weights: None,
        x_norm: None,
        workgroups,
    })
}
