// The probability of each top-N entry under the distribution actually sampled from, re-derived on the page from
// the raw numbers a step already carries (no model rerun). The warpers the page uses (top-k, top-p, min-p) each
// keep a prefix of the tokens in rank order, so the kept set is the first `sampling.kept` entries; on it the
// sampled distribution is softmax(z / T) renormalised, and raw logprob differences are logit differences:
//   p_s(j) = p_s(chosen) · exp((logprob_j − logprob_chosen) / T)   for rank j < kept, else 0.
import type { StepEvent } from './protocol';

/** Sampled probabilities of `step.top` at temperature `temperature`; undefined when the step has no sampling stats. */
export function sampledProbs(step: StepEvent, temperature: number): number[] | undefined {
  const s = step.sampling;
  if (!s) return undefined;
  const chosen = Math.exp(s.logprob);
  return step.top.map((t, j) => {
    if (j >= s.kept) return 0;
    if (t.id === step.token.id) return chosen;
    if (temperature <= 0) return 0; // greedy: all mass on the chosen token
    return chosen * Math.exp((t.logprob - step.logprob) / temperature);
  });
}
