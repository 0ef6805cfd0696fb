//! Per-token statistics and text-level scores (metrics.md §1 and §7): surprisal, GLTR buckets, perplexity,
//! Min-K% and Min-K%++.

use serde::{Deserialize, Serialize};

use crate::DistError;
use crate::softmax::check_probs;

/// Surprisal in bits, `-logprob / ln 2`: how many yes/no questions the token cost.
pub fn surprisal_bits(logprob: f64) -> f64 {
    -logprob / std::f64::consts::LN_2
}

/// GLTR's colour for a token's rank: how far down the model's list the chosen token was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum GltrBucket {
    /// Rank < 10.
    Green,
    /// Rank < 100.
    Yellow,
    /// Rank < 1000.
    Red,
    /// Rank ≥ 1000.
    Purple,
}

/// Buckets a 0-based rank at GLTR's thresholds 10 / 100 / 1000.
pub fn gltr_bucket(rank: usize) -> GltrBucket {
    match rank {
        0..10 => GltrBucket::Green,
        10..100 => GltrBucket::Yellow,
        100..1000 => GltrBucket::Red,
        _ => GltrBucket::Purple,
    }
}

/// Perplexity `exp(-(1/N) Σ logprob_t)` over the scored tokens; an error when there are none.
pub fn perplexity(logprobs: &[f64]) -> Result<f64, DistError> {
    check_scores(logprobs)?;
    if logprobs.is_empty() {
        return Err(DistError::Empty);
    }
    Ok((-logprobs.iter().sum::<f64>() / logprobs.len() as f64).exp())
}

/// Min-K%: mean of the lowest ⌊k·T⌋ token log-probabilities (at least one), k in (0, 1] (0.2 is the default).
pub fn min_k_percent(logprobs: &[f64], k: f64) -> Result<f64, DistError> {
    mean_of_lowest(logprobs, k)
}

/// Min-K%++: mean of the lowest ⌊k·T⌋ per-token z-scores from [`min_k_pp_z`] (at least one), k in (0, 1].
pub fn min_k_plus_plus(z: &[f64], k: f64) -> Result<f64, DistError> {
    mean_of_lowest(z, k)
}

/// Min-K%++'s per-token score `(ℓ - μ) / σ` from raw logits, with `lse` from [`crate::summarize`].
///
/// `μ = Σ p ln p` and `σ² = Σ p (ln p - μ)²` (two passes, so σ² never goes negative by cancellation).
pub fn min_k_pp_z(logits: &[f32], lse: f64, id: u32) -> Result<f64, DistError> {
    let observed = crate::logprob(logits, lse, id)?;
    let logprobs = || logits.iter().map(move |&z| f64::from(z) - lse);
    Ok(z_score(observed, logprobs))
}

/// Min-K%++'s per-token score from a probability vector (e.g. a small or already warped distribution).
pub fn min_k_pp_z_from_probs(p: &[f64], id: u32) -> Result<f64, DistError> {
    check_probs(p)?;
    let observed = p
        .get(id as usize)
        .ok_or(DistError::TokenOutOfRange { id, vocab: p.len() })?
        .ln();
    Ok(z_score(observed, || p.iter().map(|x| x.ln())))
}

/// Below this σ (nats) the distribution is flat over its support and the z-score is undefined: f32 logits
/// cannot resolve log-probability differences this small, so what is left is rounding noise.
const SIGMA_FLOOR: f64 = 1e-6;

/// `(ℓ - μ) / σ` with the σ = 0 guard: a flat distribution scores 0 for any token it can emit, -inf otherwise.
fn z_score<I: Iterator<Item = f64>>(observed: f64, logprobs: impl Fn() -> I) -> f64 {
    let plogp = |lp: f64| {
        let p = lp.exp();
        if p > 0.0 { p * lp } else { 0.0 }
    };
    let mu: f64 = logprobs().map(plogp).sum();
    let var: f64 = logprobs()
        .map(|lp| {
            let p = lp.exp();
            if p > 0.0 { p * (lp - mu).powi(2) } else { 0.0 }
        })
        .sum();
    let sigma = var.sqrt();
    if sigma < SIGMA_FLOOR {
        return if observed.is_finite() {
            0.0
        } else {
            f64::NEG_INFINITY
        };
    }
    (observed - mu) / sigma
}

/// Mean of the lowest ⌊k·T⌋ values (at least one). A tiny epsilon keeps k·T = 0.2·5 from flooring to 0.
fn mean_of_lowest(values: &[f64], k: f64) -> Result<f64, DistError> {
    if !(k > 0.0 && k <= 1.0) {
        return Err(DistError::InvalidParam {
            name: "k",
            value: k,
            expected: "in (0, 1]",
        });
    }
    check_scores(values)?;
    if values.is_empty() {
        return Err(DistError::Empty);
    }
    let count = ((k * values.len() as f64 + 1e-9).floor() as usize).clamp(1, values.len());
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    Ok(sorted[..count].iter().sum::<f64>() / count as f64)
}

/// Scores may be -inf (a token of probability 0) but never NaN or +inf.
fn check_scores(values: &[f64]) -> Result<(), DistError> {
    match values
        .iter()
        .position(|v| v.is_nan() || *v == f64::INFINITY)
    {
        Some(index) => Err(DistError::NotFinite {
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// metrics.md §7 toy: five positions and their observed tokens.
    const DISTS: [[f64; 3]; 5] = [
        [0.7, 0.2, 0.1],
        [0.4, 0.4, 0.2],
        [0.9, 0.05, 0.05],
        [0.5, 0.25, 0.25],
        [0.6, 0.3, 0.1],
    ];
    const OBSERVED: [u32; 5] = [0, 2, 1, 0, 1];

    fn toy_logprobs() -> Vec<f64> {
        DISTS
            .iter()
            .zip(OBSERVED)
            .map(|(d, id)| d[id as usize].ln())
            .collect()
    }

    fn toy_z() -> Vec<f64> {
        DISTS
            .iter()
            .zip(OBSERVED)
            .map(|(d, id)| min_k_pp_z_from_probs(d, id).unwrap())
            .collect()
    }

    #[test]
    fn min_k_percent_toy() {
        let lp = toy_logprobs();
        // -2.3026 in metrics.md is ln 0.1 (written as such for clippy's approx_constant lint).
        for (k, want) in [(0.2, -2.9957), (0.4, 0.1f64.ln()), (1.0, -1.3718)] {
            let got = min_k_percent(&lp, k).unwrap();
            assert!((got - want).abs() < 1e-4, "k={k}: {got}");
        }
    }

    #[test]
    fn min_k_plus_plus_toy() {
        let z = toy_z();
        for (got, want) in z.iter().zip([0.6331, -2.0, -3.0, 1.0, -0.545]) {
            assert!((got - want).abs() < 1e-3, "{z:?}");
        }
        for (k, want) in [(0.2, -3.0), (0.4, -2.5), (1.0, -0.7824)] {
            let got = min_k_plus_plus(&z, k).unwrap();
            assert!((got - want).abs() < 1e-3, "k={k}: {got}");
        }
    }

    #[test]
    fn z_from_logits_matches_z_from_probs() {
        for (d, id) in DISTS.iter().zip(OBSERVED) {
            let logits: Vec<f32> = d.iter().map(|p| p.ln() as f32 + 2.5).collect();
            let lse = crate::summarize(&logits).unwrap().lse;
            let a = min_k_pp_z(&logits, lse, id).unwrap();
            let b = min_k_pp_z_from_probs(d, id).unwrap();
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn flat_distribution_guards_sigma_zero() {
        let uniform = vec![0.0f32; 49_152];
        let lse = crate::summarize(&uniform).unwrap().lse;
        assert_eq!(min_k_pp_z(&uniform, lse, 123).unwrap(), 0.0);
        assert_eq!(min_k_pp_z_from_probs(&[0.5, 0.5, 0.0], 0).unwrap(), 0.0);
        assert_eq!(
            min_k_pp_z_from_probs(&[0.5, 0.5, 0.0], 2).unwrap(),
            f64::NEG_INFINITY
        );
        assert_eq!(min_k_pp_z_from_probs(&[1.0], 0).unwrap(), 0.0);
    }

    #[test]
    fn perplexity_and_surprisal() {
        let lp = [0.5f64.ln(), 0.25f64.ln()];
        // exp(-(ln .5 + ln .25)/2) = sqrt(8)
        assert!((perplexity(&lp).unwrap() - 8f64.sqrt()).abs() < 1e-12);
        assert!((surprisal_bits(0.25f64.ln()) - 2.0).abs() < 1e-12);
        assert_eq!(perplexity(&[]), Err(DistError::Empty));
        assert_eq!(perplexity(&[f64::NEG_INFINITY]).unwrap(), f64::INFINITY);
    }

    #[test]
    fn gltr_thresholds() {
        assert_eq!(gltr_bucket(0), GltrBucket::Green);
        assert_eq!(gltr_bucket(9), GltrBucket::Green);
        assert_eq!(gltr_bucket(10), GltrBucket::Yellow);
        assert_eq!(gltr_bucket(99), GltrBucket::Yellow);
        assert_eq!(gltr_bucket(100), GltrBucket::Red);
        assert_eq!(gltr_bucket(999), GltrBucket::Red);
        assert_eq!(gltr_bucket(1000), GltrBucket::Purple);
    }

    #[test]
    fn bad_scores_are_errors() {
        assert!(min_k_percent(&[-1.0], 0.0).is_err());
        assert!(min_k_percent(&[-1.0], 1.5).is_err());
        assert!(min_k_percent(&[], 0.2).is_err());
        assert!(min_k_percent(&[f64::NAN], 0.2).is_err());
        // Fewer tokens than 1/k still scores the single lowest one.
        assert_eq!(min_k_percent(&[-1.0, -3.0], 0.2).unwrap(), -3.0);
        assert!(min_k_pp_z_from_probs(&[0.5, 0.5], 2).is_err());
    }
}
