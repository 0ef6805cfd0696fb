// The branch tree: the root run and the runs forked from it. Forking at step k of a run with an alternative token
// starts a branch run of prompt + (the run's first k tokens + the alternative); its steps continue from there.
// Every node keeps only its own steps; a node's whole sequence is its parent's first `at` steps, the chosen
// alternative, then its own (re-indexed so a fork lines up with its parent in the stream and the timelines).
// Pure functions over plain data: the store holds a BranchTree and replaces it on every change.
import type { DoneEvent, StepEvent, TopEntry } from './protocol';

/** Parent of a node: the root run (the `run` store's steps), or another node by id. */
export type ParentId = 'root' | number;

export interface BranchNode {
  id: number;
  parent: ParentId;
  /** Step of the parent's sequence where this node departs: the parent's steps before it are shared. */
  at: number;
  /** The alternative chosen at `at` (absent for samples of the prompt itself, `at` = 0). */
  forced: TopEntry | null;
  /** Request that produced the node; the M samples of one request share it. */
  group: number;
  /** 0-based sample of the request. */
  sample: number;
  steps: StepEvent[];
  /** The request's done event (shared by its samples), once it came. */
  done: DoneEvent | null;
}

export interface BranchTree {
  nodes: BranchNode[];
  /** The request whose events are streaming in, or null. */
  streaming: { group: number; parent: ParentId; at: number; forced: TopEntry | null } | null;
  nextGroup: number;
  nextId: number;
}

export const EMPTY_TREE: BranchTree = { nodes: [], streaming: null, nextGroup: 0, nextId: 0 };

/** The token ids after the prompt that a fork at step `at` with `alternative` continues from. */
export function forkPrefix(sequence: StepEvent[], at: number, alternative: number): number[] {
  return [...sequence.slice(0, at).map((s) => s.token.id), alternative];
}

/** Starts a request: its events (see addEvent) become nodes under `parent`, departing at `at` with `forced`. */
export function startGroup(tree: BranchTree, parent: ParentId, at: number, forced: TopEntry | null): { tree: BranchTree; group: number } {
  const group = tree.nextGroup;
  return { tree: { ...tree, streaming: { group, parent, at, forced }, nextGroup: group + 1 }, group };
}

/** Adds an event of the streaming request: a step with index 0 opens the next sample's node; done closes the request. */
export function addEvent(tree: BranchTree, event: StepEvent | DoneEvent): BranchTree {
  const g = tree.streaming;
  if (!g) return tree;
  if (event.type === 'done') {
    const nodes = tree.nodes.map((n) => (n.group === g.group ? { ...n, done: event } : n));
    return { ...tree, nodes, streaming: null };
  }
  const last = tree.nodes.at(-1);
  if (event.index === 0 || !last || last.group !== g.group) {
    const sample = last && last.group === g.group ? last.sample + 1 : 0;
    const id = tree.nextId;
    const node: BranchNode = { id, parent: g.parent, at: g.at, forced: g.forced, group: g.group, sample, steps: [event], done: null };
    return { ...tree, nodes: [...tree.nodes, node], nextId: id + 1 };
  }
  return { ...tree, nodes: [...tree.nodes.slice(0, -1), { ...last, steps: [...last.steps, event] }] };
}

/** Ends a request without a done event (an error): its nodes stay as they are. */
export function endGroup(tree: BranchTree): BranchTree {
  return { ...tree, streaming: null };
}

/** The step a forced alternative stands for: the parent's step at that point (same distribution), with the alternative as token. */
function forcedStep(base: StepEvent, alt: TopEntry): StepEvent {
  const rank = base.top.findIndex((t) => t.id === alt.id);
  return {
    type: 'step',
    index: base.index,
    position: base.position,
    token: { id: alt.id, text: alt.text },
    logprob: alt.logprob,
    rank: rank >= 0 ? rank : base.rank,
    entropy: base.entropy,
    top: base.top,
    ms: 0,
  };
}

/** A node's whole sequence (from the first token after the prompt), indices 0, 1, 2, … */
export function nodeSequence(tree: BranchTree, id: ParentId, rootSteps: StepEvent[]): StepEvent[] {
  if (id === 'root') return rootSteps;
  const node = tree.nodes.find((n) => n.id === id);
  if (!node) return [];
  const parent = node.forced || node.at > 0 ? nodeSequence(tree, node.parent, rootSteps) : [];
  const head = parent.slice(0, node.at);
  if (node.forced && parent[node.at]) head.push(forcedStep(parent[node.at], node.forced));
  return [...head, ...node.steps].map((s, i) => (s.index === i ? s : { ...s, index: i }));
}

/** The children of a parent in the order they were made. */
export function children(tree: BranchTree, parent: ParentId): BranchNode[] {
  return tree.nodes.filter((n) => n.parent === parent);
}

/** The text a node adds: the alternative, then its own tokens. */
export function nodeText(node: BranchNode): string {
  return (node.forced?.text ?? '') + node.steps.map((s) => s.token.text).join('');
}

/** Removes a node and everything forked from it. */
export function removeNode(tree: BranchTree, id: number): BranchTree {
  const gone = new Set<number>([id]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of tree.nodes) {
      if (typeof n.parent === 'number' && gone.has(n.parent) && !gone.has(n.id)) {
        gone.add(n.id);
        grew = true;
      }
    }
  }
  return { ...tree, nodes: tree.nodes.filter((n) => !gone.has(n.id)) };
}
