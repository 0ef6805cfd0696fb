//! The WebGPU self-check. Browsers' GPU drivers differ, so before a model runs on WebGPU a few
//! teacher-forced positions of a fixed text run there and on the CPU backend (in a worker of its
//! own: `reference`), and the two distributions are compared with the golden tolerances (tests/golden/README.md: top-20
//! |Δlogprob| < 0.01, |ΔH| < 1e-3 nats, the same top-1 token where the margin is clear). The
//! engine stays on the CPU where they disagree; the model bar shows the numbers either way.

use serde::Serialize;
use tokscope_dist::{DistError, argmax, divergences_from_logits, summarize, top_n};
use tokscope_model::{Backend, LogitsFor, ModelError};
use tokscope_tokenizer::{Tokenizer, TokenizerError};
use tsify::Tsify;

/// The text whose positions are compared (8 tokens on the default model): short, so the check
/// costs a few forward passes.
pub const TEXT: &str = "The capital of France is Paris, and";
/// The text's first positions run as one batch (the batched kernels scoring and prefill use);
/// the rest one token at a time (the decode kernels generation uses).
const BATCH: usize = 4;
/// At most this many positions are compared.
pub const MAX_POSITIONS: usize = 8;
/// Context the check's backends need.
pub const N_CTX: usize = MAX_POSITIONS;
/// The golden tolerances: largest |Δlogprob| over the CPU's top 20 tokens, largest |ΔH| (nats).
pub const MAX_DLOGPROB: f64 = 0.01;
pub const MAX_DENTROPY: f64 = 1e-3;
const TOP: usize = 20;
/// Top-1 tokens must agree where the CPU's top-2 margin exceeds this (logprob).
const MARGIN: f64 = 1e-3;

/// What the last self-check found (all maxima over the compared positions).
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
pub struct SelfCheck {
    /// Within every tolerance: the model runs on WebGPU.
    pub passed: bool,
    pub positions: usize,
    /// KL(CPU‖WebGPU) in nats (+inf where WebGPU gave a non-finite logit).
    pub kl: f64,
    /// |Δlogprob| over the CPU's top 20 tokens.
    pub dlogprob: f64,
    /// |ΔH| in nats.
    pub dentropy: f64,
    /// Positions whose top-1 tokens agree, of those where the CPU's top-2 margin is clear.
    pub top1_agree: usize,
    pub top1_of: usize,
    /// What the check added to the load: from the weights' upload to the verdict (the CPU side
    /// runs meanwhile, in its own worker).
    pub ms: f64,
    /// What the WebGPU side took.
    pub gpu_ms: f64,
    /// What the CPU side took in its worker (reading the file included).
    pub reference_ms: f64,
}

impl SelfCheck {
    /// The numbers in a line, for the model bar's note.
    pub fn describe(&self) -> String {
        format!(
            "KL {:.2e} nats, top-20 |Δlogprob| {:.2e} (limit {MAX_DLOGPROB}), |ΔH| {:.2e} nats \
             (limit {MAX_DENTROPY}), top-1 {}/{} over {} positions",
            self.kl, self.dlogprob, self.dentropy, self.top1_agree, self.top1_of, self.positions
        )
    }
}

/// The positions compared: [`TEXT`]'s first tokens.
pub fn tokens(tokenizer: &Tokenizer) -> Result<Vec<u32>, TokenizerError> {
    let mut tokens = tokenizer.encode(TEXT, false)?;
    tokens.truncate(MAX_POSITIONS);
    Ok(tokens)
}

/// Logits of every position of `tokens` on a backend with an empty cache: the first [`BATCH`]
/// in one forward pass, then one token per pass; the cache is emptied again afterwards.
pub async fn logits(backend: &mut dyn Backend, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
    backend.truncate(0);
    let (batch, steps) = tokens.split_at(BATCH.min(tokens.len()));
    let mut out = backend.forward_async(batch, LogitsFor::All).await?;
    for token in steps {
        let row = backend
            .forward_async(std::slice::from_ref(token), LogitsFor::Last)
            .await?;
        out.extend_from_slice(&row);
    }
    backend.truncate(0);
    Ok(out)
}

/// Compares the CPU's and the GPU's logits (`n_vocab` per position, same positions); the times
/// are left at 0 for the caller.
pub fn compare(cpu: &[f32], gpu: &[f32], n_vocab: usize) -> SelfCheck {
    let mut check = SelfCheck {
        passed: false,
        positions: 0,
        kl: 0.0,
        dlogprob: 0.0,
        dentropy: 0.0,
        top1_agree: 0,
        top1_of: 0,
        ms: 0.0,
        gpu_ms: 0.0,
        reference_ms: 0.0,
    };
    let rows = cpu
        .chunks_exact(n_vocab.max(1))
        .zip(gpu.chunks_exact(n_vocab.max(1)));
    for (c, g) in rows {
        check.positions += 1;
        if position(c, g, &mut check).is_err() {
            // A NaN or +inf from the GPU: no distribution at all.
            check.kl = f64::INFINITY;
            check.dlogprob = f64::INFINITY;
            check.dentropy = f64::INFINITY;
        }
    }
    check.passed = check.positions > 0
        && cpu.len() == gpu.len()
        && check.dlogprob < MAX_DLOGPROB
        && check.dentropy < MAX_DENTROPY
        && check.top1_agree == check.top1_of;
    check
}

/// Folds one position's differences into `check`.
fn position(cpu: &[f32], gpu: &[f32], check: &mut SelfCheck) -> Result<(), DistError> {
    let (sc, sg) = (summarize(cpu)?, summarize(gpu)?);
    check.kl = check.kl.max(divergences_from_logits(cpu, gpu)?.kl_ab);
    check.dentropy = check.dentropy.max((sc.entropy - sg.entropy).abs());
    let top = top_n(cpu, sc.lse, TOP);
    for t in &top {
        let on_gpu = f64::from(gpu[t.id as usize]) - sg.lse;
        check.dlogprob = check.dlogprob.max((t.logprob - on_gpu).abs());
    }
    if let [first, second, ..] = top[..]
        && first.logprob - second.logprob > MARGIN
    {
        check.top1_of += 1;
        if argmax(gpu)? == first.id {
            check.top1_agree += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two positions of a 6-token vocabulary with a clear top-1 each.
    const CPU: [f32; 12] = [
        3.0, 1.0, 0.5, -1.0, -2.0, 0.0, //
        -1.0, 0.2, 2.5, 0.1, -0.3, 1.0,
    ];

    fn shifted(by: &[(usize, f32)]) -> Vec<f32> {
        let mut out = CPU.to_vec();
        for &(i, d) in by {
            out[i] += d;
        }
        out
    }

    #[test]
    fn identical_logits_pass_with_zero_differences() {
        let check = compare(&CPU, &CPU, 6);
        assert!(check.passed);
        assert_eq!(
            (check.positions, check.top1_agree, check.top1_of),
            (2, 2, 2)
        );
        assert_eq!((check.dlogprob, check.dentropy), (0.0, 0.0));
        assert!(check.kl.abs() < 1e-12);
    }

    #[test]
    fn a_constant_offset_changes_no_distribution() {
        let gpu: Vec<f32> = CPU.iter().map(|z| z + 7.0).collect();
        let check = compare(&CPU, &gpu, 6);
        assert!(check.passed, "{check:?}");
        assert!(check.dlogprob < 1e-5);
    }

    #[test]
    fn differences_within_the_tolerances_pass_and_beyond_them_fail() {
        // Logit 1 of position 0 moved by 0.004: its logprob moves by about that much.
        let small = compare(&CPU, &shifted(&[(1, 0.004)]), 6);
        assert!(small.passed, "{small:?}");
        assert!(small.dlogprob > 0.003 && small.dlogprob < MAX_DLOGPROB);
        // Moved by 0.05: beyond 0.01, and the entropy moves beyond 1e-3 too.
        let large = compare(&CPU, &shifted(&[(1, 0.05)]), 6);
        assert!(!large.passed);
        assert!(large.dlogprob > MAX_DLOGPROB, "{large:?}");
        assert!(large.kl > small.kl);
    }

    #[test]
    fn a_different_top_token_fails() {
        // Position 1's top token (2) falls below token 5.
        let check = compare(&CPU, &shifted(&[(8, -2.0)]), 6);
        assert!(!check.passed);
        assert_eq!((check.top1_agree, check.top1_of), (1, 2));
    }

    #[test]
    fn non_finite_gpu_logits_fail_with_infinite_numbers() {
        let check = compare(&CPU, &shifted(&[(3, f32::NAN)]), 6);
        assert!(!check.passed);
        assert!(check.kl.is_infinite() && check.dlogprob.is_infinite());
        assert!(check.describe().contains("KL inf"));
    }

    #[test]
    fn missing_positions_fail() {
        assert!(!compare(&CPU, &CPU[..6], 6).passed);
        assert!(!compare(&[], &[], 6).passed);
    }
}
