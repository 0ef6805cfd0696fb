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
  backend: string;
}

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

/** Where a model comes from. */
export type ModelSource = { kind: 'default'; url: string } | { kind: 'url'; url: string } | { kind: 'file'; file: File };

/** Page → worker. */
export type ToWorker =
  | { type: 'load'; source: ModelSource }
  | { type: 'generate'; request: GenerateRequest; paused: boolean }
  | { type: 'step' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'score'; request: ScoreRequest }
  | { type: 'clear-cache' };

/** Worker → page. */
export type FromWorker =
  | { type: 'engine'; version: string }
  | { type: 'progress'; loaded: number; total: number | null; phase: 'download' | 'cache' | 'file' | 'parse' }
  | { type: 'loaded'; facts: ModelFacts; from: 'network' | 'cache' | 'file'; ms: number }
  | { type: 'event'; event: RunEvent }
  | { type: 'scored'; events: RunEvent[] }
  | { type: 'cache-cleared'; removed: boolean }
  | { type: 'error'; during: 'engine' | 'load' | 'generate' | 'score' | 'cache'; message: string; fatal: boolean };
