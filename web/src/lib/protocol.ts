// Messages the engine worker posts to the page. Only the worker produces model output; the page renders it.

/** What `summarize` in crates/wasm returns for a logit vector. */
export interface Summary {
  /** Log-sum-exp of the logits. */
  lse: number;
  /** Entropy of softmax(logits), in nats. */
  entropy: number;
  /** The largest logit. */
  max_logit: number;
}

/** The worker's first message: which engine loaded, and a computed example proving it runs. */
export type WorkerMessage =
  | { type: 'ready'; version: string; logits: number[]; summary: Summary }
  | { type: 'error'; message: string };
