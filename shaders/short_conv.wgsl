// The short convolution of a conv block, after in_proj: per channel c and position t,
//   z_t = B_t * x_t,   y_t = sum_{j < L} kernel[c, j] * z_{t-(L-1)+j},   out_t = C_t * y_t,
// where z before the first new position comes from `state` (the last L-1 values of z of the
// previous call, oldest first), which is then replaced by the last L-1 values of the history
// state ++ z (when T < L-1 it keeps L-1-T of its own old values, shifted towards the front).
//
// One thread per (channel, chunk of `chunk` positions). Only positions t < L-1 read the old
// state, and they all lie in chunk 0 (the host makes chunk >= L-1), so the chunk-0 thread of a
// channel is the only one reading that channel's state and can overwrite it afterwards.

struct Params {
    hidden: u32,      // H: channels
    n_tokens: u32,    // T
    chunk: u32,       // positions per thread, >= L - 1
    n_chan_groups: u32, // ceil(H / wg_size)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bcx: array<f32>;          // (T, 3H): B | C | x
@group(0) @binding(2) var<storage, read> kernel: array<f32>;       // (H, L), tap L-1 on the current token
@group(0) @binding(3) var<storage, read_write> state: array<f32>;  // (L-1, H), oldest first
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // (T, H)

override wg_size: u32 = 64u; // at most 256
override taps: u32 = 3u;     // L, at least 2

// z at position s of the history state ++ z, counted from the first new position
// (s < 0 reads the old state).
fn z_at(s: i32, c: u32) -> f32 {
    let h = params.hidden;
    if (s < 0) {
        return state[u32(i32(taps) - 1 + s) * h + c];
    }
    let row = u32(s) * 3u * h;
    return bcx[row + c] * bcx[row + 2u * h + c];
}

@compute @workgroup_size(wg_size)
fn short_conv(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let g = wid.x + wid.y * nwg.x; // workgroups folded into y past 65535
    let c = (g % params.n_chan_groups) * wg_size + lid.x;
    let t0 = (g / params.n_chan_groups) * params.chunk;
    let h = params.hidden;
    if (c >= h || t0 >= params.n_tokens) {
        return;
    }
    let t1 = min(t0 + params.chunk, params.n_tokens);
    for (var t = t0; t < t1; t++) {
        var y = 0.0;
        for (var j = 0u; j < taps; j++) {
            y += kernel[c * taps + j] * z_at(i32(t + j) - i32(taps - 1u), c);
        }
        out[t * h + c] = bcx[t * 3u * h + h + c] * y;
    }
    if (t0 == 0u) {
        // New state[i] = history[T + i]; in increasing i this reads old state only at
        // T + i > i, which is not yet overwritten.
        for (var i = 0u; i < taps - 1u; i++) {
            state[i * h + c] = z_at(i32(params.n_tokens + i) - i32(taps - 1u), c);
        }
    }
}
