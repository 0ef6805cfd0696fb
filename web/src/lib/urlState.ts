// Page state in the URL hash (#view=generate&prompt=...): a link or a reload restores prompt, settings and view.
// Every value is validated on the way in: a hand-edited URL gives defaults, never a broken page.
import type { Metric } from './colors';

export interface Settings {
  view: 'generate' | 'score';
  mode: 'chat' | 'raw';
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
}

export const DEFAULT_SETTINGS: Settings = {
  view: 'generate',
  mode: 'chat',
  system: 'You are a helpful assistant.',
  prompt: 'What is the capital of France?',
  temperature: 0.8,
  top_k: 40,
  top_p: 0.95,
  min_p: 0,
  seed: 42,
  max_tokens: 64,
  top_n: 10,
  metric: 'entropy',
  score_text: 'The quick brown fox jumps over the lazy dog.',
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
};

const CHOICES: Record<string, readonly string[]> = {
  view: ['generate', 'score'],
  mode: ['chat', 'raw'],
  metric: ['entropy', 'surprisal', 'rank'],
};

/** Settings that differ from the defaults, as a hash fragment (without '#'). */
export function encodeState(s: Settings): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
    if (s[key] !== DEFAULT_SETTINGS[key]) params.set(key, String(s[key]));
  }
  return params.toString();
}

/** Settings from a hash fragment (with or without '#'); unknown keys are ignored, bad values fall back. */
export function decodeState(hash: string): Settings {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const out: Settings = { ...DEFAULT_SETTINGS };
  const record = out as unknown as Record<string, string | number>;
  for (const [key, raw] of params) {
    if (!(key in DEFAULT_SETTINGS)) continue;
    const range = NUMBERS[key];
    if (range) {
      const x = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(x) || x < range.min || x > range.max) continue;
      if (range.int && !Number.isInteger(x)) continue;
      record[key] = x;
    } else if (CHOICES[key]) {
      if (CHOICES[key].includes(raw)) record[key] = raw;
    } else {
      record[key] = raw;
    }
  }
  return out;
}
