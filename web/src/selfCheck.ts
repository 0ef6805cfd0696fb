// The WebGPU self-check's CPU side (crates/wasm/src/reference.rs), for the engine worker: it runs in a Web Worker of
// its own (selfCheckWorker.ts) that lives for one check, because it reads the whole model file into wasm memory,
// which the engine worker never holds on WebGPU; ending the worker frees that memory. Its result is kept per model
// Blob, so moving a model back to WebGPU checks the GPU again without recomputing the CPU side.
import type { SelfCheckReference } from '../pkg/tokscope_wasm.js';

/** A test's deliberate failure of the check's worker (see testHooks.ts). */
export type CheckFault = 'oom';

/** Engine worker → check worker. */
export interface CheckRequest {
  blob: Blob;
  fault: CheckFault | null;
}

/** Check worker → engine worker. */
export type CheckReply = { ok: true; reference: SelfCheckReference } | { ok: false; message: string };

/** The CPU side is given up after this long (the model then runs on WebGPU unchecked, and the model bar says so). */
const TIMEOUT_MS = 120_000;

const done = new WeakMap<Blob, Promise<SelfCheckReference>>();

/** The CPU side of the check for the model in `blob`: computed once per Blob (a failure is not kept). */
export function selfCheckReference(blob: Blob, fault: CheckFault | null): Promise<SelfCheckReference> {
  const known = done.get(blob);
  if (known) return known;
  const reference = inWorker(blob, fault);
  done.set(blob, reference);
  reference.catch(() => done.delete(blob));
  return reference;
}

function inWorker(blob: Blob, fault: CheckFault | null): Promise<SelfCheckReference> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./selfCheckWorker.ts', import.meta.url), { type: 'module', name: 'tokscope-self-check' });
    } catch (e) {
      reject(new Error(`no worker could start for it (${e instanceof Error ? e.message : e})`));
      return;
    }
    const end = (settle: () => void) => {
      clearTimeout(timer);
      worker.terminate();
      settle();
    };
    const timer = setTimeout(() => end(() => reject(new Error(`it took longer than ${TIMEOUT_MS / 1000} s`))), TIMEOUT_MS);
    worker.onmessage = (e: MessageEvent<CheckReply>) => {
      const reply = e.data;
      end(() => (reply.ok ? resolve(reply.reference) : reject(new Error(reply.message))));
    };
    worker.onmessageerror = () => end(() => reject(new Error('its worker sent a message that could not be read')));
    worker.onerror = (e) => {
      e.preventDefault();
      end(() => reject(new Error(e.message || 'its worker failed to start')));
    };
    worker.postMessage({ blob, fault } satisfies CheckRequest);
  });
}
