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

  it('a compare step samples from the distribution it decoded from, not from condition a', () => {
    // Mode b: a's raw p, b's raw q; the token is drawn from q at T = 1 with every token kept.
    const q = [0.2, 0.5, 0.2, 0.1];
    const step = stepFor(p, 1, 4, 1);
    step.sampling!.logprob = Math.log(q[1]);
    const qTop = [1, 0, 2, 3].map((id) => ({ id, text: '', logprob: Math.log(q[id]) }));
    step.compare = { top_b: qTop, logprob_b: Math.log(q[1]), rank_b: 0, entropy_b: 0, kl_ab: 0, kl_ba: 0, js: 0, tv: 0, mode: 'b', top_mixed: qTop };
    // a's list, in a's order: each token's probability under q.
    sampledProbs(step, 1)!.forEach((x, id) => expect(x).toBeCloseTo(q[id], 12));
    sampledProbs(step, 1, qTop)!.forEach((x, j) => expect(x).toBeCloseTo(q[qTop[j].id], 12));
    // Truncated to q's top 2 (ids 1, 0): the rest of a's list is dropped.
    step.sampling = { entropy: 0, kept: 2, logprob: Math.log(0.5 / 0.7) };
    const got = sampledProbs(step, 1)!;
    expect(got[0]).toBeCloseTo(0.2 / 0.7, 12);
    expect(got[1]).toBeCloseTo(0.5 / 0.7, 12);
    expect(got.slice(2)).toEqual([0, 0]);
  });
});
