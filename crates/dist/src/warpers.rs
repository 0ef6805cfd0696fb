//! Sampling warpers in Hugging Face order and semantics (metrics.md §3): repetition penalty → temperature →
//! top-k → top-p → min-p → typical, `min_tokens_to_keep = 1`, temperature 0 = greedy.
//!
//! The result is sparse ([`Warped`]): only the kept tokens are stored, so top-k 40 over 49k tokens stays cheap.

use std::cmp::Ordering;

use crate::DistError;
use crate::params::SamplingParams;
use crate::select::head_reaching;
use crate::softmax::{
    ExpSums, Scan, Summary, TokenProb, desc_then_id, exp_le0, exp_sums, scan, top_logits,
};

/// The sampling distribution after the warpers: the kept tokens and their renormalised log-probabilities.
/// Never empty, so sampling from it always succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Warped {
    kept: Kept,
    /// Computed once when built: every step reports it and feeds it to the branching factor.
    entropy: f64,
}

/// How the kept tokens are stored.
#[derive(Debug, Clone, PartialEq)]
enum Kept {
    /// Truncated (or explicit) distributions: only the kept tokens, ascending id.
    Sparse {
        ids: Vec<u32>,
        logprobs: Vec<f64>,
        /// `exp(logprobs)`, kept so iteration and sampling do not recompute the exponentials.
        probs: Vec<f64>,
    },
    /// Untruncated warps: every finite logit is kept, with `ln p = z·scale - lse`; nothing vocabulary-sized is
    /// built beyond the (penalised) logits themselves. Probabilities (`prob`, `iter`, `quantile`) are the f32
    /// exponentials `e^d` divided by their f64 sum `S`, so they add up to 1 within f64 rounding; each is within
    /// ~1e-7 (relative) of `exp(logprob)`.
    Dense {
        z: Vec<f32>,
        /// `1 / T`.
        scale: f64,
        lse: f64,
        /// The exponential sums of `z·scale` (from the largest logit `max`): the quantile walks the same
        /// `e^d / S` they add up to, so its cumulative mass ends at 1 within f64 rounding.
        max: f32,
        sums: ExpSums,
        kept: usize,
    },
}

impl Warped {
    /// A sparse distribution from ascending ids and their log-probabilities.
    fn sparse(ids: Vec<u32>, logprobs: Vec<f64>, probs: Vec<f64>) -> Self {
        let h: f64 = probs
            .iter()
            .zip(&logprobs)
            .map(|(&p, &lp)| if p > 0.0 { -p * lp } else { 0.0 })
            .sum();
        Self {
            kept: Kept::Sparse {
                ids,
                logprobs,
                probs,
            },
            entropy: h.max(0.0),
        }
    }

    /// Entropy in nats of the kept, renormalised distribution: the `H̃_t` of the branching factor (§2).
    pub fn entropy(&self) -> f64 {
        self.entropy
    }

    /// How many tokens survived the warpers.
    pub fn kept(&self) -> usize {
        match &self.kept {
            Kept::Sparse { ids, .. } => ids.len(),
            Kept::Dense { kept, .. } => *kept,
        }
    }

    /// Log-probability of a token under the sampling distribution; `None` if a warper removed it.
    pub fn logprob(&self, id: u32) -> Option<f64> {
        match &self.kept {
            Kept::Sparse { ids, logprobs, .. } => ids.binary_search(&id).ok().map(|i| logprobs[i]),
            Kept::Dense { z, scale, lse, .. } => z
                .get(id as usize)
                .filter(|&&v| v > f32::NEG_INFINITY)
                .map(|&v| f64::from(v) * scale - lse),
        }
    }

    /// Probability of a token under the sampling distribution; 0 if a warper removed it.
    pub fn prob(&self, id: u32) -> f64 {
        match &self.kept {
            Kept::Sparse { ids, probs, .. } => ids.binary_search(&id).map_or(0.0, |i| probs[i]),
            Kept::Dense {
                z,
                scale,
                max,
                sums,
                ..
            } => z.get(id as usize).map_or(0.0, |&v| {
                f64::from(exp_le0((v - max) * *scale as f32)) / sums.s
            }),
        }
    }

    /// Kept tokens and their probabilities, in ascending id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        let (sparse, dense) = match &self.kept {
            Kept::Sparse { ids, probs, .. } => {
                (Some(ids.iter().copied().zip(probs.iter().copied())), None)
            }
            Kept::Dense {
                z,
                scale,
                max,
                sums,
                ..
            } => {
                let (scale, max, total) = (*scale as f32, *max, sums.s);
                let dense = z
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > f32::NEG_INFINITY)
                    .map(move |(i, &v)| (i as u32, f64::from(exp_le0((v - max) * scale)) / total));
                (None, Some(dense))
            }
        };
        sparse
            .into_iter()
            .flatten()
            .chain(dense.into_iter().flatten())
    }

    /// The `n` most probable kept tokens, descending, ties by lower id, for the "sampling distribution" view.
    pub fn top(&self, n: usize) -> Vec<TokenProb> {
        if n == 0 {
            return Vec::new();
        }
        match &self.kept {
            Kept::Sparse { ids, logprobs, .. } => {
                let mut all: Vec<TokenProb> = ids
                    .iter()
                    .zip(logprobs)
                    .map(|(&id, &logprob)| TokenProb { id, logprob })
                    .collect();
                let cmp =
                    |a: &TokenProb, b: &TokenProb| desc_then_id(a.logprob, a.id, b.logprob, b.id);
                if n < all.len() {
                    all.select_nth_unstable_by(n - 1, cmp);
                    all.truncate(n);
                }
                all.sort_unstable_by(cmp);
                all
            }
            // scale > 0 keeps the order of the logits.
            Kept::Dense { z, scale, lse, .. } => top_logits(z, n)
                .into_iter()
                .map(|(id, v)| TokenProb {
                    id,
                    logprob: f64::from(v) * scale - lse,
                })
                .collect(),
        }
    }

    /// Inverse CDF: the token where the cumulative probability, in descending-probability order (ties by id),
    /// first exceeds `u ∈ [0, 1)`. The fixed order makes a seed give the same token on every platform, and
    /// u near 0 picks the likeliest token, so the UI can show u against the sorted bars. A NaN `u` counts as 0;
    /// a `u` that rounding puts beyond the total mass gives the last token of the walk.
    pub fn quantile(&self, u: f64) -> u32 {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        let cmp = |a: &(u32, f64), b: &(u32, f64)| desc_then_id(a.1, a.0, b.1, b.0);
        match &self.kept {
            Kept::Sparse { ids, probs, .. } => {
                if ids.len() == 1 {
                    return ids[0];
                }
                let mut items: Vec<(u32, f64)> = self.iter().collect();
                let target = u * probs.iter().sum::<f64>();
                let n = head_reaching(&mut items, cmp, |t| t.1, |cum| cum > target);
                items[n.unwrap_or(items.len()) - 1].0
            }
            Kept::Dense {
                z,
                scale,
                max,
                sums,
                ..
            } => {
                // Only the head of the order is needed: take the tokens above a probability cut (a prefix of
                // the order, ties included), and lower the cut only when their mass does not reach u.
                let scale32 = *scale as f32;
                let p = |v: f32| f64::from(exp_le0((v - max) * scale32)) / sums.s;
                let mut items: Vec<(u32, f64)> = Vec::new();
                for cut in [1e-3f64, 1e-6, 1e-9, 0.0] {
                    // p ≥ cut  ⇔  (z - max)·scale ≥ ln(cut · S); f32 rounding only moves the cut a little.
                    let floor = if cut > 0.0 {
                        max + ((cut * sums.s).ln() / scale) as f32
                    } else {
                        f32::NEG_INFINITY
                    };
                    items.clear();
                    items.extend(
                        z.iter()
                            .enumerate()
                            .filter(|(_, v)| **v >= floor && **v > f32::NEG_INFINITY)
                            .map(|(i, &v)| (i as u32, p(v))),
                    );
                    if let Some(n) = head_reaching(&mut items, cmp, |t| t.1, |cum| cum > u) {
                        return items[n - 1].0;
                    }
                }
                // Rounding left u beyond the whole mass (items is then every kept token, sorted).
                items.last().map_or(0, |t| t.0)
            }
        }
    }

    /// A distribution from explicit `(id, weight)` pairs, renormalised; zero weights are dropped. Speculative
    /// decoding needs it for the residual `norm(max(0, p - q))` and for count-based drafters.
    ///
    /// Errors on a negative or non-finite weight, a repeated id, or no positive weight.
    pub fn from_weights(pairs: impl IntoIterator<Item = (u32, f64)>) -> Result<Self, DistError> {
        let mut kept: Vec<(u32, f64)> = Vec::new();
        for (index, (id, w)) in pairs.into_iter().enumerate() {
            if !(w.is_finite() && w >= 0.0) {
                return Err(DistError::InvalidProbability { index, value: w });
            }
            if w > 0.0 {
                kept.push((id, w));
            }
        }
        kept.sort_unstable_by_key(|t| t.0);
        if let Some(pair) = kept.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(DistError::InvalidParam {
                name: "id",
                value: f64::from(pair[0].0),
                expected: "each id at most once",
            });
        }
        let total: f64 = kept.iter().map(|t| t.1).sum();
        if kept.is_empty() || total <= 0.0 {
            return Err(DistError::Empty);
        }
        let probs: Vec<f64> = kept.iter().map(|t| t.1 / total).collect();
        Ok(Self::sparse(
            kept.iter().map(|t| t.0).collect(),
            probs.iter().map(|p| p.ln()).collect(),
            probs,
        ))
    }

    /// A distribution with all its mass on one token (greedy decoding, one-hot drafts).
    pub fn one_hot(id: u32) -> Self {
        Self::sparse(vec![id], vec![0.0], vec![1.0])
    }
}

/// A token still in play, with its current (penalised, tempered) logit in f64.
#[derive(Debug, Clone, Copy)]
struct Cand {
    id: u32,
    z: f64,
}

fn by_prob(a: &Cand, b: &Cand) -> Ordering {
    desc_then_id(a.z, a.id, b.z, b.id)
}

/// Applies the warpers to raw logits and returns the kept tokens with renormalised probabilities.
///
/// `history` is the token ids the repetition penalty looks at (ids outside the vocabulary are ignored; each id
/// is penalised once however often it occurs). Errors on invalid params, NaN/+inf logits, or no finite logit.
pub fn warp(logits: &[f32], params: &SamplingParams, history: &[u32]) -> Result<Warped, DistError> {
    params.validate()?;
    let scan = scan(logits)?;
    warp_scanned(logits, scan, None, params, history)
}

/// [`summarize`](crate::summarize) and [`warp`] of the same logits together, as every generated step needs:
/// when the warpers leave the distribution as it is (temperature 1, no penalty, no truncation) the sampling
/// distribution reuses the raw one's sums instead of a second pass over the vocabulary.
pub fn summarize_and_warp(
    logits: &[f32],
    params: &SamplingParams,
    history: &[u32],
) -> Result<(Summary, Warped), DistError> {
    params.validate()?;
    let scan = scan(logits)?;
    let sums = exp_sums(logits, scan.max, 1.0);
    let summary = Summary {
        lse: sums.lse(scan.max, 1.0),
        entropy: sums.entropy(scan.finite),
        max_logit: scan.max,
    };
    let warped = warp_scanned(logits, scan, Some(sums), params, history)?;
    Ok((summary, warped))
}

/// [`warp`] after the validity scan; `raw_sums` are the exponential sums of the logits at scale 1, if known.
fn warp_scanned(
    logits: &[f32],
    scan: Scan,
    raw_sums: Option<ExpSums>,
    params: &SamplingParams,
    history: &[u32],
) -> Result<Warped, DistError> {
    let penalised = params.repetition_penalty != 1.0 && !history.is_empty();
    let mut z = logits.to_vec();
    if penalised {
        apply_repetition_penalty(&mut z, history, params.repetition_penalty);
    }
    if params.temperature == 0.0 {
        return crate::softmax::argmax(&z).map(Warped::one_hot);
    }
    let truncates = (params.top_k > 0 && params.top_k < scan.finite)
        || params.top_p < 1.0
        || params.min_p > 0.0
        || params.typical < 1.0;
    if !truncates {
        return Ok(dense(z, scan, raw_sums, penalised, params.temperature));
    }
    let inv_t = 1.0 / f64::from(params.temperature);
    let mut cands: Vec<Cand> = z
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > f32::NEG_INFINITY)
        .map(|(i, &v)| Cand {
            id: i as u32,
            z: f64::from(v) * inv_t,
        })
        .collect();
    if params.top_k > 0 {
        keep_top_k(&mut cands, params.top_k);
    }
    if params.top_p < 1.0 {
        keep_top_p(&mut cands, f64::from(params.top_p));
    }
    if params.min_p > 0.0 {
        keep_min_p(&mut cands, f64::from(params.min_p));
    }
    if params.typical < 1.0 {
        keep_typical(&mut cands, f64::from(params.typical));
    }
    if !cands.is_sorted_by_key(|c| c.id) {
        cands.sort_unstable_by_key(|c| c.id);
    }
    let lse = lse(&cands);
    let logprobs: Vec<f64> = cands.iter().map(|c| c.z - lse).collect();
    let probs = logprobs.iter().map(|lp| lp.exp()).collect();
    Ok(Warped::sparse(
        cands.iter().map(|c| c.id).collect(),
        logprobs,
        probs,
    ))
}

/// The untruncated sampling distribution `softmax(z / T)` over the (penalised) logits `z`, whose raw scan is
/// `scan`; `raw_sums` are reused when neither the penalty nor the temperature changed anything.
fn dense(
    z: Vec<f32>,
    scan: Scan,
    raw_sums: Option<ExpSums>,
    penalised: bool,
    temperature: f32,
) -> Warped {
    // The penalty can move the largest logit, never the set of finite ones.
    let max = if penalised {
        z.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    } else {
        scan.max
    };
    let scale = 1.0 / f64::from(temperature);
    let sums = match raw_sums {
        Some(sums) if !penalised && temperature == 1.0 => sums,
        _ => exp_sums(&z, max, scale as f32),
    };
    Warped {
        entropy: sums.entropy(scan.finite),
        kept: Kept::Dense {
            z,
            scale,
            lse: sums.lse(max, scale),
            max,
            sums,
            kept: scan.finite,
        },
    }
}

/// HF `RepetitionPenaltyLogitsProcessor`: each distinct history token's logit is multiplied by the penalty when
/// negative and divided by it otherwise.
fn apply_repetition_penalty(z: &mut [f32], history: &[u32], penalty: f32) {
    let mut seen: Vec<u32> = history.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for id in seen {
        if let Some(v) = z.get_mut(id as usize) {
            *v = if *v < 0.0 { *v * penalty } else { *v / penalty };
        }
    }
}

/// Log-sum-exp over the candidates (never empty here).
fn lse(cands: &[Cand]) -> f64 {
    let m = cands.iter().map(|c| c.z).fold(f64::NEG_INFINITY, f64::max);
    m + cands.iter().map(|c| (c.z - m).exp()).sum::<f64>().ln()
}

/// top-k: drop `z < k-th largest`, so ties at the k-th value are kept.
fn keep_top_k(cands: &mut Vec<Cand>, k: usize) {
    if k >= cands.len() {
        return;
    }
    let (_, kth, _) = cands.select_nth_unstable_by(k - 1, by_prob);
    let threshold = kth.z;
    cands.retain(|c| c.z >= threshold);
}

/// top-p: keep the most probable tokens while the mass before them is below `top_p` (HF removes ascending while
/// `cumsum ≤ 1 - top_p`); the most probable token always stays.
fn keep_top_p(cands: &mut Vec<Cand>, top_p: f64) {
    let lse = lse(cands);
    if let Some(n) = head_reaching(cands, by_prob, |c| (c.z - lse).exp(), |cum| cum >= top_p) {
        cands.truncate(n);
    }
}

/// min-p: drop `p < min_p · max p` (the most probable token always stays since min_p ≤ 1).
fn keep_min_p(cands: &mut Vec<Cand>, min_p: f64) {
    let lse = lse(cands);
    let max_p = cands.iter().map(|c| (c.z - lse).exp()).fold(0.0, f64::max);
    let floor = min_p * max_p;
    cands.retain(|c| (c.z - lse).exp() >= floor);
}

/// typical: `s = |-ln p - H|`, keep the smallest-s tokens until their mass reaches `mass`, plus any token tied
/// with the last kept score (HF removes only `s >` the last kept score).
fn keep_typical(cands: &mut Vec<Cand>, mass: f64) {
    let lse = lse(cands);
    let entropy: f64 = cands
        .iter()
        .map(|c| {
            let lp = c.z - lse;
            -lp.exp() * lp
        })
        .sum();
    // (candidate, s, p)
    let mut scored: Vec<(Cand, f64, f64)> = cands
        .iter()
        .map(|&c| {
            let lp = c.z - lse;
            (c, (-lp - entropy).abs(), lp.exp())
        })
        .collect();
    let cmp =
        |a: &(Cand, f64, f64), b: &(Cand, f64, f64)| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id));
    let n = head_reaching(&mut scored, cmp, |t| t.2, |cum| cum >= mass).unwrap_or(scored.len());
    let last_s = scored[n - 1].1;
    cands.clear();
    cands.extend(scored.iter().filter(|t| t.1 <= last_s).map(|t| t.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];

    fn logits_of(p: &[f64]) -> Vec<f32> {
        p.iter().map(|x| x.ln() as f32).collect()
    }

    fn kept_ids(params: SamplingParams) -> Vec<u32> {
        warp(&logits_of(&P), &params, &[])
            .unwrap()
            .iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn with(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
        let mut p = SamplingParams::default();
        f(&mut p);
        p
    }

    #[test]
    fn default_keeps_everything_unchanged() {
        let w = warp(&logits_of(&P), &SamplingParams::default(), &[]).unwrap();
        assert_eq!(w.kept(), 4);
        for (id, p) in w.iter() {
            assert!((p - P[id as usize]).abs() < 1e-6);
        }
        assert!((w.entropy() - 1.14212).abs() < 1e-5);
    }

    #[test]
    fn worked_top_p() {
        assert_eq!(kept_ids(with(|p| p.top_p = 0.7)), [0, 1]);
        assert_eq!(kept_ids(with(|p| p.top_p = 0.85)), [0, 1, 2]);
        assert_eq!(kept_ids(with(|p| p.top_p = 0.0)), [0]);
    }

    #[test]
    fn worked_min_p() {
        assert_eq!(kept_ids(with(|p| p.min_p = 0.2)), [0, 1, 2]);
        // 0.5 · 0.5 = 0.25: token 1 (0.3) stays, token 2 (0.15) goes.
        assert_eq!(kept_ids(with(|p| p.min_p = 0.5)), [0, 1]);
        // Just above 0.6, token 1 (0.3 < 0.5 · 0.61) goes too.
        assert_eq!(kept_ids(with(|p| p.min_p = 0.61)), [0]);
    }

    #[test]
    fn worked_typical() {
        assert_eq!(kept_ids(with(|p| p.typical = 0.2)), [1]);
        assert_eq!(kept_ids(with(|p| p.typical = 0.5)), [0, 1]);
        assert_eq!(kept_ids(with(|p| p.typical = 0.9)), [0, 1, 2]);
    }

    #[test]
    fn worked_temperature_half_then_top_p() {
        let w = warp(&logits_of(&P), &with(|p| p.temperature = 0.5), &[]).unwrap();
        let expected = [0.6849, 0.2466, 0.0616, 0.0068];
        for (id, p) in w.iter() {
            assert!((p - expected[id as usize]).abs() < 1e-4, "{id}: {p}");
        }
        let ids = kept_ids(with(|p| {
            p.temperature = 0.5;
            p.top_p = 0.9;
        }));
        assert_eq!(ids, [0, 1]);
        let w = warp(
            &logits_of(&P),
            &with(|p| {
                p.temperature = 0.5;
                p.top_p = 0.9;
            }),
            &[],
        )
        .unwrap();
        assert!((w.prob(0) - 0.6849 / (0.6849 + 0.2466)).abs() < 1e-3);
        assert_eq!(w.prob(2), 0.0);
        assert_eq!(w.logprob(2), None);
    }

    #[test]
    fn top_k_keeps_ties_at_the_kth_value() {
        let z = [1.0, 3.0, 2.0, 2.0, 0.0];
        let ids = |k| -> Vec<u32> {
            warp(&z, &with(|p| p.top_k = k), &[])
                .unwrap()
                .iter()
                .map(|t| t.0)
                .collect()
        };
        assert_eq!(ids(1), [1]);
        assert_eq!(ids(2), [1, 2, 3]);
        assert_eq!(ids(3), [1, 2, 3]);
        assert_eq!(ids(4), [0, 1, 2, 3]);
        assert_eq!(ids(99), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn top_k_then_top_p_renormalises_between_steps() {
        // After top-k 2 the kept pair is [0.625, 0.375]; top_p 0.6 then keeps only token 0.
        // Without renormalising, 0.5 < 0.6 would wrongly keep token 1 too.
        let ids = kept_ids(with(|p| {
            p.top_k = 2;
            p.top_p = 0.6;
        }));
        assert_eq!(ids, [0]);
    }

    #[test]
    fn temperature_zero_is_greedy_with_lowest_id_on_ties() {
        let z = [1.0, 3.0, 0.5, 3.0];
        let w = warp(&z, &SamplingParams::greedy(), &[]).unwrap();
        assert_eq!(w.kept(), 1);
        assert_eq!(w.prob(1), 1.0);
        assert_eq!(w.entropy(), 0.0);
        assert_eq!(w.quantile(0.999), 1);
    }

    #[test]
    fn repetition_penalty_follows_hf_signs() {
        // Token 1 (positive logit) is divided, token 2 (negative) multiplied, each once despite repeats.
        let z = [1.0f32, 2.0, -1.0];
        let w = warp(&z, &with(|p| p.repetition_penalty = 2.0), &[1, 1, 2, 77]).unwrap();
        let expect = [1.0f64, 1.0, -2.0];
        let lse = expect.iter().map(|v| v.exp()).sum::<f64>().ln();
        for (id, p) in w.iter() {
            assert!((p - (expect[id as usize] - lse).exp()).abs() < 1e-9);
        }
        // Greedy sees the penalty too: token 0 and 1 now tie at 1.0, lowest id wins.
        let g = warp(
            &z,
            &with(|p| {
                p.repetition_penalty = 2.0;
                p.temperature = 0.0;
            }),
            &[1],
        )
        .unwrap();
        assert_eq!(g.quantile(0.5), 0);
    }

    #[test]
    fn quantile_walks_descending_probability() {
        let w = warp(&logits_of(&P), &SamplingParams::default(), &[]).unwrap();
        assert_eq!(w.quantile(0.0), 0);
        assert_eq!(w.quantile(0.49), 0);
        assert_eq!(w.quantile(0.51), 1);
        assert_eq!(w.quantile(0.79), 1);
        assert_eq!(w.quantile(0.81), 2);
        assert_eq!(w.quantile(0.96), 3);
        assert_eq!(w.quantile(f64::NAN), 0);
    }

    #[test]
    fn from_weights_renormalises_and_rejects_bad_input() {
        let w = Warped::from_weights([(7, 2.0), (3, 0.0), (1, 6.0)]).unwrap();
        assert_eq!(w.kept(), 2);
        assert!((w.prob(1) - 0.75).abs() < 1e-12 && (w.prob(7) - 0.25).abs() < 1e-12);
        assert_eq!(w.prob(3), 0.0);
        assert_eq!(Warped::from_weights([(0, 0.0)]), Err(DistError::Empty));
        assert!(Warped::from_weights([(0, -1.0)]).is_err());
        assert!(Warped::from_weights([(0, f64::NAN)]).is_err());
        assert!(Warped::from_weights([(0, 1.0), (0, 1.0)]).is_err());
        assert_eq!(Warped::one_hot(5).prob(5), 1.0);
    }

    #[test]
    fn top_is_descending() {
        let w = warp(&logits_of(&P), &SamplingParams::default(), &[]).unwrap();
        let ids: Vec<u32> = w.top(3).iter().map(|t| t.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert!((w.top(1)[0].prob() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn invalid_input_is_an_error() {
        let z = logits_of(&P);
        for bad in [
            with(|p| p.temperature = -1.0),
            with(|p| p.temperature = f32::NAN),
            with(|p| p.top_p = 1.5),
            with(|p| p.min_p = -0.1),
            with(|p| p.typical = 0.0),
            with(|p| p.repetition_penalty = 0.0),
        ] {
            assert!(matches!(
                warp(&z, &bad, &[]),
                Err(DistError::InvalidParam { .. })
            ));
        }
        assert_eq!(
            warp(&[f32::NEG_INFINITY], &SamplingParams::default(), &[]),
            Err(DistError::Empty)
        );
        assert!(warp(&[f32::NAN], &SamplingParams::default(), &[]).is_err());
    }

    #[test]
    fn full_vocabulary_top_p_matches_a_sorted_reference() {
        // 49,152 logits: the head search must agree with a plain full sort.
        let z: Vec<f32> = (0..49_152u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) % 10_000) as f32 / 700.0)
            .collect();
        let w = warp(&z, &with(|p| p.top_p = 0.9), &[]).unwrap();
        let lse = crate::summarize(&z).unwrap().lse;
        let mut order: Vec<u32> = (0..z.len() as u32).collect();
        order.sort_by(|&a, &b| desc_then_id(z[a as usize], a, z[b as usize], b));
        let mut before = 0.0;
        let mut expected = Vec::new();
        for id in order {
            if before >= 0.9 {
                break;
            }
            expected.push(id);
            before += (f64::from(z[id as usize]) - lse).exp();
        }
        expected.sort_unstable();
        let got: Vec<u32> = w.iter().map(|t| t.0).collect();
        assert_eq!(got, expected);
        assert!(
            w.kept() > 1000,
            "the head search must go past its first chunk"
        );
    }

    #[test]
    fn dense_warp_agrees_with_the_sparse_path() {
        // min_p 1e-30 removes nothing but takes the sparse (candidate list) path.
        let z: Vec<f32> = (0..49_152u32)
            .map(|i| match i % 997 {
                0 => f32::NEG_INFINITY,
                _ => ((i.wrapping_mul(2_654_435_761) >> 10) % 5000) as f32 / 400.0,
            })
            .collect();
        let history = [3, 5, 5, 800];
        for (temperature, repetition_penalty) in [(1.0, 1.0), (0.7, 1.3), (1.6, 1.0)] {
            let params = with(|p| {
                p.temperature = temperature;
                p.repetition_penalty = repetition_penalty;
            });
            let dense = warp(&z, &params, &history).unwrap();
            let sparse = warp(
                &z,
                &SamplingParams {
                    min_p: 1e-30,
                    ..params
                },
                &history,
            )
            .unwrap();
            assert!(matches!(dense.kept, Kept::Dense { .. }));
            assert!(matches!(sparse.kept, Kept::Sparse { .. }));
            assert_eq!(dense.kept(), sparse.kept());
            assert!((dense.entropy() - sparse.entropy()).abs() < 1e-6);
            for id in [0, 1, 3, 5, 800, 12_345, 49_151] {
                assert_eq!(dense.logprob(id).is_some(), sparse.logprob(id).is_some());
                assert!((dense.prob(id) - sparse.prob(id)).abs() < 1e-9, "{id}");
            }
            assert!(
                dense
                    .iter()
                    .zip(sparse.iter())
                    .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() < 1e-9)
            );
            let ids = |w: &Warped| w.top(30).iter().map(|t| t.id).collect::<Vec<_>>();
            assert_eq!(ids(&dense), ids(&sparse));
            // Away from the boundaries, the same u picks the same token, deep into the tail too.
            let mut agree = 0;
            for k in 0..200 {
                let u = (f64::from(k) + 0.5) / 200.0;
                agree += usize::from(dense.quantile(u) == sparse.quantile(u));
            }
            assert!(agree >= 199, "{agree} of 200 quantiles agree");
        }
    }

    #[test]
    fn summarize_and_warp_equals_the_two_calls() {
        let z = logits_of(&P);
        for params in [SamplingParams::default(), with(|p| p.top_p = 0.7)] {
            let (s, w) = summarize_and_warp(&z, &params, &[]).unwrap();
            assert_eq!(s, crate::summarize(&z).unwrap());
            assert_eq!(w, warp(&z, &params, &[]).unwrap());
        }
        assert!(summarize_and_warp(&[f32::NAN], &SamplingParams::default(), &[]).is_err());
    }
}
