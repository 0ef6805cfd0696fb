//! Branch mode: continue from any point of a run — the prompt, then a given token prefix (an earlier run's
//! first k tokens and a chosen alternative) — and sample M continuations of it. The shared prefix is
//! computed once; each continuation truncates the KV cache back to it. "done" reports the multi-sample
//! branching factor of metrics.md §2 and how far the samples agree.

use std::ops::ControlFlow;

use tokscope_dist as dist;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{DoneEvent, Event, SamplesSummary, StopReason};
use crate::run::{GenerateOptions, Session};

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
        let mut prefill_ms = None;
        let decode_start = Instant::now();
        let (mut sample_bf, mut sample_logprob, mut per_token) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut texts: Vec<Vec<u32>> = Vec::new();
        let mut total_tokens = 0;
        let mut stop = StopReason::Length;
        for s in 0..opts.samples {
            // Each sample is a generation from the shared context: what the cache holds of it (an
            // earlier run's prompt and tokens, or the previous sample's) is kept, so only the last
            // context token is recomputed.
            let sample = GenerateOptions {
                seed: g.seed.wrapping_add(s as u64),
                ..g.clone()
            };
            let keep = self.reusable_prefix(&context);
            let mut generation = self
                .start_generation(&sample, context.clone(), keep)
                .await?;
            prefill_ms.get_or_insert(generation.prefill_ms());
            let (mut lp_sum, mut running_bf) = (0.0, None);
            while let Some(event) = generation.next_async(self).await? {
                match event {
                    Event::Step(step) => {
                        lp_sum += step.sampling.as_ref().map_or(0.0, |w| w.logprob);
                        running_bf = step.bf.as_ref().map(|bf| bf.running);
                        if on_event(&Event::Step(step)).is_break() {
                            generation.stop();
                        }
                    }
                    Event::Done(done) => stop = done.stop,
                }
            }
            let out = generation.generated().to_vec();
            total_tokens += out.len();
            if let Some(bf) = running_bf {
                sample_bf.push(bf);
                sample_logprob.push(lp_sum);
                per_token.push(lp_sum / out.len() as f64);
            }
            texts.push(out);
            if stop == StopReason::Stopped {
                break;
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
            prefill_ms: prefill_ms.unwrap_or(0.0),
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
