// Keyboard access to the timelines: which step a key moves to, and the words a screen reader says for a step.
// Pure, so the key map and the label are tested apart from the chart.

/** Steps PageUp and PageDown move by. */
export const PAGE_STEPS = 10;

/**
 * The step a key moves the focus to in a timeline of `n` steps, from `current` (null: no step focused yet).
 * Right/Up go forward and Left/Down back (as a slider does), PageUp/PageDown by ten, Home/End to the ends, Escape
 * clears the focus (null). Undefined: the key is not the timeline's, or there are no steps.
 */
export function stepForKey(key: string, current: number | null, n: number): number | null | undefined {
  if (n <= 0) return undefined;
  if (key === 'Escape') return null;
  const clamp = (i: number) => Math.max(0, Math.min(n - 1, i));
  const last = n - 1;
  switch (key) {
    case 'ArrowRight':
    case 'ArrowUp':
      return current === null ? 0 : clamp(current + 1);
    case 'ArrowLeft':
    case 'ArrowDown':
      return current === null ? last : clamp(current - 1);
    case 'PageUp':
      return current === null ? 0 : clamp(current + PAGE_STEPS);
    case 'PageDown':
      return current === null ? last : clamp(current - PAGE_STEPS);
    case 'Home':
      return 0;
    case 'End':
      return last;
    default:
      return undefined;
  }
}

/** The values of the step `i` in words, e.g. "step 3 of 20: raw 2.31, sampled –" ("–" where a series has none). */
export function pointText(series: { name: string; values: number[] }[], i: number, digits = 3): string {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const values = series.map((s) => {
    const v = s.values[i];
    return `${s.name} ${v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '–'}`;
  });
  return `step ${i} of ${n}: ${values.join(', ')}`;
}
