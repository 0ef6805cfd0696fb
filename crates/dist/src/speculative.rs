//! Speculative decoding's verification step (metrics.md §5; Leviathan et al. 2023, Chen et al. 2023).
//!
//! Target `p` and draft `q` are both [`Warped`] (after the same warpers). Each drafted token is accepted with
//! probability `min(1, p(x)/q(x))`; at the first rejection the replacement comes from the residual
//! `norm(max(0, p - q))`; when every draft is accepted a bonus token comes from the next `p`. The emitted
//! tokens are then distributed exactly as `p` (tested statistically below).

use serde::{Deserialize, Serialize};

use crate::{DistError, Sampler, Warped};

/// `min(1, p/q)`: the chance the target keeps a drafted token. A draft with `q = 0` cannot have been drawn;
/// it is accepted exactly when the target allows it.
pub fn acceptance_probability(p: f64, q: f64) -> f64 {
    if q <= 0.0 {
        if p > 0.0 { 1.0 } else { 0.0 }
    } else {
        (p / q).min(1.0)
    }
}

/// `β = Σ min(p, q) = 1 - TV(p, q)`: the probability that one drafted token is accepted.
pub fn beta(p: &Warped, q: &Warped) -> f64 {
    let mut sum = 0.0;
    merge(p, q, |_, px, qx| sum += px.min(qx));
    sum.min(1.0)
}

/// Calls `f(id, p(id), q(id))` for every id kept by either distribution, in one pass over both id-sorted lists
/// (a full 49k-token distribution would otherwise cost a binary search per token).
fn merge(p: &Warped, q: &Warped, mut f: impl FnMut(u32, f64, f64)) {
    let (mut pi, mut qi) = (p.iter().peekable(), q.iter().peekable());
    loop {
        match (pi.peek().copied(), qi.peek().copied()) {
            (Some((a, pa)), Some((b, qb))) => {
                if a == b {
                    f(a, pa, qb);
                    pi.next();
                    qi.next();
                } else if a < b {
                    f(a, pa, 0.0);
                    pi.next();
                } else {
                    f(b, 0.0, qb);
                    qi.next();
                }
            }
            (Some((a, pa)), None) => {
                f(a, pa, 0.0);
                pi.next();
            }
            (None, Some((b, qb))) => {
                f(b, 0.0, qb);
                qi.next();
            }
            (None, None) => break,
        }
    }
}

/// The residual `norm(max(0, p - q))` sampled from after a rejection. When `p ≤ q` everywhere (p = q up to
/// rounding) no rejection has positive probability; `p` itself is returned so sampling stays defined.
pub fn residual(p: &Warped, q: &Warped) -> Warped {
    let mut weights = Vec::with_capacity(p.kept());
    merge(p, q, |id, px, qx| {
        if px > qx {
            weights.push((id, px - qx));
        }
    });
    Warped::from_weights(weights).unwrap_or_else(|_| p.clone())
}

/// Expected tokens per target call, `(1 - α^(γ+1)) / (1 - α)`, for acceptance rate α and γ drafts per call.
pub fn expected_tokens_per_call(alpha: f64, gamma: usize) -> Result<f64, DistError> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(DistError::InvalidParam {
            name: "alpha",
            value: alpha,
            expected: "in [0, 1]",
        });
    }
    if alpha == 1.0 {
        return Ok(gamma as f64 + 1.0);
    }
    let exp = i32::try_from(gamma + 1).unwrap_or(i32::MAX);
    Ok((1.0 - alpha.powi(exp)) / (1.0 - alpha))
}

/// What happened to one drafted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Rejected,
    /// An earlier draft was rejected, so this one was never checked.
    Skipped,
}

/// One drafted token as the target judged it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DraftCheck {
    pub id: u32,
    /// Draft probability of the token.
    pub q: f64,
    /// Target probability of the token.
    pub p: f64,
    /// `min(1, p/q)`.
    pub accept_prob: f64,
    /// `Σ min(p, q)` at this position.
    pub beta: f64,
    pub outcome: Outcome,
}

/// Where the token after the accepted drafts came from.
#[derive(Debug, Clone, PartialEq)]
pub enum NextSource {
    /// Sampled from this residual after a rejection.
    Residual(Warped),
    /// Sampled from the target's distribution after every draft was accepted.
    Bonus,
}

/// The result of verifying one block of drafts.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// One entry per draft, in order.
    pub checks: Vec<DraftCheck>,
    /// Drafts accepted (a prefix of `checks`).
    pub accepted: usize,
    /// The token emitted after the accepted drafts.
    pub next: u32,
    pub source: NextSource,
}

/// Verifies `drafts` (each a token and the draft distribution it was drawn from) against `targets`, the
/// target's distributions at each draft position plus one more (the bonus position).
///
/// `accept_rng` draws the acceptance uniforms; `token_rng` draws the replacement or bonus token. Keeping the
/// streams apart means that with `q = p` every token comes from `token_rng` in order, as in plain sampling.
/// With greedy (one-hot) `p` this is exact match: `p(x)` is 1 for the argmax and 0 otherwise.
pub fn verify(
    drafts: &[(u32, &Warped)],
    targets: &[Warped],
    accept_rng: &mut Sampler,
    token_rng: &mut Sampler,
) -> Result<Verification, DistError> {
    if targets.len() != drafts.len() + 1 {
        return Err(DistError::LengthMismatch {
            left: drafts.len() + 1,
            right: targets.len(),
        });
    }
    let mut checks = Vec::with_capacity(drafts.len());
    let mut rejected_at = None;
    for (i, (&(id, q), p)) in drafts.iter().zip(targets).enumerate() {
        let (px, qx) = (p.prob(id), q.prob(id));
        let accept_prob = acceptance_probability(px, qx);
        let outcome = if rejected_at.is_some() {
            Outcome::Skipped
        } else if accept_rng.uniform() < accept_prob {
            Outcome::Accepted
        } else {
            rejected_at = Some(i);
            Outcome::Rejected
        };
        checks.push(DraftCheck {
            id,
            q: qx,
            p: px,
            accept_prob,
            beta: beta(p, q),
            outcome,
        });
    }
    Ok(match rejected_at {
        Some(i) => {
            let res = residual(&targets[i], drafts[i].1);
            Verification {
                checks,
                accepted: i,
                next: token_rng.sample(&res),
                source: NextSource::Residual(res),
            }
        }
        None => Verification {
            checks,
            accepted: drafts.len(),
            next: token_rng.sample(&targets[drafts.len()]),
            source: NextSource::Bonus,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
    const Q: [f64; 4] = [0.2, 0.5, 0.2, 0.1];

    fn dist(p: &[f64]) -> Warped {
        Warped::from_weights(p.iter().enumerate().map(|(i, &x)| (i as u32, x))).unwrap()
    }

    #[test]
    fn worked_beta_residual_and_expected_tokens() {
        let (p, q) = (dist(&P), dist(&Q));
        assert!((beta(&p, &q) - 0.7).abs() < 1e-12);
        assert!((beta(&p, &q) - (1.0 - crate::tv(&P, &Q).unwrap())).abs() < 1e-12);
        let r = residual(&p, &q);
        assert_eq!(r.kept(), 1);
        assert!((r.prob(0) - 1.0).abs() < 1e-12);
        for (gamma, want) in [(1, 1.7), (2, 2.19), (4, 2.7731), (8, 3.1988)] {
            let got = expected_tokens_per_call(0.7, gamma).unwrap();
            assert!((got - want).abs() < 1e-4, "γ={gamma}: {got}");
        }
        assert_eq!(expected_tokens_per_call(1.0, 4).unwrap(), 5.0);
        assert_eq!(expected_tokens_per_call(0.0, 4).unwrap(), 1.0);
        assert!(expected_tokens_per_call(1.5, 4).is_err());
    }

    #[test]
    fn beta_and_residual_over_different_supports() {
        let p = Warped::from_weights([(0, 0.6), (2, 0.4)]).unwrap();
        let q = Warped::from_weights([(1, 0.5), (2, 0.5), (7, 0.0)]).unwrap();
        assert!((beta(&p, &q) - 0.4).abs() < 1e-12);
        let r = residual(&p, &q);
        assert_eq!(r.kept(), 1);
        assert!((r.prob(0) - 1.0).abs() < 1e-12);
        let disjoint = Warped::one_hot(5);
        assert_eq!(beta(&p, &disjoint), 0.0);
        assert_eq!(residual(&p, &disjoint), p);
    }

    #[test]
    fn acceptance_probability_cases() {
        assert_eq!(acceptance_probability(0.3, 0.5), 0.6);
        assert_eq!(acceptance_probability(0.5, 0.2), 1.0);
        assert_eq!(acceptance_probability(0.0, 0.0), 0.0);
        assert_eq!(acceptance_probability(0.4, 1.0), 0.4);
    }

    #[test]
    fn identical_draft_is_always_accepted_and_token_stream_matches_plain_sampling() {
        let p = dist(&P);
        let mut plain = Sampler::new(11);
        let (mut acc, mut tok) = (Sampler::new(99), Sampler::new(11));
        for _ in 0..200 {
            let d1 = tok.sample(&p);
            let d2 = tok.sample(&p);
            let v = verify(
                &[(d1, &p), (d2, &p)],
                &[p.clone(), p.clone(), p.clone()],
                &mut acc,
                &mut tok,
            )
            .unwrap();
            assert_eq!(v.accepted, 2);
            assert_eq!(v.source, NextSource::Bonus);
            let want = [plain.sample(&p), plain.sample(&p), plain.sample(&p)];
            assert_eq!([d1, d2, v.next], want);
        }
    }

    #[test]
    fn greedy_is_exact_match() {
        let p = Warped::one_hot(2);
        let good = Warped::one_hot(2);
        let bad = Warped::one_hot(1);
        let (mut a, mut t) = (Sampler::new(1), Sampler::new(2));
        let v = verify(
            &[(2, &good), (1, &bad)],
            &[p.clone(), p.clone(), p.clone()],
            &mut a,
            &mut t,
        )
        .unwrap();
        assert_eq!(v.accepted, 1);
        let outcomes: Vec<Outcome> = v.checks.iter().map(|c| c.outcome).collect();
        assert_eq!(outcomes, [Outcome::Accepted, Outcome::Rejected]);
        assert_eq!(
            v.next, 2,
            "the residual of one-hot p against a wrong one-hot q is p"
        );
        let v = verify(
            &[(1, &bad), (2, &good)],
            &[p.clone(), p.clone(), p],
            &mut a,
            &mut t,
        )
        .unwrap();
        assert_eq!(v.accepted, 0);
        assert_eq!(v.checks[1].outcome, Outcome::Skipped);
    }

    #[test]
    fn wrong_number_of_targets_is_an_error() {
        let p = dist(&P);
        let (mut a, mut t) = (Sampler::new(1), Sampler::new(2));
        assert!(verify(&[(0, &p)], std::slice::from_ref(&p), &mut a, &mut t).is_err());
    }

    /// Chi-square statistic of observed counts against expected probabilities.
    fn chi2(counts: &[usize], probs: &[f64]) -> f64 {
        let n: usize = counts.iter().sum();
        counts
            .iter()
            .zip(probs)
            .map(|(&c, &p)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum()
    }

    #[test]
    fn speculative_output_is_distributed_as_the_target() {
        // A toy Markov "model" over 4 tokens: target and draft rows differ, the next-token distribution
        // depends on the previous token. Sequences are built round by round exactly as the session does
        // (draft γ tokens from q, verify against p), and every transition prev → next is counted: each row
        // of counts must follow p's row. 16.27 is the 0.999 quantile of chi-square with 3 dof; 4 rows are
        // tested, so the family-wise false-alarm rate is below 0.4%.
        let p_rows = [
            [0.5, 0.3, 0.15, 0.05],
            [0.1, 0.1, 0.7, 0.1],
            [0.25, 0.25, 0.25, 0.25],
            [0.05, 0.6, 0.05, 0.3],
        ];
        let q_rows = [
            [0.2, 0.5, 0.2, 0.1],
            [0.4, 0.1, 0.1, 0.4],
            [0.7, 0.1, 0.1, 0.1],
            [0.05, 0.6, 0.05, 0.3],
        ];
        let p: Vec<Warped> = p_rows.iter().map(|r| dist(r)).collect();
        let q: Vec<Warped> = q_rows.iter().map(|r| dist(r)).collect();
        let mut counts = [[0usize; 4]; 4];
        let (mut draft_rng, mut acc, mut tok) = (Sampler::new(5), Sampler::new(6), Sampler::new(7));
        let mut last = 0u32;
        let mut emitted = 0;
        let mut round = 0usize;
        while emitted < 120_000 {
            let gamma = 1 + round % 4;
            round += 1;
            let mut drafts = Vec::new();
            let mut prev = last;
            for _ in 0..gamma {
                let d = draft_rng.sample(&q[prev as usize]);
                drafts.push((d, &q[prev as usize]));
                prev = d;
            }
            let mut targets = vec![p[last as usize].clone()];
            targets.extend(drafts.iter().map(|&(d, _)| p[d as usize].clone()));
            let v = verify(&drafts, &targets, &mut acc, &mut tok).unwrap();
            let out = drafts[..v.accepted].iter().map(|d| d.0).chain([v.next]);
            for t in out {
                counts[last as usize][t as usize] += 1;
                last = t;
                emitted += 1;
            }
        }
        for (row, probs) in counts.iter().zip(&p_rows) {
            let c = chi2(row, probs);
            assert!(c < 16.27, "chi2 = {c}, counts = {row:?}, p = {probs:?}");
        }
        // The draft must not simply be the output: with this q, plain draft sampling fails the same test.
        let mut alt = [[0usize; 4]; 4];
        let mut s = Sampler::new(8);
        let mut last = 0u32;
        for _ in 0..120_000 {
            let t = s.sample(&q[last as usize]);
            alt[last as usize][t as usize] += 1;
            last = t;
        }
        assert!(chi2(&alt[0], &p_rows[0]) > 1000.0);
    }
}
