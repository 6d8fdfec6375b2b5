// A decoded token's conv block input: in_proj's matrix-vector product with the short
// convolution in its epilogue, where `matvec` then `short_conv` are two launches. in_proj's
// rows are B (0 .. H), C (H .. 2H) and x (2H .. 3H); a workgroup takes `channels` channels c
// and computes their B, C and x rows (common/dot_rows.wgsl's loop and sum three times: the
// same sums `matvec` makes), then per channel, as `short_conv` does:
//   z = B * x,   y = sum_{j < L-1} kernel[c, j] * state[j, c] + kernel[c, L-1] * z,   out = C * y,
// and shifts z into the channel's state (oldest first). Each channel's state is read and
// written by its own thread only. The host prepends a quant helper (pipeline
// `conv_in_proj_<type>`).

struct Params {
    cols4: u32,      // elements per row / 4
    hidden: u32,     // H: channels; in_proj has 3H rows
    scale_base: u32, // word offset of in_proj's split f16 scales (repacked types)
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, in_proj, (3H, cols) in GpuMatrix layout, one part (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, (1, cols / 4): storage, uniform on CPU adapters, or normed by the workgroup (common/x_normed.wgsl)
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> kernel: array<f32>;      // (H, L), tap L-1 on the current token
@group(0) @binding(4) var<storage, read_write> state: array<f32>; // (L-1, H), oldest first
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (1, H)

override wg_size: u32 = 64u; // a power of two, at most 256
override taps: u32 = 3u;     // L, at least 2
// Channels a workgroup takes: 8 (24 rows, three sets of 8), or 2 on GPUs (6 rows in one set
// of 8, the x rows twice): 4x the workgroups, where the 8-channel form left an H100's
// multiprocessors short of work (`Tuning::conv_channels`); or 1 (B, C, x and x again: 4 rows,
// the host sets wg_rows), half a thread's chain of the 2-channel form.
override channels: u32 = 8u;

#include "common/dot_rows.wgsl"

@compute @workgroup_size(wg_size)
fn conv_in_proj(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    prepare_x(lid.x, all(wid == vec3<u32>(0u)));
    let h = params.hidden;
    let c0 = (wid.x + wid.y * nwg.x) * channels;
    if (c0 >= h) {
        return; // uniform: depends on the workgroup only
    }
    let units = params.cols4 / (UNIT / 4u);
    let hv = vec4<u32>(h);
    // Channels past the end repeat the last one (in bounds) and are not stored.
    let last = vec4<u32>(h - 1u);
    var sums: vec3<f32>; // B, C and x rows of thread lid's channel c0 + lid (lid < channels)
    if (channels == 1u) {
        let ch = min(vec4<u32>(c0), last);
        let rows = (ch + vec4<u32>(0u, h, 2u * h, 2u * h)) * units;
        // `rows` in both halves: the scale-chunk loop (which dots all 8) reads valid rows too.
        let s = dot_rows(lid.x, rows, rows, 0u, params.cols4);
        sums = vec3<f32>(row_sum(s, 0u), row_sum(s, 1u), row_sum(s, 2u));
    } else if (channels == 2u) {
        // One set of 8 rows: B and C of both channels, then x of both, twice.
        let ch = min(vec4<u32>(c0) + vec4<u32>(0u, 1u, 0u, 1u), last);
        let s = dot_rows(lid.x, (ch + vec4<u32>(0u, 0u, h, h)) * units, (ch + 2u * hv) * units, 0u, params.cols4);
        sums = vec3<f32>(row_sum(s, lid.x), row_sum(s, lid.x + 2u), row_sum(s, lid.x + 4u));
    } else {
        let a = min(vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u), last);
        let b = min(vec4<u32>(c0) + vec4<u32>(4u, 5u, 6u, 7u), last);
        // The three row sets' loads first, then their sums: the loads overlap rather than
        // each set waiting for the last one's workgroup sum.
        let part_b = row_partials(lid.x, a * units, b * units, 0u, params.cols4);
        let part_c = row_partials(lid.x, (a + hv) * units, (b + hv) * units, 0u, params.cols4);
        let part_x = row_partials(lid.x, (a + 2u * hv) * units, (b + 2u * hv) * units, 0u, params.cols4);
        let gate_b = reduce_rows(lid.x, part_b);
        let gate_c = reduce_rows(lid.x, part_c);
        let input = reduce_rows(lid.x, part_x);
        sums = vec3<f32>(row_sum(gate_b, lid.x), row_sum(gate_c, lid.x), row_sum(input, lid.x));
    }
    let c = c0 + lid.x;
    if (lid.x < channels && c < h) {
        let z = sums.x * sums.z;
        var y = 0.0;
        for (var j = 0u; j < taps - 1u; j++) {
            y += kernel[c * taps + j] * state[j * h + c];
        }
        y += kernel[c * taps + taps - 1u] * z;
        out[c] = sums.y * y;
        for (var j = 0u; j + 2u < taps; j++) {
            state[j * h + c] = state[(j + 1u) * h + c];
        }
        state[(taps - 2u) * h + c] = z;
    }
}
