import { describe, expect, it } from 'vitest';
import { addEvent, EMPTY_TREE, startGroup, type BranchTree } from './branchTree';
import { cellText, lanesLayout, lanesSvg, treeRows, treeSvg } from './diagramSvg';
import { groupRounds } from './spec';
import { done, multiDraftRun, speculateRun, step } from './testFixtures';

const EVIL = '</text><script>alert("x")</script>&amp;';

/**
 * Checks that `svg` is one well-formed element tree (written here apart from the renderer): tags balance, only the
 * diagram's element names appear, and outside tags no raw `<` and no `&` that does not start an entity.
 */
function assertWellFormed(svg: string): string[] {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const names: string[] = [];
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*>/g;
  let last = 0;
  for (const m of body.matchAll(tag)) {
    const between = body.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
    last = m.index + m[0].length;
    if (m[1]) expect(stack.pop()).toBe(m[2]);
    else {
      stack.push(m[2]);
      names.push(m[2]);
    }
  }
  expect(body.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(new Set(names).size).toBeLessThanOrEqual(6);
  for (const n of names) expect(['svg', 'g', 'rect', 'text', 'title', 'path']).toContain(n);
  return names;
}

/** Text nodes of the file, un-escaped. */
const texts = (svg: string) =>
  [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&'),
  );

describe('lanes diagram', () => {
  it('lays out one lane per call with the page’s cells in order, none overlapping, all inside the picture', () => {
    const layout = lanesLayout(groupRounds(speculateRun()));
    expect(layout.multi).toBe(false);
    expect(layout.lanes.map((l) => l.round)).toEqual([0, 1, 2]);
    expect(layout.lanes.map((l) => l.boxes.map((b) => b.kind))).toEqual([
      ['accepted', 'rejected', 'skipped', 'resampled'],
      ['accepted', 'accepted', 'accepted', 'bonus'],
      ['bonus'],
    ]);
    expect(layout.lanes[0].boxes.map((b) => b.text)).toEqual(['␣The', '␣cat', '␣sat', '␣dog']);
    // Drafts carry q and p (drawn as bars); tokens the target drew do not.
    expect(layout.lanes[0].boxes.map((b) => b.q)).toEqual([0.5, 0.6, 0.4, undefined]);
    for (const lane of layout.lanes) {
      lane.boxes.forEach((b, i) => {
        if (i > 0) expect(b.x).toBeGreaterThanOrEqual(lane.boxes[i - 1].x + lane.boxes[i - 1].w);
        expect(b.x + b.w).toBeLessThanOrEqual(layout.width);
      });
      expect(lane.y + lane.height).toBeLessThanOrEqual(layout.height);
    }
    // The lane labels ("call 1  β 0.60", 7 px a character or more) end before the first cell; the heading fits.
    for (const lane of layout.lanes) expect(lane.boxes[0].x).toBeGreaterThan(Array.from(lane.label).length * 7);
    expect(layout.width).toBeGreaterThan(layout.heading.length * 7);
    const ys = layout.lanes.map((l) => l.y);
    ys.slice(1).forEach((y, i) => expect(y).toBeGreaterThanOrEqual(ys[i] + layout.lanes[i].height));
  });

  it('a multi-draft lane frames each emitted token’s candidates, with the resampled or bonus token under them', () => {
    const layout = lanesLayout(groupRounds(multiDraftRun()));
    expect(layout.multi).toBe(true);
    const [r0, r1] = layout.lanes;
    expect(r0.frames.length).toBe(2);
    expect(r1.frames.length).toBe(3);
    expect(r0.boxes.map((b) => [b.kind, b.text])).toEqual([
      ['accepted', '␣The'],
      ['skipped', '␣The'],
      ['rejected', '␣cat'],
      ['rejected', '␣dog'],
      ['resampled', '␣end'],
    ]);
    expect(r1.boxes.map((b) => b.kind)).toEqual(['rejected', 'accepted', 'accepted', 'bonus']);
    // Every box sits inside a frame of its lane, and the frames do not overlap.
    for (const lane of layout.lanes) {
      for (const b of lane.boxes) {
        expect(lane.frames.some((f) => b.x >= f.x && b.x + b.w <= f.x + f.w && b.y >= f.y && b.y + 24 <= f.y + f.h)).toBe(true);
      }
      lane.frames.slice(1).forEach((f, i) => expect(f.x).toBeGreaterThanOrEqual(lane.frames[i].x + lane.frames[i].w));
    }
    // The first column holds two candidates and the resampled token: the lane is as tall as that.
    expect(r0.height).toBeGreaterThanOrEqual(3 * 24);
  });

  it('writes untrusted token text as escaped text, in a well-formed file of the stated size', () => {
    const steps = speculateRun();
    steps[0].spec!.drafts![1] = { ...steps[0].spec!.drafts![1], text: EVIL };
    const doc = lanesSvg(groupRounds(steps));
    expect(doc.text).not.toContain('<script');
    assertWellFormed(doc.text);
    expect(doc.text).toContain(`width="${doc.width}" height="${doc.height}"`);
    // The token is cut to 24 characters and shown, escaped, with its full text in the tooltip.
    expect(texts(doc.text)).toContain(cellText(EVIL));
    expect(doc.text).toContain('<title>&lt;/text&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;: rejected');
    const multi = lanesSvg(groupRounds(multiDraftRun()));
    assertWellFormed(multi.text);
    expect(texts(multi.text)).toEqual(expect.arrayContaining(['call 1  β 0.50', '␣end', '!']));
  });

  it('cuts long token texts by characters, not UTF-16 units, and shows invisible ones', () => {
    expect(cellText(' a\n')).toBe('␣a↵');
    expect(cellText('😀'.repeat(30))).toBe('😀'.repeat(23) + '…');
    expect(cellText('')).toBe('∅');
  });
});

/** The root run of 3 tokens; request 0 forks at step 1 with '<b>' (2 samples); request 1 forks sample 1 of it at its step 2. */
function forkedTree(): BranchTree {
  let tree = EMPTY_TREE;
  tree = startGroup(tree, 'root', 1, { id: 9, text: '<b>', logprob: -2 }).tree;
  tree = addEvent(tree, step(0, ' x'));
  tree = addEvent(tree, step(0, ' y'));
  tree = addEvent(tree, step(1, EVIL));
  tree = addEvent(tree, done());
  tree = startGroup(tree, 1, 2, { id: 10, text: ' z', logprob: -1 }).tree;
  tree = addEvent(tree, step(0, ' w'));
  return addEvent(tree, done());
}

describe('branch tree diagram', () => {
  it('lists the runs depth first under the root, each joined to its parent, the selected one marked', () => {
    const rows = treeRows(forkedTree(), 'generate run', ' a b c', 1);
    expect(rows.map((r) => [r.id, r.depth, r.parentRow, r.where, r.alt, r.selected])).toEqual([
      ['root', 0, -1, 'generate run', '', false],
      [0, 1, 0, 'fork at step 1', '<b>', false],
      [1, 1, 0, 'fork at step 1, sample 2', '<b>', true],
      [2, 2, 2, 'fork at step 2', '␣z', false],
    ]);
    expect(rows[0].text).toBe('␣a␣b␣c');
    expect(rows[1].text).toBe('␣x');
    // A branch-mode root (the prompt) has no tokens of its own: no text, not a placeholder.
    expect(treeRows(EMPTY_TREE, 'prompt', '', 'root')).toEqual([{ id: 'root', depth: 0, parentRow: -1, where: 'prompt', alt: '', text: '', selected: true }]);
  });

  it('writes the tree as a well-formed file with every token text escaped', () => {
    const doc = treeSvg(treeRows(forkedTree(), 'generate run', ' a b c', 1));
    const names = assertWellFormed(doc.text);
    expect(doc.text).not.toContain('<script');
    expect(doc.text).not.toContain('<b>');
    // One connector per run under the root, and one outline for the selected run.
    expect(names.filter((n) => n === 'path').length).toBe(3);
    expect(doc.text.match(/stroke-width="1.5"/g)?.length).toBe(1);
    const shown = texts(doc.text);
    expect(shown).toEqual(expect.arrayContaining(['generate run', '<b>', '␣y' + cellText(EVIL, 80), '␣z', '␣w']));
  });
});
