//! Multi-draft speculative decoding (metrics.md §5c): SpecTr's K-SEQ verification of k i.i.d. drafts, and the
//! optimal acceptance rate any multi-draft verifier can reach (Hu et al., ICLR 2025). Over dense probability
//! vectors `p` (target) and `q` (draft) of one vocabulary.

use crate::softmax::check_probs;
use crate::{DistError, Sampler, Warped};

fn check_pair(p: &[f64], q: &[f64]) -> Result<(), DistError> {
    if p.len() != q.len() {
        return Err(DistError::LengthMismatch {
            left: p.len(),
            right: q.len(),
        });
    }
    check_probs(p)?;
    check_probs(q)
}

fn check_k(k: usize) -> Result<(), DistError> {
    if k == 0 {
        return Err(DistError::InvalidParam {
            name: "k",
            value: 0.0,
            expected: ">= 1",
        });
    }
    Ok(())
}

/// `β(ρ) = Σ min(q, p/ρ)`.
pub fn kseq_beta(p: &[f64], q: &[f64], rho: f64) -> f64 {
    p.iter().zip(q).map(|(&pi, &qi)| qi.min(pi / rho)).sum()
}

/// SpecTr's ρ*: the smallest ρ in [1, k] with `1 - (1-β(ρ))^k ≤ ρ β(ρ)`, by bisection (the gap grows with ρ),
/// and the acceptance probability `1 - (1-β(ρ*))^k` it gives.
pub fn kseq_rho(p: &[f64], q: &[f64], k: usize) -> Result<(f64, f64), DistError> {
    check_pair(p, q)?;
    check_k(k)?;
    let kf = k as f64;
    let accept = |rho: f64| 1.0 - (1.0 - kseq_beta(p, q, rho)).powi(k as i32);
    let ok = |rho: f64| accept(rho) <= rho * kseq_beta(p, q, rho) + 1e-15;
    let (mut lo, mut hi) = (1.0, kf);
    if ok(lo) {
        hi = lo;
    } else {
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if ok(mid) { hi = mid } else { lo = mid }
        }
    }
    Ok((hi, accept(hi)))
}

/// K-SEQ verification: each draft `X_i` in turn is accepted with probability `min(1, p(X_i)/(ρ q(X_i)))`,
/// the first accepted one wins; if none is, the token comes from `p_res ∝ p - min(q, p/ρ)·(1-(1-β)^k)/β`.
/// Returns the index of the accepted draft (or `None`) and the emitted token.
pub fn kseq_verify(
    p: &[f64],
    q: &[f64],
    drafts: &[u32],
    rho: f64,
    rng: &mut Sampler,
) -> Result<(Option<usize>, u32), DistError> {
    check_pair(p, q)?;
    check_k(drafts.len())?;
    for (i, &x) in drafts.iter().enumerate() {
        let (px, qx) = (p.get(x as usize), q.get(x as usize));
        let (Some(&px), Some(&qx)) = (px, qx) else {
            return Err(DistError::TokenOutOfRange {
                id: x,
                vocab: p.len(),
            });
        };
        let accept = if qx > 0.0 {
            (px / (rho * qx)).min(1.0)
        } else {
            0.0
        };
        if rng.uniform() < accept {
            return Ok((Some(i), x));
        }
    }
    let beta = kseq_beta(p, q, rho);
    let scale = if beta > 0.0 {
        (1.0 - (1.0 - beta).powi(drafts.len() as i32)) / beta
    } else {
        0.0
    };
    let res = p
        .iter()
        .zip(q)
        .enumerate()
        .map(|(i, (&pi, &qi))| (i as u32, (pi - qi.min(pi / rho) * scale).max(0.0)));
    let res = Warped::from_weights(res)
        .or_else(|_| Warped::from_weights(p.iter().enumerate().map(|(i, &pi)| (i as u32, pi))))?;
    Ok((None, rng.sample(&res)))
}

/// Optimal multi-draft acceptance `α* = 1 - max_A [p(A) - P(∃j: X_j ∈ A)]` for `n` drafts from `q`, searching
/// the prefixes A of tokens sorted by p/q descending. `with_replacement` picks i.i.d. drafts, else distinct
/// drafts drawn one after another from q renormalised (exact enumeration: errors past 10⁷ draw sequences).
pub fn optimal_acceptance(
    p: &[f64],
    q: &[f64],
    n: usize,
    with_replacement: bool,
) -> Result<f64, DistError> {
    check_pair(p, q)?;
    check_k(n)?;
    let mut order: Vec<usize> = (0..p.len()).collect();
    // p/q descending, q = 0 (ratio +inf) first; ties by lower id.
    let ratio = |i: usize| {
        if q[i] > 0.0 {
            p[i] / q[i]
        } else {
            f64::INFINITY
        }
    };
    order.sort_by(|&a, &b| ratio(b).total_cmp(&ratio(a)).then(a.cmp(&b)));
    let mut best = 0.0f64;
    let mut in_a = vec![false; p.len()];
    let (mut p_a, mut q_a) = (0.0, 0.0);
    for &i in &order {
        in_a[i] = true;
        p_a += p[i];
        q_a += q[i];
        let hit = if with_replacement {
            1.0 - (1.0 - q_a).max(0.0).powi(n as i32)
        } else {
            let outside: Vec<f64> = (0..p.len())
                .filter(|&j| !in_a[j] && q[j] > 0.0)
                .map(|j| q[j])
                .collect();
            let leaves = (outside.len() as f64).powi(n as i32);
            if leaves > 1e7 {
                return Err(DistError::InvalidParam {
                    name: "n",
                    value: n as f64,
                    expected: "few enough drafts to enumerate (support^n <= 1e7)",
                });
            }
            1.0 - all_outside(&outside, &mut vec![false; outside.len()], n, 0.0)
        };
        best = best.max(p_a - hit);
    }
    Ok((1.0 - best).clamp(0.0, 1.0))
}

/// Probability that `n` draws without replacement from q all land in `outside` (q's tokens outside A),
/// given `used` mass already drawn.
fn all_outside(outside: &[f64], taken: &mut [bool], n: usize, used: f64) -> f64 {
    if n == 0 || used >= 1.0 - 1e-15 {
        return 1.0;
    }
    let mut total = 0.0;
    for j in 0..outside.len() {
        if taken[j] {
            continue;
        }
        taken[j] = true;
        total += outside[j] / (1.0 - used) * all_outside(outside, taken, n - 1, used + outside[j]);
        taken[j] = false;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
    const Q: [f64; 4] = [0.2, 0.5, 0.2, 0.1];

    #[test]
    fn worked_kseq_rho_and_acceptance() {
        let (rho, acc) = kseq_rho(&P, &Q, 2).unwrap();
        assert!(
            (rho - 1.4568).abs() < 1e-4 && (acc - 0.7914).abs() < 1e-4,
            "{rho} {acc}"
        );
        let (rho, acc) = kseq_rho(&P, &Q, 4).unwrap();
        assert!(
            (rho - 2.0300).abs() < 1e-4 && (acc - 0.9060).abs() < 1e-4,
            "{rho} {acc}"
        );
        // One draft is plain speculative sampling: ρ* = 1, acceptance β = 0.7.
        let (rho, acc) = kseq_rho(&P, &Q, 1).unwrap();
        assert!((rho - 1.0).abs() < 1e-12 && (acc - 0.7).abs() < 1e-12);
        assert!(kseq_rho(&P, &Q, 0).is_err());
    }

    #[test]
    fn worked_optimal_acceptance() {
        let cases = [
            (1, true, 0.70),
            (2, true, 0.86),
            (2, false, 0.9722),
            (3, true, 0.988),
            (3, false, 1.0),
        ];
        for (n, with, want) in cases {
            let got = optimal_acceptance(&P, &Q, n, with).unwrap();
            assert!((got - want).abs() < 1e-4, "n={n} with={with}: {got}");
        }
        // K-SEQ cannot beat the optimum.
        assert!(
            kseq_rho(&P, &Q, 2).unwrap().1 <= optimal_acceptance(&P, &Q, 2, true).unwrap() + 1e-12
        );
    }

    #[test]
    fn kseq_output_is_distributed_as_the_target() {
        // 100,000 K-SEQ steps with k = 3 i.i.d. drafts; chi-square with 3 dof, 0.999 quantile 16.27.
        let k = 3;
        let (rho, _) = kseq_rho(&P, &Q, k).unwrap();
        let q = Warped::from_weights(Q.iter().enumerate().map(|(i, &x)| (i as u32, x))).unwrap();
        let (mut draft_rng, mut rng) = (Sampler::new(21), Sampler::new(22));
        let mut counts = [0usize; 4];
        let mut accepted = 0usize;
        let n = 100_000;
        for _ in 0..n {
            let drafts: Vec<u32> = (0..k).map(|_| draft_rng.sample(&q)).collect();
            let (hit, tok) = kseq_verify(&P, &Q, &drafts, rho, &mut rng).unwrap();
            accepted += usize::from(hit.is_some());
            counts[tok as usize] += 1;
        }
        let chi2: f64 = counts
            .iter()
            .zip(P)
            .map(|(&c, p)| (c as f64 - p * n as f64).powi(2) / (p * n as f64))
            .sum();
        assert!(chi2 < 16.27, "chi2 = {chi2}, counts = {counts:?}");
        let rate = accepted as f64 / n as f64;
        let want = kseq_rho(&P, &Q, k).unwrap().1;
        assert!((rate - want).abs() < 0.01, "acceptance {rate} vs {want}");
    }
}
