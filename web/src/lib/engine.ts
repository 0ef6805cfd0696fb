// The bridge to the engine worker: the only code that writes model output into the stores.
import { get } from 'svelte/store';
import type { FromWorker, GenerateRequest, ModelSource, ScoreRequest, ToWorker } from './protocol';
import { cacheNote, focusedScore, focusedStep, model, run, scored, settings } from '../store';
import type { Settings } from './urlState';

/** Where the default model is served, relative to the page (`cargo xtask serve` serves /models/). */
export const DEFAULT_MODEL_PATH = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';

let worker: Worker | null = null;

function send(message: ToWorker) {
  if (!worker) start();
  worker!.postMessage(message);
}

function onMessage(message: FromWorker) {
  switch (message.type) {
    case 'engine':
      model.update((m) => ({ ...m, engine: message.version }));
      break;
    case 'progress':
      model.update((m) => ({ ...m, progress: { loaded: message.loaded, total: message.total, phase: message.phase } }));
      break;
    case 'loaded':
      model.update((m) => ({ ...m, status: 'ready', facts: message.facts, from: message.from, loadMs: message.ms, error: null }));
      break;
    case 'event': {
      const event = message.event;
      run.update((r) =>
        event.type === 'step'
          ? { ...r, steps: [...r.steps, event] }
          : { ...r, status: 'idle', done: event },
      );
      break;
    }
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
    case 'error':
      if (message.during === 'load' || message.during === 'engine' || message.fatal) {
        model.update((m) => ({ ...m, status: 'error', error: message.message, progress: null, facts: message.fatal ? null : m.facts }));
      }
      if (message.during === 'generate' || message.fatal) run.update((r) => ({ ...r, status: 'idle', error: message.message }));
      if (message.during === 'score' || message.fatal) scored.update((s) => ({ ...s, status: 'idle', error: message.message }));
      if (message.during === 'cache') cacheNote.set(message.message);
      // A panic leaves the wasm instance unusable: start a fresh worker for the next model.
      if (message.fatal) restart();
      break;
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

/** Loads a model; `label` is what the model bar calls it while it loads. */
export function loadModel(source: ModelSource, label: string) {
  model.update((m) => ({ ...m, status: 'loading', label, progress: null, facts: null, error: null, from: null, loadMs: null }));
  run.set({ status: 'idle', steps: [], done: null, error: null, settings: null });
  scored.set({ status: 'idle', steps: [], done: null, error: null });
  send({ type: 'load', source });
}

/** Loads the default model from next to the page (or the cache). */
export function loadDefaultModel() {
  loadModel({ kind: 'default', url: new URL(DEFAULT_MODEL_PATH, document.baseURI).href }, 'SmolLM2-135M-Instruct Q4_1 (default)');
}

/** The generate request the settings describe. */
export function generateRequest(s: Settings): GenerateRequest {
  return {
    prompt: s.mode === 'chat' ? { kind: 'chat', system: s.system || null, user: s.prompt } : { kind: 'raw', text: s.prompt },
    max_tokens: s.max_tokens,
    temperature: s.temperature,
    top_k: s.top_k,
    top_p: s.top_p,
    min_p: s.min_p,
    seed: s.seed,
    top_n: s.top_n,
  };
}

/** Starts a generate run with the current settings; `paused` waits for `step()` after the first token. */
export function generate(paused: boolean) {
  const s = get(settings);
  focusedStep.set(null);
  run.set({ status: paused ? 'paused' : 'running', steps: [], done: null, error: null, settings: s });
  send({ type: 'generate', request: generateRequest(s), paused });
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

/** Ends the run after the current step. */
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
