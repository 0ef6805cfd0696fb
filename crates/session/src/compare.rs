//! Compare mode (metrics.md §4, §6): two or three conditions (models with one vocabulary, or one model under
//! different prompts) run side by side; each step reports both distributions and their divergences, and the
//! token is decoded from the distribution the mode picks.

use std::ops::ControlFlow;

use tokscope_dist::{self as dist, Sampler};
use tokscope_model::LogitsFor;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{CompareStep, CompareSummary, DoneEvent, Event, ModeName, StopReason};
use crate::run::{GenerateOptions, Prompt, Session};
use crate::steps;

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
    /// Emulated disalignment's default strength α (metrics.md §6).
    pub const ED_ALPHA: f64 = 0.5;
    /// Contrastive decoding's default plausibility α, also USCD's (metrics.md §6).
    pub const CD_ALPHA: f64 = 0.1;
    /// USCD's default entropy threshold, nats.
    pub const USCD_THRESHOLD: f64 = 1.0;

    /// The default α of a mode that takes one (ed: the disalignment strength; cd and uscd: the
    /// plausibility α); the cd one for the others, which ignore it.
    pub fn default_alpha(name: ModeName) -> f64 {
        match name {
            ModeName::Ed => Self::ED_ALPHA,
            _ => Self::CD_ALPHA,
        }
    }

    /// Arith's default weights over `conditions` conditions: `a - b`, or the RAST delta `a + b - c`.
    pub fn default_weights(conditions: usize) -> Vec<f64> {
        if conditions == 3 {
            vec![1.0, 1.0, -1.0]
        } else {
            vec![1.0, -1.0]
        }
    }

    /// The mode `name` with its settings, each absent one at its default.
    pub fn from_name(
        name: ModeName,
        alpha: Option<f64>,
        threshold: Option<f64>,
        weights: Option<Vec<f64>>,
        conditions: usize,
    ) -> Self {
        let alpha = alpha.unwrap_or(Self::default_alpha(name));
        match name {
            ModeName::A => CompareMode::A,
            ModeName::B => CompareMode::B,
            ModeName::Ed => CompareMode::Ed { alpha },
            ModeName::Cd => CompareMode::Cd { alpha },
            ModeName::Uscd => CompareMode::Uscd {
                alpha,
                threshold: threshold.unwrap_or(Self::USCD_THRESHOLD),
            },
            ModeName::Arith => CompareMode::Arith {
                weights: weights.unwrap_or_else(|| Self::default_weights(conditions)),
            },
        }
    }

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

/// Settings of a compare run: generate's, whose prompt conditions `sessions[0]` (condition a), and the
/// prompts of the other conditions, `others[i]` conditioning `sessions[i + 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    pub generate: GenerateOptions,
    pub others: Vec<Prompt>,
    pub mode: CompareMode,
}

impl CompareOptions {
    /// Every condition's prompt, a first.
    pub fn prompts(&self) -> Vec<&Prompt> {
        std::iter::once(&self.generate.prompt)
            .chain(&self.others)
            .collect()
    }
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
    let g = &opts.generate;
    g.sampling.validate()?;
    let n = sessions.len();
    let prompts = opts.prompts();
    if !(2..=3).contains(&n) || prompts.len() != n {
        return Err(SessionError::InvalidOption(format!(
            "compare needs 2 or 3 conditions, each with a prompt (got {n} sessions, {} prompts)",
            prompts.len()
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
    for (s, prompt) in sessions.iter_mut().zip(prompts) {
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
    let mut sampler = Sampler::new(g.seed);
    let mut bf = dist::BranchingFactor::new();
    let mut generated: Vec<u32> = Vec::new();
    let (mut sums, mut disagreements) = ([0.0f64; 4], 0usize);
    let mut stop = StopReason::Length;
    let decode_start = Instant::now();
    let mut step_start = t0;
    while generated.len() < g.max_tokens {
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
        let warped = dist::warp(&mixed, &g.sampling, &generated)?;
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
            g.top_n,
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
            top_b: steps::entries(tok, dist::top_n(b, sb.lse, g.top_n)),
            logprob_b: dist::logprob(b, sb.lse, id)?,
            rank_b: dist::rank(b, id)?,
            entropy_b: sb.entropy,
            kl_ab: d.kl_ab,
            kl_ba: d.kl_ba,
            js: d.js,
            tv: d.tv,
            mode: opts.mode.name(),
            top_mixed: steps::entries(tok, dist::top_n(&mixed, sm.lse, g.top_n)),
            uncertainty,
            contrast_applied: applied,
        });
        generated.push(id);
        let flow = on_event(&Event::Step(step));
        if !g.ignore_eos && sessions[0].tokenizer.is_end_of_generation(id) {
            stop = StopReason::Eos;
            break;
        }
        if flow.is_break() {
            stop = StopReason::Stopped;
            break;
        }
        if generated.len() == g.max_tokens {
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
