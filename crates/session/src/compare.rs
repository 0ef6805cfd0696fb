//! Compare mode (metrics.md §4, §6): two or three conditions (models with one vocabulary, or one model under
//! different prompts) run side by side; each step reports both distributions and their divergences, and the
//! token is decoded from the distribution the mode picks.

use std::ops::ControlFlow;

use tokscope_dist::{self as dist, Sampler, SamplingParams};
use tokscope_model::LogitsFor;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{CompareStep, CompareSummary, DoneEvent, Event, StopReason};
use crate::run::{Prompt, Session};
use crate::steps;
use serde::{Deserialize, Serialize};

/// Which distribution a compare run decodes from. Conditions are a (first), b (second), and for `Arith` an
/// optional third.
#[derive(Clone, Debug, PartialEq)]
pub enum CompareMode {
    /// Condition a's own distribution.
    A,
    /// Condition b's own distribution.
    B,
    /// Emulated disalignment: a is the base, b the aligned condition; `(1+α) z_a - α z_b`.
    Ed { alpha: f64 },
    /// Contrastive decoding: a the expert, b the amateur, plausibility α.
    Cd { alpha: f64 },
    /// Contrastive decoding only where a's raw entropy (nats) reaches `threshold`; a's distribution elsewhere.
    Uscd { alpha: f64, threshold: f64 },
    /// `Σ w_i z_i` over the conditions (RAST-style delta: `[1, 1, -1]` over large, small tuned, small base).
    Arith { weights: Vec<f64> },
}

impl CompareMode {
    /// The name reported in events.
    pub fn name(&self) -> ModeName {
        match self {
            CompareMode::A => ModeName::A,
            CompareMode::B => ModeName::B,
            CompareMode::Ed { .. } => ModeName::Ed,
            CompareMode::Cd { .. } => ModeName::Cd,
            CompareMode::Uscd { .. } => ModeName::Uscd,
            CompareMode::Arith { .. } => ModeName::Arith,
        }
    }
}

/// A compare mode without its parameters: what events report and what the page asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    A,
    B,
    Ed,
    Cd,
    Uscd,
    Arith,
}

impl std::fmt::Display for ModeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ModeName::A => "a",
            ModeName::B => "b",
            ModeName::Ed => "ed",
            ModeName::Cd => "cd",
            ModeName::Uscd => "uscd",
            ModeName::Arith => "arith",
        };
        f.write_str(name)
    }
}

/// Settings of a compare run; `prompts[i]` conditions `sessions[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    pub prompts: Vec<Prompt>,
    pub mode: CompareMode,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub seed: u64,
    pub top_n: usize,
    pub ignore_eos: bool,
}

/// Runs two or three conditions side by side (see [`CompareMode`]); the chosen token is appended to every
/// condition. StepEvents describe condition a, with a `compare` part; "done" carries the means.
pub fn compare(
    sessions: &mut [&mut Session],
    opts: &CompareOptions,
    on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
) -> Result<DoneEvent> {
    now(compare_async(sessions, opts, on_event))
}

/// [`compare`] for backends that must be awaited.
pub async fn compare_async(
    sessions: &mut [&mut Session],
    opts: &CompareOptions,
    on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
) -> Result<DoneEvent> {
    opts.sampling.validate()?;
    let n = sessions.len();
    if !(2..=3).contains(&n) || opts.prompts.len() != n {
        return Err(SessionError::InvalidOption(format!(
            "compare needs 2 or 3 conditions, each with a prompt (got {n} sessions, {} prompts)",
            opts.prompts.len()
        )));
    }
    match &opts.mode {
        CompareMode::Arith { weights } if weights.len() != n => {
            return Err(SessionError::InvalidOption(format!(
                "arith needs one weight per condition ({n}), got {}",
                weights.len()
            )));
        }
        CompareMode::Arith { .. } => {}
        _ if n != 2 => {
            return Err(SessionError::InvalidOption(
                "only arith takes a third condition".into(),
            ));
        }
        _ => {}
    }
    for s in sessions[1..].iter() {
        sessions[0]
            .tokenizer
            .same_vocabulary(&s.tokenizer)
            .map_err(SessionError::VocabMismatch)?;
    }
    let t0 = Instant::now();
    let mut logits = Vec::with_capacity(n);
    let mut prompt_lens = Vec::with_capacity(n);
    for (s, prompt) in sessions.iter_mut().zip(&opts.prompts) {
        let ids = s.prompt_tokens(prompt)?;
        if ids.is_empty() {
            return Err(SessionError::EmptyPrompt);
        }
        let n_ctx = s.backend.n_ctx();
        if ids.len() >= n_ctx {
            return Err(SessionError::PromptTooLong {
                tokens: ids.len(),
                n_ctx,
            });
        }
        s.rewind(0);
        logits.push(s.feed(&ids, LogitsFor::Last).await?);
        prompt_lens.push(ids.len());
    }
    let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut sampler = Sampler::new(opts.seed);
    let mut bf = dist::BranchingFactor::new();
    let mut generated: Vec<u32> = Vec::new();
    let (mut sums, mut disagreements) = ([0.0f64; 4], 0usize);
    let mut stop = StopReason::Length;
    let decode_start = Instant::now();
    let mut step_start = t0;
    while generated.len() < opts.max_tokens {
        let (a, b) = (&logits[0], &logits[1]);
        let mut uncertainty = None;
        let mut applied = None;
        let mixed = match &opts.mode {
            CompareMode::A => a.clone(),
            CompareMode::B => b.clone(),
            CompareMode::Ed { alpha } => dist::emulated_disalignment(a, b, *alpha)?,
            CompareMode::Cd { alpha } => dist::contrastive(a, b, *alpha)?,
            CompareMode::Uscd { alpha, threshold } => {
                let g = dist::uncertainty_gated_contrast(a, b, *alpha, *threshold)?;
                uncertainty = Some(g.uncertainty);
                applied = Some(g.applied);
                g.logits
            }
            CompareMode::Arith { weights } => {
                let views: Vec<&[f32]> = logits.iter().map(Vec::as_slice).collect();
                dist::weighted_sum(&views, weights)?
            }
        };
        // Repetition penalty looks at the generated tokens (the prompts differ per condition).
        let warped = dist::warp(&mixed, &opts.sampling, &generated)?;
        let id = sampler.sample(&warped);
        let position = prompt_lens[0] + generated.len();
        let ms = step_start.elapsed().as_secs_f64() * 1e3;
        let mut step = steps::step_event(
            &sessions[0].tokenizer,
            generated.len(),
            position,
            a,
            &warped,
            id,
            opts.top_n,
            &mut bf,
            ms,
        )?;
        let sb = dist::summarize(b)?;
        let sm = dist::summarize(&mixed)?;
        let d = dist::divergences_from_logits(a, b)?;
        for (acc, v) in sums.iter_mut().zip([d.kl_ab, d.kl_ba, d.js, d.tv]) {
            *acc += v;
        }
        disagreements += usize::from(dist::argmax(a)? != dist::argmax(b)?);
        let tok = &sessions[0].tokenizer;
        step.compare = Some(CompareStep {
            top_b: steps::entries(tok, dist::top_n(b, sb.lse, opts.top_n)),
            logprob_b: dist::logprob(b, sb.lse, id)?,
            rank_b: dist::rank(b, id)?,
            entropy_b: sb.entropy,
            kl_ab: d.kl_ab,
            kl_ba: d.kl_ba,
            js: d.js,
            tv: d.tv,
            mode: opts.mode.name(),
            top_mixed: steps::entries(tok, dist::top_n(&mixed, sm.lse, opts.top_n)),
            uncertainty,
            contrast_applied: applied,
        });
        generated.push(id);
        let flow = on_event(&Event::Step(step));
        if !opts.ignore_eos && sessions[0].tokenizer.is_end_of_generation(id) {
            stop = StopReason::Eos;
            break;
        }
        if flow.is_break() {
            stop = StopReason::Stopped;
            break;
        }
        if generated.len() == opts.max_tokens {
            break;
        }
        if sessions
            .iter()
            .zip(&prompt_lens)
            .any(|(s, &p)| p + generated.len() >= s.backend.n_ctx())
        {
            stop = StopReason::Context;
            break;
        }
        step_start = Instant::now();
        for (s, l) in sessions.iter_mut().zip(logits.iter_mut()) {
            *l = s.feed(&[id], LogitsFor::Last).await?;
        }
    }
    let decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
    let steps_n = generated.len().max(1) as f64;
    let decoded = generated.len().saturating_sub(1);
    let done = DoneEvent {
        tokens: generated.len(),
        prompt_tokens: prompt_lens[0],
        prefill_ms,
        decode_ms,
        decode_tok_s: if decode_ms > 0.0 {
            decoded as f64 / (decode_ms / 1e3)
        } else {
            0.0
        },
        stop,
        text: sessions[0].tokenizer.decode(&generated),
        score: None,
        spec: None,
        compare: Some(CompareSummary {
            mode: opts.mode.name(),
            mean_kl_ab: sums[0] / steps_n,
            mean_kl_ba: sums[1] / steps_n,
            mean_js: sums[2] / steps_n,
            mean_tv: sums[3] / steps_n,
            argmax_disagreements: disagreements,
        }),
        samples: None,
    };
    let _ = on_event(&Event::Done(done.clone()));
    Ok(done)
}
