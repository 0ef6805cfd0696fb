//! Branch mode: continue from any point of a run — the prompt, then a given token prefix (an earlier run's
//! first k tokens and a chosen alternative) — and sample M continuations of it. The shared prefix is
//! computed once; each continuation truncates the KV cache back to it. "done" reports the multi-sample
//! branching factor of metrics.md §2 and how far the samples agree.

use std::ops::ControlFlow;

use tokscope_dist::{self as dist, Sampler};
use tokscope_model::LogitsFor;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{DoneEvent, Event, SamplesSummary, StopReason};
use crate::run::{GenerateOptions, Session};
use crate::steps;

/// Settings of a branch run. Sample `i` uses seed `generate.seed + i`; `generate.max_tokens` is per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct BranchOptions {
    pub generate: GenerateOptions,
    /// Tokens after the prompt to continue from (may be empty).
    pub prefix: Vec<u32>,
    /// How many continuations (M ≥ 1).
    pub samples: usize,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

impl Session {
    /// Samples `opts.samples` continuations of prompt + prefix. Steps of every sample are emitted in order;
    /// each sample's `index` starts again at 0 (its first step), `position` counts from the prompt's start.
    pub fn branch(
        &mut self,
        opts: &BranchOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        now(self.branch_async(opts, on_event))
    }

    /// [`Session::branch`] for backends that must be awaited.
    pub async fn branch_async(
        &mut self,
        opts: &BranchOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        let g = &opts.generate;
        g.sampling.validate()?;
        if opts.samples == 0 {
            return Err(SessionError::InvalidOption(
                "samples must be at least 1".into(),
            ));
        }
        let prompt = self.prompt_tokens(&g.prompt)?;
        let vocab = self.backend.config().n_vocab;
        if let Some(&bad) = opts.prefix.iter().find(|&&t| t as usize >= vocab) {
            return Err(dist::DistError::TokenOutOfRange { id: bad, vocab }.into());
        }
        let context: Vec<u32> = prompt.iter().chain(&opts.prefix).copied().collect();
        if context.is_empty() {
            return Err(SessionError::EmptyPrompt);
        }
        let n_ctx = self.backend.n_ctx();
        if context.len() >= n_ctx {
            return Err(SessionError::PromptTooLong {
                tokens: context.len(),
                n_ctx,
            });
        }
        // What the cache already holds of the context (an earlier run's prompt and tokens) is kept.
        let t0 = Instant::now();
        let mut first = Some(self.feed_context(&context).await?);
        let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;
        let decode_start = Instant::now();
        let (mut sample_bf, mut sample_logprob, mut per_token) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut texts: Vec<Vec<u32>> = Vec::new();
        let mut total_tokens = 0;
        let mut stop = StopReason::Length;
        'samples: for s in 0..opts.samples {
            // Back to the shared prefix: only the last context token is recomputed.
            let mut step_start = Instant::now();
            let mut logits = match first.take() {
                Some(logits) => logits,
                None => self.feed_context(&context).await?,
            };
            let mut sampler = Sampler::new(g.seed.wrapping_add(s as u64));
            let mut bf = dist::BranchingFactor::new();
            let mut history = context.clone();
            let mut lp_sum = 0.0;
            let mut out = Vec::new();
            let mut broke = false;
            while out.len() < g.max_tokens {
                let warped = dist::warp(&logits, &g.sampling, &history)?;
                let id = sampler.sample(&warped);
                lp_sum += warped.logprob(id).unwrap_or(f64::NEG_INFINITY);
                let ms = step_start.elapsed().as_secs_f64() * 1e3;
                let step = steps::step_event(
                    &self.tokenizer,
                    out.len(),
                    history.len(),
                    &logits,
                    &warped,
                    id,
                    g.top_n,
                    &mut bf,
                    ms,
                )?;
                history.push(id);
                out.push(id);
                if on_event(&Event::Step(step)).is_break() {
                    broke = true;
                }
                let eos = !g.ignore_eos && self.tokenizer.is_end_of_generation(id);
                if broke || eos || out.len() == g.max_tokens || history.len() >= n_ctx {
                    break;
                }
                step_start = Instant::now();
                logits = self.feed(&[id], LogitsFor::Last).await?;
            }
            total_tokens += out.len();
            if let Some(b) = bf.running() {
                sample_bf.push(b);
                sample_logprob.push(lp_sum);
                per_token.push(lp_sum / out.len() as f64);
            }
            texts.push(out);
            if broke {
                stop = StopReason::Stopped;
                break 'samples;
            }
        }
        let decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
        let (logprob_mean, logprob_std) = mean_std(&sample_logprob);
        let (pt_mean, pt_std) = mean_std(&per_token);
        let mut distinct = texts.clone();
        distinct.sort();
        distinct.dedup();
        let summary = SamplesSummary {
            samples: texts.len(),
            bf: if sample_bf.is_empty() {
                1.0
            } else {
                dist::branching_factor_over_samples(&sample_bf)?
            },
            sample_bf,
            sample_logprob,
            logprob_mean,
            logprob_std,
            logprob_per_token_mean: pt_mean,
            logprob_per_token_std: pt_std,
            distinct: distinct.len(),
        };
        let done = DoneEvent {
            tokens: total_tokens,
            prompt_tokens: context.len(),
            prefill_ms,
            decode_ms,
            decode_tok_s: if decode_ms > 0.0 {
                total_tokens as f64 / (decode_ms / 1e3)
            } else {
                0.0
            },
            stop,
            text: texts
                .first()
                .map(|t| self.tokenizer.decode(t))
                .unwrap_or_default(),
            score: None,
            spec: None,
            compare: None,
            samples: Some(summary),
        };
        let _ = on_event(&Event::Done(done.clone()));
        Ok(done)
    }
}
