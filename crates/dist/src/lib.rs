//! Pure math on next-token distributions (docs/metrics.md §0–§7): softmax statistics, sampling warpers, a
//! portable seeded sampler, divergences, detection scores, the branching factor, speculative verification and
//! drafters (single and multi-draft), and logit arithmetic between conditions.
//!
//! Everything here is plain data and functions over `&[f32]` logits or `&[f64]` probabilities; it builds for
//! wasm32 (no threads, no clock, no OS randomness).

mod branching;
mod divergence;
mod drafters;
mod error;
mod logit_arith;
mod multidraft;
pub mod params;
mod sampler;
mod score;
mod select;
mod softmax;
mod speculative;
mod warpers;

pub use branching::{
    BF_WINDOW, BranchingFactor, BranchingStep, branching_factor, branching_factor_aep,
    branching_factor_over_samples, task_branching_factor,
};
pub use divergence::{Divergences, divergences, divergences_from_logits, js, kl, tv};
pub use drafters::{DEFAULT_MAX_NGRAM, TRIGRAM_TOP, TrigramTable, prompt_lookup};
pub use error::DistError;
pub use logit_arith::{
    GatedContrast, contrastive, emulated_disalignment, uncertainty_gated_contrast, weighted_sum,
};
pub use multidraft::{kseq_beta, kseq_rho, kseq_verify, optimal_acceptance};
pub use params::SamplingParams;
pub use sampler::Sampler;
pub use score::{
    GltrBucket, gltr_bucket, min_k_percent, min_k_plus_plus, min_k_pp_z, min_k_pp_z_from_probs,
    perplexity, surprisal_bits,
};
pub use softmax::{
    Summary, TokenProb, argmax, check_logits, entropy_of_probs, logprob, nats_to_bits, rank,
    softmax, summarize, top_n,
};
pub use speculative::{
    DraftCheck, NextSource, Outcome, Verification, acceptance_probability, beta,
    expected_tokens_per_call, residual, verify,
};
pub use warpers::{Warped, summarize_and_warp, warp};
