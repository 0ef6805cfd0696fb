import { describe, expect, it } from 'vitest';
import { pointText, stepForKey } from './timeline';

describe('timeline keys', () => {
  it('arrows move one step and stop at the ends', () => {
    expect(stepForKey('ArrowRight', 3, 10)).toBe(4);
    expect(stepForKey('ArrowUp', 3, 10)).toBe(4);
    expect(stepForKey('ArrowLeft', 3, 10)).toBe(2);
    expect(stepForKey('ArrowDown', 3, 10)).toBe(2);
    expect(stepForKey('ArrowRight', 9, 10)).toBe(9);
    expect(stepForKey('ArrowLeft', 0, 10)).toBe(0);
  });

  it('from no focused step, forward starts at the first step and back at the last', () => {
    expect(stepForKey('ArrowRight', null, 10)).toBe(0);
    expect(stepForKey('ArrowLeft', null, 10)).toBe(9);
    expect(stepForKey('PageDown', null, 10)).toBe(9);
  });

  it('pages by ten, jumps to the ends, and Escape clears the focus', () => {
    expect(stepForKey('PageUp', 2, 30)).toBe(12);
    expect(stepForKey('PageUp', 25, 30)).toBe(29);
    expect(stepForKey('PageDown', 5, 30)).toBe(0);
    expect(stepForKey('Home', 17, 30)).toBe(0);
    expect(stepForKey('End', 0, 30)).toBe(29);
    expect(stepForKey('Escape', 4, 30)).toBeNull();
  });

  it('leaves other keys and empty timelines alone', () => {
    expect(stepForKey('a', 3, 10)).toBeUndefined();
    expect(stepForKey('Tab', 3, 10)).toBeUndefined();
    expect(stepForKey('ArrowRight', null, 0)).toBeUndefined();
  });

  it('a step is read out with every series value, a missing one as a dash', () => {
    const series = [
      { name: 'raw', values: [1, 2.3456, 3] },
      { name: 'sampled', values: [0.5, NaN, 1] },
    ];
    expect(pointText(series, 1)).toBe('step 1 of 3: raw 2.346, sampled –');
    expect(pointText(series, 0, 1)).toBe('step 0 of 3: raw 1.0, sampled 0.5');
  });
});
