// Colour scales for tokens: each metric maps a step to a background colour. Data preparation (the metric's
// value) is kept apart from drawing (the scale), as in GLTR.
import { scaleLinear, scaleThreshold } from 'd3-scale';
import type { StepEvent } from './protocol';
import { natsToBits, surprisalBits } from './format';

/** What the token stream colours by. */
export type Metric = 'entropy' | 'surprisal' | 'rank' | 'acceptance' | 'js';

/** The metrics and the modes whose steps carry them (acceptance: speculate; JS divergence: compare). */
export const METRICS: { id: Metric; label: string; only?: 'speculate' | 'compare' }[] = [
  { id: 'entropy', label: 'entropy (bits)' },
  { id: 'surprisal', label: 'surprisal (bits)' },
  { id: 'rank', label: 'rank bucket (GLTR)' },
  { id: 'acceptance', label: 'draft acceptance', only: 'speculate' },
  { id: 'js', label: 'JS divergence a‖b (bits)', only: 'compare' },
];

/** Speculative tokens and drafts by how they fared: kept, rejected, never checked, resampled, drawn after all were kept. */
export const SPEC_COLORS = {
  accepted: 'rgba(76, 175, 80, 0.45)',
  rejected: 'rgba(244, 67, 54, 0.45)',
  skipped: 'rgba(140, 140, 140, 0.35)',
  resampled: 'rgba(255, 152, 0, 0.5)',
  bonus: 'rgba(66, 133, 244, 0.4)',
} as const;

export const SPEC_NAMES: { key: keyof typeof SPEC_COLORS; label: string }[] = [
  { key: 'accepted', label: 'accepted draft' },
  { key: 'rejected', label: 'rejected draft' },
  { key: 'skipped', label: 'skipped draft' },
  { key: 'resampled', label: 'resampled' },
  { key: 'bonus', label: 'bonus' },
];

/** JS divergence in bits (at most 1) → colour. */
export const jsColor = scaleLinear<string>()
  .domain([0, 0.1, 0.5])
  .range(['rgba(66, 165, 245, 0.08)', 'rgba(255, 183, 77, 0.5)', 'rgba(229, 57, 53, 0.6)'])
  .clamp(true);

/** GLTR's buckets: rank < 10 green, < 100 yellow, < 1000 red, else purple (docs/metrics.md §1). */
export const GLTR_THRESHOLDS = [10, 100, 1000];
export const GLTR_COLORS = ['rgba(76, 175, 80, 0.45)', 'rgba(255, 213, 0, 0.55)', 'rgba(244, 67, 54, 0.45)', 'rgba(156, 39, 176, 0.45)'];
export const GLTR_NAMES = ['rank < 10', 'rank < 100', 'rank < 1000', 'rank ≥ 1000'];

/** Rank → GLTR colour. */
export const rankColor = scaleThreshold<number, string>().domain(GLTR_THRESHOLDS).range(GLTR_COLORS);

/** Bits → colour: calm at 0, warm around 4 bits, hot at 8 bits and beyond (clamped). */
export const bitsColor = scaleLinear<string>()
  .domain([0, 4, 8])
  .range(['rgba(66, 165, 245, 0.08)', 'rgba(255, 183, 77, 0.5)', 'rgba(229, 57, 53, 0.6)'])
  .clamp(true);

/** The value a metric takes at a step (bits, the rank, or 1 for an accepted draft and 0 otherwise); NaN where the step lacks it. */
export function metricValue(step: StepEvent, metric: Metric): number {
  switch (metric) {
    case 'entropy':
      return natsToBits(step.entropy);
    case 'surprisal':
      return surprisalBits(step.logprob);
    case 'rank':
      return step.rank;
    case 'acceptance':
      return step.spec ? Number(step.spec.source === 'accepted') : NaN;
    case 'js':
      return step.compare ? natsToBits(step.compare.js) : NaN;
  }
}

/** The background colour of a step's token under a metric. */
export function tokenColor(step: StepEvent, metric: Metric): string {
  const v = metricValue(step, metric);
  switch (metric) {
    case 'rank':
      return rankColor(v);
    case 'acceptance':
      return step.spec ? SPEC_COLORS[step.spec.source] : 'transparent';
    case 'js':
      return Number.isFinite(v) ? jsColor(v) : 'transparent';
    default:
      return bitsColor(v);
  }
}
