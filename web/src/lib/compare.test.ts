import { describe, expect, it } from 'vitest';
import { compareMeans, compareSeries, describePrompt } from './compare';
import type { CompareStep } from './protocol';
import { step } from './testFixtures';

function cmp(extra: Partial<CompareStep>, topB = 100): CompareStep {
  return { top_b: [{ id: topB, text: 'x', logprob: -0.1 }], logprob_b: -1, rank_b: 0, entropy_b: 1, kl_ab: 0.2, kl_ba: 0.4, js: 0.05, tv: 0.1, mode: 'uscd', top_mixed: [], ...extra };
}

describe('compare series', () => {
  it('reads null KL as +∞, and marks where USCD applied the contrast', () => {
    const steps = [
      step(0, 'a', -0.5, { compare: cmp({ contrast_applied: true, uncertainty: 2 }) }),
      step(1, 'b', -0.5, { compare: cmp({ kl_ab: null, contrast_applied: false, uncertainty: 0.3 }) }),
    ];
    const s = compareSeries(steps);
    expect(s.kl_ab).toEqual([0.2, Infinity]);
    expect(s.kl_ba).toEqual([0.4, 0.4]);
    expect(s.applied).toEqual([true, false]);
    expect(s.uncertainty).toEqual([2, 0.3]);
    expect(s.infinite).toBe(1);
    const m = compareMeans(steps);
    expect(m.mean_kl_ab).toBe(Infinity);
    expect(m.mean_kl_ba).toBeCloseTo(0.4, 12);
    expect(m.mean_js).toBeCloseTo(0.05, 12);
  });

  it('counts steps whose greedy tokens differ between the conditions', () => {
    // The fixture's top-1 of a is id 100 + index.
    const steps = [step(0, 'a', -0.5, { compare: cmp({}, 100) }), step(1, 'b', -0.5, { compare: cmp({}, 7) })];
    expect(compareMeans(steps).argmax_disagreements).toBe(1);
    expect(compareMeans([step(0, 'x')]).mean_js).toBeNaN();
  });

  it('describes a condition', () => {
    expect(describePrompt({ kind: 'raw', text: 'x' })).toBe('raw text');
    expect(describePrompt({ kind: 'chat', user: 'x' })).toBe('chat template, no system prompt');
  });
});
