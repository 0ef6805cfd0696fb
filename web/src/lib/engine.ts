// The bridge to the engine worker: the only code that writes model output into the stores.
import { get } from 'svelte/store';
import type { BackendChoice, FromWorker, ModelSource, RunKind, ScoreRequest, TopEntry, ToWorker } from './protocol';
import { branches, cacheNote, displayed, inspected, focusedScore, focusedStep, model, run, scored, selectedNode, settings } from '../store';
import { addEvent, EMPTY_TREE, endGroup, forkPrefix, startGroup, type ParentId } from './branchTree';
import { branchRequest, compareRequest, generateRequest, speculateRequest } from './requests';
import { testHooks } from './testHooks';
import { servedUrl, type ServedModel } from './served';

export { generateRequest } from './requests';

/** Where the default model is served, relative to the page (`cargo xtask serve` serves /models/). */
export const DEFAULT_MODEL_PATH = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';

let worker: Worker | null = null;

/** The model last asked for, so that a crashed engine's replacement can load it again (from the browser's cache). */
let lastLoad: { source: ModelSource; label: string } | null = null;

/** Where the streaming request's events go: the root run, or the branch tree (forks, branch-mode samples). */
let target: 'run' | 'tree' = 'run';
/** Select the first node the streaming branch request makes (so a fork shows as soon as it streams). */
let selectNext = false;

function send(message: ToWorker) {
  if (!worker) start();
  worker!.postMessage(message);
}

function onEvent(message: Extract<FromWorker, { type: 'event' }>) {
  const event = message.event;
  if (target === 'tree') {
    const tree = addEvent(get(branches), event);
    branches.set(tree);
    if (event.type === 'step' && selectNext) {
      selectNext = false;
      selectedNode.set(tree.nodes.at(-1)!.id);
    }
    if (event.type === 'done') run.update((r) => ({ ...r, status: 'idle' }));
    return;
  }
  run.update((r) => (event.type === 'step' ? { ...r, steps: [...r.steps, event] } : { ...r, status: 'idle', done: event }));
}

function onMessage(message: FromWorker) {
  switch (message.type) {
    case 'engine':
      model.update((m) => ({ ...m, engine: message.version }));
      break;
    case 'inspected':
      inspected.set(message);
      break;
    case 'progress':
      model.update((m) => ({ ...m, progress: { loaded: message.loaded, total: message.total, phase: message.phase } }));
      break;
    case 'loaded':
      model.update((m) => ({ ...m, status: 'ready', facts: message.facts, from: message.from, loadMs: message.ms, error: null, progress: null }));
      // A model without a usable chat template takes raw text only (the model bar says why).
      if (!message.facts.chat_template) settings.update((s) => ({ ...s, prompt_kind: 'raw', b_prompt_kind: 'raw', c_prompt_kind: 'raw' }));
      break;
    case 'event':
      onEvent(message);
      break;
    case 'scored':
      scored.set({
        status: 'idle',
        steps: message.events.filter((e) => e.type === 'step'),
        done: message.events.find((e) => e.type === 'done') ?? null,
        error: null,
      });
      break;
    case 'cache-cleared':
      cacheNote.set(message.removed ? 'Cached model removed.' : 'Nothing was cached.');
      break;
    case 'error': {
      const during = message.during;
      const runFailed = during === 'generate' || during === 'speculate' || during === 'compare' || during === 'branch';
      if (message.fatal && recover(message.message, during)) {
        // The engine was replaced and the model is loading again: only the request that crashed is lost.
        if (runFailed) {
          run.update((r) => ({ ...r, status: 'idle', error: message.message }));
          if (target === 'tree') branches.update(endGroup);
          selectNext = false;
        }
        if (during === 'score') scored.update((s) => ({ ...s, status: 'idle', error: message.message }));
        break;
      }
      if (during === 'load' || during === 'engine' || message.fatal) {
        model.update((m) => ({ ...m, status: 'error', error: message.message, progress: null, facts: message.fatal ? null : m.facts }));
      }
      // A failed backend switch leaves the model where it was, if it is still there.
      if (during === 'backend' && !message.fatal) {
        model.update((m) => ({ ...m, status: m.facts ? 'ready' : 'error', error: message.message, progress: null }));
      }
      if (runFailed || message.fatal) {
        run.update((r) => ({ ...r, status: 'idle', error: message.message }));
        if (target === 'tree') branches.update(endGroup);
        selectNext = false;
      }
      if (during === 'score' || message.fatal) scored.update((s) => ({ ...s, status: 'idle', error: message.message }));
      if (during === 'cache') cacheNote.set(message.message);
      break;
    }
  }
}

/** Starts the worker (once). */
export function start() {
  if (worker) return;
  worker = new Worker(new URL('../worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    model.update((m) => ({ ...m, status: 'error', error: e.message || 'the engine worker failed to start' }));
  };
}

function restart() {
  worker?.terminate();
  worker = null;
  start();
}

/**
 * A crash (a panic or running out of memory) leaves the wasm instance unusable: a fresh worker replaces it, and where
 * the crash came after the model had loaded, the model is loaded again. Returns whether it is. A crash while loading
 * is not retried, so a model that cannot load never loops.
 */
function recover(reason: string, during: Extract<FromWorker, { type: 'error' }>['during']): boolean {
  restart();
  if (!lastLoad || during === 'load' || during === 'engine') return false;
  const { source, label } = lastLoad;
  model.update((m) => ({ ...m, status: 'loading', label, progress: null, facts: null, error: null, crash: reason }));
  requestLoad(source);
  return true;
}

function requestLoad(source: ModelSource) {
  const { backend, threads } = get(settings);
  const checkFault = testHooks.checkOom ? 'oom' : undefined;
  send({ type: 'load', source, backend, threads, wrongKernel: testHooks.wrongKernel, checkFault });
}

function clearRuns() {
  run.set({ status: 'idle', kind: 'generate', steps: [], done: null, error: null, settings: null });
  branches.set(EMPTY_TREE);
  selectedNode.set('root');
  scored.set({ status: 'idle', steps: [], done: null, error: null });
}

/** Loads a model on the backend the settings ask for; `label` is what the model bar calls it while it loads. */
export function loadModel(source: ModelSource, label: string) {
  lastLoad = { source, label };
  inspected.set(null);
  model.update((m) => ({ ...m, status: 'loading', label, progress: null, facts: null, error: null, from: null, loadMs: null, crash: null }));
  clearRuns();
  requestLoad(source);
}

/** Loads the default model from next to the page (or the cache). */
export function loadDefaultModel() {
  loadModel({ kind: 'default', url: new URL(DEFAULT_MODEL_PATH, document.baseURI).href }, 'SmolLM2-135M-Instruct Q4_1 (default)');
}

/** Loads one of the models served beside the page (or from the cache, like the default). */
export function loadServedModel(m: ServedModel) {
  loadModel({ kind: 'default', url: servedUrl(m, document.baseURI) }, m.label);
}

/** Moves the loaded model to another compute backend (the worker answers with `loaded`, from `switch`). */
export function switchBackend(backend: BackendChoice) {
  settings.update((s) => ({ ...s, backend }));
  const m = get(model);
  if (m.status !== 'ready') return;
  model.update((x) => ({ ...x, status: 'loading', label: `${x.label.replace(/ \(switching.*$/, '')} (switching to ${backend})`, error: null }));
  send({ type: 'backend', backend });
}

/**
 * The run the mode settings describe starts, as the new root run (forks of the previous one are dropped);
 * `focus`: the step to show once it streams in (a shared link's step), else the newest.
 */
export function runMode(paused = false, focus: number | null = null) {
  const s = get(settings);
  const kind: RunKind = s.view === 'speculate' || s.view === 'compare' || s.view === 'branch' ? s.view : 'generate';
  focusedStep.set(focus);
  branches.set(EMPTY_TREE);
  selectedNode.set('root');
  const begin = (status: 'running' | 'paused') => {
    run.set({ status, kind, steps: [], done: null, error: null, settings: s });
  };
  switch (kind) {
    case 'generate':
      target = 'run';
      begin(paused ? 'paused' : 'running');
      return send({ type: 'generate', request: generateRequest(s), paused });
    case 'speculate':
      target = 'run';
      begin('running');
      return send({ type: 'speculate', request: speculateRequest(s, get(model).facts?.layers) });
    case 'compare': {
      const request = compareRequest(s);
      if (typeof request === 'string') {
        run.set({ status: 'idle', kind, steps: [], done: null, error: request, settings: s });
        return;
      }
      target = 'run';
      begin('running');
      return send({ type: 'compare', request });
    }
    case 'branch': {
      target = 'tree';
      begin('running');
      branches.set(startGroup(EMPTY_TREE, 'root', 0, null).tree);
      selectNext = true;
      return send({ type: 'branch', request: branchRequest(s, [], s.samples) });
    }
  }
}

/** Starts a generate run with the current settings; `paused` waits for `step()` after the first token. */
export function generate(paused: boolean) {
  settings.update((s) => (s.view === 'generate' ? s : { ...s, view: 'generate' }));
  runMode(paused);
}

/**
 * Forks the shown run at step `at` with `alternative` instead of its token: a branch request of prompt + the run's
 * tokens before the step + the alternative, `samples` continuations. Only runs sampled from one distribution
 * (generate, branch) can fork.
 */
export function fork(at: number, alternative: TopEntry) {
  const shown = get(displayed);
  const s = shown.settings ?? get(settings);
  if (get(run).status !== 'idle' || (shown.kind !== 'generate' && shown.kind !== 'branch')) return;
  const parent: ParentId = shown.node;
  const prefix = forkPrefix(shown.steps, at, alternative.id);
  target = 'tree';
  selectNext = true;
  branches.update((t) => startGroup(t, parent, at, alternative).tree);
  run.update((r) => ({ ...r, status: 'running', error: null }));
  send({ type: 'branch', request: branchRequest(s, prefix, get(settings).samples) });
}

/** Whether the shown run can fork now. */
export function canFork(kind: RunKind, status: string): boolean {
  return status === 'idle' && (kind === 'generate' || kind === 'branch');
}

/** One more step of a paused run. */
export function step() {
  send({ type: 'step' });
}

/** Lets a paused run go on by itself. */
export function resume() {
  run.update((r) => ({ ...r, status: 'running' }));
  send({ type: 'resume' });
}

/** Ends the running request (any mode) after the current step. */
export function stop() {
  send({ type: 'stop' });
}

/** Scores the score view's text with the current settings. */
export function score() {
  const s = get(settings);
  focusedScore.set(null);
  scored.set({ status: 'scoring', steps: [], done: null, error: null });
  const request: ScoreRequest = { prompt: { kind: 'raw', text: '' }, text: s.score_text, top_n: s.top_n, k: 0.2 };
  send({ type: 'score', request });
}

/** Removes the cached default model. */
export function clearCache() {
  cacheNote.set(null);
  send({ type: 'clear-cache' });
}

// The browser tests' way to break the engine on purpose (behind `?test=faults`, see testHooks.ts).
if (testHooks.faults) {
  (globalThis as { tokscopeTest?: object }).tokscopeTest = {
    fault: (kind: 'panic' | 'oom') => send({ type: 'fault', kind }),
  };
}
