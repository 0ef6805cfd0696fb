import { describe, expect, it } from 'vitest';
import { addEvent, children, EMPTY_TREE, endGroup, forkPrefix, nodeSequence, nodeText, removeNode, startGroup, type BranchTree } from './branchTree';
import { done, step } from './testFixtures';

const root = [step(0, ' A'), step(1, ' B'), step(2, ' C'), step(3, ' D')];

/** Runs a whole request through the tree: start, its steps (samples restart at index 0), done. */
function request(tree: BranchTree, parent: 'root' | number, at: number, forced: { id: number; text: string; logprob: number } | null, samples: string[][]) {
  const g = startGroup(tree, parent, at, forced);
  let t = g.tree;
  const base = forced ? at + 1 : at;
  for (const texts of samples) texts.forEach((text, i) => (t = addEvent(t, { ...step(base + i, text), index: i })));
  return addEvent(t, done({ text: samples[0].join('') }));
}

describe('branch tree', () => {
  it('the prefix of a fork is the run’s tokens before the step, then the alternative', () => {
    expect(forkPrefix(root, 2, 777)).toEqual([100, 101, 777]);
    expect(forkPrefix(root, 0, 5)).toEqual([5]);
  });

  it('a fork shares its parent’s steps before the fork, then the alternative, then its own, indexed from 0', () => {
    const alt = root[2].top[1]; // ' alt2'
    const t = request(EMPTY_TREE, 'root', 2, alt, [[' X', ' Y']]);
    expect(t.nodes).toHaveLength(1);
    const seq = nodeSequence(t, t.nodes[0].id, root);
    expect(seq.map((s) => s.token.text)).toEqual([' A', ' B', ' alt2', ' X', ' Y']);
    expect(seq.map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    // The forced step keeps the parent's distribution at that step, with the alternative's probability and rank.
    expect(seq[2].top).toBe(root[2].top);
    expect(seq[2].logprob).toBe(alt.logprob);
    expect(seq[2].rank).toBe(1);
    expect(seq[2].sampling).toBeUndefined();
    expect(nodeText(t.nodes[0])).toBe(' alt2 X Y');
  });

  it('M samples of one request become M sibling nodes that share the done event', () => {
    const t = request(EMPTY_TREE, 'root', 0, null, [[' a', ' b'], [' c'], [' d', ' e', ' f']]);
    expect(t.nodes.map((n) => [n.sample, n.steps.length])).toEqual([
      [0, 2],
      [1, 1],
      [2, 3],
    ]);
    expect(new Set(t.nodes.map((n) => n.group)).size).toBe(1);
    expect(t.nodes.every((n) => n.done?.text === ' a b')).toBe(true);
    expect(t.streaming).toBeNull();
    // Samples of the prompt itself (no fork point) share nothing with the root run.
    expect(nodeSequence(t, t.nodes[1].id, root).map((s) => s.token.text)).toEqual([' c']);
  });

  it('forks of forks compose, and removing a node removes its subtree only', () => {
    let t = request(EMPTY_TREE, 'root', 1, root[1].top[2], [[' p', ' q', ' r']]);
    const first = t.nodes[0].id;
    // The fork's sequence: A, other1, p, q, r. Fork it at step 3 (' q') with some token.
    t = request(t, first, 3, { id: 42, text: ' Z', logprob: -3 }, [[' end']]);
    t = request(t, 'root', 3, root[3].top[1], [[' s']]);
    const second = t.nodes[1].id;
    expect(nodeSequence(t, second, root).map((s) => s.token.text)).toEqual([' A', ' other1', ' p', ' Z', ' end']);
    expect(children(t, 'root').map((n) => n.id)).toEqual([first, t.nodes[2].id]);
    expect(children(t, first).map((n) => n.id)).toEqual([second]);
    const pruned = removeNode(t, first);
    expect(pruned.nodes.map((n) => n.id)).toEqual([t.nodes[2].id]);
  });

  it('events with no request streaming are ignored, and an aborted request keeps its steps', () => {
    expect(addEvent(EMPTY_TREE, step(0, 'x'))).toBe(EMPTY_TREE);
    let t = startGroup(EMPTY_TREE, 'root', 0, null).tree;
    t = addEvent(t, step(0, ' half'));
    t = endGroup(t);
    expect(t.streaming).toBeNull();
    expect(t.nodes[0].steps).toHaveLength(1);
    expect(t.nodes[0].done).toBeNull();
  });

  it('node ids stay unique after a removal', () => {
    let t = request(EMPTY_TREE, 'root', 0, null, [[' a'], [' b']]);
    t = removeNode(t, t.nodes[1].id);
    t = request(t, 'root', 0, null, [[' c']]);
    expect(new Set(t.nodes.map((n) => n.id)).size).toBe(t.nodes.length);
  });
});
