//! `self_test()`'s measure of a GPU result against the reference: its worst element.

/// The worst element of a GPU result against the reference.
pub(super) struct Comparison {
    /// `|gpu - ref| / (1 + |ref|)` at `index` (infinite for a length mismatch or a NaN).
    pub max_err: f32,
    pub index: usize,
    pub gpu: f32,
    pub reference: f32,
}

impl Comparison {
    pub fn of(gpu: &[f32], want: &[f32]) -> Comparison {
        let mut worst = Comparison { max_err: 0.0, index: 0, gpu: 0.0, reference: 0.0 };
        if gpu.len() != want.len() {
            worst.max_err = f32::INFINITY;
            return worst;
        }
        for (i, (&g, &r)) in gpu.iter().zip(want).enumerate() {
            let err = (g - r).abs() / (1.0 + r.abs());
            if err.is_nan() {
                return Comparison { max_err: f32::INFINITY, index: i, gpu: g, reference: r };
            }
            if err > worst.max_err {
                worst = Comparison { max_err: err, index: i, gpu: g, reference: r };
            }
        }
        worst
    }
}
