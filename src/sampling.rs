//! Choosing the next token from logits: greedy, or temperature with top-k / top-p / min-p
//! filters, reproducible from a seed.
//!
//! [`sample_with`] is the canonical sampler: `shaders/sample.wgsl` runs the same steps in the
//! same summation order (256 chunks, see [`CHUNKS`]), so given the same uniform number both
//! pick the same token; they can differ only where exp's last bit decides a boundary. Every
//! filter is a threshold on the temperature-scaled logit, so tokens tied at a threshold are
//! all kept:
//!
//! 1. `s_i = logit_i * (1 / temperature)`, `m = max s`, `e_i = exp(s_i - m)`.
//! 2. top-k: the threshold is the k-th largest `s` (found by bisection on the value).
//! 3. top-p: the largest threshold whose kept mass, within what top-k kept, is at least
//!    `top_p` of that set's mass.
//! 4. min-p: `s_i >= m + ln(min_p)`, i.e. `p_i >= min_p * p_max`. The best token is always kept.
//! 5. With `W` the kept mass, the token is the first kept one, in id order, where the running
//!    sum of `e` passes `u * W`.

use serde::{Deserialize, Serialize};

pub use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens (and any tied with the k-th); 0 keeps all, 1 is greedy.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches top_p; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of the last `penalty_last_n` tokens seen;
    /// 1 is off. Applied before every other step, greedy included.
    pub repetition_penalty: f32,
    pub penalty_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

/// The numbers the canonical sampler works with, computed once on the host so that the GPU
/// kernel gets exactly the same bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Filters {
    /// `1 / temperature`.
    pub inv_temperature: f32,
    /// Keep the `top_k` largest values; 0: off (also when top_k >= the vocabulary).
    pub top_k: u32,
    /// Nucleus mass, when below 1.
    pub top_p: Option<f32>,
    /// `ln(min_p)`, when min_p > 0.
    pub log_min_p: Option<f32>,
}

impl SamplingParams {
    /// Greedy decoding: temperature 0 or top-k 1. Greedy steps draw no random number.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }

    /// The filters over a vocabulary of `vocab` tokens.
    pub fn filters(&self, vocab: usize) -> Filters {
        Filters {
            inv_temperature: 1.0 / self.temperature,
            top_k: if self.top_k < vocab { self.top_k as u32 } else { 0 },
            top_p: (self.top_p < 1.0).then_some(self.top_p),
            log_min_p: (self.min_p > 0.0).then(|| self.min_p.ln()),
        }
    }
}

pub struct Sampler {
    pub params: SamplingParams,
    rng: Rng,
    /// The last `penalty_last_n` tokens seen, oldest first.
    recent: std::collections::VecDeque<u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Sampler {
        let rng = Rng::new(params.seed);
        Sampler { params, rng, recent: Default::default() }
    }

    /// The next token: [`argmax`] when greedy, else [`sample_with`] and the next uniform number,
    /// after the repetition penalty. The token is remembered for later penalties.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let mut penalized;
        let logits = if self.params.repetition_penalty != 1.0 {
            penalized = logits.to_vec();
            apply_repetition_penalty(&mut penalized, &self.penalized_tokens(), self.params.repetition_penalty);
            &penalized
        } else {
            logits
        };
        let token = match self.draw() {
            None => argmax(logits),
            Some(u) => sample_with(logits, &self.params, u),
        };
        self.accept(token);
        token
    }

    /// Remembers a token for the repetition penalty (the prompt's, or one sampled elsewhere).
    pub fn accept(&mut self, token: u32) {
        if self.params.penalty_last_n == 0 {
            return;
        }
        if self.recent.len() == self.params.penalty_last_n {
            self.recent.pop_front();
        }
        self.recent.push_back(token);
    }

    /// The caller used `token` instead of the last sampled one (a forced answer prefix):
    /// remember it in the sample's place.
    pub fn overrule(&mut self, token: u32) {
        if self.recent.pop_back().is_some() {
            self.recent.push_back(token);
        }
    }

    /// The distinct tokens the penalty applies to now, in order of first appearance.
    pub fn penalized_tokens(&self) -> Vec<u32> {
        let mut seen = std::collections::HashSet::new();
        self.recent.iter().copied().filter(|t| seen.insert(*t)).collect()
    }

    /// The uniform number of the next step, or `None` for greedy steps (which use none). The
    /// GPU sampler takes its numbers from here, so both paths consume one seeded stream.
    pub fn draw(&mut self) -> Option<f32> {
        (!self.params.is_greedy()).then(|| self.rng.next_f32())
    }
}

/// The repetition penalty in place: for each of the distinct `tokens`, its logit is divided by
/// `penalty` when positive and multiplied by it otherwise (the CTRL / transformers rule).
pub fn apply_repetition_penalty(logits: &mut [f32], tokens: &[u32], penalty: f32) {
    for &t in tokens {
        if let Some(l) = logits.get_mut(t as usize) {
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
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

/// The chunks the canonical sampler sums over: token ids split into `CHUNKS` contiguous runs
/// of `ceil(V / CHUNKS)`, each summed in id order (one GPU thread each).
pub const CHUNKS: usize = 256;

/// f32 -> u32 preserving order (negative values below positive ones, -0 just below +0).
fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b >> 31 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn key_value(k: u32) -> f32 {
    f32::from_bits(if k >> 31 != 0 { k & 0x7fff_ffff } else { !k })
}

/// The largest K in [a, b] with `holds(K)`, given `holds(a)` and `holds` monotone.
fn bisect(mut a: u32, mut b: u32, mut holds: impl FnMut(u32) -> bool) -> u32 {
    while a < b {
        let mid = a + (b - a) / 2 + ((b - a) & 1);
        if holds(mid) {
            a = mid;
        } else {
            b = mid - 1;
        }
    }
    a
}

/// The canonical tree over the chunk sums: `p[c] += p[c + s]` for s = 128, 64, ..., 1.
fn tree_sum(mut p: [f32; CHUNKS]) -> f32 {
    let mut s = CHUNKS / 2;
    while s > 0 {
        for c in 0..s {
            p[c] += p[c + s];
        }
        s /= 2;
    }
    p[0]
}

/// The canonical sampler (see the module docs): the token drawn from `logits` with uniform
/// number `u` in [0, 1); [`argmax`] when `p` is greedy. Logits must be finite.
pub fn sample_with(logits: &[f32], p: &SamplingParams, u: f32) -> u32 {
    if p.is_greedy() || logits.is_empty() {
        return argmax(logits);
    }
    let f = p.filters(logits.len());
    let chunk = logits.len().div_ceil(CHUNKS);
    let s: Vec<f32> = logits.iter().map(|&l| l * f.inv_temperature).collect();
    let keys: Vec<u32> = s.iter().map(|&v| order_key(v)).collect();
    let max_key = keys.iter().copied().max().expect("non-empty");
    let m = key_value(max_key);
    let e: Vec<f32> = s.iter().map(|&v| (v - m).exp()).collect();
    // Per chunk, the kept e summed in id order.
    let chunk_sums = |tau: u32| -> [f32; CHUNKS] {
        let mut sums = [0.0f32; CHUNKS];
        for ((sum, k), e) in sums.iter_mut().zip(keys.chunks(chunk)).zip(e.chunks(chunk)) {
            for (&k, &e) in k.iter().zip(e) {
                if k >= tau {
                    *sum += e;
                }
            }
        }
        sums
    };
    let mass = |tau: u32| tree_sum(chunk_sums(tau));

    let mut tau = 0;
    if f.top_k > 0 {
        let count = |k: u32| keys.iter().filter(|&&x| x >= k).count() as u32;
        tau = bisect(0, max_key, |k| count(k) >= f.top_k);
    }
    if let Some(top_p) = f.top_p {
        let need = top_p * mass(tau);
        tau = bisect(tau, max_key, |k| mass(k) >= need);
    }
    if let Some(log_min_p) = f.log_min_p {
        tau = tau.max(order_key(m + log_min_p));
    }
    tau = tau.min(max_key);

    // The chunk where the running sum passes u * W (else the last with mass), then the token.
    let sums = chunk_sums(tau);
    let total = sums.iter().fold(0.0f32, |a, &b| a + b);
    let goal = u * total;
    let (mut pick_chunk, mut prefix) = (None, 0.0f32);
    let (mut last_chunk, mut last_prefix, mut run) = (0, 0.0f32, 0.0f32);
    for (c, &sum) in sums.iter().enumerate() {
        if sum > 0.0 {
            (last_chunk, last_prefix) = (c, run);
        }
        let next = run + sum;
        if next > goal {
            (pick_chunk, prefix) = (Some(c), run);
            break;
        }
        run = next;
    }
    let c = pick_chunk.unwrap_or_else(|| {
        prefix = last_prefix;
        last_chunk
    });
    let lo = (c * chunk).min(logits.len());
    let hi = (lo + chunk).min(logits.len());
    let (mut cum, mut pick) = (prefix, lo);
    for i in lo..hi {
        if keys[i] >= tau {
            if e[i] > 0.0 {
                pick = i;
            }
            cum += e[i];
            if cum > goal {
                break;
            }
        }
    }
    pick as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.5, -1.0, 3.0, 0.0]
    }

    fn support(p: SamplingParams, logits: &[f32], draws: usize) -> std::collections::BTreeSet<u32> {
        let mut s = Sampler::new(p);
        (0..draws).map(|_| s.sample(logits)).collect()
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
        assert_eq!(s.draw(), None, "greedy steps draw no number");
    }

    #[test]
    fn order_keys_sort_like_floats() {
        let v = [f32::MIN, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
        for w in v.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} {}", w[0], w[1]);
        }
        for x in v {
            assert_eq!(key_value(order_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn filters_restrict_the_support() {
        let p = |top_k, top_p, min_p| SamplingParams {
            temperature: 1.0,
            top_k,
            top_p,
            min_p,
            seed: 3,
            ..Default::default()
        };
        // top_p 0.5 over {1: e^3, 4: e^3, 2: e^2.5, ...}: tokens 1 and 4 hold ~0.71 together.
        assert_eq!(support(p(0, 0.5, 0.0), &logits(), 400), [1, 4].into());
        // top_p 0.8 needs token 2 as well (0.93).
        assert_eq!(support(p(0, 0.8, 0.0), &logits(), 400), [1, 2, 4].into());
        // min_p 0.5 keeps tokens within e^-0.69 of the best: 1, 4, 2 (e^-0.5).
        assert_eq!(support(p(0, 1.0, 0.5), &logits(), 400), [1, 2, 4].into());
        // top_k 3: the three largest; top_k 2 keeps the tie 1, 4; top_k 4 adds token 0.
        assert_eq!(support(p(3, 1.0, 0.0), &logits(), 400), [1, 2, 4].into());
        assert_eq!(support(p(2, 1.0, 0.0), &logits(), 400), [1, 4].into());
        assert_eq!(support(p(4, 1.0, 0.0), &logits(), 1000), [0, 1, 2, 4].into());
        // top-p is taken within top-k: over {1, 4, 2} the two 3.0s hold 0.76 >= 0.7.
        assert_eq!(support(p(3, 0.7, 0.0), &logits(), 400), [1, 4].into());
        // min_p above 1 still keeps the best tokens.
        assert_eq!(support(p(0, 1.0, 2.0), &logits(), 400), [1, 4].into());
    }

    #[test]
    fn ties_at_the_top_k_threshold_are_all_kept() {
        let l = [0.0, 1.0, 1.0, 1.0, 2.0, -5.0];
        let p = SamplingParams { temperature: 1.0, top_k: 2, seed: 5, ..Default::default() };
        assert_eq!(support(p, &l, 2000), [1, 2, 3, 4].into());
    }

    #[test]
    fn the_walk_follows_the_uniform_number() {
        // Probabilities 0.25, 0.75 (token 0 first in id order): u < 0.25 picks 0.
        let l = [0.0f32, (3.0f32).ln()];
        let p = SamplingParams { temperature: 1.0, ..Default::default() };
        assert_eq!(sample_with(&l, &p, 0.0), 0);
        assert_eq!(sample_with(&l, &p, 0.2499), 0);
        assert_eq!(sample_with(&l, &p, 0.2501), 1);
        assert_eq!(sample_with(&l, &p, 0.9999999), 1);
        // Across chunks: 1000 equal logits, u picks token floor(u * 1000).
        let flat = vec![0.5f32; 1000];
        for (u, want) in [(0.0, 0), (0.3335, 333), (0.5, 500), (0.9995, 999)] {
            assert_eq!(sample_with(&flat, &p, u), want, "u = {u}");
        }
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        let mut s = Sampler::new(SamplingParams { temperature: 1.0, seed: 11, ..Default::default() });
        let l = [0.0f32, (3.0f32).ln()]; // p = 0.25, 0.75
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&l) == 1).count() as f32 / n as f32;
        assert!((ones - 0.75).abs() < 0.015, "frequency of token 1 was {ones}");
        // Temperature 0.5 squares the odds: 1 : 9.
        let mut s = Sampler::new(SamplingParams { temperature: 0.5, seed: 12, ..Default::default() });
        let ones = (0..n).filter(|_| s.sample(&l) == 1).count() as f32 / n as f32;
        assert!((ones - 0.9).abs() < 0.01, "frequency of token 1 at temperature 0.5 was {ones}");
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
