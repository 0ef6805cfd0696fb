//! Softmax statistics straight from raw logits: log-sum-exp, entropy, log-probabilities, ranks and the top tokens,
//! each in one or two passes over the vocabulary (f64 sums, metrics.md §0–§1), with no full sort.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::DistError;

/// The numbers every step needs from its raw logits, computed together so the vocabulary is read twice, not more.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `LSE(z) = m + ln Σ exp(z - m)`: subtract it from a logit to get the log-probability.
    pub lse: f64,
    /// Shannon entropy of `softmax(z)` in nats.
    pub entropy: f64,
    /// The largest logit (the greedy token's logit).
    pub max_logit: f32,
}

/// A token with its log-probability: the unit of every "top tokens" list shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenProb {
    /// Token id in the model's vocabulary.
    pub id: u32,
    /// Natural-log probability of the token.
    pub logprob: f64,
}

impl TokenProb {
    /// The probability itself, for display.
    pub fn prob(&self) -> f64 {
        self.logprob.exp()
    }
}

/// Converts nats to bits, since the UI reports entropy and surprisal in bits.
pub fn nats_to_bits(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

/// Rejects NaN and +inf logits (a model bug, never a distribution); -inf is allowed and means "removed".
pub fn check_logits(logits: &[f32]) -> Result<(), DistError> {
    match logits
        .iter()
        .position(|z| z.is_nan() || *z == f32::INFINITY)
    {
        Some(index) => Err(DistError::NotFinite {
            index,
            value: f64::from(logits[index]),
        }),
        None => Ok(()),
    }
}

/// Log-sum-exp and entropy of `softmax(logits)` in two passes; -inf logits contribute nothing.
pub fn summarize(logits: &[f32]) -> Result<Summary, DistError> {
    check_logits(logits)?;
    let max_logit = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max_logit == f32::NEG_INFINITY {
        return Err(DistError::Empty);
    }
    let m = f64::from(max_logit);
    // Σ e^(z-m) and Σ e^(z-m)·(z-m); H = LSE - Σ p z = ln S - (Σ e·(z-m)) / S.
    let (mut s, mut sz) = (0.0f64, 0.0f64);
    for &z in logits {
        if z == f32::NEG_INFINITY {
            continue;
        }
        let d = f64::from(z) - m;
        let e = d.exp();
        s += e;
        sz += e * d;
    }
    let entropy = (s.ln() - sz / s).max(0.0);
    Ok(Summary {
        lse: m + s.ln(),
        entropy,
        max_logit,
    })
}

/// The full probability vector in f64, for consumers that need every entry (divergences, speculative decoding).
pub fn softmax(logits: &[f32]) -> Result<Vec<f64>, DistError> {
    let lse = summarize(logits)?.lse;
    Ok(logits.iter().map(|&z| (f64::from(z) - lse).exp()).collect())
}

/// Log-probability of one token given the LSE from [`summarize`]; -inf for a removed (-inf logit) token.
pub fn logprob(logits: &[f32], lse: f64, id: u32) -> Result<f64, DistError> {
    let z = logit_of(logits, id)?;
    Ok(f64::from(z) - lse)
}

/// 0-based rank of a token in descending probability order, ties broken by lower id first (metrics.md §1).
///
/// It counts the ids with a larger logit, or an equal logit and a lower id; NaN logits never count.
pub fn rank(logits: &[f32], id: u32) -> Result<usize, DistError> {
    let z = logit_of(logits, id)?;
    let id = id as usize;
    let above = logits[..id].iter().filter(|&&v| v >= z).count();
    let below = logits[id + 1..].iter().filter(|&&v| v > z).count();
    Ok(above + below)
}

/// The greedy token: the largest logit, lowest id on ties (what temperature 0 picks).
pub fn argmax(logits: &[f32]) -> Result<u32, DistError> {
    check_logits(logits)?;
    let mut best: Option<(usize, f32)> = None;
    for (i, &z) in logits.iter().enumerate() {
        if z != f32::NEG_INFINITY && best.is_none_or(|(_, b)| z > b) {
            best = Some((i, z));
        }
    }
    best.map(|(i, _)| i as u32).ok_or(DistError::Empty)
}

/// The `n` most probable tokens, descending, ties by lower id; found by partial selection, not a full sort.
///
/// -inf logits are never listed, so fewer than `n` entries come back when fewer tokens are possible.
pub fn top_n(logits: &[f32], lse: f64, n: usize) -> Vec<TokenProb> {
    let mut cands: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, z)| **z > f32::NEG_INFINITY)
        .map(|(i, &z)| (i as u32, z))
        .collect();
    let by_prob = |a: &(u32, f32), b: &(u32, f32)| desc_then_id(a.1, a.0, b.1, b.0);
    if n == 0 {
        return Vec::new();
    }
    if n < cands.len() {
        cands.select_nth_unstable_by(n - 1, by_prob);
        cands.truncate(n);
    }
    cands.sort_unstable_by(by_prob);
    cands
        .into_iter()
        .map(|(id, z)| TokenProb {
            id,
            logprob: f64::from(z) - lse,
        })
        .collect()
}

/// Entropy in nats of a probability vector (terms with p = 0 contribute 0); the §0 definition for small inputs.
pub fn entropy_of_probs(p: &[f64]) -> Result<f64, DistError> {
    check_probs(p)?;
    Ok(p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum())
}

/// Rejects negative, NaN or infinite probabilities.
pub(crate) fn check_probs(p: &[f64]) -> Result<(), DistError> {
    match p.iter().position(|x| !x.is_finite() || *x < 0.0) {
        Some(index) => Err(DistError::InvalidProbability {
            index,
            value: p[index],
        }),
        None => Ok(()),
    }
}

/// Descending by value, then ascending by id: the one tie rule of the whole crate.
pub(crate) fn desc_then_id<T: PartialOrd>(za: T, ida: u32, zb: T, idb: u32) -> Ordering {
    zb.partial_cmp(&za)
        .unwrap_or(Ordering::Equal)
        .then(ida.cmp(&idb))
}

fn logit_of(logits: &[f32], id: u32) -> Result<f32, DistError> {
    logits
        .get(id as usize)
        .copied()
        .ok_or(DistError::TokenOutOfRange {
            id,
            vocab: logits.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];

    fn logits_of(p: &[f64]) -> Vec<f32> {
        p.iter().map(|x| x.ln() as f32).collect()
    }

    #[test]
    fn entropy_of_worked_p() {
        let h = entropy_of_probs(&P).unwrap();
        assert!((h - 1.14212).abs() < 1e-5, "{h}");
        assert!((nats_to_bits(h) - 1.64773).abs() < 1e-5);
        assert!((h.exp() - 3.1334).abs() < 1e-4);
    }

    #[test]
    fn summarize_matches_entropy_from_probs_under_a_logit_shift() {
        // Shifting logits changes LSE but not the distribution.
        let z: Vec<f32> = logits_of(&P).iter().map(|z| z + 7.0).collect();
        let s = summarize(&z).unwrap();
        assert!((s.entropy - 1.14212).abs() < 1e-5);
        assert!((s.lse - 7.0).abs() < 1e-5);
        assert_eq!(s.max_logit, z[0]);
    }

    #[test]
    fn neg_inf_logits_are_dropped() {
        let mut z = logits_of(&P);
        z.push(f32::NEG_INFINITY);
        z.insert(0, f32::NEG_INFINITY);
        let s = summarize(&z).unwrap();
        assert!((s.entropy - 1.14212).abs() < 1e-5);
        assert_eq!(logprob(&z, s.lse, 0).unwrap(), f64::NEG_INFINITY);
        assert!((logprob(&z, s.lse, 1).unwrap() - 0.5f64.ln()).abs() < 1e-6);
        let p = softmax(&z).unwrap();
        assert_eq!(p[0], 0.0);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_logits_are_typed_errors() {
        assert_eq!(summarize(&[]), Err(DistError::Empty));
        assert_eq!(
            summarize(&[f32::NEG_INFINITY, f32::NEG_INFINITY]),
            Err(DistError::Empty)
        );
        assert!(matches!(
            summarize(&[0.0, f32::NAN]),
            Err(DistError::NotFinite { index: 1, .. })
        ));
        assert!(matches!(
            summarize(&[f32::INFINITY]),
            Err(DistError::NotFinite { index: 0, .. })
        ));
        assert_eq!(
            logprob(&[0.0, 1.0], 0.0, 2),
            Err(DistError::TokenOutOfRange { id: 2, vocab: 2 })
        );
        assert!(rank(&[0.0], 5).is_err());
        assert_eq!(argmax(&[f32::NEG_INFINITY]), Err(DistError::Empty));
    }

    #[test]
    fn uniform_entropy_is_ln_n() {
        let z = vec![0.25f32; 12];
        let s = summarize(&z).unwrap();
        assert!((s.entropy - 12f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn rank_ties_break_by_lower_id() {
        let z = [1.0, 3.0, 3.0, 2.0, 3.0];
        assert_eq!(rank(&z, 1).unwrap(), 0);
        assert_eq!(rank(&z, 2).unwrap(), 1);
        assert_eq!(rank(&z, 4).unwrap(), 2);
        assert_eq!(rank(&z, 3).unwrap(), 3);
        assert_eq!(rank(&z, 0).unwrap(), 4);
        assert_eq!(argmax(&z).unwrap(), 1);
    }

    #[test]
    fn top_n_is_descending_with_id_ties() {
        let z = [1.0, 3.0, 3.0, 2.0, 3.0, f32::NEG_INFINITY];
        let lse = summarize(&z).unwrap().lse;
        let ids: Vec<u32> = top_n(&z, lse, 4).iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 2, 4, 3]);
        // Asking for more than exists lists only the possible tokens.
        let all: Vec<u32> = top_n(&z, lse, 10).iter().map(|t| t.id).collect();
        assert_eq!(all, [1, 2, 4, 3, 0]);
        assert!(top_n(&z, lse, 0).is_empty());
        let t = top_n(&z, lse, 1)[0];
        assert!((t.logprob - (3.0 - lse)).abs() < 1e-12);
    }

    #[test]
    fn top_n_agrees_with_rank_on_a_large_vocabulary() {
        // A deterministic pseudo-random vocabulary with many exact ties.
        let z: Vec<f32> = (0..5000u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 20) % 97) as f32 * 0.1)
            .collect();
        let lse = summarize(&z).unwrap().lse;
        for (r, t) in top_n(&z, lse, 50).iter().enumerate() {
            assert_eq!(rank(&z, t.id).unwrap(), r);
        }
    }
}
