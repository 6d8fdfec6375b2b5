// Causal GQA attention, split-K: one workgroup per (query t, kv head, chunk of up to 4 of the
// query heads that share that kv head, split of positions inside ONE KV cache block buffer)
// writes a partial softmax result (m, l, o) per query head for its positions:
//   m = max score,  l = sum exp(score - m),  o[d] = sum exp(score - m) * V[p, d],
// with score = q . K[p] * scale over positions p < pos0 + t + 1 (causal); `attention_combine`
// merges the partials of all splits. The host dispatches once per cache block, so a split
// never crosses buffers; splits wholly after a query's position write an empty partial.
//
// The heads of a chunk ride in the 4 lanes of vec4s (scores, maxima, sums, outputs), so each
// K and V element is loaded once for all of them (GQA: 4 query heads per kv head in
// LFM2.5-8B-A1B). Inside a split, tiles of wg_size positions (one per thread) are folded in
// with an online softmax: thread i scores position tile + i; the tile max is taken in two
// levels (groups of 8 scores, then the groups' maxima); each thread owns `v_pairs` pairs of
// output dimensions, accumulating the exp-weighted V rows of the tile in registers. The
// threads owning a head's pairs form a row group; with `row_groups` > 1 (GPUs) the groups
// take turns over the tile's rows and their sums are added at the end, so no thread idles
// while V is read (on CPU adapters one group with 4 pairs a thread is faster). K and V
// are read in the cache's precision (common/kv_elements.wgsl: f16 pairs or f32) and become
// f32 as they are read. q is read as `x` (binding 2, common/x_vectors.wgsl): from a uniform
// window on CPU adapters, where every thread reading the same q element is then one load.

#include "common/kv_elements.wgsl"

struct Params {
    n_tokens: u32,     // T: queries, at positions pos0 ..
    n_heads: u32,      // query heads
    group: u32,        // query heads per kv head
    kv_row_len: u32,   // n_kv_heads * head_dim: elements per cached position
    pos0: u32,         // position of query 0
    block_start: u32,  // absolute position of row 0 of this block buffer
    block_end: u32,    // absolute end of the positions this dispatch covers in the block
    split: u32,        // positions per split
    n_block_splits: u32, // splits of this dispatch (from block_start)
    split_offset: u32, // index of this dispatch's first split among all of a (t, h)
    n_splits: u32,     // splits of a (t, h) over all blocks: the partials' row count per (t, h)
    scale: f32,        // 1 / sqrt(head_dim)
    chunk: u32,        // query heads per workgroup (1..4, divides group)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k_block: array<KvQuad>; // (block positions, kv_row_len / 4)
// binding 2: q as `x`, (T, n_heads * head_dim / 4): storage, or uniform on CPU adapters
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> v_block: array<KvPair>; // (block positions, kv_row_len / 2)
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // (T * n_heads * n_splits, 2 + head_dim): m, l, o

override wg_size: u32 = 64u;  // positions per tile; a power of two, 8 to 256
override head_dim: u32 = 64u; // a multiple of 4
override v_pairs: u32 = 1u;   // output dimension pairs per thread, at most MAX_V_PAIRS, dividing head_dim / 2; head_dim <= 2 * v_pairs * wg_size
override row_groups: u32 = 1u; // thread groups splitting a tile's V rows: a power of two, row_groups * head_dim <= 2 * v_pairs * wg_size

const MAX_V_PAIRS: u32 = 8u;
const NEG: f32 = -3.0e38; // stands for -inf: exp(NEG - m) is 0 for any real score m

var<workgroup> scores: array<vec4<f32>, wg_size>;   // the tile's scores (a lane per head), then the threads' sums l
var<workgroup> part_max: array<vec4<f32>, wg_size>; // the maxima of groups of 8 scores (first wg_size / 8 entries)
var<workgroup> weight: array<vec4<f32>, wg_size>;   // exp(score - m) of the tile's positions

@compute @workgroup_size(wg_size)
fn attention(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n_chunks = params.group / params.chunk;
    let g = wid.x + wid.y * nwg.x; // workgroups folded into y past 65535
    if (g >= params.n_tokens * params.n_heads / params.chunk * params.n_block_splits) {
        return; // uniform: depends on the workgroup only
    }
    // Workgroups that read the same K/V (one kv head, one split) are adjacent, so they run
    // together and share caches: g = ((kv_head * n_block_splits + s) * T + t) * n_chunks + c.
    let c = g % n_chunks;
    let t = (g / n_chunks) % params.n_tokens;
    let s = (g / (n_chunks * params.n_tokens)) % params.n_block_splits;
    let kv_head = g / (n_chunks * params.n_tokens * params.n_block_splits);
    // (t, h) of the chunk's heads, lanes past the chunk repeating its last head (not stored).
    let h0 = kv_head * params.group + c * params.chunk;
    let last_h = params.chunk - 1u;
    let th = vec4<u32>(t * params.n_heads + h0) + min(vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_h));
    let kv_col = kv_head * head_dim;
    let start = params.block_start + s * params.split;
    let end = min(min(start + params.split, params.block_end), params.pos0 + t + 1u);
    let base = (th * params.n_splits + params.split_offset + s) * (head_dim + 2u);
    // This thread's output pairs: dimensions 2 (first_pair + j), + 1 for j < v_pairs, summed
    // over the tile rows row_group, row_group + row_groups, ... (threads past the last group
    // only score).
    let row_threads = head_dim / (2u * v_pairs);
    let row_group = lid.x / row_threads;
    let first_pair = (lid.x % row_threads) * v_pairs;
    if (start >= end) {
        // Every position of this split is after the query: empty partials.
        for (var i = 0u; i < params.chunk; i++) {
            if (lid.x == 0u) {
                partials[base[i]] = NEG;
                partials[base[i] + 1u] = 0.0;
            }
            for (var d = lid.x; d < head_dim; d += wg_size) {
                partials[base[i] + 2u + d] = 0.0;
            }
        }
        return;
    }
    let q0 = th * (head_dim / 4u);
    let row4 = params.kv_row_len / 4u;
    let row2 = params.kv_row_len / 2u;
    var m = vec4<f32>(NEG); // running max per head, the same in every thread
    var l = vec4<f32>(0.0); // this thread's share of the running sums
    var acc: array<vec4<f32>, 2u * MAX_V_PAIRS>; // o of this thread's dimensions, a lane per head
    for (var tile = start; tile < end; tile += wg_size) {
        let p = tile + lid.x;
        var score = vec4<f32>(NEG);
        if (p < end) {
            let k0 = (p - params.block_start) * row4 + kv_col / 4u;
            var d0 = vec4<f32>(0.0);
            var d1 = vec4<f32>(0.0);
            var d2 = vec4<f32>(0.0);
            var d3 = vec4<f32>(0.0);
            for (var i = 0u; i < head_dim / 4u; i++) {
                let kv = kv_quad(k_block[k0 + i]);
                d0 += x[q0.x + i] * kv;
                d1 += x[q0.y + i] * kv;
                d2 += x[q0.z + i] * kv;
                d3 += x[q0.w + i] * kv;
            }
            let sums = vec4<f32>(dot(d0, vec4<f32>(1.0)), dot(d1, vec4<f32>(1.0)), dot(d2, vec4<f32>(1.0)), dot(d3, vec4<f32>(1.0)));
            score = sums * params.scale;
        }
        scores[lid.x] = score;
        workgroupBarrier(); // also: every thread is done with the last tile's `weight`
        // The tile max in two levels, so no thread reads all wg_size scores. Past the tile's
        // end scores are NEG and weights 0.
        if (lid.x < wg_size / 8u) {
            var pm = scores[8u * lid.x];
            for (var j = 1u; j < 8u; j++) {
                pm = max(pm, scores[8u * lid.x + j]);
            }
            part_max[lid.x] = pm;
        }
        workgroupBarrier();
        var m_new = m;
        for (var j = 0u; j < wg_size / 8u; j++) {
            m_new = max(m_new, part_max[j]);
        }
        let alpha = exp(m - m_new);
        let e = select(vec4<f32>(0.0), exp(score - m_new), p < end);
        l = l * alpha + e;
        m = m_new;
        weight[lid.x] = e;
        workgroupBarrier();
        let last = min(wg_size, end - tile) - 1u;
        let v0 = (tile - params.block_start) * row2 + kv_col / 2u;
        for (var j = 0u; j < v_pairs; j++) {
            acc[2u * j] *= alpha;
            acc[2u * j + 1u] *= alpha;
        }
        if (row_group < row_groups) {
            // A constant trip count (overrides only), so a GPU's compiler unrolls the loop and
            // keeps several rows' loads in flight rather than waiting on each.
            for (var i = 0u; i < wg_size / row_groups; i++) {
                let r = row_group + i * row_groups;
                // Rows past the tile's end are read at its last row (in bounds, weight 0).
                let wr = weight[r];
                let row = v0 + min(r, last) * row2 + first_pair;
                for (var j = 0u; j < v_pairs; j++) {
                    let pair = kv_pair(v_block[row + j]);
                    acc[2u * j] += wr * pair.x;
                    acc[2u * j + 1u] += wr * pair.y;
                }
            }
        }
    }
    // Group 0 adds the other groups' sums (through `weight` and `part_max`, two vec4 a thread).
    for (var j = 0u; j < select(0u, v_pairs, row_groups > 1u); j++) {
        workgroupBarrier(); // every thread is done with the last V rows' weights
        weight[lid.x] = acc[2u * j];
        part_max[lid.x] = acc[2u * j + 1u];
        workgroupBarrier();
        if (row_group == 0u) {
            for (var other = 1u; other < row_groups; other++) {
                acc[2u * j] += weight[lid.x + other * row_threads];
                acc[2u * j + 1u] += part_max[lid.x + other * row_threads];
            }
        }
    }
    scores[lid.x] = l;
    workgroupBarrier();
    for (var r = wg_size / 2u; r > 0u; r >>= 1u) {
        if (lid.x < r) {
            scores[lid.x] += scores[lid.x + r];
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < params.chunk; i++) {
        if (lid.x == 0u) {
            partials[base[i]] = m[i];
            partials[base[i] + 1u] = scores[0][i];
        }
        if (row_group == 0u) {
            for (var j = 0u; j < v_pairs; j++) {
                let d = 2u * (first_pair + j);
                partials[base[i] + 2u + d] = acc[2u * j][i];
                partials[base[i] + 3u + d] = acc[2u * j + 1u][i];
            }
        }
    }
}
