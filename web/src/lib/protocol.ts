// The messages between the page and the engine worker, and the StepEvent protocol they carry.
// Hand-written mirrors of crates/session/src/event.rs (field names fixed by docs/architecture.md) and of
// crates/wasm/src/options.rs; the e2e test checks them against the CLI's JSON for the same run.
// Only the worker produces model output; the page renders it.

/** A token with its display text. The text is untrusted: render it as text, never as HTML. */
export interface Token {
  id: number;
  text: string;
}

/** An entry of a step's top-N list (raw distribution). */
export interface TopEntry {
  id: number;
  text: string;
  logprob: number;
}

/** Statistics of the distribution actually sampled from (after temperature and the warpers). */
export interface SamplingStats {
  /** Entropy of the kept, renormalised set, nats. */
  entropy: number;
  kept: number;
  logprob: number;
}

/** Branching factor of the sampling distribution: this step, last 5 steps, all so far. */
export interface Bf {
  step: number;
  window: number;
  running: number;
}

/** GLTR rank bucket of a token: rank < 10, < 100, < 1000, else. */
export type GltrBucket = 'green' | 'yellow' | 'red' | 'purple';

/** One decoding (or scoring) step. logprob, rank, entropy and top describe the raw distribution (T = 1). */
export interface StepEvent {
  type: 'step';
  index: number;
  position: number;
  token: Token;
  logprob: number;
  rank: number;
  entropy: number;
  top: TopEntry[];
  sampling?: SamplingStats;
  bf?: Bf;
  ms: number;
  /** Score mode: -logprob / ln 2, bits. */
  surprisal?: number;
  /** Score mode: the GLTR bucket. */
  gltr?: GltrBucket;
  /** Speculate mode: how this token came from the drafts. */
  spec?: SpecStep;
  /** Compare mode: condition b and the divergences between the two conditions. */
  compare?: CompareStep;
}

/** How a speculative token was produced: a kept draft, drawn from the residual after a rejection, or drawn from the target. */
export type SpecSource = 'accepted' | 'resampled' | 'bonus';

/** What the target made of a draft; `skipped`: after an earlier rejection, never checked. */
export type DraftOutcome = 'accepted' | 'rejected' | 'skipped';

/** One drafted token as the target judged it (q, p after the same warpers). */
export interface SpecDraft {
  id: number;
  text: string;
  q: number;
  p: number;
  /** min(1, p/q). */
  accept_prob: number;
  /** Σ min(p, q) at this position. */
  beta: number;
  outcome: DraftOutcome;
}

/** Speculate mode's part of a step (docs/protocol.md `step.spec`). */
export interface SpecStep {
  /** 0-based verification round (one batched target forward pass) that emitted the token. */
  round: number;
  source: SpecSource;
  /** On the first token of a round only: every draft of the round, in order. */
  drafts?: SpecDraft[];
  /** On a resampled token only: top-N of norm(max(0, p - q)). */
  residual?: TopEntry[];
  /** On the first token of a round: mean β over the round's drafts (absent when nothing was drafted). */
  beta?: number;
  /** Multi-draft runs, on every token but a bonus one: the K-SEQ check that decided it. */
  multi?: MultiDraftCheck;
}

/** A candidate token of a multi-draft position as K-SEQ judged it (docs/protocol.md `step.spec.multi`). */
export interface MultiDraftCandidate {
  /** Which of the round's K draft sequences proposed it (0-based). */
  draft: number;
  id: number;
  text: string;
  q: number;
  p: number;
  /** min(1, p/(ρ q)). */
  accept_prob: number;
  /** `accepted` (at most one), `rejected`, or `skipped` (after the accepted one, never checked). */
  outcome: DraftOutcome;
}

/** The K-SEQ check at one draft position, over the candidates still in play there. */
export interface MultiDraftCheck {
  /** 0-based draft position within the round. */
  depth: number;
  /** The k candidates in play, in the order checked. */
  candidates: MultiDraftCandidate[];
  /** SpecTr's ρ* for this k, in [1, k]. */
  rho: number;
  /** Σ min(p, q): one draft's acceptance probability here. */
  beta: number;
  /** K-SEQ's acceptance probability 1 − (1 − β(ρ*))^k. */
  kseq_accept: number;
  /** The best acceptance any verifier of k i.i.d. drafts can reach. */
  optimal: number;
}

/** Aggregates only a multi-draft run has (docs/protocol.md `done.spec.multi`). */
export interface MultiDraftSummary {
  /** K: draft sequences per round. */
  drafts: number;
  n_candidates: number;
  /** Target forward passes actually run (the backends hold one sequence). */
  target_forwards: number;
  tokens_per_forward: number;
  mean_kseq_accept: number;
  mean_optimal: number;
  /** Per draft position (0-based): mean K-SEQ acceptance, mean optimal bound, mean candidates in play. */
  kseq_accept_by_position: number[];
  optimal_by_position: number[];
  candidates_by_position: number[];
}

/** Aggregates of a speculate run (docs/protocol.md `done.spec`). */
export interface SpecSummary {
  /** `model`, `early-exit:L`, `ngram` or `trigram`. */
  drafter: string;
  gamma: number;
  target_calls: number;
  n_drafted: number;
  n_accepted: number;
  acceptance_rate: number;
  mean_accepted_len: number;
  tokens_per_call: number;
  acceptance_by_position: number[];
  mean_beta?: number;
  expected_tokens_per_call?: number;
  tok_s: number;
  /** Multi-draft runs only. */
  multi?: MultiDraftSummary;
}

/** A compare mode: a, b, extrapolation, contrastive, uncertainty-switched contrastive, logit arithmetic. */
export type CompareMode = 'a' | 'b' | 'ed' | 'cd' | 'uscd' | 'arith';

/** Compare mode's part of a step (docs/protocol.md `step.compare`); the step's main fields describe condition a. */
export interface CompareStep {
  top_b: TopEntry[];
  logprob_b: number;
  rank_b: number;
  entropy_b: number;
  /** KL(a‖b), nats; null where it is +∞ (JSON cannot hold ∞). */
  kl_ab: number | null;
  /** KL(b‖a), nats; null where it is +∞. */
  kl_ba: number | null;
  js: number;
  tv: number;
  mode: CompareMode;
  /** Top-N of the distribution decoded from, before the sampling warpers. */
  top_mixed: TopEntry[];
  /** uscd only: condition a's raw entropy, nats. */
  uncertainty?: number;
  /** uscd only: whether the entropy reached the threshold, so the contrast was applied. */
  contrast_applied?: boolean;
}

/** Aggregates of a compare run (docs/protocol.md `done.compare`). */
export interface CompareSummary {
  mode: CompareMode;
  mean_kl_ab: number | null;
  mean_kl_ba: number | null;
  mean_js: number;
  mean_tv: number;
  argmax_disagreements: number;
}

/** Aggregates of a multi-sample branch run (docs/protocol.md `done.samples`). */
export interface SamplesSummary {
  samples: number;
  sample_bf: number[];
  bf: number;
  sample_logprob: number[];
  logprob_mean: number;
  logprob_std: number;
  logprob_per_token_mean: number;
  logprob_per_token_std: number;
  distinct: number;
}

export type StopReason = 'length' | 'eos' | 'stopped' | 'context' | 'end';

/** Aggregates of a score run. */
export interface ScoreSummary {
  perplexity: number;
  min_k: number;
  min_k_pp: number;
  k: number;
}

/** The last message of a run. */
export interface DoneEvent {
  type: 'done';
  tokens: number;
  prompt_tokens: number;
  prefill_ms: number;
  decode_ms: number;
  decode_tok_s: number;
  stop: StopReason;
  text: string;
  score?: ScoreSummary;
  spec?: SpecSummary;
  compare?: CompareSummary;
  samples?: SamplesSummary;
}

export type RunEvent = StepEvent | DoneEvent;

/** What the model bar shows about a loaded model (crates/wasm/src/engine.rs `Facts`). */
export interface ModelFacts {
  name: string | null;
  architecture: string;
  parameters: number;
  file_bytes: number;
  tensor_types: Record<string, number>;
  vocab_size: number;
  context_train: number;
  context: number;
  layers: number;
  embedding: number;
  heads: number;
  kv_heads: number;
  chat_template: boolean;
  /** The backend in use, e.g. "webgpu (SwiftShader …)" or "wasm cpu (simd128, 1 thread)". */
  backend: string;
  /** The WebGPU adapter's description when WebGPU is available to the worker, else null. */
  webgpu: string | null;
  /** Why the model is not on the backend that was asked for (WebGPU failed, so the CPU runs it), else null. */
  backend_note: string | null;
}

/** Which compute backend runs the model: WebGPU where available (auto), or forced. */
export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

/** The prompt: raw text, or a chat turn through the model's template with an optional system prompt. */
export type PromptRequest = { kind: 'raw'; text: string } | { kind: 'chat'; system: string | null; user: string };

/** Settings of a generate run (crates/wasm/src/options.rs). */
export interface GenerateRequest {
  prompt: PromptRequest;
  max_tokens: number;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  seed: number;
  top_n: number;
}

/** Settings of a score run: `text` is scored token by token after `prompt`. */
export interface ScoreRequest {
  prompt: PromptRequest;
  text: string;
  top_n: number;
  k: number;
}

/** Settings of a speculate run: generate's, plus the drafter and how many tokens it drafts per target call. */
export type SpeculateRequest = GenerateRequest & {
  /** Drafted tokens per target call, 1..=16. */
  gamma: number;
  drafter: 'ngram' | 'trigram' | 'early-exit';
  /** Early-exit drafter: layers it keeps. */
  layers: number;
  /** N-gram drafter: longest n-gram the prompt lookup tries. */
  max_ngram: number;
  /** Draft sequences per round, 1..=8: 1 is single-draft speculation, more is multi-draft with K-SEQ (early exit only). */
  drafts: number;
};

/** Settings of a compare run: 2 or 3 conditions (prompts) on the one loaded model, and how to decode from them. */
export interface CompareRequest {
  prompts: PromptRequest[];
  mode: CompareMode;
  alpha: number;
  threshold: number;
  /** arith: one weight per condition. */
  weights: number[];
  max_tokens: number;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  seed: number;
  top_n: number;
}

/**
 * Settings of a branch run: `samples` continuations of prompt + `prefix` (tokens after the prompt: an earlier
 * run's first k tokens and the chosen alternative). The engine reuses its KV cache for the common prefix.
 */
export type BranchRequest = GenerateRequest & { prefix: number[]; samples: number };

/** Where a model comes from. */
export type ModelSource = { kind: 'default'; url: string } | { kind: 'url'; url: string } | { kind: 'file'; file: File };

/** The streaming run modes. */
export type RunKind = 'generate' | 'speculate' | 'compare' | 'branch';

/** Page → worker. */
export type ToWorker =
  | { type: 'load'; source: ModelSource; backend: BackendChoice }
  | { type: 'backend'; backend: BackendChoice }
  | { type: 'generate'; request: GenerateRequest; paused: boolean }
  | { type: 'speculate'; request: SpeculateRequest }
  | { type: 'compare'; request: CompareRequest }
  | { type: 'branch'; request: BranchRequest }
  | { type: 'step' }
  | { type: 'resume' }
  /** Stops any running mode. */
  | { type: 'stop' }
  | { type: 'score'; request: ScoreRequest }
  | { type: 'clear-cache' };

/** Worker → page. */
export type FromWorker =
  | { type: 'engine'; version: string }
  | { type: 'progress'; loaded: number; total: number | null; phase: LoadPhase }
  /** A model is ready; `switch`: the loaded model moved to another backend. */
  | { type: 'loaded'; facts: ModelFacts; from: 'network' | 'cache' | 'file' | 'switch'; ms: number }
  /** One event of a generate, speculate, compare or branch run: a step per token, then done. */
  | { type: 'event'; event: RunEvent }
  | { type: 'scored'; events: RunEvent[] }
  | { type: 'cache-cleared'; removed: boolean }
  | { type: 'error'; during: RunKind | 'engine' | 'load' | 'score' | 'cache' | 'backend'; message: string; fatal: boolean };

/** What a load is doing: fetching the file, reading its header, uploading the weights to the GPU, or copying them into
 * wasm memory for the CPU backend. */
export type LoadPhase = 'download' | 'cache' | 'file' | 'parse' | 'upload' | 'memory';
