//! StepEvent: the one protocol between a run and whatever shows it (CLI line, web page).
//! Field names are fixed by docs/architecture.md: other tools read them.

use serde::{Deserialize, Serialize};
use tokscope_dist::GltrBucket;

/// One message of a run, serialised as `{"type": "step", ...}` or `{"type": "done", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Step(StepEvent),
    Done(DoneEvent),
}

/// A token with its display text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u32,
    /// The token's bytes as text (lossy where a token holds part of a UTF-8 character). Untrusted:
    /// never render it as HTML.
    pub text: String,
}

/// An entry of a top-N list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    pub id: u32,
    pub text: String,
    pub logprob: f64,
}

/// Statistics of the distribution actually sampled from (after temperature and the warpers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingStats {
    /// Entropy of the renormalised kept set, nats.
    pub entropy: f64,
    /// Tokens the warpers kept.
    pub kept: usize,
    /// Log-probability of the chosen token under the sampled distribution.
    pub logprob: f64,
}

/// Branching factor of the sampling distribution (metrics.md §2): this step, last 5, all so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bf {
    pub step: f64,
    pub window: f64,
    pub running: f64,
}

/// One decoding (or scoring) step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// 0-based step of this run.
    pub index: usize,
    /// Position of the token in the whole sequence (prompt included).
    pub position: usize,
    pub token: Token,
    /// Raw distribution (T = 1, no warpers), nats.
    pub logprob: f64,
    pub rank: usize,
    pub entropy: f64,
    pub top: Vec<TopEntry>,
    /// Absent in score mode, where nothing is sampled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sampling: Option<SamplingStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bf: Option<Bf>,
    /// Wall time of this step (forward pass and statistics), milliseconds.
    pub ms: f64,
    /// Score mode: `-logprob / ln 2`, bits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub surprisal: Option<f64>,
    /// Score mode: the GLTR rank bucket.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gltr: Option<GltrBucket>,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// `max_tokens` reached.
    Length,
    /// The model emitted an end-of-generation token.
    Eos,
    /// The caller asked to stop.
    Stopped,
    /// The context is full.
    Context,
    /// Score mode: the whole text was scored.
    End,
}

/// Aggregates of a score run (metrics.md §1 and §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub perplexity: f64,
    /// Mean of the lowest k% logprobs.
    pub min_k: f64,
    /// Min-K%++ over the same k.
    pub min_k_pp: f64,
    /// The k used, as a fraction (0.2 = 20%).
    pub k: f64,
}

/// The last message of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoneEvent {
    /// Tokens generated (or scored).
    pub tokens: usize,
    pub prompt_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub decode_tok_s: f64,
    pub stop: StopReason,
    /// The generated text, decoded as a whole.
    #[serde(default)]
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub score: Option<ScoreSummary>,
}
