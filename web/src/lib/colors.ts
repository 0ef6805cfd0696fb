// Colour scales for tokens: each metric maps a step to a background colour. Data preparation (the metric's
// value) is kept apart from drawing (the scale), as in GLTR.
import { scaleLinear, scaleThreshold } from 'd3-scale';
import type { StepEvent } from './protocol';
import { natsToBits, surprisalBits } from './format';

/** What the token stream colours by. */
export type Metric = 'entropy' | 'surprisal' | 'rank';

export const METRICS: { id: Metric; label: string }[] = [
  { id: 'entropy', label: 'entropy (bits)' },
  { id: 'surprisal', label: 'surprisal (bits)' },
  { id: 'rank', label: 'rank bucket (GLTR)' },
];

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

/** The value a metric takes at a step (bits, or the rank). */
export function metricValue(step: StepEvent, metric: Metric): number {
  switch (metric) {
    case 'entropy':
      return natsToBits(step.entropy);
    case 'surprisal':
      return surprisalBits(step.logprob);
    case 'rank':
      return step.rank;
  }
}

/** The background colour of a step's token under a metric. */
export function tokenColor(step: StepEvent, metric: Metric): string {
  const v = metricValue(step, metric);
  return metric === 'rank' ? rankColor(v) : bitsColor(v);
}
