import { describe, expect, it } from 'vitest';
import { csvField, CSV_COLUMNS, runToCsv, runToJson } from './exportRun';
import type { StepEvent } from './protocol';
import { speculateRun } from './testFixtures';

function step(index: number, text: string, logprob: number): StepEvent {
  return {
    type: 'step',
    index,
    position: 10 + index,
    token: { id: 100 + index, text },
    logprob,
    rank: index,
    entropy: Math.log(4),
    top: [],
    sampling: { entropy: Math.log(2), kept: 3, logprob: -0.1 },
    bf: { step: 2, window: 2, running: 2 },
    ms: 5,
  };
}

/** A minimal RFC 4180 reader, written for the test, to check that fields survive the round trip. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') endField();
    else if (c === '\r' && text[i + 1] === '\n') {
      endField();
      rows.push(row);
      row = [];
      i++;
    } else field += c;
  }
  return rows;
}

describe('CSV export', () => {
  it('quotes commas, quotes and line breaks', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('\n')).toBe('"\n"');
    expect(csvField(1.5)).toBe('1.5');
    expect(csvField(undefined)).toBe('');
  });

  it('defuses token texts a spreadsheet would run as formulas', () => {
    expect(csvField('=1+1', true)).toBe("'=1+1");
    expect(csvField('-0.5')).toBe('-0.5');
  });

  it('round-trips awkward token texts with one row per step', () => {
    const texts = [' Paris', ',', '"quoted"', 'line\nbreak', '<img src=x onerror=alert(1)>'];
    const rows = parseCsv(runToCsv(texts.map((t, i) => step(i, t, -0.5))));
    expect(rows[0]).toEqual(CSV_COLUMNS);
    expect(rows).toHaveLength(texts.length + 1);
    expect(rows.slice(1).map((r) => r[3])).toEqual(texts);
    const col = (name: string) => rows[1][CSV_COLUMNS.indexOf(name)];
    expect(Number(col('probability'))).toBeCloseTo(Math.exp(-0.5), 12);
    expect(Number(col('entropy_bits'))).toBeCloseTo(2, 12);
    expect(Number(col('surprisal_bits'))).toBeCloseTo(0.5 / Math.LN2, 12);
    expect(Number(col('sampling_entropy_bits'))).toBeCloseTo(1, 12);
  });
});

describe('CSV export of the modes', () => {
  it('carries the round and source of speculative tokens, and the drafts on a round’s first token', () => {
    const rows = parseCsv(runToCsv(speculateRun()));
    const col = (r: number, name: string) => rows[r + 1][CSV_COLUMNS.indexOf(name)];
    expect(rows.slice(1).map((r) => r[CSV_COLUMNS.indexOf('spec_source')])).toEqual([
      'accepted',
      'resampled',
      'accepted',
      'accepted',
      'accepted',
      'bonus',
      'bonus',
    ]);
    expect(col(0, 'spec_drafted')).toBe('3');
    expect(col(0, 'spec_accepted')).toBe('1');
    expect(col(1, 'spec_drafted')).toBe('');
    expect(col(6, 'spec_round')).toBe('2');
    expect(col(6, 'spec_drafted')).toBe('0');
  });

  it('writes compare divergences, leaving an infinite KL empty', () => {
    const s = step(0, 'x', -1);
    s.compare = { top_b: [], logprob_b: -2, rank_b: 3, entropy_b: Math.LN2, kl_ab: null, kl_ba: 0.25, js: 0.1, tv: 0.2, mode: 'uscd', top_mixed: [], uncertainty: 1.5, contrast_applied: true };
    const rows = parseCsv(runToCsv([s]));
    const col = (name: string) => rows[1][CSV_COLUMNS.indexOf(name)];
    expect(col('kl_ab')).toBe('');
    expect(col('kl_ba')).toBe('0.25');
    expect(col('entropy_b_bits')).toBe('1');
    expect(col('contrast_applied')).toBe('true');
    expect(col('rank_b')).toBe('3');
  });
});

describe('JSON export', () => {
  it('keeps the events as the CLI writes them', () => {
    const steps = [step(0, ' a', -1)];
    const parsed = JSON.parse(runToJson({ settings: { seed: 7 }, model: null, steps, done: null }));
    expect(parsed.tool).toBe('tokscope');
    expect(parsed.steps).toEqual(steps);
    expect(parsed.settings.seed).toBe(7);
  });
});
