// The page's state, in one place. Views read these stores; only the engine bridge (src/lib/engine.ts) writes
// model output (model, run, scored). Settings are mirrored in the URL hash by App.svelte.
import { derived, writable } from 'svelte/store';
import type { DoneEvent, FromWorker, LoadPhase, ModelFacts, RunKind, StepEvent } from '../lib/protocol';
import { decodeState, type Settings } from '../lib/urlState';
import { EMPTY_TREE, nodeSequence, type BranchTree, type ParentId } from '../lib/branchTree';

/** Prompt, sampling settings, mode, colouring metric, backend, presenter step: what a link reproduces. */
export const settings = writable<Settings>(decodeState(typeof location === 'undefined' ? '' : location.hash));

/** Loading progress of a model: bytes so far, total when known, and what is happening. */
export interface Progress {
  loaded: number;
  total: number | null;
  phase: LoadPhase;
}

/** The model: none yet, loading with progress, ready with its facts, or failed with a message. */
export interface ModelState {
  status: 'none' | 'loading' | 'ready' | 'error';
  /** What was asked for, for the model bar ("default model", a file name, a URL). */
  label: string;
  progress: Progress | null;
  facts: ModelFacts | null;
  from: 'network' | 'cache' | 'file' | 'switch' | null;
  loadMs: number | null;
  error: string | null;
  /** The wasm engine's version once the worker has started it. */
  engine: string | null;
  /** Why the engine was last replaced (a panic, out of memory), until another model is chosen. */
  crash: string | null;
}

export const model = writable<ModelState>({
  status: 'none',
  label: '',
  progress: null,
  facts: null,
  from: null,
  loadMs: null,
  error: null,
  engine: null,
  crash: null,
});

/**
 * The root run (generate, speculate or compare): its steps as they stream in, and the done event at the end.
 * `status` is that of whatever request runs now, forks included. A branch-mode run keeps no steps here: its
 * samples are nodes of the branch tree.
 */
export interface RunState {
  status: 'idle' | 'running' | 'paused';
  kind: RunKind;
  steps: StepEvent[];
  done: DoneEvent | null;
  error: string | null;
  /** Settings the run used (exports record them). */
  settings: Settings | null;
}

export const run = writable<RunState>({ status: 'idle', kind: 'generate', steps: [], done: null, error: null, settings: null });

/** The runs forked from the root run (and a branch-mode run's samples). */
export const branches = writable<BranchTree>(EMPTY_TREE);

/** The run shown in the stream and the timelines: the root run or a node of the branch tree. */
export const selectedNode = writable<ParentId>('root');

/** What the stream, the timelines and the mode views show: the selected run's whole sequence and done event. */
export interface ShownRun {
  node: ParentId;
  kind: RunKind;
  steps: StepEvent[];
  done: DoneEvent | null;
  settings: Settings | null;
}

export const displayed = derived([run, branches, selectedNode], ([$run, $tree, $node]): ShownRun => {
  const node = $node === 'root' ? null : $tree.nodes.find((n) => n.id === $node);
  if (!node) return { node: 'root', kind: $run.kind, steps: $run.steps, done: $run.done, settings: $run.settings };
  return { node: node.id, kind: 'branch', steps: nodeSequence($tree, node.id, $run.steps), done: node.done, settings: $run.settings };
});

/** A score run: one step per scored token, then perplexity and Min-K% in `done`. */
export interface ScoreState {
  status: 'idle' | 'scoring';
  steps: StepEvent[];
  done: DoneEvent | null;
  error: string | null;
}

export const scored = writable<ScoreState>({ status: 'idle', steps: [], done: null, error: null });

/** The step under the pointer or keyboard focus in the generate views: it lights up in every view. */
export const focusedStep = writable<number | null>(null);

/** The same for the score view. */
export const focusedScore = writable<number | null>(null);

/** The focused step's event, or the last step when nothing is focused (the newest is the most interesting). */
export const shownStep = derived([displayed, focusedStep], ([$shown, $focused]) =>
  $focused !== null && $focused < $shown.steps.length ? $shown.steps[$focused] : ($shown.steps.at(-1) ?? null),
);

/** A short message about the model cache, after "clear cache". */
export const cacheNote = writable<string | null>(null);

/** The last model's header as read before loading (formats, architecture, memory per backend), or null. */
export const inspected = writable<Extract<FromWorker, { type: 'inspected' }> | null>(null);
