//! The one abstraction over compute: what the session needs from a model, CPU or GPU.

use std::future::Future;
use std::pin::Pin;

use crate::config::Config;
use crate::error::Result;
use tokscope_dist::SamplingParams;

/// What [`Backend::forward_async`] returns: boxed so that the trait stays object safe.
pub type ForwardFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<f32>>> + 'a>>;

/// What [`Backend::forward_step_async`] returns.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutput>> + 'a>>;

/// A decode step's question about the next-token distribution, for backends that can answer it
/// where the logits live (a GPU then reads back a few hundred bytes instead of the vocabulary).
#[derive(Clone, Debug, PartialEq)]
pub struct StepQuery {
    /// Most likely tokens wanted.
    pub top_n: usize,
    /// The token to draw, if any.
    pub draw: Option<Draw>,
}

/// A draw by inverse CDF of `u` through the request's sampling settings, as they came with it, in
/// crates/dist's order and definitions (temperature 0: the argmax), so the token is the one dist
/// would give. A backend runs temperature, top-k, top-p and min-p; for other warpers it returns
/// the logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    pub params: SamplingParams,
    /// Uniform in [0, 1).
    pub u: f64,
}

/// The answer to a [`StepQuery`]: the raw distribution's log-sum-exp and entropy (nats), its
/// top tokens as (id, logprob), and the drawn token.
#[derive(Clone, Debug, PartialEq)]
pub struct StepAnswer {
    pub lse: f64,
    pub entropy: f64,
    pub top: Vec<(u32, f64)>,
    pub drawn: Option<Drawn>,
}

/// A drawn token: its raw logprob and rank, and its logprob, the entropy and the size of the
/// warped distribution it was drawn from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawn {
    pub id: u32,
    pub logprob: f64,
    pub rank: usize,
    pub warped_logprob: f64,
    pub warped_entropy: f64,
    pub kept: usize,
}

/// What a step gives back: the answer, or the last position's logits where the backend answers
/// no queries or could not decide this one (the caller then computes it from them).
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutput {
    Answer(StepAnswer),
    Logits(Vec<f32>),
}

/// Which logits a forward call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsFor {
    /// Only the last token's (generation, prefill).
    Last,
    /// Every token's, in order (scoring, speculative verification).
    All,
}

/// A model with its KV cache. Positions are implicit: tokens go after what the cache holds.
pub trait Backend {
    fn config(&self) -> &Config;

    /// Context size of the cache: `cache_len() + tokens` may not exceed it.
    fn n_ctx(&self) -> usize;

    /// Tokens the KV cache holds.
    fn cache_len(&self) -> usize;

    /// Forgets every position at and after `len` (branching, speculative rollback).
    fn truncate(&mut self, len: usize);

    /// Runs `tokens` at positions `cache_len()..`, appending their keys and values to the cache,
    /// and returns `n_vocab` logits per requested position, concatenated.
    fn forward(&mut self, tokens: &[u32], which: LogitsFor) -> Result<Vec<f32>>;

    /// [`Backend::forward`] as a future, for backends that must await their results (WebGPU in
    /// the browser cannot block on a readback). The default computes at once and is ready at once.
    fn forward_async<'a>(&'a mut self, tokens: &'a [u32], which: LogitsFor) -> ForwardFuture<'a> {
        Box::pin(std::future::ready(self.forward(tokens, which)))
    }

    /// Runs `tokens` like `forward_async(tokens, LogitsFor::Last)` and answers `query` about the
    /// last position's distribution where the backend can (the GPU); the default, and a backend
    /// that cannot decide, returns the logits.
    fn forward_step_async<'a>(
        &'a mut self,
        tokens: &'a [u32],
        query: &'a StepQuery,
    ) -> StepFuture<'a> {
        let _ = query;
        Box::pin(async move {
            Ok(StepOutput::Logits(
                self.forward_async(tokens, LogitsFor::Last).await?,
            ))
        })
    }

    /// A short human-readable name: "cpu (avx2, 2 threads)", a GPU adapter's name, ...
    fn describe(&self) -> String;
}
