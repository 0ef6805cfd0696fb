// The page's state, in one place. Views read these stores; only the engine bridge (src/lib/engine.ts) writes
// model output (model, run, scored). Settings are mirrored in the URL hash by App.svelte.
import { derived, writable } from 'svelte/store';
import type { DoneEvent, ModelFacts, StepEvent } from '../lib/protocol';
import { decodeState, type Settings } from '../lib/urlState';

/** Prompt, sampling settings, view and colouring metric: what a link reproduces. */
export const settings = writable<Settings>(decodeState(typeof location === 'undefined' ? '' : location.hash));

/** Loading progress of a model: bytes so far, total when known, and what is happening. */
export interface Progress {
  loaded: number;
  total: number | null;
  phase: 'download' | 'cache' | 'file' | 'parse';
}

/** The model: none yet, loading with progress, ready with its facts, or failed with a message. */
export interface ModelState {
  status: 'none' | 'loading' | 'ready' | 'error';
  /** What was asked for, for the model bar ("default model", a file name, a URL). */
  label: string;
  progress: Progress | null;
  facts: ModelFacts | null;
  from: 'network' | 'cache' | 'file' | null;
  loadMs: number | null;
  error: string | null;
  /** The wasm engine's version once the worker has started it. */
  engine: string | null;
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
});

/** A generate run: its steps as they stream in, and the done event at the end. */
export interface RunState {
  status: 'idle' | 'running' | 'paused';
  steps: StepEvent[];
  done: DoneEvent | null;
  error: string | null;
  /** Settings the run used (exports record them). */
  settings: Settings | null;
}

export const run = writable<RunState>({ status: 'idle', steps: [], done: null, error: null, settings: null });

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
export const shownStep = derived([run, focusedStep], ([$run, $focused]) =>
  $focused !== null && $focused < $run.steps.length ? $run.steps[$focused] : ($run.steps.at(-1) ?? null),
);

/** A short message about the model cache, after "clear cache". */
export const cacheNote = writable<string | null>(null);
