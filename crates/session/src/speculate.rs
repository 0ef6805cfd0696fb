//! Speculate mode (metrics.md §5): a drafter proposes up to γ tokens, the target scores them all in one
//! batched forward pass, and rejection sampling keeps the output distributed exactly as the target's.
//! Both KV caches roll back to the accepted prefix.

use std::ops::ControlFlow;

use tokscope_dist::{
    self as dist, NextSource, Outcome, Sampler, SamplingParams, TrigramTable, Warped,
};
use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_model::{Backend, LogitsFor, ModelFile};
use tokscope_tokenizer::Tokenizer;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{DoneEvent, Event, SpecDraft, SpecSource, SpecStep, SpecSummary, StopReason};
use crate::run::{GenerateOptions, Session};
use crate::steps;

/// Largest γ accepted (the range 1..=16).
pub const MAX_GAMMA: usize = 16;

/// Drafted tokens per target call when none is asked for.
pub const DEFAULT_GAMMA: usize = 4;

/// Where drafts come from.
pub enum Drafter {
    /// A model drafting token by token with its own KV cache: a second model with the same vocabulary, or the
    /// target's first layers (early exit). `name` is what the summary reports.
    Model {
        backend: Box<dyn Backend>,
        name: String,
    },
    /// Prompt lookup: continue the longest earlier n-gram match (q is one-hot).
    Ngram { max_ngram: usize },
    /// The ADED tri-gram table over the prompt and the text generated so far.
    Trigram,
}

impl Drafter {
    /// A second GGUF model on the CPU as the draft; refused unless its vocabulary equals the target's token
    /// for token.
    pub fn model_cpu(
        file: ModelFile,
        target: &Tokenizer,
        threads: usize,
        n_ctx: usize,
        precision: Precision,
    ) -> Result<Self> {
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        target
            .same_vocabulary(&tokenizer)
            .map_err(SessionError::VocabMismatch)?;
        let mut backend = CpuBackend::with_context(file, threads, n_ctx)?;
        backend.set_precision(precision);
        Ok(Drafter::Model {
            backend: Box::new(backend),
            name: "model".into(),
        })
    }

    /// Self-speculative drafting: the target file's first `layers` blocks, final norm and LM head.
    pub fn early_exit_cpu(
        file: ModelFile,
        layers: usize,
        threads: usize,
        n_ctx: usize,
        precision: Precision,
    ) -> Result<Self> {
        let mut backend = CpuBackend::with_layers(file, threads, n_ctx, layers)?;
        backend.set_precision(precision);
        Ok(Drafter::Model {
            backend: Box::new(backend),
            name: format!("early-exit:{layers}"),
        })
    }

    fn name(&self) -> String {
        match self {
            Drafter::Model { name, .. } => name.clone(),
            Drafter::Ngram { .. } => "ngram".into(),
            Drafter::Trigram => "trigram".into(),
        }
    }
}

/// Settings of a speculate run: the generate settings plus γ, drafts per target call.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeculateOptions {
    pub generate: GenerateOptions,
    pub gamma: usize,
}

/// A drafter's per-run state.
struct DraftState {
    /// Tokens the draft model's cache holds.
    cached: Vec<u32>,
    trigrams: TrigramTable,
}

/// One drafted token and the distribution it was drawn from.
struct Draft {
    id: u32,
    q: Warped,
}

async fn draft(
    drafter: &mut Drafter,
    state: &mut DraftState,
    history: &[u32],
    room: usize,
    params: &SamplingParams,
    rng: &mut Sampler,
) -> Result<Vec<Draft>> {
    if room == 0 {
        return Ok(Vec::new());
    }
    match drafter {
        Drafter::Ngram { max_ngram } => Ok(dist::prompt_lookup(history, *max_ngram, room)
            .into_iter()
            .map(|id| Draft {
                id,
                q: Warped::one_hot(id),
            })
            .collect()),
        Drafter::Trigram => {
            let mut ctx = history.to_vec();
            let mut out = Vec::new();
            while out.len() < room {
                let [.., a, b] = ctx[..] else { break };
                let Some(counts) = state.trigrams.distribution(a, b) else {
                    break;
                };
                // The same warpers as the target, over the counts' logs as logits.
                let size = counts
                    .iter()
                    .map(|(id, _)| id as usize + 1)
                    .max()
                    .unwrap_or(0);
                let mut z = vec![f32::NEG_INFINITY; size];
                for (id, p) in counts.iter() {
                    z[id as usize] = p.ln() as f32;
                }
                let q = dist::warp(&z, params, &ctx)?;
                let id = rng.sample(&q);
                ctx.push(id);
                out.push(Draft { id, q });
            }
            Ok(out)
        }
        Drafter::Model { backend, .. } => {
            // Keep the cached prefix that still matches the history; at least the last token is re-run.
            let mut common = state
                .cached
                .iter()
                .zip(history)
                .take_while(|(a, b)| a == b)
                .count()
                .min(history.len() - 1);
            common = common.min(backend.cache_len());
            backend.truncate(common);
            state.cached.truncate(common);
            let pending = &history[common..];
            let mut logits = if common == 0 {
                backend.forward_async(pending, LogitsFor::Last).await?
            } else {
                // Token by token, as plain decoding feeds them, so a model drafting for itself reproduces
                // plain generation exactly.
                let mut l = Vec::new();
                for &t in pending {
                    l = backend.forward_async(&[t], LogitsFor::Last).await?;
                }
                l
            };
            state.cached.extend_from_slice(pending);
            let mut ctx = history.to_vec();
            let mut out = Vec::with_capacity(room);
            for i in 0..room {
                let q = dist::warp(&logits, params, &ctx)?;
                let id = rng.sample(&q);
                ctx.push(id);
                out.push(Draft { id, q });
                if i + 1 < room {
                    logits = backend.forward_async(&[id], LogitsFor::Last).await?;
                    state.cached.push(id);
                }
            }
            Ok(out)
        }
    }
}

/// Running totals for the summary.
#[derive(Default)]
struct Totals {
    calls: usize,
    drafted: usize,
    accepted: usize,
    drafted_at: Vec<usize>,
    accepted_at: Vec<usize>,
    beta_sum: f64,
}

impl Session {
    /// Generates with speculative decoding: `drafter` proposes, this session's model verifies.
    /// Events as [`Session::generate`], each step with a `spec` part; "done" carries the [`SpecSummary`].
    pub fn speculate(
        &mut self,
        drafter: &mut Drafter,
        opts: &SpeculateOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        now(self.speculate_async(drafter, opts, on_event))
    }

    /// [`Session::speculate`] for backends that must be awaited.
    pub async fn speculate_async(
        &mut self,
        drafter: &mut Drafter,
        opts: &SpeculateOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        let g = &opts.generate;
        g.sampling.validate()?;
        if !(1..=MAX_GAMMA).contains(&opts.gamma) {
            return Err(SessionError::InvalidOption(format!(
                "gamma must be in 1..={MAX_GAMMA}, got {}",
                opts.gamma
            )));
        }
        let prompt = self.prompt_tokens(&g.prompt)?;
        let Some((&last_prompt, before)) = prompt.split_last() else {
            return Err(SessionError::EmptyPrompt);
        };
        let n_ctx = self.backend.n_ctx();
        if prompt.len() >= n_ctx {
            return Err(SessionError::PromptTooLong {
                tokens: prompt.len(),
                n_ctx,
            });
        }
        self.rewind(0);
        let t0 = Instant::now();
        // The target's cache holds everything but the last token, which opens each verification batch.
        if !before.is_empty() {
            self.feed(before, LogitsFor::Last).await?;
        }
        let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;

        let mut state = DraftState {
            cached: Vec::new(),
            trigrams: TrigramTable::new(),
        };
        state.trigrams.extend(&prompt);
        // Drafts and replacement tokens share one stream (so a self-draft reproduces plain sampling);
        // acceptance uniforms come from a second one.
        let mut token_rng = Sampler::new(g.seed);
        let mut accept_rng = Sampler::new(g.seed ^ 0x5eed_acce_97ed_0001);
        let mut bf = dist::BranchingFactor::new();
        let mut history = prompt.clone();
        let mut last = last_prompt;
        let mut totals = Totals::default();
        let mut stop = StopReason::Length;
        let decode_start = Instant::now();
        let vocab = self.backend.config().n_vocab;
        'run: while history.len() - prompt.len() < g.max_tokens {
            if history.len() >= n_ctx {
                stop = StopReason::Context;
                break;
            }
            let round_start = Instant::now();
            let left = g.max_tokens - (history.len() - prompt.len());
            let room = opts.gamma.min(left - 1).min(n_ctx - history.len() - 1);
            let drafts = draft(
                drafter,
                &mut state,
                &history,
                room,
                &g.sampling,
                &mut token_rng,
            )
            .await?;
            let mut batch = vec![last];
            batch.extend(drafts.iter().map(|d| d.id));
            let logits = self.feed(&batch, LogitsFor::All).await?;
            let mut ctx = history.clone();
            let mut targets = Vec::with_capacity(batch.len());
            for (i, row) in logits.chunks_exact(vocab).enumerate() {
                targets.push(dist::warp(row, &g.sampling, &ctx)?);
                if let Some(d) = drafts.get(i) {
                    ctx.push(d.id);
                }
            }
            let pairs: Vec<(u32, &Warped)> = drafts.iter().map(|d| (d.id, &d.q)).collect();
            let v = dist::verify(&pairs, &targets, &mut accept_rng, &mut token_rng)?;
            // Roll the target back to the history plus the accepted drafts; the next token opens the next batch.
            self.rewind(history.len() + v.accepted);

            totals.calls += 1;
            totals.drafted += drafts.len();
            totals.accepted += v.accepted;
            if totals.drafted_at.len() < drafts.len() {
                totals.drafted_at.resize(drafts.len(), 0);
                totals.accepted_at.resize(drafts.len(), 0);
            }
            for (i, c) in v.checks.iter().enumerate() {
                totals.drafted_at[i] += 1;
                totals.accepted_at[i] += usize::from(c.outcome == Outcome::Accepted);
                totals.beta_sum += c.beta;
            }
            let emitted: Vec<u32> = drafts[..v.accepted]
                .iter()
                .map(|d| d.id)
                .chain([v.next])
                .collect();
            let ms = round_start.elapsed().as_secs_f64() * 1e3 / emitted.len() as f64;
            for (i, &id) in emitted.iter().enumerate() {
                let row = &logits[i * vocab..(i + 1) * vocab];
                let mut step = steps::step_event(
                    &self.tokenizer,
                    history.len() - prompt.len(),
                    history.len(),
                    row,
                    &targets[i],
                    id,
                    g.top_n,
                    &mut bf,
                    ms,
                )?;
                let source = if i < v.accepted {
                    SpecSource::Accepted
                } else if matches!(v.source, NextSource::Residual(_)) {
                    SpecSource::Resampled
                } else {
                    SpecSource::Bonus
                };
                let first = i == 0;
                step.spec = Some(SpecStep {
                    round: totals.calls - 1,
                    source,
                    drafts: if first {
                        v.checks
                            .iter()
                            .map(|c| SpecDraft {
                                id: c.id,
                                text: self.tokenizer.token_text(c.id),
                                q: c.q,
                                p: c.p,
                                accept_prob: c.accept_prob,
                                beta: c.beta,
                                outcome: c.outcome,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    residual: match (&v.source, source) {
                        (NextSource::Residual(r), SpecSource::Resampled) => {
                            steps::entries(&self.tokenizer, r.top(g.top_n))
                        }
                        _ => Vec::new(),
                    },
                    beta: (first && !v.checks.is_empty()).then(|| {
                        v.checks.iter().map(|c| c.beta).sum::<f64>() / v.checks.len() as f64
                    }),
                    multi: None,
                });
                history.push(id);
                state.trigrams.push(id);
                let flow = on_event(&Event::Step(step));
                if !g.ignore_eos && self.tokenizer.is_end_of_generation(id) {
                    stop = StopReason::Eos;
                    break 'run;
                }
                if flow.is_break() {
                    stop = StopReason::Stopped;
                    break 'run;
                }
            }
            last = v.next;
        }
        let decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
        let generated = &history[prompt.len()..];
        let tok_s = if decode_ms > 0.0 {
            generated.len() as f64 / (decode_ms / 1e3)
        } else {
            0.0
        };
        let per_call = |n: usize| {
            if totals.calls == 0 {
                0.0
            } else {
                n as f64 / totals.calls as f64
            }
        };
        let mean_beta = (totals.drafted > 0).then(|| totals.beta_sum / totals.drafted as f64);
        let summary = SpecSummary {
            drafter: drafter.name(),
            gamma: opts.gamma,
            target_calls: totals.calls,
            n_drafted: totals.drafted,
            n_accepted: totals.accepted,
            acceptance_rate: if totals.drafted == 0 {
                0.0
            } else {
                totals.accepted as f64 / totals.drafted as f64
            },
            mean_accepted_len: per_call(totals.accepted),
            tokens_per_call: per_call(generated.len()),
            acceptance_by_position: totals
                .accepted_at
                .iter()
                .zip(&totals.drafted_at)
                .map(|(&a, &d)| a as f64 / d as f64)
                .collect(),
            mean_beta,
            expected_tokens_per_call: mean_beta
                .and_then(|b| dist::expected_tokens_per_call(b.clamp(0.0, 1.0), opts.gamma).ok()),
            tok_s,
            multi: None,
        };
        let done = DoneEvent {
            tokens: generated.len(),
            prompt_tokens: prompt.len(),
            prefill_ms,
            decode_ms,
            decode_tok_s: tok_s,
            stop,
            text: self.tokenizer.decode(generated),
            score: None,
            spec: Some(summary),
            compare: None,
            samples: None,
        };
        let _ = on_event(&Event::Done(done.clone()));
        Ok(done)
    }
}
