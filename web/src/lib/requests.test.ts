import { describe, expect, it } from 'vitest';
import { branchRequest, comparePrompts, compareRequest, COMPARE_PRESETS, exitLayers, parseWeights, speculateRequest } from './requests';
import { DEFAULT_SETTINGS, type Settings } from './urlState';

describe('requests from settings', () => {
  it('speculate carries the drafter settings; early-exit depth 0 means a quarter of the layers', () => {
    const s: Settings = { ...DEFAULT_SETTINGS, drafter: 'early-exit', gamma: 6, max_ngram: 2 };
    const r = speculateRequest(s, 30);
    expect(r).toMatchObject({ gamma: 6, drafter: 'early-exit', layers: 7, max_ngram: 2, max_tokens: 64, seed: 42 });
    expect(exitLayers({ ...s, layers: 12 }, 30)).toBe(12);
    expect(exitLayers(s, 2)).toBe(1);
  });

  it('K draft sequences go to the engine with the early-exit drafter only', () => {
    const s: Settings = { ...DEFAULT_SETTINGS, drafter: 'early-exit', drafts: 3 };
    expect(speculateRequest(s, 30).drafts).toBe(3);
    // A K left over from an early-exit run must not make an n-gram or tri-gram request the engine refuses.
    expect(speculateRequest({ ...s, drafter: 'ngram' }, 30).drafts).toBe(1);
    expect(speculateRequest({ ...s, drafter: 'trigram' }, 30).drafts).toBe(1);
  });

  it('compare builds two or three conditions, with an empty system prompt meaning none', () => {
    const r = compareRequest({ ...DEFAULT_SETTINGS, b_prompt_kind: 'chat', b_system: '', b_prompt: 'hi' });
    if (typeof r === 'string') throw new Error(r);
    expect(comparePrompts(r)).toEqual([
      { kind: 'chat', system: 'You are a helpful assistant.', user: 'What is the capital of France?' },
      { kind: 'chat', user: 'hi' },
    ]);
    const three = compareRequest({ ...DEFAULT_SETTINGS, c_on: true, c_prompt_kind: 'raw', c_prompt: 'x', cmp: 'arith' });
    if (typeof three === 'string') throw new Error(three);
    expect(comparePrompts(three)[2]).toEqual({ kind: 'raw', text: 'x' });
    expect(three.weights).toEqual([1, 1, -1]);
  });

  it('arith weights must be numbers, one per condition', () => {
    expect(parseWeights('', 2)).toEqual([1, -1]);
    expect(parseWeights(' 2, -0.5 ', 2)).toEqual([2, -0.5]);
    expect(parseWeights('1,,2', 3)).toMatch(/numbers/);
    expect(parseWeights('1,x', 2)).toMatch(/numbers/);
    expect(parseWeights('1,2,3', 2)).toMatch(/2 weights/);
    expect(compareRequest({ ...DEFAULT_SETTINGS, cmp: 'arith', weights: '1' })).toMatch(/2 weights/);
  });

  it('presets derive condition b from condition a', () => {
    const s: Settings = { ...DEFAULT_SETTINGS, prompt: 'Why?' };
    const raw = COMPARE_PRESETS.find((p) => p.id === 'raw')!.apply(s);
    expect(raw).toMatchObject({ prompt_kind: 'chat', b_prompt_kind: 'raw', b_prompt: 'Why?' });
    const noSystem = COMPARE_PRESETS.find((p) => p.id === 'no-system')!.apply(s);
    expect(noSystem).toMatchObject({ b_prompt_kind: 'chat', b_system: '', b_prompt: 'Why?' });
  });

  it('a branch continues prompt + prefix for what is left of max_tokens', () => {
    const r = branchRequest({ ...DEFAULT_SETTINGS, max_tokens: 10 }, [1, 2, 3], 4);
    expect(r).toMatchObject({ prefix: [1, 2, 3], samples: 4, max_tokens: 7 });
    expect(branchRequest({ ...DEFAULT_SETTINGS, max_tokens: 2 }, [1, 2, 3], 1).max_tokens).toBe(1);
  });
});
