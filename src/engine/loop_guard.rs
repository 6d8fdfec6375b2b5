//! Doom-loop detection: stop when the output has become one block of tokens repeated.

use serde::{Deserialize, Serialize};

/// The output is a loop when its last tokens are `period`-token blocks repeated at least
/// `min_repeats` times and span at least `min_tokens`, for some period up to `max_period`.
/// Short stutters ("bott bott bott") are left alone by `min_tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopGuard {
    pub enabled: bool,
    pub max_period: usize,
    pub min_repeats: usize,
    pub min_tokens: usize,
}

impl Default for LoopGuard {
    fn default() -> Self {
        LoopGuard { enabled: true, max_period: 64, min_repeats: 3, min_tokens: 48 }
    }
}

impl LoopGuard {
    /// The period of the loop `tokens` ends in, if it ends in one.
    pub fn detect(&self, tokens: &[u32]) -> Option<usize> {
        if !self.enabled || self.min_repeats < 2 {
            return None;
        }
        (1..=self.max_period).find(|&p| {
            let span = (p * self.min_repeats).max(self.min_tokens.div_ceil(p) * p);
            span <= tokens.len() && {
                let tail = &tokens[tokens.len() - span..];
                tail.chunks(p).all(|block| block == &tail[..p])
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_repeated_blocks_of_any_period() {
        let g = LoopGuard::default();
        for period in [1, 2, 7, 64] {
            let block: Vec<u32> = (0..period as u32).map(|i| 100 + i).collect();
            let mut out: Vec<u32> = vec![5, 6, 7];
            while out.len() < 3 + 48.max(3 * period) {
                out.extend(&block);
            }
            assert_eq!(g.detect(&out), Some(period), "period {period}");
        }
    }

    #[test]
    fn leaves_short_stutters_and_varied_text_alone() {
        let g = LoopGuard::default();
        assert_eq!(g.detect(&[9, 9, 9, 9, 9, 9]), None);
        let varied: Vec<u32> = (0..500).map(|i| (i * 7919 % 1000) as u32).collect();
        assert_eq!(g.detect(&varied), None);
        // Almost a loop: one token differs inside the span.
        let mut near: Vec<u32> = [1, 2, 3].repeat(20);
        near[40] = 99;
        assert_eq!(g.detect(&near), None);
    }

    #[test]
    fn can_be_disabled_or_tuned() {
        let looped = [4u32, 2].repeat(40);
        assert!(LoopGuard::default().detect(&looped).is_some());
        assert_eq!(LoopGuard { enabled: false, ..Default::default() }.detect(&looped), None);
        assert_eq!(LoopGuard { min_tokens: 100, ..Default::default() }.detect(&looped), None);
        assert_eq!(LoopGuard { max_period: 1, ..Default::default() }.detect(&looped), None);
    }
}
