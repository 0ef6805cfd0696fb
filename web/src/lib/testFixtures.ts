// Hand-built events in the shape docs/protocol.md gives them, for the unit tests (the numbers are made up; the
// structure — which fields appear on which step — is the protocol's).
import type { DoneEvent, MultiDraftCandidate, MultiDraftCheck, SpecDraft, StepEvent, TopEntry } from './protocol';

/** A plain generate step: token `text` (id 100 + index) with a small top-N. */
export function step(index: number, text: string, logprob = -0.5, extra: Partial<StepEvent> = {}): StepEvent {
  const top: TopEntry[] = [
    { id: 100 + index, text, logprob },
    { id: 500 + index, text: ` alt${index}`, logprob: logprob - 1 },
    { id: 900 + index, text: ` other${index}`, logprob: logprob - 2 },
  ];
  return {
    type: 'step',
    index,
    position: 12 + index,
    token: { id: 100 + index, text },
    logprob,
    rank: 0,
    entropy: 1,
    top,
    sampling: { entropy: 0.8, kept: 3, logprob: -0.3 },
    bf: { step: 2, window: 2, running: 2 },
    ms: 4,
    ...extra,
  };
}

export function done(extra: Partial<DoneEvent> = {}): DoneEvent {
  return { type: 'done', tokens: 3, prompt_tokens: 12, prefill_ms: 20, decode_ms: 30, decode_tok_s: 66.7, stop: 'length', text: '', ...extra };
}

const draft = (id: number, text: string, outcome: SpecDraft['outcome'], q: number, p: number): SpecDraft => ({
  id,
  text,
  q,
  p,
  accept_prob: Math.min(1, p / q),
  beta: 0.6,
  outcome,
});

/**
 * A speculate run with γ = 3: round 0 keeps 1 draft of 3 (then one resampled token), round 1 keeps all 3 (then a
 * bonus token), round 2 drafted nothing (one bonus token). 7 tokens, 3 target calls, 6 drafted, 4 accepted.
 */
export function speculateRun(): StepEvent[] {
  const s = (index: number, text: string, round: number, source: 'accepted' | 'resampled' | 'bonus', first?: SpecDraft[]) => {
    const id = 100 + index;
    const spec: StepEvent['spec'] = { round, source };
    if (first) {
      spec.drafts = first;
      if (first.length) spec.beta = first.reduce((a, d) => a + d.beta, 0) / first.length;
    }
    if (source === 'resampled') spec.residual = [{ id, text, logprob: -0.2 }];
    return step(index, text, -0.4, { token: { id, text }, spec });
  };
  return [
    s(0, ' The', 0, 'accepted', [draft(100, ' The', 'accepted', 0.5, 0.7), draft(7, ' cat', 'rejected', 0.6, 0.1), draft(8, ' sat', 'skipped', 0.4, 0.3)]),
    s(1, ' dog', 0, 'resampled'),
    s(2, ' ran', 1, 'accepted', [draft(102, ' ran', 'accepted', 0.3, 0.9), draft(103, ' far', 'accepted', 0.5, 0.5), draft(104, ' away', 'accepted', 0.2, 0.4)]),
    s(3, ' far', 1, 'accepted'),
    s(4, ' away', 1, 'accepted'),
    s(5, '.', 1, 'bonus'),
    s(6, '\n', 2, 'bonus', []),
  ];
}

const candidate = (draft: number, id: number, text: string, outcome: MultiDraftCandidate['outcome']): MultiDraftCandidate => ({
  draft,
  id,
  text,
  q: 0.5,
  p: 0.4,
  accept_prob: 0.8,
  outcome,
});

const check = (depth: number, candidates: MultiDraftCandidate[], kseq_accept: number, optimal: number): MultiDraftCheck => ({
  depth,
  candidates,
  rho: 1.2,
  beta: 0.5,
  kseq_accept,
  optimal,
});

/**
 * A multi-draft run with K = 2, γ = 2. Round 0: both drafts start with ' The' (the first is kept, the second never
 * checked), then both are rejected at position 1 and ' end' is resampled. Round 1: draft 0 is rejected and draft 1
 * kept at position 0, draft 1 alone is kept at position 1, and a bonus token follows. 5 tokens, 2 rounds, 4
 * positions checked, 3 accepted.
 */
export function multiDraftRun(): StepEvent[] {
  const s = (index: number, text: string, round: number, source: 'accepted' | 'resampled' | 'bonus', multi?: MultiDraftCheck, first = false) => {
    const id = 100 + index;
    const spec: StepEvent['spec'] = { round, source };
    // The round's first token: no single-draft list, and the mean β of the round's checks (all 0.5 here).
    if (first) {
      spec.drafts = [];
      spec.beta = 0.5;
    }
    if (multi) spec.multi = multi;
    if (source === 'resampled') spec.residual = [{ id, text, logprob: -0.2 }];
    return step(index, text, -0.4, { token: { id, text }, spec });
  };
  return [
    s(0, ' The', 0, 'accepted', check(0, [candidate(0, 100, ' The', 'accepted'), candidate(1, 100, ' The', 'skipped')], 0.8, 0.9), true),
    s(1, ' end', 0, 'resampled', check(1, [candidate(0, 7, ' cat', 'rejected'), candidate(1, 8, ' dog', 'rejected')], 0.3, 0.4)),
    s(2, ' y', 1, 'accepted', check(0, [candidate(0, 9, ' x', 'rejected'), candidate(1, 102, ' y', 'accepted')], 0.6, 0.7), true),
    s(3, ' z', 1, 'accepted', check(1, [candidate(1, 103, ' z', 'accepted')], 0.5, 0.5)),
    s(4, '!', 1, 'bonus'),
  ];
}
