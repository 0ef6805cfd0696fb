// The worker requests the page's settings describe, one builder per mode. Pure, so the mapping from settings to
// the protocol is tested apart from the worker.
import type { BranchRequest, CompareRequest, GenerateRequest, PromptRequest, SpeculateRequest } from './protocol';
import type { PromptKind, Settings } from './urlState';

/** A prompt from its kind, system prompt ('' = none) and text. */
export function promptRequest(kind: PromptKind, system: string, text: string): PromptRequest {
  return kind === 'chat' ? { kind: 'chat', system: system || undefined, user: text } : { kind: 'raw', text };
}

/** The generate request the settings describe. */
export function generateRequest(s: Settings): GenerateRequest {
  return {
    prompt: promptRequest(s.prompt_kind, s.system, s.prompt),
    max_tokens: s.max_tokens,
    temperature: s.temperature,
    top_k: s.top_k,
    top_p: s.top_p,
    min_p: s.min_p,
    seed: s.seed,
    top_n: s.top_n,
  };
}

/** The early-exit depth: the setting, or (0) a quarter of the model's layers, at least 1, as the CLI does. */
export function exitLayers(s: Settings, modelLayers: number | undefined): number {
  if (s.layers > 0) return s.layers;
  return Math.max(1, Math.floor((modelLayers ?? 4) / 4));
}

/** The speculate request; K draft sequences only with the early-exit drafter (n-gram and tri-gram drafts are deterministic). */
export function speculateRequest(s: Settings, modelLayers: number | undefined): SpeculateRequest {
  const drafts = s.drafter === 'early-exit' ? s.drafts : 1;
  return { ...generateRequest(s), gamma: s.gamma, drafter: s.drafter, layers: exitLayers(s, modelLayers), max_ngram: s.max_ngram, drafts };
}

/** arith's weights: the comma-separated setting, or 1, −1 (two conditions) / 1, 1, −1 (three) when empty. */
export function parseWeights(text: string, conditions: number): number[] | string {
  if (text.trim() === '') return conditions === 3 ? [1, 1, -1] : [1, -1];
  const w = text.split(',').map((x) => Number(x.trim()));
  if (w.some((x, i) => !Number.isFinite(x) || text.split(',')[i].trim() === '')) return `weights must be numbers separated by commas, e.g. 1,-1`;
  if (w.length !== conditions) return `${conditions} conditions need ${conditions} weights, not ${w.length}`;
  return w;
}

/** The compare request, or why the settings cannot make one: generate's, whose prompt is condition a's, and the others. */
export function compareRequest(s: Settings): CompareRequest | string {
  const others = [promptRequest(s.b_prompt_kind, s.b_system, s.b_prompt)];
  if (s.c_on) others.push(promptRequest(s.c_prompt_kind, s.c_system, s.c_prompt));
  const weights = s.cmp === 'arith' ? parseWeights(s.weights, others.length + 1) : [];
  if (typeof weights === 'string') return weights;
  return { ...generateRequest(s), others, mode: s.cmp, alpha: s.alpha, threshold: s.threshold, weights };
}

/** Every condition's prompt of a compare request, a first. */
export function comparePrompts(r: CompareRequest): PromptRequest[] {
  return [...(r.prompt ? [r.prompt] : []), ...(r.others ?? [])];
}

/** Condition b presets built from condition a. */
export const COMPARE_PRESETS: { id: string; label: string; apply: (s: Settings) => Partial<Settings> }[] = [
  { id: 'no-system', label: 'without the system prompt', apply: (s) => ({ prompt_kind: 'chat', b_prompt_kind: 'chat', b_system: '', b_prompt: s.prompt }) },
  { id: 'raw', label: 'chat template vs raw text', apply: (s) => ({ prompt_kind: 'chat', b_prompt_kind: 'raw', b_system: '', b_prompt: s.prompt }) },
  { id: 'same', label: 'same prompt (b = a)', apply: (s) => ({ b_prompt_kind: s.prompt_kind, b_system: s.system, b_prompt: s.prompt }) },
];

/** A branch request: `samples` continuations of the prompt + `prefix`, each as long as what is left of max_tokens. */
export function branchRequest(s: Settings, prefix: number[], samples: number): BranchRequest {
  const base = generateRequest(s);
  return { ...base, max_tokens: Math.max(1, s.max_tokens - prefix.length), prefix, samples };
}
