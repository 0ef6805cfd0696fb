//! Branching factor (metrics.md §2, Yang & Holtzman 2025): `exp` of the mean entropy of the truncated,
//! renormalised decoding distribution, i.e. the effective number of choices per step.

use serde::{Deserialize, Serialize};

use crate::DistError;

/// How many recent tokens the windowed branching factor averages over.
pub const BF_WINDOW: usize = 5;

/// The three branching factors reported after each streamed token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct BranchingStep {
    /// `exp(H̃_t)` of this step alone.
    pub step: f64,
    /// `exp(mean H̃)` over the last [`BF_WINDOW`] steps (fewer at the start).
    pub window: f64,
    /// `exp(mean H̃)` over every step so far: the sample's BF.
    pub running: f64,
}

/// Streaming branching factor of one sample: feed it each step's `H̃_t` (e.g. [`crate::Warped::entropy`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BranchingFactor {
    recent: [f64; BF_WINDOW],
    count: usize,
    sum: f64,
}

impl BranchingFactor {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one step's entropy in nats and returns the three branching factors including it.
    pub fn push(&mut self, entropy_nats: f64) -> BranchingStep {
        self.recent[self.count % BF_WINDOW] = entropy_nats;
        self.count += 1;
        self.sum += entropy_nats;
        let in_window = self.count.min(BF_WINDOW);
        let window_sum: f64 = self.recent[..in_window].iter().sum();
        BranchingStep {
            step: entropy_nats.exp(),
            window: (window_sum / in_window as f64).exp(),
            running: (self.sum / self.count as f64).exp(),
        }
    }

    /// Steps pushed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The running BF, `None` before the first step.
    pub fn running(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.sum / self.count as f64).exp())
    }
}

/// BF of one sample from its per-step entropies: `exp(mean H̃_t)`.
pub fn branching_factor(entropies: &[f64]) -> Result<f64, DistError> {
    mean(entropies).map(f64::exp)
}

/// Long-output (AEP) estimate of BF from the truncated distribution's log-probabilities of the sampled tokens:
/// `exp(-(1/N) log P̃(y))`.
pub fn branching_factor_aep(sample_logprobs: &[f64]) -> Result<f64, DistError> {
    mean(sample_logprobs).map(|m| (-m).exp())
}

/// BF of one prompt over M samples: average the per-sample log-BF, then exponentiate (a geometric mean).
pub fn branching_factor_over_samples(sample_bfs: &[f64]) -> Result<f64, DistError> {
    if let Some(index) = sample_bfs.iter().position(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(DistError::InvalidParam {
            name: "sample branching factor",
            value: sample_bfs[index],
            expected: "finite and > 0",
        });
    }
    let logs: Vec<f64> = sample_bfs.iter().map(|b| b.ln()).collect();
    mean(&logs).map(f64::exp)
}

/// Task-level BF: the plain mean of the per-prompt BFs.
pub fn task_branching_factor(prompt_bfs: &[f64]) -> Result<f64, DistError> {
    mean(prompt_bfs)
}

fn mean(values: &[f64]) -> Result<f64, DistError> {
    if values.is_empty() {
        return Err(DistError::Empty);
    }
    Ok(values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_uniform_steps_over_twelve_tokens_give_twelve() {
        let h = 12f64.ln();
        assert!((branching_factor(&[h, h, h]).unwrap() - 12.0).abs() < 1e-12);
        let mut bf = BranchingFactor::new();
        for _ in 0..3 {
            let s = bf.push(h);
            assert!((s.step - 12.0).abs() < 1e-12);
            assert!((s.window - 12.0).abs() < 1e-12);
            assert!((s.running - 12.0).abs() < 1e-12);
        }
        // AEP: each sampled token had probability 1/12.
        let lp = (1.0f64 / 12.0).ln();
        assert!((branching_factor_aep(&[lp, lp, lp]).unwrap() - 12.0).abs() < 1e-12);
    }

    #[test]
    fn entropy_0_182_is_bf_1_2() {
        assert!((branching_factor(&[0.182]).unwrap() - 1.2).abs() < 1e-3);
    }

    #[test]
    fn window_covers_only_the_last_five() {
        let mut bf = BranchingFactor::new();
        assert_eq!(bf.running(), None);
        let hs = [3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0];
        let mut last = None;
        for h in hs {
            last = Some(bf.push(h));
        }
        let s = last.unwrap();
        assert!((s.step - 2f64.exp()).abs() < 1e-12);
        // Last five: 1, 1, 1, 1, 2 → mean 1.2; all seven: 10 / 7.
        assert!((s.window - 1.2f64.exp()).abs() < 1e-12);
        assert!((s.running - (10.0f64 / 7.0).exp()).abs() < 1e-12);
        assert_eq!(bf.count(), 7);
        assert_eq!(bf.running(), Some(s.running));
    }

    #[test]
    fn samples_average_in_log_space_and_tasks_in_linear_space() {
        // Geometric mean of 2 and 8 is 4; arithmetic mean is 5.
        assert!((branching_factor_over_samples(&[2.0, 8.0]).unwrap() - 4.0).abs() < 1e-12);
        assert!((task_branching_factor(&[2.0, 8.0]).unwrap() - 5.0).abs() < 1e-12);
        assert!(branching_factor_over_samples(&[0.0]).is_err());
        assert_eq!(branching_factor(&[]), Err(DistError::Empty));
    }
}
