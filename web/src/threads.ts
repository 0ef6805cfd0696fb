// Wasm threads for the CPU backend (crates/wasm/src/threads.rs). On a cross-origin isolated page the engine worker
// loads the threaded build, whose memory is a SharedArrayBuffer, and runs each extra CPU thread in a Web Worker
// (cpuThread.ts) that instantiates the same module on that memory. Elsewhere it loads the single-threaded build, so
// the page needs no special headers.
import type * as Bindings from '../pkg/tokscope_wasm.js';

/** What the engine worker calls: both builds export it alike. */
export type Wasm = Pick<
  typeof Bindings,
  'loadEngine' | 'inspectModel' | 'selfCheckReference' | 'take_panic_message' | 'failedAllocation' | 'memoryBytes' | 'armFault' | 'version'
>;

/** Whether this page may share wasm memory between workers. */
export const threaded = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';

/** Most CPU threads the engine is given. */
const MAX_THREADS = 16;

/**
 * CPU threads for the engine: one without cross-origin isolation; else `requested`, or by default one per core but
 * one, up to four. The spare core keeps the page drawing: the pool meets at a barrier ~150 times per token, so a
 * thread the OS sets aside for the page stalls every share (on 2 busy cores, 2 threads decoded 3x slower than 1).
 */
export function cpuThreads(requested: number): number {
  if (!threaded) return 1;
  const auto = Math.min(4, (navigator.hardwareConcurrency || 1) - 1);
  return Math.max(1, Math.min(MAX_THREADS, Math.floor(requested) || auto));
}

/** What a thread's Web Worker needs to join the engine: the compiled module, the shared memory, its work. */
export interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  work: number;
}

/** Loads and instantiates the build this page can run, and lets the engine start threads on it. */
export async function loadWasm(): Promise<Wasm> {
  if (!threaded) {
    const wasm = await import('../pkg/tokscope_wasm.js');
    await wasm.default();
    return wasm;
  }
  const wasm = await import('../pkg-mt/tokscope_wasm.js');
  const module = await WebAssembly.compileStreaming(fetch(new URL('../pkg-mt/tokscope_wasm_bg.wasm', import.meta.url)));
  const { memory } = await wasm.default({ module_or_path: module });
  const starting: Promise<void>[] = [];
  const scope = globalThis as unknown as {
    tokscopeSpawnThread(work: number): void;
    tokscopeThreadsStarted(): Promise<void>;
  };
  scope.tokscopeSpawnThread = (work) => {
    const worker = new Worker(new URL('./cpuThread.ts', import.meta.url), { type: 'module', name: 'tokscope-cpu' });
    starting.push(
      new Promise((resolve, reject) => {
        worker.onmessage = () => resolve();
        worker.onerror = (e) => reject(new Error(`a CPU thread failed to start: ${e.message}`));
      }),
    );
    worker.postMessage({ module, memory, work } satisfies ThreadStart);
  };
  scope.tokscopeThreadsStarted = async () => {
    await Promise.all(starting.splice(0));
  };
  return wasm;
}
