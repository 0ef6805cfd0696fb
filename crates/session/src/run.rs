//! The run loops: generate and score, each emitting StepEvents as it goes.

use std::ops::ControlFlow;

use tokscope_dist::{self as dist, Sampler, SamplingParams};
use tokscope_model::{Backend, Draw, LogitsFor, StepOutput, StepQuery};
use tokscope_tokenizer::{ChatTemplate, ChatUnavailable, Message, Tokenizer};
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{DoneEvent, Event, ScoreSummary, StepEvent, StopReason};
use crate::steps;

/// A model ready to run: compute backend, tokenizer and chat template.
pub struct Session {
    pub(crate) backend: Box<dyn Backend>,
    pub tokenizer: Tokenizer,
    /// The chat template, or why the model takes raw prompts only.
    pub template: std::result::Result<ChatTemplate, ChatUnavailable>,
    /// The tokens the backend's KV cache holds, in order: what a branch can reuse.
    cached: Vec<u32>,
}

/// What the prompt is.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// Raw text, tokenized as is (control tokens written in it stay plain text).
    Raw(String),
    /// A user message rendered through the model's chat template, with an optional system prompt.
    Chat {
        system: Option<String>,
        user: String,
    },
}

/// Settings of a generate run.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    pub prompt: Prompt,
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub seed: u64,
    /// Length of the top-N list in each step.
    pub top_n: usize,
    /// Keep going past end-of-generation tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            prompt: Prompt::Raw(String::new()),
            max_tokens: 64,
            sampling: SamplingParams::default(),
            seed: 0,
            top_n: 5,
            ignore_eos: false,
        }
    }
}

/// Settings of a score run: the distribution at each position of `text`, given `prompt` and the
/// text before it (teacher forcing).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreOptions {
    pub prompt: Prompt,
    pub text: Vec<u32>,
    pub top_n: usize,
    /// Fraction of lowest-scoring tokens for Min-K% and Min-K%++.
    pub k: f64,
}

impl ScoreOptions {
    /// The Min-K% fraction when none is asked for.
    pub const DEFAULT_K: f64 = 0.2;
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Session {
    /// A session over any backend; the tokenizer and template come from the same file.
    pub fn new(
        backend: Box<dyn Backend>,
        tokenizer: Tokenizer,
        template: std::result::Result<ChatTemplate, ChatUnavailable>,
    ) -> Self {
        Self {
            backend,
            tokenizer,
            template,
            cached: Vec::new(),
        }
    }

    /// The model the session runs.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The model, for direct forward passes (tests, benchmarks): the session then no longer
    /// trusts its record of what the cache holds, and its next run recomputes everything.
    pub fn backend_mut(&mut self) -> &mut dyn Backend {
        self.cached.clear();
        self.backend.as_mut()
    }

    /// Forgets every cache position at and after `len`.
    pub(crate) fn rewind(&mut self, len: usize) {
        self.backend.truncate(len);
        self.cached.truncate(len);
    }

    /// Runs `tokens` after what the cache holds. After an error the cache is emptied, as its
    /// contents are then unknown.
    pub(crate) async fn feed(&mut self, tokens: &[u32], which: LogitsFor) -> Result<Vec<f32>> {
        match self.backend.forward_async(tokens, which).await {
            Ok(logits) => {
                self.cached.extend_from_slice(tokens);
                Ok(logits)
            }
            Err(e) => {
                self.rewind(0);
                Err(e.into())
            }
        }
    }

    /// Runs `tokens` like [`Session::feed`] for the last position only, letting the backend answer
    /// `query` where it can (the GPU reads back a summary instead of the logits).
    pub(crate) async fn feed_step(
        &mut self,
        tokens: &[u32],
        query: &StepQuery,
    ) -> Result<StepOutput> {
        match self.backend.forward_step_async(tokens, query).await {
            Ok(out) => {
                self.cached.extend_from_slice(tokens);
                Ok(out)
            }
            Err(e) => {
                self.rewind(0);
                Err(e.into())
            }
        }
    }

    /// Tokens reused from the cache for `context`: the longest prefix the cache holds, short of the
    /// last token (whose distribution must be computed). A branch from step k of an earlier run thus
    /// recomputes nothing before step k.
    pub fn reusable_prefix(&self, context: &[u32]) -> usize {
        if self.cached.len() != self.backend.cache_len() || context.is_empty() {
            return 0;
        }
        let common = self
            .cached
            .iter()
            .zip(context)
            .take_while(|(a, b)| a == b)
            .count();
        common.min(context.len() - 1)
    }

    /// Token ids of a prompt, with BOS where the model asks for it.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let (text, special) = match prompt {
            Prompt::Raw(text) => (text.clone(), false),
            Prompt::Chat { system, user } => {
                let template = self
                    .template
                    .as_ref()
                    .map_err(|why| SessionError::ChatUnavailable(why.clone()))?;
                let mut messages = Vec::new();
                if let Some(s) = system {
                    messages.push(Message::new("system", s.clone()));
                }
                messages.push(Message::new("user", user.clone()));
                let bos = self.token_str(self.tokenizer.bos_id());
                let eos = self.token_str(self.tokenizer.eos_id());
                (template.render(&messages, true, &bos, &eos)?, true)
            }
        };
        let mut ids = Vec::new();
        if self.tokenizer.add_bos() {
            ids.extend(self.tokenizer.bos_id());
        }
        ids.extend(self.tokenizer.encode(&text, special)?);
        Ok(ids)
    }

    fn token_str(&self, id: Option<u32>) -> String {
        id.map(|id| self.tokenizer.token_text(id))
            .unwrap_or_default()
    }

    /// Generates up to `max_tokens` tokens, calling `on_event` for each step and once at the end.
    /// `on_event` returning `Break` stops the run after that step.
    pub fn generate(
        &mut self,
        opts: &GenerateOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        now(self.generate_async(opts, on_event))
    }

    /// [`Session::generate`] for backends that must be awaited (WebGPU in the browser).
    pub async fn generate_async(
        &mut self,
        opts: &GenerateOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        let mut run = self.start_generate_async(opts).await?;
        while let Some(event) = run.next_async(self).await? {
            match &event {
                Event::Done(done) => {
                    let _ = on_event(&event);
                    return Ok(done.clone());
                }
                Event::Step(_) => {
                    if on_event(&event).is_break() {
                        run.stop();
                    }
                }
            }
        }
        unreachable!("a generation ends with its done event")
    }

    /// Prefills the prompt and returns the run, to be advanced one step at a time with
    /// [`Generation::next`] (the web worker's loop, which must stay responsive between steps).
    pub fn start_generate(&mut self, opts: &GenerateOptions) -> Result<Generation> {
        now(self.start_generate_async(opts))
    }

    /// [`Session::start_generate`] for backends that must be awaited.
    pub async fn start_generate_async(&mut self, opts: &GenerateOptions) -> Result<Generation> {
        let prompt = self.prompt_tokens(&opts.prompt)?;
        self.start_generation(opts, prompt, 0).await
    }

    /// Starts a generation that continues `context` (a prompt, perhaps followed by earlier tokens),
    /// computing it after the first `keep` tokens the cache holds; its steps count from the end of
    /// `context`.
    pub(crate) async fn start_generation(
        &mut self,
        opts: &GenerateOptions,
        context: Vec<u32>,
        keep: usize,
    ) -> Result<Generation> {
        opts.sampling.validate()?;
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
        let keep = keep.min(context.len() - 1);
        self.rewind(keep);
        let t0 = Instant::now();
        let mut sampler = Sampler::new(opts.seed);
        let u = sampler.uniform();
        let next = self
            .feed_step(&context[keep..], &step_query(opts, u))
            .await?;
        Ok(Generation {
            opts: opts.clone(),
            prompt_len: context.len(),
            prefill_ms: ms_since(t0),
            sampler,
            u,
            bf: dist::BranchingFactor::new(),
            history: context,
            next,
            step_start: t0,
            decode_start: Instant::now(),
            // No step at all: the run reports its prefill and ends.
            stop: (opts.max_tokens == 0).then_some(StopReason::Length),
            finished: false,
        })
    }

    /// Scores `text` token by token under the model (teacher forcing), one StepEvent per token.
    pub fn score(
        &mut self,
        opts: &ScoreOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        now(self.score_async(opts, on_event))
    }

    /// [`Session::score`] for backends that must be awaited.
    pub async fn score_async(
        &mut self,
        opts: &ScoreOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        let mut prompt = self.prompt_tokens(&opts.prompt)?;
        let mut text = opts.text.as_slice();
        if prompt.is_empty() {
            // Nothing conditions the first token: it is context, not scored.
            let (&first, rest) = text.split_first().ok_or(SessionError::EmptyPrompt)?;
            prompt.push(first);
            text = rest;
        }
        let all: Vec<u32> = prompt.iter().chain(text).copied().collect();
        let n_ctx = self.backend.n_ctx();
        if all.len() > n_ctx {
            return Err(SessionError::PromptTooLong {
                tokens: all.len(),
                n_ctx,
            });
        }
        self.rewind(0);
        let t0 = Instant::now();
        let logits = self.feed(&all, LogitsFor::All).await?;
        let prefill_ms = ms_since(t0);
        let vocab = self.backend.config().n_vocab;
        let mut logprobs = Vec::with_capacity(text.len());
        let mut zs = Vec::with_capacity(text.len());
        let mut stop = StopReason::End;
        for (index, &id) in text.iter().enumerate() {
            let t = Instant::now();
            let at = prompt.len() - 1 + index;
            let row = &logits[at * vocab..(at + 1) * vocab];
            let summary = dist::summarize(row)?;
            let mut step = steps::scored_step(
                &self.tokenizer,
                index,
                at + 1,
                row,
                &summary,
                id,
                opts.top_n,
            )?;
            logprobs.push(step.logprob);
            zs.push(dist::min_k_pp_z(row, summary.lse, id)?);
            step.ms = ms_since(t);
            if on_event(&Event::Step(step)).is_break() {
                stop = StopReason::Stopped;
                break;
            }
        }
        let score = if logprobs.is_empty() {
            None
        } else {
            Some(ScoreSummary {
                perplexity: dist::perplexity(&logprobs)?,
                min_k: dist::min_k_percent(&logprobs, opts.k)?,
                min_k_pp: dist::min_k_plus_plus(&zs, opts.k)?,
                k: opts.k,
            })
        };
        let done = DoneEvent {
            tokens: logprobs.len(),
            prompt_tokens: prompt.len(),
            prefill_ms,
            decode_ms: 0.0,
            decode_tok_s: 0.0,
            stop,
            text: self.tokenizer.decode(text),
            score,
            spec: None,
            compare: None,
            samples: None,
        };
        let _ = on_event(&Event::Done(done.clone()));
        Ok(done)
    }
}

/// A generation in progress: the sampler, history and the logits of the next step.
pub struct Generation {
    opts: GenerateOptions,
    prompt_len: usize,
    prefill_ms: f64,
    sampler: Sampler,
    /// The uniform draw that decides the next token (drawn when its forward pass was issued, so
    /// that a GPU can draw the token in the same pass).
    u: f64,
    bf: dist::BranchingFactor,
    /// Prompt and generated tokens.
    history: Vec<u32>,
    /// The next token's distribution: answered by the backend, or its logits.
    next: StepOutput,
    step_start: Instant,
    decode_start: Instant,
    /// Set once the run must end; the next call emits the done event.
    stop: Option<StopReason>,
    finished: bool,
}

impl Generation {
    /// Asks the run to end: the next call to [`Generation::next`] returns its done event.
    pub fn stop(&mut self) {
        self.stop.get_or_insert(StopReason::Stopped);
    }

    /// Time spent computing the context before the first step, milliseconds.
    pub fn prefill_ms(&self) -> f64 {
        self.prefill_ms
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.history[self.prompt_len..]
    }

    /// The next event: a step, or the done event once the run has ended; `None` after that.
    pub fn next(&mut self, session: &mut Session) -> Result<Option<Event>> {
        now(self.next_async(session))
    }

    /// [`Generation::next`] for backends that must be awaited.
    pub async fn next_async(&mut self, session: &mut Session) -> Result<Option<Event>> {
        if self.finished {
            return Ok(None);
        }
        if let Some(stop) = self.stop {
            self.finished = true;
            return Ok(Some(Event::Done(self.done(session, stop))));
        }
        let index = self.history.len() - self.prompt_len;
        // Taken: the next forward pass replaces it.
        let next = std::mem::replace(&mut self.next, StepOutput::Logits(Vec::new()));
        let mut step = match &next {
            StepOutput::Answer(answer) => {
                steps::answered_step(&session.tokenizer, answer, &mut self.bf)?
            }
            StepOutput::Logits(logits) => self.computed_step(session, logits)?,
        };
        step.index = index;
        step.position = self.history.len();
        step.ms = ms_since(self.step_start);
        let id = step.token.id;
        self.history.push(id);
        if !self.opts.ignore_eos && session.tokenizer.is_end_of_generation(id) {
            self.stop = Some(StopReason::Eos);
        } else if index + 1 >= self.opts.max_tokens {
            self.stop = Some(StopReason::Length);
        } else if self.history.len() >= session.backend.n_ctx() {
            self.stop = Some(StopReason::Context);
        } else {
            self.step_start = Instant::now();
            self.u = self.sampler.uniform();
            let query = step_query(&self.opts, self.u);
            self.next = session.feed_step(&[id], &query).await?;
        }
        Ok(Some(Event::Step(step)))
    }

    /// The step from the next token's logits: warped and sampled here (the CPU's way).
    fn computed_step(&mut self, session: &Session, logits: &[f32]) -> Result<StepEvent> {
        let (summary, warped) =
            dist::summarize_and_warp(logits, &self.opts.sampling, &self.history)?;
        let id = warped.quantile(self.u);
        steps::step_event_with(
            &session.tokenizer,
            0,
            0,
            logits,
            &summary,
            &warped,
            id,
            self.opts.top_n,
            &mut self.bf,
            0.0,
        )
    }

    fn done(&self, session: &Session, stop: StopReason) -> DoneEvent {
        let decode_ms = ms_since(self.decode_start);
        let generated = self.generated();
        // The first token comes from the prefill's logits: decode speed counts the forward passes.
        let decoded = generated.len().saturating_sub(1);
        DoneEvent {
            tokens: generated.len(),
            prompt_tokens: self.prompt_len,
            prefill_ms: self.prefill_ms,
            decode_ms,
            decode_tok_s: if decode_ms > 0.0 {
                decoded as f64 / (decode_ms / 1e3)
            } else {
                0.0
            },
            stop,
            text: session.tokenizer.decode(generated),
            score: None,
            spec: None,
            compare: None,
            samples: None,
        }
    }
}

/// What a generate step asks the backend: its top-N, and the token drawn with `u` where the
/// warpers are ones a backend may run (temperature, top-k, top-p, min-p); with a repetition
/// penalty or typical sampling the draw stays on the host, which needs the logits.
fn step_query(opts: &GenerateOptions, u: f64) -> StepQuery {
    let sp = &opts.sampling;
    let host_only = sp.repetition_penalty != 1.0 || sp.typical != 1.0;
    StepQuery {
        top_n: if host_only { usize::MAX } else { opts.top_n },
        draw: (!host_only).then_some(Draw { params: *sp, u }),
    }
}
