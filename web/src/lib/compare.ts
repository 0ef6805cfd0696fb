// Compare mode on the page: the per-step divergence series for the timelines and their means while the run
// streams (done.compare has the final ones). KL is +∞ where one condition rules out a token the other allows;
// the protocol writes that as null.
import type { CompareMode, PromptRequest, StepEvent } from './protocol';

/** KL from the protocol: null means +∞. */
export function kl(value: number | null | undefined): number {
  return value === null ? Infinity : (value ?? NaN);
}

export interface CompareSeries {
  kl_ab: number[];
  kl_ba: number[];
  js: number[];
  tv: number[];
  /** uscd: where the contrast was applied. */
  applied: boolean[];
  uncertainty: number[];
  /** Steps where a KL is infinite (the charts leave a gap there). */
  infinite: number;
}

export function compareSeries(steps: StepEvent[]): CompareSeries {
  const c = steps.map((s) => s.compare);
  const out: CompareSeries = {
    kl_ab: c.map((x) => (x ? kl(x.kl_ab) : NaN)),
    kl_ba: c.map((x) => (x ? kl(x.kl_ba) : NaN)),
    js: c.map((x) => x?.js ?? NaN),
    tv: c.map((x) => x?.tv ?? NaN),
    applied: c.map((x) => x?.contrast_applied === true),
    uncertainty: c.map((x) => x?.uncertainty ?? NaN),
    infinite: 0,
  };
  out.infinite = c.filter((x) => x && (x.kl_ab === null || x.kl_ba === null)).length;
  return out;
}

/** Means over the steps so far, and the steps where the two conditions' greedy tokens differ (top-1 of a vs of b). */
export function compareMeans(steps: StepEvent[]) {
  const c = steps.flatMap((s) => (s.compare ? [{ s, x: s.compare }] : []));
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
  return {
    mean_kl_ab: mean(c.map(({ x }) => kl(x.kl_ab))),
    mean_kl_ba: mean(c.map(({ x }) => kl(x.kl_ba))),
    mean_js: mean(c.map(({ x }) => x.js)),
    mean_tv: mean(c.map(({ x }) => x.tv)),
    argmax_disagreements: c.filter(({ s, x }) => s.top[0] && x.top_b[0] && s.top[0].id !== x.top_b[0].id).length,
  };
}

/** What each mode decodes from, for people. */
export const COMPARE_MODES: { id: CompareMode; label: string }[] = [
  { id: 'a', label: 'a (condition a alone)' },
  { id: 'b', label: 'b (condition b alone)' },
  { id: 'ed', label: 'ed: (1+α) z_a − α z_b' },
  { id: 'cd', label: 'cd: ln p_a − ln p_b on a’s head' },
  { id: 'uscd', label: 'uscd: cd where H(a) ≥ threshold' },
  { id: 'arith', label: 'arith: Σ w_i z_i' },
];

/** A condition's prompt in a few words ("chat, system “…”", "raw text"). */
export function describePrompt(p: PromptRequest): string {
  if (p.kind === 'raw') return 'raw text';
  return p.system ? `chat template, system prompt “${p.system.length > 40 ? p.system.slice(0, 40) + '…' : p.system}”` : 'chat template, no system prompt';
}
