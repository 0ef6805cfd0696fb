//! Divergences between two next-token distributions (metrics.md §4), from probability vectors or from logits.
//!
//! KL is +inf where q = 0 < p (no ε-floor): a token the second distribution rules out is an infinite surprise,
//! and the UI should say so rather than show a floor-dependent number. JS and TV are always finite.

use serde::{Deserialize, Serialize};

use crate::DistError;
use crate::softmax::{check_probs, exact_lse};

/// The four comparisons shown between two distributions a and b, all in nats except TV (a probability).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Divergences {
    /// KL(a‖b); +inf where b = 0 < a.
    pub kl_ab: f64,
    /// KL(b‖a); +inf where a = 0 < b.
    pub kl_ba: f64,
    /// Jensen–Shannon divergence, in [0, ln 2].
    pub js: f64,
    /// Total variation distance, in [0, 1].
    pub tv: f64,
}

/// Running sums of the four divergences over pairs of log-probabilities (-inf = probability 0).
#[derive(Default)]
struct Acc {
    kl_ab: f64,
    kl_ba: f64,
    js: f64,
    tv: f64,
}

impl Acc {
    fn add(&mut self, la: f64, lb: f64) {
        let (pa, pb) = (la.exp(), lb.exp());
        self.kl_ab += kl_term(pa, la, lb);
        self.kl_ba += kl_term(pb, lb, la);
        if pa > 0.0 || pb > 0.0 {
            // ln m = ln((pa + pb) / 2), computed in log space so tiny probabilities keep their precision.
            let hi = la.max(lb);
            let lm = hi + ((la - hi).exp() + (lb - hi).exp()).ln() - std::f64::consts::LN_2;
            self.js += 0.5 * (kl_term(pa, la, lm) + kl_term(pb, lb, lm));
        }
        self.tv += 0.5 * (pa - pb).abs();
    }

    fn finish(self) -> Divergences {
        Divergences {
            kl_ab: self.kl_ab.max(0.0),
            kl_ba: self.kl_ba.max(0.0),
            js: self.js.clamp(0.0, std::f64::consts::LN_2),
            tv: self.tv.clamp(0.0, 1.0),
        }
    }
}

/// One term `p (ln p - ln q)` of a KL sum: 0 when p = 0, +inf when q = 0 < p.
fn kl_term(p: f64, lp: f64, lq: f64) -> f64 {
    if p == 0.0 {
        0.0
    } else if lq == f64::NEG_INFINITY {
        f64::INFINITY
    } else {
        p * (lp - lq)
    }
}

/// All four divergences between two probability vectors over the same vocabulary (not renormalised).
pub fn divergences(p: &[f64], q: &[f64]) -> Result<Divergences, DistError> {
    same_len(p.len(), q.len())?;
    check_probs(p)?;
    check_probs(q)?;
    let mut acc = Acc::default();
    for (&a, &b) in p.iter().zip(q) {
        acc.add(a.ln(), b.ln());
    }
    Ok(acc.finish())
}

/// KL(p‖q) in nats; +inf where q = 0 < p.
pub fn kl(p: &[f64], q: &[f64]) -> Result<f64, DistError> {
    divergences(p, q).map(|d| d.kl_ab)
}

/// Jensen–Shannon divergence in nats, bounded by ln 2.
pub fn js(p: &[f64], q: &[f64]) -> Result<f64, DistError> {
    divergences(p, q).map(|d| d.js)
}

/// Total variation distance `½ Σ |p - q|`.
pub fn tv(p: &[f64], q: &[f64]) -> Result<f64, DistError> {
    divergences(p, q).map(|d| d.tv)
}

/// All four divergences between `softmax(a)` and `softmax(b)` in one pass after the two LSEs, in f64.
pub fn divergences_from_logits(a: &[f32], b: &[f32]) -> Result<Divergences, DistError> {
    same_len(a.len(), b.len())?;
    let (lse_a, lse_b) = (exact_lse(a)?, exact_lse(b)?);
    let mut acc = Acc::default();
    for (&za, &zb) in a.iter().zip(b) {
        acc.add(f64::from(za) - lse_a, f64::from(zb) - lse_b);
    }
    Ok(acc.finish())
}

fn same_len(left: usize, right: usize) -> Result<(), DistError> {
    if left == right {
        Ok(())
    } else {
        Err(DistError::LengthMismatch { left, right })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nats_to_bits;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
    const Q: [f64; 4] = [0.2, 0.5, 0.2, 0.1];

    #[test]
    fn worked_values() {
        let d = divergences(&P, &Q).unwrap();
        assert!((d.kl_ab - 0.22709).abs() < 1e-5, "{d:?}");
        assert!((d.kl_ba - 0.19901).abs() < 1e-5, "{d:?}");
        assert!((d.js - 0.05188).abs() < 1e-5, "{d:?}");
        assert!((nats_to_bits(d.js) - 0.07485).abs() < 1e-5);
        assert!((d.tv - 0.3).abs() < 1e-12);
        assert_eq!(kl(&P, &Q).unwrap(), d.kl_ab);
        assert_eq!(js(&P, &Q).unwrap(), d.js);
        assert_eq!(tv(&P, &Q).unwrap(), d.tv);
    }

    #[test]
    fn from_logits_matches_from_probs() {
        let za: Vec<f32> = P.iter().map(|x| x.ln() as f32 + 3.0).collect();
        let zb: Vec<f32> = Q.iter().map(|x| x.ln() as f32 - 1.0).collect();
        let d = divergences_from_logits(&za, &zb).unwrap();
        assert!((d.kl_ab - 0.22709).abs() < 1e-5);
        assert!((d.kl_ba - 0.19901).abs() < 1e-5);
        assert!((d.js - 0.05188).abs() < 1e-5);
        assert!((d.tv - 0.3).abs() < 1e-6);
    }

    #[test]
    fn zero_support_gives_infinite_kl_but_finite_js_and_tv() {
        let p = [0.5, 0.5, 0.0];
        let q = [0.0, 0.5, 0.5];
        let d = divergences(&p, &q).unwrap();
        assert_eq!(d.kl_ab, f64::INFINITY);
        assert_eq!(d.kl_ba, f64::INFINITY);
        assert!((d.js - 0.5 * std::f64::consts::LN_2).abs() < 1e-12);
        assert!((d.tv - 0.5).abs() < 1e-12);
        // Disjoint supports reach the JS bound ln 2.
        let d = divergences(&[1.0, 0.0], &[0.0, 1.0]).unwrap();
        assert!((d.js - std::f64::consts::LN_2).abs() < 1e-12);
        let d = divergences_from_logits(&[0.0, f32::NEG_INFINITY], &[0.0, 0.0]).unwrap();
        assert_eq!(d.kl_ba, f64::INFINITY);
        assert!((d.kl_ab - std::f64::consts::LN_2).abs() < 1e-9);
    }

    #[test]
    fn identical_distributions_are_zero_apart() {
        let d = divergences(&P, &P).unwrap();
        assert_eq!((d.kl_ab, d.kl_ba, d.tv), (0.0, 0.0, 0.0));
        assert!(d.js.abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            kl(&P, &Q[..3]),
            Err(DistError::LengthMismatch { left: 4, right: 3 })
        );
        assert!(matches!(
            kl(&[-0.1, 1.1], &[0.5, 0.5]),
            Err(DistError::InvalidProbability { index: 0, .. })
        ));
        assert!(divergences_from_logits(&[0.0], &[0.0, 1.0]).is_err());
    }
}
