import { describe, expect, it } from 'vitest';
import { bitsColor, GLTR_COLORS, metricValue, rankColor, tokenColor } from './colors';
import type { StepEvent } from './protocol';

const step = (rank: number, logprob: number, entropy: number): StepEvent => ({
  type: 'step',
  index: 0,
  position: 0,
  token: { id: 1, text: 'x' },
  logprob,
  rank,
  entropy,
  top: [],
  ms: 0,
});

describe('colour scales', () => {
  it('GLTR buckets switch exactly at ranks 10, 100 and 1000', () => {
    expect([0, 9, 10, 99, 100, 999, 1000, 40000].map((r) => rankColor(r))).toEqual([
      GLTR_COLORS[0],
      GLTR_COLORS[0],
      GLTR_COLORS[1],
      GLTR_COLORS[1],
      GLTR_COLORS[2],
      GLTR_COLORS[2],
      GLTR_COLORS[3],
      GLTR_COLORS[3],
    ]);
  });

  it('bit scales clamp outside 0..8 bits and differ inside', () => {
    expect(bitsColor(-3)).toBe(bitsColor(0));
    expect(bitsColor(50)).toBe(bitsColor(8));
    expect(bitsColor(2)).not.toBe(bitsColor(6));
  });

  it('metrics are read in bits from nats', () => {
    const s = step(3, -Math.LN2 * 3, Math.LN2 * 5);
    expect(metricValue(s, 'surprisal')).toBeCloseTo(3, 12);
    expect(metricValue(s, 'entropy')).toBeCloseTo(5, 12);
    expect(metricValue(s, 'rank')).toBe(3);
    expect(tokenColor(s, 'rank')).toBe(GLTR_COLORS[0]);
    expect(tokenColor(s, 'entropy')).toBe(bitsColor(5));
  });
});
