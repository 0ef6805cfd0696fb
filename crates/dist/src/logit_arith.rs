//! Logit arithmetic between conditions (metrics.md §6): emulated disalignment, contrastive decoding, its
//! uncertainty-gated variant, and weighted sums (RAST-style deltas). Inputs are raw logits over one vocabulary;
//! outputs are logits ready for [`crate::warp`], with `-inf` for excluded tokens.

use crate::DistError;
use crate::softmax::{check_logits, summarize};

fn same_len(a: &[f32], b: &[f32]) -> Result<(), DistError> {
    if a.len() != b.len() {
        return Err(DistError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    Ok(())
}

fn check_alpha(
    name: &'static str,
    alpha: f64,
    expected: &'static str,
    ok: bool,
) -> Result<(), DistError> {
    if ok {
        Ok(())
    } else {
        Err(DistError::InvalidParam {
            name,
            value: alpha,
            expected,
        })
    }
}

/// Emulated disalignment (Zhou et al. 2024): `(1+α) z_base - α z_aligned`, α ≥ 0. A token either side rules
/// out (`-inf`) stays ruled out.
pub fn emulated_disalignment(
    base: &[f32],
    aligned: &[f32],
    alpha: f64,
) -> Result<Vec<f32>, DistError> {
    same_len(base, aligned)?;
    check_logits(base)?;
    check_logits(aligned)?;
    check_alpha(
        "alpha",
        alpha,
        "finite and >= 0",
        alpha.is_finite() && alpha >= 0.0,
    )?;
    Ok(base
        .iter()
        .zip(aligned)
        .map(|(&b, &a)| {
            if b == f32::NEG_INFINITY || a == f32::NEG_INFINITY {
                f32::NEG_INFINITY
            } else {
                ((1.0 + alpha) * f64::from(b) - alpha * f64::from(a)) as f32
            }
        })
        .collect())
}

/// Contrastive decoding (Li et al. 2022): inside the head set `{x : p_exp(x) ≥ α · max p_exp}` the score is
/// `ln p_exp(x) - ln p_ama(x)`, outside it `-inf`. α in [0, 1] (0.1 in the paper).
pub fn contrastive(expert: &[f32], amateur: &[f32], alpha: f64) -> Result<Vec<f32>, DistError> {
    same_len(expert, amateur)?;
    check_alpha("alpha", alpha, "in [0, 1]", (0.0..=1.0).contains(&alpha))?;
    let (se, sa) = (summarize(expert)?, summarize(amateur)?);
    // p_exp(x) ≥ α max p  ⇔  z_x ≥ z_max + ln α.
    let floor = f64::from(se.max_logit) + alpha.ln();
    Ok(expert
        .iter()
        .zip(amateur)
        .map(|(&e, &a)| {
            let e = f64::from(e);
            if e >= floor && e > f64::NEG_INFINITY {
                let lp_exp = e - se.lse;
                let lp_ama = f64::from(a) - sa.lse;
                // An amateur that rules the token out makes the contrast unbounded: keep it finite and maximal.
                if lp_ama == f64::NEG_INFINITY {
                    f32::MAX
                } else {
                    (lp_exp - lp_ama) as f32
                }
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect())
}

/// The result of uncertainty-gated contrastive decoding at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedContrast {
    /// Logits to decode from: the contrast where applied, else the first condition's own logits.
    pub logits: Vec<f32>,
    /// The uncertainty statistic: entropy in nats of the first condition's raw distribution.
    pub uncertainty: f64,
    /// Whether `uncertainty ≥ threshold`, so the contrast was applied.
    pub applied: bool,
}

/// USCD as implemented here (the paper's exact rule is not confirmed, metrics.md §6): apply
/// [`contrastive`] only where the first (standard-prompt) distribution is uncertain, measured as its entropy in
/// nats reaching `threshold`; elsewhere decode from the first condition unchanged.
pub fn uncertainty_gated_contrast(
    standard: &[f32],
    contrast: &[f32],
    alpha: f64,
    threshold: f64,
) -> Result<GatedContrast, DistError> {
    check_alpha("threshold", threshold, "finite", threshold.is_finite())?;
    let uncertainty = summarize(standard)?.entropy;
    let applied = uncertainty >= threshold;
    let logits = if applied {
        contrastive(standard, contrast, alpha)?
    } else {
        same_len(standard, contrast)?;
        standard.to_vec()
    };
    Ok(GatedContrast {
        logits,
        uncertainty,
        applied,
    })
}

/// `Σ w_i z_i`: the general form of logit arithmetic. RAST-style delta transfer is weights `[1, 1, -1]` over
/// (large, small tuned, small base). A token any condition with nonzero weight rules out stays ruled out.
pub fn weighted_sum(logits: &[&[f32]], weights: &[f64]) -> Result<Vec<f32>, DistError> {
    if logits.len() != weights.len() {
        return Err(DistError::LengthMismatch {
            left: logits.len(),
            right: weights.len(),
        });
    }
    let first = logits.first().ok_or(DistError::Empty)?;
    for (z, &w) in logits.iter().zip(weights) {
        same_len(first, z)?;
        check_logits(z)?;
        check_alpha("weight", w, "finite", w.is_finite())?;
    }
    Ok((0..first.len())
        .map(|i| {
            let mut acc = 0.0f64;
            for (z, &w) in logits.iter().zip(weights) {
                if w == 0.0 {
                    continue;
                }
                if z[i] == f32::NEG_INFINITY {
                    return f32::NEG_INFINITY;
                }
                acc += w * f64::from(z[i]);
            }
            acc as f32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::softmax;

    const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
    const ALIGNED: [f64; 4] = [0.6, 0.1, 0.1, 0.2];

    fn ln(p: &[f64]) -> Vec<f32> {
        p.iter().map(|x| x.ln() as f32).collect()
    }

    fn close(got: &[f64], want: &[f64], tol: f64) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < tol, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn worked_emulated_disalignment() {
        let z = emulated_disalignment(&ln(&P), &ln(&ALIGNED), 0.3).unwrap();
        close(
            &softmax(&z).unwrap(),
            &[0.4331, 0.3817, 0.1550, 0.0302],
            1e-4,
        );
        let z = emulated_disalignment(&ln(&P), &ln(&ALIGNED), 1.0).unwrap();
        close(
            &softmax(&z).unwrap(),
            &[0.2681, 0.5791, 0.1448, 0.0080],
            1e-4,
        );
        // α = 0 is the base model itself.
        let z = emulated_disalignment(&ln(&P), &ln(&ALIGNED), 0.0).unwrap();
        close(&softmax(&z).unwrap(), &P, 1e-6);
        assert!(emulated_disalignment(&ln(&P), &ln(&ALIGNED), -1.0).is_err());
        assert!(emulated_disalignment(&ln(&P), &ln(&P[..3]), 0.5).is_err());
    }

    #[test]
    fn worked_contrastive_decoding() {
        let s = contrastive(&ln(&P), &ln(&ALIGNED), 0.2).unwrap();
        assert_eq!(s[3], f32::NEG_INFINITY);
        close(
            &s[..3].iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            &[-0.182, 1.099, 0.405],
            1e-3,
        );
        assert_eq!(crate::argmax(&s).unwrap(), 1);
        // α = 1 keeps only the expert's top token.
        let s = contrastive(&ln(&P), &ln(&ALIGNED), 1.0).unwrap();
        assert_eq!(s.iter().filter(|v| v.is_finite()).count(), 1);
        assert!(contrastive(&ln(&P), &ln(&ALIGNED), 1.5).is_err());
    }

    #[test]
    fn gated_contrast_applies_only_when_uncertain() {
        // H(p) = 1.142 nats.
        let g = uncertainty_gated_contrast(&ln(&P), &ln(&ALIGNED), 0.2, 1.0).unwrap();
        assert!(g.applied);
        assert!((g.uncertainty - 1.14212).abs() < 1e-4);
        assert_eq!(crate::argmax(&g.logits).unwrap(), 1);
        let g = uncertainty_gated_contrast(&ln(&P), &ln(&ALIGNED), 0.2, 1.5).unwrap();
        assert!(!g.applied);
        assert_eq!(g.logits, ln(&P));
        assert_eq!(crate::argmax(&g.logits).unwrap(), 0);
    }

    #[test]
    fn weighted_sum_is_rast_delta() {
        let large = ln(&P);
        let tuned = ln(&ALIGNED);
        let base = ln(&[0.25, 0.25, 0.25, 0.25]);
        let z = weighted_sum(&[&large, &tuned, &base], &[1.0, 1.0, -1.0]).unwrap();
        // p_large · p_tuned / p_base, renormalised.
        let raw: Vec<f64> = P.iter().zip(&ALIGNED).map(|(a, b)| a * b / 0.25).collect();
        let total: f64 = raw.iter().sum();
        let want: Vec<f64> = raw.iter().map(|v| v / total).collect();
        close(&softmax(&z).unwrap(), &want, 1e-6);
        let mut ruled_out = ln(&P);
        ruled_out[2] = f32::NEG_INFINITY;
        let z = weighted_sum(&[&large, &ruled_out], &[1.0, 0.5]).unwrap();
        assert_eq!(z[2], f32::NEG_INFINITY);
        assert!(weighted_sum(&[&large], &[1.0, 2.0]).is_err());
        assert!(weighted_sum(&[], &[]).is_err());
    }
}
