// Export of a run: the events as JSON (the CLI's JSONL objects in an array, with the settings and model), or one
// CSV row per step for spreadsheets.
import type { DoneEvent, ModelFacts, StepEvent } from './protocol';
import { natsToBits, surprisalBits } from './format';

/** The whole run as pretty JSON: settings, model facts, every step, the done event. */
export function runToJson(run: { settings: unknown; model: ModelFacts | null; steps: StepEvent[]; done: DoneEvent | null }): string {
  return JSON.stringify({ tool: 'tokscope', ...run }, null, 2);
}

export const CSV_COLUMNS = [
  'index',
  'position',
  'token_id',
  'token_text',
  'logprob',
  'probability',
  'rank',
  'entropy_bits',
  'surprisal_bits',
  'sampling_entropy_bits',
  'kept',
  'bf_step',
  'bf_window',
  'bf_running',
  'ms',
  // speculate
  'spec_round',
  'spec_source',
  'spec_drafted',
  'spec_accepted',
  'spec_beta',
  // compare (KL empty where it is infinite)
  'logprob_b',
  'rank_b',
  'entropy_b_bits',
  'kl_ab',
  'kl_ba',
  'js',
  'tv',
  'contrast_applied',
];

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. Text that a spreadsheet
 * would run as a formula (=, +, -, @ first) gets a leading apostrophe: token texts are untrusted.
 */
export function csvField(value: string | number | undefined, isText = false): string {
  if (value === undefined) return '';
  let s = String(value);
  if (isText && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per step, with a header; numbers in full precision. */
export function runToCsv(steps: StepEvent[]): string {
  const rows = steps.map((s) =>
    [
      csvField(s.index),
      csvField(s.position),
      csvField(s.token.id),
      csvField(s.token.text, true),
      csvField(s.logprob),
      csvField(Math.exp(s.logprob)),
      csvField(s.rank),
      csvField(natsToBits(s.entropy)),
      csvField(surprisalBits(s.logprob)),
      csvField(s.sampling ? natsToBits(s.sampling.entropy) : undefined),
      csvField(s.sampling?.kept),
      csvField(s.bf?.step),
      csvField(s.bf?.window),
      csvField(s.bf?.running),
      csvField(s.ms),
      csvField(s.spec?.round),
      csvField(s.spec?.source),
      csvField(s.spec?.drafts?.length),
      csvField(s.spec?.drafts?.filter((d) => d.outcome === 'accepted').length),
      csvField(s.spec?.beta),
      csvField(s.compare?.logprob_b),
      csvField(s.compare?.rank_b),
      csvField(s.compare ? natsToBits(s.compare.entropy_b) : undefined),
      csvField(s.compare?.kl_ab ?? undefined),
      csvField(s.compare?.kl_ba ?? undefined),
      csvField(s.compare?.js),
      csvField(s.compare?.tv),
      csvField(s.compare?.contrast_applied === undefined ? undefined : String(s.compare.contrast_applied)),
    ].join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\r\n') + '\r\n';
}

/** Offers `text` (or a blob) as a file download. */
export function download(name: string, text: string | Blob, type: string) {
  const url = URL.createObjectURL(text instanceof Blob ? text : new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
