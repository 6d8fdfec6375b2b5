// Draws a token from one row of n logits with temperature, top-k, top-p and min-p, given a
// uniform random number u in [0, 1) from the host: the canonical sampler of src/sampling.rs
// (`sample_with`), step for step and in the same summation order, so both pick the same token
// (their exp may differ by an ulp, which matters only at exact boundaries).
//
// One workgroup of wg_size = CHUNKS = 256 threads; thread c owns the contiguous chunk c of
// ceil(n / 256) token ids. With s_i = logit_i * inv_temp, key() ordering f32 values as u32,
// m = max s and e_i = exp(s_i - m):
//   1. top-k: tau = the largest key K with count(key_i >= K) >= top_k (the k-th largest value),
//      found by bisection on K; else tau = 0 (every token).
//   2. top-p: tau = the largest key K >= tau with mass(K) >= top_p * mass(tau), where mass(K)
//      sums e_i over key_i >= K: each chunk in id order, then a tree over the 256 chunk sums.
//   3. min-p: tau = max(tau, key(m + ln(min_p))). Then tau = min(tau, key(m)).
//   Kept: key_i >= tau, so values tied at a threshold are all kept.
//   4. S_c = kept e_i of chunk c summed in id order; W = S_0 + S_1 + ...; goal = u * W; the
//      first chunk whose running sum passes goal (else the last with S_c > 0), then in it
//      the first kept token whose running sum passes goal (else its last kept e_i > 0).
// Candidates: each bisection step of 1 and 2 is a pass over the row (about 32 steps; on an
// H200 1.1 ms a token over 128,000 logits). With top_k <= 256 the k-th largest of the 256
// chunk maxima is a lower bound L of the k-th largest key (the maxima are keys of the row),
// so every key that 1 and 2 look at is >= L: when at most CAP keys are >= L (typically a
// few hundred), they are copied once, each chunk's in id order, into workgroup memory and
// the bisections read them there. Counts and per-chunk sums over them equal those over the
// row for every threshold >= L, so tau and the sums are the same; otherwise the row is read.

struct Params {
    n: u32,          // elements in the row (V)
    offset: u32,     // element offset of the row in `logits`
    out_index: u32,  // element of `out` that receives the token id
    top_k: u32,      // keep the top_k largest values; 0: off
    inv_temp: f32,   // 1 / temperature
    top_p: f32,      // nucleus mass, when use_top_p != 0
    log_min_p: f32,  // ln(min_p), when use_min_p != 0
    u: f32,          // uniform random number in [0, 1)
    use_top_p: u32,
    use_min_p: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;    // (rows, n): the row at `offset`
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // token ids

override wg_size: u32 = 256u; // the chunk count: 256 (CHUNKS in sampling.rs)

var<workgroup> red_u: array<u32, wg_size>;
var<workgroup> red_f: array<f32, wg_size>;

const CAP: u32 = 2048u; // candidate keys held in workgroup memory (8 KiB)
var<workgroup> cand: array<u32, CAP>;
var<workgroup> lower: u32; // L, from the thread whose chunk maximum ranks k-th; else 0
var<workgroup> cand_held: u32; // 1: the candidates are in `cand`

// The keys a thread's bisection steps read: its chunk of the row, or its chunk's candidates
// (`cand[off .. off + count]`, in id order) when they are held.
struct Keys {
    held: bool,
    lo: u32,    // the chunk, when not held
    hi: u32,
    off: u32,   // the candidates, when held
    count: u32,
}

// f32 -> u32 preserving order (negative values below positive ones, -0 just below +0).
fn order_key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    return select(b | 0x80000000u, ~b, (b >> 31u) != 0u);
}

fn key_value(k: u32) -> f32 {
    return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) != 0u));
}

fn scaled(i: u32) -> f32 {
    return logits[params.offset + i] * params.inv_temp;
}

// The midpoint of a bisection step on [a, b] (a < b) rounded up, without overflow.
fn mid_up(a: u32, b: u32) -> u32 {
    return a + (b - a) / 2u + ((b - a) & 1u);
}

// Reductions over the workgroup: every thread calls them in uniform control flow with its
// value and gets the uniform result. The first barrier lets the previous result be read.
fn reduce_max(t: u32, v: u32) -> u32 {
    workgroupBarrier();
    red_u[t] = v;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red_u[t] = max(red_u[t], red_u[t + s]);
        }
        workgroupBarrier();
    }
    return workgroupUniformLoad(&red_u[0]);
}

fn reduce_count(t: u32, v: u32) -> u32 {
    workgroupBarrier();
    red_u[t] = v;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red_u[t] += red_u[t + s];
        }
        workgroupBarrier();
    }
    return workgroupUniformLoad(&red_u[0]);
}

// The canonical tree: partial[c] += partial[c + s] for s = 128, 64, ..., 1.
fn reduce_sum(t: u32, v: f32) -> f32 {
    workgroupBarrier();
    red_f[t] = v;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red_f[t] += red_f[t + s];
        }
        workgroupBarrier();
    }
    return workgroupUniformLoad(&red_f[0]);
}

// The exclusive prefix sum of the threads' `v` (Hillis-Steele in workgroup memory), and the
// uniform total in `red_u[wg_size - 1]` after it.
fn scan_exclusive(t: u32, v: u32) -> u32 {
    workgroupBarrier();
    red_u[t] = v;
    workgroupBarrier();
    for (var s = 1u; s < wg_size; s <<= 1u) {
        let add = select(0u, red_u[max(t, s) - s], t >= s);
        workgroupBarrier();
        red_u[t] += add;
        workgroupBarrier();
    }
    return red_u[t] - v;
}

// Key i of a thread's keys (i < its count).
fn key_at(keys: Keys, i: u32) -> u32 {
    if (keys.held) {
        return cand[keys.off + i];
    }
    return order_key(scaled(keys.lo + i));
}

fn key_count(keys: Keys) -> u32 {
    return select(keys.hi - keys.lo, keys.count, keys.held);
}

// Tokens with key >= k, over the workgroup.
fn count_from(t: u32, keys: Keys, k: u32) -> u32 {
    var c = 0u;
    for (var i = 0u; i < key_count(keys); i++) {
        c += u32(key_at(keys, i) >= k);
    }
    return reduce_count(t, c);
}

// mass(k): e_i of the tokens with key >= k, over the workgroup (each chunk in id order).
fn mass_from(t: u32, keys: Keys, k: u32, m: f32) -> f32 {
    var acc = 0.0;
    for (var i = 0u; i < key_count(keys); i++) {
        let key = key_at(keys, i);
        if (key >= k) {
            acc += exp(key_value(key) - m);
        }
    }
    return reduce_sum(t, acc);
}

// Sets `lower` to L and copies this chunk's keys >= L to `cand` (returning its offset and
// count there) when top_k <= wg_size; `cand_held` = 1 when they all fit (at most CAP), else the
// bisections read the row (from L when it is set). `mk`: the chunk's largest key (0 for an
// empty chunk: still a valid bound).
fn hold_candidates(t: u32, lo: u32, hi: u32, mk: u32) -> vec2<u32> {
    workgroupBarrier(); // red_u's last result has been read
    if (t == 0u) {
        lower = 0u;
        cand_held = 0u;
    }
    if (params.top_k == 0u || params.top_k > wg_size) {
        return vec2<u32>(0u);
    }
    red_u[t] = mk;
    workgroupBarrier();
    // This chunk's rank among the maxima: those larger, or equal in an earlier chunk.
    var rank = 0u;
    for (var j = 0u; j < wg_size; j++) {
        let o = red_u[j];
        rank += select(0u, 1u, o > mk || (o == mk && j < t));
    }
    if (rank == params.top_k - 1u) {
        lower = mk;
    }
    let l = workgroupUniformLoad(&lower);
    var c = 0u;
    for (var i = lo; i < hi; i++) {
        c += u32(order_key(scaled(i)) >= l);
    }
    let off = scan_exclusive(t, c);
    let total = workgroupUniformLoad(&red_u[wg_size - 1u]);
    if (total > CAP) {
        return vec2<u32>(0u);
    }
    var w = off;
    for (var i = lo; i < hi; i++) {
        let k = order_key(scaled(i));
        if (k >= l) {
            cand[w] = k;
            w += 1u;
        }
    }
    if (t == 0u) {
        cand_held = 1u;
    }
    return vec2<u32>(off, c);
}

@compute @workgroup_size(wg_size)
fn sample(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let chunk = (params.n + wg_size - 1u) / wg_size;
    let lo = min(t * chunk, params.n);
    let hi = min(lo + chunk, params.n);

    var mk = 0u;
    for (var i = lo; i < hi; i++) {
        mk = max(mk, order_key(scaled(i)));
    }
    let max_key = reduce_max(t, mk);
    let m = key_value(max_key);
    let mine = hold_candidates(t, lo, hi, mk);
    // Uniform loads (each also a barrier, after which `cand` is complete).
    let keys = Keys(workgroupUniformLoad(&cand_held) != 0u, lo, hi, mine.x, mine.y);
    let start = workgroupUniformLoad(&lower);

    // 1. top-k
    var tau = 0u;
    if (params.top_k > 0u) {
        var a = start;
        var b = max_key;
        while (a < b) {
            let mid = mid_up(a, b);
            if (count_from(t, keys, mid) >= params.top_k) {
                a = mid;
            } else {
                b = mid - 1u;
            }
        }
        tau = a;
    }
    // 2. top-p, within what top-k kept
    if (params.use_top_p != 0u) {
        let need = params.top_p * mass_from(t, keys, tau, m);
        var a = tau;
        var b = max_key;
        while (a < b) {
            let mid = mid_up(a, b);
            if (mass_from(t, keys, mid, m) >= need) {
                a = mid;
            } else {
                b = mid - 1u;
            }
        }
        tau = a;
    }
    // 3. min-p; the best token is always kept
    if (params.use_min_p != 0u) {
        tau = max(tau, order_key(m + params.log_min_p));
    }
    tau = min(tau, max_key);

    // 4. draw
    var acc = 0.0;
    for (var i = lo; i < hi; i++) {
        let s = scaled(i);
        if (order_key(s) >= tau) {
            acc += exp(s - m);
        }
    }
    workgroupBarrier();
    red_f[t] = acc;
    workgroupBarrier();
    if (t != 0u) {
        return;
    }
    var total = 0.0;
    for (var c = 0u; c < wg_size; c++) {
        total += red_f[c];
    }
    let goal = params.u * total;
    var pick_chunk = wg_size;
    var prefix = 0.0;
    var last_chunk = 0u;
    var last_prefix = 0.0;
    var run = 0.0;
    for (var c = 0u; c < wg_size; c++) {
        if (red_f[c] > 0.0) {
            last_chunk = c;
            last_prefix = run;
        }
        let next = run + red_f[c];
        if (next > goal) {
            pick_chunk = c;
            prefix = run;
            break;
        }
        run = next;
    }
    if (pick_chunk == wg_size) {
        pick_chunk = last_chunk;
        prefix = last_prefix;
    }
    let clo = min(pick_chunk * chunk, params.n);
    let chi = min(clo + chunk, params.n);
    var cum = prefix;
    var pick = clo;
    for (var i = clo; i < chi; i++) {
        let s = scaled(i);
        if (order_key(s) >= tau) {
            let e = exp(s - m);
            if (e > 0.0) {
                pick = i;
            }
            cum += e;
            if (cum > goal) {
                break;
            }
        }
    }
    out[params.out_index] = pick;
}
