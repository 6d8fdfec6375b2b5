// sin and cos of an f32 angle of any size up to ~4e5 rad, to about 1 ulp.
//
// Why not WGSL's sin/cos: RoPE angles reach 1e5 rad at long contexts, and WGSL only bounds
// the builtins' error inside [-pi, pi] (2^-11 absolute), and GPUs differ in their argument
// reduction. The reference takes sin/cos of the same f32 angle with an accurate libm, so we
// reduce exactly ourselves: k = round(a * 2/pi), r = a - k * pi/2 with pi/2 split in parts of
// at most 6 significant bits (Cody-Waite), so every k * part is exact for |k| < 2^18 and each
// subtraction is exact until r is small; then minimax polynomials on [-pi/4, pi/4] (the
// classic Cephes sinf/cosf coefficients) and the quadrant k mod 4.

fn sincos(a: f32) -> vec2<f32> {
    let kf = round(a * 0.63661975);
    var r = a - kf * 1.5625;
    r -= kf * 0.008056640625;
    r -= kf * 0.00023651123046875;
    r -= kf * 3.159046173095703e-06;
    r -= kf * 1.5832483768463135e-08;
    r -= kf * 6.002665031701326e-11;
    r -= kf * 7.443547731314504e-13;
    let z = r * r;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    switch (i32(kf) & 3) {
        case 0: { return vec2<f32>(s, c); }
        case 1: { return vec2<f32>(c, -s); }
        case 2: { return vec2<f32>(-s, -c); }
        default: { return vec2<f32>(-c, s); }
    }
}
