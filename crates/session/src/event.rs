//! StepEvent: the one protocol between a run and whatever shows it (CLI line, web page).
//! Field names are fixed by docs/architecture.md: other tools read them.

use serde::{Deserialize, Serialize};
use tokscope_dist::{GltrBucket, Outcome};

/// Branching factor of the sampling distribution (metrics.md §2): this step, last 5, all so far.
pub use tokscope_dist::BranchingStep as Bf;

/// One message of a run, serialised as `{"type": "step", ...}` or `{"type": "done", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[cfg_attr(feature = "typescript", tsify(rename = "RunEvent"))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Step(StepEvent),
    Done(DoneEvent),
}

/// A token with its display text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Token {
    pub id: u32,
    /// The token's bytes as text (lossy where a token holds part of a UTF-8 character). Untrusted:
    /// never render it as HTML.
    pub text: String,
}

/// An entry of a top-N list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct TopEntry {
    pub id: u32,
    pub text: String,
    pub logprob: f64,
}

/// Statistics of the distribution actually sampled from (after temperature and the warpers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct SamplingStats {
    /// Entropy of the renormalised kept set, nats.
    pub entropy: f64,
    /// Tokens the warpers kept.
    pub kept: usize,
    /// Log-probability of the chosen token under the sampled distribution.
    pub logprob: f64,
}

/// One decoding (or scoring) step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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
    /// Speculate mode: how this token came from the drafts (docs/protocol.md).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spec: Option<SpecStep>,
    /// Compare mode: the second condition and the divergences between the two (docs/protocol.md).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compare: Option<CompareStep>,
}

/// How a speculative token was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum SpecSource {
    /// A drafted token the target accepted.
    Accepted,
    /// Drawn from the residual `norm(max(0, p - q))` after a rejection.
    Resampled,
    /// Drawn from the target after every draft of the round was accepted (or nothing was drafted).
    Bonus,
}

/// One drafted token as the target judged it (metrics.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct SpecDraft {
    pub id: u32,
    pub text: String,
    /// Draft probability after the warpers.
    pub q: f64,
    /// Target probability after the warpers.
    pub p: f64,
    /// `min(1, p/q)`.
    pub accept_prob: f64,
    /// `Σ min(p, q)` at this position.
    pub beta: f64,
    pub outcome: Outcome,
}

/// Speculate mode's part of a StepEvent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct SpecStep {
    /// 0-based target call (verification round) that emitted this token.
    pub round: usize,
    pub source: SpecSource,
    /// On the first token of a round only: every draft of the round, in order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub drafts: Vec<SpecDraft>,
    /// On a resampled token only: the residual's most probable entries.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub residual: Vec<TopEntry>,
    /// On the first token of a round: mean β over the round's drafted positions (absent if nothing was drafted).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub beta: Option<f64>,
    /// Multi-draft mode: the K-SEQ check that decided this token (absent on a bonus token).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub multi: Option<MultiDraftCheck>,
}

/// One candidate token of a multi-draft check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct MultiDraftCandidate {
    /// Which of the round's K draft sequences proposed it (0-based).
    pub draft: usize,
    pub id: u32,
    pub text: String,
    /// Draft and target probabilities after the warpers.
    pub q: f64,
    pub p: f64,
    /// K-SEQ's `min(1, p/(ρ q))`.
    pub accept_prob: f64,
    /// `skipped`: an earlier candidate was accepted, so this one was never checked.
    pub outcome: Outcome,
}

/// Multi-draft mode (metrics.md §5c): the K-SEQ check at one draft position, over the candidates still in play
/// there (the draft sequences whose earlier tokens are the accepted ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct MultiDraftCheck {
    /// 0-based draft position within the round.
    pub depth: usize,
    /// The candidates in play, in the order checked (k of them).
    pub candidates: Vec<MultiDraftCandidate>,
    /// SpecTr's ρ* for this k.
    pub rho: f64,
    /// `Σ min(p, q)`: what one draft alone would be accepted with.
    pub beta: f64,
    /// K-SEQ's acceptance probability `1 - (1 - β(ρ*))^k`.
    pub kseq_accept: f64,
    /// The best acceptance probability any verifier of k i.i.d. drafts can reach (Hu et al. 2025).
    pub optimal: f64,
}

/// Aggregates only a multi-draft run has (the rest of [`SpecSummary`] counts draft positions, not candidates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct MultiDraftSummary {
    /// K: draft sequences per round.
    pub drafts: usize,
    /// Candidate tokens drafted over the run (K per draft position).
    pub n_candidates: usize,
    /// Target forward passes actually run: the backend holds one sequence, so a round needs a new pass each time
    /// the accepted path leaves the sequence last computed (a batched or tree-attention target needs one).
    pub target_forwards: usize,
    /// Emitted tokens per target forward pass.
    pub tokens_per_forward: f64,
    /// Means over every checked position of K-SEQ's acceptance probability and of the optimal bound.
    pub mean_kseq_accept: f64,
    pub mean_optimal: f64,
    /// The same per draft position (0-based), with the mean number of candidates in play there.
    pub kseq_accept_by_position: Vec<f64>,
    pub optimal_by_position: Vec<f64>,
    pub candidates_by_position: Vec<f64>,
}

/// Aggregates of a speculate run, in llama.cpp's vocabulary (metrics.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct SpecSummary {
    /// Which drafter: "model", "early-exit:L", "ngram", "trigram".
    pub drafter: String,
    pub gamma: usize,
    /// Verification rounds (batched target forward passes).
    pub target_calls: usize,
    pub n_drafted: usize,
    pub n_accepted: usize,
    /// `n_accepted / n_drafted` (0 when nothing was drafted).
    pub acceptance_rate: f64,
    /// Accepted drafts per target call.
    pub mean_accepted_len: f64,
    /// Emitted tokens per target call (accepted + the resampled or bonus token).
    pub tokens_per_call: f64,
    /// For draft position i (0-based): accepted at i / rounds that drafted a token at i.
    pub acceptance_by_position: Vec<f64>,
    /// Mean β over every drafted position (absent if nothing was drafted).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean_beta: Option<f64>,
    /// `(1 - α^(γ+1)) / (1 - α)` with α = mean β: what theory expects per call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_tokens_per_call: Option<f64>,
    /// Generated tokens per second of decoding (drafting and verification together).
    pub tok_s: f64,
    /// Multi-draft mode only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub multi: Option<MultiDraftSummary>,
}

/// A compare mode without its parameters: what events report and what the page asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    A,
    B,
    Ed,
    Cd,
    Uscd,
    Arith,
}

impl std::fmt::Display for ModeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ModeName::A => "a",
            ModeName::B => "b",
            ModeName::Ed => "ed",
            ModeName::Cd => "cd",
            ModeName::Uscd => "uscd",
            ModeName::Arith => "arith",
        };
        f.write_str(name)
    }
}

/// Compare mode's part of a StepEvent: the step's main fields describe condition a; this adds condition b,
/// the divergences a‖b, and the distribution actually decoded from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct CompareStep {
    /// Condition b's raw top-N.
    pub top_b: Vec<TopEntry>,
    /// The chosen token under condition b (raw distribution).
    pub logprob_b: f64,
    pub rank_b: usize,
    pub entropy_b: f64,
    /// KL(a‖b), nats; +inf where b rules out a token a allows (null once through JSON, which has no ∞).
    #[cfg_attr(feature = "typescript", tsify(type = "number | null"))]
    pub kl_ab: f64,
    /// KL(b‖a), nats; +inf or null as `kl_ab`.
    #[cfg_attr(feature = "typescript", tsify(type = "number | null"))]
    pub kl_ba: f64,
    /// Jensen–Shannon, nats.
    pub js: f64,
    /// Total variation.
    pub tv: f64,
    /// The decoding mode.
    pub mode: ModeName,
    /// Top-N of the distribution decoded from (after the mode's arithmetic, before the warpers).
    pub top_mixed: Vec<TopEntry>,
    /// uscd: the uncertainty statistic (entropy of a, nats) and whether the contrast was applied.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uncertainty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contrast_applied: Option<bool>,
}

/// Aggregates of a compare run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct CompareSummary {
    pub mode: ModeName,
    /// Means over the steps; the KL means are +inf (null through JSON) where one step's is.
    #[cfg_attr(feature = "typescript", tsify(type = "number | null"))]
    pub mean_kl_ab: f64,
    #[cfg_attr(feature = "typescript", tsify(type = "number | null"))]
    pub mean_kl_ba: f64,
    pub mean_js: f64,
    pub mean_tv: f64,
    /// Steps where the two conditions' greedy tokens differ.
    pub argmax_disagreements: usize,
}

/// Aggregates of a multi-sample run (metrics.md §2): M continuations of one prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct SamplesSummary {
    pub samples: usize,
    /// Each sample's branching factor `exp(mean H̃)`.
    pub sample_bf: Vec<f64>,
    /// `exp(mean of per-sample ln BF)`.
    pub bf: f64,
    /// Each sample's total log-probability under the sampling distribution, nats.
    pub sample_logprob: Vec<f64>,
    /// Mean and standard deviation of those totals, and of per-token means: how far the samples agree.
    pub logprob_mean: f64,
    pub logprob_std: f64,
    pub logprob_per_token_mean: f64,
    pub logprob_per_token_std: f64,
    /// Distinct texts among the samples.
    pub distinct: usize,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spec: Option<SpecSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compare: Option<CompareSummary>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub samples: Option<SamplesSummary>,
}
