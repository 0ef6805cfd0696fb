//! The per-step statistics every sampling mode reports (raw distribution, sampling distribution, branching
//! factor), shared by speculate, compare and branch so their StepEvents read like generate's.

use tokscope_dist::{self as dist, BranchingFactor, Summary, TokenProb, Warped};
use tokscope_tokenizer::Tokenizer;

use crate::error::Result;
use crate::event::{Bf, SamplingStats, StepEvent, Token, TopEntry};

/// Top-N entries with their text.
pub(crate) fn entries(tokenizer: &Tokenizer, list: Vec<TokenProb>) -> Vec<TopEntry> {
    list.into_iter()
        .map(|t| TopEntry {
            id: t.id,
            text: tokenizer.token_text(t.id),
            logprob: t.logprob,
        })
        .collect()
}

/// The StepEvent of choosing `id` from raw `logits` through the sampling distribution `warped`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_event(
    tokenizer: &Tokenizer,
    index: usize,
    position: usize,
    logits: &[f32],
    warped: &Warped,
    id: u32,
    top_n: usize,
    bf: &mut BranchingFactor,
    ms: f64,
) -> Result<StepEvent> {
    let summary = dist::summarize(logits)?;
    step_event_with(
        tokenizer, index, position, logits, &summary, warped, id, top_n, bf, ms,
    )
}

/// [`step_event`] for a caller that already has the raw distribution's `summary` (generate gets it
/// from the same pass as the warp).
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_event_with(
    tokenizer: &Tokenizer,
    index: usize,
    position: usize,
    logits: &[f32],
    summary: &Summary,
    warped: &Warped,
    id: u32,
    top_n: usize,
    bf: &mut BranchingFactor,
    ms: f64,
) -> Result<StepEvent> {
    let b = bf.push(warped.entropy());
    Ok(StepEvent {
        index,
        position,
        token: Token {
            id,
            text: tokenizer.token_text(id),
        },
        logprob: dist::logprob(logits, summary.lse, id)?,
        rank: dist::rank(logits, id)?,
        entropy: summary.entropy,
        top: entries(tokenizer, dist::top_n(logits, summary.lse, top_n)),
        sampling: Some(SamplingStats {
            entropy: warped.entropy(),
            kept: warped.kept(),
            logprob: warped.logprob(id).unwrap_or(f64::NEG_INFINITY),
        }),
        bf: Some(Bf {
            step: b.step,
            window: b.window,
            running: b.running,
        }),
        ms,
        surprisal: None,
        gltr: None,
        spec: None,
        compare: None,
    })
}
