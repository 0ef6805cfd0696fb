//! The one abstraction over compute: what the session needs from a model, CPU or GPU.

use std::future::Future;
use std::pin::Pin;

use crate::config::Config;
use crate::error::Result;

/// What [`Backend::forward_async`] returns: boxed so that the trait stays object safe.
pub type ForwardFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<f32>>> + 'a>>;

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

    /// A short human-readable name: "cpu (avx2, 2 threads)", a GPU adapter's name, ...
    fn describe(&self) -> String;
}
