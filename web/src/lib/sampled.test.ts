import { describe, expect, it } from 'vitest';
import { sampledProbs } from './sampled';
import type { StepEvent } from './protocol';

/** A step over a 4-token vocabulary with raw probabilities p, sampled at temperature t with the top `kept` kept. */
function stepFor(p: number[], t: number, kept: number, chosen: number): StepEvent {
  const w = p.map((x) => x ** (1 / t));
  const z = w.slice(0, kept).reduce((a, b) => a + b, 0);
  return {
    type: 'step',
    index: 0,
    position: 0,
    token: { id: chosen, text: '' },
    logprob: Math.log(p[chosen]),
    rank: chosen,
    entropy: 0,
    top: p.map((x, id) => ({ id, text: '', logprob: Math.log(x) })),
    sampling: { entropy: 0, kept, logprob: Math.log(w[chosen] / z) },
    ms: 0,
  };
}

describe('sampled probabilities from raw ones', () => {
  const p = [0.5, 0.3, 0.15, 0.05];

  it('temperature 0.5 over the whole vocabulary gives the worked values of metrics.md §3', () => {
    const got = sampledProbs(stepFor(p, 0.5, 4, 1), 0.5)!;
    [0.6849, 0.2466, 0.0616, 0.0068].forEach((x, i) => expect(got[i]).toBeCloseTo(x, 4));
  });

  it('tokens outside the kept prefix get 0 and the kept ones renormalise', () => {
    const got = sampledProbs(stepFor(p, 1, 2, 0), 1)!;
    expect(got[0]).toBeCloseTo(0.625, 12);
    expect(got[1]).toBeCloseTo(0.375, 12);
    expect(got.slice(2)).toEqual([0, 0]);
  });

  it('greedy puts everything on the chosen token; score steps have none', () => {
    const s = stepFor(p, 1, 1, 0);
    s.sampling!.logprob = 0;
    expect(sampledProbs(s, 0)).toEqual([1, 0, 0, 0]);
    expect(sampledProbs({ ...s, sampling: undefined }, 1)).toBeUndefined();
  });
});
