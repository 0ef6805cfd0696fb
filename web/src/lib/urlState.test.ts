import { describe, expect, it } from 'vitest';
import { decodeState, DEFAULT_SETTINGS, encodeState, type Settings } from './urlState';

describe('URL state', () => {
  it('defaults give an empty hash, and an empty hash gives the defaults', () => {
    expect(encodeState(DEFAULT_SETTINGS)).toBe('');
    expect(decodeState('')).toEqual(DEFAULT_SETTINGS);
  });

  it('round-trips every kind of setting, including awkward text', () => {
    const s: Settings = {
      ...DEFAULT_SETTINGS,
      view: 'score',
      mode: 'raw',
      prompt: 'a & b = c #1 ? 100% <tag>\nnext line',
      system: '',
      temperature: 0.25,
      top_k: 7,
      top_p: 0.5,
      min_p: 0.05,
      seed: 123456789,
      max_tokens: 32,
      top_n: 20,
      metric: 'rank',
      score_text: 'ünïcödé ✓',
    };
    expect(decodeState('#' + encodeState(s))).toEqual(s);
  });

  it('falls back to defaults on values out of range or of the wrong kind', () => {
    const s = decodeState('temperature=-1&top_k=2.5&seed=abc&max_tokens=&view=admin&metric=rank&unknown=1');
    expect(s.temperature).toBe(DEFAULT_SETTINGS.temperature);
    expect(s.top_k).toBe(DEFAULT_SETTINGS.top_k);
    expect(s.seed).toBe(DEFAULT_SETTINGS.seed);
    expect(s.max_tokens).toBe(DEFAULT_SETTINGS.max_tokens);
    expect(s.view).toBe(DEFAULT_SETTINGS.view);
    expect(s.metric).toBe('rank');
    expect('unknown' in s).toBe(false);
  });
});
