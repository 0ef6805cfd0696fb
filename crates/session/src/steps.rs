//! The per-step statistics every mode reports (raw distribution, sampling distribution, branching factor):
//! the one place a StepEvent is built, so that generate, score, speculate, compare and branch read alike.

use tokscope_dist::{self as dist, BranchingFactor, Summary, TokenProb, Warped};
use tokscope_model::StepAnswer;
use tokscope_tokenizer::Tokenizer;

use crate::error::{Result, SessionError};
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
    let raw = Raw {
        logprob: dist::logprob(logits, summary.lse, id)?,
        rank: dist::rank(logits, id)?,
        entropy: summary.entropy,
        top: entries(tokenizer, dist::top_n(logits, summary.lse, top_n)),
    };
    let sampling = SamplingStats {
        entropy: warped.entropy(),
        kept: warped.kept(),
        logprob: warped.logprob(id).unwrap_or(f64::NEG_INFINITY),
    };
    let b = bf.push(sampling.entropy);
    Ok(event(
        tokenizer,
        index,
        position,
        id,
        raw,
        Some((sampling, b)),
        ms,
    ))
}

/// A generate step the backend answered (the token was drawn where the logits are); index,
/// position and time are the caller's to fill in.
pub(crate) fn answered_step(
    tokenizer: &Tokenizer,
    answer: &StepAnswer,
    bf: &mut BranchingFactor,
) -> Result<StepEvent> {
    let Some(d) = answer.drawn else {
        return Err(SessionError::InvalidOption(
            "the backend answered a step without drawing its token".into(),
        ));
    };
    let raw = Raw {
        logprob: d.logprob,
        rank: d.rank,
        entropy: answer.entropy,
        top: answer
            .top
            .iter()
            .map(|&(id, logprob)| TopEntry {
                id,
                text: tokenizer.token_text(id),
                logprob,
            })
            .collect(),
    };
    let sampling = SamplingStats {
        entropy: d.warped_entropy,
        kept: d.kept,
        logprob: d.warped_logprob,
    };
    let b = bf.push(sampling.entropy);
    Ok(event(tokenizer, 0, 0, d.id, raw, Some((sampling, b)), 0.0))
}

/// A score step: token `id` under the raw distribution of `row` (its `summary`), where nothing is
/// sampled; with its surprisal and GLTR bucket, and no time (the caller's to fill in).
pub(crate) fn scored_step(
    tokenizer: &Tokenizer,
    index: usize,
    position: usize,
    row: &[f32],
    summary: &Summary,
    id: u32,
    top_n: usize,
) -> Result<StepEvent> {
    let raw = Raw {
        logprob: dist::logprob(row, summary.lse, id)?,
        rank: dist::rank(row, id)?,
        entropy: summary.entropy,
        top: entries(tokenizer, dist::top_n(row, summary.lse, top_n)),
    };
    let (logprob, rank) = (raw.logprob, raw.rank);
    let mut step = event(tokenizer, index, position, id, raw, None, 0.0);
    step.surprisal = Some(dist::surprisal_bits(logprob));
    step.gltr = Some(dist::gltr_bucket(rank));
    Ok(step)
}

/// The chosen token under the raw distribution, and that distribution's entropy and top-N.
struct Raw {
    logprob: f64,
    rank: usize,
    entropy: f64,
    top: Vec<TopEntry>,
}

/// The StepEvent of choosing `id`; `sampled`: the sampling distribution's statistics and the
/// branching factor after them (none in score mode).
fn event(
    tokenizer: &Tokenizer,
    index: usize,
    position: usize,
    id: u32,
    raw: Raw,
    sampled: Option<(SamplingStats, Bf)>,
    ms: f64,
) -> StepEvent {
    let (sampling, bf) = sampled.unzip();
    StepEvent {
        index,
        position,
        token: Token {
            id,
            text: tokenizer.token_text(id),
        },
        logprob: raw.logprob,
        rank: raw.rank,
        entropy: raw.entropy,
        top: raw.top,
        sampling,
        bf,
        ms,
        surprisal: None,
        gltr: None,
        spec: None,
        compare: None,
    }
}
