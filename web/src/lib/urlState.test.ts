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
      prompt_kind: 'raw',
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

  it('round-trips the modes and their settings, the backend, the presenter and the step', () => {
    const s: Settings = {
      ...DEFAULT_SETTINGS,
      view: 'compare',
      drafter: 'early-exit',
      gamma: 16,
      layers: 7,
      max_ngram: 2,
      drafts: 4,
      b_prompt_kind: 'raw',
      b_system: 'Be terse & exact',
      b_prompt: 'Q: capital of France?\nA:',
      c_on: true,
      c_prompt_kind: 'chat',
      c_system: 'x=1&y=2',
      c_prompt: '#hash',
      cmp: 'uscd',
      alpha: 0.5,
      threshold: 2.25,
      weights: '1,1,-1',
      samples: 8,
      backend: 'cpu',
      threads: 3,
      step: 5,
      presenter: true,
    };
    const hash = encodeState(s);
    expect(new URLSearchParams(hash).get('backend')).toBe('cpu');
    expect(new URLSearchParams(hash).get('step')).toBe('5');
    expect(new URLSearchParams(hash).get('presenter')).toBe('1');
    expect(decodeState('#' + hash)).toEqual(s);
    for (const view of ['speculate', 'branch', 'score', 'generate'] as const) expect(decodeState(encodeState({ ...s, view })).view).toBe(view);
  });

  it('reads mode=<run mode> as the view, and mode=raw as the prompt kind', () => {
    expect(decodeState('mode=speculate&gamma=3')).toMatchObject({ view: 'speculate', prompt_kind: 'chat', gamma: 3 });
    expect(decodeState('mode=raw')).toMatchObject({ view: 'generate', prompt_kind: 'raw' });
    expect(decodeState('view=branch&mode=compare').view).toBe('branch');
  });

  it('rejects out-of-range mode settings', () => {
    const s = decodeState('gamma=17&samples=0&step=-2&presenter=yes&backend=metal&cmp=xx&drafter=model&drafts=9');
    expect(s.gamma).toBe(DEFAULT_SETTINGS.gamma);
    expect(s.drafts).toBe(1);
    expect(decodeState('drafts=0').drafts).toBe(1);
    expect(decodeState('drafts=8').drafts).toBe(8);
    expect(s.samples).toBe(DEFAULT_SETTINGS.samples);
    expect(s.step).toBe(-1);
    expect(s.presenter).toBe(false);
    expect(s.backend).toBe('auto');
    expect(s.cmp).toBe('a');
    expect(s.drafter).toBe('ngram');
    expect(decodeState('threads=17').threads).toBe(0);
    expect(decodeState('threads=1.5').threads).toBe(0);
    expect(decodeState('threads=2').threads).toBe(2);
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

  it('accepts only its own keys: inherited names such as toString and constructor are ignored', () => {
    const hash = 'toString=x&constructor=y&__proto__=z&hasOwnProperty=1&valueOf=2&isPrototypeOf=3&prompt=kept';
    const s = decodeState(hash);
    expect(s).toEqual({ ...DEFAULT_SETTINGS, prompt: 'kept' });
    expect(Object.keys(s)).toEqual(Object.keys(DEFAULT_SETTINGS));
    expect(Object.getPrototypeOf(s)).toBe(Object.prototype);
    // The object still behaves as one: its methods are Object's, not strings from the URL.
    expect(typeof s.toString).toBe('function');
    expect(String(s)).toBe('[object Object]');
    expect(Object.prototype.hasOwnProperty.call(s, 'prompt')).toBe(true);
    expect(s.valueOf()).toBe(s);
    expect(encodeState(s)).toBe('prompt=kept');
  });

  it("reads older links' prompt-kind keys, and gives each compare mode its own default α", () => {
    expect(decodeState('b_mode=raw&c_mode=chat')).toMatchObject({ prompt_kind: 'chat', b_prompt_kind: 'raw', c_prompt_kind: 'chat' });
    expect(decodeState('mode=raw&prompt_kind=chat').prompt_kind).toBe('chat');
    expect(decodeState('cmp=ed').alpha).toBe(0.5);
    expect(decodeState('cmp=cd').alpha).toBe(0.1);
    expect(decodeState('cmp=ed&alpha=0.1').alpha).toBe(0.1);
    expect(decodeState('cmp=ed&alpha=-1').alpha).toBe(0.5);
    const ed: Settings = { ...DEFAULT_SETTINGS, cmp: 'ed', alpha: 0.5 };
    expect(encodeState(ed)).toBe('cmp=ed');
    expect(decodeState(encodeState({ ...ed, alpha: 0.1 }))).toEqual({ ...ed, alpha: 0.1 });
  });
});
