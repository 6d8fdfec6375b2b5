//! Choosing the next token from logits: greedy, or temperature with top-k / top-p / min-p
//! filters, reproducible from a seed. The GPU sampler is checked against this.

use serde::{Deserialize, Serialize};

pub use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches top_p; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one; 0 keeps all.
    pub min_p: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 0 }
    }
}

pub struct Sampler {
    pub params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = Rng::new(params.seed);
        Sampler { params, rng }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        if p.temperature <= 0.0 {
            return argmax(logits);
        }
        // Candidates sorted by logit, best first (ties: lower id first).
        let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l / p.temperature)).collect();
        cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if p.top_k > 0 {
            cand.truncate(p.top_k);
        }
        let max = cand[0].1;
        let mut probs: Vec<f32> = cand.iter().map(|c| (c.1 - max).exp()).collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= sum);
        let mut keep = probs.len();
        if p.min_p > 0.0 {
            keep = probs.iter().take_while(|&&q| q >= p.min_p * probs[0]).count().max(1);
        }
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let n = probs[..keep].iter().take_while(|&&q| {
                let before = acc;
                acc += q;
                before < p.top_p
            });
            keep = n.count().max(1);
        }
        let total: f32 = probs[..keep].iter().sum();
        let mut r = self.rng.next_f32() * total;
        for (c, &q) in cand[..keep].iter().zip(&probs) {
            if r < q {
                return c.0;
            }
            r -= q;
        }
        cand[keep - 1].0
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.5, -1.0, 3.0, 0.0]
    }

    #[test]
    fn greedy_takes_first_max() {
        assert_eq!(Sampler::new(SamplingParams::default()).sample(&logits()), 1);
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let mut s = Sampler::new(SamplingParams { temperature: 5.0, top_k: 1, seed: 9, ..Default::default() });
        for _ in 0..50 {
            assert_eq!(s.sample(&logits()), 1);
        }
    }

    #[test]
    fn filters_restrict_the_support() {
        // top_p 0.5 over {1: e^3, 4: e^3, 2: e^2.5, ...}: tokens 1 and 4 hold ~0.66 together.
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, top_p: 0.5, seed: 3, ..Default::default() });
        let seen: std::collections::BTreeSet<u32> = (0..400).map(|_| s.sample(&logits())).collect();
        assert_eq!(seen, [1, 4].into());
        // min_p 0.5 keeps tokens within e^-0.69 of the best: 1, 4, 2 (e^-0.5).
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, min_p: 0.5, seed: 3, ..Default::default() });
        let seen: std::collections::BTreeSet<u32> = (0..400).map(|_| s.sample(&logits())).collect();
        assert_eq!(seen, [1, 2, 4].into());
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, seed: 11, ..Default::default() });
        let l = [0.0f32, (3.0f32).ln()]; // p = 0.25, 0.75
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&l) == 1).count() as f32 / n as f32;
        assert!((ones - 0.75).abs() < 0.015, "frequency of token 1 was {ones}");
    }

    #[test]
    fn same_seed_same_tokens() {
        let p = SamplingParams { temperature: 0.8, top_k: 4, seed: 42, ..Default::default() };
        let (mut a, mut b) = (Sampler::new(p.clone()), Sampler::new(p));
        let x: Vec<u32> = (0..64).map(|_| a.sample(&logits())).collect();
        let y: Vec<u32> = (0..64).map(|_| b.sample(&logits())).collect();
        assert_eq!(x, y);
    }
}
