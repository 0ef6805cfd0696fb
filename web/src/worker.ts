// The engine worker: loads the wasm bridge and a model off the main thread (on WebGPU where the browser has it, else
// the CPU backend; the engine reads the model's Blob slice by slice, so the whole file is never held in a JS buffer
// and, on WebGPU, never in this worker's wasm memory either: the self-check reads it in a worker of its own,
// selfCheck.ts), runs generate one step at a time (yielding between steps so a "stop" message is seen at once),
// score, speculate, compare and branch, and posts every event.
import type { Engine } from '../pkg/tokscope_wasm.js';
import { cpuThreads, loadWasm, type Wasm } from './threads';
import { describe } from './crash';
import { selfCheckReference, type CheckFault } from './selfCheck';
import { inspect } from './inspect';
import { ENGINE_DEFAULTS } from './lib/engineDefaults';
import type {
  BackendChoice,
  FromWorker,
  GenerateRequest,
  ModelSource,
  ReadPhase,
  RunEvent,
  RunKind,
  ScoreRequest,
  ToWorker,
} from './lib/protocol';

/** Cache API bucket for the default model, so a second visit works offline and starts fast. */
const CACHE_NAME = 'tokscope-models-v1';

/** The engine's bindings: the threaded build on a cross-origin isolated page, else the single-threaded one. */
const ready = loadWasm();
let wasm: Wasm | null = null;
let engine: Engine | null = null;
/** `running`: stepping on its own; `paused`: one step per "step" message; `busy`: a streaming mode runs. */
let mode: 'idle' | 'running' | 'paused' | 'busy' = 'idle';
type During = Extract<FromWorker, { type: 'error' }>['during'];
/** What the engine was last asked to do: the request a crash outside any `try` (in a wasm task) belongs to. */
let during: During = 'engine';
/** Set once a crash is reported: the instance is dead, and the page replaces this worker. */
let crashed = false;

function post(message: FromWorker) {
  self.postMessage(message);
}

function fail(what: During, e: unknown) {
  const { message, fatal } = describe(e, wasm);
  if (fatal) {
    if (crashed) return;
    crashed = true;
    engine = null;
  }
  mode = 'idle';
  post({ type: 'error', during: what, message, fatal });
  // A GPU failure moves the engine to the CPU: the page learns the backend it now runs on.
  if (engine && /switched to the CPU backend/.test(message)) {
    try {
      post({ type: 'loaded', facts: engine.facts(), from: 'switch', ms: 0 });
    } catch {
      /* the facts are posted with the next load */
    }
  }
}

/** Reads a response body into a Blob, posting progress at most every 100 ms. */
async function readBody(response: Response, phase: 'download' | 'cache'): Promise<Blob> {
  const total = Number(response.headers.get('content-length')) || null;
  if (!response.body) return response.blob();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let last = 0;
  post({ type: 'progress', loaded, total, phase });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    const now = performance.now();
    if (now - last > 100) {
      last = now;
      post({ type: 'progress', loaded, total, phase });
    }
  }
  post({ type: 'progress', loaded, total: total ?? loaded, phase });
  return new Blob(chunks as BlobPart[], { type: 'application/octet-stream' });
}

async function download(url: string): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not download ${url}: ${e instanceof Error ? e.message : e}`);
  }
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status}`);
  return readBody(response, 'download');
}

/**
 * A model by URL (the default one or a pasted one) from the Cache API, else from the network; `keep` stores a
 * downloaded model for offline use, and is called once the engine has accepted it (a broken file is never cached).
 */
async function cachedModel(url: string): Promise<{ blob: Blob; from: 'cache' | 'network'; keep: () => Promise<void> }> {
  const cache = 'caches' in self ? await caches.open(CACHE_NAME).catch(() => null) : null;
  const hit = await cache?.match(url);
  if (hit) {
    const total = Number(hit.headers.get('content-length')) || null;
    post({ type: 'progress', loaded: 0, total, phase: 'cache' });
    return { blob: await hit.blob(), from: 'cache', keep: async () => undefined };
  }
  const blob = await download(url);
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) };
  // A full disk or a private window refuses to cache: the model still runs.
  const keep = async () => {
    await cache?.put(url, new Response(blob, { headers })).catch(() => undefined);
  };
  return { blob, from: 'network', keep };
}

/** The engine's reading of the file (header, then weights uploaded or copied into wasm memory; the self-check), as progress. */
function readProgress(loaded: number, total: number, phase: ReadPhase) {
  post({ type: 'progress', loaded, total, phase });
}

async function load(source: ModelSource, backend: BackendChoice, threads: number, wrongKernel: boolean, checkFault: CheckFault | null) {
  const t0 = performance.now();
  during = 'load';
  mode = 'idle';
  engine?.free();
  engine = null;
  try {
    const bindings = await ready;
    // The engine keeps the Blob: a later switch to the CPU backend reads it again.
    let blob: Blob;
    let from: 'network' | 'cache' | 'file';
    let keep: () => Promise<void> = async () => undefined;
    if (source.kind === 'default' || source.kind === 'url') ({ blob, from, keep } = await cachedModel(source.url));
    else {
      blob = source.file;
      from = 'file';
    }
    const adapter = await adapterHint();
    const refusal = inspect(bindings, blob, ENGINE_DEFAULTS.n_ctx, backend, adapter, post);
    if (refusal) throw new Error(refusal);
    readProgress(0, blob.size, 'parse');
    try {
      // No n_ctx: the engine's default context, sized for its f32 KV cache.
      const options = {
        backend,
        adapter: adapter ?? undefined,
        threads: cpuThreads(threads),
        test_wrong_kernel: wrongKernel,
      };
      // The self-check's CPU side, started by the engine before it uploads the weights to WebGPU.
      const reference = () => selfCheckReference(blob, checkFault);
      engine = await bindings.loadEngine(blob, options, yieldToMessages, readProgress, reference);
    } catch (e) {
      const { message, fatal } = describe(e, wasm);
      if (fatal) throw e;
      throw new Error(`this file is not a model tokscope can run: ${message}`);
    }
    post({ type: 'loaded', facts: engine.facts(), from, ms: performance.now() - t0 });
    await keep();
  } catch (e) {
    fail('load', e);
  }
}

async function switchBackend(backend: BackendChoice) {
  if (!engine) return post({ type: 'error', during: 'backend', message: 'no model is loaded', fatal: false });
  mode = 'busy';
  during = 'backend';
  const t0 = performance.now();
  try {
    const facts = await engine.switchBackend(backend);
    mode = 'idle';
    post({ type: 'loaded', facts, from: 'switch', ms: performance.now() - t0 });
  } catch (e) {
    fail('backend', e);
  }
}

/** The parts of WebGPU's adapter this worker reads (the TS DOM library has no WebGPU types). */
interface AdapterLike {
  isFallbackAdapter?: boolean;
  features?: { has(name: string): boolean };
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  requestDevice(descriptor?: { requiredFeatures?: string[] }): Promise<unknown>;
}

/**
 * What the browser says of its WebGPU adapter: a name for the model bar, whether it runs on the CPU
 * (SwiftShader, a fallback adapter), which picks the engine's barrier-free kernels, and whether the
 * device the engine gets has subgroups. The engine's wgpu sees none of this in the browser. Null where
 * the browser has no WebGPU.
 */
async function adapterHint(): Promise<{ description: string; software: boolean; subgroups: boolean } | null> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(o?: object): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return null;
    const info = adapter.info ?? {};
    const parts = [info.vendor, info.architecture, info.description].filter((p): p is string => !!p);
    const description = [...new Set(parts)].join(' ') || 'WebGPU adapter';
    const software =
      !!(adapter.isFallbackAdapter || info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(description);
    const subgroups = !!adapter.features?.has('subgroups') && requestSubgroups();
    return { description, software, subgroups };
  } catch {
    return null;
  }
}

/**
 * Makes every device request of this worker ask for WebGPU's `subgroups` feature where the adapter has
 * it: wgpu 30's WebGPU backend cannot name the feature (gfx-rs/wgpu#10146), and the engine's kernels for
 * CPU-run adapters share loads across a SIMD group's lanes with it (faster on SwiftShader: tests/bench/README.md).
 * Returns false where the browser has no GPUAdapter to extend.
 */
function requestSubgroups(): boolean {
  const proto = (globalThis as { GPUAdapter?: { prototype: AdapterLike } }).GPUAdapter?.prototype;
  if (!proto) return false;
  const request = proto.requestDevice;
  if ((request as { subgroups?: boolean }).subgroups) return true;
  const withSubgroups = function (this: AdapterLike, descriptor: { requiredFeatures?: string[] } = {}) {
    const features = [...(descriptor.requiredFeatures ?? [])];
    if (this.features?.has('subgroups') && !features.includes('subgroups')) features.push('subgroups');
    return request.call(this, { ...descriptor, requiredFeatures: features });
  };
  proto.requestDevice = Object.assign(withSubgroups, { subgroups: true });
  return true;
}

/** Resolves after pending messages (such as "stop") have been handled. */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** One step (or the done event); returns false when the run is over. */
async function advance(): Promise<boolean> {
  if (!engine) return false;
  try {
    const event = await engine.next();
    if (!event) {
      mode = 'idle';
      return false;
    }
    post({ type: 'event', event });
    if (event.type === 'done') mode = 'idle';
    return event.type !== 'done';
  } catch (e) {
    fail('generate', e);
    return false;
  }
}

/** True while a step is being computed: "step" and "resume" wait for it rather than overlap it. */
let stepping = false;

async function step(): Promise<boolean> {
  if (stepping) return true;
  stepping = true;
  try {
    return await advance();
  } finally {
    stepping = false;
  }
}

async function runLoop() {
  while (mode === 'running' && (await step())) await yieldToMessages();
}

async function generate(request: GenerateRequest, paused: boolean) {
  if (!engine) return post({ type: 'error', during: 'generate', message: 'no model is loaded', fatal: false });
  mode = 'busy';
  during = 'generate';
  try {
    await engine.startGenerate(request);
  } catch (e) {
    return fail('generate', e);
  }
  mode = paused ? 'paused' : 'running';
  // The first step comes at once either way, so a paused run shows where it starts.
  if ((await step()) && mode === 'running') await runLoop();
}

async function score(request: ScoreRequest) {
  if (!engine) return post({ type: 'error', during: 'score', message: 'no model is loaded', fatal: false });
  mode = 'busy';
  during = 'score';
  try {
    post({ type: 'scored', events: await engine.score(request) });
    mode = 'idle';
  } catch (err) {
    fail('score', err);
  }
}

/** A mode that streams its events through a callback until it ends (or is stopped). */
async function stream(run: Extract<ToWorker, { type: Exclude<RunKind, 'generate'> }>) {
  if (!engine) return post({ type: 'error', during: run.type, message: 'no model is loaded', fatal: false });
  mode = 'busy';
  during = run.type;
  const onEvent = (event: RunEvent) => post({ type: 'event', event });
  try {
    if (run.type === 'speculate') await engine.speculate(run.request, onEvent);
    else if (run.type === 'compare') await engine.compare(run.request, onEvent);
    else await engine.branch(run.request, onEvent);
    mode = 'idle';
  } catch (e) {
    fail(run.type, e);
  }
}

/** The run in progress (a generate loop included), awaited before the next one starts. */
let active: Promise<void> = Promise.resolve();

/** Runs `task` after the current run; a new run first asks the current one to stop. */
function exclusive(task: () => Promise<void>, stopCurrent = true): Promise<void> {
  if (stopCurrent && mode !== 'idle') engine?.stop();
  const next = active.then(task);
  active = next.catch(() => undefined);
  return next;
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  // A dead instance answers nothing: the page is replacing this worker.
  if (crashed) return;
  const message = e.data;
  switch (message.type) {
    case 'load':
      return exclusive(() =>
        load(message.source, message.backend, message.threads, message.wrongKernel ?? false, message.checkFault ?? null),
      );
    case 'backend':
      return exclusive(() => switchBackend(message.backend));
    case 'generate':
      return exclusive(() => generate(message.request, message.paused));
    case 'speculate':
    case 'compare':
    case 'branch':
      return exclusive(() => stream(message));
    case 'score':
      return exclusive(() => score(message.request));
    case 'step':
      if (mode === 'paused') await step();
      return;
    case 'resume':
      if (mode === 'paused') {
        mode = 'running';
        return exclusive(runLoop, false);
      }
      return;
    case 'stop':
      if (mode === 'idle' || !engine) return;
      engine.stop();
      // A running loop or a streaming mode picks up the done event itself; a paused run needs one more call.
      if (mode === 'paused') await step();
      return;
    case 'fault':
      // A test's deliberate failure (the page sends it only behind its test flag): it fires in the next forward pass.
      try {
        wasm?.armFault(message.kind);
      } catch (err) {
        fail('engine', err);
      }
      return;
    case 'clear-cache':
      try {
        post({ type: 'cache-cleared', removed: await caches.delete(CACHE_NAME) });
      } catch (err) {
        fail('cache', err);
      }
      return;
  }
};

// A trap inside a wasm task (an async engine call's future runs from a microtask) escapes every `try`: it reaches
// these events instead, and the request it belonged to is reported as failed.
self.addEventListener('error', (e: ErrorEvent) => {
  if (!(e.error instanceof WebAssembly.RuntimeError)) return;
  e.preventDefault();
  fail(during, e.error);
});
self.addEventListener('unhandledrejection', (e: PromiseRejectionEvent) => {
  if (!(e.reason instanceof WebAssembly.RuntimeError)) return;
  e.preventDefault();
  fail(during, e.reason);
});

ready.then(
  (bindings) => {
    wasm = bindings;
    post({ type: 'engine', version: bindings.version() });
  },
  (e) => fail('engine', e),
);
