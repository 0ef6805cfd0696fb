//! Pure math on next-token distributions (docs/metrics.md §0–§4, §7): softmax statistics, sampling warpers, a
//! portable seeded sampler, divergences, detection scores and the branching factor.
//!
//! Everything here is plain data and functions over `&[f32]` logits or `&[f64]` probabilities; it builds for
//! wasm32 (no threads, no clock, no OS randomness).

mod error;
mod select;
mod softmax;
mod warpers;

pub use error::DistError;
pub use softmax::{
    Summary, TokenProb, argmax, check_logits, entropy_of_probs, logprob, nats_to_bits, rank,
    softmax, summarize, top_n,
};
pub use warpers::{SamplingParams, Warped, warp};
