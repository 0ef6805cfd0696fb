// The probability of top-N entries under the distribution actually sampled from, re-derived on the page from
// the numbers a step already carries (no model rerun). The sampled distribution is the warp of the distribution the
// step decoded from: the raw one, or in compare mode the mode's (`compare.top_mixed`), never condition a's raw
// one unless the mode is a. The warpers the page uses (top-k, top-p, min-p) each keep a prefix of that
// distribution's tokens in rank order, so the kept set is its first `sampling.kept` entries; on it the sampled
// distribution is softmax(z / T) renormalised, and logprob differences are logit differences:
//   p_s(j) = p_s(chosen) · exp((logprob_j − logprob_chosen) / T)   for rank j < kept, else 0.
import type { StepEvent, TopEntry } from './protocol';

/**
 * Sampled probabilities of the tokens of `list` (the step's own top-N unless given) at temperature `temperature`;
 * undefined when the step has no sampling stats or the chosen token is outside the decoded top-N, and an entry
 * undefined where its token is neither in the decoded top-N nor surely dropped.
 */
export function sampledProbs(step: StepEvent, temperature: number, list: TopEntry[] = step.top): (number | undefined)[] | undefined {
  const s = step.sampling;
  if (!s) return undefined;
  const decoded = step.compare ? step.compare.top_mixed : step.top;
  const chosenLogprob = step.compare ? decoded.find((t) => t.id === step.token.id)?.logprob : step.logprob;
  if (chosenLogprob === undefined) return undefined;
  const chosen = Math.exp(s.logprob);
  const rank = new Map(decoded.map((t, j) => [t.id, j]));
  return list.map((t) => {
    if (t.id === step.token.id) return chosen;
    const j = rank.get(t.id);
    if (j === undefined) return s.kept <= decoded.length ? 0 : undefined;
    if (j >= s.kept) return 0;
    if (temperature <= 0) return 0; // greedy: all mass on the chosen token
    return chosen * Math.exp((decoded[j].logprob - chosenLogprob) / temperature);
  });
}
