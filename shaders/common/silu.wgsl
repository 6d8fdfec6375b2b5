// SwiGLU's product silu(g) * u, silu(g) = g / (1 + exp(-g)) as in the reference.

fn silu_mul(g: f32, u: f32) -> f32 {
    return g / (1.0 + exp(-g)) * u;
}
