// One CPU thread of the threaded engine (see threads.ts): instantiates the module on the engine's shared memory,
// says it runs, then runs the work the engine's thread pool handed it until the pool shuts down.
import { initSync, runThread } from '../pkg-mt/tokscope_wasm.js';
import type { ThreadStart } from './threads';

self.onmessage = (e: MessageEvent<ThreadStart>) => {
  const { module, memory, work } = e.data;
  const exports = initSync({ module, memory });
  self.postMessage('started');
  runThread(work);
  // The pool shut down: free this thread's stack and thread-local storage in the shared memory.
  exports.__wbindgen_thread_destroy();
  self.close();
};
