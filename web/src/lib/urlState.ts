// Page state in the URL hash (#view=generate&prompt=...): a link or a reload restores prompt, settings, mode and
// the presenter's step. Every value is validated on the way in: a hand-edited URL gives defaults, never a broken page.
import type { Metric } from './colors';
import { ENGINE_DEFAULTS } from './engineDefaults';
import type { BackendChoice, CompareMode } from './protocol';

/** What the page does: the four streaming modes, or scoring a given text. */
export type View = 'generate' | 'speculate' | 'compare' | 'branch' | 'score';

/** How a condition's prompt is built: through the chat template, or as raw text. */
export type PromptKind = 'chat' | 'raw';

export interface Settings {
  /** The mode (`view=` in the URL; `mode=speculate` etc. are read too, see decodeState). */
  view: View;
  /** Condition a's (the run's) prompt kind. */
  prompt_kind: PromptKind;
  system: string;
  prompt: string;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  seed: number;
  max_tokens: number;
  top_n: number;
  metric: Metric;
  score_text: string;
  /** speculate: where drafts come from, how many per target call, early-exit depth (0: a quarter of the layers), n-gram size. */
  drafter: 'ngram' | 'trigram' | 'early-exit';
  gamma: number;
  layers: number;
  max_ngram: number;
  /** speculate with the early-exit drafter: draft sequences per round (K; 1 = single-draft). */
  drafts: number;
  /** compare: condition b, an optional condition c, and how to decode from them. */
  b_prompt_kind: PromptKind;
  b_system: string;
  b_prompt: string;
  c_on: boolean;
  c_prompt_kind: PromptKind;
  c_system: string;
  c_prompt: string;
  cmp: CompareMode;
  alpha: number;
  threshold: number;
  /** arith: comma-separated weights, one per condition ('' = 1,-1 or 1,1,-1). */
  weights: string;
  /** branch: continuations per request. */
  samples: number;
  /** Compute backend asked for when the model loads. */
  backend: BackendChoice;
  /** CPU threads when the model loads, on a cross-origin isolated page only (0: the worker's default, threads.ts). */
  threads: number;
  /** The focused step, so a shared link opens on it (-1: none). */
  step: number;
  /** Presenter mode: larger type, stepping controls first, arrow keys step. */
  presenter: boolean;
}

/** Most draft sequences per round the engine takes. */
export const MAX_DRAFTS = ENGINE_DEFAULTS.max_drafts;

/** The α a compare mode starts from: ed's disalignment strength, else cd and uscd's plausibility α. */
export function defaultAlpha(mode: CompareMode): number {
  return mode === 'ed' ? ENGINE_DEFAULTS.ed_alpha : ENGINE_DEFAULTS.cd_alpha;
}

export const DEFAULT_SETTINGS: Settings = {
  view: 'generate',
  prompt_kind: 'chat',
  system: 'You are a helpful assistant.',
  prompt: 'What is the capital of France?',
  temperature: ENGINE_DEFAULTS.temperature,
  top_k: ENGINE_DEFAULTS.top_k,
  top_p: ENGINE_DEFAULTS.top_p,
  min_p: ENGINE_DEFAULTS.min_p,
  seed: ENGINE_DEFAULTS.seed,
  max_tokens: ENGINE_DEFAULTS.max_tokens,
  top_n: ENGINE_DEFAULTS.top_n,
  metric: 'entropy',
  score_text: 'The quick brown fox jumps over the lazy dog.',
  drafter: 'ngram',
  gamma: ENGINE_DEFAULTS.gamma,
  layers: 0,
  max_ngram: ENGINE_DEFAULTS.max_ngram,
  drafts: 1,
  b_prompt_kind: 'chat',
  b_system: '',
  b_prompt: 'What is the capital of France?',
  c_on: false,
  c_prompt_kind: 'raw',
  c_system: '',
  c_prompt: 'What is the capital of France?',
  cmp: 'a',
  alpha: defaultAlpha('a'),
  threshold: ENGINE_DEFAULTS.threshold,
  weights: '',
  samples: 1,
  backend: 'auto',
  threads: 0,
  step: -1,
  presenter: false,
};

/** Numeric settings with their allowed ranges and whether they are integers. */
const NUMBERS: Record<string, { min: number; max: number; int: boolean }> = {
  temperature: { min: 0, max: 5, int: false },
  top_k: { min: 0, max: 100000, int: true },
  top_p: { min: 0.01, max: 1, int: false },
  min_p: { min: 0, max: 1, int: false },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER, int: true },
  max_tokens: { min: 1, max: 2000, int: true },
  top_n: { min: 1, max: 50, int: true },
  gamma: { min: 1, max: 16, int: true },
  layers: { min: 0, max: 1000, int: true },
  max_ngram: { min: 1, max: 16, int: true },
  drafts: { min: 1, max: MAX_DRAFTS, int: true },
  alpha: { min: 0, max: 100, int: false },
  threshold: { min: 0, max: 100, int: false },
  samples: { min: 1, max: 64, int: true },
  threads: { min: 0, max: 16, int: true },
  step: { min: -1, max: 100000, int: true },
};

const PROMPT_KINDS = ['chat', 'raw'] as const;
export const VIEWS: readonly View[] = ['generate', 'speculate', 'compare', 'branch', 'score'];

const CHOICES: Record<string, readonly string[]> = {
  view: VIEWS,
  prompt_kind: PROMPT_KINDS,
  metric: ['entropy', 'surprisal', 'rank', 'acceptance', 'js'],
  drafter: ['ngram', 'trigram', 'early-exit'],
  b_prompt_kind: PROMPT_KINDS,
  c_prompt_kind: PROMPT_KINDS,
  cmp: ['a', 'b', 'ed', 'cd', 'uscd', 'arith'],
  backend: ['auto', 'webgpu', 'cpu'],
};

const BOOLEANS = new Set(['c_on', 'presenter']);

/** Keys of older links: the prompt kinds were once `mode`, `b_mode` and `c_mode`. */
const OLD_KEYS: Record<string, keyof Settings> = { mode: 'prompt_kind', b_mode: 'b_prompt_kind', c_mode: 'c_prompt_kind' };

/** Settings that differ from the defaults, as a hash fragment (without '#'); booleans as 1/0. α is left out at its mode's default. */
export function encodeState(s: Settings): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
    const start = key === 'alpha' ? defaultAlpha(s.cmp) : DEFAULT_SETTINGS[key];
    if (s[key] === start) continue;
    const v = s[key];
    params.set(key, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return params.toString();
}

/**
 * Settings from a hash fragment (with or without '#'); keys that are not settings are ignored, bad values fall back, and
 * an absent α is the compare mode's default. Older links' `mode`, `b_mode` and `c_mode` are read as the prompt kinds
 * (unless the link names those too); since the view names (generate, speculate, …) are disjoint from the prompt kinds,
 * `mode=speculate` is read as `view=speculate` unless the link also names a view.
 */
export function decodeState(hash: string): Settings {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const out: Settings = { ...DEFAULT_SETTINGS };
  const record = out as unknown as Record<string, string | number | boolean>;
  let alphaSet = false;
  for (const [given, raw] of params) {
    if (given === 'mode' && VIEWS.includes(raw as View)) {
      if (!params.has('view')) out.view = raw as View;
      continue;
    }
    const old = Object.hasOwn(OLD_KEYS, given) ? OLD_KEYS[given] : undefined;
    if (old && params.has(old)) continue;
    const key = old ?? given;
    // Own keys only: `in` would also accept what every object inherits (toString, constructor, __proto__).
    if (!Object.hasOwn(DEFAULT_SETTINGS, key)) continue;
    const range = NUMBERS[key];
    if (range) {
      const x = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(x) || x < range.min || x > range.max) continue;
      if (range.int && !Number.isInteger(x)) continue;
      record[key] = x;
      if (key === 'alpha') alphaSet = true;
    } else if (BOOLEANS.has(key)) {
      if (raw === '1' || raw === 'true') record[key] = true;
      else if (raw === '0' || raw === 'false') record[key] = false;
    } else if (CHOICES[key]) {
      if (CHOICES[key].includes(raw)) record[key] = raw;
    } else {
      record[key] = raw;
    }
  }
  if (!alphaSet) out.alpha = defaultAlpha(out.cmp);
  return out;
}
