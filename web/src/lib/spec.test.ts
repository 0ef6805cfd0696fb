import { describe, expect, it } from 'vitest';
import {
  acceptanceByPosition,
  expectedTokensPerCall,
  groupRounds,
  isMultiDraft,
  laneCells,
  multiColumns,
  multiStats,
  runningAcceptance,
  specCounts,
} from './spec';
import { multiDraftRun, speculateRun, step } from './testFixtures';

describe('speculate lanes', () => {
  it('groups steps into one lane per target call, with the drafts of the round', () => {
    const rounds = groupRounds(speculateRun());
    expect(rounds.map((r) => r.round)).toEqual([0, 1, 2]);
    expect(rounds.map((r) => r.first)).toEqual([0, 2, 6]);
    expect(rounds.map((r) => r.emitted.length)).toEqual([2, 4, 1]);
    expect(rounds.map((r) => r.drafts.length)).toEqual([3, 3, 0]);
    expect(rounds[2].beta).toBeNull();
  });

  it('lists drafts with their outcome, then the token the target drew, linking emitted tokens to their steps', () => {
    const [r0, r1, r2] = groupRounds(speculateRun()).map(laneCells);
    expect(r0.map((c) => [c.kind, c.text, c.step])).toEqual([
      ['accepted', ' The', 0],
      ['rejected', ' cat', undefined],
      ['skipped', ' sat', undefined],
      ['resampled', ' dog', 1],
    ]);
    expect(r1.map((c) => c.kind)).toEqual(['accepted', 'accepted', 'accepted', 'bonus']);
    expect(r1.map((c) => c.step)).toEqual([2, 3, 4, 5]);
    expect(r2.map((c) => [c.kind, c.step])).toEqual([['bonus', 6]]);
  });

  it('ignores steps without spec (a generate run shows no lanes)', () => {
    expect(groupRounds([step(0, 'a'), step(1, 'b')])).toEqual([]);
  });
});

describe('speculate statistics', () => {
  it('counts calls, drafts and acceptances as done.spec defines them (skipped drafts count as drafted)', () => {
    const c = specCounts(groupRounds(speculateRun()));
    expect(c.target_calls).toBe(3);
    expect(c.n_drafted).toBe(6);
    expect(c.n_accepted).toBe(4);
    expect(c.acceptance_rate).toBeCloseTo(4 / 6, 12);
    expect(c.tokens_per_call).toBeCloseTo(7 / 3, 12);
    expect(c.mean_beta).toBeCloseTo(0.6, 12);
  });

  it('acceptance per draft position divides by the rounds that drafted there', () => {
    expect(acceptanceByPosition(groupRounds(speculateRun()))).toEqual([1, 0.5, 0.5]);
  });

  it('running acceptance counts each round once, from its first token on', () => {
    const r = runningAcceptance(speculateRun());
    expect(r.slice(0, 2)).toEqual([1 / 3, 1 / 3]);
    expect(r.slice(2)).toEqual([4 / 6, 4 / 6, 4 / 6, 4 / 6, 4 / 6]);
    expect(runningAcceptance([step(0, 'a')]).every(Number.isNaN)).toBe(true);
  });

  it('expected tokens per call is the truncated geometric series', () => {
    // α = 0.5, γ = 3: 1 + 0.5 + 0.25 + 0.125
    expect(expectedTokensPerCall(0.5, 3)).toBeCloseTo(1.875, 12);
    expect(expectedTokensPerCall(1, 4)).toBe(5);
    expect(expectedTokensPerCall(0, 4)).toBe(1);
    expect(expectedTokensPerCall(1.5, 4)).toBeNaN();
  });
});

describe('multi-draft speculation', () => {
  it('shows one column per emitted token with the candidates K-SEQ checked there', () => {
    const steps = multiDraftRun();
    expect(isMultiDraft(steps)).toBe(true);
    expect(isMultiDraft(speculateRun())).toBe(false);
    const [r0, r1] = groupRounds(steps).map(multiColumns);
    expect(r0.map((c) => [c.step, c.source, c.check?.depth])).toEqual([
      [0, 'accepted', 0],
      [1, 'resampled', 1],
    ]);
    expect(r0[0].check!.candidates.map((c) => [c.draft, c.outcome])).toEqual([
      [0, 'accepted'],
      [1, 'skipped'],
    ]);
    expect(r1.map((c) => [c.text, c.source, c.check?.candidates.length ?? null])).toEqual([
      [' y', 'accepted', 2],
      [' z', 'accepted', 1],
      ['!', 'bonus', null],
    ]);
  });

  it('counts checked positions, not candidates or unchecked positions, as done.spec does for K-SEQ', () => {
    const rounds = groupRounds(multiDraftRun());
    const c = specCounts(rounds);
    expect(c.target_calls).toBe(2);
    expect(c.n_drafted).toBe(4);
    expect(c.n_accepted).toBe(3);
    expect(c.tokens_per_call).toBe(5 / 2);
    expect(c.mean_beta).toBeCloseTo(0.5, 12);
    // Position 0 was accepted in both rounds, position 1 in one of two.
    expect(acceptanceByPosition(rounds)).toEqual([1, 0.5]);
    expect(runningAcceptance(multiDraftRun())).toEqual([1, 1 / 2, 2 / 3, 3 / 4, 3 / 4]);
  });

  it('averages K-SEQ acceptance, the optimal bound and the candidates in play per position', () => {
    const m = multiStats(multiDraftRun());
    expect(m.mean_kseq_accept).toBeCloseTo((0.8 + 0.3 + 0.6 + 0.5) / 4, 12);
    expect(m.mean_optimal).toBeCloseTo((0.9 + 0.4 + 0.7 + 0.5) / 4, 12);
    expect(m.kseq_accept_by_position[0]).toBeCloseTo(0.7, 12);
    expect(m.kseq_accept_by_position[1]).toBeCloseTo(0.4, 12);
    expect(m.optimal_by_position[0]).toBeCloseTo(0.8, 12);
    expect(m.optimal_by_position[1]).toBeCloseTo(0.45, 12);
    expect(m.candidates_by_position).toEqual([2, 1.5]);
    expect(multiStats(speculateRun()).mean_kseq_accept).toBeNaN();
  });
});
