// The engine worker: loads the wasm bridge off the main thread and reports back.
// Later it will run the model and stream StepEvents; for now it proves the engine loads and computes.
import init, { summarize, version } from '../pkg/tokscope_wasm.js';
import type { Summary, WorkerMessage } from './lib/protocol';

/** An example next-token distribution: four candidates with decreasing logits. */
const EXAMPLE_LOGITS = [2, 1, 0, -1];

async function start(): Promise<WorkerMessage> {
  try {
    await init();
    const summary = summarize(new Float32Array(EXAMPLE_LOGITS)) as Summary;
    return { type: 'ready', version: version(), logits: EXAMPLE_LOGITS, summary };
  } catch (e) {
    return { type: 'error', message: e instanceof Error ? e.message : String(e) };
  }
}

start().then((message) => self.postMessage(message));
