// The repetition penalty on one row of logits: each recently generated token's logit is
// divided by the penalty when positive and multiplied by it when negative (so it always
// becomes less likely). The host passes each token once.

struct Params {
    n_tokens: u32, // entries of `tokens` to apply
    offset: u32,   // first logit of the row
    penalty: f32,  // > 0; 1 leaves the logits unchanged
    vocab: u32,    // logits per row: ids at or past it are ignored
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>; // (T, vocab)
@group(0) @binding(2) var<storage, read> tokens: array<u32>;       // (capacity) distinct ids

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn repetition_penalty(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.n_tokens || tokens[i] >= params.vocab) {
        return;
    }
    let at = params.offset + tokens[i];
    let l = logits[at];
    logits[at] = select(l * params.penalty, l / params.penalty, l > 0.0);
}
