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

/// Log-sum-exp and entropy of `softmax(logits)`; -inf logits contribute nothing.
///
/// Two passes over the vocabulary: a comparison-only scan (validity, max) and one exponential pass with the
/// fast f32 [`exp_le0`] summed in f64, so LSE and entropy are exact to a few 1e-8 (relative), not to f64 rounding.
pub fn summarize(logits: &[f32]) -> Result<Summary, DistError> {
    let scan = scan(logits)?;
    Ok(exp_sums(logits, scan.max, 1.0).summary(scan))
}

/// The full probability vector in f64, for consumers that need every entry (divergences, speculative decoding).
/// Its LSE is summed with f64 exponentials so the vector sums to 1 within f64 rounding.
pub fn softmax(logits: &[f32]) -> Result<Vec<f64>, DistError> {
    let lse = exact_lse(logits)?;
    Ok(logits.iter().map(|&z| (f64::from(z) - lse).exp()).collect())
}

/// `LSE(z)` with f64 exponentials throughout (slower than [`summarize`], exact to f64 rounding).
pub(crate) fn exact_lse(logits: &[f32]) -> Result<f64, DistError> {
    let m = f64::from(scan(logits)?.max);
    let s: f64 = logits.iter().map(|&z| (f64::from(z) - m).exp()).sum();
    Ok(m + s.ln())
}

/// What one comparison-only pass over valid logits tells: the largest logit and how many are finite.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    pub(crate) max: f32,
    pub(crate) finite: usize,
}

/// Lanes of the chunked loops below: independent accumulators that the compiler turns into SIMD (SSE/NEON/
/// simd128) without `unsafe`, since it may not reorder a single float sum itself.
const LANES: usize = 8;

/// One pass: rejects NaN/+inf logits like [`check_logits`], and finds the max and the count of finite logits.
/// Errors with [`DistError::Empty`] when no logit is finite.
pub(crate) fn scan(logits: &[f32]) -> Result<Scan, DistError> {
    let mut max = [f32::NEG_INFINITY; LANES];
    let mut finite = [0u32; LANES];
    let mut bad = [0u32; LANES];
    let (chunks, tail) = logits.as_chunks::<LANES>();
    let mut padded = [f32::NEG_INFINITY; LANES];
    padded[..tail.len()].copy_from_slice(tail);
    for chunk in chunks.iter().chain([&padded]) {
        for j in 0..LANES {
            let z = chunk[j];
            max[j] = if z > max[j] { z } else { max[j] };
            finite[j] += u32::from(z > f32::NEG_INFINITY);
            // NaN or +inf: check_logits below finds and reports the first.
            bad[j] |= u32::from(z.is_nan() || z == f32::INFINITY);
        }
    }
    if bad.iter().any(|&b| b != 0) {
        check_logits(logits)?;
    }
    let max = max.into_iter().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return Err(DistError::Empty);
    }
    let finite = finite.iter().map(|&c| c as usize).sum();
    Ok(Scan { max, finite })
}

/// `Σ e^d` and `Σ e^d·d` over `d = (z - max)·scale` (scale > 0), the sums behind LSE and entropy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ExpSums {
    pub(crate) s: f64,
    pub(crate) sd: f64,
}

impl ExpSums {
    /// `LSE(z·scale)`, given the largest logit and the scale the sums were taken with.
    pub(crate) fn lse(&self, max: f32, scale: f64) -> f64 {
        f64::from(max) * scale + self.s.ln()
    }

    /// Entropy of `softmax(z·scale)`: `H = ln S - Σ e^d·d / S`, kept within its bounds [0, ln kept] that
    /// rounding could cross.
    pub(crate) fn entropy(&self, kept: usize) -> f64 {
        (self.s.ln() - self.sd / self.s).clamp(0.0, (kept as f64).ln())
    }

    fn summary(&self, scan: Scan) -> Summary {
        Summary {
            lse: self.lse(scan.max, 1.0),
            entropy: self.entropy(scan.finite),
            max_logit: scan.max,
        }
    }
}

/// The exponential pass for [`ExpSums`]; `max` must be the largest logit, so every `d ≤ 0`.
pub(crate) fn exp_sums(logits: &[f32], max: f32, scale: f32) -> ExpSums {
    const BLOCK: usize = 256;
    let mut s = [0.0f64; LANES];
    let mut sd = [0.0f64; LANES];
    for block in logits.chunks(BLOCK) {
        // The exponentials of a block first (a plain loop the compiler vectorises), then the f64 sums in
        // lanes; the block's unused tail stays e = 0.
        let mut d = [0.0f32; BLOCK];
        let mut e = [0.0f32; BLOCK];
        for ((d, e), &z) in d.iter_mut().zip(e.iter_mut()).zip(block) {
            // -inf gives d = -inf, e = 0; clamping d keeps the product 0 instead of NaN.
            let x = (z - max) * scale;
            *d = if x > EXP_FLOOR { x } else { EXP_FLOOR };
            *e = exp_le0(*d);
        }
        for (dc, ec) in d
            .as_chunks::<LANES>()
            .0
            .iter()
            .zip(e.as_chunks::<LANES>().0)
        {
            for j in 0..LANES {
                s[j] += f64::from(ec[j]);
                sd[j] += f64::from(ec[j]) * f64::from(dc[j]);
            }
        }
    }
    ExpSums {
        s: s.iter().sum(),
        sd: sd.iter().sum(),
    }
}

/// Below this, `e^x` is under f32's smallest normal and [`exp_le0`] returns 0.
const EXP_FLOOR: f32 = -87.0;

/// `e^x` for `x ≤ 0` in f32 to about 1 ulp (Cody–Waite reduction by ln 2 and a degree-6 polynomial), 0 for
/// `x ≤ -87`. Branch-free and made only of adds, multiplies and integer shifts so that it vectorises; `e^0 = 1`
/// exactly. Used where an f64 accumulator follows, so 49k exponentials cost a few SIMD passes, not 49k calls.
#[inline]
pub(crate) fn exp_le0(x: f32) -> f32 {
    // Adding 1.5·2^23 rounds to an integer in the low mantissa bits (for |t| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    let xc = if x > EXP_FLOOR { x } else { EXP_FLOOR };
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = xc - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n through the exponent bits: n ∈ [-126, 0] here, so the biased exponent stays normal.
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let two_n = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    if x > EXP_FLOOR { er * two_n } else { 0.0 }
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

/// The `n` most probable tokens, descending, ties by lower id, in one pass without a full sort.
///
/// -inf logits are never listed, so fewer than `n` entries come back when fewer tokens are possible.
pub fn top_n(logits: &[f32], lse: f64, n: usize) -> Vec<TokenProb> {
    top_logits(logits, n)
        .into_iter()
        .map(|(id, z)| TokenProb {
            id,
            logprob: f64::from(z) - lse,
        })
        .collect()
}

/// Up to this many, [`top_logits`] keeps its list by insertion; beyond, it selects among all candidates.
const INSERTION_MAX: usize = 256;

/// The `n` largest finite logits with their ids, descending, ties by lower id.
///
/// For small `n` it keeps a sorted list while reading the logits once, skipping a whole chunk whose largest
/// logit cannot enter it (ids ascend, so a tie with the list's last entry loses).
pub(crate) fn top_logits(logits: &[f32], n: usize) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    let by_prob = |a: &(u32, f32), b: &(u32, f32)| desc_then_id(a.1, a.0, b.1, b.0);
    if n > INSERTION_MAX {
        let mut cands: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, z)| **z > f32::NEG_INFINITY)
            .map(|(i, &z)| (i as u32, z))
            .collect();
        if n < cands.len() {
            cands.select_nth_unstable_by(n - 1, by_prob);
            cands.truncate(n);
        }
        cands.sort_unstable_by(by_prob);
        return cands;
    }
    const CHUNK: usize = 64;
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    // A logit must be above this to enter: the last entry once the list is full.
    let mut floor = f32::NEG_INFINITY;
    for (c, chunk) in logits.chunks(CHUNK).enumerate() {
        let chunk_max = chunk
            .iter()
            .fold(f32::NEG_INFINITY, |m, &z| if z > m { z } else { m });
        if chunk_max <= floor {
            continue;
        }
        for (j, &z) in chunk.iter().enumerate() {
            if z > floor {
                // After every entry with a logit ≥ z: equal logits have lower ids.
                let at = best.partition_point(|e| e.1 >= z);
                best.insert(at, ((c * CHUNK + j) as u32, z));
                if best.len() > n {
                    best.pop();
                }
                if best.len() == n {
                    floor = best[n - 1].1;
                }
            }
        }
    }
    best
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

    /// Model-like pseudo-random logits over the default model's vocabulary, with ties and -inf.
    fn big_vocab() -> Vec<f32> {
        (0..49_152u32)
            .map(|i| match i % 1000 {
                0 => f32::NEG_INFINITY,
                1 => 3.5,
                _ => ((i.wrapping_mul(2_654_435_761) >> 12) % 4000) as f32 / 250.0 - 8.0,
            })
            .collect()
    }

    #[test]
    fn fast_exp_is_within_two_f32_ulps() {
        assert_eq!(exp_le0(0.0), 1.0);
        assert_eq!(exp_le0(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_le0(-87.0), 0.0);
        let mut x = -86.99f32;
        while x <= 0.0 {
            let exact = f64::from(x).exp();
            let rel = (f64::from(exp_le0(x)) / exact - 1.0).abs();
            assert!(rel < 2.4e-7, "e^{x}: relative error {rel}");
            x += 0.000_77;
        }
    }

    #[test]
    fn summarize_matches_f64_sums_on_a_large_vocabulary() {
        let z = big_vocab();
        let m = f64::from(z.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let (mut s, mut sd) = (0.0f64, 0.0f64);
        for &v in z.iter().filter(|v| **v > f32::NEG_INFINITY) {
            let d = f64::from(v) - m;
            s += d.exp();
            sd += d.exp() * d;
        }
        let got = summarize(&z).unwrap();
        assert!((got.lse - (m + s.ln())).abs() < 1e-7, "{got:?}");
        assert!((got.entropy - (s.ln() - sd / s)).abs() < 1e-6, "{got:?}");
        assert!((exact_lse(&z).unwrap() - (m + s.ln())).abs() < 1e-12);
    }

    #[test]
    fn top_n_matches_a_full_sort_for_small_and_large_n() {
        let z = big_vocab();
        let mut order: Vec<u32> = (0..z.len() as u32)
            .filter(|&i| z[i as usize] > f32::NEG_INFINITY)
            .collect();
        order.sort_by(|&a, &b| desc_then_id(z[a as usize], a, z[b as usize], b));
        for n in [1, 20, 256, 257, 5000] {
            let ids: Vec<u32> = top_n(&z, 0.0, n).iter().map(|t| t.id).collect();
            assert_eq!(ids, order[..n], "n = {n}");
        }
    }
}
